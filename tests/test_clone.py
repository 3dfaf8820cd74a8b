"""clone_graph, and litesmith.compile leaving the caller's graph as it was."""
from __future__ import annotations

import numpy as np
import pytest

import litesmith
from litesmith.ir.clone import clone_graph
from litesmith.ir.interpreter import run
from litesmith.ir.text import parse_ir, print_ir
from test_cnn_convert import assert_matches_tf, run_litert

LOOP_IR = """
graph @main(%n: i32[], %x: f32[3]) {
  %zero = core.const() {value = dense<f32[3]> [0.0, 0.0, 0.0]} : f32[3]
  %i0 = core.const() {value = dense<i32[]> 0} : i32[]
  %i, %total, %n2, %x2 = core.while(%i0, %zero, %n, %x) {max_iterations = 0} (
    ^cond(%ci: i32[], %cacc: f32[3], %cn: i32[], %cx: f32[3]) {
      %lt = core.less(%ci, %cn) : bool[]
      return %lt
    },
    ^body(%bi: i32[], %bacc: f32[3], %bn: i32[], %bx: f32[3]) {
      %one = core.const() {value = dense<i32[]> 1} : i32[]
      %next = core.add(%bi, %one) : i32[]
      %fi = core.cast(%bi) {dtype = f32} : f32[]
      %term = core.mul(%bx, %fi) : f32[3]
      %acc = core.add(%bacc, %term) : f32[3]
      return %next, %acc, %bn, %bx
    }
  ) : i32[], f32[3], i32[], f32[3]
  return %total
}
"""


def test_clone_is_independent_and_prints_the_same():
    g = parse_ir(LOOP_IR)
    c = clone_graph(g)
    assert print_ir(c) == print_ir(g)
    # Changing the copy (a node removed, an output renamed) leaves the original alone.
    c.outputs[0].name = "renamed"
    assert "renamed" not in print_ir(g)
    assert all(n.graph is c for n in c) and all(n.graph is g for n in g)
    assert not {id(v) for v in c.values()} & {id(v) for v in g.values()}


def test_clone_runs_like_the_original():
    g = parse_ir(LOOP_IR)
    feeds = {"n": np.array(4, np.int32), "x": np.array([1.0, -2.0, 0.5], np.float32)}
    expected = np.array([1.0, -2.0, 0.5], np.float32) * (0 + 1 + 2 + 3)  # sum_{i<4} x*i, by hand
    np.testing.assert_allclose(run(clone_graph(g), feeds)["total"], expected)


def test_clone_shares_constants_read_only():
    g = parse_ir(LOOP_IR)
    c = clone_graph(g)
    const = next(n for n in c if n.op == "core.const" and n.outputs[0].shape == (3,))
    original = next(n for n in g if n.op == "core.const" and n.outputs[0].shape == (3,))
    assert const.attrs["value"] is original.attrs["value"]  # no weight is copied
    with pytest.raises(ValueError):
        const.attrs["value"][0] = 1.0  # nor changed behind the other graph's back


def test_compile_leaves_the_graph_alone_and_compiles_twice(small_graphs, litert_interpreter):
    model = small_graphs["mlp"]
    graph = litesmith.load(model.pb_path)
    before = print_ir(graph)
    float_blob = litesmith.compile(graph)
    assert print_ir(graph) == before
    dynamic_blob = litesmith.compile(graph, quantize="float16")
    assert print_ir(graph) == before
    for blob, tol in ((float_blob, 1e-5), (dynamic_blob, 1e-2)):
        outs, _ = run_litert(litert_interpreter, blob, model.inputs)
        assert_matches_tf(model, outs, tol)


def test_failed_compile_leaves_the_graph_alone(small_graphs):
    """A loop lowers (WHILE) and its lists become tensors before the lowering refuses an op with no
    TFLite builtin (erf): none of that shows on the caller's graph."""
    from litesmith.backends.tflite.legalize import IllegalOpsError
    from litesmith.ir import Builder

    graph = litesmith.load(small_graphs["while_sum_v2"].pb_path)
    b = Builder(graph)
    graph.outputs = [b.op("core.erf", [v]) if v.dtype.is_float else v for v in graph.outputs]
    before = print_ir(graph)
    with pytest.raises(IllegalOpsError):
        litesmith.compile(graph)
    assert print_ir(graph) == before
