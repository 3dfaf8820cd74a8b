"""Compile a core-op graph to TFLite flatbuffer bytes: verify, lower, fuse, write.

    blob = compile_to_tflite(graph, report=info)   # info: ops before/after, fusions

If anything stays illegal the result is an ``IllegalOpsError`` (a ``UserError``)
carrying the legality report, never a malformed file. The graph is lowered in
place; load it again to compile it twice.
"""
from __future__ import annotations

import gc
from collections import Counter
from typing import Dict, Optional

from litesmith.ir.graph import Graph
from litesmith.ir.verify import verify

from .fusions import fuse_tflite
from .legalize import IllegalOpsError
from .lower import lower_to_tflite

__all__ = ["compile_to_tflite", "lower_and_fuse", "op_counts"]


def op_counts(graph: Graph) -> Dict[str, int]:
    """Op name -> node count, constants left out."""
    return dict(sorted(Counter(n.op for n in graph.walk() if n.op != "core.const").items()))


def lower_and_fuse(graph: Graph, report: Optional[dict] = None) -> Graph:
    """Lower ``graph`` to ``tfl`` ops and apply the fusions, in place; raise ``IllegalOpsError`` if ops stay illegal."""
    report = {} if report is None else report
    verify(graph)
    report["ops_before"] = op_counts(graph)
    lowered = lower_to_tflite(graph)
    report["lowered"] = lowered.lowered
    report["legality"] = lowered.report.to_dict()
    if not lowered.report.ok:
        raise IllegalOpsError(lowered.report, where=graph.name)
    fused = fuse_tflite(graph)
    report["fused"] = {k: v for k, v in fused.applied.items() if k != "dead"}
    remove_dead_nodes(graph)
    verify(graph)
    report["ops_after"] = op_counts(graph)
    return graph


def remove_dead_nodes(graph: Graph) -> int:
    """Drop nodes whose outputs nobody uses (after fusion: the bypassed constants and ops)."""
    removed = 0
    for node in reversed(graph.nodes):
        if node.graph is graph and not node.regions and not any(v.has_uses() for v in node.outputs):
            graph.remove(node)
            removed += 1
    return removed


def compile_to_tflite(
    graph: Graph,
    *,
    report: Optional[dict] = None,
    quantize: Optional[str] = None,
    calibration=None,
    io_dtype: str = "float32",
    percentile: Optional[float] = None,
    integer_only: bool = False,
    **writer_options,
) -> bytes:
    """Verify, lower and fuse ``graph``, optionally quantize it (``quantize``:
    dynamic, int8 or float16; see backends/quantize), then serialize it."""
    report = {} if report is None else report
    lower_and_fuse(graph, report)
    _free_replaced_constants()
    if quantize:
        from litesmith.backends.quantize import quantize_graph

        report["quantization"] = {}
        quantize_graph(graph, quantize, calibration=calibration, io_dtype=io_dtype, percentile=percentile,
                       report=report["quantization"], integer_only=integer_only)
        _free_replaced_constants()
    from .writer import write_tflite

    return write_tflite(graph, **writer_options)


def _free_replaced_constants() -> None:
    """Run the cyclic garbage collector. A removed node and its values refer to each other, so a
    constant that lowering replaced (a weight's untransposed original) or quantization replaced (a
    float weight) stays in memory until the collector runs: a 100 MB weight would be held twice
    while the next stage allocates (docs/benchmarks.md, big constants)."""
    gc.collect()
