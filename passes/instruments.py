"""Pass instruments: hooks the pass manager calls around the pipeline and each pass.

An instrument overrides any of the hooks below. Hooks that find a problem
raise ``InstrumentFailure``; the manager turns it into an error that names
the pass, the passes before it and the reproducer file.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, TextIO

from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph
from litesmith.ir.interpreter import Interpreter, InterpreterError

from .numerics import adapt_feeds, compare_outputs, deviation, random_feeds
from .pass_base import Pass

__all__ = [
    "Instrument", "InstrumentFailure", "NumericsMismatch", "VerifyInstrument", "PrintIRInstrument", "TimingInstrument",
    "DumpInstrument", "NumericsInstrument",
]


class InstrumentFailure(Exception):
    """An instrument found the pass just run broke the graph (invalid IR, changed numerics)."""


class NumericsMismatch(InstrumentFailure):
    """The graph's outputs changed beyond tolerance after a pass."""


class Instrument:
    def before_pipeline(self, graph: Graph, passes) -> None:
        pass

    def should_run(self, p: Pass, index: int, graph: Graph) -> bool:
        """Return False to skip the pass (e.g. to bisect a pipeline)."""
        return True

    def before_pass(self, p: Pass, index: int, graph: Graph) -> None:
        pass

    def after_pass(self, p: Pass, index: int, graph: Graph, record) -> None:
        pass

    def after_pipeline(self, graph: Graph, report) -> None:
        pass


def _print_ir(graph: Graph, **kw) -> str:
    from litesmith.ir.text import print_ir

    return print_ir(graph, **kw)


class VerifyInstrument(Instrument):
    """Verify the input graph, then the graph after each pass."""

    def before_pipeline(self, graph, passes):
        from litesmith.ir.verify import verify

        verify(graph)  # a bad input graph is the user's VerifyError, not a pass bug

    def after_pass(self, p, index, graph, record):
        from litesmith.ir.verify import verify

        try:
            verify(graph)
        except UserError as e:
            raise InstrumentFailure(f"the graph is invalid after the pass: {e}") from e


class PrintIRInstrument(Instrument):
    """Print the IR after every pass, or only after passes that changed its text."""

    def __init__(self, out: TextIO, only_after_change: bool = False):
        self.out = out
        self.only_after_change = only_after_change
        self._before: List[str] = []  # a stack: sub-passes run inside their pass

    def before_pass(self, p, index, graph):
        if self.only_after_change:
            self._before.append(_print_ir(graph))

    def after_pass(self, p, index, graph, record):
        text = _print_ir(graph)
        if self.only_after_change and text == self._before.pop():
            return
        self.out.write(f"// -----// IR after {record.title()} //----- //\n{text}")
        self.out.flush()


class TimingInstrument(Instrument):
    """Print the time each pass took, after the pipeline."""

    def __init__(self, out: TextIO):
        self.out = out

    def after_pipeline(self, graph, report):
        self.out.write(report.format_timing())
        self.out.flush()


class DumpInstrument(Instrument):
    """Write ``00-input.ir``, then ``NN-passname.ir`` after each pass, into a folder."""

    def __init__(self, folder: str):
        self.folder = folder
        self.width = 2

    def before_pipeline(self, graph, passes):
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create dump folder {self.folder}: {e.strerror or e}") from None
        self.width = max(2, len(str(len(passes))))
        self._save(graph, f"{0:0{self.width}d}-input.ir")

    def after_pass(self, p, index, graph, record):
        top, dot, sub = record.number.partition(".")  # a sub-pass: 03.1-fold-constants.ir
        self._save(graph, f"{int(top):0{self.width}d}{dot}{sub}-{p.name}.ir")

    def _save(self, graph, filename):
        from litesmith.ir.text import save_ir

        save_ir(graph, os.path.join(self.folder, filename))


class NumericsInstrument(Instrument):
    """Run the reference interpreter before the pipeline and after each pass; compare outputs.

    After an ``approximate`` pass (quantization) the outputs are expected to move:
    its largest deviation is written to ``out`` and its outputs become the reference
    for the passes after it. Sub-passes of an approximate pass are not checked (the
    graph is half rewritten). A pass's ``interpreter`` runs the graphs from then on.
    """

    def __init__(self, feeds: Optional[Mapping[str, Any]], rtol: float, atol: float, out: TextIO):
        self.feeds = dict(feeds) if feeds is not None else None
        self.rtol, self.atol = rtol, atol
        self.out = out
        self.expected: Dict[str, Any] = {}
        self.active = True
        self.interpreter = Interpreter
        self._running: List[Pass] = []  # the passes running now: a pass, then its sub-passes

    def before_pipeline(self, graph, passes):
        if self.feeds is None:
            self.feeds = random_feeds(graph)
        try:
            self.expected = self.interpreter(graph).run(self.feeds)
        except InterpreterError as e:
            raise UserError(
                f"check-numerics: the reference interpreter cannot run the input graph ({e}); "
                "give feeds it can run, or turn the numerics check off"
            ) from None

    def before_pass(self, p, index, graph):
        self._running.append(p)

    def after_pass(self, p, index, graph, record):
        self._running.pop()
        if not self.active or any(q.approximate for q in self._running):
            return
        if p.interpreter is not None:
            self.interpreter = p.interpreter
        feeds = adapt_feeds(graph, self.feeds)
        if feeds is None:
            self.active = False
            self.out.write(
                f"check-numerics: pass {record.title()} changed the graph inputs "
                f"({', '.join(v.name for v in graph.inputs)}); numerics are not checked after it\n"
            )
            return
        try:
            got = self.interpreter(graph).run(feeds)
        except InterpreterError as e:
            raise InstrumentFailure(f"the reference interpreter cannot run the graph after the pass: {e}") from e
        if p.approximate and record.changed:  # one that changed nothing is checked as any pass
            self.out.write(f"check-numerics: {record.title()} approximates by design: {deviation(self.expected, got)}; "
                           "later passes are compared with its outputs\n")
            self.expected = got
            return
        problem = compare_outputs(self.expected, got, rtol=self.rtol, atol=self.atol)
        if problem:
            raise NumericsMismatch(f"numerics changed: {problem}{_applied(record)}")


def _applied(record) -> str:
    """The rewrites a pass reports as ``applied`` (pattern -> count), to name a broken pattern."""
    applied = record.report.get("applied") if isinstance(record.report, dict) else None
    names = [f"{k} x{v}" for k, v in applied.items() if k != "dead"] if isinstance(applied, Mapping) else []
    return "; the pass applied " + ", ".join(names) if names else ""
