"""Dilated convs folded at the core level (canonicalize's ``dilated_conv``, also run by strip-batch):
SpaceToBatchND -> conv -> BatchToSpaceND, and Keras Conv1D's form with ExpandDims/Squeeze inside,
become one conv with ``dilations``. Text-IR rules against the interpreter, then frozen TF models
(a batch-axis CNN and a keyboard TCN through strip-batch) against TensorFlow and LiteRT."""
from __future__ import annotations

import dataclasses
from collections import Counter
from textwrap import dedent

import numpy as np
import pytest
from test_cnn_convert import run_litert
from tf_models import freeze_one_input

import litesmith
from litesmith.frontends.tf import load_graphdef
from litesmith.ir import UserError, run, verify
from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes import run_pipeline
from litesmith.ir.canonical.dilated_conv import dilated_conv
from litesmith.passes.rewrite import apply_patterns_greedily, as_pattern
from litesmith.testing import check_pass

RNG = np.random.default_rng(11)
SPACE_BATCH = ("core.space_to_batch_nd", "core.batch_to_space_nd")


def _no_space_batch(graph):
    ops = Counter(n.op for n in graph.walk())
    assert not any(ops[op] for op in SPACE_BATCH), ops


# -- the rule on IR text -------------------------------------------------------------------------


def test_depthwise_chain_becomes_one_dilated_conv_with_same_padding():
    # pads - crops = [[2, 2], [2, 2]]: TF's SAME pads for a 3x3 kernel at rate 2 on 9x10
    check_pass("canonicalize", """
        graph @main(%x: f32[1,9,10,3], %w: f32[3,3,3,1]) {
          %block = core.const() {value = dense<i32[2]> [2, 2]} : i32[2]
          %pads = core.const() {value = dense<i32[2,2]> [[2, 3], [2, 2]]} : i32[2,2]
          %crops = core.const() {value = dense<i32[2,2]> [[0, 1], [0, 0]]} : i32[2,2]
          %s = core.space_to_batch_nd(%x, %block, %pads) : f32[4,7,7,3]
          %c = core.depthwise_conv2d(%s, %w) {padding = "VALID"} : f32[4,5,5,3]
          %y = core.batch_to_space_nd(%c, %block, %crops) : f32[1,9,10,3]
          return %y
        }
        """, """
        graph @main(%x: f32[1,9,10,3], %w: f32[3,3,3,1]) {
          %y = core.depthwise_conv2d(%x, %w) {dilations = [2, 2], explicit_paddings = [], padding = "SAME", strides = [1, 1]} : f32[1,9,10,3]
          return %y
        }
        """)


def test_conv_chain_with_uneven_pads_becomes_explicit_padding():
    check_pass("canonicalize", """
        graph @main(%x: f32[2,6,7,2], %w: f32[2,2,2,3]) {
          %block = core.const() {value = dense<i32[2]> [3, 2]} : i32[2]
          %pads = core.const() {value = dense<i32[2,2]> [[1, 2], [0, 1]]} : i32[2,2]
          %crops = core.const() {value = dense<i32[2,2]> [[0, 0], [0, 1]]} : i32[2,2]
          %s = core.space_to_batch_nd(%x, %block, %pads) : f32[12,3,4,2]
          %c = core.conv2d(%s, %w) {padding = "VALID"} : f32[12,2,3,3]
          %y = core.batch_to_space_nd(%c, %block, %crops) : f32[2,6,5,3]
          return %y
        }
        """, """
        graph @main(%x: f32[2,6,7,2], %w: f32[2,2,2,3]) {
          %y = core.conv2d(%x, %w) {dilations = [3, 2], explicit_paddings = [1, 2, 0, 0], padding = "EXPLICIT", strides = [1, 1]} : f32[2,6,5,3]
          return %y
        }
        """)


def test_keras_conv1d_chain_keeps_expand_and_squeeze_around_the_dilated_conv():
    # what Keras Conv1D(dilation_rate=2) writes (the causal Pad before it stays a pad)
    check_pass("canonicalize", """
        graph @main(%x: f32[2,11,4], %w: f32[1,3,4,5]) {
          %block = core.const() {value = dense<i32[1]> [2]} : i32[1]
          %pads = core.const() {value = dense<i32[1,2]> [[4, 1]]} : i32[1,2]
          %s = core.space_to_batch_nd(%x, %block, %pads) : f32[4,8,4]
          %e = core.expand_dims(%s) {axis = -3} : f32[4,1,8,4]
          %c = core.conv2d(%e, %w) {padding = "VALID"} : f32[4,1,6,5]
          %q = core.squeeze(%c) {axes = [-3]} : f32[4,6,5]
          %crops = core.const() {value = dense<i32[1,2]> [[0, 1]]} : i32[1,2]
          %y = core.batch_to_space_nd(%q, %block, %crops) : f32[2,11,5]
          return %y
        }
        """, """
        graph @main(%x: f32[2,11,4], %w: f32[1,3,4,5]) {
          %0 = core.expand_dims(%x) {axis = 1} : f32[2,1,11,4]
          %1 = core.conv2d(%0, %w) {dilations = [1, 2], explicit_paddings = [0, 0, 4, 0], padding = "EXPLICIT", strides = [1, 1]} : f32[2,1,11,5]
          %y = core.squeeze(%1) {axes = [1]} : f32[2,11,5]
          return %y
        }
        """)


def test_conv1d_along_h_and_a_one_dim_block_on_an_image():
    check_pass("canonicalize", """
        graph @main(%x: f32[1,10,3], %w: f32[3,1,3,1], %img: f32[1,8,5,2], %v: f32[2,2,2,1]) {
          %block = core.const() {value = dense<i32[1]> [3]} : i32[1]
          %zero = core.const() {value = dense<i32[1,2]> [[0, 2]]} : i32[1,2]
          %s = core.space_to_batch_nd(%x, %block, %zero) : f32[3,4,3]
          %e = core.expand_dims(%s) {axis = 2} : f32[3,4,1,3]
          %c = core.depthwise_conv2d(%e, %w) {padding = "VALID"} : f32[3,2,1,3]
          %q = core.squeeze(%c) {axes = [2]} : f32[3,2,3]
          %y = core.batch_to_space_nd(%q, %block, %zero) : f32[1,4,3]
          %b2 = core.const() {value = dense<i32[1]> [2]} : i32[1]
          %p2 = core.const() {value = dense<i32[1,2]> [[1, 1]]} : i32[1,2]
          %s2 = core.space_to_batch_nd(%img, %b2, %p2) : f32[2,5,5,2]
          %c2 = core.conv2d(%s2, %v) {padding = "VALID"} : f32[2,4,4,1]
          %z = core.batch_to_space_nd(%c2, %b2, %p2) : f32[1,6,4,1]
          return %y, %z
        }
        """, """
        graph @main(%x: f32[1,10,3], %w: f32[3,1,3,1], %img: f32[1,8,5,2], %v: f32[2,2,2,1]) {
          %0 = core.expand_dims(%x) {axis = 2} : f32[1,10,1,3]
          %1 = core.depthwise_conv2d(%0, %w) {dilations = [3, 1], explicit_paddings = [], padding = "VALID", strides = [1, 1]} : f32[1,4,1,3]
          %y = core.squeeze(%1) {axes = [2]} : f32[1,4,3]
          %z = core.conv2d(%img, %v) {dilations = [2, 1], explicit_paddings = [], padding = "VALID", strides = [1, 1]} : f32[1,6,4,1]
          return %y, %z
        }
        """)


def _chain(pads, crops, s_type, conv_attrs, c_type, y_type, outputs="%y"):
    return parse_ir(dedent(f"""
        graph @main(%x: f32[1,8,8,2], %w: f32[3,3,2,1]) {{
          %block = core.const() {{value = dense<i32[2]> [2, 2]}} : i32[2]
          %pads = core.const() {{value = dense<i32[2,2]> {pads}}} : i32[2,2]
          %crops = core.const() {{value = dense<i32[2,2]> {crops}}} : i32[2,2]
          %s = core.space_to_batch_nd(%x, %block, %pads) : {s_type}
          %c = core.depthwise_conv2d(%s, %w) {{{conv_attrs}}} : {c_type}
          %y = core.batch_to_space_nd(%c, %block, %crops) : {y_type}
          return {outputs}
        }}
        """))


DECLINED = {
    "crops exceed the paddings": ("[[0, 0], [0, 0]]", "[[1, 0], [0, 0]]", "f32[4,4,4,2]", 'padding = "VALID"',
                                  "f32[4,2,2,2]", "f32[1,3,4,2]"),
    "not VALID, stride 1": ("[[2, 2], [2, 2]]", "[[0, 0], [0, 0]]", "f32[4,6,6,2]", 'padding = "VALID", strides = [2, 2]',
                            "f32[4,2,2,2]", "f32[1,4,4,2]"),
    "single-use space_to_batch_nd": ("[[2, 2], [2, 2]]", "[[0, 0], [0, 0]]", "f32[4,6,6,2]", 'padding = "VALID"',
                                     "f32[4,4,4,2]", "f32[1,8,8,2]", "%y, %s"),
}


@pytest.mark.parametrize("reason", sorted(DECLINED))
def test_chains_that_are_not_one_dilated_conv_stay(reason):
    g = _chain(*DECLINED[reason])
    verify(g)
    before = print_ir(g)
    result = apply_patterns_greedily(g, [as_pattern(dilated_conv, "core.batch_to_space_nd")], trace=True)
    assert not result.changed and print_ir(g) == before
    assert any(reason in f.reason for f in result.why_not), result.why_not


def test_strip_batch_folds_the_chain_first_and_refuses_one_that_is_not_a_conv():
    g = _chain("[[2, 2], [2, 2]]", "[[0, 0], [0, 0]]", "f32[4,6,6,2]", 'padding = "VALID"', "f32[4,4,4,2]",
               "f32[1,8,8,2]")
    x, w = RNG.normal(size=(1, 8, 8, 2)).astype(np.float32), RNG.normal(size=(3, 3, 2, 1)).astype(np.float32)
    want = run(g, {"x": x, "w": w})["y"]
    run_pipeline(g, "strip-batch{inputs=x}", verify_each=True)
    assert [str(v.type) for v in g.inputs] == ["f32[8,8,2]", "f32[3,3,2,1]"]
    _no_space_batch(g)
    np.testing.assert_allclose(run(g, {"x": x[0], "w": w})["y"], want[0], rtol=1e-6, atol=1e-6)

    g = _chain(*DECLINED["crops exceed the paddings"][:6])
    with pytest.raises(UserError, match="space_to_batch_nd node 's' moves spatial blocks .* dilated conv"):
        run_pipeline(g, "strip-batch{inputs=x}")


# -- frozen TF models: TensorFlow and LiteRT as oracles -------------------------------------------


@dataclasses.dataclass
class Frozen:
    pb: str
    feed: np.ndarray
    want: np.ndarray  # TF's output on ``feed``, computed before freezing
    convs: int  # convolutions in the model (each must be ONE CONV_2D/DEPTHWISE_CONV_2D in TFLite)


def _w(*shape):
    return RNG.normal(0, 0.5, shape).astype(np.float32)


def _conv1d(filters, kernel, rate, padding, activation=None):
    def build(tf, x):
        layer = tf.keras.layers.Conv1D(filters, kernel, dilation_rate=rate, padding=padding, activation=activation,
                                       bias_initializer="random_normal")
        return layer(x)
    return build


def _separable1d(tf, x):
    return tf.keras.layers.SeparableConv1D(6, 3, dilation_rate=2, padding="causal", bias_initializer="random_normal")(x)


def _depthwise1d(tf, x):
    return tf.keras.layers.DepthwiseConv1D(3, dilation_rate=2, padding="same", depth_multiplier=2,
                                           bias_initializer="random_normal")(x)


def _nn_conv1d(tf, x):  # tf.nn.conv1d writes the rate on Conv2D itself (no space/batch ops)
    return tf.nn.conv1d(x, _w(3, 4, 5), 1, "SAME", dilations=2)


def _depthwise2d(tf, x):
    y = tf.nn.depthwise_conv2d(x, _w(3, 3, 4, 2), [1, 1, 1, 1], "SAME", dilations=[2, 2])
    return tf.nn.relu6(tf.nn.bias_add(y, _w(8)))


def _keyboard_tcn(tf, ids):
    """The motivating model: embedding -> causal dilated Conv1D stack (rates 1, 2, 4) -> dense
    softmax over the next word (the last step: all a keyboard asks of the context)."""
    h = tf.keras.layers.Embedding(20, 8)(ids)
    for rate in (1, 2, 4):
        h = tf.keras.layers.Conv1D(8, 2, dilation_rate=rate, padding="causal", activation="relu",
                                   bias_initializer="random_normal")(h)
    return tf.keras.layers.Dense(20, activation="softmax", bias_initializer="random_normal")(h[:, -1])


# name: (build, placeholder shape, dtype, concrete feed shape, convolutions)
MODELS = {
    "conv1d_causal_rate2": (_conv1d(5, 3, 2, "causal"), [2, 11, 4], "float32", None, 1),
    "conv1d_same_rate3_relu": (_conv1d(5, 3, 3, "same", "relu"), [2, 13, 4], "float32", None, 1),
    "conv1d_valid_rate2": (_conv1d(4, 2, 2, "valid"), [1, 9, 4], "float32", None, 1),
    "depthwise1d_same_rate2": (_depthwise1d, [2, 10, 4], "float32", None, 1),
    "separable1d_causal_rate2": (_separable1d, [1, 10, 4], "float32", None, 2),
    "nn_conv1d_rate2": (_nn_conv1d, [2, 11, 4], "float32", None, 1),
    # paddings computed at run time from the unknown time axis; --input-shape + fold-constants make them constant
    "conv1d_causal_dynamic_t": (_conv1d(5, 3, 2, "causal"), [None, None, 4], "float32", [2, 11, 4], 1),
    "depthwise2d_batch3": (_depthwise2d, [3, 13, 14, 4], "float32", None, 1),
    "keyboard_tcn": (_keyboard_tcn, [None, 7], "int32", [3, 7], 3),
}


def _freeze(tf, out_dir, name, build, shape, dtype, concrete, convs):
    if dtype == "int32":
        feed = RNG.integers(0, 20, concrete or shape).astype(np.int32)
    else:
        feed = RNG.uniform(-1, 1, concrete or shape).astype(np.float32)
    pb, want = freeze_one_input(tf, out_dir, name, build, shape, feed, seed=3, dtype=dtype)
    return Frozen(pb, feed, want, convs)


@pytest.fixture(scope="module")
def models(tf, tmp_path_factory):
    out = tmp_path_factory.mktemp("dilated_core")
    return {name: _freeze(tf, out, name, *spec) for name, spec in MODELS.items()}


def _litert(litert, blob, feed):
    """(output y, op counts) of a one-input model in LiteRT."""
    outs, ops = run_litert(litert, blob, {"x": feed})
    return outs["y"], ops


def _convs(ops: Counter) -> int:
    return ops["CONV_2D"] + ops["DEPTHWISE_CONV_2D"]


@pytest.mark.parametrize("name", [n for n in sorted(MODELS) if n not in ("depthwise2d_batch3", "keyboard_tcn")])
def test_default_pipeline_folds_1d_dilated_convs_into_one_conv(name, models, litert_interpreter):
    m = models[name]
    shapes = {"x": list(m.feed.shape)}
    graph = load_graphdef(m.pb, input_shapes=shapes)
    assert Counter(n.op for n in graph)["core.space_to_batch_nd"] == (0 if name == "nn_conv1d_rate2" else 1)
    passes = "fold-constants" if "dynamic" in name else None  # run-time paddings: fold them before canonicalize
    litesmith.optimize(graph, ",".join(p for p in (passes, litesmith.api.DEFAULT_PIPELINE) if p))
    verify(graph)
    _no_space_batch(graph)
    assert [n.attrs["dilations"] for n in graph if n.op.endswith("conv2d") and n.attrs["dilations"] != [1, 1]]
    np.testing.assert_allclose(run(graph, {"x": m.feed})["y"], m.want, atol=1e-5, rtol=1e-5)

    report = {}
    got, ops = _litert(litert_interpreter, litesmith.compile(graph, report=report), m.feed)
    np.testing.assert_allclose(got, m.want, atol=1e-5, rtol=1e-5)
    assert not ops["SPACE_TO_BATCH_ND"] and not ops["BATCH_TO_SPACE_ND"], ops
    assert _convs(ops) == m.convs, ops
    assert "dilated-conv" not in report["fused"]  # done on core ops, before lowering


def _per_row(litert, graph, m):
    """The stripped graph, fed one batch row at a time, against TF's batched outputs (ref and LiteRT)."""
    blob = litesmith.compile(graph)
    ops = None
    for b in range(m.feed.shape[0]):
        np.testing.assert_allclose(run(graph, {"x": m.feed[b]})["y"], m.want[b], atol=1e-5, rtol=1e-5)
        got, ops = _litert(litert, blob, m.feed[b])
        np.testing.assert_allclose(got, m.want[b], atol=1e-5, rtol=1e-5)
    return ops


def test_strip_batch_through_a_dilated_depthwise_conv(models, litert_interpreter):
    m = models["depthwise2d_batch3"]
    graph = load_graphdef(m.pb)
    assert Counter(n.op for n in graph)["core.space_to_batch_nd"] == 1
    report = run_pipeline(graph, "strip-batch,fold-constants", verify_each=True)
    assert report[0].report["batch_size"] == 3
    assert [str(v.type) for v in graph.inputs] == ["f32[13,14,4]"]
    _no_space_batch(graph)
    ops = _per_row(litert_interpreter, graph, m)
    # the bias ADD (relu6 fused in) moves before the squeeze's RESHAPE and folds into the conv
    assert ops == Counter({"DEPTHWISE_CONV_2D": 1, "RESHAPE": 2}), ops


def test_keyboard_tcn_strips_batch_and_runs_one_conv_per_layer(models, litert_interpreter):
    m = models["keyboard_tcn"]
    graph = load_graphdef(m.pb)
    assert Counter(n.op for n in graph)["core.space_to_batch_nd"] == 2  # rates 2 and 4
    run_pipeline(graph, "strip-batch,fold-constants", verify_each=True)
    assert [str(v.type) for v in graph.inputs] == ["i32[7]"]
    _no_space_batch(graph)
    ops = _per_row(litert_interpreter, graph, m)
    assert not ops["SPACE_TO_BATCH_ND"] and not ops["BATCH_TO_SPACE_ND"], ops
    assert ops["CONV_2D"] == 3, ops
