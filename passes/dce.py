"""Dead code elimination."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from litesmith.ir.graph import Graph

from .effects import is_trivially_dead
from .pass_base import Pass, PassContext
from .registry import register_pass


@register_pass("dce")
@dataclass
class DeadCodeElimination(Pass):
    """Remove side-effect-free nodes whose results are unused (regions included)."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        removed: Counter = Counter()
        _sweep(graph, removed)
        ctx.report["removed"] = dict(sorted(removed.items()))
        return bool(removed)


def _sweep(graph: Graph, removed: Counter) -> None:
    # Users come after producers, so one backward walk frees whole dead chains.
    for node in reversed(graph.nodes):
        if is_trivially_dead(node):
            graph.remove(node)
            removed[node.op] += 1
        else:
            for region in node.regions:
                _sweep(region, removed)
