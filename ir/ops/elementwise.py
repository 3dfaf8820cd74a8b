"""Elementwise ops: unary math, binary arithmetic, comparisons, logic, cast, select.

Kernels follow TensorFlow's semantics (integer ``div`` truncates, ``floor_mod``
takes the divisor's sign, ``round`` is half to even) and, like TF, never warn
about inf/nan: overflow and division by zero produce IEEE results silently.
Binary arithmetic returns x's dtype, the dtype its inference declares.
"""
from __future__ import annotations

import math

import numpy as np

from ..dtypes import DType
from ..registry import Attr, defop
from ..traits import COMMUTATIVE, ELEMENTWISE, PRODUCT
from ..types import TensorType
from ._common import broadcast_shapes, float_same_type, np_dtype, require_numeric, same_type


def _quiet(fn):
    """Run ``fn`` with numpy floating-point warnings off (TF produces inf/nan silently)."""

    def kernel(*args, **kw):
        with np.errstate(all="ignore"):
            return fn(*args, **kw)

    kernel.__doc__ = fn.__doc__
    return kernel


# -- unary --------------------------------------------------------------------


def _infer_bool_unary(ctx):
    t = ctx.types[0]
    if t.dtype is not DType.BOOL:
        ctx.fail(f"expects a bool operand, got {t.dtype}")
    return [TensorType(DType.BOOL, t.shape)]


def _numeric_same_type(ctx):
    require_numeric(ctx, ctx.types[0].dtype)
    return same_type(ctx)


def _unary(name, fn, doc, attrs=None, infer=_numeric_same_type):
    """Declare ``core.<name>``: one operand, result of the same type."""
    return defop(f"core.{name}", doc=doc, operands=["x"], attrs=attrs, infer=infer, kernel=_quiet(fn),
                 category="elementwise unary", traits=[ELEMENTWISE])


def _erf(x):
    return np.asarray(np.frompyfunc(math.erf, 1, 1)(np.asarray(x, np.float64)), np.float64)


def _erfc(x):
    return np.asarray(np.frompyfunc(math.erfc, 1, 1)(np.asarray(x, np.float64)), np.float64)


def _gelu(x, approximate=False):
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


def _sigmoid(x):
    return np.exp(-np.logaddexp(np.zeros((), x.dtype), -x))


_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717

_unary("neg", np.negative, "Negation, -x.")
_unary("abs", np.abs, "Absolute value.")
_unary("sqrt", np.sqrt, "Square root (nan for negative inputs).", infer=float_same_type)
_unary("rsqrt", lambda x: 1 / np.sqrt(x), "Reciprocal square root, 1/sqrt(x).", infer=float_same_type)
_unary("exp", np.exp, "Natural exponential.", infer=float_same_type)
_unary("log", np.log, "Natural logarithm.", infer=float_same_type)
_unary("sin", np.sin, "Sine.", infer=float_same_type)
_unary("cos", np.cos, "Cosine.", infer=float_same_type)
_unary("tan", np.tan, "Tangent.", infer=float_same_type)
_unary("atan", np.arctan, "Arctangent, in (-pi/2, pi/2).", infer=float_same_type)
_unary("tanh", np.tanh, "Hyperbolic tangent.", infer=float_same_type)
_unary("sigmoid", _sigmoid, "Logistic function 1/(1+exp(-x)), computed without overflow.", infer=float_same_type)
_unary("relu", lambda x: np.maximum(x, np.zeros((), x.dtype)), "max(x, 0).")
_unary("relu6", lambda x: np.minimum(np.maximum(x, np.zeros((), x.dtype)), np.asarray(6, x.dtype)), "min(max(x, 0), 6).")
_unary("elu", lambda x: np.where(x > 0, x, np.expm1(x)), "x if x > 0 else exp(x) - 1.", infer=float_same_type)
_unary("selu", lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(x)), "Scaled ELU with TF's fixed scale and alpha.", infer=float_same_type)
_unary(
    "gelu",
    _gelu,
    "Gaussian error linear unit: x * Phi(x), or its tanh approximation when `approximate`.",
    attrs={"approximate": Attr("bool", False, "use the tanh approximation")},
    infer=float_same_type,
)
_unary(
    "leaky_relu",
    lambda x, alpha=0.2: np.where(x > 0, x, x * np.asarray(alpha, x.dtype)),
    "x if x > 0 else alpha * x.",
    attrs={"alpha": Attr("float", 0.2, "slope for negative inputs")},
    infer=float_same_type,
)
_unary("floor", np.floor, "Round toward -inf.", infer=float_same_type)
_unary("ceil", np.ceil, "Round toward +inf.", infer=float_same_type)
_unary("round", np.round, "Round half to even (banker's rounding), like TF Round.")
_unary("square", np.square, "x * x.")
_unary("sign", np.sign, "-1, 0 or 1 by the sign of x (nan stays nan).")
_unary("reciprocal", np.reciprocal, "1/x.")
_unary("softplus", lambda x: np.logaddexp(np.zeros((), x.dtype), x), "log(1 + exp(x)), computed without overflow.", infer=float_same_type)
_unary("hard_swish", lambda x: x * np.clip(x + 3, 0, 6) / 6, "x * relu6(x + 3) / 6.", infer=float_same_type)
_unary("erf", lambda x: _erf(x).astype(x.dtype), "Gauss error function.", infer=float_same_type)
_unary("erfc", lambda x: _erfc(x).astype(x.dtype), "Complementary error function 1 - erf(x), accurate where erf(x) is near 1.", infer=float_same_type)
_unary("logical_not", np.logical_not, "Boolean negation.", infer=_infer_bool_unary)
_unary("log1p", np.log1p, "log(1 + x), accurate near 0.", infer=float_same_type)
_unary("expm1", np.expm1, "exp(x) - 1, accurate near 0.", infer=float_same_type)

# The worked example of docs/adding-an-op.md, spelled out without the ``_unary`` helper: this
# declaration (and a lowering) is all a new elementwise op needs.
defop(
    "core.softsign",
    doc="x / (1 + |x|), like TF Softsign.",
    operands=["x"],
    infer=float_same_type,
    kernel=_quiet(lambda x: x / (1 + np.abs(x))),
    category="elementwise unary",
    traits=[ELEMENTWISE],
)


def _cast(x, dtype):
    return np.asarray(x).astype(np_dtype(dtype))


defop(
    "core.cast",
    doc="""Convert to another element type. Float to int truncates toward zero,
    anything to bool is ``x != 0``, like TF Cast.""",
    operands=["x"],
    attrs={"dtype": Attr("dtype", doc="the result element type")},
    infer=lambda ctx: [TensorType(ctx.attrs["dtype"], ctx.types[0].shape)],
    kernel=_quiet(_cast),
    category="elementwise unary",
    traits=[ELEMENTWISE],
)


# -- binary -------------------------------------------------------------------


def _same_dtype(ctx):
    """Binary ops compute in one dtype, as TF's ``T`` and TFLite's kernels do: a mix is a malformed graph."""
    a, b = ctx.types[0].dtype, ctx.types[1].dtype
    if a is not b:
        ctx.fail(f"operands have different dtypes ({a} and {b})")


def _infer_arith(ctx):
    _same_dtype(ctx)
    if ctx.types[0].dtype is DType.BOOL:
        ctx.fail("expects numeric operands, got bool (use logical_and/logical_or)")
    return [TensorType(ctx.types[0].dtype, broadcast_shapes(ctx, ctx.types[0].shape, ctx.types[1].shape))]


def _infer_compare(ctx):
    _same_dtype(ctx)
    return [TensorType(DType.BOOL, broadcast_shapes(ctx, ctx.types[0].shape, ctx.types[1].shape))]


def _infer_logical(ctx):
    for t in ctx.types:
        if t.dtype is not DType.BOOL:
            ctx.fail(f"expects bool operands, got {t.dtype}")
    return _infer_compare(ctx)


def _keep_x_dtype(fn):
    def kernel(x, y):
        return np.asarray(fn(x, y)).astype(np.asarray(x).dtype, copy=False)

    return kernel


def _binary(name, fn, doc, category="elementwise binary", infer=_infer_arith, traits=()):
    """Declare ``core.<name>``: two broadcasting operands."""
    kernel = _keep_x_dtype(fn) if infer is _infer_arith else fn
    return defop(f"core.{name}", doc=doc, operands=["x", "y"], infer=infer, kernel=_quiet(kernel), category=category,
                 traits=[ELEMENTWISE, *traits])


def _is_int(x) -> bool:
    return np.asarray(x).dtype.kind in "iu"


def _div(x, y):
    if _is_int(x):
        q = np.abs(x) // np.abs(y)
        return np.where((x < 0) != (y < 0), -q, q)
    return np.true_divide(x, y)


def _floor_div(x, y):
    return np.floor_divide(x, y) if _is_int(x) else np.floor(x / y)


def _floor_mod(x, y):
    if _is_int(x):
        return np.mod(x, y)
    r = np.fmod(x, y)
    return np.where((r != 0) & ((y < 0) != (r < 0)), r + y, r)


_binary("add", np.add, "x + y (strings concatenate).", traits=[COMMUTATIVE])
_binary("sub", np.subtract, "x - y.")
_binary("mul", np.multiply, "x * y.", traits=[COMMUTATIVE, PRODUCT])
_binary("div", _div, "x / y: true division for floats, truncation toward zero for integers (TF Div).")
_binary("floor_div", _floor_div, "floor(x / y).")
_binary("floor_mod", _floor_mod, "x - floor(x / y) * y: the result takes the sign of y.")
_binary("maximum", np.maximum, "Elementwise max (nan propagates).", traits=[COMMUTATIVE])
_binary("minimum", np.minimum, "Elementwise min (nan propagates).", traits=[COMMUTATIVE])
_binary("pow", np.power, "x ** y.")
_binary("squared_difference", lambda x, y: np.square(np.subtract(x, y)), "(x - y) ** 2.", traits=[COMMUTATIVE])

defop(
    "core.atan2",
    doc="Angle of the point (x, y) in [-pi, pi], numpy ``arctan2(y, x)``; the ordinate comes first, as in TF Atan2.",
    operands=["y", "x"],
    infer=_infer_arith,
    kernel=_quiet(_keep_x_dtype(np.arctan2)),
    category="elementwise binary",
    traits=[ELEMENTWISE],
)



def _infer_bitwise(ctx):
    for t in ctx.types:
        if t.dtype not in (DType.INT8, DType.INT16, DType.INT32, DType.UINT8, DType.INT64):
            ctx.fail(f"expects integer operands, got {t.dtype}")
    if ctx.types[0].dtype is not ctx.types[1].dtype:
        ctx.fail(f"operand dtypes differ: {ctx.types[0].dtype} and {ctx.types[1].dtype}")
    return _infer_arith(ctx)


_binary("bitwise_xor", np.bitwise_xor, "x ^ y, bit by bit (integers).", infer=_infer_bitwise, traits=[COMMUTATIVE])
_binary("right_shift", np.right_shift, "x >> y: arithmetic for signed integers, as TF RightShift.", infer=_infer_bitwise)

_binary("equal", np.equal, "x == y.", "comparison", _infer_compare, [COMMUTATIVE])
_binary("not_equal", np.not_equal, "x != y.", "comparison", _infer_compare, [COMMUTATIVE])
_binary("less", np.less, "x < y.", "comparison", _infer_compare)
_binary("less_equal", np.less_equal, "x <= y.", "comparison", _infer_compare)
_binary("greater", np.greater, "x > y.", "comparison", _infer_compare)
_binary("greater_equal", np.greater_equal, "x >= y.", "comparison", _infer_compare)

_binary("logical_and", np.logical_and, "Boolean and.", "comparison", _infer_logical, [COMMUTATIVE])
_binary("logical_or", np.logical_or, "Boolean or.", "comparison", _infer_logical, [COMMUTATIVE])


def _infer_select(ctx):
    cond, x, y = ctx.types
    if cond.dtype is not DType.BOOL:
        ctx.fail(f"condition must be bool, got {cond.dtype}")
    return [TensorType(x.dtype, broadcast_shapes(ctx, cond.shape, x.shape, y.shape))]


defop(
    "core.select",
    doc="Picks x where cond holds, else y; all three broadcast (TF SelectV2, numpy where).",
    operands=["cond", "x", "y"],
    infer=_infer_select,
    kernel=lambda cond, x, y: np.where(cond, x, y).astype(np.asarray(x).dtype, copy=False),
    category="elementwise binary",
    traits=[ELEMENTWISE],
)


# -- fake quantization --------------------------------------------------------------------------


def fake_quant_params(min_value: float, max_value: float, num_bits: int = 8, narrow_range: bool = False):
    """TF's nudged (scale, zero_point, nudged_min, nudged_max): the zero point is moved to an integer,
    so that 0.0 is exactly representable, as TF FakeQuantWithMinMax* do."""
    quant_min, quant_max = (1 if narrow_range else 0), (1 << num_bits) - 1
    scale = (float(max_value) - float(min_value)) / (quant_max - quant_min)
    zero_point_from_min = quant_min - float(min_value) / scale
    zero_point = quant_min if zero_point_from_min < quant_min else quant_max if zero_point_from_min > quant_max \
        else int(np.floor(zero_point_from_min + 0.5))
    return scale, zero_point, (quant_min - zero_point) * scale, (quant_max - zero_point) * scale


def _fake_quant(x, min=-6.0, max=6.0, num_bits=8, narrow_range=False):
    x = np.asarray(x)
    scale, _, lo, hi = fake_quant_params(min, max, num_bits, narrow_range)
    clamped = np.clip(x.astype(np.float32), np.float32(lo), np.float32(hi))
    return (np.floor((clamped - np.float32(lo)) / np.float32(scale) + np.float32(0.5)) * np.float32(scale)
            + np.float32(lo)).astype(x.dtype)


def _infer_fake_quant(ctx):
    a = ctx.attrs
    if not a["min"] < a["max"]:
        ctx.fail(f"min {a['min']} must be below max {a['max']}")
    if not 2 <= a["num_bits"] <= 16:
        ctx.fail(f"num_bits must be 2..16, got {a['num_bits']}")
    return float_same_type(ctx)  # TF's FakeQuant takes floats (a bool one broke lower-tflite: difftest)


defop(
    "core.fake_quant",
    doc="""TF FakeQuantWithMinMaxArgs/Vars: x clamped to the nudged [min, max] and rounded to one of
    2^num_bits levels (num_bits - 1 with narrow_range), still float.""",
    operands=["x"],
    attrs={"min": Attr("float", -6.0, "range minimum"), "max": Attr("float", 6.0, "range maximum"),
           "num_bits": Attr("int", 8, "bits of the quantized grid"),
           "narrow_range": Attr("bool", False, "drop the lowest level")},
    infer=_infer_fake_quant,
    kernel=_fake_quant,
    category="elementwise unary",
    traits=[ELEMENTWISE],
)
