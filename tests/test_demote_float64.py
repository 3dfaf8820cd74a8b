"""demote-float64: float64 ops computed in float32 with casts at the boundaries (IR text in and out,
the interpreter as the numeric check within float32 rounding), and end to end from TF graphs."""
from __future__ import annotations

import numpy as np
from litesmith.testing import check_pass
from tf_litert import assert_close, convert_and_run
from tf_models import freeze_function


def test_chain_computes_in_float32_and_casts_only_at_the_boundaries():
    report = check_pass(
        "demote-float64,dce",
        """
        graph @main(%x: f32[3], %d: f64[3]) {
          %a = core.cast(%x) {dtype = f64} : f64[3]
          %c = core.const() {value = dense<f64[3]> [0.5, -2.0, 3.0]} : f64[3]
          %m = core.mul(%a, %c) : f64[3]
          %s = core.add(%m, %d) : f64[3]
          %g = core.greater(%s, %c) : bool[3]
          %t = core.tanh(%s) : f64[3]
          return %t, %g
        }
        """,
        """
        graph @main(%x: f32[3], %d: f64[3]) {
          %0 = core.const() {value = dense<f32[3]> [0.5, -2.0, 3.0]} : f32[3]
          %m = core.mul(%x, %0) : f32[3]
          %1 = core.cast(%d) {dtype = f32} : f32[3]
          %s = core.add(%m, %1) : f32[3]
          %g = core.greater(%s, %0) : bool[3]
          %"t/f32" = core.tanh(%s) : f32[3]
          %t = core.cast(%"t/f32") {dtype = f64} : f64[3]
          return %t, %g
        }
        """,
        rtol=1e-6, atol=1e-7,
    )
    assert report["demote-float64"].report["demoted"] == {"core.add": 1, "core.greater": 1, "core.mul": 1,
                                                          "core.tanh": 1}


def test_casts_read_the_float32_value_only_where_it_is_exact():
    """A cast of a demoted result reads its float32 twin (the float64 value holds it exactly); a cast to
    int of a float64 input keeps reading float64 (rounding it to float32 first could change the int);
    graph outputs keep their names."""
    check_pass(
        "demote-float64",
        """
        graph @main(%x: f32[4], %d: f64[4]) {
          %a = core.cast(%x) {dtype = f64} : f64[4]
          %s = core.sub(%a, %d) : f64[4]
          %out32 = core.cast(%s) {dtype = f32} : f32[4]
          %n = core.cast(%s) {dtype = i32} : i32[4]
          %k = core.cast(%d) {dtype = i32} : i32[4]
          %e = core.exp(%d) : f64[4]
          return %out32, %n, %k, %e
        }
        """,
        """
        graph @main(%x: f32[4], %d: f64[4]) {
          %0 = core.cast(%d) {dtype = f32} : f32[4]
          %out32 = core.sub(%x, %0) : f32[4]
          %n = core.cast(%out32) {dtype = i32} : i32[4]
          %k = core.cast(%d) {dtype = i32} : i32[4]
          %"e/f32" = core.exp(%0) : f32[4]
          %e = core.cast(%"e/f32") {dtype = f64} : f64[4]
          return %out32, %n, %k, %e
        }
        """,
        feeds={"x": np.array([1.5, -2.0, 0.25, 3.0], np.float32), "d": np.array([2.9999999999, 0.5, -1.0, 0.3])},
        rtol=1e-6, atol=1e-7,
    )


def test_constants_beyond_float32_range_keep_their_op():
    report = check_pass(
        "demote-float64",
        """
        graph @main(%d: f64[2]) {
          %c = core.const() {value = dense<f64[2]> [1e300, 1.0]} : f64[2]
          %y = core.mul(%d, %c) : f64[2]
          return %y
        }
        """,
        feeds={"d": np.array([1e-300, 2.0])},
    )
    assert not report["demote-float64"].changed
    assert "beyond float32's range" in report["demote-float64"].report["kept"][0]


def test_float64_arithmetic_from_tf_matches_tf_in_litert(tf, litert_interpreter, tmp_path):
    """NNSmith's Cast makes float64 tensors that its other ops then compute on; TFLite has CAST for
    float64 and no other kernel, so the ops run in float32 between CASTs (float32 rounding)."""
    rng = np.random.default_rng(5)
    feeds = {"x": rng.uniform(-3, 3, (3, 4)).astype(np.float32), "d": rng.uniform(-3, 3, (3, 4))}

    def fn(x, d):
        y = tf.cast(x, tf.float64)
        z = tf.maximum(y * d, tf.constant(0.25, tf.float64)) + tf.reduce_sum(y, axis=1, keepdims=True)
        return {"f64": tf.tan(tf.sigmoid(z)), "f32": tf.cast(tf.reduce_max(z, axis=0), tf.float32),
                "arg": tf.argmax(z, axis=1), "lt": tf.less(y, d)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    report = {}
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds, report=report)
    assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert ops.count("CAST") == 2  # d in, the float64 output out; x's cast to float64 was bypassed
    import litesmith
    from litesmith.ir.interpreter import Interpreter

    graph = litesmith.load(str(tmp_path / "m.pb"))
    litesmith.optimize(graph, "demote-float64")
    assert_close(Interpreter(graph).run(feeds), want, atol=1e-6, rtol=1e-5)
