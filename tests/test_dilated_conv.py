"""Dilated convolutions end to end. TF writes them as SpaceToBatchND -> conv -> BatchToSpaceND;
litesmith lifts the three, runs them in the reference interpreter, and canonicalize (or, for
TFLite input and run-time paddings, the TFLite backend's fusion) folds them back into ONE dilated
(DEPTHWISE_)CONV_2D, as TF's own converter does. Oracles: TensorFlow
(live session outputs before freezing) and LiteRT."""
from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest
from litesmith.frontends.tf import load_graphdef
from litesmith.ir import run, verify
from test_tflite_lowering import F32, I32, c, check
from test_dilated_conv_core import _litert
from tf_models import freeze_one_input

import litesmith

RNG = np.random.default_rng(5)


@dataclasses.dataclass
class Frozen:
    name: str
    pb: str
    shape: list  # the placeholder's shape as declared (may hold None)
    feed: np.ndarray
    want: np.ndarray  # TF's output on ``feed``


def _w(*shape):
    return RNG.normal(0, 0.5, shape).astype(np.float32)


def _depthwise(rate, padding, bias_relu6=True):
    def build(tf, x):
        y = tf.nn.depthwise_conv2d(x, _w(3, 3, 4, 2), [1, 1, 1, 1], padding, dilations=rate)
        return tf.nn.relu6(tf.nn.bias_add(y, _w(8))) if bias_relu6 else y
    return build


def _keras_depthwise(tf, x):
    layer = tf.keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same", depth_multiplier=1,
                                            bias_initializer="random_normal", activation="relu")
    return layer(x)


def _atrous_conv(tf, x):
    return tf.nn.bias_add(tf.nn.atrous_conv2d(x, _w(3, 3, 4, 5), 2, "SAME"), _w(5))


def _convolution_valid(tf, x):
    return tf.nn.convolution(x, _w(2, 3, 4, 3), padding="VALID", dilations=[3, 2])


# name: (build, placeholder shape, concrete shape, the one conv op)
MODELS = {
    "depthwise_rate2_same": (_depthwise([2, 2], "SAME"), [1, 13, 14, 4], None, "DEPTHWISE_CONV_2D"),
    "depthwise_rate23_valid": (_depthwise([2, 3], "VALID", False), [2, 13, 14, 4], None, "DEPTHWISE_CONV_2D"),
    "depthwise_rate23_same": (_depthwise([2, 3], "SAME"), [1, 11, 16, 4], None, "DEPTHWISE_CONV_2D"),
    "keras_depthwise_rate2": (_keras_depthwise, [1, 12, 12, 4], None, "DEPTHWISE_CONV_2D"),
    "conv_rate2_same": (_atrous_conv, [1, 13, 14, 4], None, "CONV_2D"),
    "conv_rate32_valid": (_convolution_valid, [1, 13, 14, 4], None, "CONV_2D"),
    # Spatial dims unknown in the graph: TF computes paddings and crops at run time; with
    # --input-shape the shape arithmetic folds to constants and the fusion still applies.
    "depthwise_dynamic_hw": (_depthwise([2, 2], "SAME"), [1, None, None, 4], [1, 15, 12, 4], "DEPTHWISE_CONV_2D"),
}


def _freeze(tf, out_dir, name, build, shape, concrete):
    feed = RNG.uniform(-1, 1, concrete or shape).astype(np.float32)
    pb, want = freeze_one_input(tf, out_dir, name, build, shape, feed, seed=1)
    return Frozen(name, pb, shape, feed, want)


@pytest.fixture(scope="module")
def dilated_models(tf, tmp_path_factory):
    out = tmp_path_factory.mktemp("dilated")
    return {name: _freeze(tf, out, name, build, shape, concrete)
            for name, (build, shape, concrete, _) in MODELS.items()}


def _load(m: Frozen):
    shapes = {"x": list(m.feed.shape)} if None in m.shape else None
    return load_graphdef(m.pb, input_shapes=shapes) if shapes else load_graphdef(m.pb)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_dilated_conv_lifts_runs_and_compiles_to_one_conv(name, dilated_models, litert_interpreter):
    m = dilated_models[name]
    graph = _load(m)
    verify(graph)
    ops = Counter(n.op for n in graph)
    assert ops["core.space_to_batch_nd"] == ops["core.batch_to_space_nd"] == 1
    assert not [op for op in ops if op.startswith("tf.")]
    np.testing.assert_allclose(run(graph, {"x": m.feed})["y"], m.want, atol=1e-5, rtol=1e-5)

    report = {}
    blob = litesmith.compile(graph, report=report)
    got, tflite_ops = _litert(litert_interpreter, blob, m.feed)
    np.testing.assert_allclose(got, m.want, atol=1e-5, rtol=1e-5)
    conv_op = MODELS[name][3]
    assert tflite_ops == Counter({conv_op: 1}), report["ops_after"]  # bias and activation fused too
    # the default pipeline's canonicalize folds the chain on core ops, the second run those whose
    # paddings only fold-constants made constant, so the TFLite fusion has nothing left
    assert report["fused"].get("dilated-conv", 0) == 0
    conv = _only_conv(blob)
    assert (conv.attrs["dilation_h_factor"], conv.attrs["dilation_w_factor"]) != (1, 1)


def _only_conv(blob):
    from litesmith.backends.tflite.reader import read_tflite

    (conv,) = [n for n in read_tflite(blob) if n.op in ("tfl.conv_2d", "tfl.depthwise_conv_2d")]
    return conv


@pytest.mark.parametrize("name", ["depthwise_rate2_same", "depthwise_rate23_valid", "conv_rate2_same"])
def test_same_ops_and_attributes_as_tf_converter(name, dilated_models, tf, litert_interpreter):
    """TF's converter (a peer) also emits one dilated conv with the same padding and dilation."""
    m = dilated_models[name]
    conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(m.pb, ["x"], ["y"], input_shapes={"x": list(m.feed.shape)})
    theirs_blob = conv.convert()
    _, theirs = _litert(litert_interpreter, theirs_blob, m.feed)
    _, ours = _litert(litert_interpreter, litesmith.compile(_load(m)), m.feed)
    assert ours == theirs
    keys = ("padding", "dilation_h_factor", "dilation_w_factor", "stride_h", "stride_w", "fused_activation_function")
    a, b = _only_conv(litesmith.compile(_load(m))), _only_conv(theirs_blob)
    assert {k: a.attrs[k] for k in keys} == {k: b.attrs[k] for k in keys}


def test_int8_dilated_depthwise_stays_one_op_and_close_to_float(dilated_models, litert_interpreter):
    m = dilated_models["depthwise_rate2_same"]
    calib = {"x": RNG.uniform(-1, 1, (16,) + m.feed.shape).astype(np.float32)}
    report = {}
    blob = litesmith.compile(_load(m), report=report, quantize="int8", calibration=calib)
    got, ops = _litert(litert_interpreter, blob, m.feed)
    assert ops["DEPTHWISE_CONV_2D"] == 1 and "SPACE_TO_BATCH_ND" not in ops
    err = float(np.abs(got.astype(np.float64) - m.want).max())
    spread = float(np.ptp(m.want))
    print(f"\nint8 dilated depthwise: max |err| {err:.4f} of output range {spread:.3f}")
    assert err <= 0.03 * spread, (err, spread)


# -- the fusion's rule, on core graphs: exact pads/crops, and where it must not fire ------------------


def _s2b_conv_b2s(pads, crops, block=(2, 2), conv_attrs=None, depthwise=False):
    def build(b, x):
        y = b.op("core.space_to_batch_nd", [x, c(b, list(block), I32), c(b, pads, I32)])
        w = c(b, RNG.normal(size=(3, 3, 3, 1 if depthwise else 4)))
        y = b.op("core.depthwise_conv2d" if depthwise else "core.conv2d", [y, w], {"padding": "VALID", **(conv_attrs or {})})
        return b.op("core.batch_to_space_nd", [y, c(b, list(block), I32), c(b, crops, I32)])
    return build


X = {"x": (F32, (1, 10, 12, 3))}


@pytest.mark.parametrize("pads,crops,ops,padding", [
    ([[2, 2], [2, 2]], [[0, 0], [0, 0]], ["CONV_2D"], "SAME"),
    ([[0, 0], [0, 2]], [[0, 0], [0, 2]], ["CONV_2D"], "VALID"),
    ([[3, 1], [1, 3]], [[1, 1], [0, 2]], ["PAD", "CONV_2D"], "VALID"),  # pads 2,0 / 1,1: explicit
])
def test_fusion_turns_any_exact_padding_into_one_dilated_conv(litert_interpreter, pads, crops, ops, padding):
    report, got, g = check(litert_interpreter, X, _s2b_conv_b2s(pads, crops), tol=1e-4)
    assert got == ops and report["fused"]["dilated-conv"] == 1
    (conv,) = [n for n in g if n.op == "tfl.conv_2d"]
    assert conv.attrs["padding"] == padding and conv.attrs["dilation_h_factor"] == 2


@pytest.mark.parametrize("pads,crops,conv_attrs", [
    ([[0, 0], [0, 0]], [[1, 0], [0, 0]], {}),  # crops more than it padded: no conv padding is that
    ([[2, 2], [2, 2]], [[0, 0], [0, 0]], {"strides": [2, 2]}),  # a strided conv between
])
def test_fusion_declines_what_is_not_a_dilated_conv(litert_interpreter, pads, crops, conv_attrs):
    report, got, _ = check(litert_interpreter, X, _s2b_conv_b2s(pads, crops, conv_attrs=conv_attrs), tol=1e-4)
    assert got == ["SPACE_TO_BATCH_ND", "CONV_2D", "BATCH_TO_SPACE_ND"]
    assert "dilated-conv" not in report["fused"]


def test_depthwise_with_different_rates_and_explicit_pad(litert_interpreter):
    build = _s2b_conv_b2s([[1, 3], [0, 3]], [[0, 2], [0, 0]], block=(2, 3), depthwise=True)
    _, got, g = check(litert_interpreter, X, build, tol=1e-4)
    assert got == ["PAD", "DEPTHWISE_CONV_2D"]
    (conv,) = [n for n in g if n.op == "tfl.depthwise_conv_2d"]
    assert (conv.attrs["dilation_h_factor"], conv.attrs["dilation_w_factor"]) == (2, 3)


@pytest.mark.parametrize("shape,block,pads", [
    ((2, 9, 4), [3], [[1, 2]]),  # rank 3, as TFLite has it
    ((1, 4, 6, 2, 3), [2, 2], [[0, 0], [1, 1]]),  # trailing dims merged by RESHAPEs
    ((3, 4, 6), [2, 3], [[0, 0], [0, 0]]),  # no trailing dim: a size-1 one is added
])
def test_space_batch_builtins_in_litert(litert_interpreter, shape, block, pads):
    def build(b, x):
        y = b.op("core.space_to_batch_nd", [x, c(b, block, I32), c(b, pads, I32)])
        y = b.op("core.mul", [y, c(b, 2.0)])
        return b.op("core.batch_to_space_nd", [y, c(b, block, I32), c(b, pads, I32)])

    _, got, _ = check(litert_interpreter, {"x": (F32, shape)}, build)
    assert "SPACE_TO_BATCH_ND" in got and "BATCH_TO_SPACE_ND" in got


def test_v1_space_to_batch_ops_lift(tf, tmp_path):
    from test_frontend_tf_util import check as check_tf

    feeds = {"x": RNG.normal(size=(1, 6, 4, 2)).astype(np.float32)}

    def build(tf):
        with tf.compat.v1.get_default_graph().name_scope(""):
            x = tf.compat.v1.placeholder(tf.float32, [1, 6, 4, 2], name="x")
        y = tf.raw_ops.SpaceToBatch(input=x, paddings=[[0, 2], [2, 0]], block_size=2)
        return {"out": tf.raw_ops.BatchToSpace(input=y * 3.0, crops=[[1, 1], [0, 2]], block_size=2)}

    g = check_tf(tf, tmp_path, build, feeds)
    assert {"core.space_to_batch_nd", "core.batch_to_space_nd"} <= {n.op for n in g}
