"""TF ops TF's converter legalizes to one TFLite builtin each that litesmith now maps too
(docs/tf-ops.md): the numpy kernel of each core op against ``tf.raw_ops``, and a frozen graph
(library-default freezing) through litesmith's default pipeline in LiteRT against TF, emitting
the same builtin TF's converter does."""
from __future__ import annotations

import numpy as np
import pytest

from litesmith.ir.dtypes import DType
from test_ops_common import C, check_op
from tf_litert import assert_close, convert_and_run
from tf_models import freeze_function

RNG = np.random.default_rng(41)
I32, I64 = np.int32, np.int64


def f32(*shape, lo=-2.0, hi=2.0):
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def i32(*shape, lo=-9, hi=10):
    return RNG.integers(lo, hi, shape).astype(I32)


FILTER = f32(3, 3, 2, 5)  # HWOI: 3x3, 2 output channels, 5 input channels
FILTER3D = f32(2, 3, 2, 2, 3)  # DHWIO: 2 input, 3 output channels (DHWOI for the transposed conv: 2 out, 3 in)
SEGMENT_IDS = np.array([0, 2, 0, 3, 2, 0], I32)  # segments 1 and 4 stay empty

# name -> (feeds, TF function of the feeds (raw ops), builtin TF's converter emits,
#          (core op, operands: feeds by name or C(constant), attrs) for the kernel check, or None)
CASES = {
    "depth_to_space": ({"x": f32(1, 2, 3, 8)}, lambda tf, x: tf.raw_ops.DepthToSpace(input=x, block_size=2),
                       "DEPTH_TO_SPACE", ("core.depth_to_space", ["x"], {"block_size": 2})),
    "space_to_depth": ({"x": f32(1, 4, 6, 3)}, lambda tf, x: tf.raw_ops.SpaceToDepth(input=x, block_size=2),
                       "SPACE_TO_DEPTH", ("core.space_to_depth", ["x"], {"block_size": 2})),
    "reverse_sequence": ({"x": f32(3, 5, 2)},
                         lambda tf, x: tf.raw_ops.ReverseSequence(input=x, seq_lengths=np.array([2, 5, 1], I64),
                                                                  seq_dim=1, batch_dim=0),
                         "REVERSE_SEQUENCE",
                         ("core.reverse_sequence", ["x", C(np.array([2, 5, 1], I64))], {"seq_axis": 1, "batch_axis": 0})),
    "reverse_sequence_batch_last": ({"x": f32(4, 2, 3)},
                                    lambda tf, x: tf.raw_ops.ReverseSequence(
                                        input=x, seq_lengths=np.array([1, 4, 3], I32), seq_dim=0, batch_dim=2),
                                    "REVERSE_SEQUENCE",
                                    ("core.reverse_sequence", ["x", C(np.array([1, 4, 3], I32))],
                                     {"seq_axis": 0, "batch_axis": 2})),
    "scatter_nd": ({"u": f32(3, 4)},
                   lambda tf, u: tf.raw_ops.ScatterNd(indices=np.array([[0], [2], [0]], I32), updates=u,
                                                      shape=np.array([5, 4], I32)),
                   "SCATTER_ND",
                   ("core.scatter_nd", [C(np.array([[0], [2], [0]], I32)), "u", C(np.array([5, 4], I32))], {})),
    "bucketize": ({"x": f32(10, lo=-4, hi=4)},
                  lambda tf, x: tf.raw_ops.Bucketize(input=x, boundaries=[-2.0, 0.0, 0.5, 3.0]),
                  "BUCKETIZE", ("core.bucketize", ["x"], {"boundaries": [-2.0, 0.0, 0.5, 3.0]})),
    "matrix_set_diag": ({"x": f32(2, 3, 4), "d": f32(2, 3)},
                        lambda tf, x, d: tf.raw_ops.MatrixSetDiagV3(input=x, diagonal=d, k=0),
                        "MATRIX_SET_DIAG", ("core.matrix_set_diag", ["x", "d"], {})),
    "broadcast_args": ({"s0": np.array([2, 1, 3], I32), "s1": np.array([4, 1], I32)},
                       lambda tf, s0, s1: tf.raw_ops.BroadcastArgs(s0=s0, s1=s1),
                       "BROADCAST_ARGS", ("core.broadcast_args", ["s0", "s1"], {})),
    "bitwise_xor": ({"x": i32(2, 5, lo=-100, hi=100), "y": i32(2, 5, lo=-100, hi=100)},
                    lambda tf, x, y: tf.raw_ops.BitwiseXor(x=x, y=y), "BITWISE_XOR", ("core.bitwise_xor", ["x", "y"], {})),
    "right_shift": ({"x": i32(2, 5, lo=-1000, hi=1000), "y": i32(2, 5, lo=0, hi=6)},
                    lambda tf, x, y: tf.raw_ops.RightShift(x=x, y=y), "RIGHT_SHIFT", ("core.right_shift", ["x", "y"], {})),
    "approx_top_k": ({"x": f32(3, 7)}, lambda tf, x: tf.raw_ops.ApproxTopK(input=x, k=3)[0],
                     "TOPK_V2", None),
    "segment_sum": ({"data": f32(6, 3)},
                    lambda tf, data: tf.raw_ops.SegmentSum(data=data, segment_ids=np.array([0, 0, 1, 3, 3, 3], I64)),
                    "UNSORTED_SEGMENT_SUM", None),
    "bitcast": ({"x": f32(2, 5)}, lambda tf, x: tf.raw_ops.Bitcast(input=x, type=tf.int32), "BITCAST",
                ("core.bitcast", ["x"], {"dtype": DType.INT32})),
    "conv2d_transpose_same": ({"x": f32(1, 3, 4, 5)},
                              lambda tf, x: tf.raw_ops.Conv2DBackpropInput(
                                  input_sizes=np.array([1, 6, 8, 2], I32), filter=FILTER, out_backprop=x,
                                  strides=[1, 2, 2, 1], padding="SAME"),
                              "TRANSPOSE_CONV",
                              ("core.conv2d_transpose", [C(np.array([1, 6, 8, 2], I32)), C(FILTER), "x"],
                               {"strides": [2, 2], "padding": "SAME"})),
    "conv2d_transpose_valid": ({"x": f32(2, 3, 3, 5)},
                               lambda tf, x: tf.raw_ops.Conv2DBackpropInput(
                                   input_sizes=np.array([2, 8, 7, 2], I32), filter=FILTER, out_backprop=x,
                                   strides=[1, 2, 2, 1], padding="VALID"),
                               "TRANSPOSE_CONV",
                               ("core.conv2d_transpose", [C(np.array([2, 8, 7, 2], I32)), C(FILTER), "x"],
                                {"strides": [2, 2], "padding": "VALID"})),
    "conv3d_same": ({"x": f32(1, 4, 5, 3, 2)},
                    lambda tf, x: tf.raw_ops.Conv3D(input=x, filter=FILTER3D, strides=[1, 2, 1, 2, 1], padding="SAME"),
                    "CONV_3D", ("core.conv3d", ["x", C(FILTER3D)], {"strides": [2, 1, 2], "padding": "SAME"})),
    "conv3d_valid": ({"x": f32(2, 5, 6, 5, 2)},  # (TF's CPU Conv3D has no dilations to compare with)
                     lambda tf, x: tf.raw_ops.Conv3D(input=x, filter=FILTER3D, strides=[1, 1, 2, 1, 1], padding="VALID"),
                     "CONV_3D", ("core.conv3d", ["x", C(FILTER3D)], {"strides": [1, 2, 1]})),
    "conv3d_transpose": ({"x": f32(1, 2, 3, 2, 3)},
                         lambda tf, x: tf.raw_ops.Conv3DBackpropInputV2(
                             input_sizes=np.array([1, 4, 5, 3, 2], I32), filter=FILTER3D, out_backprop=x,
                             strides=[1, 2, 2, 2, 1], padding="SAME"),
                         "CONV_3D_TRANSPOSE",
                         ("core.conv3d_transpose", [C(np.array([1, 4, 5, 3, 2], I32)), C(FILTER3D), "x"],
                          {"strides": [2, 2, 2], "padding": "SAME"})),
    "fake_quant_args": ({"x": f32(4, 6, lo=-8, hi=8)},
                        lambda tf, x: tf.raw_ops.FakeQuantWithMinMaxArgs(inputs=x, min=-3.0, max=5.5),
                        "QUANTIZE", ("core.fake_quant", ["x"], {"min": -3.0, "max": 5.5})),
    "fake_quant_vars": ({"x": f32(4, 6, lo=-8, hi=8)},
                        lambda tf, x: tf.raw_ops.FakeQuantWithMinMaxVars(inputs=x, min=np.float32(-2.5),
                                                                         max=np.float32(4.0)),
                        "DEQUANTIZE", ("core.fake_quant", ["x"], {"min": -2.5, "max": 4.0})),
    "sparse_to_dense": ({"v": f32(3)},
                        lambda tf, v: tf.raw_ops.SparseToDense(sparse_indices=np.array([[0, 1], [2, 0], [3, 3]], I64),
                                                               output_shape=np.array([4, 5], I64), sparse_values=v,
                                                               default_value=np.float32(0.5)),
                        "SPARSE_TO_DENSE",
                        ("core.sparse_to_dense", [C(np.array([[0, 1], [2, 0], [3, 3]], I64)), C(np.array([4, 5], I64)),
                                                  "v", C(np.float32(0.5))], {})),
    "sparse_to_dense_vector": ({"d": np.array(-1, I32)},
                               lambda tf, d: tf.raw_ops.SparseToDense(sparse_indices=np.array([1, 4], I32),
                                                                      output_shape=np.array([6], I32),
                                                                      sparse_values=np.int32(7), default_value=d),
                               "SPARSE_TO_DENSE",
                               ("core.sparse_to_dense", [C(np.array([1, 4], I32)), C(np.array([6], I32)),
                                                         C(np.int32(7)), "d"], {})),
    "sigmoid_grad": ({"y": f32(3, 4, lo=0, hi=1), "dy": f32(3, 4)},
                     lambda tf, y, dy: tf.raw_ops.SigmoidGrad(y=y, dy=dy), "MUL", None),
}
for _kind in ("Sum", "Prod", "Max", "Min"):
    CASES[f"unsorted_segment_{_kind.lower()}"] = (
        {"data": f32(6, 3)},
        lambda tf, data, _kind=_kind: getattr(tf.raw_ops, f"UnsortedSegment{_kind}")(
            data=data, segment_ids=SEGMENT_IDS, num_segments=np.int32(5)),
        f"UNSORTED_SEGMENT_{_kind.upper()}",
        (f"core.unsorted_segment_{_kind.lower()}", ["data", C(SEGMENT_IDS), C(np.int32(5))], {}))


def test_fake_quant_kernel_narrow_and_few_bits(tf):
    """Forms that stay float in TFLite (no uint8 storage fits them) still have TF's kernel."""
    x = f32(5, 7, lo=-8, hi=8)
    for bits, narrow in ((8, True), (4, False), (3, True)):
        attrs = {"min": -2.0, "max": 3.0, "num_bits": bits, "narrow_range": narrow}
        check_op(tf, "core.fake_quant", [x], attrs, tf.raw_ops.FakeQuantWithMinMaxArgs(inputs=x, **attrs), atol=1e-6)


@pytest.mark.parametrize("name", [n for n, case in CASES.items() if case[3] is not None])
def test_kernel_matches_tf_raw_op(tf, name):
    feeds, fn, _, (op, operands, attrs) = CASES[name]
    want = fn(tf, **feeds)
    check_op(tf, op, [feeds[x] if isinstance(x, str) else x for x in operands], attrs, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(CASES))
def test_frozen_graph_matches_tf_in_litert_with_tf_converters_builtin(tf, litert_interpreter, tmp_path, name):
    feeds, fn, builtin, _ = CASES[name]
    want = freeze_function(tf, tmp_path / "m.pb", lambda *xs: fn(tf, *xs), feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=1e-6, rtol=1e-6)
    assert builtin in ops, ops


def test_keras_conv2d_transpose_layer(tf, litert_interpreter, tmp_path):
    """A Keras 3 Conv2DTranspose (output shape computed from the input's shape, folded once static)."""
    import keras

    keras.utils.set_random_seed(3)
    layer = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")
    feeds = {"x": f32(1, 5, 6, 3)}
    want = freeze_function(tf, tmp_path / "m.pb", lambda x: layer(x), feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert "TRANSPOSE_CONV" in ops, ops
