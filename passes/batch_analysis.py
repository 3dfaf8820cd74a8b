"""Where a chosen axis (the batch axis, a time axis) goes through a graph, and removing it.

``AxisAnalysis`` walks the graph forward from seed values (graph inputs and
the axis to follow) and records, for every value that carries the axis, its
position (``AxisInfo``); for tensor lists, the position in the element. Each
op has a rule; an op that mixes elements along the tracked axis (a reduction,
softmax, concat, gather... over it) raises ``AxisMixingError`` naming the
node. Loops are analysed to a fixpoint over their carried values.

``strip_axis`` then removes the axis everywhere: graph inputs lose the dim,
axis attributes and constant shape operands are renumbered, and types are
re-inferred. ``pin_axis`` instead sets the dim to 1 and keeps it. Both are
used by strip-batch (batch axis of the inputs) and unroll-rnn (time axis of
the sequence input).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.registry import get_op
from litesmith.ir.reinfer import reinfer

__all__ = ["AxisInfo", "AxisAnalysis", "AxisMixingError", "strip_axis", "pin_axis"]

_UNARY = {"elementwise unary"}
_BROADCAST = {"elementwise binary", "comparison"}
_REDUCE_AXES = {"core.reduce_sum", "core.reduce_mean", "core.reduce_max", "core.reduce_min",
                "core.reduce_prod", "core.reduce_any", "core.reduce_all"}
_ONE_AXIS = {"core.argmax", "core.argmin", "core.cumsum", "core.cumprod", "core.softmax", "core.log_softmax"}
# Ops that need their rank: a stripped operand gets a size-1 axis back around them.
_NEEDS_RANK = {"core.conv2d", "core.depthwise_conv2d", "core.max_pool", "core.avg_pool",
               "core.resize_bilinear", "core.resize_nearest"}


class AxisMixingError(UserError):
    """An op combines elements along the axis being removed (or has no rule for it)."""


class LoopStepsOverAxis(AxisMixingError):
    """A loop unstacks the tracked axis: it is the time axis of a sequence, not the batch."""


@dataclass(frozen=True)
class AxisInfo:
    """The tracked axis sits at ``axis``; ``merged``: a reshape folded it into that (larger) dim."""

    axis: int
    merged: bool = False


def _norm(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _const(v: Value, node: Node, what: str) -> np.ndarray:
    c = v.const_value()
    if c is None:
        raise AxisMixingError(f"{node.op} node {node.name!r}: its {what} is computed at run time; "
                              "run fold-constants first or give the inputs static shapes")
    return c


class AxisAnalysis:
    """Forward analysis: value -> ``AxisInfo`` of the tracked axis (absent: the value does not carry it)."""

    def __init__(self, graph: Graph, seeds: Dict[Value, int], size: Optional[int], what: str = "batch",
                 allow_mixing: bool = False):
        self.graph = graph
        self.size = size  # the axis's static size when known (fills/lists created at that size carry it)
        self.what = what
        self.allow_mixing = allow_mixing
        self.info: Dict[int, AxisInfo] = {}
        self.loop_inits: List[tuple] = []  # (while node, operand index): init lacks the axis the loop carries
        for v, a in seeds.items():
            self.info[id(v)] = AxisInfo(a)
        self._graph(graph)

    # -- public -----------------------------------------------------------------------
    def get(self, v: Value) -> Optional[AxisInfo]:
        return self.info.get(id(v))

    def mixing(self, node: Node, why: str, hint: str = "", error=AxisMixingError):
        if self.allow_mixing:
            return None
        raise error(f"{node.op} node {node.name!r} {why} across the {self.what} axis; "
                              f"strip-{self.what} cannot remove it ({hint}use strip-batch{{mode=pin}} to keep a {self.what} of 1)")

    # -- walking --------------------------------------------------------------------------
    def _graph(self, g: Graph) -> None:
        for node in g:
            ins = [self.get(v) for v in node.inputs]
            if node.op == "core.while":
                outs = self._while(node, ins)
            elif all(i is None for i in ins):
                outs = self._source(node)
            else:
                outs = self._rule(node, ins)
            for v, i in zip(node.outputs, outs):
                if i is None:
                    self.info.pop(id(v), None)
                else:
                    self.info[id(v)] = i

    def _source(self, node: Node) -> List[Optional[AxisInfo]]:
        """Values created at the axis size (an RNN's zero state, its output list) carry the axis."""
        none = [None] * len(node.outputs)
        if self.size is None or self.size <= 1:
            return none
        if node.op in ("core.fill", "core.broadcast_to"):
            dims = node.inputs[0 if node.op == "core.fill" else 1].const_value()
            if dims is not None and dims.ndim == 1 and len(dims) and int(dims[0]) == self.size:
                return [AxisInfo(0)]
        if node.op == "core.tensor_list_reserve":
            shape = node.attrs.get("element_shape")
            if shape and shape[0] == self.size:
                return [AxisInfo(0)]
        return none

    def _uniform_state(self, v: Value) -> bool:
        """A constant filled with one value and the axis size as dim 0: a folded zero state."""
        c = v.const_value()
        return (c is not None and self.size is not None and self.size > 1 and c.ndim >= 1
                and c.shape[0] == self.size and c.dtype.kind == "f" and c.size and bool(np.all(c == c.flat[0])))

    def _while(self, node: Node, ins) -> List[Optional[AxisInfo]]:
        if not any(ins) and not any(self._uniform_state(v) for v in node.inputs):
            has_source = any(self._source(n) != [None] * len(n.outputs) for r in node.regions for n in r.walk())
            if not has_source:
                return [None] * len(node.outputs)
        cond, body = node.regions
        carried = [i if i is not None or not self._uniform_state(v) else AxisInfo(0) for v, i in zip(node.inputs, ins)]
        for _ in range(8):
            for region in (cond, body):
                for a, i in zip(region.inputs, carried):
                    if i is None:
                        self.info.pop(id(a), None)
                    else:
                        self.info[id(a)] = i
                self._graph(region)
            results = [self.get(v) for v in body.outputs]
            joined = []
            for k, (c, r) in enumerate(zip(carried, results)):
                if c is not None and r is not None and c != r:
                    raise AxisMixingError(f"core.while node {node.name!r}: carried value {k} moves the {self.what} "
                                          f"axis from {c.axis} to {r.axis} between iterations")
                joined.append(c or r)
            if joined == carried:
                break
            carried = joined
        self.loop_inits = [(n, k) for n, k in self.loop_inits if n is not node]
        self.loop_inits += [(node, k) for k, (i, c) in enumerate(zip(ins, carried)) if i is None and c is not None]
        return carried

    # -- per-op rules -------------------------------------------------------------------------
    def _rule(self, node: Node, ins: Sequence[Optional[AxisInfo]]) -> List[Optional[AxisInfo]]:
        op = node.op
        opdef = get_op(op)
        category = opdef.category if opdef is not None else ""
        first = next(i for i in ins if i is not None)
        if op in ("core.identity",) or category in _UNARY:
            return [ins[0]]
        if category in _BROADCAST or op == "core.select":
            return [self._broadcast(node, ins)]
        if op in _REDUCE_AXES:
            rank = node.inputs[0].rank
            axes = [_norm(a, rank) for a in node.attrs["axes"]] or list(range(rank))
            keep = node.attrs.get("keepdims")
            if first.axis in axes:
                if self.size == 1:  # one element: its max, sum, mean... is the element itself
                    return [AxisInfo(first.axis, first.merged) if keep else None]
                return [self.mixing(node, "reduces", f"{self.what} size {self.size}; " if self.size else "")]
            return [AxisInfo(first.axis if keep else first.axis - sum(a < first.axis for a in axes), first.merged)]
        if op in _ONE_AXIS:
            if _norm(node.attrs["axis"], node.inputs[0].rank) == first.axis:
                return [self.mixing(node, "combines elements")]
            out = first if op not in ("core.argmax", "core.argmin") else AxisInfo(
                first.axis - (_norm(node.attrs["axis"], node.inputs[0].rank) < first.axis), first.merged)
            return [out]
        if op == "core.matmul":
            return [self._matmul(node, ins)]
        if op in _NEEDS_RANK:
            if ins[0] is None or ins[0].axis != 0 or any(ins[1:]):
                return [self.mixing(node, "mixes elements")]
            return [ins[0]]
        if op == "core.transpose":
            perm = [int(p) for p in _const(node.inputs[1], node, "permutation")]
            return [AxisInfo(perm.index(first.axis), first.merged)]
        if op in ("core.concat", "core.pack"):
            if any(i != first for i in ins if i is not None):
                return [self.mixing(node, "joins values whose axes disagree")]
            rank = node.inputs[0].rank
            if op == "core.concat":
                if _norm(node.attrs["axis"], rank) == first.axis:
                    return [self.mixing(node, "concatenates")]
                return [first]
            n = _norm(node.attrs["axis"], rank + 1)
            return [AxisInfo(first.axis + (n <= first.axis), first.merged)]
        if op in ("core.split", "core.unpack"):
            n = _norm(node.attrs["axis"], node.inputs[0].rank)
            if n == first.axis:
                return [self.mixing(node, "splits")] * len(node.outputs)
            out = first if op == "core.split" else AxisInfo(first.axis - (n < first.axis), first.merged)
            return [out] * len(node.outputs)
        if op == "core.gather":
            return [self._gather(node, ins)]
        if op == "core.reshape":
            return [self._reshape(node, first)]
        if op == "core.expand_dims":
            n = _norm(node.attrs["axis"], node.inputs[0].rank + 1)
            return [AxisInfo(first.axis + (n <= first.axis), first.merged)]
        if op == "core.squeeze":
            axes = self._squeeze_axes(node)
            if first.axis in axes:
                return [None]  # the tracked axis had size 1 and is gone
            return [AxisInfo(first.axis - sum(a < first.axis for a in axes), first.merged)]
        if op == "core.strided_slice":
            return [self._strided_slice(node, first)]
        if op in ("core.slice", "core.tile", "core.pad", "core.reverse"):
            if ins[0] is None or any(ins[1:]):
                return [self.mixing(node, "mixes elements")]
            return [ins[0]]
        if op == "core.tensor_list_from_tensor":
            if first.axis == 0:  # a loop steps over this axis: it is time, not batch
                return [self.mixing(node, "unstacks", "a time-major sequence? strip its batch axis with "
                                    "strip-batch{axis=1}; or ", error=LoopStepsOverAxis)]
            return [AxisInfo(first.axis - 1, first.merged)]
        if op == "core.tensor_list_get_item":
            return [ins[0]]
        if op == "core.tensor_list_set_item":
            a, item = ins[0], ins[2]
            if a is not None and item is not None and a != item:
                return [self.mixing(node, "stores an item whose axis differs from the list's")]
            return [a or item]
        if op == "core.tensor_list_stack":
            return [AxisInfo(first.axis + 1, first.merged)]
        if op in ("core.tensor_list_length", "core.rank", "core.shape", "core.size"):
            return [None]  # shape queries see the axis as size 1 once it is gone (see _rewrite)
        if op in ("core.space_to_batch_nd", "core.batch_to_space_nd"):
            return [self.mixing(node, "moves spatial blocks into or out of the batch",
                                "not an exact SpaceToBatchND -> conv -> BatchToSpaceND with constant paddings, "
                                "which strip-batch folds into one dilated conv; static input shapes may help; or ")]
        if self.allow_mixing:
            return [None] * len(node.outputs)
        raise AxisMixingError(f"{op} node {node.name!r}: no rule for a {self.what} axis through this op; "
                              f"run fold-constants first, or use strip-batch{{mode=pin}}")

    def _broadcast(self, node: Node, ins) -> Optional[AxisInfo]:
        rank = node.outputs[0].rank
        positions = {(i.axis + rank - v.rank, i.merged) for v, i in zip(node.inputs, ins) if i is not None}
        if len(positions) != 1:
            return self.mixing(node, "combines values whose axes disagree")
        pos, merged = positions.pop()
        for v, i in zip(node.inputs, ins):
            if i is None and v.shape is not None and v.rank > rank - 1 - pos + 0 and pos - (rank - v.rank) >= 0:
                d = v.shape[pos - (rank - v.rank)]
                if d != 1 and not merged:
                    return self.mixing(node, f"broadcasts operand {v.name!r} (dim {d}, not from the inputs)")
        return AxisInfo(pos, merged)

    def _matmul(self, node: Node, ins) -> Optional[AxisInfo]:
        a, b = ins
        ra, rank = node.inputs[0].rank, node.outputs[0].rank
        if b is not None:
            if b.axis < node.inputs[1].rank - 2 and (a is None or a.axis + rank - ra == b.axis + rank - node.inputs[1].rank):
                return AxisInfo(b.axis + rank - node.inputs[1].rank, b.merged)
            return self.mixing(node, "multiplies")
        if a.axis < ra - 2:
            return AxisInfo(a.axis + rank - ra, a.merged)
        if a.axis == ra - 2 and not node.attrs.get("transpose_a"):
            return AxisInfo(rank - 2, a.merged)
        return self.mixing(node, "multiplies")

    def _gather(self, node: Node, ins) -> Optional[AxisInfo]:
        p, i = ins
        if node.attrs.get("batch_dims"):
            return self.mixing(node, "gathers with batch_dims")
        axis = _norm(node.attrs["axis"], node.inputs[0].rank)
        if p is not None and i is not None:
            return self.mixing(node, "gathers")
        if p is not None:
            if p.axis == axis:
                return self.mixing(node, "gathers")
            return AxisInfo(p.axis if p.axis < axis else p.axis + node.inputs[1].rank - 1, p.merged)
        return AxisInfo(axis + i.axis, i.merged)

    def _reshape(self, node: Node, first: AxisInfo) -> Optional[AxisInfo]:
        shape = node.inputs[0].shape
        target = node.inputs[1].const_value()
        if first.merged or shape is None or target is None:
            return self.mixing(node, "reshapes (shapes not static)")
        target = [int(t) for t in target]
        if any(d is None for d in shape[:first.axis]):
            return self.mixing(node, "reshapes (shapes not static)")
        pre = int(np.prod(shape[:first.axis], dtype=np.int64))
        blk = shape[first.axis]
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
        return self.mixing(node, "reshapes")

    def _squeeze_axes(self, node: Node) -> List[int]:
        rank = node.inputs[0].rank
        axes = [_norm(a, rank) for a in node.attrs["axes"]]
        if not axes:
            axes = [k for k, d in enumerate(node.inputs[0].shape) if d == 1]
        return axes

    def _strided_slice(self, node: Node, first: AxisInfo) -> Optional[AxisInfo]:
        at = node.attrs
        if at["ellipsis_mask"] or at["new_axis_mask"]:
            return self.mixing(node, "slices (ellipsis/new-axis masks)")
        begin = _const(node.inputs[1], node, "begin")
        end = _const(node.inputs[2], node, "end")
        strides = _const(node.inputs[3], node, "strides")
        a = first.axis
        shrinks = sum(1 for k in range(min(a, len(begin))) if at["shrink_axis_mask"] >> k & 1)
        if a < len(begin):
            full = ((at["begin_mask"] >> a & 1 or int(begin[a]) == 0)
                    and (at["end_mask"] >> a & 1 or (self.size is not None and int(end[a]) >= self.size))
                    and int(strides[a]) == 1 and not at["shrink_axis_mask"] >> a & 1)
            if not full:
                return self.mixing(node, "slices")
        return AxisInfo(a - shrinks, first.merged)


# -- removing or pinning the axis ------------------------------------------------------------


def _drop(seq, k):
    return [x for i, x in enumerate(seq) if i != k]


def _drop_bit(mask: int, k: int) -> int:
    low = mask & ((1 << k) - 1)
    return low | ((mask >> (k + 1)) << k)


def _set_const_operand(node: Node, index: int, arr: np.ndarray) -> None:
    old = node.inputs[index]
    b = Builder(node.graph, before=node)
    node.set_input(index, b.const(np.asarray(arr, dtype=old.const_value().dtype), name=old.name))


def strip_axis(graph: Graph, an: AxisAnalysis) -> None:
    """Remove the analysed axis from every value that carries it; re-infer types."""
    for node, k in an.loop_inits:
        _fix_loop_init(node, k, an)
    for node in list(graph.walk()):
        if node.graph is None:
            continue
        ins = [an.get(v) for v in node.inputs]
        strip_ins = [i if i is not None and not i.merged else None for i in ins]
        if any(strip_ins):
            _rewrite(node, strip_ins, an)
        elif node.op in ("core.fill", "core.broadcast_to", "core.tensor_list_reserve"):
            out = an.get(node.outputs[0])
            if out is not None and not out.merged:
                _rewrite_source(node, out.axis)
    _retype_inputs(graph, an, lambda shape, a: _drop(shape, a))
    _reinfer_all(graph)


def pin_axis(graph: Graph, an: AxisAnalysis) -> None:
    """Keep the analysed axis but give it size 1 (inputs, fills, lists, reshape targets); re-infer."""
    for node, k in an.loop_inits:
        _fix_loop_init(node, k, an, keep=True)
    for node in list(graph.walk()):
        if node.graph is None:
            continue
        out = an.get(node.outputs[0]) if node.outputs else None
        if node.op in ("core.fill", "core.broadcast_to") and out is not None and not any(an.get(v) for v in node.inputs):
            idx = 0 if node.op == "core.fill" else 1
            dims = list(node.inputs[idx].const_value())
            dims[out.axis] = 1
            _set_const_operand(node, idx, np.array(dims))
        elif node.op == "core.tensor_list_reserve" and out is not None:
            shape = list(node.attrs["element_shape"])
            shape[out.axis] = 1
            node.attrs["element_shape"] = tuple(shape)
        elif node.op == "core.reshape" and out is not None and an.get(node.inputs[0]) is not None:
            target = list(node.inputs[1].const_value())
            j = out.axis
            if target[j] != -1:
                target[j] = 1 if not out.merged else target[j] // node.inputs[0].shape[an.get(node.inputs[0]).axis]
                _set_const_operand(node, 1, np.array(target))

    def one(shape, a):
        shape[a] = 1
        return shape

    _retype_inputs(graph, an, one)
    _reinfer_all(graph)


def _reinfer_all(graph: Graph) -> None:
    reinfer(graph, changed=[v for v in _all_values(graph)])


def _all_values(graph: Graph):
    yield from graph.inputs
    for n in graph.walk():
        yield from n.outputs
        for r in n.regions:
            yield from r.inputs


def _retype_inputs(graph: Graph, an: AxisAnalysis, fix) -> None:
    for v in graph.inputs:
        i = an.get(v)
        if i is not None and v.shape is not None:
            v.set_type(v.type.with_shape(fix(list(v.shape), i.axis)))


def _fix_loop_init(node: Node, k: int, an: AxisAnalysis, keep: bool = False) -> None:
    init = node.inputs[k]
    axis = an.get(node.outputs[k]).axis
    c = init.const_value()
    if c is not None and an._uniform_state(init) and axis == 0:
        _set_const_operand(node, k, c[:1] if keep else c[0])
        return
    if keep:
        return
    p = init.producer
    if init.type.is_list and p is not None and p.op == "core.tensor_list_reserve":
        # An empty list reserved with the axis at size 1 (batch 1): its elements lose the axis.
        shape = p.attrs.get("element_shape")
        if shape is not None and len(shape) > axis and shape[axis] in (1, None):
            _rewrite_source(p, axis)
            return
    if init.shape is not None and len(init.shape) > axis and init.shape[axis] == 1:
        b = Builder(node.graph, before=node)
        node.set_input(k, b.op("core.squeeze", [init], {"axes": [axis]}))
        return
    raise AxisMixingError(f"core.while node {node.name!r}: the initial value of carried value {k} ({init.name!r}) "
                          f"has no {an.what} axis but the loop gives it one")


def _rewrite_source(node: Node, axis: int) -> None:
    if node.op == "core.tensor_list_reserve":
        shape = node.attrs["element_shape"]
        node.attrs["element_shape"] = tuple(_drop(shape, axis))
        return
    idx = 0 if node.op == "core.fill" else 1
    dims = node.inputs[idx].const_value()
    _set_const_operand(node, idx, np.array(_drop(list(dims), axis)))


def _rewrite(node: Node, ins: Sequence[Optional[AxisInfo]], an: AxisAnalysis) -> None:
    op = node.op
    first = next(i for i in ins if i is not None)
    a = first.axis
    at = node.attrs
    x = node.inputs[0]
    rank = x.rank  # the rank before stripping
    if op in _REDUCE_AXES:
        axes = [_norm(k, rank) for k in at["axes"]] or list(range(rank))
        rest = [k - (k > a) for k in axes if k != a]
        if not rest:  # it only reduced over the (size-1) axis: the value itself
            _replace_by_identity(node)
            return
        at["axes"] = rest
    elif op in _ONE_AXIS:
        n = _norm(at["axis"], rank)
        if not (at["axis"] < 0 and n > a):
            at["axis"] = n - (n > a)
    elif op == "core.concat":
        n = _norm(at["axis"], rank)
        at["axis"] = n - (n > a)
        _squeeze_plain_operands(node, ins, a, an)
    elif op in ("core.split", "core.unpack"):
        n = _norm(at["axis"], rank)
        at["axis"] = n - (n > a)
    elif op == "core.pack":
        n = _norm(at["axis"], rank + 1)
        at["axis"] = n - (a < n)
    elif op == "core.expand_dims":
        n = _norm(at["axis"], rank + 1)
        at["axis"] = n - (a < n)
    elif op == "core.squeeze":
        axes = an._squeeze_axes(node)
        rest = [k - (k > a) for k in axes if k != a]
        if not rest:
            _replace_by_identity(node)
            return
        at["axes"] = rest
    elif op == "core.transpose":
        perm = [int(p) for p in node.inputs[1].const_value()]
        _set_const_operand(node, 1, np.array([p - (p > a) for p in perm if p != a]))
    elif op == "core.gather":
        if ins[0] is not None:
            n = _norm(at["axis"], rank)
            at["axis"] = n - (n > a)
    elif op == "core.reshape":
        out = an.get(node.outputs[0])
        target = list(node.inputs[1].const_value())
        if out is not None and not out.merged:
            target = _drop(target, out.axis)
        elif out is not None:
            j = out.axis
            if target[j] != -1:
                target[j] = target[j] // x.shape[a]
        _set_const_operand(node, 1, np.array(target))
    elif op == "core.strided_slice":
        if a < len(node.inputs[1].const_value()):
            for idx in (1, 2, 3):
                _set_const_operand(node, idx, np.array(_drop(list(node.inputs[idx].const_value()), a)))
            for m in ("begin_mask", "end_mask", "shrink_axis_mask"):
                at[m] = _drop_bit(at[m], a)
    elif op in ("core.slice", "core.tile", "core.pad"):
        for idx in range(1, len(node.inputs)):
            arr = node.inputs[idx].const_value()
            if arr is not None and arr.ndim >= 1 and len(arr) == rank:
                _set_const_operand(node, idx, np.delete(arr, a, axis=0))
    elif op == "core.reverse":
        at["axes"] = [k - (k > a) for k in (_norm(k, rank) for k in at["axes"])]
    elif op == "core.tensor_list_from_tensor":
        shape = at.get("element_shape")
        if shape is not None and len(shape) == rank - 1:
            at["element_shape"] = tuple(_drop(shape, a - 1))
    elif op in ("core.shape", "core.rank"):
        # Answer as if the axis were still there with size 1: ranks and the
        # indices into the shape vector stay valid.
        b = Builder(node.graph, before=node)
        node.set_input(0, b.op("core.expand_dims", [x], {"axis": a}))
    elif op == "core.matmul":
        _keep_unit_axis_matmul(node, ins, an)
    elif op in _NEEDS_RANK:
        _keep_unit_axis(node, 0, a, an)
    elif get_op(op) is not None and (get_op(op).category in _BROADCAST or op == "core.select"):
        _squeeze_plain_operands(node, ins, None, an)


def _squeeze_plain_operands(node: Node, ins, axis, an: AxisAnalysis) -> None:
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


def _keep_unit_axis_matmul(node: Node, ins, an) -> None:
    a_info, b_info = ins
    ra = node.inputs[0].rank
    if a_info is not None and a_info.axis == ra - 2 and ra == 2:
        _keep_unit_axis(node, 0, 0, an)


def _keep_unit_axis(node: Node, operand: int, axis: int, an: "AxisAnalysis") -> None:
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


def _replace_by_identity(node: Node) -> None:
    node.op = "core.identity"
    node.attrs = {}
