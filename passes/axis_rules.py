"""How a tracked axis (batch, time) goes through each kind of op, and how removing it rewrites the op.

An op declares its kind with ``defop(..., batch_axis="reduce_axes")`` (the
vocabulary and what each kind means are in ``ir/traits.py``; elementwise ops
get ``"elementwise"`` from their trait). ``rule_for(op)`` finds the rule here;
``passes/batch_analysis.py`` walks the graph and asks it. A rule answers:

- ``forward``: the axis of each result, given the operands' (some carry it);
- ``source``: results that carry the axis although no operand does (a zero
  state filled at the batch size);
- ``strip``: rewrite the node once the axis is gone from its operands;
- ``strip_source`` / ``pin``: rewrite a source for strip / pin mode.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Node, Value
from litesmith.ir.registry import get_op
from litesmith.ir.traits import BATCH_AXIS_RULES, PRODUCT

from . import axis_sizes

__all__ = ["AxisInfo", "AxisMixingError", "LoopStepsOverAxis", "AxisRule", "RULES", "rule_for"]


class AxisMixingError(UserError):
    """An op combines elements along the axis being removed (or has no rule for it)."""


class LoopStepsOverAxis(AxisMixingError):
    """A loop unstacks the tracked axis: it is the time axis of a sequence, not the batch."""


@dataclass(frozen=True)
class AxisInfo:
    """The tracked axis sits at ``axis``; ``merged``: a reshape folded it into that (larger) dim."""

    axis: int
    merged: bool = False


Infos = Sequence[Optional[AxisInfo]]


def norm(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def const_operand(v: Value, node: Node, what: str) -> np.ndarray:
    c = v.const_value()
    if c is None:
        raise AxisMixingError(f"{node.op} node {node.name!r}: its {what} is computed at run time; "
                              "run fold-constants first or give the inputs static shapes")
    return c


def drop(seq, k):
    return [x for i, x in enumerate(seq) if i != k]


def _drop_bit(mask: int, k: int) -> int:
    low = mask & ((1 << k) - 1)
    return low | ((mask >> (k + 1)) << k)


def set_const_operand(node: Node, index: int, arr: np.ndarray) -> None:
    old = node.inputs[index]
    b = Builder(node.graph, before=node)
    node.set_input(index, b.const(np.asarray(arr, dtype=old.const_value().dtype), name=old.name))


def _replace_by_identity(node: Node) -> None:
    node.op = "core.identity"
    node.attrs = {}


def _shift_axis_attr(node: Node, a: int, rank: int) -> None:
    """``axis`` of an op whose rank drops by one at ``a`` (axis < a stays, > a moves down)."""
    n = norm(node.attr("axis"), rank)
    node.attrs["axis"] = n - (n > a)


def _squeeze_plain_operands(node: Node, ins: Infos, axis: Optional[int]) -> None:
    """Operands without the axis that still have a size-1 dim where it sits lose that dim."""
    out_rank = node.outputs[0].rank
    pos = next(i.axis + out_rank - v.rank for v, i in zip(node.inputs, ins) if i is not None) if axis is None else axis
    for k, (v, i) in enumerate(zip(node.inputs, ins)):
        if i is not None or v.shape is None:
            continue
        local = pos - (out_rank - v.rank) if axis is None else pos
        if 0 <= local < v.rank:
            b = Builder(node.graph, before=node)
            node.set_input(k, b.op("core.squeeze", [v], {"axes": [local]}))


def _keep_unit_axis(node: Node, operand: int, axis: int, an) -> None:
    """Give ``operand`` its stripped axis back (size 1) and squeeze it off the results."""
    g = node.graph
    b = Builder(g, before=node)
    node.set_input(operand, b.op("core.expand_dims", [node.inputs[operand]], {"axis": axis}))
    after = Builder(g, after=node)
    for out in node.outputs:
        users = out.uses()
        was_output = [k for k, o in enumerate(g.outputs) if o is out]
        sq = after.create("core.squeeze", [out], {"axes": [axis]}, output_types=[out.type])
        if an.get(out) is not None:
            an.info[id(sq.output)] = an.info[id(out)]
        for u in users:
            u.node.set_input(u.index, sq.output)
        for k in was_output:
            g.outputs[k] = sq.output
        if out.name:
            sq.output.name, out.name = out.name, out.name + "/unit"


# -- the rules -------------------------------------------------------------------------------------


class AxisRule:
    """Default: no rule (the analysis fails naming the op, or drops the axis in pin mode)."""

    def forward(self, an, node: Node, ins: Infos, first: AxisInfo) -> List[Optional[AxisInfo]]:
        if an.allow_mixing:
            return [None] * len(node.outputs)
        raise AxisMixingError(f"{node.op} node {node.name!r}: no rule for a {an.what} axis through this op; "
                              f"run fold-constants first, or use strip-batch{{mode=pin}}")

    def source(self, an, node: Node) -> Optional[List[Optional[AxisInfo]]]:
        """Results carrying the axis when no operand does; None: none of them."""
        return None

    def sizes(self, an, node: Node) -> Optional[frozenset]:
        """Elements of the (integer) result that hold the axis size (shape arithmetic; axis_sizes.py)."""
        return None

    def result_sizes(self, an, node: Node) -> Optional[List[Optional[frozenset]]]:
        """``sizes`` for each result of a node with several (a split shape vector)."""
        return None

    def strip(self, an, node: Node, ins: Infos, a: int, rank: Optional[int]) -> None:
        """Rewrite ``node`` whose operands lose the axis (``a`` in the first carrying operand, of ``rank``)."""

    def strip_source(self, node: Node, axis: int) -> None:
        """Rewrite a source so that its result lacks ``axis``."""

    def pin(self, an, node: Node, out: AxisInfo) -> None:
        """Rewrite ``node`` (its first result carries the axis) so the axis has size 1."""


class Passthrough(AxisRule):
    def forward(self, an, node, ins, first):
        return [ins[0]]

    def sizes(self, an, node):
        return axis_sizes.single_element(an, node)


class Elementwise(AxisRule):
    def forward(self, an, node, ins, first):
        if len(node.inputs) == 1:
            return [ins[0]]
        rank = node.outputs[0].rank
        positions = {(i.axis + rank - v.rank, i.merged) for v, i in zip(node.inputs, ins) if i is not None}
        if len(positions) != 1:
            return [an.mixing(node, "combines values whose axes disagree")]
        pos, merged = positions.pop()
        for v, i in zip(node.inputs, ins):
            if i is None and v.shape is not None and v.rank > rank - 1 - pos + 0 and pos - (rank - v.rank) >= 0:
                d = v.shape[pos - (rank - v.rank)]
                if d != 1 and not merged:
                    return [an.mixing(node, f"broadcasts operand {v.name!r} (dim {d}, not from the inputs)")]
        return [AxisInfo(pos, merged)]

    def strip(self, an, node, ins, a, rank):
        if len(node.inputs) > 1:
            _squeeze_plain_operands(node, ins, None)


class ReduceAxes(AxisRule):
    def forward(self, an, node, ins, first):
        rank = node.inputs[0].rank
        axes = [norm(a, rank) for a in node.attr("axes")] or list(range(rank))
        keep = node.attr("keepdims")
        if first.axis in axes:
            if an.size == 1:  # one element: its max, sum, mean... is the element itself
                return [AxisInfo(first.axis, first.merged) if keep else None]
            return [an.mixing(node, "reduces", f"{an.what} size {an.size}; " if an.size else "")]
        return [AxisInfo(first.axis if keep else first.axis - sum(a < first.axis for a in axes), first.merged)]

    def strip(self, an, node, ins, a, rank):
        axes = [norm(k, rank) for k in node.attr("axes")] or list(range(rank))
        rest = [k - (k > a) for k in axes if k != a]
        if not rest:  # it only reduced over the (size-1) axis: the value itself
            _replace_by_identity(node)
            return
        node.attrs["axes"] = rest


class AlongAxis(AxisRule):
    """Works along attr ``axis``, which must not be the tracked one; every result carries it.

    softmax, cumsum (``drops=False``); argmax, argmin (``drops=True``: the ``axis`` dim goes);
    split, unpack (``verb="splits"``: several results)."""

    def __init__(self, drops: bool, verb: str = "combines elements"):
        self.drops = drops
        self.verb = verb

    def forward(self, an, node, ins, first):
        n = norm(node.attr("axis"), node.inputs[0].rank)
        if n == first.axis:
            return [an.mixing(node, self.verb)] * len(node.outputs)
        out = AxisInfo(first.axis - (n < first.axis), first.merged) if self.drops else first
        return [out] * len(node.outputs)

    def strip(self, an, node, ins, a, rank):
        n = norm(node.attr("axis"), rank)
        if not (node.attr("axis") < 0 and n > a):
            node.attrs["axis"] = n - (n > a)


class Split(AlongAxis):
    def __init__(self, drops: bool):
        super().__init__(drops, "splits")

    def strip(self, an, node, ins, a, rank):
        _shift_axis_attr(node, a, rank)

    def result_sizes(self, an, node):
        return axis_sizes.of_split(an, node)


class Matmul(AxisRule):
    def forward(self, an, node, ins, first):
        a, b = ins
        ra, rank = node.inputs[0].rank, node.outputs[0].rank
        if b is not None:
            if b.axis < node.inputs[1].rank - 2 and (a is None or a.axis + rank - ra == b.axis + rank - node.inputs[1].rank):
                return [AxisInfo(b.axis + rank - node.inputs[1].rank, b.merged)]
            return [an.mixing(node, "multiplies")]
        if a.axis < ra - 2:
            return [AxisInfo(a.axis + rank - ra, a.merged)]
        if a.axis == ra - 2 and not node.attr("transpose_a"):
            return [AxisInfo(rank - 2, a.merged)]
        return [an.mixing(node, "multiplies")]

    def strip(self, an, node, ins, a, rank):
        a_info = ins[0]
        if a_info is not None and a_info.axis == rank - 2 and rank == 2:
            _keep_unit_axis(node, 0, 0, an)


class FirstOperandOnly(AxisRule):
    """The axis may come only through operand 0 (slice, tile, pad, reverse; spatial ops at dim 0)."""

    def __init__(self, at_zero: bool = False):
        self.at_zero = at_zero

    def forward(self, an, node, ins, first):
        if ins[0] is None or any(ins[1:]) or (self.at_zero and ins[0].axis != 0):
            return [an.mixing(node, "mixes elements")]
        return [ins[0]]


class Spatial(FirstOperandOnly):
    def __init__(self):
        super().__init__(at_zero=True)

    def strip(self, an, node, ins, a, rank):
        _keep_unit_axis(node, 0, a, an)


class PerDimOperands(FirstOperandOnly):
    def strip(self, an, node, ins, a, rank):
        for idx in range(1, len(node.inputs)):
            arr = node.inputs[idx].const_value()
            if arr is not None and arr.ndim >= 1 and len(arr) == rank:
                set_const_operand(node, idx, np.delete(arr, a, axis=0))


class Reverse(FirstOperandOnly):
    def forward(self, an, node, ins, first):
        rank = node.inputs[0].rank
        if ins[0] is not None and rank is not None and ins[0].axis in [norm(k, rank) for k in node.attrs["axes"]]:
            an.reversed.append(node)  # unroll-rnn: a loop over this cannot be stepped forward
            return [an.mixing(node, "reverses the order of elements")]
        return super().forward(an, node, ins, first)

    def strip(self, an, node, ins, a, rank):
        node.attrs["axes"] = [k - (k > a) for k in (norm(k, rank) for k in node.attr("axes"))]


class Transpose(AxisRule):
    def forward(self, an, node, ins, first):
        perm = [int(p) for p in const_operand(node.operand("perm"), node, "permutation")]
        return [AxisInfo(perm.index(first.axis), first.merged)]

    def source(self, an, node):
        """A value whose size-1 axis was squeezed out before dim p: after the transpose, before perm.index(p)."""
        p = an.squeezed.get(id(node.inputs[0]))
        perm = node.operand("perm").const_value()
        if p is not None and perm is not None and p < len(perm):
            an.squeezed[id(node.outputs[0])] = [int(q) for q in perm].index(p)
        return None

    def strip(self, an, node, ins, a, rank):
        perm = [int(p) for p in node.operand("perm").const_value()]
        set_const_operand(node, 1, np.array([p - (p > a) for p in perm if p != a]))


class Concat(AxisRule):
    def forward(self, an, node, ins, first):
        if any(i != first for i in ins if i is not None):
            return [an.mixing(node, "joins values whose axes disagree")]
        if norm(node.attr("axis"), node.inputs[0].rank) == first.axis:
            return [an.mixing(node, "concatenates")]
        return [first]

    def strip(self, an, node, ins, a, rank):
        _shift_axis_attr(node, a, rank)
        _squeeze_plain_operands(node, ins, a)

    def sizes(self, an, node):
        return axis_sizes.of_concat(an, node)

class NewAxis(AxisRule):
    """pack, expand_dims: a new dim at attr ``axis`` of the result."""

    def forward(self, an, node, ins, first):
        if any(i != first for i in ins if i is not None):
            return [an.mixing(node, "joins values whose axes disagree")]
        n = norm(node.attr("axis"), node.inputs[0].rank + 1)
        return [AxisInfo(first.axis + (n <= first.axis), first.merged)]

    def strip(self, an, node, ins, a, rank):
        n = norm(node.attr("axis"), rank + 1)
        node.attrs["axis"] = n - (a < n)

    def source(self, an, node):
        """expand_dims putting back a size-1 axis a squeeze took out (torch's dynamo export of SDPA reshapes
        [1, H, T, d] -> [-1, T, d] and back, which the ONNX frontend writes as squeeze / expand_dims)."""
        if len(node.inputs) == 1 and an.squeezed.get(id(node.inputs[0])) == norm(node.attr("axis"), node.inputs[0].rank + 1):
            return [AxisInfo(node.attr("axis") % (node.inputs[0].rank + 1))]
        return None

    def strip_source(self, node, axis):
        _replace_by_identity(node)  # the put-back axis is stripped: the squeeze before it is an identity too

    def sizes(self, an, node):
        return axis_sizes.of_pack(an, node)


class Gather(AxisRule):
    def forward(self, an, node, ins, first):
        p, i = ins
        if node.attr("batch_dims"):
            return [an.mixing(node, "gathers with batch_dims")]
        axis = norm(node.attr("axis"), node.inputs[0].rank)
        if p is not None and i is not None:
            return [an.mixing(node, "gathers")]
        if p is not None:
            if p.axis == axis:
                return [an.mixing(node, "gathers")]
            return [AxisInfo(p.axis if p.axis < axis else p.axis + node.inputs[1].rank - 1, p.merged)]
        return [AxisInfo(axis + i.axis, i.merged)]

    def strip(self, an, node, ins, a, rank):
        if ins[0] is not None:
            _shift_axis_attr(node, a, rank)

    def sizes(self, an, node):
        return axis_sizes.of_gather(an, node)

class Reshape(AxisRule):
    def forward(self, an, node, ins, first):
        return [self._follow(an, node, first)]

    def _follow(self, an, node, first: AxisInfo) -> Optional[AxisInfo]:
        shape = node.inputs[0].shape
        target = node.operand("shape").const_value()
        if target is None:  # computed at run time (Keras's Dense over [B, T, D] is a Tensordot)
            j = axis_sizes.only_position(an, node.operand("shape"))
            if j is not None:  # the target reads the axis size: the axis is that dim
                return AxisInfo(j)
            if an.size == 1 and first.axis == 0 and not first.merged:
                return AxisInfo(0, merged=True)  # a leading axis of size 1 is the outer factor of dim 0
            if first.merged and an.size == 1 and _splits_merged_axis(an, node, first.axis):
                return AxisInfo(first.axis)
            k = _product_position(an, node, first)
            if k is not None:  # [T, B, D] -> [T * B, D] with the product computed at run time
                return AxisInfo(k, merged=True)
        elif first.merged and an.size == 1 and shape is not None and None not in shape[:first.axis]:
            pre = int(np.prod(shape[:first.axis], dtype=np.int64))  # a merged axis of size 1 split out again
            dims = [int(t) for t in target]
            for j, t in enumerate(dims):
                if t == 1 and -1 not in dims[:j] and int(np.prod(dims[:j], dtype=np.int64)) == pre:
                    return AxisInfo(j)
        if first.merged or shape is None or target is None:
            return an.mixing(node, "reshapes (shapes not static)")
        target = [int(t) for t in target]
        if any(d is None for d in shape[:first.axis]):
            return an.mixing(node, "reshapes (shapes not static)")
        pre = int(np.prod(shape[:first.axis], dtype=np.int64))
        blk = shape[first.axis]
        rest = shape[first.axis + 1:]
        for j in range(len(target)):
            # the dims after the axis regrouped ([B, T, D] -> [-1, T, H, dh], Keras 3's head split)
            if (target[j] in (-1, blk) and -1 not in target[:j] + target[j + 1:] and None not in rest
                    and int(np.prod(target[:j], dtype=np.int64)) == pre
                    and int(np.prod(target[j + 1:], dtype=np.int64)) == int(np.prod(rest, dtype=np.int64))):
                return AxisInfo(j)
        for j in range(len(target)):
            if -1 in target[:j] or int(np.prod(target[:j], dtype=np.int64)) != pre:
                continue
            tail = target[j + 1:]
            extra = len(tail) - (len(shape) - first.axis - 1)
            if extra > 0 and all(t == 1 for t in tail[:extra]):
                tail = tail[extra:]  # unit dims added right after the axis ([B] -> [B, 1])
            if -1 in tail or len(tail) > len(shape) - first.axis - 1:
                continue
            if list(shape[len(shape) - len(tail):] if tail else []) != tail:
                continue
            middle = shape[first.axis + 1:len(shape) - len(tail)]
            if not middle and target[j] in (blk, -1):
                return AxisInfo(j)
            if target[j] == -1 or (blk and None not in middle and target[j] == blk * int(np.prod(middle))):
                return AxisInfo(j, merged=True)  # the axis is the outer factor of dim j
        return an.mixing(node, "reshapes")

    def sizes(self, an, node):
        return axis_sizes.single_element(an, node)

    def strip_source(self, node, axis):
        """The operand carried the axis merged; the result has it on its own at ``axis``."""
        self._drop_target_dim(node, axis)

    def _drop_target_dim(self, node, j):
        if node.inputs[1].const_value() is None:
            axis_sizes.drop_size_element(node, 1, j)
        else:
            set_const_operand(node, 1, np.array(drop(list(node.inputs[1].const_value()), j)))

    def strip(self, an, node, ins, a, rank):
        out = an.get(node.outputs[0])
        if node.inputs[1].const_value() is None:  # a run-time target reads the sizes of the stripped value
            if out is not None and not out.merged:
                axis_sizes.drop_size_element(node, 1, out.axis)
            return
        target = list(node.inputs[1].const_value())
        if out is not None and not out.merged:
            target = drop(target, out.axis)
        elif out is not None:
            j = out.axis
            if target[j] != -1:
                target[j] = target[j] // node.inputs[0].shape[a]
        set_const_operand(node, 1, np.array(target))

    def pin(self, an, node, out):
        x_info = an.get(node.inputs[0])
        if x_info is None or node.inputs[1].const_value() is None:  # a run-time target reads the pinned size
            return
        target = list(node.inputs[1].const_value())
        j = out.axis
        if target[j] != -1:
            target[j] = 1 if not out.merged else target[j] // node.inputs[0].shape[x_info.axis]
            set_const_operand(node, 1, np.array(target))


def _packs(p: Node) -> bool:
    """``p`` stacks scalars into a shape vector (an op declaring the ``pack`` rule, along axis 0)."""
    return get_op(p.op).batch_axis == "pack" and p.attrs.get("axis", 0) == 0


def _splits_merged_axis(an, node: Node, a: int) -> bool:
    """A run-time target ``[..., -1, n, ...]`` that splits the dim holding the merged axis back
    in two (tf_keras TimeDistributed: ``[B*T, D] -> [-1, T, D]`` with ``T`` read at run time):
    the other dims are the input's (constants), and the run-time ``n`` does not read the
    axis size, so the ``-1`` is the axis's own factor."""
    shape = node.inputs[0].shape
    p = node.operand("shape").producer
    if shape is None or p is None or not _packs(p):
        return False
    elems = [v.const_value() for v in p.inputs]
    if len(elems) != len(shape) + 1 or elems[a] is None or int(elems[a]) != -1 or elems[a + 1] is not None:
        return False
    if axis_sizes.positions(an, p.inputs[a + 1]):
        return False
    known = [None if e is None else int(e) for k, e in enumerate(elems) if k not in (a, a + 1)]
    return known == [d for k, d in enumerate(shape) if k != a]


def _product_position(an, node: Node, first: AxisInfo) -> Optional[int]:
    """The target dim ``k`` that is a run-time product of two scalars, one of them the axis size,
    where the axis's dim and its neighbour merge (Keras 3 TimeDistributed's pfor: ``[T, B, D] ->
    [T * B, D]``); None otherwise."""
    shape = node.inputs[0].shape
    p = node.operand("shape").producer
    if an.size != 1 or first.merged or shape is None or p is None or not _packs(p) or len(p.inputs) != len(shape) - 1:
        return None
    for k, v in enumerate(p.inputs):
        mul = v.producer
        if (mul is not None and PRODUCT in get_op(mul.op).traits and v.rank == 0 and first.axis in (k, k + 1)
                and any(axis_sizes.positions(an, f) and f.rank == 0 for f in mul.inputs)):
            return k
    return None


def squeeze_axes(node: Node) -> List[int]:
    """The dims a ``core.squeeze`` removes (its ``axes``, or every static size-1 dim when empty)."""
    rank = node.inputs[0].rank
    axes = [norm(a, rank) for a in node.attr("axes")]
    if not axes:
        axes = [k for k, d in enumerate(node.inputs[0].shape) if d == 1]
    return axes


class Squeeze(AxisRule):
    def forward(self, an, node, ins, first):
        axes = squeeze_axes(node)
        if first.axis in axes:
            if axes == [first.axis] and not first.merged:  # an expand_dims may put it back (see NewAxis.source)
                an.squeezed[id(node.outputs[0])] = first.axis
            return [None]  # the tracked axis had size 1 and is gone
        return [AxisInfo(first.axis - sum(a < first.axis for a in axes), first.merged)]

    def strip(self, an, node, ins, a, rank):
        rest = [k - (k > a) for k in squeeze_axes(node) if k != a]
        if not rest:
            _replace_by_identity(node)
            return
        node.attrs["axes"] = rest

    def sizes(self, an, node):
        return axis_sizes.single_element(an, node)

class StridedSlice(AxisRule):
    def forward(self, an, node, ins, first):
        mask = node.attr
        if mask("ellipsis_mask") or mask("new_axis_mask"):
            return [an.mixing(node, "slices (ellipsis/new-axis masks)")]
        begin = const_operand(node.operand("begin"), node, "begin")
        end = const_operand(node.operand("end"), node, "end")
        strides = const_operand(node.operand("strides"), node, "strides")
        a = first.axis
        shrinks = sum(1 for k in range(min(a, len(begin))) if mask("shrink_axis_mask") >> k & 1)
        if a < len(begin):
            full = ((mask("begin_mask") >> a & 1 or int(begin[a]) == 0)
                    and (mask("end_mask") >> a & 1 or (an.size is not None and int(end[a]) >= an.size))
                    and int(strides[a]) == 1 and not mask("shrink_axis_mask") >> a & 1)
            if not full:
                return [an.mixing(node, "slices")]
        return [AxisInfo(a - shrinks, first.merged)]

    def strip(self, an, node, ins, a, rank):
        if a < len(node.inputs[1].const_value()):
            for idx in (1, 2, 3):
                set_const_operand(node, idx, np.array(drop(list(node.inputs[idx].const_value()), a)))
            for m in ("begin_mask", "end_mask", "shrink_axis_mask"):
                node.attrs[m] = _drop_bit(node.attrs[m], a)

    def sizes(self, an, node):
        return axis_sizes.of_strided_slice(an, node)

class NoAxis(AxisRule):
    """Shape queries and counts: their results never carry the axis."""

    def forward(self, an, node, ins, first):
        return [None]


class ShapeOf(NoAxis):
    def strip(self, an, node, ins, a, rank):
        # Answer as if the axis were still there with size 1: ranks and the
        # indices into the shape vector stay valid.
        b = Builder(node.graph, before=node)
        node.set_input(0, b.op("core.expand_dims", [node.inputs[0]], {"axis": a}))

    def sizes(self, an, node):
        return axis_sizes.of_shape(an, node)

class SpaceBatch(AxisRule):
    def forward(self, an, node, ins, first):
        return [an.mixing(node, "moves spatial blocks into or out of the batch",
                          "not an exact SpaceToBatchND -> conv -> BatchToSpaceND with constant paddings, "
                          "which strip-batch folds into one dilated conv; static input shapes may help; or ")]


class FillFromDims(AxisRule):
    """fill (dims at operand 0), broadcast_to (shape at operand 1): made at the axis size, they carry it."""

    def __init__(self, dims_operand: int):
        self.dims_operand = dims_operand

    def source(self, an, node):
        j = axis_sizes.only_position(an, node.inputs[self.dims_operand])
        if j is not None:  # dims read the size at run time (Keras 3: zeros([shape(x)[0], units]))
            return [AxisInfo(j)]
        if an.size is None or an.size <= 1:
            return None
        dims = node.inputs[self.dims_operand].const_value()
        if dims is not None and dims.ndim == 1 and len(dims) and int(dims[0]) == an.size:
            return [AxisInfo(0)]
        return None

    def strip_source(self, node, axis):
        dims = node.inputs[self.dims_operand].const_value()
        if dims is None:
            axis_sizes.drop_size_element(node, self.dims_operand, axis)
            return
        set_const_operand(node, self.dims_operand, np.array(drop(list(dims), axis)))

    def pin(self, an, node, out):
        if any(an.get(v) for v in node.inputs) or node.inputs[self.dims_operand].const_value() is None:
            return  # dims computed at run time read the pinned size
        dims = list(node.inputs[self.dims_operand].const_value())
        dims[out.axis] = 1
        set_const_operand(node, self.dims_operand, np.array(dims))


class ListReserve(AxisRule):
    def source(self, an, node):
        shape = node.attrs.get("element_shape")
        if shape and an.size is not None and an.size > 1 and shape[0] == an.size:
            return [AxisInfo(0)]
        return None

    def strip_source(self, node, axis):
        node.attrs["element_shape"] = tuple(drop(node.attrs["element_shape"], axis))

    def pin(self, an, node, out):
        shape = list(node.attrs["element_shape"])
        shape[out.axis] = 1
        node.attrs["element_shape"] = tuple(shape)


class ListFromTensor(AxisRule):
    def forward(self, an, node, ins, first):
        if first.axis == 0:  # a loop steps over this axis: it is time, not batch
            return [an.mixing(node, "unstacks", "a time-major sequence? strip its batch axis with "
                              "strip-batch{axis=1}; or ", error=LoopStepsOverAxis)]
        return [AxisInfo(first.axis - 1, first.merged)]

    def strip(self, an, node, ins, a, rank):
        shape = node.attrs.get("element_shape")
        if shape is not None and len(shape) == rank - 1:
            node.attrs["element_shape"] = tuple(drop(shape, a - 1))


class ListSetItem(AxisRule):
    def forward(self, an, node, ins, first):
        a, item = ins[0], ins[2]
        if a is not None and item is not None and a != item:
            return [an.mixing(node, "stores an item whose axis differs from the list's")]
        return [a or item]


class ListStack(AxisRule):
    def forward(self, an, node, ins, first):
        return [AxisInfo(first.axis + 1, first.merged)]


NO_RULE = AxisRule()

RULES: Dict[str, AxisRule] = {
    "elementwise": Elementwise(),
    "passthrough": Passthrough(),
    "reduce_axes": ReduceAxes(),
    "along_axis": AlongAxis(drops=False),
    "index_along_axis": AlongAxis(drops=True),
    "matmul": Matmul(),
    "spatial": Spatial(),
    "transpose": Transpose(),
    "concat": Concat(),
    "pack": NewAxis(),
    "split": Split(drops=False),
    "unpack": Split(drops=True),
    "gather": Gather(),
    "reshape": Reshape(),
    "expand_dims": NewAxis(),
    "squeeze": Squeeze(),
    "strided_slice": StridedSlice(),
    "per_dim_operands": PerDimOperands(),
    "reverse": Reverse(),
    "shape_of": ShapeOf(),
    "size_of": NoAxis(),
    "fill": FillFromDims(0),
    "broadcast_to": FillFromDims(1),
    "list_reserve": ListReserve(),
    "list_from_tensor": ListFromTensor(),
    "list_set_item": ListSetItem(),
    "list_stack": ListStack(),
    "space_batch": SpaceBatch(),
}
assert set(RULES) == set(BATCH_AXIS_RULES), set(RULES) ^ set(BATCH_AXIS_RULES)


def rule_for(op: str) -> AxisRule:
    """The rule ``op`` declares (``defop(batch_axis=...)``); ops without one (foreign ops too) get NO_RULE."""
    opdef = get_op(op)
    kind = opdef.batch_axis if opdef is not None else None
    return RULES[kind] if kind is not None else NO_RULE
