"""Compile a core-op graph to TFLite flatbuffer bytes: run a pipeline through the pass manager, then write.

    blob = compile_to_tflite(graph, report=info)   # info: ops before/after, fusions

The pipeline is ``passes`` (the caller's, if any), then ``lower-tflite,fuse-tflite,dce``
and, with ``quantize``, the mode's pass (``quantize-int8{...}``), all in one
``PassManager`` run, so its instruments (``manager_options``: verify_each,
print_ir_after_all, check_numerics, time_passes, reproducer_dir, ...) see the
whole compile. Calibration data reach the quantization pass as the resource
``calibration`` of the pass context. If anything stays illegal the result is
an ``IllegalOpsError`` (a ``UserError``) carrying the legality report, never a
malformed file. The graph is lowered in place; load it again to compile it twice.
"""
from __future__ import annotations

import gc
from collections import Counter
from typing import Any, Dict, Mapping, Optional

from litesmith.ir.errors import UserError
from litesmith.ir.gcpause import automatic_gc_paused
from litesmith.ir.graph import Graph
from litesmith.ir.verify import verify
from litesmith.passes.instruments import Instrument
from litesmith.passes.manager import PassManager, PassRunReport, PassUserError, PipelineError
from litesmith.passes.pipeline import parse_pipeline_syntax

__all__ = ["compile_to_tflite", "tflite_pipeline", "LOWERING_PIPELINE", "PRE_LOWERING_PIPELINE", "op_counts"]

# Lower, fuse, then sweep what the fusions bypassed.
# core passes that prepare loops for WHILE, float64 computed in float32, then Keras LSTM loops fused
# into UNIDIRECTIONAL_SEQUENCE_LSTM
PRE_LOWERING_PIPELINE = "lower-tensor-lists,sink-loop-constants,fold-empty-tensors,demote-float64,fuse-lstm-loops"
LOWERING_PIPELINE = f"{PRE_LOWERING_PIPELINE},lower-tflite,fuse-tflite,dce"


def op_counts(graph: Graph) -> Dict[str, int]:
    """Op name -> node count, constants left out."""
    return dict(sorted(Counter(n.op for n in graph.walk() if n.op != "core.const").items()))


def tflite_pipeline(quantize: Optional[str] = None, io_dtype: str = "float32", percentile: Optional[float] = None,
                    integer_only: bool = False, max_drop: Optional[float] = None, target: Optional[str] = None,
                    budget_steps: Optional[int] = None) -> str:
    """The backend's pipeline: ``lower-tflite,fuse-tflite,dce`` plus the quantization pass of ``quantize``
    (dynamic, int8 or float16; a UserError for an unknown mode or options it cannot take)."""
    profile = None
    if target:
        from .targets import get_target

        profile = get_target(target)  # the target's lowering choices (targets.py)
    lowering = ",".join(p for p in (LOWERING_PIPELINE, profile.passes if profile else "") if p)
    final = profile.final_passes if profile else ""
    if not quantize:
        return ",".join(p for p in (lowering, final) if p)
    from litesmith.backends.quantize import quantize_pipeline

    options = dict(profile.int8_options) if profile and quantize == "int8" else {}
    if budget_steps is not None:
        options["budget_steps"] = budget_steps
    quantization = quantize_pipeline(quantize, io_dtype, percentile, integer_only, max_drop, **options)
    return ",".join(p for p in (lowering, quantization, final) if p)


def compile_to_tflite(
    graph: Graph,
    *,
    report: Optional[dict] = None,
    quantize: Optional[str] = None,
    calibration=None,
    io_dtype: str = "float32",
    percentile: Optional[float] = None,
    integer_only: bool = False,
    max_drop: Optional[float] = None,
    budget_steps: Optional[int] = None,
    target: Optional[str] = None,
    passes: Optional[str] = None,
    progress: bool = True,
    manager_options: Optional[Mapping[str, Any]] = None,
    resources: Optional[Mapping[str, Any]] = None,
    **writer_options,
) -> bytes:
    """Run ``passes`` and the backend pipeline on ``graph``, then serialize it.

    ``quantize``: dynamic, int8 or float16 (see backends/quantize); ``report``
    receives ``ops_before``, ``lowered``, ``legality``, ``fused``, ``ops_after``
    (after the lowering, before quantization) and ``quantization``, also when a
    pass fails. The backend passes' user errors (``IllegalOpsError``, missing
    calibration data...) come out as they were raised; the caller's ``passes``
    fail as ``PassUserError`` naming the pass. ``target`` (targets.py) picks the quantizer's choices
    that engine needs (armnn: per-tensor FULLY_CONNECTED weights); checking the bytes against it is
    ``target_check.require_target``. ``resources`` are handed to the passes besides
    ``calibration`` and ``progress`` (``deferred_stubs``: see stub-custom-ops)."""
    report = {} if report is None else report
    backend = tflite_pipeline(quantize, io_dtype, percentile, integer_only, max_drop, target, budget_steps)
    pm = PassManager.parse(",".join(p for p in (passes, backend) if p),
                           resources={**dict(resources or {}), "calibration": calibration, "progress": progress}, **dict(manager_options or {}))
    first_backend = len(pm.passes) - len(parse_pipeline_syntax(backend))
    probe = _OpCountsAfter(first_backend + len(parse_pipeline_syntax(LOWERING_PIPELINE)))
    pm.extra_instruments += [probe, _FreeReplacedConstants()]
    with automatic_gc_paused():  # _FreeReplacedConstants collects where the garbage is big
        try:
            run = pm.run(graph)
        except PipelineError as e:
            _fill_report(report, e.run_report, first_backend, probe)
            if isinstance(e, PassUserError) and e.index >= first_backend and isinstance(e.__cause__, UserError):
                raise e.__cause__ from None  # the backend's own message (IllegalOpsError keeps its report)
            raise
        _fill_report(report, run, first_backend, probe)
        verify(graph, trust_inferred=True)
        from .writer import write_tflite

        return write_tflite(graph, **writer_options)


class _OpCountsAfter(Instrument):
    """Op counts after the lowering stage (pass number ``last``), for ``report["ops_after"]``."""

    def __init__(self, last: int):
        self.last = str(last)
        self.counts: Optional[Dict[str, int]] = None

    def after_pass(self, p, index, graph, record):
        if record.number == self.last:
            self.counts = op_counts(graph)


def _fill_report(report: dict, run: Optional[PassRunReport], first: int, probe: _OpCountsAfter) -> None:
    records = list(run or ())[first:]
    by_name = {r.name: r for r in records}
    lowered = by_name.get("lower-tflite")
    if lowered is not None and lowered.report:
        for key in ("ops_before", "lowered", "legality"):
            if key in lowered.report:
                report[key] = lowered.report[key]
    fused = by_name.get("fuse-tflite")
    if fused is not None and "applied" in fused.report:
        report["fused"] = {k: v for k, v in fused.report["applied"].items() if k != "dead"}
    if probe.counts is not None:
        report["ops_after"] = probe.counts
    n_lowering = len(parse_pipeline_syntax(LOWERING_PIPELINE))
    quantized = next((r for r in records[n_lowering:] if r.name.startswith("quantize-")), None)  # after a target's passes
    if quantized is not None:
        report["quantization"] = quantized.report


class _FreeReplacedConstants(Instrument):
    """Runs the cyclic garbage collector after the lowering and each quantization pass (automatic
    collection is paused during the compile: ir/gcpause.py). A removed
    node and its values refer to each other, so a constant that lowering replaced (a weight's
    untransposed original) or quantization replaced (a float weight) stays in memory until the
    collector runs: a 100 MB weight would be held twice while the next stage allocates
    (docs/benchmarks.md, big constants)."""

    def after_pass(self, p, index, graph, record):
        if record.name == "lower-tflite" or record.name.startswith("quantize-"):
            gc.collect()
