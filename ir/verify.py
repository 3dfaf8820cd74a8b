"""The verifier: SSA, use lists, attributes, arity, types and region rules.

Run after every pass in tests, so a broken rewrite is caught where it happens
rather than as a wrong number three passes later. Every error names the graph
path, the op and the node.
"""
from __future__ import annotations

from typing import Dict, List

from .builder import inference_stamp, infer_types, stamp_matches
from .dtypes import DType
from .errors import VerifyError
from .graph import Graph, Node, Value
from .registry import get_op
from .text import format_type
from .types import TensorType, shapes_compatible

__all__ = ["verify", "types_compatible"]


def types_compatible(declared: TensorType, inferred: TensorType) -> bool:
    """Same dtype and no contradicting static dim; tensor lists compare element types."""
    if declared.dtype is not inferred.dtype:
        return False
    if declared.is_list:
        return types_compatible(declared.element, inferred.element)
    return shapes_compatible(declared.shape, inferred.shape)


def _fmt(t: TensorType) -> str:
    return format_type(t)


def _where(node: Node, path: str) -> str:
    return f"{node.op} node {node.name!r} in graph {path}"


def verify(graph: Graph, *, trust_inferred: bool = False) -> None:
    """Raise ``VerifyError`` at the first rule ``graph`` (and its regions) breaks.

    ``trust_inferred``: skip re-running type inference on a node that has not changed since
    inference confirmed its result types (same operand types and constant data,
    attribute values and result types: ``builder.inference_stamp``), which a node built through
    the ``Builder``, re-inferred by ``reinfer`` or checked by an earlier verify has. Every other
    rule is still checked on every node. The compile pipeline verifies this way (inference is
    most of a verify's time); tests and ``--verify-each`` re-infer everything. An attribute
    value changed in place (a list appended to) is not seen by this mode.
    """
    _verify_graph(graph, graph.name or "<unnamed>", trust_inferred)


def _verify_graph(g: Graph, path: str, trust: bool = False) -> None:
    defined: Dict[int, Value] = {}
    for i, v in enumerate(g.inputs):
        if id(v) in defined:
            raise VerifyError(f"graph {path}: input %{v.name} is listed twice")
        if v.producer is not None or v.graph is not g:
            raise VerifyError(f"graph {path}: input %{v.name} does not belong to this graph")
        defined[id(v)] = v
    for node in g.nodes:  # a linked node list cannot hold a node twice
        # the "where" of a message is built only when a rule fails: this loop runs once per node
        if node.graph is not g:
            raise VerifyError(f"{_where(node, path)}: node.graph does not point at its graph")
        ins = node._inputs
        for i, v in enumerate(ins):
            if id(v) not in defined:
                raise VerifyError(f"{_where(node, path)}: operand {i} %{v.name} {_undefined_reason(v, g)}")
        for i, v in enumerate(node.outputs):
            if v.producer is not node or v.index != i:
                raise VerifyError(f"{_where(node, path)}: result {i} %{v.name} does not record this node as its producer")
            if id(v) in defined:
                raise VerifyError(f"{_where(node, path)}: result %{v.name} is defined twice")
            defined[id(v)] = v
        _check_uses(node, path)
        for r in node.regions:
            if r.parent is not node:
                raise VerifyError(f"{_where(node, path)}: region {r.name} does not record this node as its parent")
        opdef = get_op(node.op)
        if opdef is not None:
            _check_registered(node, opdef, path, trust)
        for k, r in enumerate(node.regions):
            _verify_graph(r, f"{path}/{node.name}^{r.name or k}", trust)
    for i, v in enumerate(g.outputs):
        if id(v) not in defined:
            raise VerifyError(f"graph {path}: output {i} %{v.name} {_undefined_reason(v, g)}")
    for v in defined.values():
        for use in v.uses():
            n = use.node
            ins = n._inputs
            if n.graph is None or use.index >= len(ins) or ins[use.index] is not v:
                raise VerifyError(
                    f"graph {path}: value %{v.name} lists a stale use by {n.op} node {n.name!r} (operand {use.index})")


def _undefined_reason(v: Value, g: Graph) -> str:
    p = v.producer
    if p is not None and p.graph is None:
        return f"comes from a removed {p.op} node (its producer was removed)"
    owner = v.owner_graph
    if owner is None:
        return "is not defined in any graph"
    if owner is not g:
        return (f"is defined in another graph ({owner.name}); regions are isolated from above, "
                "pass the value in as an argument")
    return "is used before it is defined"


def _check_uses(node: Node, path: str) -> None:
    for i, v in enumerate(node._inputs):
        use = v._uses.get((node._id, i))  # keyed by (node, operand): at most one record per use
        if use is None or use.node is not node or use.index != i:
            raise VerifyError(f"{_where(node, path)}: the use list of operand {i} %{v.name} does not record this use exactly once")


def _check_registered(node: Node, opdef, path: str, trust: bool = False) -> None:
    attrs = node.attrs
    if not attrs.keys() <= opdef.attrs.keys():
        unknown = sorted(set(attrs) - set(opdef.attrs))
        raise VerifyError(f"{_where(node, path)}: unknown attribute(s) {', '.join(unknown)} "
                          f"(declared: {', '.join(opdef.attrs) or 'none'})")
    for k in opdef.required_attrs():
        if k not in attrs:
            missing = [k for k in opdef.required_attrs() if k not in attrs]
            raise VerifyError(f"{_where(node, path)}: missing required attribute(s) {', '.join(missing)}")
    problem = opdef.check_arity(len(node._inputs))
    if problem:
        raise VerifyError(f"{_where(node, path)}: {problem}")
    if len(node.regions) != opdef.num_regions:
        raise VerifyError(f"{_where(node, path)}: has {len(node.regions)} region(s), {node.op} needs {opdef.num_regions}")
    region_rule = _REGION_RULES.get(node.op)
    if region_rule is not None:
        region_rule(node, _where(node, path))
    if opdef.infer is None:  # output types are whatever the creator declared
        return
    if trust and stamp_matches(node):
        return
    try:
        inferred = infer_types(node.op, node.inputs, opdef.attrs_with_defaults(node.attrs), node.regions)
    except Exception as e:  # inference rejecting the operands is exactly what we report
        raise VerifyError(f"{_where(node, path)}: type inference fails: {e}") from None
    if len(inferred) != len(node.outputs):
        raise VerifyError(f"{_where(node, path)}: has {len(node.outputs)} result(s), inference gives {len(inferred)}")
    for i, (v, t) in enumerate(zip(node.outputs, inferred)):
        if not types_compatible(v.type, t):
            raise VerifyError(f"{_where(node, path)}: result {i} %{v.name} has type {_fmt(v.type)}, inference gives {_fmt(t)}")
    if trust:
        node._inferred = inference_stamp(node)


def _is_bool_scalar(t: TensorType) -> bool:
    return t.dtype is DType.BOOL and shapes_compatible(t.shape, ())


def _check_args(region: Graph, types: List[TensorType], where: str, what: str) -> None:
    if len(region.inputs) != len(types):
        raise VerifyError(f"{where}: region {region.name} takes {len(region.inputs)} argument(s), {what} passes {len(types)}")
    for i, (a, t) in enumerate(zip(region.inputs, types)):
        if a.dtype is not t.dtype:
            raise VerifyError(f"{where}: region {region.name} argument {i} is {_fmt(a.type)}, {what} passes {_fmt(t)}")


def _check_results(region: Graph, types: List[TensorType], where: str, what: str) -> None:
    if len(region.outputs) != len(types):
        raise VerifyError(f"{where}: region {region.name} returns {len(region.outputs)} value(s), {what} needs {len(types)}")
    for i, (o, t) in enumerate(zip(region.outputs, types)):
        if o.dtype is not t.dtype:
            raise VerifyError(f"{where}: region {region.name} result {i} is {_fmt(o.type)}, {what} needs {_fmt(t)}")


def _check_while(node: Node, where: str) -> None:
    cond, body = node.regions
    init = [v.type for v in node.inputs]
    _check_args(cond, init, where, "the loop")
    if len(cond.outputs) != 1 or not _is_bool_scalar(cond.outputs[0].type):
        got = ", ".join(_fmt(o.type) for o in cond.outputs) or "nothing"
        raise VerifyError(f"{where}: region {cond.name} must return one bool scalar, returns {got}")
    _check_args(body, init, where, "the loop")
    _check_results(body, init, where, "the loop (one per carried value)")
    if len(node.outputs) != len(init):
        raise VerifyError(f"{where}: has {len(node.outputs)} result(s) for {len(init)} carried value(s)")


def _check_if(node: Node, where: str) -> None:
    then, other = node.regions
    if not _is_bool_scalar(node.inputs[0].type):
        raise VerifyError(f"{where}: condition %{node.inputs[0].name} is {_fmt(node.inputs[0].type)}, not a bool scalar")
    args = [v.type for v in node.inputs[1:]]
    results = [v.type for v in node.outputs]
    for region in (then, other):
        _check_args(region, args, where, "the if")
        _check_results(region, results, where, "the if")


_REGION_RULES = {"core.while": _check_while, "core.if": _check_if}
