"""Loops, conditionals and tensor lists to TFLite WHILE / IF (issue 14): lower-tensor-lists and
sink-loop-constants as IR text in/out with numerics, then the zoo's RNN graphs (TF1 frames with
TensorArrayV3, TF2 StatelessWhile) converted with no passes and run in LiteRT at sequence lengths
1, 5 and 17 against TensorFlow."""
from __future__ import annotations

from string import Template

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


def test_lower_tensor_lists_leaves_a_list_of_unknown_element_rank():
    """Nothing sets an item: the rank of the elements is unknown, so the list stays a list."""
    src = """
    graph @g(%n: i32[]) {
      %l = core.tensor_list_reserve(%n) {element_dtype = f32, element_shape = none} : list<f32[*]>
      %k = core.tensor_list_length(%l) : i32[]
      return %k
    }
    """
    record = check_pass("lower-tensor-lists", src, src, feeds={"n": np.asarray(4, np.int32)})["lower-tensor-lists"]
    assert not record.changed and "rank is unknown" in record.report["skipped"]


# Keras's form: the output list is reserved with no element shape (element_shape -1) and the batch
# is dynamic. The element type is refined from what the body sets ([?,2]); the reserve's FILL has 1
# for the unknown batch and each write first broadcasts the list to [n, *shape(item)]. The length n
# may be 0: the FILL has max(n, 1) rows (max([n, -1, 2], 1)) and the stack is a slice of the
# first n ([n, -1, 2]).
KERAS_LOOP = """
graph @g(%x: f32[?,?,2], %h: f32[?,2]) {
  %s = core.shape(%x) {dtype = i32} : i32[3]
  %z = core.const() {value = dense<i32[]> 0} : i32[]
  %n = core.gather(%s, %z) {axis = 0} : i32[]
  %xs = core.tensor_list_from_tensor(%x) {element_shape = shape<?,2>} : list<f32[?,2]>
  %ys = core.tensor_list_reserve(%n) {element_dtype = f32, element_shape = none} : list<f32[*]>
  %r, %rn, %rh, %rys, %rxs = core.while(%z, %n, %h, %ys, %xs) (
    ^cond(%i: i32[], %m: i32[], %c: f32[?,2], %l: list<f32[*]>, %xl: list<f32[?,2]>) {
      %p = core.less(%i, %m) : bool[]
      return %p
    },
    ^body(%i: i32[], %m: i32[], %c: f32[?,2], %l: list<f32[*]>, %xl: list<f32[?,2]>) {
      %one = core.const() {value = dense<i32[]> 1} : i32[]
      %j = core.add(%i, %one) : i32[]
      %xt = core.tensor_list_get_item(%xl, %i) {element_dtype = f32} : f32[?,2]
      %a = core.add(%c, %xt) : f32[?,2]
      %c2 = core.tanh(%a) : f32[?,2]
      %l2 = core.tensor_list_set_item(%l, %i, %c2) : list<f32[*]>
      return %j, %m, %c2, %l2, %xl
    }
  ) : i32[], i32[], f32[?,2], list<f32[*]>, list<f32[?,2]>
  %y = core.tensor_list_stack(%rys) {element_dtype = f32, num_elements = -1} : f32[*]
  return %y, %rh
}
"""

KERAS_LOWERED = """
graph @g(%x: f32[?,?,2], %h: f32[?,2]) {
  %s = core.shape(%x) {dtype = i32} : i32[3]
  %z = core.const() {value = dense<i32[]> 0} : i32[]
  %n = core.gather(%s, %z) {axis = 0, batch_dims = 0} : i32[]
  %0 = core.const() {value = dense<i32[1]> [1]} : i32[1]
  %1 = core.reshape(%n, %0) : i32[1]
  %2 = core.const() {value = dense<i32[2]> [-1, 2]} : i32[2]
  %3 = core.concat(%1, %2) {axis = 0} : i32[3]
  %4 = core.const() {value = dense<i32[3]> [1, 1, 1]} : i32[3]
  %5 = core.maximum(%3, %4) : i32[3]
  %6 = core.const() {value = dense<f32[]> 0.0} : f32[]
  %ys = core.fill(%5, %6) : f32[?,?,2]
  %r, %rn, %rh, %rys, %rxs = core.while(%z, %n, %h, %ys, %x) {max_iterations = 0} (
    ^cond(%i: i32[], %m: i32[], %c: f32[?,2], %l: f32[?,?,2], %xl: f32[?,?,2]) {
      %p = core.less(%i, %m) : bool[]
      return %p
    },
    ^body(%i: i32[], %m: i32[], %c: f32[?,2], %l: f32[?,?,2], %xl: f32[?,?,2]) {
      %one = core.const() {value = dense<i32[]> 1} : i32[]
      %j = core.add(%i, %one) : i32[]
      %xt = core.gather(%xl, %i) {axis = 0, batch_dims = 0} : f32[?,2]
      %a = core.add(%c, %xt) : f32[?,2]
      %c2 = core.tanh(%a) : f32[?,2]
      %0 = core.shape(%l) {dtype = i32} : i32[3]
      %1 = core.const() {value = dense<i32[1]> [0]} : i32[1]
      %2 = core.gather(%0, %1) {axis = 0, batch_dims = 0} : i32[1]
      %3 = core.shape(%c2) {dtype = i32} : i32[2]
      %4 = core.concat(%2, %3) {axis = 0} : i32[3]
      %5 = core.broadcast_to(%l, %4) : f32[?,?,2]
      %6 = core.expand_dims(%c2) {axis = 0} : f32[1,?,2]
      %7 = core.const() {value = dense<i32[]> 0} : i32[]
      %8 = core.const() {value = dense<i32[]> 0} : i32[]
      %9 = core.pack(%i, %7, %8) {axis = 0} : i32[3]
      %l2 = core.dynamic_update_slice(%5, %6, %9) : f32[?,?,2]
      return %j, %m, %c2, %l2, %xl
    }
  ) : i32[], i32[], f32[?,2], f32[?,?,2], f32[?,?,2]
  %7 = core.const() {value = dense<i32[3]> [0, 0, 0]} : i32[3]
  %y = core.slice(%rys, %7, %3) : f32[?,?,2]
  return %y, %rh
}
"""


def _keras_loop_feeds(length, batch, rng):
    return {"x": rng.normal(size=(length, batch, 2)).astype(np.float32),
            "h": rng.normal(size=(batch, 2)).astype(np.float32)}


def _keras_loop_numpy(x, h):
    """What KERAS_LOOP computes, written out: c <- tanh(c + x[t]), every c stacked."""
    ys = []
    for xt in x:
        h = np.tanh(h + xt)
        ys.append(h)
    return {"y": np.stack(ys), "rh": h}


def test_lower_tensor_lists_refines_elements_from_what_the_loop_writes():
    record = check_pass("lower-tensor-lists", KERAS_LOOP, KERAS_LOWERED,
                        feeds=_keras_loop_feeds(4, 3, np.random.default_rng(0)))["lower-tensor-lists"]
    assert record.report["refined"] == ["ys"]


# Keras 3's TimeDistributed over a dynamic time axis (tf.vectorized_map): the stacked list's shape
# is split into its dims by a tf.Split that stays foreign at load (a vector of unknown length).
# Lowering the list gives the stack a rank, so its readers are re-inferred and the Split re-lifted.
_SPLIT_TAIL = """  %sh = core.shape(%y) {dtype = i32} : i32[$n]
  %t, %b, %d = $split : $parts
  %tb = core.mul(%t, %b) : i32[$one]
  %rows = core.concat(%tb, %d) {axis = 0} : i32[$two]
  %flat = core.reshape(%y, %rows) : f32[$flat]
  return %flat, %rh
}"""
_FOREIGN = dict(n="?", split="tf.Split(%z, %sh) {T = i32, num_split = 3}", parts="i32[*], i32[*], i32[*]",
                one="*", two="*", flat="*")
_LIFTED = dict(n="3", split="core.split(%sh) {axis = 0, sizes = [1, 1, 1]}", parts="i32[1], i32[1], i32[1]",
               one="1", two="2", flat="?,?")
SPLIT_LOOP = KERAS_LOOP.replace("  return %y, %rh\n}", Template(_SPLIT_TAIL).substitute(_FOREIGN))
SPLIT_LOWERED = KERAS_LOWERED.replace("  return %y, %rh\n}", Template(_SPLIT_TAIL).substitute(_LIFTED))


def test_lower_tensor_lists_reinfers_the_stack_readers_and_relifts_a_split():
    assert "tf.Split" in SPLIT_LOOP and "core.split" in SPLIT_LOWERED
    record = check_pass("lower-tensor-lists", SPLIT_LOOP, SPLIT_LOWERED,
                        feeds=_keras_loop_feeds(4, 3, np.random.default_rng(0)))["lower-tensor-lists"]
    assert record.report["relifted"] == ["tf.Split 't'"]


def test_relifted_split_of_the_stack_shape_runs_in_litert(litert_interpreter):
    blob = litesmith.compile(parse_ir(SPLIT_LOOP))
    rng = np.random.default_rng(2)
    for length, batch in [(1, 3), (5, 1), (17, 3)]:
        feeds = _keras_loop_feeds(length, batch, rng)
        want = _keras_loop_numpy(**feeds)
        got, ops = run_litert_resized(litert_interpreter, blob, feeds)
        assert_close(got, {"flat": want["y"].reshape(length * batch, 2), "rh": want["rh"]}, atol=1e-6)
        assert "WHILE" in ops and "SPLIT" in ops


def test_list_of_unknown_batch_runs_in_litert_at_any_batch_and_length(litert_interpreter):
    blob = litesmith.compile(parse_ir(KERAS_LOOP))
    rng = np.random.default_rng(1)
    for length, batch in [(1, 1), (5, 3), (17, 1), (17, 3)]:
        feeds = _keras_loop_feeds(length, batch, rng)
        got, ops = run_litert_resized(litert_interpreter, blob, feeds)
        assert_close(got, _keras_loop_numpy(**feeds), atol=1e-6)
    assert "WHILE" in ops


def test_broadcast_to_an_unknown_dim_broadcasts_in_litert(litert_interpreter):
    """x: f32[?] to f32[?] may grow (1 -> 4): a BROADCAST_TO, not a copy."""
    src = """
    graph @g(%x: f32[?], %s: i32[1]) {
      %y = core.broadcast_to(%x, %s) : f32[?]
      return %y
    }
    """
    feeds = {"x": np.asarray([2.5], np.float32), "s": np.asarray([4], np.int32)}
    got, ops = run_litert_resized(litert_interpreter, litesmith.compile(parse_ir(src)), feeds)
    np.testing.assert_array_equal(got["y"], np.broadcast_to(feeds["x"], (4,)))
    assert ops == ["BROADCAST_TO"]


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
def test_keras_rnn_converts_with_no_passes(tf, litert_interpreter, request, fixture):
    """tf_keras LSTM / GRU (StatelessWhile over a static [2, 4, 3]) with no passes: the LSTM becomes
    UNIDIRECTIONAL_SEQUENCE_LSTM (fuse-lstm-loops; its zero states as FILLs), the GRU a WHILE."""
    model = request.getfixturevalue(fixture)
    blob = litesmith.compile(litesmith.load(model.pb_path))
    got, ops = run_litert_resized(litert_interpreter, blob, model.inputs, invokes=2)
    assert_close(got, model.expected, atol=1e-5)
    if fixture == "keras_lstm_v2":
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops and "WHILE" not in ops, ops
    else:
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
