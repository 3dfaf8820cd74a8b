"""demote-float64: compute float64 ops in float32, with casts where float64 enters and leaves.

TFLite has no float64 kernels but CAST: a TF graph that casts to float64 and computes (NNSmith's
random graphs do, so do hand-written ``tf.cast(x, tf.float64)`` models) would otherwise stop at
``unsupported-dtype``. Each top-level op that reads or makes float64 (``core.cast`` excepted,
TFLite's CAST takes float64) is rebuilt on float32 operands: a constant becomes a float32
constant, a value cast from float32 is read before that cast (exact), anything else gets a CAST to
float32; its float64 results are cast back, so the graph's inputs and outputs keep their dtypes.
Chains of demoted ops pass float32 between them, leaving CASTs only at the boundaries.

Precision contract (why the pass is ``approximate``): every demoted op rounds to float32 (relative
2^-24 per op instead of 2^-53) and float32's range (|x| < 3.4e38; beyond it is inf, below 1.2e-38
is subnormal or 0). A float64 constant that is finite but outside float32's range leaves its op
as it is (the report says which), and lowering then refuses it. Ops with regions stay as they are.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.registry import get_op
from litesmith.ir.graph import Graph, Node, Value

from .pass_base import Pass, PassContext
from .registry import register_pass

F32_MAX = float(np.finfo(np.float32).max)
MADE = "demote-float64.cast_back"  # meta of the casts back to float64 this pass makes (dropped at the end)
KEEP = ("core.cast", "core.const")  # TFLite's CAST reads and writes float64; constants go with their users


@register_pass("demote-float64")
@dataclass
class DemoteFloat64(Pass):
    """Compute float64 ops in float32 (TFLite has no float64 kernels), casting at the boundaries."""

    approximate = True  # results round to float32 (the module docstring's precision contract)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        as_f32: Dict[int, Value] = {}  # id of a float64 value -> the float32 value it rounds to
        exact: set = set()  # ids of the float64 values that hold float32 values (cast from float32)
        casts: Dict[int, Node] = {}  # casts this pass made or read around: removed if left unused
        demoted, kept = [], []
        for node in list(graph):
            if node.op == "core.cast" and id(node.inputs[0]) in exact:
                _shorten_cast(graph, node, as_f32[id(node.inputs[0])])
                continue
            if node.op in KEEP or node.regions or not _touches_f64(node):
                continue
            why = _blocker(node)
            if why:
                kept.append(f"{node.name or node.outputs[0].name}: {why}")
                continue
            _demote(graph, node, as_f32, exact, casts)
            demoted.append(node.op)
        for cast in casts.values():
            back, low = cast.outputs[0], cast.inputs[0]
            made = cast.meta.pop(MADE, False)
            if not back.has_uses():  # every user was demoted too
                graph.remove(cast)
            elif made and low.name and back.is_graph_output() and not low.is_graph_output():
                back.name, low.name = low.name, f"{low.name}/f32"  # the graph output keeps its name
        ctx.report["demoted"] = {op: demoted.count(op) for op in sorted(set(demoted))}
        if kept:
            ctx.report["kept"] = kept
        return bool(demoted)


def _touches_f64(node: Node) -> bool:
    return any(v.dtype is DType.FLOAT64 for v in [*node.inputs, *node.outputs])


def _blocker(node: Node) -> Optional[str]:
    """Why the node cannot compute in float32, or None."""
    if get_op(node.op) is None:  # a foreign op has no inference to retype it (a fuzzed ONNX Conv of f64)
        return f"{node.op} is a foreign op (its float32 twin's types cannot be inferred)"
    for v in node.inputs:
        c = v.const_value()
        if c is not None and c.dtype == np.float64 and c.size:
            finite = c[np.isfinite(c)]
            if finite.size and float(np.max(np.abs(finite))) > F32_MAX:
                return f"float64 constant %{v.name} holds values beyond float32's range"
    return None


def _demote(graph: Graph, node: Node, as_f32: Dict[int, Value], exact: set, casts: Dict[int, Node]) -> None:
    """Replace ``node`` by its float32 twin, casting its float64 results back."""
    b = Builder(graph, before=node)
    inputs = [_f32_of(v, b, as_f32, exact, casts) if v.dtype is DType.FLOAT64 else v for v in node.inputs]
    attrs = {k: (DType.FLOAT32 if v is DType.FLOAT64 else v) for k, v in node.attrs.items()}
    twin = b.create(node.op, inputs, attrs, meta=dict(node.meta))
    for old, new in zip(node.outputs, twin.outputs):
        new.name = old.name
        if old.dtype is DType.FLOAT64 and new.dtype is DType.FLOAT32:
            back = b.create("core.cast", [new], {"dtype": DType.FLOAT64}, meta={MADE: True})
            as_f32[id(back.outputs[0])] = new
            exact.add(id(back.outputs[0]))
            casts[id(back)] = back
            new = back.outputs[0]
        old.replace_all_uses_with(new)
    graph.remove(node, force=True)


def _shorten_cast(graph: Graph, cast: Node, low: Value) -> None:
    """A cast of a float64 value that holds a float32 one (cast from it) reads that instead; a cast
    to float32 is then that value itself. (A float64 value rounded to float32 is not: casting it to
    int from float32 could differ.)"""
    out = cast.outputs[0]
    if cast.attrs["dtype"] is not DType.FLOAT32:
        cast.set_input(0, low)
    elif not out.is_graph_output():
        out.replace_all_uses_with(low)
        graph.remove(cast, force=True)
    elif low.producer is not None and low.producer.op != "core.const" and not low.is_graph_output():
        low.name = out.name  # the graph output keeps its name
        out.replace_all_uses_with(low)
        graph.remove(cast, force=True)


def _f32_of(v: Value, b: Builder, as_f32: Dict[int, Value], exact: set, casts: Dict[int, Node]) -> Value:
    """The float32 value of float64 ``v``: known, a constant, the source of a cast from float32, or a CAST."""
    if id(v) in as_f32:
        return as_f32[id(v)]
    c = v.const_value()
    if c is not None:
        out = b.const(c.astype(np.float32))
    elif v.producer is not None and v.producer.op == "core.cast" and v.producer.inputs[0].dtype is DType.FLOAT32:
        out = v.producer.inputs[0]  # float32 -> float64 -> float32 is exact
        casts[id(v.producer)] = v.producer
        exact.add(id(v))
    else:
        out = b.op("core.cast", [v], {"dtype": DType.FLOAT32})
    as_f32[id(v)] = out
    return out
