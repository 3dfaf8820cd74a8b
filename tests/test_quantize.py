"""Quantization: float16, dynamic and int8 models run in LiteRT, stay close to the float model,
shrink, and our integer reference kernels agree with LiteRT's (bit-exact or within 1 LSB, per op)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from litesmith.backends.quantize import quantize_graph
from litesmith.backends.quantize.kernels import QuantizedInterpreter
from litesmith.backends.tflite import read_tflite, write_tflite
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph
from litesmith.ir.types import TensorType

RNG = np.random.default_rng(7)


def cnn() -> Graph:
    """conv(RELU) -> depthwise -> max_pool -> reshape -> fc -> add -> (softmax, logistic, tanh, concat)."""
    rng = np.random.default_rng(0)
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (1, 8, 8, 3)), "image")
    b = Builder(g)
    w1 = b.const(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3, name="conv/w")
    b1 = b.const(rng.standard_normal(8).astype(np.float32) * 0.1, name="conv/b")
    y = b.op("tfl.conv_2d", [x, w1, b1], {"padding": "SAME", "fused_activation_function": "RELU"}, name="conv")
    w2 = b.const(rng.standard_normal((1, 3, 3, 8)).astype(np.float32) * 0.3, name="dw/w")
    b2 = b.const(rng.standard_normal(8).astype(np.float32) * 0.1, name="dw/b")
    y = b.op("tfl.depthwise_conv_2d", [y, w2, b2], {"padding": "VALID"}, name="dw")
    y = b.op("tfl.max_pool_2d", [y], {"filter_width": 2, "filter_height": 2, "stride_w": 2, "stride_h": 2}, name="pool")
    y = b.op("tfl.reshape", [y, b.const(np.array([1, 72], np.int32), name="flat/shape")], name="flat")
    w3 = b.const(rng.standard_normal((10, 72)).astype(np.float32) * 0.2, name="fc/w")
    b3 = b.const(rng.standard_normal(10).astype(np.float32) * 0.1, name="fc/b")
    y = b.op("tfl.fully_connected", [y, w3, b3], name="fc")
    y = b.op("tfl.add", [y, b.const(np.linspace(-1, 1, 10, dtype=np.float32).reshape(1, 10), name="offset")], name="logits")
    probs = b.op("tfl.softmax", [y], name="probs")
    gate = b.op("tfl.logistic", [y], name="gate")
    squashed = b.op("tfl.tanh", [y], name="squashed")
    both = b.op("tfl.concatenation", [gate, squashed], {"axis": 1}, name="both")
    g.outputs = [probs, both]
    return g


def images(n, seed=1):
    return np.random.default_rng(seed).standard_normal((n, 1, 8, 8, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def calibration():
    return {"image": images(24)}


def litert_run(interp_cls, blob, feeds, reference_kernels=False):
    kw = {}
    if reference_kernels:
        from ai_edge_litert.interpreter import OpResolverType

        kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
    runner = interp_cls(model_content=blob, **kw).get_signature_runner("serving_default")
    return runner(**feeds)


@pytest.fixture(scope="module")
def float_blob():
    return write_tflite(cnn())


@pytest.fixture(scope="module")
def int8_model(calibration):
    report = {}
    g = quantize_graph(cnn(), "int8", calibration=calibration, report=report, progress=False)
    return g, write_tflite(g), report


def test_int8_close_to_float_in_litert(int8_model, float_blob, litert_interpreter):
    _, blob, _ = int8_model
    for x in images(8, seed=99):
        ref = litert_run(litert_interpreter, float_blob, {"image": x})
        got = litert_run(litert_interpreter, blob, {"image": x})
        assert got["probs"].dtype == np.float32
        np.testing.assert_allclose(got["probs"], ref["probs"], atol=0.03)
        np.testing.assert_allclose(got["both"], ref["both"], atol=0.1)  # logits scale ~0.04, tanh slope 1


def test_int8_graph_is_integer_inside(int8_model):
    g, _, report = int8_model
    ops = {n.op: n for n in g if n.op != "core.const"}
    for op in ("tfl.conv_2d", "tfl.depthwise_conv_2d", "tfl.fully_connected", "tfl.softmax", "tfl.add"):
        assert ops[op].inputs[0].dtype is DType.INT8, op
    conv = ops["tfl.conv_2d"]
    w, bias = conv.inputs[1], conv.inputs[2]
    assert w.quant.axis == 0 and len(w.quant.scale) == 8 and set(w.quant.zero_point) == {0}
    assert bias.dtype is DType.INT32
    np.testing.assert_allclose(bias.quant.scale, np.float32(conv.inputs[0].quant.scale[0]) * np.float32(w.quant.scale), rtol=1e-6)
    assert ops["tfl.softmax"].outputs[0].quant.scale[0] == pytest.approx(1 / 256)
    assert ops["tfl.softmax"].outputs[0].quant.zero_point == (-128,)
    assert ops["tfl.tanh"].outputs[0].quant.zero_point == (0,)
    assert report["float_ops"] == {}


def test_int8_reference_interpreter_matches_litert(int8_model, litert_interpreter):
    g, blob, _ = int8_model
    for x in images(4, seed=5):
        ours = QuantizedInterpreter(g).run({"image": x})
        theirs = litert_run(litert_interpreter, blob, {"image": x}, reference_kernels=True)
        for name in ours:
            scale = max(v.quant.scale[0] for v in g.nodes[-1].graph.values() if v.quant is not None and v.name.startswith(name))
            assert np.max(np.abs(ours[name] - theirs[name])) <= scale * 1.001 + 1e-7, name


def test_int8_io(calibration, litert_interpreter, float_blob):
    g = quantize_graph(cnn(), "int8", calibration=calibration, io_dtype="int8", progress=False)
    blob = write_tflite(g)
    runner = litert_interpreter(model_content=blob)
    details = {d["name"]: d for d in runner.get_input_details()}
    d = details["image"]
    assert d["dtype"] == np.int8
    scale, zp = d["quantization"]
    x = images(1, seed=3)[0]
    qx = np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)
    out = runner.get_signature_runner("serving_default")(image=qx)
    assert out["probs"].dtype == np.int8
    od = {o["name"]: o for o in runner.get_output_details()}
    # output tensor names come from the signature: look the probs params up from our graph
    pv = next(v for v in g.outputs if v.name == "probs")
    probs = (out["probs"].astype(np.float32) - pv.quant.zero_point[0]) * pv.quant.scale[0]
    ref = litert_run(litert_interpreter, float_blob, {"image": x})["probs"]
    np.testing.assert_allclose(probs, ref, atol=0.03)
    assert od  # the model has outputs


def test_accuracy_report(int8_model):
    _, _, report = int8_model
    acc = report["accuracy"]
    json.dumps(report)
    probs = acc["outputs"]["probs"]
    assert probs["max_abs_error"] < 0.05 and 0 < probs["mean_abs_error"]
    assert probs["top1_agreement"] >= 0.9
    names = [layer["tensor"] for layer in acc["layers"]]
    assert names[:3] == ["conv", "dw", "pool"]


def weight_heavy() -> Graph:
    rng = np.random.default_rng(2)
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (1, 256)), "x")
    b = Builder(g)
    y = x
    for i in range(3):
        w = b.const(rng.standard_normal((256, 256)).astype(np.float32) / 16, name=f"fc{i}/w")
        bias = b.const(rng.standard_normal(256).astype(np.float32) * 0.1, name=f"fc{i}/b")
        y = b.op("tfl.fully_connected", [y, w, bias], {"fused_activation_function": "RELU" if i < 2 else "NONE"}, name=f"fc{i}")
    g.outputs = [y]
    return g


def test_sizes_shrink_and_modes_run(litert_interpreter):
    float_blob = write_tflite(weight_heavy())
    x = np.random.default_rng(4).standard_normal((1, 256)).astype(np.float32)
    ref = litert_run(litert_interpreter, float_blob, {"x": x})["fc2"]
    calib = {"x": np.random.default_rng(5).standard_normal((32, 1, 256)).astype(np.float32)}
    sizes = {}
    for mode, tol in (("int8", 0.08), ("dynamic", 0.05), ("float16", 0.005)):
        g = quantize_graph(weight_heavy(), mode, calibration=calib if mode == "int8" else None, progress=False)
        blob = write_tflite(g)
        sizes[mode] = len(blob)
        got = litert_run(litert_interpreter, blob, {"x": x})["fc2"]
        err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
        assert err < tol, (mode, err)
    assert sizes["int8"] <= 0.3 * len(float_blob)
    assert sizes["dynamic"] <= 0.3 * len(float_blob)
    assert sizes["float16"] <= 0.55 * len(float_blob)


def test_float16_weights_are_float16_in_file():
    g = quantize_graph(weight_heavy(), "float16", progress=False)
    back = read_tflite(write_tflite(g))
    consts = [n.outputs[0] for n in back if n.op == "core.const" and n.outputs[0].name.endswith("/w/f16")]
    assert len(consts) == 3 and all(v.dtype is DType.FLOAT16 for v in consts)
    assert sum(1 for n in back if n.op == "tfl.dequantize") >= 3


def test_dynamic_uses_hybrid_fully_connected():
    g = quantize_graph(weight_heavy(), "dynamic", progress=False)
    fcs = [n for n in g if n.op == "tfl.fully_connected"]
    assert all(n.inputs[0].dtype is DType.FLOAT32 and n.inputs[1].dtype is DType.INT8 for n in fcs)
    assert all(n.attrs["asymmetric_quantize_inputs"] for n in fcs)


def test_bad_input_is_user_error():
    with pytest.raises(UserError, match="calibration"):
        quantize_graph(cnn(), "int8")
    with pytest.raises(UserError, match="mode"):
        quantize_graph(cnn(), "int4")
    with pytest.raises(UserError, match="lacks model input"):
        quantize_graph(cnn(), "int8", calibration={"other": np.zeros((2, 1))}, progress=False)


@pytest.mark.parametrize("array, message", [
    (np.zeros((4,), np.float32), r"shape \[4\], expected \[sequences, steps, 1, 4\]"),
    (np.zeros((4, 6, 4), np.float32), r"shape \[4, 6, 4\], expected \[sequences, steps, 1, 4\]"),
    (np.zeros((4, 6, 1, 5), np.float32), r"expected \[sequences, steps, 1, 4\].*whole sequences"),
    (np.full((4, 6, 1, 4), 1 + 1j), r"dtype complex128, the model input is f32"),
])
def test_calibration_arrays_are_checked_against_the_inputs(array, message):
    with pytest.raises(UserError, match=message):
        quantize_graph(rnn_cell(), "int8", calibration={"x": array}, progress=False)


def rnn_cell() -> Graph:
    """h' = tanh(fc(concat(x, h))): one step, state pair h -> h_out."""
    rng = np.random.default_rng(3)
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (1, 4)), "x")
    h = g.add_input(TensorType(DType.FLOAT32, (1, 8)), "h")
    b = Builder(g)
    xh = b.op("tfl.concatenation", [x, h], {"axis": 1}, name="xh")
    w = b.const(rng.standard_normal((8, 12)).astype(np.float32) * 0.6, name="cell/w")
    y = b.op("tfl.fully_connected", [xh, w, b.const(np.zeros(8, np.float32), name="cell/b")], name="pre")
    g.outputs = [b.op("tfl.tanh", [y], name="h_out")]
    g.meta["litesmith.state"] = json.dumps([{"input": "h", "output": "h_out", "shape": [1, 8]}])
    return g


def test_stateful_calibration_threads_state(litert_interpreter):
    from litesmith.backends.quantize.calibrate import calibrate

    g = rnn_cell()
    seqs = {"x": np.random.default_rng(0).standard_normal((4, 6, 1, 4)).astype(np.float32)}
    ranges = calibrate(g, seqs, progress=False)
    lo, hi = ranges[g.input_by_name("h")]
    assert lo < -0.1 and hi > 0.1  # zero only at the first step: the state got real values
    q = quantize_graph(rnn_cell(), "int8", calibration=seqs, progress=False)
    fl_runner = litert_interpreter(model_content=write_tflite(rnn_cell())).get_signature_runner("serving_default")
    q_runner = litert_interpreter(model_content=write_tflite(q)).get_signature_runner("serving_default")
    hf = hq = np.zeros((1, 8), np.float32)
    for t in range(6):
        x = seqs["x"][1, t]
        hf = fl_runner(x=x, h=hf)["h_out"]
        hq = q_runner(x=x, h=hq)["h_out"]
    np.testing.assert_allclose(hq, hf, atol=0.15)  # 6 recurrent steps; measured max ~0.11
