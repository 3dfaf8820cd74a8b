"""lower-tensor-lists: tensor lists with static element shapes become plain tensors.

What TF's converter does in its LowerStaticTensorList pass, so a loop over a
sequence (``dynamic_rnn``, TF1 TensorArrays alike) keeps its ``core.while``
and the TFLite backend writes it as WHILE: a list of n elements of shape S is
the tensor [n, *S].

    reserve(n)            -> fill(concat([n], S), 0)
    from_tensor(t)        -> t
    get_item(l, i)        -> gather(l, i)                       (axis 0, scalar index)
    set_item(l, i, x)     -> dynamic_update_slice(l, x[None], [i, 0, ...])
    stack(l) / length(l)  -> l / shape(l)[0]

A loop that carries a list carries the tensor instead: its region arguments
and results are retyped in place (the loop's tensor has the list's length as
its first dim, unknown when the length is). The pass changes nothing when some
list cannot be lowered (an element shape it does not know, a list through an
``if`` or a foreign op): the legality report then names the list op.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.types import TensorType, is_static

from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value

LIST_OPS = ("core.tensor_list_reserve", "core.tensor_list_from_tensor", "core.tensor_list_get_item",
            "core.tensor_list_set_item", "core.tensor_list_stack", "core.tensor_list_length")


@register_pass("lower-tensor-lists")
@dataclass
class LowerTensorLists(Pass):
    """Tensor lists with static element shapes -> tensors (fill, gather, dynamic_update_slice), loops retyped."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        why = _why_not(graph)
        if why:
            ctx.report["skipped"] = why
            return False
        lowered: Counter = Counter()
        pending: List[Graph] = [graph]
        while pending:
            g = pending.pop()
            for node in list(g):
                if node.op in LIST_OPS:
                    _lower(node, lowered)
                elif node.op == "core.while":
                    _retype_loop(node)
                    pending.extend(node.regions)
        ctx.report["lowered"] = dict(sorted(lowered.items()))
        return bool(lowered)


def _why_not(graph: Graph) -> Optional[str]:
    """Why the lists of ``graph`` cannot all become tensors (None: they can, or there are none)."""
    for node in graph.walk():
        if any(v.type.is_list for v in node.inputs) and node.op not in LIST_OPS + ("core.while",):
            return f"{node.op} {node.name!r} takes a tensor list"
        if node.op == "core.tensor_list_reserve" and not is_static(node.output.type.element.shape):
            return f"{node.name!r} reserves a list whose element shape {node.output.type.element} is not static"
        if node.op == "core.while":
            for k, v in enumerate(node.inputs):
                if v.type.is_list and node.regions[1].outputs[k].type.element.shape is None:
                    return f"loop {node.name!r} carries a list of unknown element rank"
    return None


def _lower(node: Node, lowered: Counter) -> None:
    b = Builder(node.graph, before=node)
    ins = node.inputs
    if node.op == "core.tensor_list_reserve":
        elem = node.output.type.element
        length = ins[0].const_value()
        first = None if length is None else int(np.asarray(length).reshape(-1)[0])
        if first is not None:
            dims = b.const(np.asarray((first,) + tuple(elem.shape), np.int32))
        else:
            n = b.op("core.reshape", [_i32(b, ins[0]), b.const(np.asarray([1], np.int32))])
            dims = b.op("core.concat", [n, b.const(np.asarray(elem.shape, np.int32))], {"axis": 0})
        new = b.op("core.fill", [dims, b.const(np.zeros((), elem.dtype.np))],
                   output_types=[TensorType(elem.dtype, (first,) + tuple(elem.shape))])
    elif node.op == "core.tensor_list_from_tensor":
        new = ins[0]
    elif node.op == "core.tensor_list_get_item":
        new = b.op("core.gather", [ins[0], ins[1]], {"axis": 0}, output_types=[node.output.type])
    elif node.op == "core.tensor_list_set_item":
        lst, index, item = ins
        row = b.op("core.expand_dims", [item], {"axis": 0})
        zeros = [b.const(np.asarray(0, np.int32)) for _ in range(lst.rank - 1)]
        if index.shape != ():
            index = b.op("core.reshape", [index, b.const(np.asarray([], np.int32))])
        start = b.op("core.pack", [_i32(b, index)] + zeros, {"axis": 0})
        new = b.op("core.dynamic_update_slice", [lst, row, start])
    elif node.op == "core.tensor_list_stack":
        new = ins[0]
    else:  # length
        shape = b.op("core.shape", [ins[0]], {"dtype": DType.INT32})
        new = b.op("core.gather", [shape, b.const(np.asarray(0, np.int32))], {"axis": 0})
    replace_value(node.output, new)  # a graph output keeps its name
    node.graph.remove(node)
    lowered[node.op] += 1


def _i32(b: Builder, v: Value) -> Value:
    return v if v.dtype is DType.INT32 else b.op("core.cast", [v], {"dtype": DType.INT32})


def _retype_loop(node: Node) -> None:
    """The slots of ``node`` that carry a list carry its (already lowered) initial tensor's type."""
    for k, v in enumerate(node.inputs):
        if v.type.is_list or not node.outputs[k].type.is_list:
            continue
        for region in node.regions:
            region.inputs[k].type = v.type
        node.outputs[k].type = v.type
