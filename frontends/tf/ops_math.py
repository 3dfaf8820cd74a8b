"""Elementwise TF ops: unary math, binary arithmetic, comparisons, logic, casts, selects, identities."""
from __future__ import annotations

import numpy as np
from litesmith.ir.dtypes import DType

from .mapper import tf_op

_UNARY = {
    "Neg": "core.neg", "Abs": "core.abs", "Sqrt": "core.sqrt", "Rsqrt": "core.rsqrt", "Exp": "core.exp",
    "Log": "core.log", "Sin": "core.sin", "Cos": "core.cos", "Tanh": "core.tanh", "Sigmoid": "core.sigmoid",
    "Tan": "core.tan", "Atan": "core.atan",
    "Relu": "core.relu", "Relu6": "core.relu6", "Elu": "core.elu", "Selu": "core.selu", "Floor": "core.floor",
    "Ceil": "core.ceil", "Round": "core.round", "Rint": "core.round", "Square": "core.square", "Sign": "core.sign",
    "Reciprocal": "core.reciprocal", "Inv": "core.reciprocal", "Softplus": "core.softplus", "Erf": "core.erf",
    "Erfc": "core.erfc",
    "LogicalNot": "core.logical_not", "Log1p": "core.log1p", "Expm1": "core.expm1", "Softsign": "core.softsign",
}
_BINARY = {
    "Add": "core.add", "AddV2": "core.add", "Sub": "core.sub", "Mul": "core.mul", "RealDiv": "core.div",
    "Div": "core.div", "FloorDiv": "core.floor_div", "FloorMod": "core.floor_mod", "Maximum": "core.maximum",
    "Minimum": "core.minimum", "Pow": "core.pow", "SquaredDifference": "core.squared_difference",
    "Equal": "core.equal", "NotEqual": "core.not_equal", "Less": "core.less", "LessEqual": "core.less_equal",
    "Greater": "core.greater", "GreaterEqual": "core.greater_equal", "LogicalAnd": "core.logical_and",
    "LogicalOr": "core.logical_or", "Atan2": "core.atan2",
}


def _unary(core_op):
    return lambda ctx, node, inputs: [ctx.op(core_op, inputs[:1])]


def _binary(core_op):
    return lambda ctx, node, inputs: [ctx.op(core_op, inputs[:2])]


for _tf, _core in _UNARY.items():
    tf_op(_tf, inputs=1)(_unary(_core))
for _tf, _core in _BINARY.items():
    tf_op(_tf, inputs=2)(_binary(_core))


@tf_op("LeakyRelu", inputs=1)
def _leaky_relu(ctx, node, inputs):
    return [ctx.op("core.leaky_relu", inputs[:1], {"alpha": node.attr_float("alpha", 0.2)})]


@tf_op("Gelu", inputs=1)
def _gelu(ctx, node, inputs):
    return [ctx.op("core.gelu", inputs[:1], {"approximate": bool(node.attr("approximate", False))})]


@tf_op("AddN", inputs=(1, None))
def _add_n(ctx, node, inputs):
    acc = inputs[0]
    for v in inputs[1:]:
        acc = ctx.op("core.add", [acc, v])
    return [acc]


@tf_op("Cast", inputs=1)
def _cast(ctx, node, inputs):
    dst = node.attr("DstT")
    if not isinstance(dst, DType):
        return None
    if inputs[0].dtype is dst:
        return [inputs[0]]
    return [ctx.op("core.cast", inputs[:1], {"dtype": dst})]


@tf_op("SelectV2", inputs=3)
def _select_v2(ctx, node, inputs):
    return [ctx.op("core.select", inputs[:3])]


@tf_op("Select", inputs=3)
def _select(ctx, node, inputs):
    """TF1 Select: a vector condition picks whole rows of higher-rank x/y."""
    cond, x, y = inputs[:3]
    if cond.rank == 1 and x.rank is not None and x.rank > 1:
        cond = ctx.op("core.reshape", [cond, ctx.const(np.array([-1] + [1] * (x.rank - 1), np.int32))])
    elif cond.rank is None or x.rank is None or cond.rank != x.rank:
        return None
    return [ctx.op("core.select", [cond, x, y])]


def _like(ctx, x, fill):
    value = ctx.const(np.array(fill, dtype=x.dtype.np))
    shape = ctx.op("core.shape", [x])
    return ctx.op("core.fill", [shape, value])


@tf_op("ZerosLike", inputs=1)
def _zeros_like(ctx, node, inputs):
    return [_like(ctx, inputs[0], 0)]


@tf_op("OnesLike", inputs=1)
def _ones_like(ctx, node, inputs):
    return [_like(ctx, inputs[0], 1)]


@tf_op("Identity", "StopGradient", "Snapshot", "PreventGradient", "EnsureShape", "CheckNumerics",
       "PlaceholderWithDefault", inputs=1)
def _identity(ctx, node, inputs):
    return [inputs[0]]


@tf_op("IdentityN", inputs=(1, None))
def _identity_n(ctx, node, inputs):
    return list(inputs)


@tf_op("NoOp", inputs=0)
def _no_op(ctx, node, inputs):
    return []


def _fake_quant_attrs(node, lo: float, hi: float) -> dict:
    return {"min": float(lo), "max": float(hi), "num_bits": node.attr_int("num_bits", 8),
            "narrow_range": bool(node.attr("narrow_range", False))}


@tf_op("FakeQuantWithMinMaxArgs", inputs=1)
def _fake_quant_args(ctx, node, inputs):
    attrs = _fake_quant_attrs(node, node.attr_float("min", -6.0), node.attr_float("max", 6.0))
    return [ctx.op("core.fake_quant", inputs[:1], attrs)]


@tf_op("FakeQuantWithMinMaxVars", inputs=3)
def _fake_quant_vars(ctx, node, inputs):
    lo, hi = (float(np.asarray(ctx.const_value(v)).reshape(-1)[0]) for v in inputs[1:3])
    return [ctx.op("core.fake_quant", inputs[:1], _fake_quant_attrs(node, lo, hi))]
