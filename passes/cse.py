"""Common subexpression elimination."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, Hashable

from litesmith.ir.graph import Graph, Node

from .effects import attr_key, is_pure
from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import can_replace, replace_value


@register_pass("cse")
@dataclass
class CommonSubexpressionElimination(Pass):
    """Merge identical side-effect-free nodes (same op, inputs and attributes)."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        merged: Counter = Counter()
        _cse(graph, merged)
        ctx.report["merged"] = dict(sorted(merged.items()))
        return bool(merged)


def _key(node: Node) -> Hashable:
    return (
        node.op,
        tuple(id(v) for v in node.inputs),
        tuple(sorted((k, attr_key(v)) for k, v in node.attrs.items())),
        tuple(v.type for v in node.outputs),
    )


def _cse(graph: Graph, merged: Counter) -> None:
    """One forward walk: inputs are merged before their users are keyed. Each region is its own scope."""
    seen: Dict[Hashable, Node] = {}
    for node in graph:
        for region in node.regions:
            _cse(region, merged)
        if node.regions or not is_pure(node):
            continue
        key = _key(node)
        first = seen.get(key)
        if first is None:
            seen[key] = node
            continue
        if not all(can_replace(old, new) for old, new in zip(node.outputs, first.outputs)):
            continue  # both are named graph outputs: merging would need an identity, no gain
        for old, new in zip(node.outputs, first.outputs):
            replace_value(old, new)
        graph.remove(node)
        merged[node.op] += 1
