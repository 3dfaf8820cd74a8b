"""Built-in canonicalization patterns: rewrites that are obviously correct and always shrink the graph.

Each is registered on its root op with ``litesmith.ir.registry.canonicalization_pattern``
when the registry loads the core ops, so ``OpDef.canonicalize`` is complete in any process
and the ``canonicalize`` pass finds it there.
An op missing from the registry simply gets no pattern.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from litesmith.ir.graph import Node, Value
from litesmith.ir.registry import canonicalization_pattern, get_op
from litesmith.ir.traits import COMMUTATIVE


def _canonical(*ops: str):
    """Register the decorated ``fn(node, rw)`` for each op in ``ops`` that is declared."""

    def wrap(fn):
        for op in ops:
            if get_op(op) is not None:
                canonicalization_pattern(op)(fn)
        return fn

    return wrap


def _forward(node: Node, x: Value, rw) -> bool:
    """Replace ``node``'s single result by ``x`` if that keeps output names."""
    if node.output.type != x.type:
        return rw.why_not(f"result type {node.output.type} differs from the forwarded value's {x.type}")
    if not rw.can_replace(node.output, x):
        return rw.why_not("the result is a named graph output and the forwarded value cannot take its name")
    rw.replace_node(node, [x])
    return True


@_canonical("core.identity")
def remove_identity(node: Node, rw) -> bool:
    """identity(x) -> x"""
    return _forward(node, node.inputs[0], rw)


@_canonical("core.reshape")
def reshape_of_reshape(node: Node, rw) -> bool:
    """reshape(reshape(x, s1), s2) -> reshape(x, s2): only the element order matters, and it is unchanged."""
    inner = node.inputs[0].producer
    if inner is None or inner.op != "core.reshape":
        return rw.why_not("input is not a reshape")
    node.set_input(0, inner.inputs[0])
    rw.notify_changed(node)
    return True


@_canonical("core.reshape")
def reshape_to_same_shape(node: Node, rw) -> bool:
    """reshape(x, s) -> x when x already has the (static) result shape."""
    x = node.inputs[0]
    if x.shape is None or None in x.shape or x.shape != node.output.shape:
        return rw.why_not("shapes are not static and equal")
    return _forward(node, x, rw)


def _perm(v: Value) -> Optional[np.ndarray]:
    p = v.const_value()
    return None if p is None else np.asarray(p).astype(np.int64).reshape(-1)


@_canonical("core.transpose")
def transpose_identity(node: Node, rw) -> bool:
    """transpose(x, [0, 1, ..., n-1]) -> x"""
    p = _perm(node.inputs[1])
    if p is None or not np.array_equal(p, np.arange(p.size)):
        return rw.why_not("perm is not a constant identity permutation")
    return _forward(node, node.inputs[0], rw)


@_canonical("core.transpose")
def transpose_of_transpose(node: Node, rw) -> bool:
    """transpose(transpose(x, p1), p2) -> transpose(x, p1[p2])"""
    inner = node.inputs[0].producer
    if inner is None or inner.op != "core.transpose":
        return rw.why_not("input is not a transpose")
    p1, p2 = _perm(inner.inputs[1]), _perm(node.inputs[1])
    if p1 is None or p2 is None or p1.size != p2.size:
        return rw.why_not("perms are not constants of the same length")
    b = rw.builder()
    perm = b.const(p1[p2].astype(node.inputs[1].dtype.np))
    node.set_input(0, inner.inputs[0])
    node.set_input(1, perm)
    rw.notify_changed(node)
    return True


@_canonical("core.unpack")
def unpack_of_pack(node: Node, rw) -> bool:
    """unpack(pack(x0..xn-1, axis=a), axis=a) -> x0..xn-1 (Keras's stacked unrolled layers: one
    layer stacks its steps, the next unstacks them)."""
    inner = node.inputs[0].producer
    if inner is None or inner.op != "core.pack" or len(inner.inputs) != len(node.outputs):
        return rw.why_not("input is not a pack of as many values")
    rank = node.inputs[0].rank
    if rank is None or inner.attr("axis") % rank != node.attr("axis") % rank:
        return rw.why_not("pack and unpack axes differ")
    if any(o.type != x.type for o, x in zip(node.outputs, inner.inputs)):
        return rw.why_not("result types differ from the packed values'")
    if not all(rw.can_replace(o, x) for o, x in zip(node.outputs, inner.inputs)):
        return rw.why_not("a result is a named graph output")
    rw.replace_node(node, list(inner.inputs))
    return True


def _broadcast_neutral(x: Value, c: Value, result: Value, neutral: int) -> bool:
    """``c`` is a constant filled with ``neutral`` whose broadcasting against ``x`` leaves x's shape alone."""
    v = c.const_value()
    if v is None or v.dtype == object or v.size == 0 or not np.all(v == neutral):
        return False
    if x.shape is None or v.ndim > len(x.shape):
        return False
    for cd, xd in zip(reversed(v.shape), reversed(x.shape)):
        if cd != 1 and cd != xd:
            return False
    return x.dtype is result.dtype and x.quant is None and result.quant is None and c.quant is None


def _neutral(neutral: int, const_operand: int, name: str, doc: str):
    """A pattern forwarding the other operand when operand ``const_operand`` is a neutral constant."""
    side = "right" if const_operand else "left"

    def fn(node: Node, rw) -> bool:
        c, x = node.inputs[const_operand], node.inputs[1 - const_operand]
        if not _broadcast_neutral(x, c, node.output, neutral):
            return rw.why_not(f"{side} operand is not a broadcast-safe constant {neutral}")
        return _forward(node, x, rw)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def _commutative(*ops: str):
    """Those of ``ops`` declared commutative: a right-neutral constant is neutral on the left too."""
    return [op for op in ops if get_op(op) is not None and get_op(op).has(COMMUTATIVE)]


add_zero = _canonical("core.add", "core.sub")(_neutral(0, 1, "add_zero", "x + 0 -> x, x - 0 -> x"))
zero_add = _canonical(*_commutative("core.add", "core.sub"))(_neutral(0, 0, "zero_add", "0 + x -> x"))
mul_one = _canonical("core.mul", "core.div")(_neutral(1, 1, "mul_one", "x * 1 -> x, x / 1 -> x"))
one_mul = _canonical(*_commutative("core.mul", "core.div"))(_neutral(1, 0, "one_mul", "1 * x -> x"))


@_canonical("core.cast")
def cast_to_same_type(node: Node, rw) -> bool:
    """cast(x) to x's own dtype -> x"""
    x = node.inputs[0]
    if node.attrs.get("dtype") is not x.dtype or x.quant is not None:
        return rw.why_not("the cast changes the dtype")
    return _forward(node, x, rw)
