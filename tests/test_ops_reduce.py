"""Reductions, arg-max/min, top-k and cumulative ops vs TensorFlow."""
from __future__ import annotations

import numpy as np
import pytest

from test_ops_common import C, check_op, infer_shape, rng

from litesmith.ir import DType, TensorType
from litesmith.ir.registry import InferError

F32, I32 = np.float32, np.int32

REDUCTIONS = {
    "reduce_sum": "Sum",
    "reduce_mean": "Mean",
    "reduce_max": "Max",
    "reduce_min": "Min",
    "reduce_prod": "Prod",
}
AXES = [[0], [1, 2], [-1], [0, 1, 2], []]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", AXES, ids=str)
@pytest.mark.parametrize("dtype", [F32, I32], ids=["f32", "i32"])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_match_tf(tf, name, dtype, axes, keepdims):
    x = rng(0).uniform(-3, 3, (2, 3, 4)).astype(F32) if dtype == F32 else rng(0).integers(-7, 8, (2, 3, 4)).astype(I32)
    if name == "reduce_prod" and dtype == F32:
        x = x / 2
    want = getattr(tf.raw_ops, REDUCTIONS[name])(input=x, axis=np.array(axes, I32), keep_dims=keepdims)
    check_op(tf, f"core.{name}", [x], {"axes": axes, "keepdims": keepdims}, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axes", AXES, ids=str)
@pytest.mark.parametrize("name,tf_op", [("reduce_any", "Any"), ("reduce_all", "All")])
def test_boolean_reductions(tf, name, tf_op, axes):
    x = rng(1).random((2, 3, 4)) < 0.7
    want = getattr(tf.raw_ops, tf_op)(input=x, axis=np.array(axes, I32), keep_dims=False)
    check_op(tf, f"core.{name}", [x], {"axes": axes}, want)


def test_integer_mean_truncates_toward_zero(tf):
    x = np.array([[-3, -4], [3, 4], [-1, 0]], I32)
    got = check_op(tf, "core.reduce_mean", [x], {"axes": [1]}, tf.raw_ops.Mean(input=x, axis=[1]))[0]
    assert got.tolist() == [-3, 3, 0]


def test_reduce_inference_with_unknown_dims():
    t = TensorType(DType.FLOAT32, (None, 3, None))
    assert infer_shape("core.reduce_sum", [t], {"axes": [1]}) == (None, None)
    assert infer_shape("core.reduce_max", [t], {"axes": [-1], "keepdims": True}) == (None, 3, 1)
    assert infer_shape("core.argmax", [t], {"axis": 0}) == (3, None)
    with pytest.raises(InferError, match="out of range"):
        infer_shape("core.reduce_sum", [t], {"axes": [3]})


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("output_type", [DType.INT32, DType.INT64])
@pytest.mark.parametrize("name,tf_op", [("argmax", "ArgMax"), ("argmin", "ArgMin")])
def test_argmax_argmin(tf, name, tf_op, axis, output_type):
    x = rng(2).integers(-3, 3, (3, 4, 5)).astype(F32)  # many ties: the first index wins
    tf_type = tf.int32 if output_type is DType.INT32 else tf.int64
    want = getattr(tf.raw_ops, tf_op)(input=x, dimension=axis, output_type=tf_type)
    check_op(tf, f"core.{name}", [x], {"axis": axis, "output_type": output_type}, want)


@pytest.mark.parametrize("shape,k", [((7,), 3), ((2, 5), 5), ((2, 3, 6), 1), ((4,), 0)], ids=str)
@pytest.mark.parametrize("ties", [False, True])
def test_top_k(tf, shape, k, ties):
    x = rng(3).integers(-2, 3, shape).astype(F32) if ties else rng(3).standard_normal(shape).astype(F32)
    want = tf.raw_ops.TopKV2(input=x, k=np.int32(k), sorted=True)
    check_op(tf, "core.top_k", [x, C(np.int32(k))], {}, list(want))


def test_top_k_int32_and_unknown_k(tf):
    x = rng(4).integers(-100, 100, (3, 8)).astype(I32)
    want = tf.raw_ops.TopKV2(input=x, k=np.int32(4))
    check_op(tf, "core.top_k", [x, C(np.int32(4))], {}, list(want))
    assert infer_shape("core.top_k", [TensorType(DType.FLOAT32, (None, 8)), TensorType(DType.INT32, ())]) == [(None, None)] * 2


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name,tf_op", [("cumsum", "Cumsum"), ("cumprod", "Cumprod")])
def test_cumulative(tf, name, tf_op, axis, exclusive, reverse):
    x = rng(5).uniform(0.5, 1.5, (3, 4, 2)).astype(F32)
    want = getattr(tf.raw_ops, tf_op)(x=x, axis=axis, exclusive=exclusive, reverse=reverse)
    check_op(tf, f"core.{name}", [x], {"axis": axis, "exclusive": exclusive, "reverse": reverse}, want)


def test_cumsum_int32(tf):
    x = rng(6).integers(-5, 5, (2, 6)).astype(I32)
    want = tf.raw_ops.Cumsum(x=x, axis=1, exclusive=True, reverse=True)
    check_op(tf, "core.cumsum", [x], {"axis": 1, "exclusive": True, "reverse": True}, want)
