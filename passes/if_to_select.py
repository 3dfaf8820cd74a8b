"""if-to-select: a ``core.if`` whose branches only compute becomes both branches and a select.

TFLite has no lowering of ``core.if`` here. When both regions hold only pure
ops without regions of their own (nothing a branch not taken could disturb)
and return one type per result, running both and picking each result with
``core.select`` (TFLite SELECT_V2) gives what the taken branch gives. A
constant condition inlines its branch alone. Branches larger than
``max_nodes`` (both are computed every time) and foreign or effectful ops
leave the node as it is; the report says why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from litesmith.ir.builder import Builder
from litesmith.ir.graph import Graph, Node
from litesmith.ir.registry import get_op

from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value
from .unroll_rnn import _clone_region_into


@register_pass("if-to-select")
@dataclass
class IfToSelect(Pass):
    """Replace each top-level core.if whose branches are pure by both branches and a select per result."""

    max_nodes: int = 256  # per branch: larger ones are left alone (both run every time)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        done, skipped = [], []
        for node in [n for n in graph if n.op == "core.if"]:
            label = node.name or node.outputs[0].name
            pred = node.inputs[0].const_value()
            why = None if pred is not None else _blocker(node, self.max_nodes)
            if why:
                skipped.append(f"{label}: {why}")
                continue
            _replace(graph, node, None if pred is None else bool(np.asarray(pred).reshape(-1)[0]))
            done.append(label)
        ctx.report["selected"] = done
        if skipped:
            ctx.report["skipped"] = skipped
        return bool(done)


def _blocker(node: Node, max_nodes: int) -> Optional[str]:
    """Why the node cannot run both branches, or None."""
    if len(node.regions) != 2:
        return "not two regions"
    for region in node.regions:
        if len(region) > max_nodes:
            return f"a branch has {len(region)} nodes (max_nodes={max_nodes})"
        for n in region:
            opdef = get_op(n.op)
            if n.regions or opdef is None or not opdef.pure:
                return f"{n.op} in a branch"
    then_r, else_r = node.regions
    for a, b in zip(then_r.outputs, else_r.outputs):
        if a.type != b.type:
            return f"the branches return {a.type} and {b.type}"
    return None


def _replace(graph: Graph, node: Node, taken: Optional[bool]) -> None:
    b = Builder(graph, before=node)
    args = list(node.inputs[1:])
    if taken is not None:
        results = _clone_region_into(node.regions[0 if taken else 1], args, b, "")
    else:
        then_v = _clone_region_into(node.regions[0], args, b, "/then")
        else_v = _clone_region_into(node.regions[1], args, b, "/else")
        results = [b.op("core.select", [node.inputs[0], t, e]) for t, e in zip(then_v, else_v)]
    for out, new in zip(node.outputs, results):
        replace_value(out, new)
    graph.remove(node, force=True)
