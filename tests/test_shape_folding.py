"""fold-constants over shape arithmetic: shape/size/rank of static shapes fold although the operand is computed."""
from textwrap import dedent

import numpy as np

from litesmith.ir import run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes.manager import PassManager
from litesmith.passes.numerics import random_feeds

SRC = """
graph @main(%x: f32[2,3]) {
  %y = core.tanh(%x) : f32[2,3]
  %s = core.shape(%y) {dtype = i32} : i32[2]
  %n = core.size(%y) {dtype = i32} : i32[]
  %r = core.rank(%y) : i32[]
  %one = core.const() {value = dense<i32[]> 1} : i32[]
  %last = core.sub(%r, %one) : i32[]
  %d = core.const() {value = dense<i32[]> 0} : i32[]
  %z = core.range(%d, %n, %one) : i32[?]
  return %s, %last, %z
}
"""


def test_shape_queries_of_computed_static_values_fold():
    g = parse_ir(dedent(SRC))
    feeds = random_feeds(g)
    before = run(g, feeds)
    report = PassManager.parse("fold-constants,dce", check_numerics=True, verify_each=True).run(g)
    ops = [n.op for n in g.walk()]
    assert ops.count("core.const") == 3 and "core.tanh" not in ops  # tanh only fed the shape queries
    assert not {"core.shape", "core.size", "core.rank", "core.range"} & set(ops)
    assert g.outputs[2].shape == (6,)  # range's length became known after size folded
    folded = report[0].report
    assert any("core.shape" in s for s in folded["shape_queries"])
    after = run(g, feeds)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
    assert "core.range" in " ".join(folded["folded"])


def test_shape_of_unknown_dims_stays():
    g = parse_ir(dedent("""
    graph @main(%x: f32[?,3]) {
      %s = core.shape(%x) {dtype = i32} : i32[2]
      %r = core.rank(%x) : i32[]
      return %s, %r
    }
    """))
    PassManager.parse("fold-constants").run(g)
    text = print_ir(g)
    assert "core.shape" in text and "core.rank" not in text  # the rank is known, the shape is not


def test_shapes_option_off_keeps_plain_folding():
    g = parse_ir(dedent(SRC))
    PassManager.parse("fold-constants{shapes=false}").run(g)
    assert "core.shape" in print_ir(g)


def test_known_dims_picked_from_a_partly_known_shape_fold():
    """gather(shape(x), [1]) of x: f32[?,3] is [3] although the shape itself stays a run-time value
    (an ONNX LSTM's zero state reads its batch this way): text in/out, and numerics at two sizes."""
    from litesmith.testing import check_pass

    src = """
    graph @main(%x: f32[?,3]) {
      %s = core.shape(%x) {dtype = i32} : i32[2]
      %i = core.const() {value = dense<i32[1]> [1]} : i32[1]
      %d = core.gather(%s, %i) {axis = 0, batch_dims = 0} : i32[1]
      %j = core.const() {value = dense<i32[]> 0} : i32[]
      %t = core.gather(%s, %j) {axis = 0, batch_dims = 0} : i32[]
      return %d, %t
    }
    """
    expected = """
    graph @main(%x: f32[?,3]) {
      %s = core.shape(%x) {dtype = i32} : i32[2]
      %d = core.const() {value = dense<i32[1]> [3]} : i32[1]
      %j = core.const() {value = dense<i32[]> 0} : i32[]
      %t = core.gather(%s, %j) {axis = 0, batch_dims = 0} : i32[]
      return %d, %t
    }
    """
    for rows in (1, 4):
        report = check_pass("fold-constants,dce", src, expected, feeds={"x": np.ones((rows, 3), np.float32)})
    assert report[0].report["shape_queries"] == ["core.gather 'd'"]
