"""The canonicalizer: every op's registered canonicalization patterns, applied greedily."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph
from litesmith.ir.registry import get_op

from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import PatternSet, RewritePattern, apply_patterns_greedily, as_pattern


class NotConvergedError(UserError):
    """Canonicalization hit its iteration cap with ``strict`` set."""


class CanonicalizationPatterns(PatternSet):
    """Each op's ``OpDef.canonicalize`` patterns, looked up when a node of that op is first seen.

    Looking up lazily means canonicalizing a core-only graph never imports
    other dialects (e.g. the TFLite backend's ``tfl`` ops).
    """

    def __init__(self):
        super().__init__()
        self._cache: Dict[str, List[RewritePattern]] = {}

    def for_op(self, op: str) -> List[RewritePattern]:
        found = self._cache.get(op)
        if found is None:
            opdef = get_op(op)
            found = [as_pattern(fn, op) for fn in opdef.canonicalize] if opdef is not None else []
            self._cache[op] = found
        return found


@register_pass("canonicalize")
@dataclass
class Canonicalize(Pass):
    """Simplify with every op's canonicalization patterns and erase dead nodes, until nothing changes."""

    max_iterations: int = 10
    strict: bool = False  # fail instead of reporting when the patterns do not converge

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        result = apply_patterns_greedily(graph, CanonicalizationPatterns(), max_iterations=self.max_iterations)
        ctx.report["applied"] = dict(sorted(result.applied.items()))
        ctx.report["iterations"] = result.iterations
        ctx.report["converged"] = result.converged
        if not result.converged and self.strict:
            raise NotConvergedError(
                f"canonicalize did not converge in {self.max_iterations} iterations "
                f"(patterns applied: {dict(result.applied)}); a pattern pair may undo each other"
            )
        return result.changed
