"""Elementwise ops vs TensorFlow: values, dtypes and inferred shapes."""
from __future__ import annotations

import numpy as np
import pytest

from test_ops_common import check_op, infer_shape, rng

from litesmith.ir import DType, IRError, TensorType
from litesmith.ir.registry import InferError

F32, I32 = np.float32, np.int32

# op -> (TF function of x, input domain)
UNARY = {
    "neg": (lambda tf, x: tf.raw_ops.Neg(x=x), "any"),
    "abs": (lambda tf, x: tf.raw_ops.Abs(x=x), "any"),
    "sqrt": (lambda tf, x: tf.raw_ops.Sqrt(x=x), "positive"),
    "rsqrt": (lambda tf, x: tf.raw_ops.Rsqrt(x=x), "positive"),
    "exp": (lambda tf, x: tf.raw_ops.Exp(x=x), "any"),
    "log": (lambda tf, x: tf.raw_ops.Log(x=x), "positive"),
    "sin": (lambda tf, x: tf.raw_ops.Sin(x=x), "any"),
    "cos": (lambda tf, x: tf.raw_ops.Cos(x=x), "any"),
    "tan": (lambda tf, x: tf.raw_ops.Tan(x=x), "any"),
    "atan": (lambda tf, x: tf.raw_ops.Atan(x=x), "wide"),
    "tanh": (lambda tf, x: tf.raw_ops.Tanh(x=x), "any"),
    "sigmoid": (lambda tf, x: tf.raw_ops.Sigmoid(x=x), "wide"),
    "relu": (lambda tf, x: tf.raw_ops.Relu(features=x), "any"),
    "relu6": (lambda tf, x: tf.raw_ops.Relu6(features=x), "wide"),
    "elu": (lambda tf, x: tf.raw_ops.Elu(features=x), "any"),
    "selu": (lambda tf, x: tf.raw_ops.Selu(features=x), "any"),
    "gelu": (lambda tf, x: tf.nn.gelu(x, approximate=False), "any"),
    "leaky_relu": (lambda tf, x: tf.raw_ops.LeakyRelu(features=x, alpha=0.2), "any"),
    "floor": (lambda tf, x: tf.raw_ops.Floor(x=x), "halves"),
    "ceil": (lambda tf, x: tf.raw_ops.Ceil(x=x), "halves"),
    "round": (lambda tf, x: tf.raw_ops.Round(x=x), "halves"),
    "square": (lambda tf, x: tf.raw_ops.Square(x=x), "any"),
    "sign": (lambda tf, x: tf.raw_ops.Sign(x=x), "halves"),
    "reciprocal": (lambda tf, x: tf.raw_ops.Reciprocal(x=x), "positive"),
    "softplus": (lambda tf, x: tf.raw_ops.Softplus(features=x), "wide"),
    "hard_swish": (lambda tf, x: x * tf.nn.relu6(x + 3) / 6, "wide"),
    "erf": (lambda tf, x: tf.raw_ops.Erf(x=x), "any"),
    "erfc": (lambda tf, x: tf.raw_ops.Erfc(x=x), "any"),
    "log1p": (lambda tf, x: tf.raw_ops.Log1p(x=x), "positive"),
    "expm1": (lambda tf, x: tf.raw_ops.Expm1(x=x), "any"),
    "softsign": (lambda tf, x: tf.raw_ops.Softsign(features=x), "wide"),
}


def _input(domain, shape, seed=0):
    r = rng(seed)
    if domain == "halves":  # exact .5 ties for round / floor / ceil / sign
        x = np.resize(np.array([-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.5, -3.7, 0.2], F32), shape)
    elif domain == "positive":
        x = r.uniform(0.05, 4.0, shape).astype(F32)
    elif domain == "wide":
        x = r.uniform(-30, 30, shape).astype(F32)
    else:
        x = r.uniform(-3, 3, shape).astype(F32)
    return np.asarray(x, F32)


@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_tf(tf, name, shape):
    fn, domain = UNARY[name]
    x = _input(domain, shape)
    check_op(tf, f"core.{name}", [x], {}, fn(tf, tf.constant(x)), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["neg", "abs", "sign", "square"])
def test_unary_on_integers(tf, name):
    x = np.array([[-3, -1, 0], [2, 5, -7]], I32)
    check_op(tf, f"core.{name}", [x], {}, UNARY[name][0](tf, tf.constant(x)))


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_approximate(tf, approximate):
    x = _input("any", (3, 5))
    check_op(tf, "core.gelu", [x], {"approximate": approximate}, tf.nn.gelu(x, approximate=approximate), rtol=2e-5)


@pytest.mark.parametrize("alpha", [0.01, 0.3])
def test_leaky_relu_alpha(tf, alpha):
    x = _input("any", (4, 3))
    check_op(tf, "core.leaky_relu", [x], {"alpha": alpha}, tf.raw_ops.LeakyRelu(features=x, alpha=alpha))


def test_logical_not(tf):
    x = np.array([[True, False], [False, False]])
    check_op(tf, "core.logical_not", [x], {}, tf.raw_ops.LogicalNot(x=x))


CASTS = [
    (np.array([-2.7, -0.5, 0.0, 0.9, 3.99], F32), DType.INT32, "int32"),
    (np.array([-2.7, 0.0, 0.4, 3.0], F32), DType.BOOL, "bool"),
    (np.array([-3, 0, 7], I32), DType.FLOAT32, "float32"),
    (np.array([True, False]), DType.FLOAT32, "float32"),
    (np.array([1.1, 65504.0, 1e-8], F32), DType.FLOAT16, "float16"),
    (np.array([2**40, -5], np.int64), DType.INT32, "int32"),
    (np.array([-1, 300], I32), DType.UINT8, "uint8"),
]


@pytest.mark.parametrize("x,dtype,tf_dtype", CASTS, ids=lambda v: str(v) if isinstance(v, DType) else None)
def test_cast(tf, x, dtype, tf_dtype):
    check_op(tf, "core.cast", [x], {"dtype": dtype}, tf.raw_ops.Cast(x=x, DstT=getattr(tf, tf_dtype)))


# -- binary ---------------------------------------------------------------------

ARITH = {
    "add": lambda tf, x, y: tf.raw_ops.AddV2(x=x, y=y),
    "sub": lambda tf, x, y: tf.raw_ops.Sub(x=x, y=y),
    "mul": lambda tf, x, y: tf.raw_ops.Mul(x=x, y=y),
    "div": lambda tf, x, y: tf.raw_ops.Div(x=x, y=y),
    "floor_div": lambda tf, x, y: tf.raw_ops.FloorDiv(x=x, y=y),
    "floor_mod": lambda tf, x, y: tf.raw_ops.FloorMod(x=x, y=y),
    "maximum": lambda tf, x, y: tf.raw_ops.Maximum(x=x, y=y),
    "minimum": lambda tf, x, y: tf.raw_ops.Minimum(x=x, y=y),
    "pow": lambda tf, x, y: tf.raw_ops.Pow(x=x, y=y),
    "squared_difference": lambda tf, x, y: tf.raw_ops.SquaredDifference(x=x, y=y),
}
COMPARE = {
    "equal": lambda tf, x, y: tf.raw_ops.Equal(x=x, y=y),
    "not_equal": lambda tf, x, y: tf.raw_ops.NotEqual(x=x, y=y),
    "less": lambda tf, x, y: tf.raw_ops.Less(x=x, y=y),
    "less_equal": lambda tf, x, y: tf.raw_ops.LessEqual(x=x, y=y),
    "greater": lambda tf, x, y: tf.raw_ops.Greater(x=x, y=y),
    "greater_equal": lambda tf, x, y: tf.raw_ops.GreaterEqual(x=x, y=y),
}
SHAPE_PAIRS = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1, 4), (3, 1)), ((), (2, 2))]


def _binary_inputs(name, dtype, sx, sy):
    r = rng(1)
    if dtype == I32:
        x = r.integers(-9, 10, sx).astype(I32)
        y = r.integers(1, 5, sy).astype(I32) * np.where(r.random(sy) < 0.5, -1, 1).astype(I32)
        if name == "pow":
            x, y = r.integers(-4, 5, sx).astype(I32), r.integers(0, 4, sy).astype(I32)
    else:
        x = r.uniform(-4, 4, sx).astype(F32)
        y = r.uniform(0.3, 3, sy).astype(F32) * np.where(r.random(sy) < 0.5, -1, 1).astype(F32)
        if name == "pow":
            x = np.abs(x) + F32(0.1)
    return np.asarray(x, dtype), np.asarray(y, dtype)


@pytest.mark.parametrize("sx,sy", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("dtype", [F32, I32], ids=["f32", "i32"])
@pytest.mark.parametrize("name", sorted(ARITH))
def test_arithmetic_matches_tf(tf, name, dtype, sx, sy):
    x, y = _binary_inputs(name, dtype, sx, sy)
    check_op(tf, f"core.{name}", [x, y], {}, ARITH[name](tf, tf.constant(x), tf.constant(y)), rtol=2e-5)


@pytest.mark.parametrize("sy,sx", SHAPE_PAIRS, ids=str)
def test_atan2_matches_tf(tf, sy, sx):
    r = rng(4)
    y, x = r.uniform(-3, 3, sy).astype(F32), r.uniform(-3, 3, sx).astype(F32)
    x.reshape(-1)[:1] = 0  # the y axis itself: +-pi/2
    check_op(tf, "core.atan2", [y, x], {}, tf.raw_ops.Atan2(y=y, x=x), rtol=2e-5)


def test_integer_division_truncates_and_floor_ops_floor(tf):
    x = np.array([7, -7, 7, -7, 0, 6], I32)
    y = np.array([2, 2, -2, -2, 3, -4], I32)
    div = check_op(tf, "core.div", [x, y], {}, tf.raw_ops.Div(x=x, y=y))[0]
    assert div.tolist() == [3, -3, -3, 3, 0, -1]
    check_op(tf, "core.floor_div", [x, y], {}, tf.raw_ops.FloorDiv(x=x, y=y))
    check_op(tf, "core.floor_mod", [x, y], {}, tf.raw_ops.FloorMod(x=x, y=y))
    xf, yf = x.astype(F32) + F32(0.5), y.astype(F32)
    check_op(tf, "core.floor_mod", [xf, yf], {}, tf.raw_ops.FloorMod(x=xf, y=yf))


def test_add_concatenates_strings(tf):
    x = np.array([b"ab", b"c"], dtype=object)
    y = np.array([b"x", b"yz"], dtype=object)
    got = check_op(tf, "core.add", [x, y], {}, tf.raw_ops.Add(x=x, y=y))
    assert list(got[0]) == [b"abx", b"cyz"]


@pytest.mark.parametrize("sx,sy", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("dtype", [F32, I32], ids=["f32", "i32"])
@pytest.mark.parametrize("name", sorted(COMPARE))
def test_comparison_matches_tf(tf, name, dtype, sx, sy):
    r = rng(2)
    x = r.integers(-2, 3, sx).astype(dtype)
    y = r.integers(-2, 3, sy).astype(dtype)
    check_op(tf, f"core.{name}", [x, y], {}, COMPARE[name](tf, tf.constant(x), tf.constant(y)))


@pytest.mark.parametrize("name,tf_op", [("logical_and", "LogicalAnd"), ("logical_or", "LogicalOr")])
def test_logical_binary(tf, name, tf_op):
    x = np.array([[True, False], [True, True]])
    y = np.array([False, True])
    check_op(tf, f"core.{name}", [x, y], {}, getattr(tf.raw_ops, tf_op)(x=x, y=y))


@pytest.mark.parametrize("sc,sx,sy", [((2, 3), (2, 3), (2, 3)), ((3,), (2, 3), ()), ((2, 1), (1, 4), (2, 4))], ids=str)
def test_select_matches_tf_select_v2(tf, sc, sx, sy):
    r = rng(3)
    cond = r.random(sc) < 0.5
    x, y = r.standard_normal(sx).astype(F32), r.standard_normal(sy).astype(F32)
    check_op(tf, "core.select", [cond, x, y], {}, tf.raw_ops.SelectV2(condition=cond, t=x, e=y))


# -- inference on unknown dims, and rejected inputs -----------------------------------------


def test_binary_broadcast_with_unknown_dims():
    t = lambda *s: TensorType(DType.FLOAT32, s)  # noqa: E731
    assert infer_shape("core.add", [t(None, 3), t(3)]) == (None, 3)
    assert infer_shape("core.mul", [t(None, 1), t(1, 5)]) == (None, 5)
    assert infer_shape("core.sub", [t(None, 4), t(1, None)]) == (None, 4)  # ? must be 1 or 4
    assert infer_shape("core.less", [t(2, None), t(None)]) == (2, None)
    assert infer_shape("core.add", [TensorType(DType.FLOAT32, None), t(3)]) is None
    assert infer_shape("core.tanh", [t(None, 7)]) == (None, 7)
    assert infer_shape("core.cast", [t(None, 2)], {"dtype": DType.INT32}) == (None, 2)
    assert infer_shape("core.select", [TensorType(DType.BOOL, (None,)), t(4), t(1)]) == (4,)


def test_incompatible_broadcast_is_rejected():
    t = lambda *s: TensorType(DType.FLOAT32, s)  # noqa: E731
    with pytest.raises(InferError, match="do not broadcast"):
        infer_shape("core.add", [t(2, 3), t(4)])


def test_logical_ops_reject_non_bool():
    with pytest.raises(InferError, match="bool"):
        infer_shape("core.logical_and", [TensorType(DType.FLOAT32, (2,)), TensorType(DType.BOOL, (2,))])


def test_binary_kernel_returns_x_dtype():
    from litesmith.ir import get_op

    x, y = np.array([1, 2], np.int16), np.array([1.5, 2.5], np.float64)
    assert get_op("core.add").kernel(x, y).dtype == np.int16
    assert get_op("core.div").kernel(np.array([1.0], F32), np.array([3.0])).dtype == F32


def test_missing_attribute_is_an_ir_error():
    with pytest.raises(IRError, match="dtype"):
        infer_shape("core.cast", [TensorType(DType.FLOAT32, (2,))])
