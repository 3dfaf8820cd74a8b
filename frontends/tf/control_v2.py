"""TF2 functional control flow: While/If with bodies from the function library, and calls.

``While`` becomes ``core.while`` and ``If`` becomes ``core.if``; each function
body is lifted into a region whose arguments are the function's inputs.
``PartitionedCall``/``StatefulPartitionedCall`` (and nodes whose op is a
library function) are inlined.
"""
from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Value
from litesmith.ir.types import TensorType

_MAX_WIDENINGS = 4


def join_types(a: TensorType, b: TensorType) -> TensorType:
    """The least specific of two types of one carried value (dims that differ become unknown)."""
    if a == b:
        return a
    if a.is_list and b.is_list:
        return TensorType.list_of(join_types(a.element, b.element))
    if a.is_list or b.is_list:
        return a
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return TensorType(a.dtype, None)
    return TensorType(a.dtype, [x if x == y else None for x, y in zip(a.shape, b.shape)])


def lift_call(scope, name: str) -> List[Any]:
    ns = scope.ns
    tf = ns.tf_node(name)
    inputs = [scope.resolve(r) for r in ns.inputs(name)[0]]
    for v in inputs:
        if not isinstance(v, Value):
            raise UserError(f"{ns.at(name)} ({tf.op}) passes a TensorArray handle to a function; not supported")
    if tf.op in ("While", "StatelessWhile"):
        return _lift_while(scope, name, tf, inputs)
    if tf.op in ("If", "StatelessIf"):
        return _lift_if(scope, name, tf, inputs)
    fname = _function(scope, name, tf.attrs.get("f")) if tf.op in ("PartitionedCall", "StatefulPartitionedCall") \
        else tf.op
    return inline_function(scope, name, fname, inputs)


def _function(scope, owner: str, attr: Any):
    fname = attr["func"] if isinstance(attr, dict) else None
    lib = scope.ns.library
    if fname not in lib:
        raise UserError(f"{scope.ns.at(owner)}: function {fname!r} is not in the graph's function library")
    return fname


def region_from_function(scope, owner: str, fname: str, arg_types: Sequence[TensorType], region: str) -> Graph:
    """Lift library function ``fname`` as a region taking ``arg_types``."""
    from .scope import Scope

    ns = scope.lifter.function_namespace(fname)
    sig = ns.function.signature
    if len(sig.input_arg) != len(arg_types):
        raise UserError(f"{scope.ns.at(owner)}: function {fname!r} takes {len(sig.input_arg)} arguments, "
                        f"the node passes {len(arg_types)}")
    g = Graph(region)
    inner = Scope(scope.lifter, ns, g)
    for arg, t in zip(sig.input_arg, arg_types):
        inner.values[f"{arg.name}:0"] = g.add_input(t, arg.name)
    g.outputs = [_as_value(inner, ns, fname, inner.resolve(ref)) for ref in _returns(ns, fname)]
    return g


def inline_function(scope, owner: str, fname: str, inputs: List[Value]) -> List[Value]:
    from .scope import Scope

    fname = _function(scope, owner, {"func": fname})
    ns = scope.lifter.function_namespace(fname)
    sig = ns.function.signature
    if len(sig.input_arg) != len(inputs):
        raise UserError(f"{scope.ns.at(owner)}: function {fname!r} takes {len(sig.input_arg)} arguments, "
                        f"the node passes {len(inputs)}")
    inner = Scope(scope.lifter, ns, scope.graph)
    for arg, v in zip(sig.input_arg, inputs):
        inner.values[f"{arg.name}:0"] = v
    outs = [inner.resolve(ref) for ref in _returns(ns, fname)]
    scope.builder.meta = {"source": owner}
    return outs


def _returns(ns, fname: str) -> List[str]:
    fdef = ns.function
    refs = []
    for out in fdef.signature.output_arg:
        if out.name not in fdef.ret:
            raise UserError(f"{ns.where}: function {fname!r} does not return its output {out.name!r}")
        refs.append(ns.normalize_ret(fdef.ret[out.name]))
    return refs


def _as_value(scope, ns, fname, v: Any) -> Value:
    if not isinstance(v, Value):
        raise UserError(f"{ns.where}: function {fname!r} returns a TensorArray handle; not supported")
    return v


def _bool_scalar(g: Graph, v: Value) -> Value:
    """A region result that TF treats as a predicate, as a bool."""
    if v.dtype is DType.BOOL:
        return v
    from litesmith.ir.builder import Builder

    b = Builder(g)
    return b.op("core.not_equal", [v, b.const(np.zeros((), v.dtype.np))])


def _lift_while(scope, name, tf, inputs) -> List[Value]:
    cond_fn = _function(scope, name, tf.attrs.get("cond"))
    body_fn = _function(scope, name, tf.attrs.get("body"))
    types = [v.type for v in inputs]
    shapes = tf.attrs.get("output_shapes")
    if isinstance(shapes, list) and len(shapes) == len(types) and not scope.lifter.shapes_overridden:
        types = [t if t.is_list else join_types(t, t.with_shape(s)) for t, s in zip(types, shapes)]
    for _ in range(_MAX_WIDENINGS + 1):
        cond = region_from_function(scope, name, cond_fn, types, "cond")
        body = region_from_function(scope, name, body_fn, types, "body")
        if len(body.outputs) != len(types) or len(cond.outputs) != 1:
            raise UserError(f"{scope.ns.at(name)}: While body must return {len(types)} values and cond one")
        wider = [join_types(t, o.type) for t, o in zip(types, body.outputs)]
        if wider == types:
            break
        types = wider
    cond.outputs = [_bool_scalar(cond, cond.outputs[0])]
    node = scope.builder.create("core.while", inputs, {}, regions=[cond, body])
    return list(node.outputs)


def _lift_if(scope, name, tf, inputs) -> List[Value]:
    then_fn = _function(scope, name, tf.attrs.get("then_branch"))
    else_fn = _function(scope, name, tf.attrs.get("else_branch"))
    if not inputs:
        raise UserError(f"{scope.ns.at(name)} (If) has no inputs; it needs a predicate first")
    pred, args = inputs[0], inputs[1:]
    if pred.dtype is not DType.BOOL:
        pred = scope.builder.op("core.not_equal", [pred, scope.builder.const(np.zeros((), pred.dtype.np))])
    types = [v.type for v in args]
    then_g = region_from_function(scope, name, then_fn, types, "then")
    else_g = region_from_function(scope, name, else_fn, types, "else")
    if len(then_g.outputs) != len(else_g.outputs):
        raise UserError(f"{scope.ns.at(name)}: If branches return different numbers of values")
    node = scope.builder.create("core.if", [pred] + args, {}, regions=[then_g, else_g])
    return list(node.outputs)
