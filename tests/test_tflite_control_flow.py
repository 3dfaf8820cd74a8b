"""Loops, conditionals and tensor lists to TFLite WHILE / IF (issue 14): lower-tensor-lists and
sink-loop-constants as IR text in/out with numerics, then the zoo's RNN graphs (TF1 frames with
TensorArrayV3, TF2 StatelessWhile) converted with no passes and run in LiteRT at sequence lengths
1, 5 and 17 against TensorFlow."""
from __future__ import annotations

import numpy as np
import pytest

import litesmith
from litesmith.backends.tflite import read_tflite, write_tflite
from litesmith.ir import parse_ir, run
from litesmith.testing import check_pass
from tf_litert import assert_close, run_litert_resized
from tf_models import RNN_VARIANTS, run_tf_graphdef

LOOP = """
graph @g(%x: f32[3,2], %h: f32[2]) {
  %n = core.const() {value = dense<i32[]> 3} : i32[]
  %i0 = core.const() {value = dense<i32[]> 0} : i32[]
  %w = core.const() {value = dense<f32[2]> [0.5, -1.0]} : f32[2]
  %xs = core.tensor_list_from_tensor(%x) {element_shape = shape<2>} : list<f32[2]>
  %ys = core.tensor_list_reserve(%n) {element_dtype = f32, element_shape = shape<2>} : list<f32[2]>
  %r, %rh, %rys, %rxs, %rw = core.while(%i0, %h, %ys, %xs, %w) (
    ^cond(%i: i32[], %c: f32[2], %l: list<f32[2]>, %xl: list<f32[2]>, %cw: f32[2]) {
      %k = core.const() {value = dense<i32[]> 3} : i32[]
      %p = core.less(%i, %k) : bool[]
      return %p
    },
    ^body(%i: i32[], %c: f32[2], %l: list<f32[2]>, %xl: list<f32[2]>, %bw: f32[2]) {
      %one = core.const() {value = dense<i32[]> 1} : i32[]
      %j = core.add(%i, %one) : i32[]
      %xt = core.tensor_list_get_item(%xl, %i) {element_dtype = f32} : f32[2]
      %m = core.mul(%c, %bw) : f32[2]
      %c2 = core.tanh(%m) : f32[2]
      %c3 = core.add(%c2, %xt) : f32[2]
      %l2 = core.tensor_list_set_item(%l, %i, %c3) : list<f32[2]>
      return %j, %c3, %l2, %xl, %bw
    }
  ) : i32[], f32[2], list<f32[2]>, list<f32[2]>, f32[2]
  %y = core.tensor_list_stack(%rys) {element_dtype = f32, num_elements = 3} : f32[3,2]
  return %y, %rh
}
"""

LISTS_LOWERED = """
graph @g(%x: f32[3,2], %h: f32[2]) {
  %n = core.const() {value = dense<i32[]> 3} : i32[]
  %i0 = core.const() {value = dense<i32[]> 0} : i32[]
  %w = core.const() {value = dense<f32[2]> [0.5, -1.0]} : f32[2]
  %0 = core.const() {value = dense<i32[2]> [3, 2]} : i32[2]
  %1 = core.const() {value = dense<f32[]> 0.0} : f32[]
  %ys = core.fill(%0, %1) : f32[3,2]
  %r, %rh, %y, %rxs, %rw = core.while(%i0, %h, %ys, %x, %w) {max_iterations = 0} (
    ^cond(%i: i32[], %c: f32[2], %l: f32[3,2], %xl: f32[3,2], %cw: f32[2]) {
      %k = core.const() {value = dense<i32[]> 3} : i32[]
      %p = core.less(%i, %k) : bool[]
      return %p
    },
    ^body(%i: i32[], %c: f32[2], %l: f32[3,2], %xl: f32[3,2], %bw: f32[2]) {
      %one = core.const() {value = dense<i32[]> 1} : i32[]
      %j = core.add(%i, %one) : i32[]
      %xt = core.gather(%xl, %i) {axis = 0, batch_dims = 0} : f32[2]
      %m = core.mul(%c, %bw) : f32[2]
      %c2 = core.tanh(%m) : f32[2]
      %c3 = core.add(%c2, %xt) : f32[2]
      %0 = core.expand_dims(%c3) {axis = 0} : f32[1,2]
      %1 = core.const() {value = dense<i32[]> 0} : i32[]
      %2 = core.pack(%i, %1) {axis = 0} : i32[2]
      %l2 = core.dynamic_update_slice(%l, %0, %2) : f32[3,2]
      return %j, %c3, %l2, %xl, %bw
    }
  ) : i32[], f32[2], f32[3,2], f32[3,2], f32[2]
  return %y, %rh
}
"""

CONSTANTS_SUNK = """
graph @g(%x: f32[3,2], %h: f32[2]) {
  %n = core.const() {value = dense<i32[]> 3} : i32[]
  %i0 = core.const() {value = dense<i32[]> 0} : i32[]
  %w = core.const() {value = dense<f32[2]> [0.5, -1.0]} : f32[2]
  %0 = core.const() {value = dense<i32[2]> [3, 2]} : i32[2]
  %1 = core.const() {value = dense<f32[]> 0.0} : f32[]
  %ys = core.fill(%0, %1) : f32[3,2]
  %r, %rh, %y, %rxs = core.while(%i0, %h, %ys, %x) {max_iterations = 0} (
    ^cond(%i: i32[], %c: f32[2], %l: f32[3,2], %xl: f32[3,2]) {
      %k = core.const() {value = dense<i32[]> 3} : i32[]
      %p = core.less(%i, %k) : bool[]
      return %p
    },
    ^body(%i: i32[], %c: f32[2], %l: f32[3,2], %xl: f32[3,2]) {
      %0 = core.const() {value = dense<f32[2]> [0.5, -1.0]} : f32[2]
      %one = core.const() {value = dense<i32[]> 1} : i32[]
      %j = core.add(%i, %one) : i32[]
      %xt = core.gather(%xl, %i) {axis = 0, batch_dims = 0} : f32[2]
      %m = core.mul(%c, %0) : f32[2]
      %c2 = core.tanh(%m) : f32[2]
      %c3 = core.add(%c2, %xt) : f32[2]
      %0_1 = core.expand_dims(%c3) {axis = 0} : f32[1,2]
      %1 = core.const() {value = dense<i32[]> 0} : i32[]
      %2 = core.pack(%i, %1) {axis = 0} : i32[2]
      %l2 = core.dynamic_update_slice(%l, %0_1, %2) : f32[3,2]
      return %j, %c3, %l2, %xl
    }
  ) : i32[], f32[2], f32[3,2], f32[3,2]
  return %y, %rh
}
"""

FEEDS = {"x": np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32),
         "h": np.random.default_rng(1).normal(size=(2,)).astype(np.float32)}


def test_lower_tensor_lists_makes_tensors_and_retypes_the_loop():
    check_pass("lower-tensor-lists", LOOP, LISTS_LOWERED, feeds=FEEDS)


def test_sink_loop_constants_reads_the_weight_as_a_constant():
    check_pass("sink-loop-constants", LISTS_LOWERED, CONSTANTS_SUNK, feeds=FEEDS)


def test_lower_tensor_lists_leaves_a_list_of_unknown_element_shape():
    src = """
    graph @g(%n: i32[]) {
      %l = core.tensor_list_reserve(%n) {element_dtype = f32, element_shape = shape<?>} : list<f32[?]>
      %k = core.tensor_list_length(%l) : i32[]
      return %k
    }
    """
    record = check_pass("lower-tensor-lists", src, src, feeds={"n": np.asarray(4, np.int32)})["lower-tensor-lists"]
    assert not record.changed and "not static" in record.report["skipped"]


def test_the_loop_runs_in_litert_as_while(litert_interpreter):
    blob = litesmith.compile(parse_ir(LOOP))
    got, ops = run_litert_resized(litert_interpreter, blob, FEEDS)
    assert_close(got, run(parse_ir(LOOP), FEEDS), atol=1e-6)
    assert ops == ["FILL", "WHILE"]  # LiteRT lists the main subgraph's ops
    graph = read_tflite(blob)  # the reader lifts the WHILE subgraphs back into regions
    (loop,) = [n for n in graph if n.op == "tfl.while"]
    assert [len(r.inputs) for r in loop.regions] == [4, 4]  # the weight slot was sunk
    body_ops = sorted(n.op for n in loop.regions[1] if n.op != "core.const")
    assert body_ops == ["tfl.add", "tfl.add", "tfl.dynamic_update_slice", "tfl.gather", "tfl.mul", "tfl.pack",
                        "tfl.reshape", "tfl.tanh"]
    assert write_tflite(graph) == bytes(blob)


def _feeds(model, length, rng):
    feeds = {}
    time_major = model.meta.get("time_major", False)
    for name, value in model.inputs.items():
        if name == "sequence_length":
            feeds[name] = np.array([length, max(length - 2, 0)], np.int32)
            continue
        shape = list(value.shape)
        shape[0 if time_major else 1] = length
        feeds[name] = rng.normal(0, 1, size=shape).astype(value.dtype) if value.dtype.kind == "f" \
            else rng.integers(0, 50, size=shape).astype(value.dtype)
    return feeds


def _check_lengths(tf, litert, model, lengths=(1, 5, 17)):
    blob = litesmith.compile(litesmith.load(model.pb_path))
    rng = np.random.default_rng(5)
    for length in lengths:
        feeds = _feeds(model, length, rng)
        want = run_tf_graphdef(tf, model.pb_path, feeds, model.output_names)
        got, ops = run_litert_resized(litert, blob, feeds)
        assert_close(got, want, atol=1e-5)
    assert "WHILE" in ops
    return blob


@pytest.mark.parametrize("form", ["v1", "v2"])
@pytest.mark.parametrize("variant", RNN_VARIANTS)
def test_dynamic_rnn_runs_at_any_length(tf, litert_interpreter, request, form, variant):
    """TF1 TensorArrayV3 frames (which TF's converter needs Flex for) and TF2 StatelessWhile alike."""
    model = request.getfixturevalue(f"rnn_cells_dyn_{form}")[variant]
    _check_lengths(tf, litert_interpreter, model)


def test_seed_lm_runs_at_any_length(tf, litert_interpreter, seed_lm):
    """The seed's LM ([8, None] ids): no --input-shape needed any more. The weights the loop carries
    are constants in its body (sink-loop-constants): FULLY_CONNECTED there, no BATCH_MATMUL."""
    blob = _check_lengths(tf, litert_interpreter, seed_lm)
    (loop,) = [n for n in read_tflite(blob) if n.op == "tfl.while"]
    body_ops = [n.op for n in loop.regions[1]]
    assert body_ops.count("tfl.fully_connected") == 2 and "tfl.batch_matmul" not in body_ops


@pytest.mark.parametrize("fixture", ["keras_lstm_v2", "keras_gru_v2"])
def test_keras_rnn_converts_as_a_while_model(tf, litert_interpreter, request, fixture):
    """tf_keras LSTM / GRU (StatelessWhile over a static [2, 4, 3]) with no passes."""
    model = request.getfixturevalue(fixture)
    blob = litesmith.compile(litesmith.load(model.pb_path))
    got, ops = run_litert_resized(litert_interpreter, blob, model.inputs)
    assert_close(got, model.expected, atol=1e-5)
    assert "WHILE" in ops


DUS = """
graph @g(%x: f32[4,3], %u: f32[2,3], %start: i32[2]) {
  %y = core.dynamic_update_slice(%x, %u, %start) : f32[4,3]
  return %y
}
"""


@pytest.mark.parametrize("start", [[1, 0], [3, 0], [-2, 5]])
def test_dynamic_update_slice_clamps_like_litert(litert_interpreter, start):
    rng = np.random.default_rng(7)
    feeds = {"x": rng.normal(size=(4, 3)).astype(np.float32), "u": rng.normal(size=(2, 3)).astype(np.float32),
             "start": np.asarray(start, np.int32)}
    blob = litesmith.compile(parse_ir(DUS))
    got, ops = run_litert_resized(litert_interpreter, blob, feeds)
    assert ops == ["DYNAMIC_UPDATE_SLICE"]
    assert_close(got, run(parse_ir(DUS), feeds), atol=0, rtol=0)


def test_inspect_check_agrees_with_convert_on_loops(seed_lm):
    """The legality check runs lower-tensor-lists first, as the compile does: nothing to report."""
    from litesmith.backends.tflite.legality_check import check_graph

    assert check_graph(litesmith.load(seed_lm.pb_path)) == []
