"""Unknown dims through the TFLite backend: kept as -1 in shape_signature, shape arithmetic lowered to
SHAPE / STRIDED_SLICE / PACK / RESHAPE, LiteRT resized to other batches (TF is the oracle)."""
from __future__ import annotations

import numpy as np

import litesmith
from litesmith.backends.tflite import read_tflite, write_tflite
from litesmith.testing import check_pass
from tf_litert import assert_close, run_litert_resized
from tf_models import run_tf_graphdef

SHAPE_ARITHMETIC = """
graph @g(%x: f32[?,?,3]) {
  %s = core.shape(%x) : i32[3]
  %b = core.const() {value = dense<i32[1]> [0]} : i32[1]
  %e = core.const() {value = dense<i32[1]> [1]} : i32[1]
  %n = core.strided_slice(%s, %b, %e, %e) {shrink_axis_mask = 1} : i32[]
  %m = core.const() {value = dense<i32[]> -1} : i32[]
  %t = core.pack(%n, %m) {axis = 0} : i32[2]
  %y = core.reshape(%x, %t) : f32[?,?]
  %z = core.expand_dims(%y) {axis = 1} : f32[?,1,?]
  %w = core.relu(%z) : f32[?,1,?]
  %k = core.const() {value = dense<i32[2]> [-1, 3]} : i32[2]
  %v = core.reshape(%x, %k) : f32[?,3]
  return %w, %v
}
"""

SHAPE_ARITHMETIC_LOWERED = """
graph @g(%x: f32[?,?,3]) {
  %s = tfl.shape(%x) {out_type = i32} : i32[3]
  %b = core.const() {value = dense<i32[1]> [0]} : i32[1]
  %e = core.const() {value = dense<i32[1]> [1]} : i32[1]
  %n = tfl.strided_slice(%s, %b, %e, %e) {begin_mask = 0, ellipsis_mask = 0, end_mask = 0, new_axis_mask = 0, offset = false, shrink_axis_mask = 1} : i32[]
  %m = core.const() {value = dense<i32[]> -1} : i32[]
  %t = tfl.pack(%n, %m) {axis = 0} : i32[2]
  %y = tfl.reshape(%x, %t) : f32[?,?]
  %0 = core.const() {value = dense<i32[]> 1} : i32[]
  %z = tfl.expand_dims(%y, %0) : f32[?,1,?]
  %w = tfl.relu(%z) : f32[?,1,?]
  %1 = core.const() {value = dense<i32[2]> [-1, 3]} : i32[2]
  %v = tfl.reshape(%x, %1) : f32[?,3]
  return %w, %v
}
"""


def test_shape_arithmetic_that_cannot_fold_lowers_to_shape_ops():
    """Two unknown dims: the reshape takes the shape tensor the graph computes; one: a -1 constant."""
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    check_pass("lower-tflite", SHAPE_ARITHMETIC, SHAPE_ARITHMETIC_LOWERED, feeds={"x": x})


def test_shape_arithmetic_runs_in_litert_at_two_shapes(litert_interpreter):
    graph = litesmith.ir.parse_ir(SHAPE_ARITHMETIC)
    blob = litesmith.compile(graph)
    rng = np.random.default_rng(1)
    for shape in [(1, 1, 3), (4, 7, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        got, ops = run_litert_resized(litert_interpreter, blob, {"x": x})
        want = litesmith.ir.run(litesmith.ir.parse_ir(SHAPE_ARITHMETIC), {"x": x})
        assert_close(got, want, atol=0, rtol=0)
    assert {"SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE", "EXPAND_DIMS"} <= set(ops)


def test_dynamic_batch_cnn_runs_at_batch_1_and_3(tf, dynamic_batch_cnn, litert_interpreter):
    """Frozen with convert_variables_to_constants_v2 defaults, converted with no passes."""
    model = dynamic_batch_cnn
    (name,) = model.input_names
    blob = litesmith.compile(litesmith.load(model.pb_path))
    interp = litert_interpreter(model_content=bytes(blob))
    (detail,) = interp.get_input_details()
    assert list(detail["shape"]) == [1, 12, 12, 3] and list(detail["shape_signature"]) == [-1, 12, 12, 3]
    rng = np.random.default_rng(3)
    for batch in (1, 3):
        x = rng.uniform(-1, 1, size=(batch, 12, 12, 3)).astype(np.float32)
        want = run_tf_graphdef(tf, model.pb_path, {name: x}, model.output_names)
        got, ops = run_litert_resized(litert_interpreter, blob, {name: x})
        assert_close(got, want, atol=1e-5)
    assert sorted(ops) == ["CONV_2D", "CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "RESHAPE", "SOFTMAX"]


def test_reader_keeps_unknown_dims_and_the_round_trip_runs(tf, dynamic_batch_cnn, litert_interpreter):
    model = dynamic_batch_cnn
    (name,) = model.input_names
    blob = litesmith.compile(litesmith.load(model.pb_path))
    graph = read_tflite(blob)
    assert graph.inputs[0].shape == (None, 12, 12, 3) and graph.outputs[0].shape == (None, 10)
    again = write_tflite(graph)
    assert again == bytes(blob)
    x = np.random.default_rng(4).uniform(-1, 1, size=(3, 12, 12, 3)).astype(np.float32)
    got, _ = run_litert_resized(litert_interpreter, again, {name: x})
    assert_close(got, run_tf_graphdef(tf, model.pb_path, {name: x}, model.output_names), atol=1e-5)


SPLIT = """
graph @g(%x: f32[?,6]) {
  %a, %b = core.split(%x) {axis = 1, sizes = [2, 4]} : f32[?,2], f32[?,4]
  %c = core.split(%x) {axis = 0, sizes = [-1]} : f32[?,6]
  %y = core.tanh(%b) : f32[?,4]
  return %a, %y
}
"""


def test_split_keeps_an_unknown_dim_off_its_axis(litert_interpreter):
    """A split reads only its axis' size: the unknown batch stays unknown, LiteRT resizes it."""
    blob = litesmith.compile(litesmith.ir.parse_ir(SPLIT))
    for batch in (1, 5):
        x = np.random.default_rng(batch).normal(size=(batch, 6)).astype(np.float32)
        got, ops = run_litert_resized(litert_interpreter, blob, {"x": x})
        assert_close(got, litesmith.ir.run(litesmith.ir.parse_ir(SPLIT), {"x": x}), atol=1e-6)
    assert ops == ["SPLIT_V", "TANH"]
