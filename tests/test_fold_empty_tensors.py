"""fold-empty-tensors: values with no elements become empty constants before lowering (IR text in and
out, the interpreter before and after), and a TF graph with an empty split piece runs in LiteRT.

LiteRT's XNNPACK delegate fails to prepare a SOFTMAX over a zero-size tensor and its builtin kernels
crash on it (a difftest finding, replayed from tests/data/diff_findings/finding-7190768825)."""
from __future__ import annotations

import numpy as np
from litesmith.testing import check_pass
from tf_models import freeze_function


def test_empty_values_become_constants_and_the_ops_making_them_go():
    """The softmax of the empty piece goes (the split stays for its other piece); readers of empty
    values that make non-empty ones keep an empty constant operand; an unknown dim is left alone."""
    report = check_pass(
        "fold-empty-tensors",
        """
        graph @main(%x: f32[1,4], %e: f32[0,3], %u: f32[?,0]) {
          %a, %b = core.split(%x) {axis = 1, sizes = [4, 0]} : f32[1,4], f32[1,0]
          %s = core.softmax(%b) {axis = -1, beta = 1.0} : f32[1,0]
          %c = core.concat(%s, %a) {axis = 1} : f32[1,4]
          %r = core.reduce_sum(%e) {axes = [0], keepdims = false} : f32[3]
          %n = core.neg(%u) : f32[?,0]
          return %s, %c, %r, %n
        }
        """,
        """
        graph @main(%x: f32[1,4], %e: f32[0,3], %u: f32[?,0]) {
          %e_1 = core.const() {value = dense<f32[0,3]> []} : f32[0,3]
          %a, %b = core.split(%x) {axis = 1, sizes = [4, 0]} : f32[1,4], f32[1,0]
          %s = core.const() {value = dense<f32[1,0]> [[]]} : f32[1,0]
          %c = core.concat(%s, %a) {axis = 1} : f32[1,4]
          %r = core.reduce_sum(%e_1) {axes = [0], keepdims = false} : f32[3]
          %n = core.neg(%u) : f32[?,0]
          return %s, %c, %r, %n
        }
        """,
        feeds={"x": np.array([[1.0, -2.0, 0.5, 3.0]], np.float32), "e": np.zeros((0, 3), np.float32),
               "u": np.zeros((2, 0), np.float32)},
    )
    assert report["fold-empty-tensors"].report["folded"] == {"core.softmax": 1, "graph input": 1}


def test_loop_arguments_and_results_with_no_elements():
    check_pass(
        "fold-empty-tensors",
        """
        graph @main(%n: i32[], %x: f32[3], %e: f32[0]) {
          %i0 = core.const() {value = dense<i32[]> 0} : i32[]
          %i, %n2, %x2, %e2 = core.while(%i0, %n, %x, %e) {max_iterations = 0} (
            ^cond(%ci: i32[], %cn: i32[], %cx: f32[3], %ce: f32[0]) {
              %lt = core.less(%ci, %cn) : bool[]
              return %lt
            },
            ^body(%bi: i32[], %bn: i32[], %bx: f32[3], %be: f32[0]) {
              %one = core.const() {value = dense<i32[]> 1} : i32[]
              %next = core.add(%bi, %one) : i32[]
              %en = core.neg(%be) : f32[0]
              %cat = core.concat(%bx, %be) {axis = 0} : f32[3]
              %sq = core.mul(%cat, %cat) : f32[3]
              return %next, %bn, %sq, %en
            }
          ) : i32[], i32[], f32[3], f32[0]
          return %x2, %e2
        }
        """,
        """
        graph @main(%n: i32[], %x: f32[3], %e: f32[0]) {
          %e_1 = core.const() {value = dense<f32[0]> []} : f32[0]
          %i0 = core.const() {value = dense<i32[]> 0} : i32[]
          %e2 = core.const() {value = dense<f32[0]> []} : f32[0]
          %i, %n2, %x2, %0 = core.while(%i0, %n, %x, %e_1) {max_iterations = 0} (
            ^cond(%ci: i32[], %cn: i32[], %cx: f32[3], %ce: f32[0]) {
              %lt = core.less(%ci, %cn) : bool[]
              return %lt
            },
            ^body(%bi: i32[], %bn: i32[], %bx: f32[3], %be: f32[0]) {
              %be_1 = core.const() {value = dense<f32[0]> []} : f32[0]
              %one = core.const() {value = dense<i32[]> 1} : i32[]
              %next = core.add(%bi, %one) : i32[]
              %en = core.const() {value = dense<f32[0]> []} : f32[0]
              %cat = core.concat(%bx, %be_1) {axis = 0} : f32[3]
              %sq = core.mul(%cat, %cat) : f32[3]
              return %next, %bn, %sq, %en
            }
          ) : i32[], i32[], f32[3], f32[0]
          return %x2, %e2
        }
        """,
        feeds={"n": np.array(3, np.int32), "x": np.array([1.0, -2.0, 0.5], np.float32), "e": np.zeros(0, np.float32)},
    )


def test_softmax_of_an_empty_split_piece_from_tf_runs_in_litert(tf, litert_interpreter, tmp_path):
    """TF's split with a 0-size piece, a softmax of it, and ops that read it and make non-empty
    results: the .tflite prepares and runs with LiteRT's default XNNPACK delegate and matches TF.
    LiteRT's get_tensor refuses to read a zero-size output (TF's converter's files too), so the empty
    output is checked by its declared shape."""
    import litesmith

    x = np.array([[0.5, -1.0, 2.0, 0.25]], np.float32)

    def fn(x):
        a, b = tf.split(x, [4, 0], axis=1)
        return {"empty": tf.nn.softmax(b) * 2.0, "full": tf.nn.softmax(a),
                "cat": tf.concat([tf.nn.relu(b), a], 1), "sum": tf.reduce_sum(tf.exp(b), axis=1)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, {"x": x})
    assert sorted((k, v.shape) for k, v in want.items())[1] == ("Identity_1", (1, 0))  # the empty one
    report = {}
    blob = litesmith.compile(litesmith.load(str(tmp_path / "m.pb")), report=report)
    interp = litert_interpreter(model_content=blob)  # XNNPACK on, as users run it
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    ops = [d["op_name"] for d in interp._get_ops_details() if d["op_name"] != "DELEGATE"]
    assert ops.count("SOFTMAX") == 1, ops  # the non-empty piece's
    for d in interp.get_output_details():
        expected = want[d["name"]]
        assert tuple(d["shape"]) == expected.shape, (d["name"], d["shape"], expected.shape)
        if expected.size:
            np.testing.assert_allclose(interp.get_tensor(d["index"]), expected, rtol=1e-5, atol=1e-6)
