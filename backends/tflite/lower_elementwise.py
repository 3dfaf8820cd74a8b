"""Lowerings of elementwise core ops (unary, binary, compare, select, cast).

Most map 1:1 to a TFLite builtin with the same operands; a few without a
builtin are composed from builtins (reciprocal, softplus, selu, log1p, expm1,
atan as ATAN2(x, 1), tan as SIN / COS, int64 abs as MAXIMUM(x, NEG x)).
"""
from __future__ import annotations

import numpy as np

from litesmith.ir.dtypes import DType

from .legalize import UNSUPPORTED_ATTR
from .lower import cast_attrs, lowers

ACT_NONE = {"fused_activation_function": "NONE"}

UNARY = {
    "core.neg": "tfl.neg", "core.sqrt": "tfl.sqrt", "core.rsqrt": "tfl.rsqrt",
    "core.exp": "tfl.exp", "core.log": "tfl.log", "core.sin": "tfl.sin", "core.cos": "tfl.cos",
    "core.tanh": "tfl.tanh", "core.sigmoid": "tfl.logistic", "core.relu": "tfl.relu", "core.relu6": "tfl.relu6",
    "core.elu": "tfl.elu", "core.floor": "tfl.floor", "core.ceil": "tfl.ceil", "core.round": "tfl.round",
    "core.square": "tfl.square", "core.sign": "tfl.sign", "core.hard_swish": "tfl.hard_swish",
    "core.logical_not": "tfl.logical_not",
}

# core op -> (tfl op, takes fused_activation_function)
BINARY = {
    "core.add": ("tfl.add", True), "core.sub": ("tfl.sub", True), "core.mul": ("tfl.mul", True),
    "core.div": ("tfl.div", True), "core.floor_div": ("tfl.floor_div", False),
    "core.floor_mod": ("tfl.floor_mod", False), "core.maximum": ("tfl.maximum", False),
    "core.minimum": ("tfl.minimum", False), "core.pow": ("tfl.pow", False),
    "core.squared_difference": ("tfl.squared_difference", False),
    "core.equal": ("tfl.equal", False), "core.not_equal": ("tfl.not_equal", False),
    "core.less": ("tfl.less", False), "core.less_equal": ("tfl.less_equal", False),
    "core.greater": ("tfl.greater", False), "core.greater_equal": ("tfl.greater_equal", False),
    "core.logical_and": ("tfl.logical_and", False), "core.logical_or": ("tfl.logical_or", False),
}


@lowers(*UNARY)
def lower_unary(node, lw):
    return [lw.op(UNARY[node.op], node.inputs)]


@lowers("core.abs")
def lower_abs(node, lw):
    """ABS has no int64 kernel in LiteRT (it refuses the file); max(x, -x) is exact there, INT64_MIN included."""
    (x,) = node.inputs
    if x.dtype is DType.INT64:
        return [lw.op("tfl.maximum", [x, lw.op("tfl.neg", [x])])]
    return [lw.op("tfl.abs", [x])]


COMPARISONS = ("tfl.equal", "tfl.not_equal", "tfl.less", "tfl.less_equal", "tfl.greater", "tfl.greater_equal")


@lowers(*BINARY)
def lower_binary(node, lw):
    op, has_act = BINARY[node.op]
    inputs = list(node.inputs)
    if op in COMPARISONS and inputs[0].dtype in (DType.UINT8, DType.INT8):
        # LiteRT compares 8-bit ints only as quantized tensors (it aborts on a scale of 0): compare in int32
        inputs = [lw.op("tfl.cast", [v], cast_attrs(v.dtype, DType.INT32), [v.type.with_dtype(DType.INT32)])
                  for v in inputs]
    return [lw.op(op, inputs, dict(ACT_NONE) if has_act else {})]


@lowers("core.gelu")
def lower_gelu(node, lw):
    return [lw.op("tfl.gelu", node.inputs, {"approximate": bool(node.attrs["approximate"])})]


@lowers("core.leaky_relu")
def lower_leaky_relu(node, lw):
    return [lw.op("tfl.leaky_relu", node.inputs, {"alpha": float(node.attrs["alpha"])})]


@lowers("core.select")
def lower_select(node, lw):
    return [lw.op("tfl.select_v2", node.inputs)]


@lowers("core.cast", dtypes=["f64"])  # TFLite's CAST (version 5) reads and writes float64
def lower_cast(node, lw):
    (x,) = node.inputs
    return [lw.op("tfl.cast", [x], cast_attrs(x.dtype, node.attrs["dtype"]))]


# -- composed from builtins ------------------------------------------------------------------


def _scalar(lw, value, like):
    return lw.const(np.asarray(value, dtype=like.dtype.np))


def _same(lw, op, inputs, like, attrs=None):
    return lw.op(op, inputs, attrs or {}, [like.type])


@lowers("core.reciprocal")
def lower_reciprocal(node, lw):
    (x,) = node.inputs
    if not x.dtype.is_float:
        lw.fail(UNSUPPORTED_ATTR, f"reciprocal of {x.dtype} has no TFLite form")
    return [lw.op("tfl.div", [_scalar(lw, 1, x), x], dict(ACT_NONE))]


@lowers("core.softplus")
def lower_softplus(node, lw):
    """max(x, 0) + log(1 + exp(-|x|)): stable for large |x|."""
    (x,) = node.inputs
    relu = _same(lw, "tfl.relu", [x], x)
    e = _same(lw, "tfl.exp", [_same(lw, "tfl.neg", [_same(lw, "tfl.abs", [x], x)], x)], x)
    log = _same(lw, "tfl.log", [_same(lw, "tfl.add", [e, _scalar(lw, 1, x)], x, ACT_NONE)], x)
    return [lw.op("tfl.add", [relu, log], dict(ACT_NONE))]


@lowers("core.selu")
def lower_selu(node, lw):
    """scale * (x > 0 ? x : alpha * (exp(x) - 1)) = scale * elu(x) with the negative side times alpha."""
    (x,) = node.inputs
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    elu = _same(lw, "tfl.elu", [x], x)
    neg = _same(lw, "tfl.mul", [elu, _scalar(lw, alpha * scale, x)], x, ACT_NONE)
    pos = _same(lw, "tfl.mul", [elu, _scalar(lw, scale, x)], x, ACT_NONE)
    cond = lw.op("tfl.greater", [x, _scalar(lw, 0, x)], {}, [x.type.with_dtype(DType.BOOL)])
    return [lw.op("tfl.select_v2", [cond, pos, neg])]


@lowers("core.log1p")
def lower_log1p(node, lw):
    (x,) = node.inputs
    return [lw.op("tfl.log", [_same(lw, "tfl.add", [x, _scalar(lw, 1, x)], x, ACT_NONE)])]


@lowers("core.expm1")
def lower_expm1(node, lw):
    (x,) = node.inputs
    return [lw.op("tfl.sub", [_same(lw, "tfl.exp", [x], x), _scalar(lw, 1, x)], dict(ACT_NONE))]


def _ones_like(lw, x):
    """Ones of ``x``'s static shape, made at run time by FILL (a constant would be as large as ``x``)."""
    return lw.op("tfl.fill", [lw.i32(list(x.shape)), _scalar(lw, 1, x)], {}, [x.type])


@lowers("core.atan")
def lower_atan(node, lw):
    """atan(x) = ATAN2(x, 1): TFLite has no ATAN, and its ATAN2 does not broadcast."""
    (x,) = node.inputs
    return [lw.op("tfl.atan2", [x, _ones_like(lw, x)])]


@lowers("core.atan2")
def lower_atan2(node, lw):
    y, x = node.inputs
    shape = node.output.shape  # TFLite's ATAN2 does not broadcast
    y, x = (v if v.shape == shape else lw.op("tfl.broadcast_to", [v, lw.i32(list(shape))], {}, [v.type.with_shape(shape)])
            for v in (y, x))
    return [lw.op("tfl.atan2", [y, x])]


@lowers("core.tan")
def lower_tan(node, lw):
    """tan(x) = SIN(x) / COS(x): both within an ulp or two, so the quotient is within a few ulps of tan."""
    (x,) = node.inputs
    return [lw.op("tfl.div", [_same(lw, "tfl.sin", [x], x), _same(lw, "tfl.cos", [x], x)], dict(ACT_NONE))]
