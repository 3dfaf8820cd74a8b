"""What "still interesting" means: the failure a candidate graph must keep showing.

A predicate is set up on the original graph (``setup`` says what failure it
shows, or raises ``NotInteresting``) and then called on each candidate. The
built-in ones run a ``Job`` (passes, optionally the TFLite compile and LiteRT)
in this process on a copy of the candidate; ``CommandPredicate`` runs a shell
command on the candidate saved as a .ir file.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional, Tuple

import numpy as np

from litesmith.ir.clone import clone_graph
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph
from litesmith.ir.interpreter import run as run_reference
from litesmith.passes.instruments import VerifyInstrument
from litesmith.passes.manager import PassBrokeGraphError, PassManager, PipelineError, run_pipeline
from litesmith.passes.numerics import adapt_feeds, compare_outputs, random_feeds

__all__ = [
    "NotInteresting", "Job", "Predicate", "CrashPredicate", "IllegalPredicate", "MismatchPredicate",
    "CommandPredicate", "crash_signature",
]


class NotInteresting(UserError):
    """The original model does not show the failure the predicate looks for: nothing to reduce."""


class LiteRTRejected(RuntimeError):
    """LiteRT refused to load or run a .tflite file litesmith wrote (a litesmith bug)."""


@dataclass
class Job:
    """What runs on each candidate: ``pipeline`` (verified after each pass), then, with ``compile``,
    what ``litesmith convert`` does (clean-up pipeline, lowering, fusion, writer), then, with
    ``litert``, one run of the .tflite in LiteRT on ``feeds``."""

    pipeline: str = ""
    compile: bool = False
    litert: bool = False

    def __post_init__(self):
        self.compile = self.compile or self.litert

    def run(self, graph: Graph, feeds=None) -> Tuple[Graph, Optional[Dict[str, np.ndarray]]]:
        """The graph after the job (a copy) and, with ``litert``, LiteRT's outputs on ``feeds``."""
        work = clone_graph(graph)
        if self.pipeline:  # candidates verify already: verify after each pass only
            PassManager.parse(self.pipeline, instruments=[_VerifyAfterEachPass()]).run(work)
        if not self.compile:
            return work, None
        from litesmith.api import DEFAULT_PIPELINE
        from litesmith.backends.tflite.compile import compile_to_tflite

        run_pipeline(work, DEFAULT_PIPELINE)
        blob = compile_to_tflite(work)
        if not self.litert:
            return work, None
        return work, _run_litert(blob, feeds if feeds is not None else random_feeds(graph))

    def describe(self) -> str:
        parts = [f"pipeline {self.pipeline!r}"] if self.pipeline else []
        if self.compile:
            parts.append("the TFLite compile")
        if self.litert:
            parts.append("LiteRT")
        return " + ".join(parts) or "nothing"


class _VerifyAfterEachPass(VerifyInstrument):
    def before_pipeline(self, graph, passes):
        pass


def _run_litert(blob: bytes, feeds) -> Dict[str, np.ndarray]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise UserError("--litert needs the ai-edge-litert package: pip install 'litesmith[litert]'") from None
    try:
        interp = Interpreter(model_content=blob, num_threads=1)
        interp.allocate_tensors()
        details = {d["name"]: d for d in interp.get_input_details()}
        for name, value in feeds.items():
            interp.set_tensor(details[name]["index"], np.asarray(value))
        interp.invoke()
    except (RuntimeError, ValueError, KeyError) as e:
        raise LiteRTRejected(" ".join(str(e).split())) from None
    return {d["name"]: np.array(interp.get_tensor(d["index"])) for d in interp.get_output_details()}


class Predicate:
    """``setup(original) -> description``; then ``predicate(candidate) -> bool``."""

    def setup(self, graph: Graph) -> str:
        raise NotImplementedError

    def __call__(self, graph: Graph) -> bool:
        raise NotImplementedError


# -- --crash -------------------------------------------------------------------------------------


def crash_signature(exc: BaseException) -> Optional[Tuple[str, ...]]:
    """(exception type, where it was raised) for an internal error; None for bad input (``UserError``).

    A pass that left an invalid graph is located by the pass; any other error by the
    innermost frame of the original exception (unwrapped from the pass manager's error).
    LiteRT rejecting the file is located by LiteRT's source position (node numbers dropped).
    """
    if isinstance(exc, UserError):
        return None
    if isinstance(exc, PassBrokeGraphError):
        return (type(exc).__name__, f"pass {exc.pass_name}")
    if isinstance(exc, LiteRTRejected):
        where = re.findall(r"[\w/.-]+\.cc:\d+", str(exc))
        return ("LiteRTRejected", where[0] if where else re.sub(r"\d+", "N", str(exc))[:200])
    root = exc
    while isinstance(root, PipelineError) and root.__cause__ is not None:
        root = root.__cause__
    frames = traceback.extract_tb(root.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return (type(root).__name__, where)


def _describe_crash(exc: BaseException, signature) -> str:
    return f"{signature[0]} at {signature[1]}: {' '.join(str(exc).split())[:300]}"


class CrashPredicate(Predicate):
    """The job raises an internal error (not a ``UserError``) of the same type at the same place."""

    def __init__(self, job: Job):
        self.job = job
        self.signature: Optional[Tuple[str, ...]] = None

    def _signature(self, graph: Graph):
        try:
            self.job.run(graph)
        except Exception as e:  # noqa: BLE001 - any internal error is what we look for
            return crash_signature(e), e
        return None, None

    def setup(self, graph):
        self.signature, exc = self._signature(graph)
        if self.signature is None:
            raise NotInteresting(f"{self.job.describe()} runs without an internal error on it"
                                 + (f" (bad input: {' '.join(str(exc).split())[:200]})" if exc is not None else ""))
        return "crash: " + _describe_crash(exc, self.signature)

    def __call__(self, graph):
        return self._signature(graph)[0] == self.signature


# -- --illegal -----------------------------------------------------------------------------------


class IllegalPredicate(Predicate):
    """The TFLite lowering leaves one of the originally illegal ops (op and reason) illegal."""

    def __init__(self, job: Job):
        self.job = Job(job.pipeline, compile=True)
        self.illegal: FrozenSet[Tuple[str, str]] = frozenset()

    def _illegal(self, graph: Graph) -> FrozenSet[Tuple[str, str]]:
        from litesmith.backends.tflite.legalize import IllegalOpsError

        try:
            self.job.run(graph)
        except IllegalOpsError as e:
            return frozenset((i.op, i.kind) for i in e.report.issues if i.op != "input")
        except Exception:  # noqa: BLE001 - another failure is not this one
            return frozenset()
        return frozenset()

    def setup(self, graph):
        self.illegal = self._illegal(graph)
        if not self.illegal:
            raise NotInteresting(f"{self.job.describe()} leaves no illegal op in it")
        return "illegal after lowering: " + ", ".join(f"{op} ({kind})" for op, kind in sorted(self.illegal))

    def __call__(self, graph):
        return bool(self._illegal(graph) & self.illegal)


# -- --mismatch ----------------------------------------------------------------------------------


class MismatchPredicate(Predicate):
    """The outputs after the job differ from the reference interpreter's on the candidate by more
    than ``tol`` (``numpy.isclose`` with rtol = atol = tol) on random inputs (seed 0). The job's
    side is LiteRT with ``litert``, else the reference interpreter on the graph after the job."""

    def __init__(self, job: Job, tol: float):
        self.job = job
        self.tol = tol

    def _problem(self, graph: Graph) -> Optional[str]:
        try:
            feeds = random_feeds(graph)
            expected = run_reference(graph, feeds)
            after, litert_out = self.job.run(graph, feeds)
            if litert_out is not None:
                got = litert_out
            else:
                adapted = adapt_feeds(after, feeds)
                if adapted is None:
                    return None
                got = run_reference(after, adapted)
        except Exception:  # noqa: BLE001 - a candidate that fails otherwise is not this failure
            return None
        return compare_outputs(expected, got, rtol=self.tol, atol=self.tol)

    def setup(self, graph):
        problem = self._problem(graph)
        if problem is None:
            raise NotInteresting(f"after {self.job.describe()} the outputs match the reference interpreter "
                                 f"within {self.tol:g} on random inputs (or a step fails)")
        return f"mismatch after {self.job.describe()}: {problem}"

    def __call__(self, graph):
        return self._problem(graph) is not None


# -- --until CMD ---------------------------------------------------------------------------------


class CommandPredicate(Predicate):
    """A shell command run on the candidate saved as a .ir file (``{}`` in the command is its
    path; without ``{}`` the path is appended). Interesting: the exit status the command had on
    the original. A candidate runs at most 10 times as long as the original took, plus 10 s."""

    def __init__(self, command: str):
        self.command = command
        self._workdir = tempfile.TemporaryDirectory(prefix="litesmith-reduce-")  # removed with the predicate
        self.path = os.path.join(self._workdir.name, "candidate.ir")
        self.status: Optional[int] = None
        self.timeout: Optional[float] = None

    def command_for(self, path: str) -> str:
        quoted = shlex.quote(path)
        return self.command.replace("{}", quoted) if "{}" in self.command else f"{self.command} {quoted}"

    def _status(self, graph: Graph) -> Optional[int]:
        from litesmith.ir.text import save_ir

        save_ir(graph, self.path)
        try:
            proc = subprocess.run(self.command_for(self.path), shell=True, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return None
        return proc.returncode

    def setup(self, graph):
        start = time.perf_counter()
        self.status = self._status(graph)
        self.timeout = 10 * (time.perf_counter() - start) + 10
        if self.status in (126, 127):  # the shell's "cannot execute" / "not found": every candidate would match
            raise NotInteresting(f"the command exits with status {self.status} (the shell cannot run it): "
                                 f"{self.command_for(self.path)}")
        return f"the command exits with status {self.status}"

    def __call__(self, graph):
        return self._status(graph) == self.status
