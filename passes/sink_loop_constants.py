"""sink-loop-constants: a constant a loop only carries along becomes a constant inside the loop.

Frozen loops carry their weights as loop variables (TF2's While passes every
captured tensor in, TF1 frames Enter them): inside the body they are
arguments, so a matmul there does not see constant weights and lowers to
BATCH_MATMUL instead of FULLY_CONNECTED, fusions miss them, and the file
would hold a weight twice (the carried original and the transposed copy the
lowering makes). For each ``core.while`` slot whose initial value is a
constant and which the body returns unchanged, the cond and body read a copy
of the constant, the loop's result for that slot is the constant itself, and
the slot is dropped from the loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from litesmith.ir.builder import Builder
from litesmith.ir.graph import Graph, Node

from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value


@register_pass("sink-loop-constants")
@dataclass
class SinkLoopConstants(Pass):
    """Loop-invariant constant slots of core.while become constants inside cond and body; the slots go."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        sunk = 0
        for node in [n for n in graph.walk() if n.op == "core.while"]:
            slots = [k for k, v in enumerate(node.inputs)
                     if v.const_value() is not None and node.regions[1].outputs[k] is node.regions[1].inputs[k]]
            if slots:
                _sink(node, slots)
                sunk += len(slots)
        ctx.report["sunk"] = sunk
        return bool(sunk)


def _sink(node: Node, slots: List[int]) -> None:
    cond, body = node.regions
    for k in slots:
        value = node.inputs[k].const_value()
        for region in (cond, body):
            uses = region.inputs[k].uses()
            if uses:
                copy = Builder(region, before=region.first).op("core.const", [], {"value": value})
                for u in uses:
                    u.node.set_input(u.index, copy)
    keep = [k for k in range(len(node.inputs)) if k not in slots]
    body.outputs = [body.outputs[k] for k in keep]
    for region in (cond, body):
        dropped = [region.inputs[k] for k in slots]
        for v in dropped:
            region.remove_input(v)
    regions = list(node.regions)
    node.regions = []
    new = Builder(node.graph, before=node).create(
        "core.while", [node.inputs[k] for k in keep], dict(node.attrs),
        output_types=[node.outputs[k].type for k in keep], regions=regions, meta=dict(node.meta))
    for k in slots:
        replace_value(node.outputs[k], node.inputs[k])
    for new_out, k in zip(new.outputs, keep):
        new_out.name = ""
        replace_value(node.outputs[k], new_out)
    node.graph.remove(node)
