"""Re-run type inference over a graph after its inputs changed (batch 8 -> 1).

Each output gets the newly inferred type, except that a static dim the old
type knew and the new inference leaves unknown is kept, as long as nothing
feeding the node changed (frontends often know shapes inference cannot
derive). Once an input changed, stale knowledge is dropped. Quantization
parameters are kept; foreign ops keep their declared types.
"""
from __future__ import annotations

from typing import Iterable, Set

from .builder import inference_stamp, infer_types, stamp_matches
from .errors import UserError
from .graph import Graph, Node, Value
from .registry import get_op
from .types import TensorType, refine_shape, shapes_compatible

__all__ = ["reinfer", "reinfer_node"]

_MAX_LOOP_ROUNDS = 16


def reinfer(graph: Graph, changed: Iterable[Value] = ()) -> None:
    """Re-infer every node's result types in order, regions included.

    ``changed``: values (usually graph inputs) whose type was just modified;
    results downstream of them drop old static dims that inference no longer
    confirms. A result whose new type contradicts its old one always takes
    the new type (and counts as changed).
    """
    _reinfer_graph(graph, {id(v) for v in changed})


def _merge(old: TensorType, new: TensorType, inputs_changed: bool) -> TensorType:
    """The type to keep for a result, given its old and freshly inferred types."""
    if old.dtype is not new.dtype:
        return new
    if old.is_list:
        return TensorType.list_of(_merge(old.element, new.element, inputs_changed))
    shape = new.shape
    if not inputs_changed and shapes_compatible(old.shape, new.shape):
        shape = refine_shape(new.shape, old.shape)
    return TensorType(new.dtype, shape, old.quant, None)


def _set_type(v: Value, t: TensorType, changed: Set[int]) -> None:
    if v.type != t:
        v.set_type(t)
        changed.add(id(v))


def _reinfer_graph(g: Graph, changed: Set[int]) -> None:
    for node in g:
        reinfer_node(node, changed)


def reinfer_node(node: Node, changed: Set[int]) -> None:
    """Re-infer one node (and its regions); ``changed`` holds ids of values whose type
    changed so far and gains this node's results when theirs change."""
    inputs_changed = any(id(v) in changed for v in node.inputs)
    if node.op == "core.while" and len(node.regions) == 2:
        _reinfer_while(node, changed, inputs_changed)
    elif node.op == "core.if" and len(node.regions) == 2:
        _reinfer_if(node, changed, inputs_changed)
    else:
        for r in node.regions:  # foreign ops with regions: keep their argument types
            _reinfer_graph(r, set())
        _reinfer_node(node, changed, inputs_changed)


def _infer(node: Node):
    opdef = get_op(node.op)
    if opdef is None or opdef.infer is None:
        return None
    try:
        return infer_types(node.op, node.inputs, opdef.attrs_with_defaults(node.attrs), node.regions)
    except Exception as e:  # the new input shapes break this op: the user can fix the shapes
        raise UserError(f"re-inferring types: {node.op} node {node.name!r} rejects its new operand types: {e}") from None


def _reinfer_node(node: Node, changed: Set[int], inputs_changed: bool) -> None:
    if not inputs_changed and stamp_matches(node):
        return  # inference already gave these types from these operands: it would keep them
    new = _infer(node)
    if new is None:
        return
    if len(new) != len(node.outputs):
        raise UserError(f"re-inferring types: {node.op} node {node.name!r} has {len(node.outputs)} results, inference gives {len(new)}")
    for v, t in zip(node.outputs, new):
        _set_type(v, _merge(v.type, t, inputs_changed), changed)
    node._inferred = inference_stamp(node)  # the merged types agree with inference (_merge)


def _retype_args(region: Graph, types) -> Set[int]:
    """Give a region's arguments the types passed in; return the region's changed set."""
    inner: Set[int] = set()
    for a, t in zip(region.inputs, types):
        _set_type(a, TensorType(t.dtype, t.shape, a.type.quant, t.element), inner)
    return inner


def _reinfer_while(node: Node, changed: Set[int], inputs_changed: bool) -> None:
    cond, body = node.regions
    carried = [v.type for v in node.inputs]
    for _ in range(_MAX_LOOP_ROUNDS):
        for region in (cond, body):
            _reinfer_graph(region, _retype_args(region, carried))
        new = _infer(node)
        if [t.shape for t in new] == [t.shape for t in carried]:
            break
        carried = new  # a carried value whose shape varies across iterations: widen and retry
    else:
        carried = [t.with_shape(None) for t in carried]
        for region in (cond, body):
            _reinfer_graph(region, _retype_args(region, carried))
    for v, t in zip(node.outputs, _infer(node)):
        _set_type(v, _merge(v.type, t, inputs_changed), changed)


def _reinfer_if(node: Node, changed: Set[int], inputs_changed: bool) -> None:
    args = [v.type for v in node.inputs[1:]]
    for region in node.regions:
        _reinfer_graph(region, _retype_args(region, args))
    _reinfer_node(node, changed, inputs_changed)
