"""fuse-lstm-loops (backends/tflite/lstm_loops.py): a loop whose body is a Keras LSTM cell becomes one
UNIDIRECTIONAL_SEQUENCE_LSTM. Text IR: the cell loop fuses (and the IR interpreter and LiteRT agree
with the loop), a loop with another activation stays, with the reason in the report. Keras models
(tests/keras_rnn_models.py): return_sequences=False fuses and matches TF at batch 1 and 3, lengths
1, 5 and 17 on a second invoke too (the op's state is refilled with zeros each run); an LSTM whose
final cell state is read (return_state=True) stays a WHILE. The return_sequences=True, go_backwards
and Bidirectional LSTMs are checked in tests/test_keras_rnn.py (test_whole_sequence_model_...)."""
from __future__ import annotations

import numpy as np
import pytest

import litesmith
from litesmith.ir.interpreter import run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes.manager import PassManager

from keras_rnn_models import KERAS_RNN_FORMS, KERAS_VERSIONS

CELL = """
graph @lstm(%x: f32[3,1,2]) {
  %zero = core.const() {value = dense<f32[]> 0.0} : f32[]
  %sdims = core.const() {value = dense<i32[2]> [1, 2]} : i32[2]
  %ldims = core.const() {value = dense<i32[3]> [3, 1, 2]} : i32[3]
  %h0 = core.fill(%sdims, %zero) : f32[1,2]
  %c0 = core.fill(%sdims, %zero) : f32[1,2]
  %l0 = core.fill(%ldims, %zero) : f32[3,1,2]
  %t0 = core.const() {value = dense<i32[]> 0} : i32[]
  %n = core.const() {value = dense<i32[]> 3} : i32[]
  %t, %xs, %len, %h, %c, %l = core.while(%t0, %x, %n, %h0, %c0, %l0) {max_iterations = 0} (
    ^cond(%a: i32[], %b: f32[3,1,2], %m: i32[], %d: f32[1,2], %e: f32[1,2], %f: f32[3,1,2]) {
      %p = core.less(%a, %m) : bool[]
      return %p
    },
    ^body(%ti: i32[], %xi: f32[3,1,2], %ni: i32[], %hi: f32[1,2], %ci: f32[1,2], %li: f32[3,1,2]) {
      %w = core.const() {value = dense<f32[2,8]> [[0.5, -0.25, 0.125, 0.75, -0.5, 0.25, 1.0, -1.0], [0.25, 0.5, -0.75, 0.125, 0.375, -0.125, 0.5, 0.25]]} : f32[2,8]
      %u = core.const() {value = dense<f32[2,8]> [[-0.5, 0.25, 0.5, -0.125, 0.25, 0.75, -0.25, 0.5], [0.125, -0.375, 0.25, 0.5, -0.5, 0.125, 0.25, -0.75]]} : f32[2,8]
      %bias = core.const() {value = dense<f32[8]> [0.1, -0.2, 1.0, 1.0, 0.0, 0.3, -0.1, 0.2]} : f32[8]
      %one = core.const() {value = dense<i32[]> 1} : i32[]
      %z0 = core.const() {value = dense<i32[]> 0} : i32[]
      %xt = core.gather(%xi, %ti) {axis = 0, batch_dims = 0} : f32[1,2]
      %mx = core.matmul(%xt, %w) {transpose_a = false, transpose_b = false} : f32[1,8]
      %mh = core.matmul(%hi, %u) {transpose_a = false, transpose_b = false} : f32[1,8]
      %s = core.add(%mx, %mh) : f32[1,8]
      %zz = core.add(%s, %bias) : f32[1,8]
      %gi, %gf, %gc, %go = core.split(%zz) {axis = 1, sizes = [2, 2, 2, 2]} : f32[1,2], f32[1,2], f32[1,2], f32[1,2]
      %i = core.sigmoid(%gi) : f32[1,2]
      %f = core.sigmoid(%gf) : f32[1,2]
      %g = core.tanh(%gc) : f32[1,2]
      %o = core.sigmoid(%go) : f32[1,2]
      %fc = core.mul(%f, %ci) : f32[1,2]
      %ig = core.mul(%i, %g) : f32[1,2]
      %c2 = core.add(%fc, %ig) : f32[1,2]
      %tc = core.tanh(%c2) : f32[1,2]
      %h2 = core.mul(%o, %tc) : f32[1,2]
      %row = core.expand_dims(%h2) {axis = 0} : f32[1,1,2]
      %at = core.pack(%ti, %z0, %z0) {axis = 0} : i32[3]
      %l2 = core.dynamic_update_slice(%li, %row, %at) : f32[3,1,2]
      %t2 = core.add(%ti, %one) : i32[]
      return %t2, %xi, %ni, %h2, %c2, %l2
    }
  ) : i32[], f32[3,1,2], i32[], f32[1,2], f32[1,2], f32[3,1,2]
  return %l, %h
}
"""


def _fuse(text):
    graph = parse_ir(text)
    run_report = PassManager.parse("fuse-lstm-loops,dce").run(graph)
    return graph, list(run_report)[0].report


def test_cell_loop_becomes_one_op():
    graph, report = _fuse(CELL)
    assert report == {"fused": 1}
    text = print_ir(graph)
    assert "core.while" not in text and text.count("tfl.unidirectional_sequence_lstm(%x,") == 1
    assert text.count("core.fill(") == 2  # one fresh zero state each for h and c
    assert "time_major = true" in text and 'fused_activation_function = "TANH"' in text
    # Keras' [in, 4u] kernel split per gate i, f, c, o and transposed to TFLite's [u, in]
    assert "dense<f32[2,2]> [[0.5, 0.25], [-0.25, 0.5]]" in text  # input-to-input: kernel[:, 0:2].T
    assert "dense<f32[2]> [1.0, 1.0]} : f32[2]" in text  # forget bias: bias[2:4]


def test_fused_op_matches_the_loop_in_the_interpreter_and_litert(litert_interpreter):
    from tf_litert import run_litert_resized

    x = np.random.default_rng(0).normal(size=(3, 1, 2)).astype(np.float32)
    want = run(parse_ir(CELL), {"x": x})
    fused, _ = _fuse(CELL)
    got = run(fused, {"x": x})
    blob = litesmith.compile(parse_ir(CELL))
    lite, ops = run_litert_resized(litert_interpreter, blob, {"x": x}, invokes=2)
    assert ops == ["FILL", "FILL", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE"]
    for name in ("l", "h"):
        np.testing.assert_allclose(got[name], want[name], atol=1e-6, err_msg=name)
        np.testing.assert_allclose(lite[name], want[name], atol=1e-6, err_msg=name)


def test_other_activation_stays_a_loop_with_the_reason():
    graph, report = _fuse(CELL.replace("%g = core.tanh(%gc)", "%g = core.relu(%gc)"))
    assert report["fused"] == 0
    assert list(report["kept"].values()) == ["the gate activations are not Keras' defaults (sigmoid, sigmoid, tanh, sigmoid)"]
    assert "core.while" in print_ir(graph)


def test_non_zero_initial_state_stays_a_loop():
    text = CELL.replace("%h0 = core.fill(%sdims, %zero)",
                        "%half = core.const() {value = dense<f32[]> 0.5} : f32[]\n  %h0 = core.fill(%sdims, %half)")
    _, report = _fuse(text)
    assert list(report["kept"].values()) == ["the initial state is not zero"]


SIZES = [(batch, length) for batch in (1, 3) for length in (1, 5, 17)]
CASES = [(v, f) for v in KERAS_VERSIONS for f in KERAS_RNN_FORMS]


@pytest.mark.parametrize("version,form", CASES, ids=["-".join(c) for c in CASES])
def test_keras_last_output_lstm_fuses_and_matches_tf(request, tf, version, form, litert_interpreter):
    from tf_litert import run_litert_resized
    from test_keras_rnn import _run_frozen

    model = request.getfixturevalue("keras_lstm_last_output")[(version, form)]
    report = {}
    blob = litesmith.compile(litesmith.load(model.pb_path), report=report)
    assert report["ops_after"]["tfl.unidirectional_sequence_lstm"] == 1 and "tfl.while" not in report["ops_after"]
    rng = np.random.default_rng(5)
    feeds = [rng.integers(0, 20, size=size).astype(np.int32) for size in SIZES]
    for ids, want in zip(feeds, _run_frozen(tf, model.pb_path, model.output_names, feeds)):
        got, ops = run_litert_resized(litert_interpreter, blob, {"ids": ids}, invokes=2)
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops and "WHILE" not in ops
        for name in model.output_names:
            np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=1e-5, err_msg=f"{name} ids {ids.shape}")


@pytest.mark.parametrize("version", KERAS_VERSIONS)
def test_keras_lstm_with_read_cell_state_stays_a_while(request, version):
    model = request.getfixturevalue(f"keras_rnn_models_{version}")[("last_state", "default")]
    graph = litesmith.load(model.pb_path)
    records = list(PassManager.parse("lower-tensor-lists,sink-loop-constants,fuse-lstm-loops").run(graph))
    assert records[-1].report["fused"] == 0
    assert list(records[-1].report["kept"].values()) == [
        "the final cell state is read (return_state=True); the fused op outputs only the sequence"]


def test_batch_major_transposes_are_absorbed(litert_interpreter):
    """Keras' transposes to time-major before the loop and back after it: the op reads and writes
    batch-major (time_major=false) and both transposes go."""
    from tf_litert import run_litert_resized

    text = CELL.replace("graph @lstm(%x: f32[3,1,2]) {", "graph @lstm(%xb: f32[1,3,2]) {\n"
                        "  %perm = core.const() {value = dense<i32[3]> [1, 0, 2]} : i32[3]\n"
                        "  %x = core.transpose(%xb, %perm) : f32[3,1,2]").replace(
        "  return %l, %h\n}", "  %y = core.transpose(%l, %perm) : f32[1,3,2]\n  return %y\n}")
    graph, report = _fuse(text)
    printed = print_ir(graph)
    assert report == {"fused": 1} and "core.transpose" not in printed and "time_major = false" in printed
    xb = np.random.default_rng(1).normal(size=(1, 3, 2)).astype(np.float32)
    want = run(parse_ir(text), {"xb": xb})["y"]
    np.testing.assert_allclose(run(graph, {"xb": xb})["y"], want, atol=1e-6)
    got, ops = run_litert_resized(litert_interpreter, litesmith.compile(parse_ir(text)), {"xb": xb}, invokes=2)
    assert ops == ["FILL", "FILL", "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    np.testing.assert_allclose(got["y"], want, atol=1e-6)
