"""fold-empty-tensors: every value with no elements becomes an empty constant.

A tensor whose static shape has a 0 dim has one possible content, so any op computing it can be
dropped: its users read an empty ``core.const`` of the same type instead, and the op (pure and now
unused) goes. A SOFTMAX over the empty half of a split passes inference and both interpreters, but
LiteRT's XNNPACK delegate fails to prepare it ("failed to reshape"); after this pass the runtime
sees no op that makes a zero-size tensor. Ops that read an empty tensor and make a non-empty one
(a concat with an empty operand, a sum over an empty axis) keep the empty constant as operand.
Graph inputs and loop-region arguments with no elements are replaced in their users the same
way (the inputs stay). Values with unknown dims, quantization parameters or non-numeric dtypes
(strings, tensor lists) are left alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Value
from litesmith.ir.types import is_static

from .effects import is_trivially_dead
from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value

NON_NUMERIC = (DType.STRING, DType.VARIANT)


@register_pass("fold-empty-tensors")
@dataclass
class FoldEmptyTensors(Pass):
    """Values with no elements become empty constants; the ops that made them go (XNNPACK refuses them)."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        folded: Dict[str, int] = {}
        for node in reversed(list(graph.walk())):  # users first: a value only they read is not replaced
            if node.op != "core.const" and any(_empty(v) for v in node.outputs):
                for v in node.outputs:
                    if _empty(v):
                        _replace(v, Builder(node.graph, before=node), folded, node.op)
                if is_trivially_dead(node):
                    node.graph.remove(node)
            for region in node.regions:
                for arg in region.inputs:
                    if _empty(arg):
                        _replace(arg, Builder(region, before=region.first), folded, "region argument")
        for arg in graph.inputs:
            if _empty(arg):
                _replace(arg, Builder(graph, before=graph.first), folded, "graph input")
        ctx.report["folded"] = dict(sorted(folded.items()))
        return bool(folded)


def _empty(v: Value) -> bool:
    """No elements, a static shape, a plain numeric type, and read by something."""
    t = v.type
    return (t.dtype not in NON_NUMERIC and t.quant is None and is_static(t.shape) and 0 in t.shape
            and (v.has_uses() or v.is_graph_output()))


def _replace(v: Value, builder: Builder, folded: Dict[str, int], what: str) -> None:
    const = builder.op("core.const", [], {"value": np.zeros(v.type.shape, v.type.dtype.np)})
    replace_value(v, const)
    folded[what] = folded.get(what, 0) + 1
