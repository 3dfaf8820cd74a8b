"""ONNX test models built with ``onnx.helper``, and the oracle check against onnxruntime.

``check_against_ort(model, feeds, litert)`` saves the model, loads it with
litesmith, runs the IR interpreter and (unless ``tflite=False``) the compiled
.tflite in LiteRT, and compares both with onnxruntime on the same feeds.
Weights are random but seeded; nothing hides behind a zero bias.
"""
from __future__ import annotations

import os
import tempfile
from typing import Dict, List, Optional, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT


def f32(rng, *shape, scale=1.0) -> np.ndarray:
    return (rng.normal(size=shape) * scale).astype(np.float32)


def init(name: str, arr) -> TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def vinfo(name: str, shape, dtype=F32):
    return helper.make_tensor_value_info(name, dtype, shape)


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 17, name: str = "m"):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)  # onnxruntime's newest supported IR version
    return model


def small_cnn(opset: int = 13, seed: int = 0):
    """conv(3->8, pad 1) -> batch norm -> relu -> depthwise conv (stride 2) -> residual add of a 1x1 conv ->
    max pool -> global average pool -> flatten -> gemm(10): the shape of the CNNs people export."""
    rng = np.random.default_rng(seed)
    inits = [
        init("W1", f32(rng, 8, 3, 3, 3, scale=0.4)), init("B1", f32(rng, 8)),
        init("s", rng.uniform(0.5, 1.5, 8).astype(np.float32)), init("bb", f32(rng, 8)),
        init("m", f32(rng, 8)), init("v", rng.uniform(0.5, 2, 8).astype(np.float32)),
        init("W2", f32(rng, 8, 1, 3, 3, scale=0.4)), init("W3", f32(rng, 8, 8, 1, 1, scale=0.4)),
        init("Wfc", f32(rng, 10, 8, scale=0.4)), init("bfc", f32(rng, 10)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "bb", "m", "v"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("Conv", ["r1", "W2"], ["c2"], group=8, pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Clip", ["c2"], ["r2"], min=0.0, max=6.0) if opset < 11 else
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "W3"], ["c3"]),
        helper.make_node("Add", ["c3", "r2"], ["a"]),
        helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "Wfc", "bfc"], ["y"], transB=1),
    ]
    return make_model(nodes, [vinfo("x", [1, 3, 16, 16])], [vinfo("y", [1, 10])], inits, opset, "small_cnn")


def mlp(opset: int = 13, seed: int = 1, batch: Optional[int] = 2):
    """x [batch, 8] -> MatMul + Add -> Tanh -> Gemm -> Softmax."""
    rng = np.random.default_rng(seed)
    inits = [init("W1", f32(rng, 8, 16, scale=0.5)), init("b1", f32(rng, 16)),
             init("W2", f32(rng, 16, 4, scale=0.5)), init("b2", f32(rng, 4))]
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Tanh", ["h1"], ["h"]),
        helper.make_node("Gemm", ["h", "W2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    dim = batch if batch is not None else "batch"
    return make_model(nodes, [vinfo("x", [dim, 8])], [vinfo("probs", [dim, 4])], inits, opset, "mlp")


def run_ort(model, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def run_tflite(litert, blob: bytes, feeds: Dict[str, np.ndarray]):
    """Outputs by name and the op histogram of a .tflite run in LiteRT."""
    from collections import Counter

    interp = litert(model_content=blob)
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.asarray(feeds[d["name"]], dtype=d["dtype"]))
    interp.invoke()
    outs = {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    ops = Counter(d["op_name"] for d in interp._get_ops_details() if d["op_name"] != "DELEGATE")
    return outs, ops


def save(model, directory: str, name: str = "model.onnx") -> str:
    path = os.path.join(directory, name)
    onnx.save(model, path)
    return path


def assert_close(got: np.ndarray, want: np.ndarray, tol: float, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs onnxruntime {want.shape}"
    if want.dtype == bool or not np.issubdtype(want.dtype, np.floating):
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    err = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
    assert err <= tol * scale, f"{what}: max abs err {err:.3g} > {tol} x {scale:.3g}"


def check_against_ort(model, feeds: Dict[str, np.ndarray], litert=None, *, tol: float = 1e-4,
                      tflite: bool = True, passes: Optional[str] = None, io_layout: Optional[str] = None):
    """Compare litesmith's IR interpreter and LiteRT with onnxruntime; returns (graph, LiteRT op histogram)."""
    import litesmith
    from litesmith.ir import run

    want = run_ort(model, feeds)
    with tempfile.TemporaryDirectory() as d:
        graph = litesmith.load(save(model, d))
    got = run(graph, feeds)
    for name, w in want.items():
        assert_close(got[name], w, tol, f"IR interpreter {name}")
    ops = None
    if tflite:
        blob = litesmith.compile(graph, passes, io_layout=io_layout)
        tfeeds = feeds if io_layout != "nhwc" else {k: (v.transpose(0, 2, 3, 1) if v.ndim == 4 else v)
                                                   for k, v in feeds.items()}
        outs, ops = run_tflite(litert, blob, tfeeds)
        for name, w in want.items():
            w = w.transpose(0, 2, 3, 1) if io_layout == "nhwc" and w.ndim == 4 else w
            assert_close(outs[name], w, tol, f"LiteRT {name}")
    return graph, ops


def node_model(op: str, inputs: Sequence[np.ndarray], n_out: int = 1, opset: int = 17, extra_inits=(),
               input_names: Optional[List[str]] = None, **attrs):
    """A one-node model whose float inputs are graph inputs and whose ``extra_inits`` are initializers."""
    names = input_names or [f"in{i}" for i in range(len(inputs))]
    vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape))
           for n, a in zip(names, inputs)]
    init_names = [t.name for t in extra_inits]
    outs = [f"out{i}" for i in range(n_out)]
    node = helper.make_node(op, names + init_names, outs, **attrs)
    graph = helper.make_graph([node], op.lower(), vis,
                              [helper.make_empty_tensor_value_info(o) for o in outs], list(extra_inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)
    return onnx.shape_inference.infer_shapes(model), dict(zip(names, inputs))


def light_models():
    """The 9 CNNs the onnx wheel ships for its backend tests (opset 9, placeholder weights)."""
    import glob

    folder = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
    return sorted(glob.glob(os.path.join(folder, "*.onnx")))


def check_light_model(path, litert):
    """(relative error vs onnxruntime, LiteRT op histogram, convert seconds)."""
    import time
    from collections import Counter

    import litesmith

    model = onnx.load(path)
    inits = {t.name for t in model.graph.initializer}
    (inp,) = [v for v in model.graph.input if v.name not in inits]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    x = np.random.default_rng(0).uniform(0, 1, size=shape).astype(np.float32)
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {inp.name: x})[0]
    t0 = time.perf_counter()
    blob = litesmith.compile(litesmith.load(path))
    seconds = time.perf_counter() - t0
    interp = litert(model_content=blob)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    got = interp.get_tensor(interp.get_output_details()[0]["index"])
    ops = Counter(d["op_name"] for d in interp._get_ops_details() if d["op_name"] != "DELEGATE")
    err = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
    return err, ops, seconds


def gpt2_decoder(T: int = 8, D: int = 16, heads: int = 2, blocks: int = 2, vocab: int = 24, *,
                 gelu: str = "erf", mask: str = "where", causal: bool = True, leak: int = 0, seed: int = 3):
    """A GPT-2-style causal decoder as PyTorch exports write it: ids [1, T] int64 -> token + learned position
    embeddings (Gather) -> pre-LN blocks (LayerNormalization; Q/K/V MatMul + Add; heads by Reshape/Transpose;
    scores scaled by Div; a constant lower-triangular ``bias`` [1, 1, 2T, 2T] sliced to [T, T] and applied with
    Where(bias, scores, finfo.min) (``mask="where"``) or Add of (1 - bias) * -1e4 (``mask="add"``); Softmax;
    MatMul with V; output projection; GELU MLP in the Erf or tanh form) -> final LN -> lm head tied to the token
    table. ``causal=False`` drops the mask: a bidirectional encoder; ``leak=1``: the mask lets each position see the
    next one."""
    rng = np.random.default_rng(seed)
    hd, I64 = D // heads, TensorProto.INT64
    inits = [init("wte", f32(rng, vocab, D, scale=0.5)), init("wpe", f32(rng, 2 * T, D, scale=0.3)),
             init("pos_ids", np.arange(T, dtype=np.int64)[None]),
             init("bias", np.tril(np.ones((2 * T, 2 * T), bool), leak)[None, None]),
             init("sl_start", np.array([0, 0], np.int64)), init("sl_end", np.array([T, T], np.int64)),
             init("sl_axes", np.array([2, 3], np.int64)),
             init("heads_shape", np.array([1, T, heads, hd], np.int64)), init("model_shape", np.array([1, T, D], np.int64)),
             init("scale", np.array(np.sqrt(hd), np.float32)), init("fill", np.array(np.finfo(np.float32).min, np.float32)),
             init("one", np.array(1.0, np.float32)), init("half", np.array(0.5, np.float32)),
             init("big_neg", np.array(-1e4, np.float32)), init("sqrt2", np.array(np.sqrt(2.0), np.float32)),
             init("three", np.array(3.0, np.float32)), init("c_tanh", np.array(0.044715, np.float32)),
             init("s_tanh", np.array(np.sqrt(2 / np.pi), np.float32))]
    nodes = [helper.make_node("Gather", ["wte", "ids"], ["tok"]),
             helper.make_node("Gather", ["wpe", "pos_ids"], ["pos"]),
             helper.make_node("Add", ["tok", "pos"], ["h0"])]
    if causal:
        nodes.append(helper.make_node("Slice", ["bias", "sl_start", "sl_end", "sl_axes"], ["causal"]))
        if mask == "add":
            nodes += [helper.make_node("Cast", ["causal"], ["causal_f"], to=F32),
                      helper.make_node("Sub", ["one", "causal_f"], ["blocked"]),
                      helper.make_node("Mul", ["blocked", "big_neg"], ["addend"])]

    def ln(x, p):
        inits.extend([init(f"{p}.g", 1 + f32(rng, D, scale=0.1)), init(f"{p}.b", f32(rng, D, scale=0.1))])
        nodes.append(helper.make_node("LayerNormalization", [x, f"{p}.g", f"{p}.b"], [p], axis=-1, epsilon=1e-5))
        return p

    def linear(x, p, n_in, n_out):
        inits.extend([init(f"{p}.w", f32(rng, n_in, n_out, scale=n_in ** -0.5)), init(f"{p}.bias", f32(rng, n_out, scale=0.1))])
        nodes.extend([helper.make_node("MatMul", [x, f"{p}.w"], [f"{p}.mm"]),
                      helper.make_node("Add", [f"{p}.mm", f"{p}.bias"], [p])])
        return p

    def op(kind, ins, out, **attrs):
        nodes.append(helper.make_node(kind, ins, [out], **attrs))
        return out

    h = "h0"
    for b in range(blocks):
        p = f"b{b}"
        x = ln(h, f"{p}.ln1")
        q, k, v = (op("Reshape", [linear(x, f"{p}.{n}", D, D), "heads_shape"], f"{p}.{n}h") for n in "qkv")
        q = op("Transpose", [q], f"{p}.qt", perm=[0, 2, 1, 3])
        k = op("Transpose", [k], f"{p}.kt", perm=[0, 2, 3, 1])
        v = op("Transpose", [v], f"{p}.vt", perm=[0, 2, 1, 3])
        s = op("Div", [op("MatMul", [q, k], f"{p}.qk"), "scale"], f"{p}.scores")
        if causal:
            s = (op("Where", ["causal", s, "fill"], f"{p}.masked") if mask == "where"
                 else op("Add", [s, "addend"], f"{p}.masked"))
        a = op("MatMul", [op("Softmax", [s], f"{p}.probs", axis=-1), v], f"{p}.att")
        a = op("Reshape", [op("Transpose", [a], f"{p}.att_t", perm=[0, 2, 1, 3]), "model_shape"], f"{p}.att_m")
        h = op("Add", [h, linear(a, f"{p}.proj", D, D)], f"{p}.r1")
        m = linear(ln(h, f"{p}.ln2"), f"{p}.fc", D, 4 * D)
        if gelu == "erf":
            e = op("Erf", [op("Div", [m, "sqrt2"], f"{p}.m_s")], f"{p}.erf")
            g = op("Mul", [op("Mul", [m, "half"], f"{p}.m_h"), op("Add", [e, "one"], f"{p}.erf1")], f"{p}.gelu")
        else:
            cube = op("Mul", [op("Pow", [m, "three"], f"{p}.m3"), "c_tanh"], f"{p}.m3c")
            t = op("Tanh", [op("Mul", [op("Add", [m, cube], f"{p}.inner"), "s_tanh"], f"{p}.inner_s")], f"{p}.tanh")
            g = op("Mul", [op("Mul", [m, "half"], f"{p}.m_h"), op("Add", [t, "one"], f"{p}.tanh1")], f"{p}.gelu")
        h = op("Add", [h, linear(g, f"{p}.mlp", 4 * D, D)], f"{p}.r2")
    op("MatMul", [ln(h, "ln_f"), op("Transpose", ["wte"], "wte_t", perm=[1, 0])], "logits")
    ids = rng.integers(0, vocab, size=(1, T)).astype(np.int64)
    model = make_model(nodes, [vinfo("ids", [1, T], I64)], [vinfo("logits", [1, T, vocab])], inits, 17, "gpt2")
    return model, ids


def step_in_litert(litert, blob: bytes, ids: np.ndarray, ids_name: str = "ids"):
    """Run a decode-step model in LiteRT token by token from zero caches, each step's ``*_out`` caches fed to the
    next: (the output at each position, the rows of every FULLY_CONNECTED output, the op names)."""
    interp = litert(model_content=blob)
    runner = interp.get_signature_runner("serving_default")
    details = runner.get_input_details()
    caches = {k: np.zeros(v["shape"], np.float32) for k, v in details.items() if k.startswith("cache/")}
    outputs = []
    for t, token in enumerate(ids):
        got = runner(**{ids_name: np.array([token], details[ids_name]["dtype"])}, position=np.array(t, np.int32), **caches)
        caches = {k[:-len("_out")]: v for k, v in got.items() if k.endswith("_out")}
        outputs.append(next(v for k, v in got.items() if not k.startswith("cache/")))
    shapes = {t["index"]: t["shape"] for t in interp.get_tensor_details()}
    ops = [d["op_name"] for d in interp._get_ops_details()]
    rows = [int(np.prod(shapes[d["outputs"][0]][:-1])) for d in interp._get_ops_details()
            if d["op_name"] == "FULLY_CONNECTED"]
    return outputs, rows, ops
