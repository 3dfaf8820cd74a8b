"""Operator versions (backends/tflite/ops.py ``version=`` rules) against TF's converter.

A runtime refuses an op version it does not know, and one that predates a feature
runs the op without it: a per-channel hybrid op written with a per-tensor version
makes an older runtime read only the first weight scale, silently wrong results.
TF's converter computes versions in tensorflow/lite/tools/versioning/op_version.cc;
here small TF graphs are converted by TF's converter and by litesmith in float,
dynamic-range and int8 modes, and every op both files contain with the same
tensor types (and per-tensor/per-channel quantization) must carry the same version.
Hand-built tfl graphs check the hybrid per-channel rules without TF, and LiteRT
(the runtime oracle) must accept every version written and honour each channel's scale.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

import litesmith
from litesmith.backends.tflite import opcodes, ops as _tfl_ops, schema_generated as schema  # noqa: F401
from litesmith.backends.tflite.opcodes import DTYPE_OF_CODE
from litesmith.backends.tflite.writer import write_tflite
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph
from litesmith.ir.types import QuantParams, TensorType

MODES = ("float", "dynamic", "int8")
BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
CALIBRATION_SAMPLES = 8


# -- reading versions out of a flatbuffer ------------------------------------------------------------


def op_signatures(blob: bytes):
    """[(BUILTIN, signature, version)] per operator of subgraph 0. A signature is the input
    (dtype, per-channel) pairs (None for an absent optional input) and the output dtypes."""
    model = schema.ModelT.InitFromPackedBuf(blob, 0)
    sub = model.subgraphs[0]

    def tensor(index):
        if index < 0:
            return None
        t = sub.tensors[index]
        q = t.quantization
        scales = 0 if q is None or q.scale is None else len(q.scale)
        return DTYPE_OF_CODE[t.type].value, scales > 1

    rows = []
    for op in sub.operators:
        code = model.operatorCodes[op.opcodeIndex]
        builtin = BUILTIN_NAMES[max(code.builtinCode, code.deprecatedBuiltinCode)]
        sig = (tuple(tensor(i) for i in op.inputs), tuple(tensor(i)[0] for i in op.outputs))
        rows.append((builtin, sig, code.version))
    return rows


def comparable_versions(theirs, ours):
    """{builtin: (their version, our versions)} for ops both files hold with the same signature.

    TF's converter writes one opcode per builtin at the highest version its ops need, so an
    op's version there is exact only when all of that builtin's ops share one signature; with
    several, the two files are compared only when they hold the same signatures (max vs max)."""
    def by_builtin(rows):
        out = defaultdict(lambda: defaultdict(set))
        for builtin, sig, version in rows:
            out[builtin][sig].add(version)
        return out

    t, o = by_builtin(theirs), by_builtin(ours)
    result = {}
    for builtin in sorted(set(t) & set(o)):
        t_sigs, o_sigs = t[builtin], o[builtin]
        if len(t_sigs) == 1:
            (sig, t_versions), = t_sigs.items()
            if sig in o_sigs:
                result[builtin] = (max(t_versions), o_sigs[sig])
        elif set(t_sigs) == set(o_sigs):
            result[builtin] = (max(max(v) for v in t_sigs.values()), {max(max(v) for v in o_sigs.values())})
    return result


# -- the TF models -------------------------------------------------------------------------------------


def _cnn(tf, k):
    """conv / depthwise / pools / pad / split / tanh / logistic / mul / concat / transpose / mean / FC / softmax.
    Weights of >= 1024 elements (the dynamic-range threshold of both converters) where the op matters."""
    x = tf.compat.v1.placeholder(tf.float32, [1, 12, 12, 8], name="x")
    h = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(x, k(3, 3, 8, 32), 1, "SAME"), k(32)))
    h = tf.nn.relu(tf.nn.bias_add(tf.nn.depthwise_conv2d(h, k(3, 3, 32, 4), [1, 1, 1, 1], "SAME"), k(128)))
    h = tf.nn.max_pool2d(h, 2, 2, "VALID")
    h = tf.nn.conv2d(h, k(1, 1, 128, 16), 1, "SAME")
    h = tf.nn.avg_pool2d(tf.pad(h, [[0, 0], [1, 1], [1, 1], [0, 0]]), 2, 2, "VALID")
    a, b = tf.split(h, 2, axis=3)
    h = tf.transpose(tf.concat([tf.tanh(a), tf.sigmoid(b) * a], axis=3), [0, 2, 1, 3])
    h = tf.nn.relu(tf.matmul(tf.reduce_mean(h, axis=[1, 2]), k(16, 64)) + k(64))
    y = tf.nn.softmax(tf.matmul(h, k(64, 10)) + k(10), name="y")
    return [x], [y]


def _lstm_step(tf, k, vocab=64, emb=16, hid=32):
    """One LSTM step as the seed's single-step graph computes it: embedding GATHER, FC over [x, h],
    SPLIT into gates, LOGISTIC/TANH/MUL/ADD, logits FC, softmax."""
    ids = tf.compat.v1.placeholder(tf.int32, [1], name="ids")
    c = tf.compat.v1.placeholder(tf.float32, [1, hid], name="c")
    h = tf.compat.v1.placeholder(tf.float32, [1, hid], name="h")
    z = tf.matmul(tf.concat([tf.gather(k(vocab, emb), ids), h], 1), k(emb + hid, 4 * hid)) + k(4 * hid)
    i, j, f, o = tf.split(z, 4, axis=1)
    c1 = tf.identity(tf.sigmoid(f + 1.0) * c + tf.sigmoid(i) * tf.tanh(j), name="c1")
    h1 = tf.identity(tf.sigmoid(o) * tf.tanh(c1), name="h1")
    y = tf.nn.softmax(tf.matmul(h1, k(hid, vocab)) + k(vocab), name="y")
    return [ids, c, h], [y, c1, h1]


def _shape_ops(tf, k):
    """Data movement the int8 quantizer keeps int8: STRIDED_SLICE, SLICE, RESHAPE, SPLIT_V, GATHER of
    activations, SPACE_TO_BATCH_ND, SUB, ADD, CONCATENATION."""
    x = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 4], name="x")
    h = tf.nn.conv2d(x, k(3, 3, 4, 8), 1, "SAME") + k(8)
    s = tf.reshape(tf.space_to_batch_nd(h, [2, 2], [[0, 0], [0, 0]]), [1, -1])
    a = tf.strided_slice(h, [0, 1, 0, 0], [1, 7, 8, 8], [1, 2, 1, 1])
    b = tf.slice(h, [0, 0, 0, 0], [1, 3, 8, 8])
    p, q, r = tf.split(tf.reshape(a - b, [1, 3, 64]), [16, 16, 32], axis=2)
    t = tf.squeeze(tf.gather(r, [0, 2], axis=1), 0)
    u = tf.expand_dims(p + q, 0)
    y = tf.identity(tf.concat([tf.reshape(u, [1, -1]), tf.reshape(t, [1, -1]), s], 1), name="y")
    return [x], [y]


MODELS = {"cnn": _cnn, "lstm_step": _lstm_step, "shape_ops": _shape_ops}


def _sample(rng, dtype, shape):
    if dtype == np.int32:
        return rng.integers(0, 64, shape).astype(np.int32)
    return rng.normal(0, 1, shape).astype(np.float32)


def _convert_both(tf, pb, inputs, output_names, mode):
    """(TF's converter's flatbuffer, litesmith's flatbuffer) for ``mode``."""
    shapes = {name: (dtype, shape) for name, dtype, shape in inputs}
    names = [name for name, _, _ in inputs]
    rng = np.random.default_rng(1)
    samples = [[_sample(rng, *shapes[n]) for n in names] for _ in range(CALIBRATION_SAMPLES)]

    conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        pb, names, output_names, input_shapes={n: list(s) for n, (_, s) in shapes.items()})
    if mode != "float":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "int8":
        conv.representative_dataset = lambda: iter(samples)
    theirs = conv.convert()

    calibration = None
    if mode == "int8":
        calibration = {n: np.stack([s[i] for s in samples]) for i, n in enumerate(names)}
    ours = litesmith.compile(litesmith.load(pb), quantize=None if mode == "float" else mode, calibration=calibration)
    return theirs, ours


@pytest.fixture(scope="module")
def converted(tf, tmp_path_factory):
    """{(model, mode): (TF's flatbuffer, litesmith's flatbuffer)}."""
    out_dir = tmp_path_factory.mktemp("op_versions")
    result = {}
    for name, build in MODELS.items():
        rng = np.random.default_rng(0)
        graph = tf.Graph()
        with graph.as_default():
            placeholders, outputs = build(tf, lambda *s, rng=rng: tf.constant(rng.normal(0, 0.3, s).astype(np.float32)))
            graph_def = graph.as_graph_def()
        pb = str(out_dir / f"{name}.pb")
        with open(pb, "wb") as f:
            f.write(graph_def.SerializeToString())
        inputs = [(p.op.name, p.dtype.as_numpy_dtype, tuple(p.shape.as_list())) for p in placeholders]
        for mode in MODES:
            result[name, mode] = _convert_both(tf, pb, inputs, [t.op.name for t in outputs], mode)
    return result


# What the three models must exercise, so the comparison cannot pass by comparing nothing.
MUST_COMPARE = {
    "float": {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "GATHER", "TRANSPOSE", "STRIDED_SLICE"},
    "dynamic": {"CONV_2D", "FULLY_CONNECTED", "GATHER", "SPLIT", "LOGISTIC", "TANH", "MUL", "ADD"},
    "int8": {"QUANTIZE", "DEQUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "PAD",
             "SPLIT", "SPLIT_V", "LOGISTIC", "TANH", "MUL", "ADD", "SUB", "CONCATENATION", "TRANSPOSE", "MEAN",
             "SOFTMAX", "GATHER", "SLICE", "STRIDED_SLICE", "RESHAPE", "SPACE_TO_BATCH_ND"},
}


@pytest.mark.parametrize("mode", MODES)
def test_versions_match_tf_converter(converted, litert_interpreter, mode):
    compared, mismatches = set(), []
    for (name, m), (theirs, ours) in sorted(converted.items()):
        if m != mode:
            continue
        for builtin, (want, got) in comparable_versions(op_signatures(theirs), op_signatures(ours)).items():
            compared.add(builtin)
            if got != {want}:
                mismatches.append(f"{name}: {builtin} TF {want}, litesmith {sorted(got)}")
        litert_interpreter(model_content=ours).allocate_tensors()  # LiteRT knows every version written
    assert not mismatches, "\n".join(mismatches)
    assert MUST_COMPARE[mode] <= compared, MUST_COMPARE[mode] - compared


def test_hybrid_forms_match_tf(converted):
    """The dynamic-range forms both converters share: per-channel hybrid CONV_2D (5) and
    FULLY_CONNECTED (12), whatever else differs between the files."""
    theirs, ours = converted["cnn", "dynamic"]
    for rows in (op_signatures(theirs), op_signatures(ours)):
        hybrid = {(b, v) for b, sig, v in rows if sig[0][:2] == (("f32", False), ("i8", True))}
        assert {("CONV_2D", 5), ("FULLY_CONNECTED", 12)} <= hybrid, hybrid


# -- hand-built tfl graphs: the hybrid and quantized rules, no TF --------------------------------------


def version(node) -> int:
    return opcodes.OPCODES[node.op].version(node)


def quantized_const(b, arr, scales, axis=None, dtype=DType.INT8):
    v = b.const(np.asarray(arr, dtype.np))
    scales = np.atleast_1d(np.asarray(scales, np.float64))
    v.set_type(TensorType(dtype, v.shape, QuantParams(scales, np.zeros(len(scales), np.int64),
                                                      axis if len(scales) > 1 else None)))
    return v


def _int8_weights(rng, shape):
    return rng.integers(-127, 128, shape).astype(np.int8)


def _graph_with_input(shape, dtype=DType.FLOAT32, quant=None):
    """Graph input ``x`` and a builder on its graph (``b.graph``)."""
    g = Graph("main")
    return g.add_input(TensorType(dtype, shape, quant), "x"), Builder(g)


def test_conv_2d_hybrid_versions():
    rng = np.random.default_rng(0)
    x, b = _graph_with_input((1, 5, 5, 3))
    w = _int8_weights(rng, (4, 3, 3, 3))
    bias = b.const(np.zeros(4, np.float32))
    per_channel = b.create("tfl.conv_2d", [x, quantized_const(b, w, [0.01, 0.02, 0.03, 0.04], axis=0), bias])
    per_tensor = b.create("tfl.conv_2d", [x, quantized_const(b, w, 0.02), bias])
    float_conv = b.create("tfl.conv_2d", [x, b.const(w.astype(np.float32)), bias])
    grouped = b.create("tfl.conv_2d", [x, b.const(np.ones((4, 3, 3, 1), np.float32)), bias])
    assert [version(n) for n in (per_channel, per_tensor, float_conv, grouped)] == [5, 2, 1, 6]


def test_depthwise_conv_2d_hybrid_versions():
    rng = np.random.default_rng(0)
    x, b = _graph_with_input((1, 5, 5, 4))
    w = _int8_weights(rng, (1, 3, 3, 4))
    bias = b.const(np.zeros(4, np.float32))
    per_channel = b.create("tfl.depthwise_conv_2d", [x, quantized_const(b, w, [0.01, 0.02, 0.03, 0.04], axis=3), bias])
    per_tensor = b.create("tfl.depthwise_conv_2d", [x, quantized_const(b, w, 0.02), bias])
    dilated = b.create("tfl.depthwise_conv_2d", [x, b.const(w.astype(np.float32)), bias],
                       {"dilation_h_factor": 2, "dilation_w_factor": 2})
    assert [version(n) for n in (per_channel, per_tensor, dilated)] == [6, 4, 2]


def test_fully_connected_hybrid_per_channel_is_checked_first():
    rng = np.random.default_rng(0)
    x, b = _graph_with_input((2, 6))
    w = _int8_weights(rng, (4, 6))
    bias = b.const(np.zeros(4, np.float32))
    scales = [0.01, 0.02, 0.03, 0.04]
    cases = [
        (b.create("tfl.fully_connected", [x, quantized_const(b, w, scales, axis=0), bias]), 12),
        (b.create("tfl.fully_connected", [x, quantized_const(b, w, scales, axis=0)]), 12),  # before "no bias: 6"
        (b.create("tfl.fully_connected", [x, quantized_const(b, w, scales, axis=0), bias], {"keep_num_dims": True}), 12),
        (b.create("tfl.fully_connected", [x, quantized_const(b, w, 0.02), bias], {"asymmetric_quantize_inputs": True}), 9),
        (b.create("tfl.fully_connected", [x, quantized_const(b, w, 0.02), bias]), 3),
        (b.create("tfl.fully_connected", [x, quantized_const(b, w, 0.02)]), 6),
        (b.create("tfl.fully_connected", [x, b.const(w.astype(np.float32)), bias]), 1),
    ]
    assert [version(n) for n, _ in cases] == [want for _, want in cases]


def _int8_type(shape, scale=0.05):
    return TensorType(DType.INT8, shape, QuantParams([scale], [0]))


def test_int8_data_movement_versions():
    x, b = _graph_with_input((2, 4, 6), DType.INT8, QuantParams([0.05], [0]))
    def i32(v):
        return b.const(np.asarray(v, np.int32))

    cases = {
        "gather": (b.create("tfl.gather", [x, i32([1, 0])]), 2),
        "split": (b.create("tfl.split", [i32(2), x], {"num_splits": 2}), 2),
        "transpose": (b.create("tfl.transpose", [x, i32([2, 0, 1])]), 2),
        "split_v": (b.create("tfl.split_v", [x, i32([2, 4]), i32(2)], {"num_splits": 2}), 2),
        "pad": (b.create("tfl.pad", [x, i32([[0, 0], [1, 1], [0, 0]])]), 2),
        "slice": (b.create("tfl.slice", [x, i32([0, 0, 0]), i32([1, 2, 3])]), 2),
        "strided_slice": (b.create("tfl.strided_slice", [x, i32([0, 0, 0]), i32([2, 4, 6]), i32([1, 2, 1])]), 2),
        "concatenation": (b.create("tfl.concatenation", [x, x], {"axis": 1}), 2),
        "reshape": (b.create("tfl.reshape", [x, i32([8, 6])]), 1),
        "squeeze": (b.create("tfl.squeeze", [b.create("tfl.reshape", [x, i32([1, 48])]).outputs[0]]), 1),
        "expand_dims": (b.create("tfl.expand_dims", [x, i32(0)]), 1),
        "softmax": (b.create("tfl.softmax", [x]), 2),
        "logistic": (b.create("tfl.logistic", [x]), 2),
        "tanh": (b.create("tfl.tanh", [x]), 2),
        "mean": (b.create("tfl.mean", [x, i32([1])]), 2),
        "add": (b.create("tfl.add", [x, x]), 2),
        "sub": (b.create("tfl.sub", [x, x]), 2),
    }
    assert {k: version(n) for k, (n, _) in cases.items()} == {k: want for k, (_, want) in cases.items()}


def test_transpose_versions_by_rank_and_dtype():
    def transpose(shape, dtype, quant=None):
        x, b = _graph_with_input(shape, dtype, quant)
        return version(b.create("tfl.transpose", [x, b.const(np.arange(len(shape))[::-1].astype(np.int32))]))

    q = QuantParams([0.05], [0])
    assert transpose((2, 3), DType.FLOAT32) == 1
    assert transpose((2, 3), DType.INT8, q) == 2
    assert transpose((2, 3), DType.BOOL) == 3
    assert transpose((1, 2, 1, 2, 3), DType.FLOAT32) == 4  # rank 5 is 4, not 5
    assert transpose((1, 2, 1, 2, 3), DType.INT8, q) == 4
    assert transpose((2, 3), DType.INT16, QuantParams([0.05], [0])) == 5
    assert transpose((1, 1, 2, 1, 2, 3), DType.FLOAT32) == 6


def test_mul_version_follows_the_rescale_multiplier():
    """3 when input1_scale * input2_scale / output_scale >= 1 (the kernel's multiplier), else 2."""
    def mul(s1, s2, s_out):
        g = Graph("main")
        x = g.add_input(_int8_type((4,), s1), "x")
        y = g.add_input(_int8_type((4,), s2), "y")
        return version(Builder(g).create("tfl.mul", [x, y], output_types=[_int8_type((4,), s_out)]))

    assert mul(0.05, 0.05, 0.01) == 2
    assert mul(0.5, 0.5, 0.25) == 3
    assert mul(0.5, 0.5, 0.2) == 3
    x, b = _graph_with_input((4,))
    assert version(b.create("tfl.mul", [x, x])) == 1


def test_quantize_dequantize_versions():
    x, b = _graph_with_input((3, 4))
    per_tensor = b.create("tfl.quantize", [x], output_types=[_int8_type((3, 4))])
    int16 = b.create("tfl.quantize", [x], output_types=[TensorType(DType.INT16, (3, 4), QuantParams([0.001], [0]))])
    per_channel = b.create("tfl.quantize", [x], output_types=[
        TensorType(DType.INT8, (3, 4), QuantParams([0.1, 0.2, 0.3], [0, 0, 0], 0))])
    requantize = b.create("tfl.quantize", [per_tensor.outputs[0]], output_types=[_int8_type((3, 4), 0.1)])
    assert [version(n) for n in (per_tensor, int16, per_channel, requantize)] == [1, 2, 3, 1]
    rng = np.random.default_rng(0)
    w = _int8_weights(rng, (3, 4))
    deq = [b.create("tfl.dequantize", [v]) for v in (
        quantized_const(b, w, 0.02), quantized_const(b, w, [0.01, 0.02, 0.03], axis=0),
        b.const(w.astype(np.float16)))]
    assert [version(n) for n in deq] == [2, 5, 3]


def _run(litert, blob, feeds):
    interp = litert(model_content=blob)
    return interp.get_signature_runner("serving_default")(**feeds)


@pytest.mark.parametrize("op", ["conv_2d", "depthwise_conv_2d", "fully_connected"])
def test_litert_runs_per_channel_hybrid_with_each_channels_scale(op, litert_interpreter):
    """LiteRT accepts the per-channel hybrid version written and applies every channel's scale:
    its output equals (to the hybrid kernel's input rounding) LiteRT's float op on the dequantized
    weights, and differs from the weights read with the first scale only."""
    rng = np.random.default_rng(0)
    shapes = {"conv_2d": ((1, 6, 6, 3), (4, 3, 3, 3), 0), "depthwise_conv_2d": ((1, 6, 6, 4), (1, 3, 3, 4), 3),
              "fully_connected": ((2, 6), (4, 6), 0)}
    x_shape, w_shape, axis = shapes[op]
    scales = np.array([0.004, 0.01, 0.02, 0.05])
    w = _int8_weights(rng, w_shape)
    bshape = [1] * len(w_shape)
    bshape[axis] = 4
    feeds = {"x": rng.normal(0, 1, x_shape).astype(np.float32)}

    def model(weights):
        x, b = _graph_with_input(x_shape)
        out = b.op(f"tfl.{op}", [x, weights(b), b.const(np.zeros(4, np.float32))])
        out.name = "y"
        b.graph.outputs = [out]
        return b.graph

    hybrid = model(lambda b: quantized_const(b, w, scales, axis=axis))
    assert version(hybrid.outputs[0].producer) == {"conv_2d": 5, "depthwise_conv_2d": 6, "fully_connected": 12}[op]
    got = _run(litert_interpreter, write_tflite(hybrid), feeds)["y"]
    exact = _run(litert_interpreter, write_tflite(model(lambda b: b.const((w * scales.reshape(bshape)).astype(np.float32)))), feeds)["y"]
    first_scale = _run(litert_interpreter, write_tflite(model(lambda b: b.const((w * scales[0]).astype(np.float32)))), feeds)["y"]
    err = np.abs(got - exact).max()
    assert err < 0.02 * np.abs(exact).max(), err
    assert err < 0.1 * np.abs(got - first_scale).max()
