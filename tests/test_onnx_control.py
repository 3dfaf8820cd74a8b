"""ONNX If, Loop and Scan lifted into core.if / core.while regions (outer values the bodies read become
operands), against onnxruntime in the IR interpreter and, where TFLite can run them (if-to-select,
unroll-loops), in LiteRT; and the if-to-select pass as IR text in/out with numerics."""
from __future__ import annotations

from textwrap import dedent

import numpy as np
import pytest
from onnx import TensorProto, helper

import litesmith
from litesmith.frontends.onnx import load_onnx
from litesmith.ir import run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes import run_pipeline
from litesmith.testing import check_pass
from onnx_models import check_against_ort, f32, init, make_model, run_ort, run_tflite, vinfo

F = TensorProto.FLOAT


def _ops(graph):
    return [n.op for n in graph.walk()]


def if_model():
    """cond = sum(x) > 0 (computed); then: x * w (w an outer initializer), else: x - relu(x) @ m (outer
    value m and an outer node's output): both branches read the enclosing scope."""
    rng = np.random.default_rng(0)
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["t"])], "then", [], [vinfo("t", [3, 4])])
    else_g = helper.make_graph([helper.make_node("MatMul", ["r", "m"], ["e0"]),
                                helper.make_node("Sub", ["x", "e0"], ["e"])], "else", [], [vinfo("e", [3, 4])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)]
    inits = [init("w", f32(rng, 3, 4)), init("m", f32(rng, 4, 4)), init("zero", np.zeros((), np.float32))]
    return make_model(nodes, [vinfo("x", [3, 4])], [vinfo("y", [3, 4])], inits, 13, "if_model")


def test_if_lifts_to_core_if_and_runs_in_litert_as_a_select(litert_interpreter):
    model = if_model()
    g = load_onnx(model.SerializeToString())
    assert _ops(g).count("core.if") == 1 and not [o for o in _ops(g) if o.startswith("onnx.")]
    node = next(n for n in g if n.op == "core.if")
    assert [v.name for v in node.inputs[1:]] == ["x", "r"]  # outer values the branches read (w, m: region constants)
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    for sign in (1, -1):  # both branches taken
        feeds = {"x": np.abs(x) * sign}
        _, ops = check_against_ort(model, feeds, litert_interpreter)
        assert "SELECT_V2" in ops and "IF" not in ops


def loop_model(trip_input: bool = False):
    """Loop(M=4, cond=true): h' = tanh(h @ W + b) with W an outer initializer, b an outer node's output;
    returns the final h and every step's h stacked (a scan output)."""
    rng = np.random.default_rng(2)
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "W"], ["hw"]), helper.make_node("Add", ["hw", "b"], ["pre"]),
         helper.make_node("Tanh", ["pre"], ["h_out"]), helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["h_out"], ["scan"])],
        "body", [vinfo("i", [], TensorProto.INT64), vinfo("cond_in", [], TensorProto.BOOL), vinfo("h_in", [2, 3])],
        [vinfo("cond_out", [], TensorProto.BOOL), vinfo("h_out", [2, 3]), vinfo("scan", [2, 3])])
    nodes = [helper.make_node("Neg", ["x"], ["b"]),
             helper.make_node("Loop", ["M", "true", "h0"], ["h", "hs"], body=body)]
    inits = [init("W", f32(rng, 3, 3)), init("true", np.array(True))]
    inputs = [vinfo("x", [2, 3]), vinfo("h0", [2, 3])]
    if trip_input:
        inputs.append(vinfo("M", [], TensorProto.INT64))
    else:
        inits.append(init("M", np.array(4, np.int64)))
    return make_model(nodes, inputs, [vinfo("h", [2, 3]), vinfo("hs", [4, 2, 3])], inits, 13, "loop_model")


def test_loop_lifts_to_core_while_and_unrolls_for_litert(litert_interpreter):
    model = loop_model()
    g = load_onnx(model.SerializeToString())
    assert _ops(g).count("core.while") == 1 and "core.tensor_list_set_item" in _ops(g)
    rng = np.random.default_rng(3)
    feeds = {"x": f32(rng, 2, 3), "h0": f32(rng, 2, 3)}
    _, ops = check_against_ort(model, feeds, litert_interpreter)
    assert "WHILE" not in ops and ops["TANH"] == 4


def test_loop_with_a_run_time_trip_count_runs_as_a_tflite_while(litert_interpreter):
    """A Loop whose trip count M is a graph input: the interpreter and LiteRT (a WHILE) match onnxruntime,
    M = 0 included (the scan output's list is max(M, 1) rows, its stack the first M: LiteRT prepares
    the body's DYNAMIC_UPDATE_SLICE on the list even when the body never runs)."""
    model = loop_model(trip_input=True)
    model.graph.output[1].type.tensor_type.shape.dim[0].dim_param = "M"  # hs has M rows
    rng = np.random.default_rng(4)
    for m in (1, 3):
        feeds = {"x": f32(rng, 2, 3), "h0": f32(rng, 2, 3), "M": np.array(m, np.int64)}
        _, ops = check_against_ort(model, feeds, litert_interpreter)
        assert "WHILE" in ops
    del model.graph.output[1:]  # LiteRT's Python API cannot read a tensor of 0 elements; the loop still writes it
    graph, ops = check_against_ort(model, {"x": f32(rng, 2, 3), "h0": f32(rng, 2, 3), "M": np.array(0, np.int64)},
                                   litert_interpreter)
    assert "WHILE" in ops and "core.tensor_list_set_item" in [n.op for n in graph.walk()]


def scan_model():
    """Scan-11 over axis 1 of x [2, 5, 3], backwards, with a state s [2, 3] and an outer weight W:
    s' = s + x_t @ W, output s' stacked on axis 1 (scan_output_axes)."""
    rng = np.random.default_rng(5)
    body = helper.make_graph(
        [helper.make_node("MatMul", ["xt", "W"], ["xw"]), helper.make_node("Add", ["s_in", "xw"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y"])],
        "body", [vinfo("s_in", [2, 3]), vinfo("xt", [2, 3])], [vinfo("s_out", [2, 3]), vinfo("y", [2, 3])])
    node = helper.make_node("Scan", ["s0", "x"], ["s", "ys"], body=body, num_scan_inputs=1,
                            scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[1])
    return make_model([node], [vinfo("s0", [2, 3]), vinfo("x", [2, 5, 3])], [vinfo("s", [2, 3]),
                      vinfo("ys", [2, 5, 3])], [init("W", f32(rng, 3, 3))], 11, "scan_model")


def test_scan_lifts_to_core_while_and_unrolls_for_litert(litert_interpreter):
    model = scan_model()
    g = load_onnx(model.SerializeToString())
    assert _ops(g).count("core.while") == 1 and "core.tensor_list_from_tensor" in _ops(g)
    rng = np.random.default_rng(6)
    _, ops = check_against_ort(model, {"s0": f32(rng, 2, 3), "x": f32(rng, 2, 5, 3)}, litert_interpreter)
    assert "WHILE" not in ops


IF_SRC = """
graph @main(%c: bool[], %x: f32[3]) {
  %w = core.const() {value = dense<f32[3]> [1.0, 2.0, 3.0]} : f32[3]
  %y = core.if(%c, %x, %w) (
    ^then(%a: f32[3], %b: f32[3]) {
      %t = core.mul(%a, %b) : f32[3]
      return %t
    },
    ^else(%a: f32[3], %b: f32[3]) {
      %e = core.sub(%a, %b) : f32[3]
      return %e
    }
  ) : f32[3]
  return %y
}
"""

IF_EXPECTED = """
graph @main(%c: bool[], %x: f32[3]) {
  %w = core.const() {value = dense<f32[3]> [1.0, 2.0, 3.0]} : f32[3]
  %"t/then" = core.mul(%x, %w) : f32[3]
  %"e/else" = core.sub(%x, %w) : f32[3]
  %y = core.select(%c, %"t/then", %"e/else") : f32[3]
  return %y
}
"""


@pytest.mark.parametrize("cond", [True, False])
def test_if_to_select_text_and_numerics(cond):
    x = np.array([0.5, -1.0, 2.0], np.float32)
    report = check_pass("if-to-select", IF_SRC, IF_EXPECTED, feeds={"c": np.array(cond), "x": x})
    assert report[0].report["selected"] == ["y"]


def test_if_to_select_inlines_the_branch_of_a_constant_condition():
    g = parse_ir(dedent(IF_SRC.replace("%c: bool[], ", "")).replace(
        "  %w = core.const", "  %c = core.const() {value = dense<bool[]> false} : bool[]\n  %w = core.const"))
    x = np.array([0.5, -1.0, 2.0], np.float32)
    want = run(g, {"x": x})["y"]
    run_pipeline(g, "if-to-select,dce", verify_each=True)
    assert "core.select" not in print_ir(g) and "core.mul" not in print_ir(g)
    np.testing.assert_array_equal(run(g, {"x": x})["y"], want)


def test_if_to_select_leaves_branches_of_other_types_alone():
    src = IF_SRC.replace("%e = core.sub(%a, %b) : f32[3]\n      return %e",
                         "%e = core.reduce_sum(%a) {axes = [0], keepdims = true} : f32[1]\n      return %e")
    src = src.replace(") : f32[3]\n  return %y", ") : f32[?]\n  return %y")
    g = parse_ir(dedent(src))
    report = run_pipeline(g, "if-to-select", verify_each=True)
    assert "core.if" in print_ir(g) and "f32[3] and f32[1]" in report[0].report["skipped"][0]


def test_if_on_a_constant_shape_test_lifts_the_taken_branch_only(litert_interpreter):
    """Exporters' `if x.shape[0] == 1: squeeze`: the condition folds when the node is lifted, and the
    branch not taken (a squeeze of a dim of 3) is never lifted, as onnxruntime never runs it."""
    then_g = helper.make_graph([helper.make_node("Squeeze", ["x", "ax"], ["t"])], "then", [], [vinfo("t", [4])])
    else_g = helper.make_graph([helper.make_node("ReduceSum", ["x", "ax"], ["e"], keepdims=0)], "else", [],
                               [vinfo("e", [4])])
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["d"]),
             helper.make_node("Equal", ["d", "one"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)]
    inits = [init("ax", np.array([0], np.int64)), init("zero", np.array(0, np.int64)),
             init("one", np.array(1, np.int64))]
    model = make_model(nodes, [vinfo("x", ["N", 4])], [vinfo("y", [4])], inits, 13, "shape_if")
    g = load_onnx(model.SerializeToString(), input_shapes={"x": [3, 4]})
    assert "core.if" not in _ops(g) and "core.reduce_sum" in _ops(g)
    x = f32(np.random.default_rng(7), 3, 4)
    want = run_ort(model, {"x": x})["y"]
    np.testing.assert_allclose(run(g, {"x": x})["y"], want, rtol=1e-6)
    got, _ = run_tflite(litert_interpreter, litesmith.compile(g), {"x": x})
    np.testing.assert_allclose(got["y"], want, rtol=1e-5)
