"""Which integers hold the size of a tracked axis: shape arithmetic that reads it at run time.

Keras 3 builds an RNN's initial state as ``zeros(pack(shape(x)[0], units))``, and its
Dense over ``[B, T, D]`` reshapes to ``concat(shape(x)[:2], [units])``: the batch size
is read from the input at run time, so once the batch is pinned to 1 these operands are
still not constant while the time axis is dynamic. ``AxisAnalysis`` follows the axis
through such shape arithmetic: a value's *size positions* are the elements of an integer
vector (or the scalar itself, position 0) that equal the tracked axis's size. Each op's
batch-axis rule answers ``AxisRule.sizes`` with the helpers here; a ``fill`` or
``broadcast_to`` whose shape has one such position makes a value carrying the axis
there, a reshape to such a target puts the axis there, and stripping the axis drops
that element from the operand (``drop_size_element``).
"""
from __future__ import annotations

from typing import FrozenSet, List, Optional

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.graph import Node, Value

Positions = FrozenSet[int]


def length(v: Value) -> Optional[int]:
    """Elements of a rank-0/1 value (a scalar counts as one); None if unknown or of higher rank."""
    shape = v.shape
    if shape is None or len(shape) > 1:
        return None
    return 1 if not shape else shape[0]


def positions(an, v: Value) -> Optional[Positions]:
    return an.sizes.get(id(v))


def single_element(an, node: Node) -> Optional[Positions]:
    """identity, reshape, expand_dims, squeeze of one element: the size goes with it."""
    src = positions(an, node.inputs[0])
    return src if src and length(node.inputs[0]) == 1 == length(node.outputs[0]) else None


def of_shape(an, node: Node) -> Optional[Positions]:
    """``shape(x)``: element ``a`` is the size when ``x`` carries the axis (unmerged) at ``a``."""
    info = an.get(node.inputs[0])
    if info is None or info.merged or node.outputs[0].rank != 1:
        return None
    return frozenset([info.axis])


def of_pack(an, node: Node) -> Optional[Positions]:
    if node.attrs.get("axis", 0) != 0:
        return single_element(an, node)
    found = frozenset(k for k, v in enumerate(node.inputs) if positions(an, v) and length(v) == 1 and v.rank == 0)
    return found or None


def of_concat(an, node: Node) -> Optional[Positions]:
    if node.outputs[0].rank != 1:
        return None
    found, offset = set(), 0
    for v in node.inputs:
        n = length(v)
        if n is None:
            return None
        found |= {offset + k for k in positions(an, v) or ()}
        offset += n
    return frozenset(found) or None


def of_gather(an, node: Node) -> Optional[Positions]:
    src = positions(an, node.inputs[0])
    idx = node.inputs[1].const_value()
    if not src or idx is None or node.attrs.get("axis", 0) != 0 or node.attrs.get("batch_dims"):
        return None
    return _pick(src, [int(i) for i in np.ravel(idx)], length(node.inputs[0]))


def of_strided_slice(an, node: Node) -> Optional[Positions]:
    src = positions(an, node.inputs[0])
    if not src or node.inputs[0].rank != 1:
        return None
    begin, end, strides = (v.const_value() for v in node.inputs[1:4])
    n = length(node.inputs[0])
    at = node.attrs
    if begin is None or end is None or strides is None or n is None or at["ellipsis_mask"] or at["new_axis_mask"]:
        return None
    b = None if at["begin_mask"] & 1 else int(begin[0])
    if at["shrink_axis_mask"] & 1:
        i = b + n if b is not None and b < 0 else (b or 0)
        return frozenset([0]) if i in src else None
    e = None if at["end_mask"] & 1 else int(end[0])
    return _pick(src, list(range(n))[slice(b, e, int(strides[0]))], n)


def of_split(an, node: Node) -> Optional[List[Optional[Positions]]]:
    """``split(v, sizes)`` of a vector along 0: each piece keeps the positions that fall in it."""
    src = positions(an, node.inputs[0])
    sizes = node.attrs.get("sizes")
    if not src or node.inputs[0].rank != 1 or node.attrs.get("axis", 0) not in (0, -1) or not sizes:
        return None
    out, offset = [], 0
    for n in sizes:
        out.append(frozenset(p - offset for p in src if offset <= p < offset + n) or None)
        offset += n
    return out


def _pick(src: Positions, indices: List[int], n: Optional[int]) -> Optional[Positions]:
    if n is None and any(i < 0 for i in indices):
        return None
    indices = [i + n if i < 0 else i for i in indices]
    return frozenset(k for k, i in enumerate(indices) if i in src) or None


def only_position(an, v: Value) -> Optional[int]:
    """The one element of ``v`` that holds the axis size, or None."""
    pos = positions(an, v)
    return next(iter(pos)) if pos and len(pos) == 1 else None


def drop_size_element(node: Node, operand: int, position: int) -> None:
    """Remove element ``position`` from ``node``'s run-time shape operand (a fill's dims, a reshape's target)."""
    dims = node.inputs[operand]
    b = Builder(node.graph, before=node)
    p = dims.producer
    if p is not None and p.op == "core.pack" and p.attrs.get("axis", 0) == 0 and all(v.rank == 0 for v in p.inputs):
        rest = [v for k, v in enumerate(p.inputs) if k != position]
        node.set_input(operand, b.op("core.pack", rest, {"axis": 0}) if rest else b.const(np.zeros([0], np.int32)))
        return
    keep = [k for k in range(dims.shape[0]) if k != position]
    node.set_input(operand, b.op("core.gather", [dims, b.const(np.array(keep, np.int32))], {"axis": 0, "batch_dims": 0}))
