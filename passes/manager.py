"""The pass manager: runs a pipeline with instruments around each pass.

    pm = PassManager.parse("canonicalize,fold-constants{max_elements=64},dce", verify_each=True)
    report = pm.run(graph)
    print(report.format_timing())

Instruments (``instruments.py``) verify, print, time, dump numbered files and
compare numerics after each pass. When a pass raises, or an instrument finds
it broke the graph, the error names the pass and the passes before it and,
with ``reproducer_dir``, a file holding the input IR and the pipeline: rerun
it with ``litesmith opt FILE`` (the pipeline is read from the file).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, TextIO, Tuple, Union

from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph

from .instruments import (
    DumpInstrument, Instrument, InstrumentFailure, NumericsInstrument, NumericsMismatch, PrintIRInstrument,
    TimingInstrument, VerifyInstrument,
)
from .pass_base import Pass, PassContext
from .pipeline import parse_pipeline
from .registry import get_pass

__all__ = [
    "PassManager", "PassRecord", "PassRunReport", "PipelineError", "PassUserError", "PassCrashError",
    "PassBrokeGraphError", "NumericsError", "REPRODUCER_PIPELINE_PREFIX",
]

REPRODUCER_PIPELINE_PREFIX = "// pipeline: "


# -- errors ------------------------------------------------------------------------------


class PipelineError(Exception):
    """A pass failed; ``pass_name``, ``index``, ``passes_before`` and ``reproducer`` (path or None) say where."""

    def __init__(self, msg: str, pass_name: str = "", index: int = -1, passes_before: Sequence[str] = (), reproducer=None):
        super().__init__(msg)
        self.pass_name = pass_name
        self.index = index
        self.passes_before = list(passes_before)
        self.reproducer = reproducer
        self.run_report: Optional["PassRunReport"] = None  # the records up to the failing pass (its report too)


class PassUserError(PipelineError, UserError):
    """A pass rejected the graph or its options (bad input the user can fix)."""


class PassCrashError(PipelineError, RuntimeError):
    """A pass raised an unexpected exception: a bug in the pass."""


class PassBrokeGraphError(PassCrashError):
    """A pass left an invalid graph (caught by ``verify_each``)."""


class NumericsError(PassBrokeGraphError):
    """A pass changed the graph's outputs (caught by ``check_numerics``)."""


# -- the report ----------------------------------------------------------------------------


@dataclass
class PassRecord:
    name: str
    options: Dict[str, Any]
    changed: bool = False
    seconds: float = 0.0
    report: Dict[str, Any] = field(default_factory=dict)
    pipeline_text: str = ""
    skipped: bool = False
    number: str = ""  # "3": the third pass; "3.1": the first pass of a sub-pipeline it ran
    label: str = ""  # pipeline_text, prefixed by the enclosing passes' ("unroll-rnn/fold-constants")
    children: List["PassRecord"] = field(default_factory=list)  # its sub-pipelines' passes

    def title(self) -> str:
        return f"{self.label or self.pipeline_text} (#{self.number})"

    def to_dict(self) -> Dict[str, Any]:
        out = {"name": self.name, "options": self.options, "changed": self.changed, "seconds": self.seconds,
               "report": self.report}
        if self.children:
            out["passes"] = [c.to_dict() for c in self.children]
        return out


@dataclass
class PassRunReport:
    passes: List[PassRecord] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.passes)

    def __iter__(self):
        return iter(self.passes)

    def __len__(self) -> int:
        return len(self.passes)

    def __getitem__(self, key: Union[int, str]) -> PassRecord:
        """By position, or the first record of the pass called ``key``."""
        if isinstance(key, str):
            for r in self.passes:
                if r.name == key:
                    return r
            raise KeyError(key)
        return self.passes[key]

    def format_timing(self) -> str:
        total = sum(r.seconds for r in self.passes) or 1e-12
        lines = ["===-- pass execution timing --===", f"  {'seconds':>9}  {'share':>6}  pass"]

        def add(r: PassRecord, depth: int) -> None:
            note = " (skipped)" if r.skipped else ("" if r.changed else " (no change)")
            lines.append(f"  {r.seconds:9.4f}  {100 * r.seconds / total:5.1f}%  {'  ' * depth}{r.number}. {r.pipeline_text}{note}")
            for c in r.children:
                add(c, depth + 1)

        for r in self.passes:
            add(r, 0)
        lines.append(f"  {self.seconds:9.4f}  100.0%  total (instruments included)")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> Dict[str, Any]:
        return {"seconds": self.seconds, "passes": [r.to_dict() for r in self.passes]}


# -- the manager ----------------------------------------------------------------------------

PassSpec = Union[Pass, type, str, Tuple[str, Mapping[str, Any]]]


class PassManager:
    def __init__(
        self,
        passes: Sequence[PassSpec],
        *,
        verify_each: bool = False,
        print_ir_after_all: bool = False,
        print_ir_after_change: bool = False,
        time_passes: bool = False,
        dump_dir: Optional[str] = None,
        check_numerics: bool = False,
        numerics_feeds: Optional[Mapping[str, Any]] = None,
        rtol: float = 1e-4,
        atol: float = 1e-5,
        reproducer_dir: Optional[str] = None,
        out: Optional[TextIO] = None,
        instruments: Sequence[Instrument] = (),
        resources: Optional[Mapping[str, Any]] = None,
    ):
        self.passes: List[Pass] = [_instantiate(p) for p in passes]
        # Objects a pipeline string cannot carry (calibration data...), handed to every pass as ctx.resources.
        self.resources: Dict[str, Any] = dict(resources or {})
        self.out = out if out is not None else sys.stderr
        self.reproducer_dir = os.fspath(reproducer_dir) if reproducer_dir is not None else None
        self.options: Dict[str, Any] = dict(
            verify_each=verify_each, print_ir_after_all=print_ir_after_all,
            print_ir_after_change=print_ir_after_change, time_passes=time_passes, dump_dir=dump_dir,
            check_numerics=check_numerics, rtol=rtol, atol=atol, reproducer_dir=self.reproducer_dir,
        )
        self.numerics_feeds = numerics_feeds
        self.extra_instruments = list(instruments)

    @classmethod
    def parse(cls, pipeline: str, **kw) -> "PassManager":
        """A manager for a pipeline string such as ``"canonicalize,fold-constants{max_elements=64}"``."""
        return cls([(name, opts) for name, opts in parse_pipeline(pipeline)], **kw)

    @property
    def pipeline_text(self) -> str:
        return ",".join(p.pipeline_text() for p in self.passes)

    def instruments(self) -> List[Instrument]:
        o = self.options
        out: List[Instrument] = []
        if o["verify_each"]:
            out.append(VerifyInstrument())
        if o["check_numerics"]:
            out.append(NumericsInstrument(self.numerics_feeds, o["rtol"], o["atol"], self.out))
        if o["print_ir_after_all"] or o["print_ir_after_change"]:
            out.append(PrintIRInstrument(self.out, only_after_change=not o["print_ir_after_all"]))
        if o["dump_dir"]:
            out.append(DumpInstrument(os.fspath(o["dump_dir"])))
        out.extend(self.extra_instruments)
        if o["time_passes"]:
            out.append(TimingInstrument(self.out))
        return out

    def run(self, graph: Graph) -> PassRunReport:
        """Run every pass on ``graph`` in place."""
        instruments = self.instruments()
        snapshot = self._snapshot(graph) if self.reproducer_dir else None
        report = PassRunReport()
        start = time.perf_counter()
        for inst in instruments:
            inst.before_pipeline(graph, self.passes)
        for index, p in enumerate(self.passes):
            record = PassRecord(p.name, p.options(), pipeline_text=p.pipeline_text(), number=str(index + 1))
            record.label = record.pipeline_text
            report.passes.append(record)
            if not all(inst.should_run(p, index, graph) for inst in instruments):
                record.skipped = True
                continue
            for inst in instruments:
                inst.before_pass(p, index, graph)
            ctx = self._context(record, graph, instruments, index)
            t0 = time.perf_counter()
            try:
                record.changed = bool(p.run(graph, ctx))
            except InstrumentFailure as e:  # raised by an instrument after one of its sub-passes
                record.seconds = time.perf_counter() - t0
                raise self._failure(e, index, snapshot, "broke the graph", report) from e
            except Exception as e:
                record.seconds = time.perf_counter() - t0
                raise self._failure(e, index, snapshot, "failed", report) from e
            record.seconds = time.perf_counter() - t0
            try:
                for inst in instruments:
                    inst.after_pass(p, index, graph, record)
            except InstrumentFailure as e:
                raise self._failure(e, index, snapshot, "broke the graph", report) from e
        report.seconds = time.perf_counter() - start
        for inst in instruments:
            inst.after_pipeline(graph, report)
        return report

    # -- sub-pipelines (PassContext.run_pipeline) -------------------------------------------
    def _context(self, record: PassRecord, graph: Graph, instruments: List[Instrument], index: int) -> PassContext:
        def sub_runner(pipeline: str, target: Graph, ctx: PassContext) -> PassRunReport:
            return self._run_sub_pipeline(pipeline, target, record, graph, instruments, index)

        return PassContext(report=record.report, options=dict(self.options), resources=self.resources,
                           children=record.children, sub_runner=sub_runner)

    def _run_sub_pipeline(self, pipeline: str, target: Graph, parent: PassRecord, graph: Graph,
                          instruments: List[Instrument], index: int) -> PassRunReport:
        """Run ``pipeline`` inside the pass of ``parent``: records nest under it, and when it runs
        on the pipeline's own graph the instruments see each sub-pass (``should_run`` is not
        asked: the enclosing pass relies on its sub-passes). Another graph (a clone) runs plain."""
        passes = [_instantiate((name, opts)) for name, opts in parse_pipeline(pipeline)]
        hooks = instruments if target is graph else []
        sub = PassRunReport()
        start = time.perf_counter()
        for p in passes:
            k = len(parent.children) + 1  # numbered on from the pass's earlier sub-pipelines
            record = PassRecord(p.name, p.options(), pipeline_text=p.pipeline_text(), number=f"{parent.number}.{k}")
            record.label = f"{parent.label}/{record.pipeline_text}"
            parent.children.append(record)
            sub.passes.append(record)
            for inst in hooks:
                inst.before_pass(p, index, target)
            ctx = self._context(record, graph, hooks, index)
            t0 = time.perf_counter()
            record.changed = bool(p.run(target, ctx))
            record.seconds = time.perf_counter() - t0
            try:
                for inst in hooks:
                    inst.after_pass(p, index, target, record)
            except InstrumentFailure as e:
                raise type(e)(f"after its sub-pass {record.title()}: {e}") from e
        sub.seconds = time.perf_counter() - start
        return sub

    # -- failures and reproducers ------------------------------------------------------------
    def _failure(self, exc: Exception, index: int, snapshot, what: str, report: PassRunReport) -> PipelineError:
        p = self.passes[index]
        before = [q.pipeline_text() for q in self.passes[:index]]
        path = None
        note = ""
        if snapshot is not None:
            try:
                path = self._write_reproducer(snapshot, index, exc)
                note = f"; reproducer: {path}"
            except Exception as w:  # the original failure matters more than the reproducer
                note = f"; could not write a reproducer: {w}"
        elif self.reproducer_dir:
            note = "; no reproducer (the input graph could not be printed)"
        after = f"after {', '.join(before)}" if before else "as the first pass"
        msg = f"pass {p.pipeline_text()} (#{index + 1}) {what}, {after}: {_one_line(exc)}{note}"
        if isinstance(exc, NumericsMismatch):
            cls = NumericsError
        elif isinstance(exc, InstrumentFailure):
            cls = PassBrokeGraphError
        elif isinstance(exc, UserError):
            cls = PassUserError
        else:
            cls = PassCrashError
        error = cls(msg, p.name, index, before, path)
        error.run_report = report
        return error

    @staticmethod
    def _snapshot(graph: Graph) -> Optional[Tuple[str, Dict[str, Any]]]:
        from litesmith.ir.text import print_ir

        consts: Dict[str, Any] = {}
        try:
            return print_ir(graph, constants_out=consts), consts
        except Exception:
            return None

    def _write_reproducer(self, snapshot, index: int, exc: Exception) -> str:
        from litesmith.ir.text import parse_ir, save_ir

        text, consts = snapshot
        os.makedirs(self.reproducer_dir, exist_ok=True)
        path = os.path.join(self.reproducer_dir, f"reproducer-{index + 1:02d}-{self.passes[index].name}.ir")
        save_ir(parse_ir(text, filename="<snapshot>", constants=consts), path)  # writes the .npz side file too
        with open(path, encoding="utf-8") as f:
            body = f.read()
        header = (
            f"// litesmith reproducer: pass {self.passes[index].pipeline_text()} (#{index + 1}) failed: "
            f"{_one_line(exc)[:300]}\n"
            f"{REPRODUCER_PIPELINE_PREFIX}{self.pipeline_text}\n"
            f"// rerun: litesmith opt {os.path.basename(path)}\n"
        )
        with open(path, "w", encoding="utf-8") as f:
            f.write(header + body)
        return path


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, (UserError, InstrumentFailure)) else f"{type(exc).__name__}: {text}"


def _instantiate(spec: PassSpec) -> Pass:
    if isinstance(spec, Pass):
        return spec
    if isinstance(spec, type) and issubclass(spec, Pass):
        return spec()
    if isinstance(spec, str):
        return get_pass(spec)()
    if isinstance(spec, tuple) and len(spec) == 2:
        name, opts = spec
        return get_pass(name).from_options(opts)
    raise TypeError(f"not a pass: {spec!r}")


def run_pipeline(graph: Graph, pipeline: str, **kw) -> PassRunReport:
    """Run a pipeline string on ``graph`` in place (keywords as for ``PassManager``)."""
    return PassManager.parse(pipeline, **kw).run(graph)
