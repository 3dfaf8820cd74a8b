"""Reader: lift LiteRT-runnable models (TF's converter's and ours), round trip, bad files."""
from __future__ import annotations

import numpy as np
import pytest

from litesmith.backends.tflite import read_tflite, write_tflite
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node
from litesmith.ir.interpreter import run
from litesmith.ir.types import QuantParams, TensorType

RNG = np.random.default_rng(1)


def litert_run(interp_cls, model: bytes, feeds):
    return interp_cls(model_content=model).get_signature_runner("serving_default")(**feeds)


def litert_run_plain(interp_cls, model: bytes, inputs):
    """Run without a signature (TF's from_concrete_functions writes none); outputs in subgraph order."""
    it = interp_cls(model_content=model)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


@pytest.fixture(scope="session")
def tf_converted_model(tf):
    """A tiny conv net converted by TF's own converter (the peer whose output we must read)."""
    k = tf.constant(RNG.standard_normal((3, 3, 3, 4)).astype(np.float32))
    bias = tf.constant(RNG.standard_normal(4).astype(np.float32))
    w = tf.constant(RNG.standard_normal((4, 5)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32, name="image")])
    def net(image):
        y = tf.nn.relu(tf.nn.conv2d(image, k, 1, "SAME") + bias)
        y = tf.nn.max_pool2d(y, 2, 2, "VALID")
        y = tf.reduce_mean(y, axis=[1, 2])
        y = tf.reshape(tf.matmul(y, w), [5])
        return {"probs": tf.nn.softmax(y), "top": tf.math.top_k(y, 2).indices}

    conv = tf.lite.TFLiteConverter.from_concrete_functions([net.get_concrete_function()], net)
    return conv.convert()


def test_reads_tf_converter_model(tf_converted_model, litert_interpreter):
    g = read_tflite(tf_converted_model)
    ops = {n.op for n in g}
    assert {"tfl.conv_2d", "tfl.max_pool_2d", "tfl.mean", "tfl.softmax", "tfl.topk_v2"} <= ops
    assert [v.name for v in g.inputs] == ["image"]
    assert len(g.outputs) == 2
    conv = next(n for n in g if n.op == "tfl.conv_2d")
    assert conv.attrs["padding"] == "SAME" and conv.attrs["fused_activation_function"] == "RELU"
    x = RNG.standard_normal((1, 8, 8, 3)).astype(np.float32)
    want = litert_run_plain(litert_interpreter, tf_converted_model, [x])
    got = run(g, {"image": x})
    for v, w in zip(g.outputs, want):
        assert got[v.name].dtype == w.dtype and got[v.name].shape == w.shape
        np.testing.assert_allclose(got[v.name], w, rtol=1e-4, atol=1e-6)


def test_write_read_of_tf_converter_model_gives_same_outputs(tf_converted_model, litert_interpreter):
    again = write_tflite(read_tflite(tf_converted_model))
    x = RNG.standard_normal((1, 8, 8, 3)).astype(np.float32)
    want = litert_run_plain(litert_interpreter, tf_converted_model, [x])
    got = litert_run_plain(litert_interpreter, again, [x])
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _control_flow_model():
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    b = Builder(g)
    cond, body = Graph("cond"), Graph("body")
    for r in (cond, body):
        r.add_input(TensorType(DType.INT32, ()), "i")
        r.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    cb = Builder(cond)
    cond.outputs = [cb.op("tfl.less", [cond.inputs[0], cb.const(np.int32(3))])]
    bb = Builder(body)
    body.outputs = [bb.op("tfl.add", [body.inputs[0], bb.const(np.int32(1))]),
                    bb.op("tfl.tanh", [bb.op("tfl.mul", [body.inputs[1], bb.const(np.float32(2.0))])])]
    _, y = b.op("tfl.while", [b.const(np.int32(0)), x], regions=[cond, body])
    y.name = "y"
    g.outputs = [y]
    g.meta["litesmith.state"] = b'{"pairs": []}'
    return g


def test_round_trip_of_our_model_with_regions_and_metadata(litert_interpreter):
    first = write_tflite(_control_flow_model())
    g = read_tflite(first)
    (loop,) = [n for n in g if n.op == "tfl.while"]
    assert len(loop.regions) == 2 and len(loop.regions[1].nodes) >= 3
    assert g.meta["litesmith.state"] == b'{"pairs": []}'
    second = write_tflite(g)
    x = np.array([0.1, -0.5, 2.0], np.float32)
    want = litert_run(litert_interpreter, first, {"x": x})["y"]
    np.testing.assert_allclose(litert_run(litert_interpreter, second, {"x": x})["y"], want, rtol=1e-6)
    np.testing.assert_allclose(run(g, {"x": x})["y"], want, rtol=1e-6)
    assert write_tflite(read_tflite(second)) == second  # a fixed point after one trip


def test_quantization_params_and_constants_survive():
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (4,)), "x")
    b = Builder(g)
    qt = TensorType(DType.INT8, (4,), QuantParams([0.0625], [-2]))
    q = b.op("tfl.quantize", [x], output_types=[qt])
    y = b.op("tfl.dequantize", [q])
    y.name = "y"
    g.outputs = [y]
    back = read_tflite(write_tflite(g))
    (qnode,) = [n for n in back if n.op == "tfl.quantize"]
    assert qnode.outputs[0].type.quant == QuantParams([0.0625], [-2])
    xv = np.array([0.3, -1.0, 0.02, 5.0], np.float32)
    np.testing.assert_allclose(run(back, {"x": xv})["y"], run(g, {"x": xv})["y"])


def test_unknown_builtin_becomes_foreign_node_and_round_trips(litert_interpreter):
    """SEGMENT_SUM and EMBEDDING_LOOKUP are builtins litesmith does not declare (MATRIX_SET_DIAG and
    REVERSE_SEQUENCE were, until they got tfl ops of their own)."""
    from litesmith.ir.registry import ensure_dialect, get_op

    ensure_dialect("tfl")
    assert get_op("tfl.segment_sum") is None and get_op("tfl.embedding_lookup") is None
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (3, 2)), "x")
    ids = Builder(g).const(np.array([0, 0, 1], np.int32))
    s = g.append(Node("tflite.SEGMENT_SUM", [x, ids], {"op_version": 1, "builtin_options_type": "SegmentSumOptions"},
                      [TensorType(DType.FLOAT32, (2, 2))], output_names=["s"]))
    rows = Builder(g).const(np.array([1, 0], np.int32))
    looked = g.append(Node("tflite.EMBEDDING_LOOKUP", [rows, s.outputs[0]], {"op_version": 1},
                           [TensorType(DType.FLOAT32, (2, 2))], output_names=["o"]))
    g.outputs = [s.outputs[0], looked.outputs[0]]
    model = write_tflite(g)
    xv = RNG.standard_normal((3, 2)).astype(np.float32)
    want = litert_run(litert_interpreter, model, {"x": xv})
    np.testing.assert_allclose(want["s"], np.stack([xv[0] + xv[1], xv[2]]), rtol=1e-6)
    np.testing.assert_array_equal(want["o"], want["s"][::-1])
    back = read_tflite(model)
    seg = next(n for n in back if n.op == "tflite.SEGMENT_SUM")
    assert seg.attrs["builtin_options_type"] == "SegmentSumOptions"
    assert any(n.op == "tflite.EMBEDDING_LOOKUP" for n in back)
    got = litert_run(litert_interpreter, write_tflite(back), {"x": xv})
    for name in ("s", "o"):
        np.testing.assert_array_equal(got[name], want[name])


def test_read_from_path(tmp_path):
    p = tmp_path / "m.tflite"
    p.write_bytes(write_tflite(_control_flow_model()))
    assert read_tflite(str(p)).output_names() == ["y"]
    assert read_tflite(p).output_names() == ["y"]


@pytest.mark.parametrize("bad", ["garbage", "truncated", "wrong_identifier", "empty"])
def test_bad_files_are_user_errors_naming_the_file(bad, tmp_path):
    good = write_tflite(_control_flow_model())
    data = {
        "garbage": bytes(RNG.integers(0, 256, 300, dtype=np.uint8)),
        "truncated": good[: len(good) // 3],
        "wrong_identifier": good[:4] + b"XXXX" + good[8:],
        "empty": b"",
    }[bad]
    p = tmp_path / f"{bad}.tflite"
    p.write_bytes(data)
    with pytest.raises(UserError, match=f"{bad}.tflite"):
        read_tflite(p)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="nope.tflite"):
        read_tflite(tmp_path / "nope.tflite")


def test_an_empty_constant_reads_back(litert_interpreter):
    """A RESHAPE to a scalar has the shape [] as a constant of no elements, which the writer gives
    an empty buffer (as TF's converter does); the reader takes it as that constant, not as a
    tensor nothing writes, and LiteRT runs the model."""
    import litesmith
    from litesmith.ir import parse_ir

    src = """
    graph @g(%x: f32[1]) {
      %s = core.const() {value = dense<i32[0]> []} : i32[0]
      %y = core.reshape(%x, %s) : f32[]
      %z = core.mul(%y, %y) : f32[]
      return %z
    }
    """
    blob = bytes(litesmith.compile(parse_ir(src)))
    x = np.asarray([3.0], np.float32)
    assert run(read_tflite(blob), {"x": x})["z"] == np.float32(9.0)
    got = litert_run_plain(litert_interpreter, blob, [x])
    np.testing.assert_array_equal(got[0], np.float32(9.0))
