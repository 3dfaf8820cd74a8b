"""A phone-keyboard engine over LiteRT, driving a single-step LM with explicit recurrent state.

The model takes one token id (shape [] or [1]) plus the state tensors, and returns
next-word probabilities plus the new state tensors. Which input pairs with which
output comes from the model's ``litesmith.state`` metadata (written by litesmith)
or, for models made elsewhere, from a ``pairs`` mapping the caller gives. Beam
search runs here, outside the model, by copying states per beam: TFLite has no
beam-search op (the seed's "implement it above TF Lite").

Importing this module imports neither TensorFlow nor LiteRT (LiteRT is loaded on first use).
"""
from __future__ import annotations

import bisect
import json
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from litesmith.demo.corpus import EOS, UNK
from litesmith.demo.tflite_metadata import read_metadata
from litesmith.ir.errors import UserError
from litesmith.ir.state import STATE_META_KEY, decode_state

STATE_METADATA = STATE_META_KEY


@dataclass
class _Beam:
    logp: float
    words: List[str]
    states: Tuple[np.ndarray, ...]
    probs: Optional[np.ndarray]
    finished: bool = False


class Keyboard:
    """Next-word suggestions, prefix completion and phrase completion for the text typed so far."""

    def __init__(self, model_path: Union[str, os.PathLike], vocab: Union[Sequence[str], str, os.PathLike],
                 pairs: Optional[Mapping[str, str]] = None, num_threads: int = 1):
        self.model_path = os.fspath(model_path)
        if not os.path.exists(self.model_path):
            raise UserError(f"{self.model_path}: no such model file")
        self.vocab = _load_vocab(vocab)
        self.word_to_id = {w: i for i, w in enumerate(self.vocab)}
        for special in (UNK, EOS):
            if special not in self.word_to_id:
                raise UserError(f"vocabulary has no {special} entry; the demo vocabularies start with <unk>, <eos>")
        self._skip = np.zeros(len(self.vocab), dtype=bool)
        self._skip[[self.word_to_id[UNK], self.word_to_id[EOS]]] = True
        self._alphabetical_ids = np.array(sorted(range(len(self.vocab)), key=self.vocab.__getitem__), dtype=np.int64)
        self._alphabetical = [self.vocab[i] for i in self._alphabetical_ids]

        with open(self.model_path, "rb") as f:
            content = f.read()
        pair_list = _state_pairs(content, self.model_path, pairs)

        from ai_edge_litert.interpreter import Interpreter  # lazily: importing the engine stays cheap

        self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._bind(pair_list)
        self.latency_ms: Dict[str, List[float]] = defaultdict(list)
        self.reset()

    # -- public API ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the context: zero state, then read a sentence end (a fresh sentence starts)."""
        self.context: List[str] = []
        self.states = tuple(np.zeros(d["shape"], d["dtype"]) for d in self._state_in)
        self.probs, self.states = self._step(self.word_to_id[EOS], self.states)

    def feed(self, word: str) -> None:
        """Advance the state past one whole word (unknown words read as <unk>)."""
        start = time.perf_counter()
        word = word.lower()
        token = self.word_to_id.get(word, self.word_to_id[UNK])
        self.probs, self.states = self._step(token, self.states)
        self.context.append(word)
        self._record("feed", start)

    def suggest(self, prefix: str = "", k: int = 3) -> List[str]:
        """The ``k`` likeliest next words starting with ``prefix`` (the partial word under the cursor)."""
        start = time.perf_counter()
        result = self._top_words(self.probs, prefix.lower(), k)
        self._record("suggest", start)
        return [w for w, _ in result]

    def complete_phrase(self, max_words: int = 4, beam: int = 4, prefix: str = "") -> List[str]:
        """The likeliest continuation of up to ``max_words`` words (beam search, states copied per beam)."""
        start = time.perf_counter()
        beams = [_Beam(0.0, [], self.states, self.probs)]
        for depth in range(max_words):
            candidates: List[_Beam] = [b for b in beams if b.finished]
            for b in (b for b in beams if not b.finished):
                for word, p in self._top_words(b.probs, prefix if depth == 0 else "", beam,
                                               allow_eos=depth > 0):
                    candidates.append(_Beam(b.logp + math.log(max(p, 1e-30)), b.words + [word],
                                            b.states, None, finished=word == EOS))
            beams = sorted(candidates, key=lambda b: -b.logp)[:beam]
            if all(b.finished for b in beams):
                break
            if depth + 1 < max_words:  # the last layer's words need no further model run
                for b in beams:
                    if not b.finished and b.probs is None:
                        b.probs, b.states = self._step(self.word_to_id[b.words[-1]], b.states)
        best = max(beams, key=lambda b: b.logp / len(b.words))
        self._record("complete_phrase", start)
        return [w for w in best.words if w != EOS]

    def last_latency_ms(self, call: str) -> float:
        """Wall time of the latest ``feed``/``suggest``/``complete_phrase`` call."""
        return self.latency_ms[call][-1]

    # -- internals ----------------------------------------------------------------------------

    def _bind(self, pair_list: List[Tuple[str, str]]) -> None:
        inputs = {_tensor_name(d["name"]): d for d in self.interpreter.get_input_details()}
        outputs = {_tensor_name(d["name"]): d for d in self.interpreter.get_output_details()}
        try:
            self._state_in = [inputs[_tensor_name(i)] for i, _ in pair_list]
            self._state_out = [outputs[_tensor_name(o)] for _, o in pair_list]
        except KeyError as e:
            raise UserError(f"{self.model_path}: state tensor {e.args[0]} not found; model inputs are "
                            f"{sorted(inputs)}, outputs {sorted(outputs)}") from None
        state_in = {_tensor_name(i) for i, _ in pair_list}
        state_out = {_tensor_name(o) for _, o in pair_list}
        tokens = [d for n, d in inputs.items() if n not in state_in]
        probs = [d for n, d in outputs.items()
                 if n not in state_out and len(d["shape"]) and d["shape"][-1] == len(self.vocab)]
        if len(tokens) != 1 or not np.issubdtype(tokens[0]["dtype"], np.integer):
            raise UserError(f"{self.model_path}: expected exactly one integer token input besides the "
                            f"state inputs, found {[d['name'] for d in tokens]}")
        if len(probs) != 1:
            raise UserError(f"{self.model_path}: expected one probability output of size {len(self.vocab)} "
                            f"(the vocabulary), found {[(d['name'], list(d['shape'])) for d in outputs.values()]}")
        self._token_in, self._probs_out = tokens[0], probs[0]

    def _step(self, token: int, states: Tuple[np.ndarray, ...]):
        run = self.interpreter
        run.set_tensor(self._token_in["index"], np.full(self._token_in["shape"], token, self._token_in["dtype"]))
        for detail, value in zip(self._state_in, states):
            run.set_tensor(detail["index"], value)
        run.invoke()
        probs = run.get_tensor(self._probs_out["index"]).reshape(-1)
        return probs, tuple(run.get_tensor(d["index"]) for d in self._state_out)

    def _top_words(self, probs: np.ndarray, prefix: str, k: int, allow_eos: bool = False):
        """(word, probability) of the ``k`` likeliest entries matching ``prefix``; specials skipped.

        Words with a prefix are one contiguous run of the alphabetically sorted vocabulary,
        so a rare prefix costs a bisection, not a scan of every word."""
        if prefix:
            lo = bisect.bisect_left(self._alphabetical, prefix)
            hi = bisect.bisect_left(self._alphabetical, prefix + "\U0010ffff")
            candidates = self._alphabetical_ids[lo:hi]
            candidates = candidates[~self._skip[candidates]]
        else:
            keep = ~self._skip
            if allow_eos:
                keep = keep.copy()
                keep[self.word_to_id[EOS]] = True
            candidates = np.flatnonzero(keep)
        scores = probs[candidates]
        if len(candidates) > k:
            best = np.argpartition(-scores, k)[:k]
            candidates, scores = candidates[best], scores[best]
        order = np.lexsort((candidates, -scores))  # likeliest first, ties by id
        return [(self.vocab[i], float(probs[i])) for i in candidates[order]]

    def _record(self, call: str, start: float) -> None:
        self.latency_ms[call].append((time.perf_counter() - start) * 1000.0)


def _load_vocab(vocab) -> List[str]:
    if isinstance(vocab, (str, os.PathLike)):
        try:
            with open(vocab) as f:
                vocab = json.load(f)
        except (OSError, ValueError) as e:
            raise UserError(f"{os.fspath(vocab)}: cannot read vocabulary JSON ({e})") from None
    if not isinstance(vocab, (list, tuple)) or not all(isinstance(w, str) for w in vocab):
        raise UserError("vocabulary must be a list of words (id -> word)")
    return list(vocab)


def _state_pairs(content: bytes, source: str, pairs: Optional[Mapping[str, str]]) -> List[Tuple[str, str]]:
    """The model's ``litesmith.state`` metadata if present, else the caller's ``pairs``."""
    raw = read_metadata(content, source).get(STATE_METADATA)
    if raw is not None:
        return [(p.input, p.output) for p in decode_state(raw, source)]
    if not pairs:
        raise UserError(f"{source}: no '{STATE_METADATA}' metadata; pass pairs={{state_input: state_output}}")
    return list(pairs.items())


def _tensor_name(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name
