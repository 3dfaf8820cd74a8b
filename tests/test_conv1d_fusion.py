"""1-D convolutions lower as tightly as TF's converter: TF writes Conv1D as ExpandDims -> Conv2D ->
Squeeze -> BiasAdd -> activation, and the bias ADD and the activation behind the squeeze's RESHAPE
move before it and fold into the conv (fusions ``bias-across-reshape``, ``activation-across-reshape``).
Builder graphs against the reference interpreter in LiteRT; frozen Keras models against TensorFlow,
with the op counts of TF's own converter on the same frozen graph."""
from __future__ import annotations


import numpy as np
import pytest
from test_dilated_conv_core import MODELS, _freeze, _keyboard_tcn, _litert
from test_tflite_lowering import c, check

import litesmith
from litesmith.ir import DType

F32, I32 = DType.FLOAT32, DType.INT32
RNG = np.random.default_rng(7)
X = {"x": (F32, (2, 11, 4))}


def conv1d(b, x, cout=5, depthwise=False):
    """x [N, T, C] -> expand_dims -> conv -> squeeze: what tf.nn.conv1d writes."""
    e = b.op("core.expand_dims", [x], {"axis": 1})
    if depthwise:
        y = b.op("core.depthwise_conv2d", [e, c(b, RNG.normal(size=(1, 3, 4, 2)))], {"padding": "SAME"})
    else:
        y = b.op("core.conv2d", [e, c(b, RNG.normal(size=(1, 3, 4, cout)))], {"padding": "SAME"})
    return b.op("core.squeeze", [y], {"axes": [1]})


def activation_of(graph, op):
    (node,) = [n for n in graph if n.op == op]
    return node.attrs["fused_activation_function"]


# -- the fusion on builder graphs ------------------------------------------------------------------


def test_conv1d_bias_relu_is_one_conv_between_reshapes(litert_interpreter):
    build = lambda b, x: b.op("core.relu", [b.op("core.add", [conv1d(b, x), c(b, RNG.normal(size=5))])])
    report, ops, g = check(litert_interpreter, X, build, tol=1e-5)
    assert ops == ["RESHAPE", "CONV_2D", "RESHAPE"] and activation_of(g, "tfl.conv_2d") == "RELU"
    assert report["fused"]["bias-across-reshape"] == 1 and report["fused"]["fold-bias-add"] == 1


def test_depthwise_conv1d_relu6_without_bias_fuses(litert_interpreter):
    build = lambda b, x: b.op("core.relu6", [conv1d(b, x, depthwise=True)])
    report, ops, g = check(litert_interpreter, X, build, tol=1e-5, low=-3, high=3)
    assert ops == ["RESHAPE", "DEPTHWISE_CONV_2D", "RESHAPE"] and activation_of(g, "tfl.depthwise_conv_2d") == "RELU6"
    assert report["fused"]["activation-across-reshape"] == 1


def test_bias_sub_and_clamp_behind_an_added_unit_dim_fold_into_fully_connected(litert_interpreter):
    def build(b, a):
        y = b.op("core.matmul", [a, c(b, RNG.normal(size=(6, 5)))])
        y = b.op("core.reshape", [y, c(b, [1, 3, 5], I32)])  # adds a unit dim; channels stay last
        y = b.op("core.sub", [y, c(b, RNG.normal(size=(1, 1, 5)))])
        return b.op("core.minimum", [b.op("core.maximum", [y, c(b, -1.0)]), c(b, 1.0)])

    report, ops, g = check(litert_interpreter, {"a": (F32, (3, 6))}, build, tol=1e-5)
    assert ops == ["FULLY_CONNECTED", "RESHAPE"] and activation_of(g, "tfl.fully_connected") == "RELU_N1_TO_1"
    assert report["fused"]["bias-across-reshape"] == 1 and report["fused"]["fold-bias-sub"] == 1


def _shared_conv(b, x):
    y = conv1d(b, x)
    conv = y.producer.inputs[0]  # [2, 1, 11, 5], also a graph output
    return [b.op("core.add", [y, c(b, RNG.normal(size=5))]), conv]


DECLINED = {
    # a second user of the conv output would then need the un-biased value computed again
    "conv output has another user": (_shared_conv, ["RESHAPE", "CONV_2D", "RESHAPE", "ADD"]),
    # the RESHAPE merges time into channels: a per-channel constant is per-position before it
    "reshape merges the channel axis": (
        lambda b, x: b.op("core.add", [b.op("core.reshape", [conv1d(b, x), c(b, [2, 55], I32)]), c(b, RNG.normal(size=55))]),
        ["RESHAPE", "CONV_2D", "RESHAPE", "ADD"]),
    "per-position constant": (
        lambda b, x: b.op("core.add", [conv1d(b, x), c(b, RNG.normal(size=(11, 5)))]),
        ["RESHAPE", "CONV_2D", "RESHAPE", "ADD"]),
    # LiteRT's float CONV_2D ignores a fused TANH (test_tanh_is_not_fused): nothing to gain by moving it
    "tanh": (lambda b, x: b.op("core.tanh", [conv1d(b, x)]), ["RESHAPE", "CONV_2D", "RESHAPE", "TANH"]),
}


@pytest.mark.parametrize("reason", sorted(DECLINED))
def test_ops_that_cannot_move_before_the_reshape_stay(litert_interpreter, reason):
    build, want = DECLINED[reason]
    report, ops, g = check(litert_interpreter, X, build, tol=1e-5)
    assert sorted(ops) == sorted(want), ops
    assert "bias-across-reshape" not in report["fused"] and "activation-across-reshape" not in report["fused"]
    assert activation_of(g, "tfl.conv_2d") == "NONE"


# -- frozen Keras models: TensorFlow and its converter as oracles ---------------------------------


def _conv1d_relu(tf, x):
    return tf.keras.layers.Conv1D(6, 3, padding="same", activation="relu", bias_initializer="random_normal")(x)


def _tcn5(tf, ids):
    """The 5-layer keyboard TCN of the latency figures in docs/tflite-backend.md (rates 1..16 over 32 ids)."""
    h = tf.keras.layers.Embedding(20, 8)(ids)
    for rate in (1, 2, 4, 8, 16):
        h = tf.keras.layers.Conv1D(8, 2, dilation_rate=rate, padding="causal", activation="relu",
                                   bias_initializer="random_normal")(h)
    return tf.keras.layers.Dense(20, activation="softmax", bias_initializer="random_normal")(h[:, -1])


# name: (build, placeholder shape, dtype, concrete feed shape, convolutions)
KERAS = {
    "conv1d_relu": (_conv1d_relu, [2, 11, 4], "float32", None, 1),
    "conv1d_same_rate3_relu": MODELS["conv1d_same_rate3_relu"],
    # paddings computed at run time: the default pipeline's second canonicalize folds the dilated conv
    "conv1d_causal_dynamic_t": MODELS["conv1d_causal_dynamic_t"],
    "keyboard_tcn": (_keyboard_tcn, [None, 7], "int32", [3, 7], 3),
    "keyboard_tcn5": (_tcn5, [None, 32], "int32", [1, 32], 5),
}


@pytest.fixture(scope="module")
def keras_models(tf, tmp_path_factory):
    out = tmp_path_factory.mktemp("conv1d_fusion")
    return {name: _freeze(tf, out, name, *spec) for name, spec in KERAS.items()}


def _tf_converter_ops(tf, litert, m):
    conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(m.pb, ["x"], ["y"], input_shapes={"x": list(m.feed.shape)})
    got, ops = _litert(litert, conv.convert(), m.feed)
    np.testing.assert_allclose(got, m.want, atol=1e-5, rtol=1e-5)
    return ops


@pytest.mark.parametrize("name", sorted(KERAS))
def test_keras_conv1d_matches_tf_and_its_converters_op_counts(name, keras_models, tf, litert_interpreter):
    m = keras_models[name]
    graph = litesmith.load(m.pb, input_shapes={"x": list(m.feed.shape)})
    report = {}
    got, ops = _litert(litert_interpreter, litesmith.compile(graph, report=report), m.feed)
    np.testing.assert_allclose(got, m.want, atol=1e-5, rtol=1e-5)
    assert ops == _tf_converter_ops(tf, litert_interpreter, m), report["ops_after"]
    assert ops["CONV_2D"] == m.convs and not ops["ADD"] and not ops["RELU"], ops
    assert not ops["SPACE_TO_BATCH_ND"] and "dilated-conv" not in report["fused"]
