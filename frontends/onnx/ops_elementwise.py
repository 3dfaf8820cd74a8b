"""Elementwise ONNX ops: unary math, activations, binary arithmetic, comparisons, logic, casts.

Activations the core set lacks are composed from core ops with ONNX's formula
(HardSigmoid, Softsign, Mish, Celu, Shrink...), so they lower to TFLite builtins.
"""
from __future__ import annotations

import numpy as np
from litesmith.ir.dtypes import DType

from .registry import Unsupported, onnx_op
from .tensors import to_dtype

_UNARY = {
    "Abs": "core.abs", "Neg": "core.neg", "Sqrt": "core.sqrt", "Exp": "core.exp", "Log": "core.log",
    "Sin": "core.sin", "Cos": "core.cos", "Tanh": "core.tanh", "Sigmoid": "core.sigmoid", "Relu": "core.relu",
    "Floor": "core.floor", "Ceil": "core.ceil", "Round": "core.round", "Reciprocal": "core.reciprocal",
    "Sign": "core.sign", "Not": "core.logical_not",
    "HardSwish": "core.hard_swish",
}
_BINARY = {
    "Add": "core.add", "Sub": "core.sub", "Mul": "core.mul", "Pow": "core.pow", "Equal": "core.equal",
    "Less": "core.less", "Greater": "core.greater", "LessOrEqual": "core.less_equal",
    "GreaterOrEqual": "core.greater_equal", "And": "core.logical_and", "Or": "core.logical_or",
}


def _unary(core_op):
    return lambda ctx, node, inputs: [ctx.op(core_op, inputs[:1])]


def _binary(core_op):
    def fn(ctx, node, inputs):
        x, y = inputs[:2]
        if node.opset < 7 and node.has("broadcast"):  # opset 1-6 axis broadcasting: not supported
            raise Unsupported("legacy broadcast attribute")
        if core_op == "core.pow" and y.dtype is not x.dtype:
            y = ctx.op("core.cast", [y], {"dtype": x.dtype})
        return [ctx.op(core_op, [x, y])]

    return fn


for _onnx, _core in _UNARY.items():
    onnx_op(_onnx, inputs=1)(_unary(_core))
for _onnx, _core in _BINARY.items():
    onnx_op(_onnx, inputs=2)(_binary(_core))


@onnx_op("Div", inputs=2)
def _div(ctx, node, inputs):
    x, y = inputs
    if x.dtype.is_int:  # ONNX integer Div truncates like C (and like core.div)
        return [ctx.op("core.div", [x, y])]
    return [ctx.op("core.div", [x, y])]


@onnx_op("Xor", inputs=2)
def _xor(ctx, node, inputs):
    return [ctx.op("core.not_equal", inputs)]


@onnx_op("Mod", inputs=2)
def _mod(ctx, node, inputs):
    x, y = inputs
    if node.attr_int("fmod", 0) == 0:
        return [ctx.op("core.floor_mod", [x, y])]
    if not x.dtype.is_float:
        raise Unsupported("integer fmod")
    # C fmod: x - trunc(x / y) * y
    q = ctx.op("core.div", [x, y])
    t = ctx.op("core.mul", [ctx.op("core.sign", [q]), ctx.op("core.floor", [ctx.op("core.abs", [q])])])
    return [ctx.op("core.sub", [x, ctx.op("core.mul", [t, y])])]


def _variadic(core_op):
    def fn(ctx, node, inputs):
        acc = inputs[0]
        for v in inputs[1:]:
            acc = ctx.op(core_op, [acc, v])
        return [acc]

    return fn


onnx_op("Sum", inputs=(1, None))(_variadic("core.add"))
onnx_op("Max", inputs=(1, None))(_variadic("core.maximum"))
onnx_op("Min", inputs=(1, None))(_variadic("core.minimum"))


@onnx_op("Mean", inputs=(1, None))
def _mean(ctx, node, inputs):
    acc = _variadic("core.add")(ctx, node, inputs)[0]
    return [ctx.op("core.div", [acc, ctx.scalar_like(acc, len(inputs))])]


@onnx_op("Where", inputs=3)
def _where(ctx, node, inputs):
    return [ctx.op("core.select", inputs)]


@onnx_op("Identity", inputs=1)
def _identity(ctx, node, inputs):
    return [inputs[0]]


@onnx_op("Dropout", inputs=(1, 3))
def _dropout(ctx, node, inputs):
    x = inputs[0]
    if node.num_outputs > 1:  # the mask: all true at inference
        shape = ctx.op("core.shape", [x])
        return [x, ctx.op("core.fill", [shape, ctx.const(np.asarray(True))])]
    return [x]


@onnx_op("Cast", inputs=1)
def _cast(ctx, node, inputs):
    dst = to_dtype(node.attr_int("to"), f"Cast to {node.attr_int('to')}")
    x = inputs[0]
    if x.dtype is dst:
        return [x]
    if x.dtype is DType.STRING or dst is DType.STRING:
        raise Unsupported("string casts")
    return [ctx.op("core.cast", [x], {"dtype": dst})]


@onnx_op("CastLike", inputs=2)
def _cast_like(ctx, node, inputs):
    x, like = inputs
    if x.dtype is like.dtype:
        return [x]
    if x.dtype is DType.STRING or like.dtype is DType.STRING:
        raise Unsupported("string casts")
    return [ctx.op("core.cast", [x], {"dtype": like.dtype})]


# -- activations with parameters ------------------------------------------------------------


@onnx_op("LeakyRelu", inputs=1)
def _leaky_relu(ctx, node, inputs):
    return [ctx.op("core.leaky_relu", inputs, {"alpha": node.attr_float("alpha", 0.01)})]


@onnx_op("Elu", inputs=1)
def _elu(ctx, node, inputs):
    x = inputs[0]
    alpha = node.attr_float("alpha", 1.0)
    if alpha == 1.0:
        return [ctx.op("core.elu", [x])]
    neg = ctx.op("core.mul", [ctx.op("core.expm1", [x]), ctx.scalar_like(x, alpha)])
    return [ctx.op("core.select", [ctx.op("core.greater", [x, ctx.scalar_like(x, 0)]), x, neg])]


@onnx_op("Selu", inputs=1)
def _selu(ctx, node, inputs):
    x = inputs[0]
    alpha = node.attr_float("alpha", 1.67326319217681884765625)
    gamma = node.attr_float("gamma", 1.05070102214813232421875)
    neg = ctx.op("core.mul", [ctx.op("core.expm1", [x]), ctx.scalar_like(x, alpha)])
    y = ctx.op("core.select", [ctx.op("core.greater", [x, ctx.scalar_like(x, 0)]), x, neg])
    return [ctx.op("core.mul", [y, ctx.scalar_like(x, gamma)])]


@onnx_op("Celu", inputs=1)
def _celu(ctx, node, inputs):
    x = inputs[0]
    alpha = node.attr_float("alpha", 1.0)
    neg = ctx.op("core.mul", [ctx.op("core.expm1", [ctx.op("core.div", [x, ctx.scalar_like(x, alpha)])]),
                              ctx.scalar_like(x, alpha)])
    return [ctx.op("core.add", [ctx.op("core.relu", [x]),
                                ctx.op("core.minimum", [ctx.scalar_like(x, 0), neg])])]


@onnx_op("ThresholdedRelu", inputs=1)
def _thresholded_relu(ctx, node, inputs):
    x = inputs[0]
    keep = ctx.op("core.greater", [x, ctx.scalar_like(x, node.attr_float("alpha", 1.0))])
    return [ctx.op("core.select", [keep, x, ctx.scalar_like(x, 0)])]


@onnx_op("PRelu", inputs=2)
def _prelu(ctx, node, inputs):
    x, slope = inputs
    if slope.rank is not None and x.rank is not None and slope.rank == 1 and x.rank > 2 \
            and slope.shape[0] not in (1, None) and slope.shape[0] != x.shape[-1]:
        slope = ctx.reshape(slope, [-1] + [1] * (x.rank - 2))  # opset < 7 files: per channel of NCHW
    neg = ctx.op("core.mul", [x, slope])
    return [ctx.op("core.select", [ctx.op("core.less", [x, ctx.scalar_like(x, 0)]), neg, x])]


@onnx_op("HardSigmoid", inputs=1)
def _hard_sigmoid(ctx, node, inputs):
    x = inputs[0]
    y = ctx.op("core.add", [ctx.op("core.mul", [x, ctx.scalar_like(x, node.attr_float("alpha", 0.2))]),
                            ctx.scalar_like(x, node.attr_float("beta", 0.5))])
    return [ctx.op("core.minimum", [ctx.op("core.relu", [y]), ctx.scalar_like(x, 1)])]


@onnx_op("Softsign", inputs=1)
def _softsign(ctx, node, inputs):
    x = inputs[0]
    return [ctx.op("core.div", [x, ctx.op("core.add", [ctx.op("core.abs", [x]), ctx.scalar_like(x, 1)])])]


@onnx_op("Mish", inputs=1)
def _mish(ctx, node, inputs):
    """x * tanh(softplus(x)) = x * n / (n + 2) with n = e^x (e^x + 2): exact for negative x, where
    log(1 + e^x) loses the small values; x is capped at 20, where the ratio is 1 in float32."""
    x = inputs[0]
    e = ctx.op("core.exp", [ctx.op("core.minimum", [x, ctx.scalar_like(x, 20)])])
    n = ctx.op("core.mul", [e, ctx.op("core.add", [e, ctx.scalar_like(x, 2)])])
    ratio = ctx.op("core.div", [n, ctx.op("core.add", [n, ctx.scalar_like(x, 2)])])
    return [ctx.op("core.mul", [x, ratio])]


@onnx_op("Softplus", inputs=1)
def _softplus(ctx, node, inputs):
    """max(x, 0) + log1p(e^-|x|), with log1p(u) = u log(1 + u) / ((1 + u) - 1) (Kahan): TFLite's LOG of
    1 + u loses a tiny u, which is all of softplus for very negative x."""
    x = inputs[0]
    if not x.dtype.is_float:
        return [ctx.op("core.softplus", [x])]
    one = ctx.scalar_like(x, 1)
    u = ctx.op("core.exp", [ctx.op("core.neg", [ctx.op("core.abs", [x])])])
    w = ctx.op("core.add", [u, one])
    dw = ctx.op("core.sub", [w, one])
    exact = ctx.op("core.equal", [dw, ctx.scalar_like(x, 0)])
    safe = ctx.op("core.select", [exact, one, dw])
    log1p = ctx.op("core.div", [ctx.op("core.mul", [u, ctx.op("core.log", [w])]), safe])
    return [ctx.op("core.add", [ctx.op("core.relu", [x]), ctx.op("core.select", [exact, u, log1p])])]


@onnx_op("Swish", inputs=1)
def _swish(ctx, node, inputs):
    x = inputs[0]
    alpha = node.attr_float("alpha", 1.0)
    ax = x if alpha == 1.0 else ctx.op("core.mul", [x, ctx.scalar_like(x, alpha)])
    return [ctx.op("core.mul", [x, ctx.op("core.sigmoid", [ax])])]


@onnx_op("SwiGLU", inputs=2)
def _swiglu(ctx, node, inputs):
    a, b = inputs
    alpha = node.attr_float("alpha", 1.0)
    aa = a if alpha == 1.0 else ctx.op("core.mul", [a, ctx.scalar_like(a, alpha)])
    return [ctx.op("core.mul", [ctx.op("core.mul", [a, ctx.op("core.sigmoid", [aa])]), b])]


# Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): TFLite has no ERF builtin.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(ctx, x):
    """erf from exp and arithmetic, so it lowers to TFLite builtins (1.5e-7 absolute error)."""
    a = ctx.op("core.abs", [x])
    t = ctx.op("core.reciprocal", [ctx.op("core.add", [ctx.op("core.mul", [a, ctx.scalar_like(x, _ERF_P)]),
                                                       ctx.scalar_like(x, 1)])])
    poly = ctx.scalar_like(x, _ERF_A[-1])
    for c in reversed(_ERF_A[:-1]):
        poly = ctx.op("core.add", [ctx.op("core.mul", [poly, t]), ctx.scalar_like(x, c)])
    poly = ctx.op("core.mul", [poly, t])
    e = ctx.op("core.exp", [ctx.op("core.neg", [ctx.op("core.square", [x])])])
    y = ctx.op("core.sub", [ctx.scalar_like(x, 1), ctx.op("core.mul", [poly, e])])
    return ctx.op("core.mul", [y, ctx.op("core.sign", [x])])


@onnx_op("Erf", inputs=1)
def _erf(ctx, node, inputs):
    x = inputs[0]
    if not x.dtype.is_float:
        raise Unsupported("integer Erf")
    return [erf(ctx, x)]


def _atan_coefficients(degree: int = 21):
    """Odd polynomial for atan on [-1, 1], least squares on Chebyshev nodes (error ~1e-9)."""
    k = np.arange(4001)
    t = np.cos(np.pi * (k + 0.5) / len(k))
    powers = np.stack([t ** (2 * i + 1) for i in range((degree + 1) // 2)], axis=1)
    coef, *_ = np.linalg.lstsq(powers, np.arctan(t), rcond=None)
    return [float(c) for c in coef]


_ATAN = _atan_coefficients()


def atan(ctx, x):
    """atan with |x| > 1 reduced through atan(x) = sign(x) pi/2 - atan(1/x)."""
    a = ctx.op("core.abs", [x])
    big = ctx.op("core.greater", [a, ctx.scalar_like(x, 1)])
    safe = ctx.op("core.select", [big, a, ctx.scalar_like(x, 1)])
    r = ctx.op("core.select", [big, ctx.op("core.reciprocal", [safe]), a])
    r2 = ctx.op("core.square", [r])
    poly = ctx.scalar_like(x, _ATAN[-1])
    for c in reversed(_ATAN[:-1]):
        poly = ctx.op("core.add", [ctx.op("core.mul", [poly, r2]), ctx.scalar_like(x, c)])
    p = ctx.op("core.mul", [poly, r])
    p = ctx.op("core.select", [big, ctx.op("core.sub", [ctx.scalar_like(x, np.pi / 2), p]), p])
    return ctx.op("core.mul", [p, ctx.op("core.sign", [x])])


def asin(ctx, x):
    one = ctx.scalar_like(x, 1)
    root = ctx.op("core.sqrt", [ctx.op("core.sub", [one, ctx.op("core.square", [x])])])
    return atan(ctx, ctx.op("core.div", [x, root]))


@onnx_op("Atan", inputs=1)
def _atan(ctx, node, inputs):
    return [atan(ctx, inputs[0])]


@onnx_op("Asin", inputs=1)
def _asin(ctx, node, inputs):
    return [asin(ctx, inputs[0])]


@onnx_op("Acos", inputs=1)
def _acos(ctx, node, inputs):
    x = inputs[0]
    return [ctx.op("core.sub", [ctx.scalar_like(x, np.pi / 2), asin(ctx, x)])]


@onnx_op("Gelu", inputs=1)
def _gelu(ctx, node, inputs):
    approx = node.attr_str("approximate", "none")
    if approx not in ("none", "tanh"):
        raise Unsupported(f"approximate={approx}")
    return [ctx.op("core.gelu", inputs, {"approximate": approx == "tanh"})]


@onnx_op("Shrink", inputs=1)
def _shrink(ctx, node, inputs):
    x = inputs[0]
    lambd, bias = node.attr_float("lambd", 0.5), node.attr_float("bias", 0.0)
    lo = ctx.op("core.less", [x, ctx.scalar_like(x, -lambd)])
    hi = ctx.op("core.greater", [x, ctx.scalar_like(x, lambd)])
    zero = ctx.scalar_like(x, 0)
    y = ctx.op("core.select", [hi, ctx.op("core.sub", [x, ctx.scalar_like(x, bias)]), zero])
    return [ctx.op("core.select", [lo, ctx.op("core.add", [x, ctx.scalar_like(x, bias)]), y])]


@onnx_op("Clip", inputs=(1, 3))
def _clip(ctx, node, inputs):
    x = inputs[0]
    if node.opset < 11:
        lo, hi = node.attr_float("min", -np.inf), node.attr_float("max", np.inf)
        lo_v = ctx.scalar_like(x, lo) if np.isfinite(lo) else None
        hi_v = ctx.scalar_like(x, hi) if np.isfinite(hi) else None
    else:
        lo_v = inputs[1] if len(inputs) > 1 else None
        hi_v = inputs[2] if len(inputs) > 2 else None
        lo, hi = (None if v is None or v.const_value() is None else float(np.asarray(v.const_value()).reshape(-1)[0])
                  for v in (lo_v, hi_v))
    if x.dtype.is_float and lo == 0 and hi == 6:
        return [ctx.op("core.relu6", [x])]
    y = x
    if lo_v is not None:
        y = ctx.op("core.relu", [y]) if lo == 0 and x.dtype.is_float else ctx.op("core.maximum", [y, lo_v])
    if hi_v is not None:
        y = ctx.op("core.minimum", [y, hi_v])
    return [y]


# -- math the core set composes --------------------------------------------------------------


@onnx_op("Tan", inputs=1)
def _tan(ctx, node, inputs):
    x = inputs[0]
    return [ctx.op("core.div", [ctx.op("core.sin", [x]), ctx.op("core.cos", [x])])]


@onnx_op("Sinh", "Cosh", inputs=1)
def _sinh_cosh(ctx, node, inputs):
    x = inputs[0]
    a, b = ctx.op("core.exp", [x]), ctx.op("core.exp", [ctx.op("core.neg", [x])])
    s = ctx.op("core.sub" if node.op == "Sinh" else "core.add", [a, b])
    return [ctx.op("core.mul", [s, ctx.scalar_like(x, 0.5)])]


@onnx_op("Asinh", inputs=1)
def _asinh(ctx, node, inputs):
    x = inputs[0]
    r = ctx.op("core.sqrt", [ctx.op("core.add", [ctx.op("core.square", [x]), ctx.scalar_like(x, 1)])])
    return [ctx.op("core.log", [ctx.op("core.add", [x, r])])]


@onnx_op("Acosh", inputs=1)
def _acosh(ctx, node, inputs):
    x = inputs[0]
    r = ctx.op("core.sqrt", [ctx.op("core.sub", [ctx.op("core.square", [x]), ctx.scalar_like(x, 1)])])
    return [ctx.op("core.log", [ctx.op("core.add", [x, r])])]


@onnx_op("Atanh", inputs=1)
def _atanh(ctx, node, inputs):
    x = inputs[0]
    one = ctx.scalar_like(x, 1)
    q = ctx.op("core.div", [ctx.op("core.add", [one, x]), ctx.op("core.sub", [one, x])])
    return [ctx.op("core.mul", [ctx.op("core.log", [q]), ctx.scalar_like(x, 0.5)])]


@onnx_op("IsNaN", inputs=1)
def _is_nan(ctx, node, inputs):
    x = inputs[0]
    return [ctx.op("core.not_equal", [x, x])]


@onnx_op("IsInf", inputs=1)
def _is_inf(ctx, node, inputs):
    x = inputs[0]
    pos, neg = node.attr_int("detect_positive", 1), node.attr_int("detect_negative", 1)
    if pos and neg:
        return [ctx.op("core.equal", [ctx.op("core.abs", [x]), ctx.scalar_like(x, np.inf)])]
    if pos:
        return [ctx.op("core.equal", [x, ctx.scalar_like(x, np.inf)])]
    if neg:
        return [ctx.op("core.equal", [x, ctx.scalar_like(x, -np.inf)])]
    return [ctx.op("core.not_equal", [x, x])] if False else [ctx.op("core.less", [x, x])]
