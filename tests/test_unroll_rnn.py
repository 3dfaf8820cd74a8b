"""unroll-rnn: TF1 cells under dynamic_rnn (both control-flow forms) and Keras LSTM/GRU, one step at a time vs TF."""
import json
from textwrap import dedent

import numpy as np
import pytest

import litesmith
from litesmith.ir import UserError, run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.ir.verify import verify
from litesmith.passes import run_pipeline

STEP_VARIANTS = ["gru", "basic_rnn", "lstm_peephole_proj", "stacked_basic_lstm", "time_major", "final_state"]


def unrolled(model, pipeline):
    try:
        g = litesmith.load(model.pb_path)
    except UserError as e:
        pytest.xfail(f"frontend: {e}")
    run_pipeline(g, pipeline, verify_each=True)
    verify(g)
    assert not {"core.while", "core.shape", "core.range", "core.fill"} & {n.op for n in g.walk()}
    return g


def run_steps(g, x, expected):
    """Feed x [B, T, F] one step at a time per batch row, threading the state; compare each step's output."""
    pairs = json.loads(g.meta["litesmith.state"])
    name = g.inputs[0].name
    for b in range(x.shape[0]):
        state = {p["input"]: np.zeros(p["shape"], np.float32) for p in pairs}
        for t in range(x.shape[1]):
            out = run(g, {name: x[b, t], **state})
            np.testing.assert_allclose(out[g.outputs[0].name].reshape(-1), expected[b, t], atol=1e-5, rtol=0)
            state = {p["input"]: out[p["output"]] for p in pairs}
    return state, pairs


@pytest.mark.parametrize("variant", STEP_VARIANTS)
def test_rnn_cells_single_step_match_tf(rnn_cells, variant):
    m = rnn_cells[variant]
    time_major = m.meta["time_major"]
    pipeline = "strip-batch,unroll-rnn,fold-constants"  # time-major inputs are detected
    g = unrolled(m, pipeline)
    x = m.inputs["inputs"]
    expected = m.expected["output"]
    if time_major:
        x, expected = x.transpose(1, 0, 2), expected.transpose(1, 0, 2)
    assert g.inputs[0].shape == (x.shape[2],)
    state, pairs = run_steps(g, x, expected)
    if variant == "final_state":  # the graph's own final-state outputs are the last step's state
        out = run(g, {"inputs": x[-1, -1], **{p["input"]: np.zeros(p["shape"], np.float32) for p in pairs}})
        assert "final_c" in out and "final_h" in out


def test_keras_lstm_single_step_matches_tf(keras_lstm_v2):
    m = keras_lstm_v2
    g = unrolled(m, "strip-batch,unroll-rnn,fold-constants")
    (x,) = m.inputs.values()
    _, pairs = run_steps(g, x, m.expected[m.output_names[0]])
    assert len(pairs) == 2 and all(p["shape"] == [m.meta["sizes"]["hid"]] for p in pairs)


def test_unroll_fixed_steps_keeps_the_time_axis(rnn_cells_v2):
    m = rnn_cells_v2["gru"]
    g = unrolled(m, "strip-batch,unroll-rnn{steps=2},fold-constants")
    assert g.inputs[0].shape == (2, m.meta["sizes"]["feat"])
    pairs = json.loads(g.meta["litesmith.state"])
    x, expected = m.inputs["inputs"], m.expected["output"]
    state = {p["input"]: np.zeros(p["shape"], np.float32) for p in pairs}
    for t in (0, 2):
        out = run(g, {"inputs": x[1, t:t + 2], **state})
        np.testing.assert_allclose(out["output"].reshape(2, -1), expected[1, t:t + 2], atol=1e-5)
        state = {p["input"]: out[p["output"]] for p in pairs}


SIMPLE_LOOP = """
graph @main(%x: f32[?,3]) {
  %zero = core.const() {value = dense<i32[]> 0} : i32[]
  %h0 = core.const() {value = dense<f32[3]> [0.0, 0.0, 0.0]} : f32[3]
  %xs = core.tensor_list_from_tensor(%x) {element_shape = shape<3>} : list<f32[3]>
  %t, %h, %l = core.while(%zero, %h0, %xs) {max_iterations = 0} (
    ^cond(%i: i32[], %a: f32[3], %b: list<f32[3]>) {
      %n = core.tensor_list_length(%b) : i32[]
      %k = core.less(%i, %n) : bool[]
      return %k
    },
    ^body(%i: i32[], %a: f32[3], %b: list<f32[3]>) {
      %one = core.const() {value = dense<i32[]> 1} : i32[]
      %j = core.add(%i, %one) : i32[]
      %e = core.tensor_list_get_item(%b, %i) {element_dtype = f32} : f32[3]
      %s = core.add(%a, %e) : f32[3]
      %y = core.tanh(%s) : f32[3]
      return %j, %y, %b
    }
  ) : i32[], f32[3], list<f32[3]> loc("loop")
  return %h
}
"""


def test_text_ir_loop_becomes_one_step_with_state():
    g = parse_ir(dedent(SIMPLE_LOOP))
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    expected = run(g, {"x": x})["h"]
    report = run_pipeline(g, "unroll-rnn", verify_each=True)
    text = print_ir(g)
    assert "core.while" not in text and "tensor_list" not in text
    assert [v.name for v in g.inputs] == ["x", "state/0"] and str(g.inputs[0].type) == "f32[3]"
    assert json.loads(g.meta["litesmith.state"]) == report[0].report["state"]
    h = np.zeros(3, np.float32)
    for t in range(4):
        h = run(g, {"x": x[t], "state/0": h})["state/0_out"]
    np.testing.assert_allclose(h, expected, rtol=1e-6)


@pytest.mark.parametrize("batch", ["1", "?"])
def test_strip_batch_reduction_over_a_batch_of_one_is_the_element(batch):
    """sequence_length's max over the batch (the loop bound): with one example it is that example's value."""
    g = parse_ir(dedent(f"""
    graph @main(%x: f32[{batch},3], %n: i32[{batch}]) {{
      %m = core.reduce_max(%n) {{axes = [0], keepdims = false}} : i32[]
      %s = core.reduce_sum(%x) {{axes = [0, 1], keepdims = false}} : f32[]
      %t = core.const() {{value = dense<i32[2]> [-1, 1]}} : i32[2]
      %c = core.reshape(%n, %t) : i32[{batch},1]
      return %m, %s, %c
    }}
    """))
    x, n = np.arange(3, dtype=np.float32) - 1.5, np.array(7, np.int32)
    run_pipeline(g, "strip-batch", verify_each=True)
    assert [str(v.type) for v in g.inputs] == ["f32[3]", "i32[]"]
    out = run(g, {"x": x, "n": n})
    assert out["m"] == 7 and np.isclose(out["s"], x.sum()) and list(out["c"]) == [7]
