"""Deliberately faulty passes for tests/test_reduce.py, loaded with ``--load`` (never registered otherwise).

- ``crash-on-exp-sub``: raises an internal error on ``core.sub`` whose first operand is a ``core.exp``.
- ``crash-on-op{op=NAME}``: raises an internal error on any node of op NAME.
- ``broken-mul-by-const``: rewrites ``core.mul(x, constant)`` to ``core.add(x, constant)`` (wrong numerics),
  building the new node with the rewriter's Builder.
"""
from dataclasses import dataclass

from litesmith.passes import Pass, apply_patterns_greedily, pattern, register_pass


@register_pass("crash-on-exp-sub")
@dataclass
class CrashOnExpSub(Pass):
    """Crash on sub(exp(x), y) (a bug to reduce)."""

    def run(self, graph, ctx) -> bool:
        for node in graph.walk():
            if node.op == "core.sub" and node.inputs[0].producer is not None and node.inputs[0].producer.op == "core.exp":
                raise IndexError(f"sub of exp at {node.name}")
        return False


@register_pass("crash-on-op")
@dataclass
class CrashOnOp(Pass):
    """Crash on any node of one op (a bug to reduce)."""

    op: str = "core.tanh"

    def run(self, graph, ctx) -> bool:
        for node in graph.walk():
            if node.op == self.op:
                raise KeyError(f"no rule for {node.op}")
        return False


@pattern("core.mul")
def mul_by_const_as_add(node, rw):
    """mul(x, c) -> add(x, c): wrong on purpose."""
    x, c = node.inputs
    if not c.is_const():
        return rw.why_not("the second operand is not a constant")
    rw.replace_node(node, [rw.builder().op("core.add", [x, c])])
    return True


@register_pass("broken-mul-by-const")
@dataclass
class BrokenMulByConst(Pass):
    """Rewrite mul(x, constant) to add(x, constant) (a broken rewrite to reduce)."""

    def run(self, graph, ctx) -> bool:
        return apply_patterns_greedily(graph, [mul_by_const_as_add]).changed
