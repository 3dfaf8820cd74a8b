"""compose-ops: rewrite ops TFLite lacks into core ops that lower to builtins.

The rules live in ``compose_patterns.py`` (one per source op, with its error
bound); this module only turns the chosen rules into patterns and runs them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node

from .compose_patterns import DEFAULT_RULES, RULES, ComposeRule
from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import RewritePattern, Rewriter, apply_patterns_greedily


class _ComposePattern(RewritePattern):
    def __init__(self, rule: ComposeRule, op: str):
        self.rule = rule
        self.op = op

    @property
    def name(self) -> str:
        return self.rule.name

    def match_and_rewrite(self, node: Node, rw: Rewriter) -> bool:
        result = self.rule.fn(node, rw.builder())
        if isinstance(result, str):
            return rw.why_not(result)
        rw.replace_node(node, list(result))
        return True


def compose_patterns(names: List[str]) -> List[RewritePattern]:
    unknown = [n for n in names if n not in RULES]
    if unknown:
        raise UserError(f"compose-ops: no rewrite for {', '.join(unknown)}; known: {', '.join(RULES)}")
    return [_ComposePattern(RULES[n], op) for n in names for op in RULES[n].roots]


@register_pass("compose-ops")
@dataclass
class ComposeOps(Pass):
    """Rewrite ops TFLite lacks (Cumprod, Erfinv, Erfc, Erf, MatrixDeterminant; opt-in Tile, Range) from builtin-lowerable core ops.

    ``ops``: rule names to apply (``compose-ops{ops=[Tile,Range]}``); empty
    means the default set. Nodes a rule cannot handle (dynamic shapes, a
    non-constant axis) are left alone and listed in the report.
    """

    ops: List[str] = field(default_factory=list)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        names = list(self.ops) or list(DEFAULT_RULES)
        result = apply_patterns_greedily(graph, compose_patterns(names), trace=True, erase_dead=False)
        ctx.report["composed"] = dict(result.applied)
        skipped = [f"{f.node}: {f.reason}" for f in result.why_not]
        if skipped:
            ctx.report["skipped"] = sorted(set(skipped))
        return result.changed
