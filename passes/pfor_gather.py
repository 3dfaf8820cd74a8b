"""pfor-gather-loops: the while loop TF's pfor writes for ``x[i]`` with a loop-variant ``i`` is a gather.

``tf.vectorized_map`` (Keras 3's TimeDistributed over a dynamic time axis)
cannot vectorize a ``StridedSlice`` whose begin depends on the loop index, so
pfor falls back to a ``while`` loop: step ``i`` writes
``x[B[i, 0] : E[i, 0]]`` (shrunk on axis 0) into a tensor list, with
``B = pack(g, axis=1)``, ``E = pack(g + 1, axis=1)``, ``i`` counting from 0
while ``i < n``; the list is then stacked. That is ``gather(x, g[:n])``
exactly, and as a gather the axes of ``x`` other than 0 (the batch) go
straight through strip-batch, where the loop (its slice's begin computed at run
time, its list of unknown element shape) could not. Anything else is left alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
from litesmith.ir.builder import Builder
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.reinfer import reinfer

from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value

__all__ = ["PforGatherLoops"]


@register_pass("pfor-gather-loops")
@dataclass
class PforGatherLoops(Pass):
    """Replace pfor's per-index slicing loop (``x[g[i]]`` into a list, stacked) by ``gather(x, g[:n])``."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        rewritten = []
        for loop in [n for n in graph if n.op == "core.while"]:
            if _rewrite(graph, loop):
                rewritten.append(loop.name)
        if rewritten:  # the shape arithmetic on the stacked result becomes mappable (Split of its shape)
            reinfer(graph)
            ctx.run_pipeline("fold-constants,dce", graph)
        ctx.report["gathers"] = rewritten
        return bool(rewritten)


def _const(v: Value) -> Optional[int]:
    c = v.const_value()
    return None if c is None or c.size != 1 else int(c.reshape(-1)[0])


def _is(v: Value, op: str) -> Optional[Node]:
    p = v.producer
    return p if p is not None and p.op == op else None


def _row(v: Value, i: Value, rows: Value) -> bool:
    """``v`` is ``rows[i]`` as pfor writes it: strided_slice(rows, [i, 0], [i + 1, 0], [1, 1]) with
    ellipsis at 1 and axis 0 shrunk."""
    s = _is(v, "core.strided_slice")
    if s is None or s.inputs[0] is not rows or s.attrs.get("shrink_axis_mask") != 1 \
            or s.attrs.get("ellipsis_mask") != 2 or s.attrs.get("new_axis_mask") or s.attrs.get("begin_mask") \
            or s.attrs.get("end_mask"):
        return False
    b, e = _is(s.inputs[1], "core.pack"), _is(s.inputs[2], "core.pack")
    strides = s.inputs[3].const_value()
    if b is None or e is None or strides is None or [int(x) for x in strides] != [1, 1]:
        return False
    nxt = _is(e.inputs[0], "core.add")
    return (len(b.inputs) == 2 and len(e.inputs) == 2 and b.inputs[0] is i and nxt is not None
            and nxt.inputs[0] is i and _const(nxt.inputs[1]) == 1)


def _rewrite(graph: Graph, loop: Node) -> bool:
    cond, body = loop.regions
    args, rets = body.inputs, body.outputs
    lists = [k for k, a in enumerate(args) if a.type.is_list]
    if len(lists) != 1:
        return False
    (k,) = lists
    stacks = [u.node for u in loop.outputs[k].uses()]
    if len(stacks) != 1 or stacks[0].op != "core.tensor_list_stack":
        return False
    if any(out.has_uses() or out.is_graph_output() for j, out in enumerate(loop.outputs) if j != k):
        return False
    put = _is(rets[k], "core.tensor_list_set_item")
    if put is None or put.inputs[0] is not args[k]:
        return False
    i = put.inputs[1]
    c = args.index(i) if i in args else -1
    step = _is(rets[c], "core.add") if c >= 0 else None
    if step is None or step.inputs[0] is not i or _const(step.inputs[1]) != 1 or _const(loop.inputs[c]) != 0:
        return False
    # cond: i < n with n carried unchanged
    less = _is(cond.outputs[0], "core.less")
    if less is None or less.inputs[0] is not cond.inputs[c] or less.inputs[1] not in cond.inputs:
        return False
    m = cond.inputs.index(less.inputs[1])
    if rets[m] is not args[m]:
        return False
    elem = _is(put.inputs[2], "core.strided_slice")
    if elem is None or elem.attrs.get("shrink_axis_mask") != 1 or any(
            elem.attrs.get(a) for a in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask")):
        return False
    x, begin, end, strides = elem.inputs
    invariant = _invariants(args, rets)
    if x not in invariant or [int(s) for s in np.ravel(_value(strides, args, loop))] != [1]:
        return False
    b_rows = _is(begin, "core.strided_slice")
    e_rows = _is(end, "core.strided_slice")
    if b_rows is None or e_rows is None or b_rows.inputs[0] not in invariant or e_rows.inputs[0] not in invariant:
        return False
    if not (_row(begin, i, b_rows.inputs[0]) and _row(end, i, e_rows.inputs[0])):
        return False
    outer = lambda v: loop.inputs[args.index(v)]  # noqa: E731
    B, E = _is(outer(b_rows.inputs[0]), "core.pack"), _is(outer(e_rows.inputs[0]), "core.pack")
    if B is None or E is None or len(B.inputs) != 1 or len(E.inputs) != 1 or B.attrs.get("axis") != 1 \
            or E.attrs.get("axis") != 1:
        return False
    g = B.inputs[0]
    plus = _is(E.inputs[0], "core.add")
    if plus is None or plus.inputs[0] is not g or _const(plus.inputs[1]) != 1 or g.rank != 1:
        return False
    stack = stacks[0]
    b = Builder(graph, before=stack)
    n = b.op("core.reshape", [loop.inputs[m], b.const(np.array([1], np.int32))])
    idx = b.op("core.slice", [g, b.const(np.array([0], np.int32)), b.op("core.cast", [n], {"dtype": g.dtype})
                              if n.dtype != g.dtype else n])
    y = b.op("core.gather", [outer(x), idx], {"axis": 0, "batch_dims": 0})
    if y.type != stack.output.type and stack.output.shape is not None:
        return False
    replace_value(stack.output, y)
    graph.remove(stack)
    return True


def _invariants(args: List[Value], rets: List[Value]) -> List[Value]:
    return [a for a, r in zip(args, rets) if a is r]


def _value(v: Value, args: List[Value], loop: Node):
    """A constant, or the constant a loop-invariant argument starts from."""
    c = v.const_value()
    if c is None and v in args:
        c = loop.inputs[args.index(v)].const_value()
    return [] if c is None else c
