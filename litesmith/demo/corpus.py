"""Training text every machine has offline: the docstrings of Python's standard library.

The walk is deterministic (a fixed, sorted module list; members in sorted order),
so the same Python version always yields the same corpus and the same vocabulary.
"""
from __future__ import annotations

import collections
import hashlib
import importlib
import inspect
import re
import sys
import warnings
from dataclasses import dataclass
from typing import Dict, Iterator, List, Sequence

UNK = "<unk>"
EOS = "<eos>"
SPECIALS = (UNK, EOS)

# Bump when the walk or the tokenizer changes: cached models trained on the old text go stale.
CORPUS_VERSION = f"stdlib-docstrings-v1-py{sys.version_info[0]}.{sys.version_info[1]}"

# Pure-Python, side-effect-free modules with plenty of English prose. Sorted; never shuffled.
STDLIB_MODULES = tuple(sorted([
    "abc", "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "cmd", "codecs",
    "collections", "concurrent.futures", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "doctest", "email", "email.message",
    "enum", "fileinput", "fractions", "ftplib", "functools", "getopt", "gettext", "glob",
    "gzip", "heapq", "hmac", "html.parser", "http.client", "http.cookiejar", "http.server",
    "imaplib", "importlib", "inspect", "io", "ipaddress", "itertools", "json", "locale",
    "logging", "logging.handlers", "mailbox", "mimetypes", "multiprocessing", "netrc",
    "numbers", "operator", "optparse", "os", "pathlib", "pdb", "pickle", "pkgutil",
    "platform", "plistlib", "poplib", "pprint", "pydoc", "queue", "random", "re", "sched",
    "secrets", "selectors", "shelve", "shlex", "shutil", "smtplib", "socket", "socketserver",
    "sqlite3", "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "tokenize", "trace", "traceback", "types", "typing", "unittest",
    "unittest.mock", "urllib.parse", "urllib.request", "uuid", "warnings", "wave",
    "weakref", "xml.dom.minidom", "xml.etree.ElementTree", "zipfile",
]))

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def docstrings(modules: Sequence[str] = STDLIB_MODULES) -> Iterator[str]:
    """Yield the docstrings of each module, its public classes/functions, and their methods."""
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # a stdlib module this build lacks (e.g. sqlite3): skip, still deterministic per build
            continue
        with warnings.catch_warnings():  # e.g. typing.io's DeprecationWarning when its doc is read
            warnings.simplefilter("ignore", DeprecationWarning)
            docs = list(_own_docs(module, module_name))
        yield from docs


def _own_docs(module, module_name: str) -> Iterator[str]:
    doc = inspect.getdoc(module)
    if doc:
        yield doc
    for name in sorted(vars(module)):
        if name.startswith("_"):
            continue
        member = vars(module)[name]
        if not (inspect.isclass(member) or inspect.isfunction(member)):
            continue
        if getattr(member, "__module__", None) != module.__name__:
            continue  # re-exports are walked where they are defined
        doc = inspect.getdoc(member)
        if doc:
            yield doc
        if inspect.isclass(member):
            for attr in sorted(vars(member)):
                if attr.startswith("_"):
                    continue
                method = vars(member)[attr]
                if inspect.isfunction(method):
                    doc = method.__doc__ and inspect.cleandoc(method.__doc__)
                    if doc:
                        yield doc


def sentences(text: str) -> Iterator[List[str]]:
    """Lowercase word lists, one per sentence (split at . ! ? + space and at blank lines)."""
    for chunk in _SENTENCE_END.split(text):
        words = _WORD.findall(chunk.lower())
        if len(words) >= 2:
            yield words


@dataclass
class Corpus:
    """Sentences split into train/held-out, a vocabulary, and a digest of the text."""

    train: List[List[str]]
    heldout: List[List[str]]
    vocab: List[str]  # id -> word; ids 0 and 1 are <unk>, <eos>
    digest: str

    @property
    def word_to_id(self) -> Dict[str, int]:
        return {w: i for i, w in enumerate(self.vocab)}

    def ids(self, part: str = "train"):
        """The part as one id stream: each sentence's words followed by <eos>."""
        import numpy as np

        index = self.word_to_id
        unk, eos = index[UNK], index[EOS]
        out: List[int] = []
        for sent in getattr(self, part):
            out.extend(index.get(w, unk) for w in sent)
            out.append(eos)
        return np.asarray(out, dtype=np.int32)


def build_vocab(train: Sequence[Sequence[str]], size: int) -> List[str]:
    """<unk>, <eos>, then the ``size`` most frequent training words (ties broken alphabetically)."""
    counts = collections.Counter(w for sent in train for w in sent)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return list(SPECIALS) + [w for w, _ in ranked[:size]]


def load_corpus(vocab_size: int, heldout_every: int = 10) -> Corpus:
    """Walk the stdlib, tokenize, split every ``heldout_every``-th sentence off for evaluation."""
    all_sentences: List[List[str]] = []
    digest = hashlib.sha256(CORPUS_VERSION.encode())
    for doc in docstrings():
        for sent in sentences(doc):
            all_sentences.append(sent)
            digest.update(" ".join(sent).encode() + b"\n")
    train = [s for i, s in enumerate(all_sentences) if i % heldout_every != heldout_every - 1]
    heldout = [s for i, s in enumerate(all_sentences) if i % heldout_every == heldout_every - 1]
    return Corpus(train=train, heldout=heldout, vocab=build_vocab(train, vocab_size), digest=digest.hexdigest()[:16])
