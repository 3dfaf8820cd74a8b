"""strip-batch: text-IR rewrites of axis attributes and the refusals, checked against the interpreter."""
from textwrap import dedent

import numpy as np
import pytest

from litesmith.ir import UserError, run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.ir.verify import verify
from litesmith.passes import run_pipeline

MLP = """
graph @main(%x: f32[4,3,6]) {
  %w = core.const() {value = dense<f32[6,5]> [[0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1], [1.0, -1.0, 0.5, -0.5, 0.0], [0.2, 0.2, 0.2, 0.2, 0.2], [-0.3, 0.1, 0.4, -0.1, 0.6], [0.7, -0.2, 0.0, 0.3, -0.4]]} : f32[6,5]
  %perm = core.const() {value = dense<i32[3]> [0, 2, 1]} : i32[3]
  %t = core.transpose(%x, %perm) : f32[4,6,3]
  %s = core.reduce_sum(%t) {axes = [2], keepdims = false} : f32[4,6]
  %m = core.matmul(%s, %w) {transpose_a = false, transpose_b = false} : f32[4,5]
  %c = core.concat(%m, %m) {axis = 1} : f32[4,10]
  %p = core.softmax(%c) {axis = 1, beta = 1.0} : f32[4,10]
  %target = core.const() {value = dense<i32[2]> [-1, 6]} : i32[2]
  %flat = core.reshape(%x, %target) : f32[12,6]
  return %p, %flat
}
"""


def _rows(g, name, x):
    return run(g, {"x": x})[name]


def test_strip_batch_rewrites_axes_and_keeps_numerics():
    g = parse_ir(dedent(MLP))
    x = np.random.default_rng(0).normal(size=(4, 3, 6)).astype(np.float32)
    before = run(g, {"x": x})
    report = run_pipeline(g, "strip-batch", verify_each=True)
    verify(g)
    text = print_ir(g)
    assert "%x: f32[3,6]" in text
    assert "core.reduce_sum(%t) {axes = [1]" in text
    assert "core.concat(%m, %m) {axis = 0}" in text
    assert "dense<i32[2]> [1, 0]" in text  # the permutation without the batch entry
    assert [str(v.type) for v in g.outputs] == ["f32[10]", "f32[3,6]"]
    assert report[0].report["batch_inputs"] == ["x"]
    for b in range(4):  # one batch row through the stripped graph = that row of the batched graph
        out = run(g, {"x": x[b]})
        np.testing.assert_allclose(out["p"], before["p"][b], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(out["flat"], before["flat"][3 * b:3 * b + 3], rtol=1e-6)


def test_mixing_op_is_a_user_error_naming_the_node():
    g = parse_ir(dedent("""
    graph @main(%x: f32[4,3]) {
      %s = core.reduce_sum(%x) {axes = [0], keepdims = false} : f32[3]
      return %s
    }
    """))
    with pytest.raises(UserError, match=r"core.reduce_sum node 's' reduces across the batch axis"):
        run_pipeline(g, "strip-batch")


def test_pin_mode_keeps_a_batch_of_one():
    g = parse_ir(dedent("""
    graph @main(%x: f32[4,3]) {
      %p = core.softmax(%x) {axis = 0, beta = 1.0} : f32[4,3]
      return %p
    }
    """))
    run_pipeline(g, "strip-batch{mode=pin}", verify_each=True)
    assert str(g.inputs[0].type) == "f32[1,3]" and str(g.outputs[0].type) == "f32[1,3]"
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(run(g, {"x": x})["p"], np.ones((1, 3)))


def test_named_inputs_and_unknown_name():
    g = parse_ir(dedent("""
    graph @main(%a: f32[2,3], %b: f32[3]) {
      %s = core.add(%a, %b) : f32[2,3]
      return %s
    }
    """))
    with pytest.raises(UserError, match="no graph input 'c'"):
        run_pipeline(g, "strip-batch{inputs=c}")
    run_pipeline(g, "strip-batch{inputs=a}", verify_each=True)
    assert [str(v.type) for v in g.inputs] == ["f32[3]", "f32[3]"]
    a = np.arange(3, dtype=np.float32)
    np.testing.assert_allclose(run(g, {"a": a, "b": a})["s"], 2 * a)


def test_seed_lm_strip_batch_matches_tf_rows(seed_lm_v2):
    import litesmith

    m = seed_lm_v2
    g = litesmith.load(m.pb_path)
    run_pipeline(g, "strip-batch", verify_each=True)
    assert str(g.inputs[0].type) == "i32[?]"
    ids = m.inputs["inputids"]
    T = ids.shape[1]
    for b in (0, 5):
        out = run(g, {"inputids": ids[b]})["probs"]
        np.testing.assert_allclose(out, m.expected["probs"][b * T:(b + 1) * T], atol=1e-5)


# Keras 3's shape arithmetic with a dynamic time axis: a zero state filled at shape(x)[0], and a
# Dense over [B, T, D] as a Tensordot whose reshape targets are computed from shape(x).
RUNTIME_SIZES = """
graph @main(%x: f32[?,?,3]) {
  %s = core.shape(%x) {dtype = i32} : i32[3]
  %b0 = core.const() {value = dense<i32[1]> [0]} : i32[1]
  %b1 = core.const() {value = dense<i32[1]> [1]} : i32[1]
  %b = core.strided_slice(%s, %b0, %b1, %b1) {begin_mask = 0, end_mask = 0, ellipsis_mask = 0, new_axis_mask = 0, shrink_axis_mask = 1} : i32[]
  %four = core.const() {value = dense<i32[]> 4} : i32[]
  %dims = core.pack(%b, %four) {axis = 0} : i32[2]
  %one = core.const() {value = dense<f32[]> 0.5} : f32[]
  %z = core.fill(%dims, %one) : f32[?,4]
  %w = core.const() {value = dense<f32[3,4]> [[0.1, 0.2, 0.3, 0.4], [0.5, -0.4, 0.3, 0.2], [1.0, -1.0, 0.5, -0.5]]} : f32[3,4]
  %i01 = core.const() {value = dense<i32[2]> [0, 1]} : i32[2]
  %bt = core.gather(%s, %i01) {axis = 0, batch_dims = 0} : i32[2]
  %n = core.reduce_prod(%bt) {axes = [0], keepdims = false} : i32[]
  %three = core.const() {value = dense<i32[]> 3} : i32[]
  %t1 = core.pack(%n, %three) {axis = 0} : i32[2]
  %flat = core.reshape(%x, %t1) : f32[?,3]
  %m = core.matmul(%flat, %w) {transpose_a = false, transpose_b = false} : f32[?,4]
  %c4 = core.const() {value = dense<i32[1]> [4]} : i32[1]
  %t2 = core.concat(%bt, %c4) {axis = 0} : i32[3]
  %y3 = core.reshape(%m, %t2) : f32[?,?,4]
  %e = core.expand_dims(%z) {axis = 1} : f32[?,1,4]
  %y = core.add(%y3, %e) : f32[?,?,4]
  return %y
}
"""


def test_batch_size_read_at_run_time_is_followed_into_fills_and_reshapes():
    g = parse_ir(dedent(RUNTIME_SIZES))
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype(np.float32)
    before = run(g, {"x": x})["y"]
    run_pipeline(g, "strip-batch,dce", verify_each=True)
    text = print_ir(g)
    assert "graph @main(%x: f32[?,3])" in text
    assert "%e = core.const() {value = dense<f32[1,4]> [[0.5, 0.5, 0.5, 0.5]]}" in text  # the fill lost the batch dim
    assert "core.gather(%t2, " in text  # the run-time target of the last reshape drops its batch element
    assert [str(v.type) for v in g.outputs] == ["f32[?,4]"]
    for b in range(2):
        np.testing.assert_allclose(run(g, {"x": x[b]})["y"], before[b], rtol=1e-6, atol=1e-6)


# tf_keras TimeDistributed(Dense) over [B, T, D]: flatten to [-1, D] (the batch merged into dim 0),
# then reshape back to [-1, T, units] with T read at run time.
TIME_DISTRIBUTED = """
graph @main(%x: f32[?,?,3]) {
  %f = core.const() {value = dense<i32[2]> [-1, 3]} : i32[2]
  %flat = core.reshape(%x, %f) : f32[?,3]
  %w = core.const() {value = dense<f32[3,2]> [[0.1, 0.2], [0.5, -0.4], [1.0, -1.0]]} : f32[3,2]
  %m = core.matmul(%flat, %w) {transpose_a = false, transpose_b = false} : f32[?,2]
  %s = core.shape(%x) {dtype = i32} : i32[3]
  %b1 = core.const() {value = dense<i32[1]> [1]} : i32[1]
  %b2 = core.const() {value = dense<i32[1]> [2]} : i32[1]
  %t = core.strided_slice(%s, %b1, %b2, %b1) {begin_mask = 0, end_mask = 0, ellipsis_mask = 0, new_axis_mask = 0, shrink_axis_mask = 1} : i32[]
  %minus = core.const() {value = dense<i32[]> -1} : i32[]
  %two = core.const() {value = dense<i32[]> 2} : i32[]
  %back = core.pack(%minus, %t, %two) {axis = 0} : i32[3]
  %y = core.reshape(%m, %back) : f32[?,?,?]
  return %y
}
"""


def test_run_time_reshape_splitting_the_merged_batch_back_out():
    g = parse_ir(dedent(TIME_DISTRIBUTED))
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype(np.float32)
    before = run(g, {"x": x})["y"]
    run_pipeline(g, "strip-batch,dce", verify_each=True)
    text = print_ir(g)
    assert "graph @main(%x: f32[?,3])" in text
    assert "core.pack(%t, %two) {axis = 0} : i32[2]" in text  # the -1 (the batch) is gone from the target
    for b in range(2):
        np.testing.assert_allclose(run(g, {"x": x[b]})["y"], before[b], rtol=1e-6, atol=1e-6)


def test_run_time_reshape_that_does_not_split_the_merged_dim_is_refused():
    """[B*T, 2] -> [-1, T, 1]: the -1 is 2B, not the batch alone; strip-batch refuses naming the reshape."""
    g = parse_ir(dedent(TIME_DISTRIBUTED.replace("dense<i32[]> 2}", "dense<i32[]> 1}")))
    with pytest.raises(UserError, match="core.reshape node 'y' reshapes"):
        run_pipeline(g, "strip-batch")


def test_reversing_the_batch_axis_is_refused():
    g = parse_ir(dedent("""
    graph @main(%x: f32[4,3]) {
      %r = core.reverse(%x) {axes = [0]} : f32[4,3]
      return %r
    }
    """))
    with pytest.raises(UserError, match=r"core.reverse node 'r' reverses the order of elements across the batch axis"):
        run_pipeline(g, "strip-batch")


def test_head_split_reshape_keeps_the_batch_axis():
    """Keras 3's MultiHeadAttention splits D into heads as [B, T, D] -> [-1, T, H, dh] (or with B itself):
    the batch axis is the leading dim, and the target loses it."""
    g = parse_ir(dedent("""
    graph @main(%x: f32[1,3,4]) {
      %heads = core.const() {value = dense<i32[4]> [-1, 3, 2, 2]} : i32[4]
      %split = core.reshape(%x, %heads) : f32[1,3,2,2]
      %same = core.const() {value = dense<i32[4]> [1, 3, 4, 1]} : i32[4]
      %unit = core.reshape(%x, %same) : f32[1,3,4,1]
      return %split, %unit
    }
    """))
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    before = run(g, {"x": x})
    run_pipeline(g, "strip-batch", verify_each=True)
    text = print_ir(g)
    assert "%x: f32[3,4]" in text and "dense<i32[3]> [3, 2, 2]" in text and "dense<i32[3]> [3, 4, 1]" in text
    after = run(g, {"x": x[0]})
    np.testing.assert_array_equal(after["split"], before["split"][0])
    np.testing.assert_array_equal(after["unit"], before["unit"][0])


def test_squeezed_batch_axis_comes_back_at_expand_dims():
    """torch's dynamo exporter writes SDPA's keys as [1, H, T, d] -> [-1, T, d] -> transpose -> [1, H, d, T]; the
    ONNX frontend makes the reshapes a squeeze and an expand_dims of axis 0. The squeezed batch axis of size 1
    stays the outer factor of H, and the expand_dims re-adds it: both become identities."""
    g = parse_ir(dedent("""
    graph @main(%x: f32[1,2,3,4]) {
      %s = core.squeeze(%x) {axes = [0]} : f32[2,3,4]
      %perm = core.const() {value = dense<i32[3]> [0, 2, 1]} : i32[3]
      %t = core.transpose(%s, %perm) : f32[2,4,3]
      %e = core.expand_dims(%t) {axis = 0} : f32[1,2,4,3]
      %y = core.matmul(%x, %e) {transpose_a = false, transpose_b = false} : f32[1,2,3,3]
      return %y
    }
    """))
    x = np.random.default_rng(0).normal(size=(1, 2, 3, 4)).astype(np.float32)
    before = run(g, {"x": x})
    run_pipeline(g, "strip-batch", verify_each=True)
    text = print_ir(g)
    assert "%x: f32[2,3,4]" in text and "core.squeeze" not in text and "core.expand_dims" not in text
    assert "core.identity(%t) : f32[2,4,3]" in text and "%y = core.matmul(%x, %e)" in text
    np.testing.assert_allclose(run(g, {"x": x[0]})["y"], before["y"][0], rtol=1e-6)
