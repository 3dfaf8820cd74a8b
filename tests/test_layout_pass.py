"""nchw-to-nhwc: text in, text out, and the same numbers before and after (reference interpreter)."""
from __future__ import annotations

from textwrap import dedent

import numpy as np
import pytest

from litesmith.ir import run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes import run_pipeline

# The shape an ONNX conv block has after the frontend: each conv wrapped in NCHW <-> NHWC transposes,
# batch-norm scale, relu and a residual add in between, a global pool after.
CNN_BLOCK = """
    graph @main(%x: f32[1,2,3,3]) {
      %to_nhwc = core.const() {value = dense<i32[4]>[0, 2, 3, 1]} : i32[4]
      %to_nchw = core.const() {value = dense<i32[4]>[0, 3, 1, 2]} : i32[4]
      %w = core.const() {value = dense<f32[1,1,2,2]>[[[[1.0, -1.0], [0.5, 2.0]]]]} : f32[1,1,2,2]
      %scale = core.const() {value = dense<f32[2,1,1]>[[[2.0]], [[3.0]]]} : f32[2,1,1]
      %x1 = core.transpose(%x, %to_nhwc) : f32[1,3,3,2]
      %c1 = core.conv2d(%x1, %w) : f32[1,3,3,2]
      %y1 = core.transpose(%c1, %to_nchw) : f32[1,2,3,3]
      %bn = core.mul(%y1, %scale) : f32[1,2,3,3]
      %r = core.relu(%bn) : f32[1,2,3,3]
      %x2 = core.transpose(%r, %to_nhwc) : f32[1,3,3,2]
      %c2 = core.conv2d(%x2, %w) : f32[1,3,3,2]
      %y2 = core.transpose(%c2, %to_nchw) : f32[1,2,3,3]
      %res = core.add(%y2, %r) : f32[1,2,3,3]
      %pooled = core.reduce_mean(%res) {axes = [2, 3], keepdims = false} : f32[1,2]
      return %res, %pooled
    }
"""

CONV = 'dilations = [1, 1], explicit_paddings = [], padding = "VALID", strides = [1, 1]'


def _feeds(graph, seed=0):
    rng = np.random.default_rng(seed)
    return {v.name: rng.normal(size=v.shape).astype(np.float32) for v in graph.inputs}


def test_cnn_block_keeps_only_the_io_transposes():
    g = parse_ir(dedent(CNN_BLOCK))
    feeds = _feeds(g)
    before = run(g, feeds)
    report = run_pipeline(g, "nchw-to-nhwc,dce", verify_each=True)
    assert report["nchw-to-nhwc"].report["transposes"] == {"before": 4, "after": 2}
    assert print_ir(g) == dedent(f"""\
        graph @main(%x: f32[1,2,3,3]) #{{litesmith.layout = "nhwc"}} {{
          %to_nhwc = core.const() {{value = dense<i32[4]> [0, 2, 3, 1]}} : i32[4]
          %w = core.const() {{value = dense<f32[1,1,2,2]> [[[[1.0, -1.0], [0.5, 2.0]]]]}} : f32[1,1,2,2]
          %x1 = core.transpose(%x, %to_nhwc) : f32[1,3,3,2]
          %c1 = core.conv2d(%x1, %w) {{{CONV}}} : f32[1,3,3,2]
          %0 = core.const() {{value = dense<f32[1,1,1,2]> [[[[2.0, 3.0]]]]}} : f32[1,1,1,2]
          %1 = core.mul(%c1, %0) : f32[1,3,3,2]
          %x2 = core.relu(%1) : f32[1,3,3,2]
          %c2 = core.conv2d(%x2, %w) {{{CONV}}} : f32[1,3,3,2]
          %2 = core.add(%c2, %x2) : f32[1,3,3,2]
          %3 = core.const() {{value = dense<i32[4]> [0, 3, 1, 2]}} : i32[4]
          %res = core.transpose(%2, %3) : f32[1,2,3,3]
          %pooled = core.reduce_mean(%2) {{axes = [1, 2], keepdims = false}} : f32[1,2]
          return %res, %pooled
        }}
    """)
    after = run(g, feeds)
    for k in before:
        np.testing.assert_allclose(after[k], before[k], rtol=1e-6)


def test_channel_last_io_removes_every_transpose():
    g = parse_ir(dedent(CNN_BLOCK))
    feeds = _feeds(g)
    before = run(g, feeds)
    report = run_pipeline(g, "nchw-to-nhwc{io_layout=nhwc},dce", verify_each=True)
    assert report["nchw-to-nhwc"].report["transposes"] == {"before": 4, "after": 0}
    assert [v.name for v in g.inputs] == ["x"] and g.inputs[0].shape == (1, 3, 3, 2)
    assert g.output_names() == ["res", "pooled"] and g.outputs[0].shape == (1, 3, 3, 2)
    after = run(g, {"x": feeds["x"].transpose(0, 2, 3, 1)})
    np.testing.assert_allclose(after["res"], before["res"].transpose(0, 2, 3, 1), rtol=1e-6)
    np.testing.assert_allclose(after["pooled"], before["pooled"], rtol=1e-6)


@pytest.mark.parametrize("body,expect_after", [
    # concat along channels, then pad: axis and paddings follow the permutation
    ("""%b = core.const() {value = dense<f32[1,1,3,2]>[[[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]]]} : f32[1,1,3,2]
      %t = core.transpose(%x, %p) : f32[1,2,3,2]
      %c = core.concat(%t, %b) {axis = 1} : f32[1,3,3,2]
      %q = core.const() {value = dense<i32[4,2]>[[0, 0], [1, 0], [0, 2], [1, 1]]} : i32[4,2]
      %y = core.pad(%c, %q) : f32[1,4,5,4]""", 1),
    # softmax over channels, keepdims-free reduction, split
    ("""%t = core.transpose(%x, %p) : f32[1,2,3,2]
      %s = core.softmax(%t) {axis = 1} : f32[1,2,3,2]
      %m = core.reduce_max(%s) {axes = [3], keepdims = false} : f32[1,2,3]
      %y = core.exp(%m) : f32[1,2,3]""", 1),
    # cumsum and tile: chosen by their declared batch-axis rule kind, axis and multiples permuted
    ("""%t = core.transpose(%x, %p) : f32[1,2,3,2]
      %c = core.cumsum(%t) {axis = 2} : f32[1,2,3,2]
      %m = core.const() {value = dense<i32[4]>[1, 2, 1, 3]} : i32[4]
      %y = core.tile(%c, %m) : f32[1,4,3,6]""", 1),
    # a transpose read by two layout-agnostic ops is copied, and both copies move on
    ("""%t = core.transpose(%x, %p) : f32[1,2,3,2]
      %a = core.tanh(%t) : f32[1,2,3,2]
      %n = core.neg(%t) : f32[1,2,3,2]
      %y = core.sub(%a, %n) : f32[1,2,3,2]""", 1),
])
def test_transposes_sink_through_layout_agnostic_ops(body, expect_after):
    text = f"""
    graph @main(%x: f32[1,3,2,2]) {{
      %p = core.const() {{value = dense<i32[4]>[0, 3, 1, 2]}} : i32[4]
      {body}
      return %y
    }}
    """
    g = parse_ir(dedent(text))
    feeds = _feeds(g, 1)
    before = run(g, feeds)["y"]
    report = run_pipeline(g, "nchw-to-nhwc,dce", verify_each=True)
    assert report["nchw-to-nhwc"].report["transposes"]["after"] == expect_after
    assert [n.op for n in g.nodes if n.op == "core.transpose"] == ["core.transpose"] * expect_after
    assert g.nodes[-1].op == "core.transpose" or expect_after == 0  # the one left is at the output
    np.testing.assert_allclose(run(g, feeds)["y"], before, rtol=1e-6)


def test_flatten_of_a_feature_map_moves_into_the_weights():
    g = parse_ir(dedent("""
        graph @main(%x: f32[1,2,3,2]) {
          %p = core.const() {value = dense<i32[4]>[0, 3, 1, 2]} : i32[4]
          %t = core.transpose(%x, %p) : f32[1,2,2,3]
          %s = core.const() {value = dense<i32[2]>[1, 12]} : i32[2]
          %f = core.reshape(%t, %s) : f32[1,12]
          %w = core.const() {value = dense<f32[12,2]>[[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [5.0, 0.0],
            [6.0, 1.0], [7.0, 0.0], [8.0, 1.0], [9.0, 0.0], [10.0, 1.0], [11.0, 0.0], [12.0, 1.0]]} : f32[12,2]
          %y = core.matmul(%f, %w) : f32[1,2]
          return %y
        }
    """))
    feeds = _feeds(g, 2)
    before = run(g, feeds)["y"]
    report = run_pipeline(g, "nchw-to-nhwc,dce", verify_each=True)
    assert report["nchw-to-nhwc"].report["transposes"] == {"before": 1, "after": 0}
    np.testing.assert_allclose(run(g, feeds)["y"], before, rtol=1e-6)


def test_unit_dim_transpose_becomes_a_reshape():
    g = parse_ir(dedent("""
        graph @main(%x: f32[2,1,1,5]) {
          %p = core.const() {value = dense<i32[4]>[0, 3, 1, 2]} : i32[4]
          %t = core.transpose(%x, %p) : f32[2,5,1,1]
          %y = core.sigmoid(%t) : f32[2,5,1,1]
          %s = core.const() {value = dense<i32[2]>[2, 5]} : i32[2]
          %z = core.reshape(%y, %s) : f32[2,5]
          return %z
        }
    """))
    feeds = _feeds(g, 3)
    before = run(g, feeds)["z"]
    run_pipeline(g, "nchw-to-nhwc,dce", verify_each=True)
    assert [n.op for n in g.nodes if n.op != "core.const"] == ["core.sigmoid", "core.reshape"]
    np.testing.assert_allclose(run(g, feeds)["z"], before, rtol=1e-6)


def test_bad_option_is_a_user_error():
    from litesmith.ir.errors import UserError

    g = parse_ir(dedent(CNN_BLOCK))
    with pytest.raises(UserError, match="io_layout"):
        run_pipeline(g, "nchw-to-nhwc{io_layout=nwhc}")
