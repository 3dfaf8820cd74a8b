"""NN ops vs TensorFlow: matmul, conv2d, depthwise conv, pooling, softmax, LRN, resize."""
from __future__ import annotations

import numpy as np
import pytest

from test_ops_common import C, check_op, infer_shape, rng

from litesmith.ir import DType, TensorType
from litesmith.ir.registry import InferError

F32 = np.float32


def _randn(shape, seed=0):
    return rng(seed).standard_normal(shape).astype(F32)


# -- matmul ---------------------------------------------------------------------


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_2d(tf, ta, tb):
    a = _randn((4, 3) if ta else (3, 4))
    b = _randn((5, 4) if tb else (4, 5), 1)
    want = tf.raw_ops.MatMul(a=a, b=b, transpose_a=ta, transpose_b=tb)
    check_op(tf, "core.matmul", [a, b], {"transpose_a": ta, "transpose_b": tb}, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "sa,sb,adj_x,adj_y",
    [((2, 3, 4), (2, 4, 5), False, False), ((2, 1, 3, 4), (3, 5, 4), False, True), ((4, 3), (2, 4, 6), True, False)],
    ids=str,
)
def test_matmul_batched_broadcasts_like_batch_matmul_v2(tf, sa, sb, adj_x, adj_y):
    a, b = _randn(sa), _randn(sb, 1)
    want = tf.raw_ops.BatchMatMulV2(x=a, y=b, adj_x=adj_x, adj_y=adj_y)
    check_op(tf, "core.matmul", [a, b], {"transpose_a": adj_x, "transpose_b": adj_y}, want, rtol=1e-5, atol=1e-5)


def test_matmul_int32(tf):
    a = rng(0).integers(-5, 5, (3, 4)).astype(np.int32)
    b = rng(1).integers(-5, 5, (4, 2)).astype(np.int32)
    check_op(tf, "core.matmul", [a, b], {}, tf.raw_ops.MatMul(a=a, b=b))


# -- conv2d / depthwise -------------------------------------------------------------

CONV_CASES = [
    # (input shape, filter hw, strides, dilations, padding, explicit [t, b, l, r])
    ((1, 7, 7, 3), (3, 3), (1, 1), (1, 1), "VALID", None),
    ((2, 8, 9, 3), (3, 3), (1, 1), (1, 1), "SAME", None),
    ((1, 9, 8, 2), (3, 2), (2, 2), (1, 1), "SAME", None),
    ((1, 10, 10, 2), (3, 3), (2, 3), (1, 1), "VALID", None),
    ((1, 11, 10, 2), (3, 3), (1, 1), (2, 2), "SAME", None),
    ((1, 11, 12, 2), (2, 3), (1, 1), (3, 2), "VALID", None),
    ((1, 7, 8, 3), (3, 3), (1, 1), (1, 1), "EXPLICIT", (1, 2, 0, 3)),
    ((1, 8, 8, 2), (4, 4), (2, 2), (1, 1), "EXPLICIT", (2, 1, 1, 1)),
    ((1, 4, 4, 2), (1, 1), (2, 2), (1, 1), "SAME", None),
    ((1, 9, 9, 2), (7, 7), (2, 2), (1, 1), "SAME", None),
]


def _conv_attrs(strides, dilations, padding, explicit):
    attrs = {"strides": list(strides), "dilations": list(dilations), "padding": padding}
    if explicit:
        attrs["explicit_paddings"] = list(explicit)
    return attrs


def _tf_explicit(explicit):
    t, b, l, r = explicit or (0, 0, 0, 0)
    return [0, 0, t, b, l, r, 0, 0] if explicit else []


@pytest.mark.parametrize("xs,k,strides,dilations,padding,explicit", CONV_CASES, ids=str)
def test_conv2d_matches_tf(tf, xs, k, strides, dilations, padding, explicit):
    x = _randn(xs)
    f = _randn(k + (xs[3], 4), 1)
    want = tf.raw_ops.Conv2D(
        input=x,
        filter=f,
        strides=[1, *strides, 1],
        padding=padding,
        explicit_paddings=_tf_explicit(explicit),
        dilations=[1, *dilations, 1],
    )
    check_op(tf, "core.conv2d", [x, f], _conv_attrs(strides, dilations, padding, explicit), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("xs,k,strides,dilations,padding,explicit", CONV_CASES, ids=str)
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_conv2d_matches_tf(tf, xs, k, strides, dilations, padding, explicit, multiplier):
    if (dilations != (1, 1) and strides != (1, 1)) or strides[0] != strides[1]:
        pytest.skip("TF's CPU depthwise conv needs equal strides, and no strides with dilations")
    x = _randn(xs)
    f = _randn(k + (xs[3], multiplier), 1)
    pad = [[0, 0], list(explicit[0:2]), list(explicit[2:4]), [0, 0]] if explicit else padding
    want = tf.nn.depthwise_conv2d(x, f, strides=[1, *strides, 1], padding=pad, dilations=list(dilations))
    attrs = _conv_attrs(strides, dilations, padding, explicit)
    check_op(tf, "core.depthwise_conv2d", [x, f], attrs, want, rtol=1e-4, atol=1e-4)


def test_grouped_conv2d_matches_tf(tf):
    x = _randn((1, 6, 6, 4))
    f = _randn((3, 3, 2, 6), 1)  # 2 groups of 2 input channels
    want = tf.raw_ops.Conv2D(input=x, filter=f, strides=[1, 1, 1, 1], padding="SAME")
    check_op(tf, "core.conv2d", [x, f], {"padding": "SAME"}, want, rtol=1e-4, atol=1e-4)


def test_conv_inference_with_unknown_dims():
    x = TensorType(DType.FLOAT32, (None, None, 16, 3))
    f = C(np.zeros((3, 3, 3, 8), F32))
    assert infer_shape("core.conv2d", [x, f], {"padding": "SAME", "strides": [2, 2]}) == (None, None, 8, 8)
    assert infer_shape("core.depthwise_conv2d", [x, f], {"padding": "VALID"}) == (None, None, 14, 24)
    assert infer_shape("core.conv2d", [TensorType(DType.FLOAT32, None), f]) is None
    assert infer_shape("core.max_pool", [x], {"ksize": [2, 2], "strides": [2, 2], "padding": "VALID"}) == (None, None, 8, 3)


@pytest.mark.parametrize(
    "attrs,match",
    [
        ({"padding": "FULL"}, "padding"),
        ({"strides": [1, 0]}, "strides"),
        ({"padding": "EXPLICIT", "explicit_paddings": [1, 1]}, "explicit_paddings"),
    ],
)
def test_conv_rejects_bad_attributes(attrs, match):
    x = TensorType(DType.FLOAT32, (1, 8, 8, 3))
    with pytest.raises(InferError, match=match):
        infer_shape("core.conv2d", [x, C(np.zeros((3, 3, 3, 8), F32))], attrs)


def test_conv_rejects_channel_mismatch():
    with pytest.raises(InferError, match="channels"):
        infer_shape("core.conv2d", [TensorType(DType.FLOAT32, (1, 8, 8, 3)), C(np.zeros((3, 3, 2, 8), F32))])


# -- pooling --------------------------------------------------------------------

POOL_CASES = [
    ((1, 6, 6, 2), (2, 2), (2, 2), "VALID"),
    ((2, 7, 7, 3), (3, 3), (2, 2), "SAME"),
    ((1, 5, 8, 1), (3, 2), (1, 3), "SAME"),
    ((1, 9, 9, 2), (3, 3), (2, 1), "VALID"),
    ((1, 3, 3, 2), (5, 5), (1, 1), "SAME"),
]


@pytest.mark.parametrize("xs,ksize,strides,padding", POOL_CASES, ids=str)
@pytest.mark.parametrize("name,tf_op", [("max_pool", "MaxPool"), ("avg_pool", "AvgPool")])
def test_pooling_matches_tf(tf, name, tf_op, xs, ksize, strides, padding):
    x = _randn(xs) - 2  # mostly negative: a zero pad would win a max
    want = _tf_pool(tf, tf_op, x, ksize, strides, padding)
    attrs = {"ksize": list(ksize), "strides": list(strides), "padding": padding}
    check_op(tf, f"core.{name}", [x], attrs, want, rtol=1e-5, atol=1e-6)


def _tf_pool(tf, tf_op, x, ksize, strides, padding):
    kw = dict(ksize=[1, *ksize, 1], strides=[1, *strides, 1], padding=padding)
    return tf.raw_ops.MaxPool(input=x, **kw) if tf_op == "MaxPool" else tf.raw_ops.AvgPool(value=x, **kw)


def test_max_pool_int32(tf):
    x = rng(0).integers(-100, 0, (1, 5, 5, 2)).astype(np.int32)
    check_op(tf, "core.max_pool", [x], {"ksize": [2, 2], "strides": [2, 2], "padding": "SAME"}, _tf_pool(tf, "MaxPool", tf.constant(x), (2, 2), (2, 2), "SAME"))


# -- softmax ------------------------------------------------------------------------


@pytest.mark.parametrize("shape,axis", [((5,), -1), ((2, 7), -1), ((3, 4, 5), 1), ((3, 4, 5), 0)], ids=str)
def test_softmax_and_log_softmax(tf, shape, axis):
    x = _randn(shape) * 5
    check_op(tf, "core.softmax", [x], {"axis": axis}, tf.nn.softmax(x, axis=axis), rtol=1e-5, atol=1e-7)
    check_op(tf, "core.log_softmax", [x], {"axis": axis}, tf.nn.log_softmax(x, axis=axis), rtol=1e-5, atol=1e-5)


def test_softmax_beta(tf):
    x = _randn((2, 6))
    check_op(tf, "core.softmax", [x], {"beta": 0.5}, tf.nn.softmax(x * 0.5), rtol=1e-5, atol=1e-7)


# -- local response normalization ------------------------------------------------------

LRN_CASES = [  # (shape, depth_radius, bias, alpha, beta): TF's defaults, a window wider than the channels, radius 0
    ((1, 3, 4, 7), 5, 1.0, 1.0, 0.5),
    ((2, 2, 3, 6), 2, 1.5, 0.3, 0.6),
    ((1, 2, 2, 3), 4, 2.0, 1e-4, 0.75),
    ((1, 1, 2, 5), 0, 0.5, 2.0, 1.0),
]


@pytest.mark.parametrize("shape,radius,bias,alpha,beta", LRN_CASES, ids=str)
def test_local_response_norm_matches_tf(tf, shape, radius, bias, alpha, beta):
    x = _randn(shape) * 2
    attrs = {"depth_radius": radius, "bias": bias, "alpha": alpha, "beta": beta}
    check_op(tf, "core.local_response_norm", [x], attrs, tf.raw_ops.LRN(input=x, **attrs), rtol=2e-5, atol=1e-6)


def test_local_response_norm_rejects_other_ranks():
    with pytest.raises(InferError, match="4-D"):
        infer_shape("core.local_response_norm", [TensorType(DType.FLOAT32, (2, 3))])


# -- resize ---------------------------------------------------------------------------

RESIZE_CASES = [
    ((1, 4, 5, 2), (8, 10), False, False),
    ((1, 4, 5, 2), (8, 10), True, False),
    ((1, 4, 5, 2), (8, 10), False, True),
    ((2, 6, 6, 1), (3, 4), False, False),
    ((2, 6, 6, 1), (3, 4), True, False),
    ((2, 6, 6, 1), (3, 4), False, True),
    ((1, 3, 3, 1), (7, 5), False, True),
    ((1, 5, 3, 1), (1, 1), True, False),
]


@pytest.mark.parametrize("xs,size,align,half", RESIZE_CASES, ids=str)
def test_resize_bilinear_matches_tf(tf, xs, size, align, half):
    x = _randn(xs)
    sz = np.array(size, np.int32)
    want = tf.raw_ops.ResizeBilinear(images=x, size=sz, align_corners=align, half_pixel_centers=half)
    check_op(tf, "core.resize_bilinear", [x, C(sz)], {"align_corners": align, "half_pixel_centers": half}, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("xs,size,align,half", RESIZE_CASES, ids=str)
def test_resize_nearest_matches_tf(tf, xs, size, align, half):
    x = _randn(xs)
    sz = np.array(size, np.int32)
    want = tf.raw_ops.ResizeNearestNeighbor(images=x, size=sz, align_corners=align, half_pixel_centers=half)
    check_op(tf, "core.resize_nearest", [x, C(sz)], {"align_corners": align, "half_pixel_centers": half}, want)


def test_resize_bilinear_of_integers_gives_float32(tf):
    x = rng(0).integers(0, 255, (1, 3, 4, 1)).astype(np.uint8)
    sz = np.array([6, 8], np.int32)
    want = tf.raw_ops.ResizeBilinear(images=x, size=sz, half_pixel_centers=True)
    check_op(tf, "core.resize_bilinear", [x, C(sz)], {"half_pixel_centers": True}, want, rtol=1e-5, atol=1e-4)


def test_resize_with_non_constant_size_has_unknown_spatial_dims():
    x = TensorType(DType.FLOAT32, (1, 4, 4, 3))
    size = TensorType(DType.INT32, (2,))
    assert infer_shape("core.resize_nearest", [x, size]) == (1, None, None, 3)


def test_matmul_and_softmax_inference_with_unknown_dims():
    a = TensorType(DType.FLOAT32, (None, 3, 4))
    b = TensorType(DType.FLOAT32, (4, None))
    assert infer_shape("core.matmul", [a, b]) == (None, 3, None)
    assert infer_shape("core.matmul", [b, a], {"transpose_a": True, "transpose_b": True}) == (None, None, 3)
    assert infer_shape("core.softmax", [a]) == (None, 3, 4)
    with pytest.raises(InferError, match="inner dimensions"):
        infer_shape("core.matmul", [a, TensorType(DType.FLOAT32, (5, 2))])
