"""lower-tensor-lists: tensor lists whose element rank is known become plain tensors.

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
list cannot be lowered (an element rank it does not know, a list through an
``if`` or a foreign op): the legality report then names the list op.

Keras reserves its lists with an unknown element shape: what a list holds is
known only from what the loop body writes. So first the element type of each
list a loop carries is refined from the items its body sets (a fixpoint over
the loops' list slots, back to the reserve that starts the list). Dims still
unknown after that (a dynamic batch) are 1 in the reserve's FILL, and each
``set_item`` into such a list first broadcasts the list to [n, *shape(item)]:
the first write gives the list its element shape at run time.

A stack that was ``f32[*]`` is then a tensor of known rank: what reads it is re-inferred, and a
foreign node there that the frontend can now map is re-lifted (the ``tf.Split`` of the stack's
shape in Keras 3's ``tf.vectorized_map``), as fold-constants would, having run before.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Set

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.reinfer import reinfer_node
from litesmith.ir.types import TensorType, is_static, refine_shape, shapes_compatible

from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value
from .shape_folding import relift_foreign_node

LIST_OPS = ("core.tensor_list_reserve", "core.tensor_list_from_tensor", "core.tensor_list_get_item",
            "core.tensor_list_set_item", "core.tensor_list_stack", "core.tensor_list_length")


@register_pass("lower-tensor-lists")
@dataclass
class LowerTensorLists(Pass):
    """Tensor lists of known element rank -> tensors (fill, gather, dynamic_update_slice), loops retyped."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        refined = _refine_list_elements(graph)
        if refined:
            ctx.report["refined"] = refined
        why = _why_not(graph)
        if why:
            ctx.report["skipped"] = why
            return bool(refined)  # refined element types are kept: they are true of the list
        lowered: Counter = Counter()
        retyped: Set[int] = set()  # ids of the tensors that now stand where a stack / length was
        padded, ends = _lists_that_may_be_empty(graph)
        sizes: Dict[Node, Value] = {}
        pending: List[Graph] = [graph]
        while pending:
            g = pending.pop()
            for node in list(g):
                if node in padded:
                    _lower_padded_reserve(node, sizes, lowered)
                elif node in ends:
                    _lower_padded_end(node, ends[node], sizes, lowered, retyped)
                elif node.op in LIST_OPS:
                    _lower(node, lowered, retyped)
                elif node.op == "core.while":
                    _retype_loop(node)
                    pending.extend(node.regions)
        ctx.report["lowered"] = dict(sorted(lowered.items()))
        relifted = _retype_users(graph, retyped)
        if relifted:
            ctx.report["relifted"] = relifted
        return bool(lowered)


def _retype_users(graph: Graph, retyped: Set[int]) -> List[str]:
    """Re-infer what reads a stacked list, now a tensor of known rank, and what follows from it; a
    foreign node among them that its operand types now let the frontend map is re-lifted (Keras 3's
    ``tf.vectorized_map`` splits the stacked list's shape, a vector of unknown length at load).
    Only values downstream of ``retyped`` are visited by inference. Returns the re-lifted nodes."""
    if not retyped:
        return []  # no stack changed type (or no lists at all): nothing to visit
    report: Dict[str, List[str]] = {}
    for node in list(graph):
        if node.graph is None or not any(id(v) in retyped for v in node.inputs):
            continue
        reinfer_node(node, retyped)
        created = relift_foreign_node(node, report)
        for n in created or ():
            retyped.update(id(v) for v in n.outputs)
    return report.get("relifted", [])


def _why_not(graph: Graph) -> Optional[str]:
    """Why the lists of ``graph`` cannot all become tensors (None: they can, or there are none)."""
    for node in graph.walk():
        if any(v.type.is_list for v in node.inputs) and node.op not in LIST_OPS + ("core.while",):
            return f"{node.op} {node.name!r} takes a tensor list"
        if node.op == "core.tensor_list_reserve" and node.output.type.element.shape is None:
            return f"{node.name!r} reserves a list whose element rank is unknown (nothing the pass sees sets an item)"
        if node.op == "core.while":
            for k, v in enumerate(node.inputs):
                if v.type.is_list and node.regions[1].outputs[k].type.element.shape is None:
                    return f"loop {node.name!r} carries a list of unknown element rank"
    return None


def _lower(node: Node, lowered: Counter, retyped: Set[int]) -> None:
    b = Builder(node.graph, before=node)
    ins = node.inputs
    if node.op == "core.tensor_list_reserve":
        elem = node.output.type.element
        length = ins[0].const_value()
        first = None if length is None else int(np.asarray(length).reshape(-1)[0])
        known = [1 if d is None else d for d in elem.shape]  # an unknown dim: set by the first write
        if first is not None:
            dims = b.const(np.asarray([first] + known, np.int32))
        else:
            n = b.op("core.reshape", [_i32(b, ins[0]), b.const(np.asarray([1], np.int32))])
            dims = b.op("core.concat", [n, b.const(np.asarray(known, np.int32))], {"axis": 0})
        new = b.op("core.fill", [dims, b.const(np.zeros((), elem.dtype.np))],
                   output_types=[TensorType(elem.dtype, (first,) + tuple(elem.shape))])
    elif node.op == "core.tensor_list_from_tensor":
        new = ins[0]
    elif node.op == "core.tensor_list_get_item":
        new = b.op("core.gather", [ins[0], ins[1]], {"axis": 0}, output_types=[node.output.type])
    elif node.op == "core.tensor_list_set_item":
        lst, index, item = ins
        if not is_static(lst.shape[1:]):
            lst = _shaped_like_item(b, lst, item)
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
    if node.op in ("core.tensor_list_stack", "core.tensor_list_length") and new.type != node.output.type:
        retyped.add(id(new))
    replace_value(node.output, new)  # a graph output keeps its name
    node.graph.remove(node)
    lowered[node.op] += 1


def _lower_padded_reserve(node: Node, sizes: Dict[Node, Value], lowered: Counter) -> None:
    """A list that may have no elements is a tensor of max(n, 1) rows: LiteRT prepares the loop body
    on it, and a DYNAMIC_UPDATE_SLICE into 0 rows fails there even when the body never runs.
    ``sizes[node]``: [n, *S] with -1 for S's unknown dims, the SLICE size of its stack; the FILL's
    dims are max(that, 1)."""
    b = Builder(node.graph, before=node)
    elem = node.output.type.element
    n = b.op("core.reshape", [_i32(b, node.inputs[0]), b.const(np.asarray([1], np.int32))])
    size = b.op("core.concat", [n, b.const(np.asarray([-1 if d is None else d for d in elem.shape], np.int32))],
                {"axis": 0})
    dims = b.op("core.maximum", [size, b.const(np.ones(1 + len(elem.shape), np.int32))])
    new = b.op("core.fill", [dims, b.const(np.zeros((), elem.dtype.np))],
               output_types=[TensorType(elem.dtype, (None,) + tuple(elem.shape))])
    sizes[node] = size
    replace_value(node.output, new)
    node.graph.remove(node)
    lowered[node.op] += 1


def _lower_padded_end(node: Node, reserve: Node, sizes: Dict[Node, Value], lowered: Counter,
                      retyped: Set[int]) -> None:
    """stack / length of a list padded to max(n, 1) rows: its first n rows / n."""
    b = Builder(node.graph, before=node)
    if node.op == "core.tensor_list_length":
        new = _i32(b, reserve.inputs[0])
        if new.shape != ():
            new = b.op("core.reshape", [new, b.const(np.asarray([], np.int32))])
    else:
        lst = node.inputs[0]
        new = b.op("core.slice", [lst, b.const(np.zeros(lst.rank, np.int32)), sizes[reserve]],
                   output_types=[lst.type.with_shape((None,) + tuple(lst.shape[1:]))])
    if new.type != node.output.type:
        retyped.add(id(new))
    replace_value(node.output, new)
    node.graph.remove(node)
    lowered[node.op] += 1


def _shaped_like_item(b: Builder, lst: Value, item: Value) -> Value:
    """``lst`` broadcast to [n, *shape(item)]: a list reserved with unknown element dims (1 in its
    FILL) takes the shape of what is written into it; afterwards this is the identity."""
    if lst.shape[0] is not None:
        n = b.const(np.asarray([lst.shape[0]], np.int32))
    else:
        n = b.op("core.gather", [b.op("core.shape", [lst], {"dtype": DType.INT32}), b.const(np.asarray([0], np.int32))],
                 {"axis": 0})
    dims = b.op("core.concat", [n, b.op("core.shape", [item], {"dtype": DType.INT32})], {"axis": 0})
    return b.op("core.broadcast_to", [lst, dims], output_types=[lst.type])


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


# -- element types from what the loops write ----------------------------------------------------

_MAX_ROUNDS = 8


def _refine_list_elements(graph: Graph) -> List[str]:
    """Refine the element type of every list a ``core.while`` carries from the items its body sets
    on that slot, and give the refined type to the slot, its chain of set_items, the loop's result
    and the reserve that starts the list. Repeated until nothing changes (a list that goes through
    two loops takes the first loop's refined result). Returns the names of the reserves whose element type was refined."""
    loops = [n for n in graph.walk() if n.op == "core.while" and len(n.regions) == 2]
    refined: List[str] = []
    for _ in range(_MAX_ROUNDS):
        changed = False
        for loop in loops:
            for k, v in enumerate(loop.inputs):
                if v.type.is_list:
                    changed |= _refine_slot(loop, k, refined)
        if not changed:
            break
    return refined


def _refine_slot(loop: Node, k: int, refined: List[str]) -> bool:
    cond, body = loop.regions
    chain = _set_item_chain(body.inputs[k], body.outputs[k])
    if chain is None:
        return False
    elem: Optional[TensorType] = _meet(loop.inputs[k].type.element, loop.outputs[k].type.element)
    for s in chain:
        elem = elem and _meet(elem, s.inputs[2].type)
    if elem is None or elem == body.inputs[k].type.element:
        return False
    new = TensorType.list_of(elem)
    for value in [cond.inputs[k], body.inputs[k], loop.outputs[k]] + [s.output for s in chain]:
        value.set_type(new)
    start = loop.inputs[k].producer
    if start is not None and start.op == "core.tensor_list_reserve":
        start.output.set_type(new)
        start.attrs["element_shape"] = elem.shape
        refined.append(start.name)
    return True


def _set_item_chain(start: Value, end: Value) -> Optional[List[Node]]:
    """The set_items that lead the body's list argument ``start`` to its result ``end`` (None: the
    list goes elsewhere, or not only through set_item)."""
    chain: List[Node] = []
    v = start
    while v is not end:
        writes = [u.node for u in v.uses() if u.node.op == "core.tensor_list_set_item" and u.index == 0]
        if len(writes) != 1:
            return None
        chain.append(writes[0])
        v = writes[0].output
    return chain


def _meet(elem: TensorType, item: TensorType) -> Optional[TensorType]:
    """The element type both the list's ``elem`` and a written ``item`` allow (None: they contradict)."""
    if elem.dtype is not item.dtype or not shapes_compatible(elem.shape, item.shape):
        return None
    return TensorType(elem.dtype, refine_shape(elem.shape, item.shape))


# -- lists that may have no elements ------------------------------------------------------------


def _lists_that_may_be_empty(graph: Graph):
    """Reserves whose length is not a constant > 0 (an ONNX Loop with M = 0, a sequence of length 0)
    and whose list only flows through set_item / get_item / loops into stack or length in the
    reserve's own graph, where the length is in scope: (those reserves, {stack or length: reserve})."""
    padded, ends = set(), {}
    for node in graph.walk():
        if node.op != "core.tensor_list_reserve":
            continue
        n = node.inputs[0].const_value()
        if n is not None and int(np.asarray(n).reshape(-1)[0]) > 0:
            continue
        found: List[Node] = []
        if _flows_to_ends(node.output, node.graph, found):
            padded.add(node)
            ends.update((end, node) for end in found)
    return padded, ends


def _flows_to_ends(v: Value, g: Graph, found: List[Node]) -> bool:
    for use in v.uses():
        user = use.node
        if user.graph is not g:
            return False
        if user.op in ("core.tensor_list_stack", "core.tensor_list_length"):
            found.append(user)
        elif user.op == "core.tensor_list_get_item":
            continue
        elif user.op == "core.tensor_list_set_item" and use.index == 0:
            if not _flows_to_ends(user.output, g, found):
                return False
        elif user.op == "core.while" and len(user.regions) == 2:
            if not all(_only_read_and_written(r.inputs[use.index]) for r in user.regions):
                return False  # the loop asks the list its length: it must be n
            if not _flows_to_ends(user.outputs[use.index], g, found):
                return False
        else:
            return False
    return True


def _only_read_and_written(v: Value) -> bool:
    for use in v.uses():
        if use.node.op == "core.tensor_list_get_item":
            continue
        if use.node.op != "core.tensor_list_set_item" or use.index != 0 or not _only_read_and_written(use.node.output):
            return False
    return True
