"""Lowerings of elementwise core ops (unary, binary, compare, select, cast).

Most map 1:1 to a TFLite builtin with the same operands (one `same_operands` line each); a few without a
builtin are composed from builtins (reciprocal, softplus, softsign, selu, log1p, expm1,
atan as ATAN2(x, 1), tan as SIN / COS after reducing by k * pi/2, int64 abs as MAXIMUM(x, NEG x)); 8-bit integer
comparisons run in int32.
"""
from __future__ import annotations

import numpy as np

from litesmith.ir.dtypes import DType
from litesmith.ir.registry import get_op

from .legalize import UNSUPPORTED_ATTR
from .lower import cast_attrs, lowers

ACT_NONE = {"fused_activation_function": "NONE"}


NARROW_INTS = (DType.UINT8, DType.INT8, DType.INT16)


def same_operands(core_op: str, tfl_op: str, ints_8bit_as_i32: bool = False, narrow_ints_wrap: bool = False):
    """Lower ``core_op`` to ``tfl_op`` on the same operands: the lowering of an elementwise op with a
    TFLite builtin of the same meaning. A fused activation, when ``tfl_op`` declares one, is NONE.
    ``ints_8bit_as_i32``: u8/i8 and bool operands are cast to i32 first (LiteRT compares 8-bit ints
    only as quantized tensors and aborted the process on a scale of 0, an NNSmith finding; its
    ordered comparisons have no bool kernel, a difftest finding).
    ``narrow_ints_wrap``: u8/i8/i16 arithmetic runs in i32 and is cast back, wrapping as TF does
    (LiteRT's ADD/SUB/MUL take these only as quantized tensors and aborted the process on a scale of 0:
    NNSmith s12/0024, s13/0105)."""

    def lower(node, lw):
        inputs = list(node.inputs)
        if narrow_ints_wrap and inputs[0].dtype in NARROW_INTS:
            wide = [lw.op("tfl.cast", [v], cast_attrs(v.dtype, DType.INT32), [v.type.with_dtype(DType.INT32)])
                    for v in inputs]
            out = node.output.type
            y = lw.op(tfl_op, wide, dict(ACT_NONE), [out.with_dtype(DType.INT32)])
            return [lw.op("tfl.cast", [y], cast_attrs(DType.INT32, out.dtype), [out])]
        if ints_8bit_as_i32 and inputs[0].dtype in (DType.UINT8, DType.INT8, DType.BOOL):
            inputs = [lw.op("tfl.cast", [v], cast_attrs(v.dtype, DType.INT32), [v.type.with_dtype(DType.INT32)])
                      for v in inputs]
        takes_activation = "fused_activation_function" in get_op(tfl_op).attrs
        return [lw.op(tfl_op, inputs, dict(ACT_NONE) if takes_activation else {})]

    lower.keeps_unknown_dims = True  # reads no dim: an unknown one stays unknown (dynamic_dims.py)
    lower.__name__ = f"lower_{core_op.split('.', 1)[1]}"
    lower.__doc__ = f"{core_op} -> {tfl_op}"
    return lowers(core_op)(lower)


def comparison(core_op: str, tfl_op: str):
    """A comparison: ``same_operands`` with 8-bit integer and bool operands compared in int32."""
    return same_operands(core_op, tfl_op, ints_8bit_as_i32=True)


same_operands("core.neg", "tfl.neg")
same_operands("core.sqrt", "tfl.sqrt")
same_operands("core.rsqrt", "tfl.rsqrt")
same_operands("core.exp", "tfl.exp")
same_operands("core.log", "tfl.log")
same_operands("core.sin", "tfl.sin")
same_operands("core.cos", "tfl.cos")
same_operands("core.tanh", "tfl.tanh")
same_operands("core.sigmoid", "tfl.logistic")
same_operands("core.elu", "tfl.elu")
same_operands("core.floor", "tfl.floor")
same_operands("core.ceil", "tfl.ceil")
same_operands("core.round", "tfl.round")
same_operands("core.square", "tfl.square")
same_operands("core.sign", "tfl.sign")
same_operands("core.hard_swish", "tfl.hard_swish")
same_operands("core.logical_not", "tfl.logical_not")
same_operands("core.add", "tfl.add", narrow_ints_wrap=True)
same_operands("core.sub", "tfl.sub", narrow_ints_wrap=True)
same_operands("core.mul", "tfl.mul", narrow_ints_wrap=True)
same_operands("core.div", "tfl.div")
same_operands("core.floor_div", "tfl.floor_div")
same_operands("core.floor_mod", "tfl.floor_mod")
same_operands("core.maximum", "tfl.maximum")
same_operands("core.minimum", "tfl.minimum")
same_operands("core.pow", "tfl.pow")
same_operands("core.squared_difference", "tfl.squared_difference")
comparison("core.equal", "tfl.equal")
comparison("core.not_equal", "tfl.not_equal")
comparison("core.less", "tfl.less")
comparison("core.less_equal", "tfl.less_equal")
comparison("core.greater", "tfl.greater")
comparison("core.greater_equal", "tfl.greater_equal")
same_operands("core.logical_and", "tfl.logical_and")
same_operands("core.logical_or", "tfl.logical_or")
same_operands("core.select", "tfl.select_v2")


@lowers("core.abs")
def lower_abs(node, lw):
    """ABS has no int64 kernel in LiteRT (it refuses the file); max(x, -x) is exact there, INT64_MIN included."""
    (x,) = node.inputs
    if x.dtype is DType.INT64:
        return [lw.op("tfl.maximum", [x, lw.op("tfl.neg", [x])])]
    return [lw.op("tfl.abs", [x])]


lower_abs.keeps_unknown_dims = True


@lowers("core.relu", "core.relu6")
def lower_relu(node, lw):
    """RELU and RELU6 take floats and 8/16-bit ints in LiteRT; wider ints (an i64 RELU6 was refused,
    a difftest finding) are MAXIMUM with 0 (and MINIMUM with 6), exact there."""
    (x,) = node.inputs
    op = "tfl." + node.op[5:]
    if x.dtype not in (DType.INT32, DType.INT64):
        return [lw.op(op, [x])]
    y = lw.op("tfl.maximum", [x, _scalar(lw, 0, x)]) if node.op == "core.relu" else \
        _same(lw, "tfl.maximum", [x, _scalar(lw, 0, x)], x)
    return [y] if node.op == "core.relu" else [lw.op("tfl.minimum", [y, _scalar(lw, 6, x)])]


lower_relu.keeps_unknown_dims = True


@lowers("core.gelu")
def lower_gelu(node, lw):
    return [lw.op("tfl.gelu", node.inputs, {"approximate": node.attr("approximate")})]


@lowers("core.leaky_relu")
def lower_leaky_relu(node, lw):
    return [lw.op("tfl.leaky_relu", node.inputs, {"alpha": node.attr("alpha")})]


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


@lowers("core.softsign")
def lower_softsign(node, lw):
    """x / (1 + |x|): TFLite has no SOFTSIGN builtin."""
    (x,) = node.inputs
    denominator = _same(lw, "tfl.add", [_same(lw, "tfl.abs", [x], x), _scalar(lw, 1, x)], x, ACT_NONE)
    return [lw.op("tfl.div", [x, denominator], dict(ACT_NONE))]


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


# pi/2 in three parts (Cody-Waite, as Cephes' tanf): k * PIO2_1 and k * PIO2_2 are exact for |k| < 2^12
PIO2_1, PIO2_2, PIO2_3 = 1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8


@lowers("core.tan")
def lower_tan(node, lw):
    """tan(x) from r = x - k*pi/2, |r| <= pi/4 (k = ROUND(x * 2/pi), pi/2 in three parts): SIN(r) / COS(r)
    for even k, -COS(r) / SIN(r) for odd k. SIN(x) / COS(x) alone is off near a pole: LiteRT's default
    XNNPACK delegate computes SIN and COS to ~2e-7 absolute, i.e. 2e-7 / |cos x| relative in tan; the
    reduced r keeps its relative accuracy down to the pole."""
    (x,) = node.inputs

    def op(name, *args):
        return _same(lw, name, list(args), x, dict(ACT_NONE) if name in ("tfl.mul", "tfl.sub", "tfl.div") else None)

    k = op("tfl.round", op("tfl.mul", x, _scalar(lw, 2 / np.pi, x)))
    r = x
    for part in (PIO2_1, PIO2_2, PIO2_3):
        r = op("tfl.sub", r, op("tfl.mul", k, _scalar(lw, part, x)))
    sin, cos = op("tfl.sin", r), op("tfl.cos", r)
    odd = lw.op("tfl.not_equal", [op("tfl.floor_mod", k, _scalar(lw, 2, x)), _scalar(lw, 0, x)], {},
                [x.type.with_dtype(DType.BOOL)])
    return [lw.op("tfl.select_v2", [odd, op("tfl.neg", op("tfl.div", cos, sin)), op("tfl.div", sin, cos)])]


@lowers("core.fake_quant")
def lower_fake_quant(node, lw):
    """QUANTIZE to uint8 with TF's nudged scale and zero point, then DEQUANTIZE, as TF's converter does.
    Only the 8-bit full range fits uint8 storage exactly."""
    from litesmith.ir.ops.elementwise import fake_quant_params
    from litesmith.ir.types import QuantParams, TensorType

    a = node.attrs
    if int(a.get("num_bits", 8)) != 8 or a.get("narrow_range", False):
        lw.fail(UNSUPPORTED_ATTR, f"fake_quant with num_bits={a.get('num_bits')} narrow_range={a.get('narrow_range')} "
                                  "(QUANTIZE/DEQUANTIZE take the 8-bit full range)")
    (x,) = node.inputs
    scale, zero_point, _, _ = fake_quant_params(a.get("min", -6.0), a.get("max", 6.0))
    q = lw.op("tfl.quantize", [x], {}, [TensorType(DType.UINT8, x.shape, QuantParams(scale, zero_point))])
    return [lw.op("tfl.dequantize", [q])]
