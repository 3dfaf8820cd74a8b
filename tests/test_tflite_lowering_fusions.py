"""Fusions after lowering (bias, batch norm, activations, pads, hard-swish, reshape/transpose
chains) and the legality report. Numerics against the reference interpreter in LiteRT;
structure against LiteRT's own op list."""
from __future__ import annotations

import numpy as np
import pytest

from litesmith.backends.tflite.compile import compile_to_tflite
from litesmith.backends.tflite.legalize import IllegalOpsError
from litesmith.ir import Builder, DType, Graph, TensorType
from litesmith.ir.errors import UserError
from test_tflite_lowering import c, check

F32, I32 = DType.FLOAT32, DType.INT32
RNG = np.random.default_rng(1)
X = {"x": (F32, (1, 8, 8, 3))}


def conv(b, x, cout=4, k=3, padding="SAME", strides=(1, 1)):
    w = c(b, RNG.normal(size=(k, k, x.shape[3], cout)))
    return b.op("core.conv2d", [x, w], {"padding": padding, "strides": list(strides)})


def activation_of(graph, op):
    (node,) = [n for n in graph if n.op == op]
    return node.attrs["fused_activation_function"]


def test_conv_bias_relu_is_one_conv(litert_interpreter):
    build = lambda b, x: b.op("core.relu", [b.op("core.add", [conv(b, x), c(b, RNG.normal(size=4))])])
    report, ops, g = check(litert_interpreter, X, build, tol=1e-4)
    assert ops == ["CONV_2D"] and activation_of(g, "tfl.conv_2d") == "RELU"
    assert report["fused"]["fold-bias-add"] == 1 and report["ops_before"]["core.conv2d"] == 1


def test_conv_batch_norm_relu6_is_one_conv(litert_interpreter):
    def build(b, x):
        y = b.op("core.mul", [conv(b, x), c(b, RNG.uniform(0.5, 2, size=(1, 1, 1, 4)))])
        y = b.op("core.add", [y, c(b, RNG.normal(size=(4,)))])
        return b.op("core.relu6", [y])

    _, ops, g = check(litert_interpreter, X, build, tol=1e-4)
    assert ops == ["CONV_2D"] and activation_of(g, "tfl.conv_2d") == "RELU6"


def test_depthwise_batch_norm_clamp_is_one_depthwise(litert_interpreter):
    def build(b, x):
        w = c(b, RNG.normal(size=(3, 3, 3, 2)))
        y = b.op("core.depthwise_conv2d", [x, w], {"padding": "SAME", "strides": [2, 2]})
        y = b.op("core.add", [b.op("core.mul", [y, c(b, RNG.uniform(0.5, 2, size=6))]), c(b, RNG.normal(size=6))])
        return b.op("core.minimum", [b.op("core.maximum", [y, c(b, 0.0)]), c(b, 6.0)])

    _, ops, g = check(litert_interpreter, X, build, tol=1e-4)
    assert ops == ["DEPTHWISE_CONV_2D"] and activation_of(g, "tfl.depthwise_conv_2d") == "RELU6"


def test_matmul_bias_clamp_is_one_fully_connected(litert_interpreter):
    def build(b, a):
        y = b.op("core.matmul", [a, c(b, RNG.normal(size=(6, 5)))])
        y = b.op("core.add", [c(b, RNG.normal(size=5)), y])  # constant on the left
        return b.op("core.maximum", [b.op("core.minimum", [y, c(b, 1.0)]), c(b, -1.0)])

    _, ops, g = check(litert_interpreter, {"a": (F32, (4, 6))}, build, tol=1e-4)
    assert ops == ["FULLY_CONNECTED"] and activation_of(g, "tfl.fully_connected") == "RELU_N1_TO_1"


def test_matmul_sub_div_fold_into_fully_connected(litert_interpreter):
    def build(b, a):
        y = b.op("core.matmul", [a, c(b, RNG.normal(size=(6, 5)))])
        return b.op("core.div", [b.op("core.sub", [y, c(b, RNG.normal(size=5))]), c(b, RNG.uniform(1, 2, size=5))])

    _, ops, _ = check(litert_interpreter, {"a": (F32, (2, 3, 6))}, build, tol=1e-4)
    assert ops == ["FULLY_CONNECTED"]


def test_relu_fuses_into_add_and_max_zero_is_relu(litert_interpreter):
    build = lambda b, x, y: [b.op("core.relu", [b.op("core.add", [x, y])]), b.op("core.maximum", [x, c(b, 0.0)])]
    _, ops, g = check(litert_interpreter, {"x": (F32, (2, 3)), "y": (F32, (2, 3))}, build)
    assert sorted(ops) == ["ADD", "RELU"] and activation_of(g, "tfl.add") == "RELU"


def test_no_fusion_into_a_shared_producer(litert_interpreter):
    def build(b, x):
        y = conv(b, x)
        return [b.op("core.relu", [y]), b.op("core.tanh", [y])]

    _, ops, g = check(litert_interpreter, X, build, tol=1e-4)
    assert sorted(ops) == ["CONV_2D", "RELU", "TANH"] and activation_of(g, "tfl.conv_2d") == "NONE"


def test_tanh_is_not_fused(litert_interpreter):
    """LiteRT's float CONV_2D ignores a fused TANH, so fusing it would change results."""
    _, ops, _ = check(litert_interpreter, X, lambda b, x: b.op("core.tanh", [conv(b, x)]), tol=1e-4)
    assert ops == ["CONV_2D", "TANH"]


def test_per_position_constant_is_not_a_bias(litert_interpreter):
    build = lambda b, x: b.op("core.add", [conv(b, x), c(b, RNG.normal(size=(8, 8, 4)))])
    _, ops, _ = check(litert_interpreter, X, build, tol=1e-4)
    assert ops == ["CONV_2D", "ADD"]


@pytest.mark.parametrize("pads,strides,folded", [
    ([[0, 0], [1, 1], [1, 1], [0, 0]], (1, 1), True),
    ([[0, 0], [0, 1], [0, 1], [0, 0]], (2, 2), True),   # Keras ZeroPadding2D before a stride-2 conv
    ([[0, 0], [2, 0], [1, 1], [0, 0]], (1, 1), False),
])
def test_zero_pad_folds_into_conv_when_it_is_same_padding(litert_interpreter, pads, strides, folded):
    def build(b, x):
        p = b.op("core.pad", [x, c(b, pads, I32)])
        return conv(b, p, padding="VALID", strides=strides)

    _, ops, g = check(litert_interpreter, X, build, tol=1e-4)
    assert ops == (["CONV_2D"] if folded else ["PAD", "CONV_2D"])
    if folded:
        assert [n.attrs["padding"] for n in g if n.op == "tfl.conv_2d"] == ["SAME"]


@pytest.mark.parametrize("form", ["mul_sixth", "div_six", "x_times_hard_sigmoid"])
def test_hard_swish_pattern(litert_interpreter, form):
    def build(b, x):
        r6 = b.op("core.relu6", [b.op("core.add", [x, c(b, 3.0)])])
        if form == "mul_sixth":
            return b.op("core.mul", [b.op("core.mul", [x, r6]), c(b, 1 / 6)])
        if form == "div_six":
            return b.op("core.div", [b.op("core.mul", [r6, x]), c(b, 6.0)])
        return b.op("core.mul", [x, b.op("core.div", [r6, c(b, 6.0)])])

    _, ops, _ = check(litert_interpreter, {"x": (F32, (2, 9))}, build, low=-6, high=6)
    assert ops == ["HARD_SWISH"]


def test_reshape_and_transpose_chains_collapse(litert_interpreter):
    def build(b, x):
        y = b.op("core.relu", [x])
        r = b.op("core.reshape", [b.op("core.reshape", [y, c(b, [6, 4], I32)]), c(b, [4, 6], I32)])
        t = b.op("core.transpose", [b.op("core.transpose", [y, c(b, [1, 2, 0], I32)]), c(b, [2, 0, 1], I32)])
        t2 = b.op("core.transpose", [b.op("core.transpose", [y, c(b, [1, 0, 2], I32)]), c(b, [0, 2, 1], I32)])
        return [r, b.op("core.neg", [t]), t2]

    _, ops, _ = check(litert_interpreter, {"x": (F32, (2, 3, 4))}, build)
    assert sorted(ops) == ["NEG", "RELU", "RESHAPE", "TRANSPOSE"]


def test_transpose_of_unit_axes_is_a_reshape_that_merges(litert_interpreter):
    """A decode step's heads: FC row [1, 8] -> [1, 2, 4] -> transpose to [2, 1, 4] (a size-1 axis
    moves) is one RESHAPE; a transpose that reorders longer axes stays."""
    def build(b, x):
        y = b.op("core.matmul", [x, c(b, RNG.normal(size=(8, 8)))])
        heads = b.op("core.reshape", [y, c(b, [1, 2, 4], I32)])
        moved = b.op("core.transpose", [heads, c(b, [1, 0, 2], I32)])
        kept = b.op("core.transpose", [heads, c(b, [0, 2, 1], I32)])
        return [b.op("core.neg", [moved]), b.op("core.neg", [kept])]

    report, ops, g = check(litert_interpreter, {"x": (F32, (1, 8))}, build)
    assert sorted(ops) == ["FULLY_CONNECTED", "NEG", "NEG", "RESHAPE", "RESHAPE", "TRANSPOSE"]
    assert report["fused"]["transpose-of-unit-axes"] == 1
    (t,) = [n for n in g if n.op == "tfl.transpose"]
    assert list(t.inputs[1].const_value()) == [0, 2, 1] and t.output.shape == (1, 4, 2)


# -- legality report --------------------------------------------------------------------------------


def compile_error(inputs, build):
    g = Graph("t")
    xs = [g.add_input(TensorType(dt, shape), name) for name, (dt, shape) in inputs.items()]
    outs = build(Builder(g), *xs)
    g.outputs = outs if isinstance(outs, list) else [outs]
    report = {}
    with pytest.raises(IllegalOpsError) as info:
        compile_to_tflite(g, report=report)
    assert isinstance(info.value, UserError) and "\n" not in str(info.value)
    assert report["legality"]["illegal"], "the report dict carries the legality report"
    return info.value.report


def test_op_without_builtin_is_reported():
    rep = compile_error({"x": (F32, (2, 3))}, lambda b, x: b.op("core.erf", [b.op("core.relu", [x])]))
    (issue,) = rep.issues
    assert (issue.op, issue.kind) == ("core.erf", "no-builtin") and "compose-ops" in issue.hint
    assert "core.erf" in rep.summary()


def test_foreign_op_is_reported_with_custom_op_hint():
    def build(b, x):
        y = b.create("tf.Mystery", [x], {"k": 1}, output_types=[x.type], name="m").output
        return b.op("core.relu", [y])

    (issue,) = compile_error({"x": (F32, (2, 3))}, build).issues
    assert issue.op == "tf.Mystery" and issue.node == "m" and "stub-custom-ops" in issue.hint


def test_dynamic_shape_is_reported_with_shape_hint():
    """atan's lowering builds a FILL of its operand's static shape: an unknown dim stays illegal."""
    rep = compile_error({"x": (F32, (None, 3))}, lambda b, x: b.op("core.atan", [b.op("core.relu", [x])]))
    kinds = {(i.op, i.kind) for i in rep.issues}
    assert kinds == {("input", "dynamic-shape"), ("core.atan", "dynamic-shape")}
    assert any("--input-shape x:1x3" in i.hint for i in rep.issues)


def _unknown_op(b, x, name):
    return b.create("tf.Mystery", [x], {}, output_types=[TensorType(F32, None)], name=name).output


def test_count_names_the_unknown_ops_not_what_waits_on_their_shapes():
    """Nodes after an op of unknown result shape fail with dynamic-shape too; they are not counted."""
    def build(b, x):
        y = b.op("core.add", [_unknown_op(b, x, "m1"), _unknown_op(b, x, "m2")])
        for _ in range(5):
            y = b.op("core.tanh", [b.op("core.mul", [y, y])])
        return [y, b.op("core.relu", [x])]

    rep = compile_error({"x": (F32, (2, 3))}, build)
    assert rep.summary().startswith("cannot lower 2 node(s) to TFLite (tf.Mystery x2); 11 node(s) after them have "
                                    "unknown shapes only because of them; first: tf.Mystery 'm1': no-builtin")
    waiting = [i for i in rep.issues if i.caused_by]
    assert len(waiting) == 11 and {i.caused_by for i in waiting} == {"'m1', 'm2'"}
    assert all("fix 'm1', 'm2' first" in i.hint for i in waiting)
    assert rep.ops() == {"tf.Mystery": 2}


def test_dynamic_input_is_the_root_of_what_follows():
    """relu keeps the unknown dim (lowered); the atans after it cannot: the input is the root."""
    rep = compile_error({"x": (F32, (None, 3))}, lambda b, x: b.op("core.atan", [b.op("core.atan", [b.op("core.relu", [x])])]))
    assert rep.ops() == {"input": 1} and rep.summary().startswith("cannot lower 1 node(s) to TFLite (input); 2 node(s)")
    assert [i.caused_by for i in rep.issues] == ["", "'x'", "'x'"]


def test_a_custom_op_without_a_shape_is_named_as_the_cause():
    def build(b, x):
        y = b.create("tfl.custom", [x], {"custom_code": "Mine"}, output_types=[TensorType(F32, None)], name="c").output
        return b.op("core.relu", [y])

    rep = compile_error({"x": (F32, (2, 3))}, build)
    assert rep.ops() == {"tfl.custom": 1}
    assert "tfl.custom leaves the shape of %c unknown" in rep.summary() and "add_shapes=True" in rep.summary()


HINTS_BY_OP = [  # (op, what the hint must say, what it must not)
    ("core.erf", "compose-ops (rewrite Erf:", "stub-custom-ops"),
    ("core.cumprod", "compose-ops (rewrite Cumprod:", "stub-custom-ops"),
    ("tf.Erfinv", "compose-ops (rewrite Erfinv:", "stub-custom-ops"),
    ("tf.Mystery", "stub-custom-ops{stubs_dir=DIR} (a custom op Mystery", "compose-ops"),
    ("tf.CTCGreedyDecoder", "split-host-ops{ops=CTCGreedyDecoder}", "compose-ops"),
]


@pytest.mark.parametrize("op,says,not_says", HINTS_BY_OP, ids=[h[0] for h in HINTS_BY_OP])
def test_hint_names_only_passes_with_a_rule_for_the_op(op, says, not_says):
    def build(b, x):
        attrs = {"axis": 0} if op == "core.cumprod" else {}
        if op.startswith("core."):
            return b.op(op, [x], attrs)
        return b.create(op, [x], attrs, output_types=[x.type], name="n").output

    (issue,) = compile_error({"x": (F32, (2, 3))}, build).issues
    assert says in issue.hint and not_says not in issue.hint, issue.hint


def test_non_constant_operand_is_reported():
    def build(b, x, k):  # the result type is known, but TFLite wants the block shape as a constant
        return b.create("core.space_to_batch_nd", [x, k, c(b, [[0, 0], [0, 0]], I32)],
                        output_types=[TensorType(F32, (4, 2, 2, 2))]).output

    (issue,) = compile_error({"x": (F32, (1, 4, 4, 2)), "k": (I32, (2,))}, build).issues
    assert issue.kind == "non-constant-operand" and "fold-constants" in issue.hint


def test_unsupported_attribute_is_reported():
    build = lambda b, p: b.op("core.gather_nd", [p, c(b, [[0], [1]], I32)], {"batch_dims": 1})
    (issue,) = compile_error({"p": (F32, (2, 3, 4))}, build).issues
    assert issue.kind == "unsupported-attribute" and "batch_dims" in issue.reason


def test_report_json_round_trips():
    import json

    rep = compile_error({"x": (F32, (2, 3))}, lambda b, x: b.op("core.erf", [x]))
    data = json.loads(rep.to_json())
    assert data["ops"] == {"core.erf": 1} and set(data["illegal"][0]) == {"node", "op", "kind", "reason", "hint", "caused_by"}


@pytest.mark.parametrize("kind", ["conv", "depthwise", "fc"])
def test_input_scale_folds_into_weights(litert_interpreter, kind):
    """Keras Rescaling/Normalization before the stem conv: x * s / d, zero padding included."""
    def build(b, x):
        if kind == "fc":
            x = b.op("core.reshape", [x, c(b, [1, -1], I32)])
        per_channel = RNG.uniform(0.5, 2, size=(x.shape[-1],) if kind == "fc" else (1, 1, 1, 3))
        y = b.op("core.div", [b.op("core.mul", [x, c(b, 1 / 255)]), c(b, per_channel)])
        if kind == "fc":
            return b.op("core.matmul", [y, c(b, RNG.normal(size=(192, 5)))])
        if kind == "depthwise":
            w = c(b, RNG.normal(size=(3, 3, 3, 2)))
            return b.op("core.depthwise_conv2d", [y, w], {"padding": "SAME", "strides": [2, 2]})
        return conv(b, b.op("core.pad", [y, c(b, [[0, 0], [0, 1], [0, 1], [0, 0]], I32)]), padding="VALID", strides=(2, 2))

    _, ops, _ = check(litert_interpreter, X, build, tol=1e-4, low=0, high=255)
    assert ops == {"conv": ["CONV_2D"], "depthwise": ["DEPTHWISE_CONV_2D"], "fc": ["RESHAPE", "FULLY_CONNECTED"]}[kind]


def test_reduce_then_reshape_is_keep_dims(litert_interpreter):
    """The squeeze-excite block: mean over H, W then reshape to [1, 1, 1, C]."""
    def build(b, x):
        m = b.op("core.reduce_mean", [x], {"axes": [1, 2]})
        return b.op("core.mul", [x, b.op("core.reshape", [m, c(b, [1, 1, 1, 3], I32)])])

    _, ops, g = check(litert_interpreter, X, build)
    assert ops == ["MEAN", "MUL"] and [n.attrs["keep_dims"] for n in g if n.op == "tfl.mean"] == [True]


def test_unsupported_dtype_is_reported():
    """demote-float64 computes float64 in float32 unless a constant is beyond float32's range: such
    math stays float64, which TFLite has no kernel for, and the lowering names it."""
    huge = np.full((2, 3), 1e300)  # float64, beyond float32
    (issue,) = compile_error({"x": (DType.FLOAT64, (2, 3))}, lambda b, x: b.op("core.add", [x, c(b, huge, DType.FLOAT64)])).issues
    assert issue.kind == "unsupported-dtype" and "f64" in issue.reason


def test_vector_matmul_bias_is_one_fully_connected(litert_interpreter):
    """A single-step model's rank-1 state: expand_dims -> matmul -> squeeze -> + bias becomes one
    FULLY_CONNECTED with keep_num_dims (no RESHAPE, the bias folded in)."""
    def build(b, v):
        row = b.op("core.expand_dims", [v], {"axis": 0})
        y = b.op("core.squeeze", [b.op("core.matmul", [row, c(b, RNG.normal(size=(6, 5)))])], {"axes": [0]})
        return b.op("core.add", [y, c(b, RNG.normal(size=5))])

    report, ops, g = check(litert_interpreter, {"v": (F32, (6,))}, build, tol=1e-5)
    assert ops == ["FULLY_CONNECTED"]
    (fc,) = [n for n in g if n.op == "tfl.fully_connected"]
    assert fc.attrs["keep_num_dims"] and fc.output.shape == (5,)
    assert report["fused"]["vector-fully-connected"] == 1 and report["fused"]["fold-bias-add"] == 1


def test_dense_on_a_sequence_is_one_fully_connected_keeping_leading_dims(litert_interpreter):
    """TF's Tensordot (a Dense layer on [batch, time, K]): reshape to [rows, K], matmul, reshape back,
    bias: one FULLY_CONNECTED with keep_num_dims, as TF's converter writes it."""
    def build(b, x):
        rows = b.op("core.reshape", [x, c(b, [-1, 6], I32)])
        y = b.op("core.reshape", [b.op("core.matmul", [rows, c(b, RNG.normal(size=(6, 5)))]), c(b, [2, 4, 5], I32)])
        return b.op("core.add", [y, c(b, RNG.normal(size=5))])

    report, ops, g = check(litert_interpreter, {"x": (F32, (2, 4, 6))}, build, tol=1e-5)
    assert ops == ["FULLY_CONNECTED"] and report["fused"]["fc-keeps-leading-dims"] == 1
    (fc,) = [n for n in g if n.op == "tfl.fully_connected"]
    assert fc.attrs["keep_num_dims"] and fc.output.shape == (2, 4, 5)


def test_fully_connected_flattens_its_own_input(litert_interpreter):
    """FULLY_CONNECTED(RESHAPE(x -> [1, K])) needs no RESHAPE: the op flattens to [-1, K] itself."""
    def build(b, v):
        row = b.op("core.expand_dims", [v], {"axis": 0})
        return b.op("core.matmul", [row, c(b, RNG.normal(size=(6, 5)))])

    report, ops, g = check(litert_interpreter, {"v": (F32, (6,))}, build, tol=1e-5)
    assert ops == ["FULLY_CONNECTED"] and report["fused"]["fc-flattens-input"] == 1
