"""int8 for ONNX models: an ONNX CNN with Concat, a residual Add, MaxPool, AveragePool and a global
average pool, through the existing quantizer with the usual calibration format (``{input name:
[N, ...] samples}``). The .tflite must load and run in LiteRT, every int8 op must keep LiteRT's
scale rules (read from the flatbuffer), and the result must stay close to onnxruntime's float run."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import litesmith
from litesmith.frontends.onnx import load_onnx
from litesmith.backends.tflite import schema_generated as schema
from onnx_models import f32, init, make_model, run_ort, run_tflite, vinfo

BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}

# The bound on |LiteRT int8 - onnxruntime float|, relative to the largest float output: int8 steps of the
# activations (~range/255 per layer, six layers) measured 2.5% here; 5% leaves room for other seeds.
INT8_BOUND = 0.05


def concat_cnn(seed: int = 0):
    """x [1,3,16,16] -> conv+relu -> two branches (1x1 conv, 3x3 conv) -> Concat -> MaxPool ->
    conv + residual Add -> AveragePool -> GlobalAveragePool -> Flatten -> Gemm."""
    rng = np.random.default_rng(seed)
    inits = [init("W1", f32(rng, 8, 3, 3, 3, scale=0.4)), init("B1", f32(rng, 8, scale=0.1)),
             init("Wa", f32(rng, 4, 8, 1, 1, scale=0.4)), init("Ba", f32(rng, 4, scale=0.1)),
             init("Wb", f32(rng, 6, 8, 3, 3, scale=0.2)), init("Bb", f32(rng, 6, scale=0.1)),
             init("W3", f32(rng, 10, 10, 3, 3, scale=0.2)), init("B3", f32(rng, 10, scale=0.1)),
             init("Wfc", f32(rng, 5, 10, scale=0.4)), init("bfc", f32(rng, 5, scale=0.1))]
    nodes = [
        helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "Wa", "Ba"], ["a"]),
        helper.make_node("Conv", ["r1", "Wb", "Bb"], ["b0"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["b0"], ["b"]),
        helper.make_node("Concat", ["a", "b"], ["cat"], axis=1),
        helper.make_node("MaxPool", ["cat"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["mp", "W3", "B3"], ["c3"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c3", "mp"], ["res"]),
        helper.make_node("AveragePool", ["res"], ["ap"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["ap"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "Wfc", "bfc"], ["y"], transB=1),
    ]
    return make_model(nodes, [vinfo("x", [1, 3, 16, 16])], [vinfo("y", [1, 5])], inits, 13, "concat_cnn")


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 1, 3, 16, 16)).astype(np.float32)


@pytest.fixture(scope="module")
def int8_cnn():
    model = concat_cnn()
    graph = load_onnx(model.SerializeToString())
    report: dict = {}
    blob = litesmith.compile(graph, quantize="int8", calibration={"x": _images(32, 1)},
                             report=report, progress=False)
    return model, blob, report


def _quant(t):
    q = t.quantization
    if q is None or q.scale is None or not len(q.scale):
        return None
    return [float(s) for s in q.scale], [int(z) for z in q.zeroPoint]


def int8_ops(blob: bytes):
    """[(BUILTIN, [input (scales, zero points)], [output (scales, zero points)])] of the int8 operators."""
    model = schema.ModelT.InitFromPackedBuf(blob, 0)
    sub = model.subgraphs[0]
    rows = []
    for op in sub.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = BUILTIN_NAMES[max(code.builtinCode, code.deprecatedBuiltinCode)]
        outs = [sub.tensors[i] for i in op.outputs]
        if all(t.type == schema.TensorType.INT8 for t in outs):
            rows.append((name, [_quant(sub.tensors[i]) if i >= 0 else None for i in op.inputs],
                         [_quant(t) for t in outs]))
    return rows


def test_int8_onnx_cnn_keeps_litert_scale_rules(int8_cnn):
    _, blob, _ = int8_cnn
    rows = int8_ops(blob)
    names = {r[0] for r in rows}
    assert {"CONCATENATION", "ADD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "CONV_2D", "MEAN",
            "FULLY_CONNECTED"} <= names, names
    for name, ins, outs in rows:
        if name == "CONCATENATION":  # LiteRT's int8 concat: every input has the output's scale and zero point
            assert all(q == outs[0] for q in ins), (ins, outs)
        if name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            assert ins[0] == outs[0], (name, ins, outs)
        if name == "ADD":  # per-tensor params on both inputs and the output (LiteRT rescales between them)
            assert all(q is not None and len(q[0]) == 1 for q in ins + outs), (ins, outs)
        for q in ins[:1] + outs:
            assert q is None or all(-128 <= z <= 127 for z in q[1])


def test_int8_onnx_cnn_runs_in_litert_close_to_onnxruntime(int8_cnn, litert_interpreter):
    model, blob, report = int8_cnn
    worst = 0.0
    for x in _images(8, 7):  # not the calibration images
        want = run_ort(model, {"x": x})["y"]
        got, ops = run_tflite(litert_interpreter, blob, {"x": x})
        worst = max(worst, float(np.max(np.abs(got["y"] - want)) / np.max(np.abs(want))))
    assert worst <= INT8_BOUND, worst
    assert ops["TRANSPOSE"] <= 1 and ops["CONCATENATION"] == 1 and ops["QUANTIZE"] >= 1
    assert report["quantization"]["mode"] == "int8"
