"""ONNX LSTM/GRU/RNN: the loop form (as the TF frontend makes it), plain conversion through
unroll-loops, and single-step state I/O through strip-batch,unroll-rnn,fold-constants, all
against onnxruntime."""
from __future__ import annotations

import json
from textwrap import dedent

import numpy as np
import pytest
from onnx import TensorProto, helper

import litesmith
from litesmith.frontends.onnx import load_onnx
from litesmith.ir import run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes import run_pipeline
from onnx_models import check_against_ort, init, make_model, run_ort, run_tflite, vinfo

T, B, V, E, H = 5, 1, 11, 6, 8


def _w(rng, *shape):
    return (rng.normal(size=shape) * 0.5).astype(np.float32)


def lstm_lm(seed=0, symbolic=False, steps=T):
    """ids [T, 1] -> embedding Gather -> LSTM(8) -> Squeeze -> MatMul + Add -> Softmax: a one-layer LM.
    ``symbolic``: the ids are declared ["T", "B"] (dim_params), as exporters write a dynamic axis."""
    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Gather", ["emb", "ids"], ["x"]),
        helper.make_node("LSTM", ["x", "W", "R", "Bb"], ["Y", "Yh", "Yc"], hidden_size=H),
        helper.make_node("Squeeze", ["Y", "ax1"], ["ys"]),
        helper.make_node("MatMul", ["ys", "Wo"], ["lo"]),
        helper.make_node("Add", ["lo", "bo"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    inits = [init("emb", _w(rng, V, E)), init("W", _w(rng, 1, 4 * H, E)), init("R", _w(rng, 1, 4 * H, H)),
             init("Bb", _w(rng, 1, 8 * H)), init("ax1", np.array([1], np.int64)), init("Wo", _w(rng, H, V)),
             init("bo", _w(rng, V))]
    dims = ["T", "B"] if symbolic else [T, B]
    model = make_model(nodes, [vinfo("ids", dims, TensorProto.INT64)], [vinfo("probs", dims + [V])], inits)
    ids = rng.integers(0, V, size=(steps, B)).astype(np.int64)
    return model, ids


@pytest.mark.parametrize("symbolic", [False, True], ids=["static", "symbolic"])
def test_lstm_lm_lifts_to_the_loop_form(symbolic):
    model, ids = lstm_lm(symbolic=symbolic)
    g = load_onnx(model.SerializeToString())
    ops = [n.op for n in g.walk()]
    assert ops.count("core.while") == 1 and "core.tensor_list_from_tensor" in ops and "core.tensor_list_stack" in ops
    np.testing.assert_allclose(run(g, {"ids": ids})["probs"], run_ort(model, {"ids": ids})["probs"], atol=1e-6)
    if symbolic:  # any T and B: the loop reads them at run time
        wide = np.random.default_rng(2).integers(0, V, size=(3, 4)).astype(np.int64)
        np.testing.assert_allclose(run(g, {"ids": wide})["probs"], run_ort(model, {"ids": wide})["probs"], atol=1e-6)


@pytest.mark.parametrize("symbolic", [False, True], ids=["static", "symbolic-batch-and-time"])
def test_lstm_lm_becomes_a_single_step_with_state_io(symbolic, litert_interpreter):
    """strip-batch,unroll-rnn,fold-constants: ids [] and the LSTM's (h, c) as state I/O, every step
    matching onnxruntime's full-sequence run, in the IR interpreter and in LiteRT. With symbolic
    dims the loop reads T and B at run time until strip-batch pins B and unroll-rnn sets T."""
    model, ids = lstm_lm(symbolic=symbolic, steps=7 if symbolic else T)
    want = run_ort(model, {"ids": ids})["probs"]
    g = load_onnx(model.SerializeToString())
    blob = litesmith.compile(g, "strip-batch,unroll-rnn,fold-constants")
    run_pipeline(g, "strip-batch,unroll-rnn,fold-constants", verify_each=True)
    assert not {"core.while", "core.tensor_list_from_tensor"} & {n.op for n in g.walk()}
    assert [(v.name, v.shape) for v in g.inputs] == [("ids", ()), ("state/0", (H,)), ("state/1", (H,))]
    pairs = json.loads(g.meta["litesmith.state"])
    state = {p["input"]: np.zeros(p["shape"], np.float32) for p in pairs}
    tstate = dict(state)
    for t in range(len(ids)):
        out = run(g, {"ids": ids[t, 0], **state})
        np.testing.assert_allclose(out["probs"].reshape(-1), want[t, 0], atol=1e-6)
        state = {p["input"]: out[p["output"]] for p in pairs}
        touts, ops = run_tflite(litert_interpreter, blob, {"ids": ids[t, 0], **tstate})
        np.testing.assert_allclose(touts["probs"].reshape(-1), want[t, 0], atol=1e-5)
        tstate = {p["input"]: touts[p["output"]] for p in pairs}
    assert "WHILE" not in ops and ops["FULLY_CONNECTED"] >= 1


@pytest.mark.parametrize("kind,attrs", [
    ("LSTM", {"direction": "bidirectional"}),
    ("LSTM", {"clip": 0.7, "input_forget": 1}),  # (onnxruntime has no layout=1: the node tests cover it)
    ("GRU", {"direction": "reverse", "linear_before_reset": 1}),
    ("GRU", {"direction": "bidirectional", "activations": ["HardSigmoid", "Relu", "Sigmoid", "Tanh"]}),
    ("RNN", {"activations": ["LeakyRelu"], "activation_alpha": [0.3]}),
], ids=["lstm-bidi", "lstm-clip-coupled", "gru-reverse-lbr", "gru-bidi-activations", "rnn-leaky"])
def test_recurrent_ops_convert_and_match_onnxruntime(kind, attrs, litert_interpreter):
    rng = np.random.default_rng(3)
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    layout = attrs.get("layout", 0)
    x = _w(rng, *((2, 4, 3) if layout else (4, 2, 3)))
    inits = [init("W", _w(rng, dirs, gates * 5, 3)), init("R", _w(rng, dirs, gates * 5, 5)),
             init("Bb", _w(rng, dirs, 2 * gates * 5))]
    init_h = _w(rng, *((2, dirs, 5) if layout else (dirs, 2, 5)))
    outs = ["Y", "Yh"] + (["Yc"] if kind == "LSTM" else [])
    node = helper.make_node(kind, ["x", "W", "R", "Bb", "", "h0"], outs, hidden_size=5, **attrs)
    model = make_model([node], [vinfo("x", list(x.shape)), vinfo("h0", list(init_h.shape))],
                       [helper.make_empty_tensor_value_info(o) for o in outs], inits)
    import onnx

    model = onnx.shape_inference.infer_shapes(model)
    del model.graph.output[:]
    model.graph.output.extend([vi for vi in model.graph.value_info if vi.name in outs])
    _, ops = check_against_ort(model, {"x": x, "h0": init_h}, litert_interpreter)
    assert "WHILE" not in ops


UNROLL = """
    graph @main(%x: f32[3,2]) {
      %zero = core.const() {value = dense<i32[]> 0} : i32[]
      %h0 = core.const() {value = dense<f32[2]> [0.5, -0.5]} : f32[2]
      %xs = core.tensor_list_from_tensor(%x) {element_shape = shape<2>} : list<f32[2]>
      %t, %h, %l = core.while(%zero, %h0, %xs) {max_iterations = 0} (
        ^cond(%i: i32[], %a: f32[2], %b: list<f32[2]>) {
          %n = core.tensor_list_length(%b) : i32[]
          %k = core.less(%i, %n) : bool[]
          return %k
        },
        ^body(%i: i32[], %a: f32[2], %b: list<f32[2]>) {
          %one = core.const() {value = dense<i32[]> 1} : i32[]
          %j = core.add(%i, %one) : i32[]
          %e = core.tensor_list_get_item(%b, %i) {element_dtype = f32} : f32[2]
          %s = core.add(%a, %e) : f32[2]
          %y = core.tanh(%s) : f32[2]
          return %j, %y, %b
        }
      ) : i32[], f32[2], list<f32[2]>
      return %h
    }
"""


def test_unroll_loops_inlines_a_counted_loop():
    g = parse_ir(dedent(UNROLL))
    x = np.random.default_rng(5).normal(size=(3, 2)).astype(np.float32)
    want = run(g, {"x": x})["h"]
    report = run_pipeline(g, "unroll-loops,canonicalize,dce", verify_each=True)
    assert report["unroll-loops"].report["unrolled"] == {"t": 3}
    text = print_ir(g)
    assert "core.while" not in text and "tensor_list" not in text and text.count("core.tanh") == 3
    assert [v.name for v in g.inputs] == ["x"]  # the interface is unchanged (unlike unroll-rnn)
    np.testing.assert_allclose(run(g, {"x": x})["h"], want, rtol=1e-6)


def test_unroll_loops_leaves_unknown_trip_counts_alone():
    g = parse_ir(dedent(UNROLL.replace("f32[3,2]", "f32[?,2]")))
    report = run_pipeline(g, "unroll-loops", verify_each=True)
    assert report["unroll-loops"].report["skipped"] == ["t"] and "core.while" in print_ir(g)
