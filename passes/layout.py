"""nchw-to-nhwc: move the transposes a channel-first model needs around its NHWC ops out of the way.

A frontend for a channel-first format (ONNX) wraps every conv and pool in a
transpose to NHWC and one back. Between two such ops sit layout-agnostic ops
(activations, batch-norm arithmetic, residual adds, concats, reductions), so
the transposes can be pushed down through them until a transpose meets its
inverse and both vanish. What is left sits at the model's inputs and
outputs, or before an op that cares about the order of dims (a reshape that
flattens a feature map, a matmul).

Rewrites (all local, run by the greedy driver):

- ``sink_transpose``: ``op(transpose(x, p), c)`` -> ``transpose(op(x, c'), p')``
  for the ops whose declared batch-axis rule kind says how their dims map
  (elementwise ops, identity, reductions, concat, split, softmax, cumsum,
  pad, slice, tile); constants are permuted, axes renumbered.
- ``clone_shared_transpose``: a transpose read by several ops that each can
  take it gets one copy per reader, so each can be pushed on its own.
- ``transpose_as_reshape``: a transpose that only moves unit dims is a reshape.
- ``flatten_into_weights``: ``matmul(reshape(transpose(x)), W)`` that flattens a
  feature map takes the permutation into the rows of constant ``W``.
- canonicalization's transpose-of-transpose, identity transpose and reshape rules.

``io_layout=nhwc`` also makes the rank-4 graph inputs and outputs channel-last
(same names, dims permuted), so a CNN keeps no transpose at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.canonical.basic import reshape_of_reshape, reshape_to_same_shape, transpose_identity, transpose_of_transpose
from litesmith.ir.registry import get_op
from litesmith.ir.types import TensorType

from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import Rewriter, apply_patterns_greedily, as_pattern, pattern

LAYOUT_META = "litesmith.layout"
# The ops a transpose sinks through, by their declared batch-axis rule kind (ir/traits.py): the kinds
# that say how dims map through the op also say how to renumber it under a permutation.
_AXIS_ATTR = {"along_axis", "concat", "split"}  # attr ``axis`` names a dim of operand 0
_PER_DIM = {"per_dim_operands"}  # constant operands after the first hold one entry per dim (pad, slice, tile)
_SINKS = {"elementwise", "passthrough", "reduce_axes"} | _AXIS_ATTR | _PER_DIM


def _kind(node: Node) -> Optional[str]:
    opdef = get_op(node.op)
    return None if opdef is None else opdef.batch_axis


def _perm(v: Value) -> Optional[List[int]]:
    c = v.const_value()
    return None if c is None else [int(p) for p in np.asarray(c).reshape(-1)]


def _transpose_perm(v: Value) -> Optional[List[int]]:
    """The permutation if ``v`` is the result of a transpose by a constant perm."""
    p = v.producer
    if p is None or p.op != "core.transpose":
        return None
    return _perm(p.inputs[1])


def _inverse(p: Sequence[int]) -> List[int]:
    return [int(i) for i in np.argsort(p)]


def _is_pushable_op(node: Node) -> bool:
    if node.regions or not node.outputs:
        return False
    opdef = get_op(node.op)
    return opdef is not None and opdef.batch_axis in _SINKS


def _plan(node: Node, root: Optional[Value] = None):
    """(perm, rank) if ``node`` can run on its inputs' untransposed values, else a reason string.

    Every input of the node's rank must be a transpose by the same perm, or a
    constant; lower-rank inputs must be constants (they broadcast) or scalars.
    ``root``: the transposed value that must be among them (cloning)."""
    if not _is_pushable_op(node):
        return "op is not layout-agnostic"
    per_dim = _kind(node) in _PER_DIM
    operands = node.inputs[:1] if per_dim else node.inputs
    perm = None
    rank = None
    for v in operands:
        p = _transpose_perm(v)
        if p is not None and (perm is None or p == perm):
            perm, rank = p, len(p)
    if perm is None:
        return "no input is a transpose by a constant perm"
    if root is not None and _transpose_perm(root) != perm:
        return "another input decides the permutation"
    for v in operands:
        if _transpose_perm(v) == perm:
            continue
        if v.rank is None:
            return f"input %{v.name} has unknown rank"
        if v.const_value() is not None and v.rank <= rank:
            continue
        if v.rank == 0:
            continue
        return f"input %{v.name} is neither a transpose by {perm} nor a constant"
    if per_dim and any(v.const_value() is None for v in node.inputs[1:]):
        return "paddings/begin/size/multiples are not constants"
    if any(o.rank is None for o in node.outputs):
        return "result has unknown rank"
    return perm, rank


def _permuted_const(b: Builder, v: Value, perm: List[int], rank: int) -> Value:
    """The constant ``c'`` with ``transpose(c', perm) == c`` broadcast to ``rank`` dims."""
    c = v.const_value()
    if v.rank == 0:
        return v
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    return b.const(np.ascontiguousarray(np.transpose(full, _inverse(perm))))


def _axis_attrs(node: Node, perm: List[int], rank: int) -> dict:
    attrs = dict(node.attrs)
    if "axis" in attrs and _kind(node) in _AXIS_ATTR:
        a = int(attrs["axis"])
        attrs["axis"] = perm[a + rank if a < 0 else a]
    if "axes" in attrs and _kind(node) == "reduce_axes":
        attrs["axes"] = sorted(perm[a + rank if a < 0 else a] for a in attrs["axes"])
    return attrs


def _result_perm(node: Node, perm: List[int], rank: int) -> List[int]:
    """The permutation that turns the rewritten node's result into the original's."""
    if _kind(node) == "reduce_axes" and not node.attr("keepdims"):
        reduced = {perm[a + rank if a < 0 else a] for a in node.attrs["axes"]}
        kept = [p for p in perm if p not in reduced]  # original result dims, as x dims
        order = sorted(kept)
        return [order.index(p) for p in kept]
    return list(perm)


@pattern(None, name="sink_transpose")
def sink_transpose(node: Node, rw: Rewriter) -> bool:
    """op(transpose(x, p), ...) -> transpose(op(x, ...), p) when every transposed input is read only here."""
    plan = _plan(node)
    if isinstance(plan, str):
        return rw.why_not(plan)
    perm, rank = plan
    per_dim = _kind(node) in _PER_DIM
    for v in node.inputs:
        if _transpose_perm(v) == perm and (v.is_graph_output() or any(u.node is not node for u in v.uses())):
            return rw.why_not(f"transpose %{v.name} has other readers")
    b = rw.builder()
    inputs = []
    for i, v in enumerate(node.inputs):
        if _transpose_perm(v) == perm:
            inputs.append(v.producer.inputs[0])
        elif per_dim and i > 0:  # one entry (row) per dim: reorder them; a scalar (pad's value) stays
            c = np.asarray(v.const_value())
            inputs.append(b.const(np.ascontiguousarray(c[_inverse(perm)])) if c.ndim and len(c) == rank else v)
        elif v.const_value() is not None:
            inputs.append(_permuted_const(b, v, perm, rank))
        else:
            inputs.append(v)
    new = b.create(node.op, inputs, _axis_attrs(node, perm, rank))
    out_perm = _result_perm(node, perm, rank)
    results = []
    for o in new.outputs:
        p = out_perm if o.rank == len(out_perm) else None
        if p is None:
            return rw.why_not("result rank does not match the permutation")  # (not reached for the ops above)
        results.append(b.op("core.transpose", [o, b.const(np.asarray(p, np.int32))]))
    rw.notify_changed(new)
    rw.replace_node(node, results)
    return True


@pattern("core.transpose", name="clone_shared_transpose")
def clone_shared_transpose(node: Node, rw: Rewriter) -> bool:
    """A transpose read by several nodes (or by one and the graph outputs) that could each take it: one copy
    per reader, so each can be pushed on its own."""
    out = node.output
    users = {id(u.node): u.node for u in out.uses()}
    shared_with_output = out.is_graph_output()
    if len(users) < (1 if shared_with_output else 2):
        return rw.why_not("the transpose has one reader")
    for user in users.values():
        if user.op == "core.transpose":
            continue
        if isinstance(_plan(user, root=out), str):
            return rw.why_not(f"reader {user.op} cannot take the transpose")
    for k, user in enumerate(users.values()):
        if k == 0 and not shared_with_output:
            continue  # the original stays with one reader (or with the graph output)
        b = rw.builder(before=user)
        copy = b.op("core.transpose", list(node.inputs))
        for i, v in enumerate(user.inputs):
            if v is out:
                user.set_input(i, copy)
        rw.notify_changed(user)
    return True


@pattern("core.transpose", name="transpose_as_reshape")
def transpose_as_reshape(node: Node, rw: Rewriter) -> bool:
    """A transpose that keeps the order of the dims larger than 1 only moves unit dims: a reshape."""
    x = node.inputs[0]
    perm = _perm(node.inputs[1])
    if perm is None or x.shape is None or None in x.shape:
        return rw.why_not("perm or shape is not static")
    moved = [p for p in perm if x.shape[p] != 1]
    if moved != sorted(moved):
        return rw.why_not("dims larger than 1 change order")
    for u in node.output.uses():
        if u.node.op == "core.transpose" or not isinstance(_plan(u.node, root=node.output), str):
            return rw.why_not("a reader can take the transpose: sink it first")
    b = rw.builder()
    y = b.op("core.reshape", [x, b.const(np.asarray(node.output.shape, np.int32))])
    rw.replace_node(node, [y])
    return True


@pattern("core.matmul", name="flatten_into_weights")
def flatten_into_weights(node: Node, rw: Rewriter) -> bool:
    """matmul(reshape(transpose(x, p), [n, -1]), W) -> matmul(reshape(x, [n, -1]), W') with W's rows permuted."""
    a, w = node.inputs
    wc = w.const_value()
    if wc is None or wc.ndim != 2 or node.attrs.get("transpose_a") or node.attrs.get("transpose_b"):
        return rw.why_not("not a product with constant 2-D weights")
    flat = a.producer
    if flat is None or flat.op != "core.reshape" or a.rank != 2 or len(a.uses()) != 1:
        return rw.why_not("the left operand is not a flattening reshape read only here")
    t = flat.inputs[0]
    perm = _transpose_perm(t)
    if perm is None or perm[0] != 0 or len(t.uses()) != 1 or t.shape is None or None in t.shape:
        return rw.why_not("the flattened value is not a batch-keeping transpose read only here")
    if a.shape[0] != t.shape[0]:
        return rw.why_not("the reshape does not keep the batch dim")
    x = t.producer.inputs[0]
    inner = list(t.shape[1:])  # the transposed feature dims, in the order W's rows follow
    rows = np.arange(int(np.prod(inner))).reshape(inner)
    # row r of W' must be the W row of the same element in x's order
    order = np.transpose(rows, _inverse([p - 1 for p in perm[1:]])).reshape(-1)
    b = rw.builder()
    new_flat = b.op("core.reshape", [x, b.const(np.asarray([a.shape[0], -1], np.int32))])
    y = b.op("core.matmul", [new_flat, b.const(np.ascontiguousarray(wc[order]))], dict(node.attrs))
    rw.replace_node(node, [y])
    return True


def _patterns():
    return [
        as_pattern(transpose_identity, "core.transpose"), as_pattern(transpose_of_transpose, "core.transpose"),
        as_pattern(reshape_of_reshape, "core.reshape"), as_pattern(reshape_to_same_shape, "core.reshape"),
        sink_transpose, clone_shared_transpose, transpose_as_reshape, flatten_into_weights,
    ]


def count_transposes(graph: Graph) -> int:
    return sum(1 for n in graph.walk() if n.op == "core.transpose")


def channel_last_io(graph: Graph) -> int:
    """Make rank-4 graph inputs and outputs NHWC (same names); returns how many changed."""
    changed = 0
    first = graph.first
    for i, v in enumerate(list(graph.inputs)):
        if v.rank != 4 or v.type.is_list:
            continue
        shape = None if v.shape is None else tuple(v.shape[p] for p in (0, 2, 3, 1))
        fresh = Value(TensorType(v.dtype, shape), v.name)
        fresh.graph = graph
        b = Builder(graph, before=first) if first is not None else Builder(graph)
        back = b.op("core.transpose", [fresh, b.const(np.asarray([0, 3, 1, 2], np.int32))])
        v.replace_all_uses_with(back)
        v.graph = None
        graph.inputs[i] = fresh
        changed += 1
    b = Builder(graph)
    for i, v in enumerate(list(graph.outputs)):
        if v.rank != 4 or v.type.is_list:
            continue
        name = v.name
        if v.producer is not None:
            v.name = f"{name}_nchw"
        graph.outputs[i] = b.op("core.transpose", [v, b.const(np.asarray([0, 2, 3, 1], np.int32))], name=name)
        changed += 1
    return changed


@register_pass("nchw-to-nhwc")
@dataclass
class NchwToNhwc(Pass):
    """Cancel the layout transposes of a channel-first (ONNX) model: its convs and pools run NHWC.

    Pushes transposes through layout-agnostic ops (elementwise, concat, pad,
    reductions...) until they meet their inverses. The report gives the
    transpose count before and after. ``io_layout=nhwc`` also makes rank-4
    inputs and outputs channel-last (same names), removing the transposes at
    the model's edges.
    """

    io_layout: str = "nchw"  # nchw (keep the interface) or nhwc (rank-4 inputs/outputs become channel-last)
    max_iterations: int = 20

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        if self.io_layout not in ("nchw", "nhwc"):
            raise UserError(f"nchw-to-nhwc: io_layout must be nchw or nhwc, got {self.io_layout!r}")
        before = count_transposes(graph)
        io_changed = channel_last_io(graph) if self.io_layout == "nhwc" else 0
        result = apply_patterns_greedily(graph, _patterns(), max_iterations=self.max_iterations)
        after = count_transposes(graph)
        ctx.report["transposes"] = {"before": before, "after": after}
        ctx.report["applied"] = {k: v for k, v in sorted(result.applied.items())}
        if io_changed:
            ctx.report["io_changed"] = io_changed
        graph.meta[LAYOUT_META] = "nhwc"
        return bool(result.changed or io_changed)
