"""pfor-gather-loops (run by strip-batch): the while loop TF's pfor writes for ``x[g[i]]`` (Keras 3
TimeDistributed over a dynamic time axis) becomes ``gather(x, g[:n])``; any other loop stays. The
Keras model: tests/test_keras_rnn.py (the ``time_distributed`` variant)."""
from textwrap import dedent

import numpy as np

from litesmith.ir.text import parse_ir, print_ir
from litesmith.testing import check_pass

# pfor's loop as TF writes it: B = pack(g, axis=1), E = pack(g + PLUS, axis=1); step i stores
# x[B[i, 0] : E[i, 0]] (axis 0 shrunk) at i while i < n; the list is then stacked.
PFOR_LOOP = """
graph @main(%x: f32[?,2,3], %g: i32[?]) {
  %one = core.const() {value = dense<i32[]> PLUS} : i32[]
  %e = core.add(%g, %one) : i32[?]
  %b = core.pack(%g) {axis = 1} : i32[?,1]
  %en = core.pack(%e) {axis = 1} : i32[?,1]
  %s = core.shape(%g) {dtype = i32} : i32[1]
  %s0 = core.const() {value = dense<i32[1]> [0]} : i32[1]
  %s1 = core.const() {value = dense<i32[1]> [1]} : i32[1]
  %n = core.strided_slice(%s, %s0, %s1, %s1) {begin_mask = 0, ellipsis_mask = 0, end_mask = 0, new_axis_mask = 0, shrink_axis_mask = 1} : i32[]
  %zero = core.const() {value = dense<i32[]> 0} : i32[]
  %st = core.const() {value = dense<i32[1]> [1]} : i32[1]
  %l = core.tensor_list_reserve(%n) {element_dtype = f32, element_shape = none} : list<f32[*]>
  %i_out, %l_out, %n_out, %b_out, %e_out, %x_out, %st_out = core.while(%zero, %l, %n, %b, %en, %x, %st) {max_iterations = 0} (
    ^cond(%i: i32[], %l1: list<f32[*]>, %n1: i32[], %b1: i32[?,1], %e1: i32[?,1], %x1: f32[?,2,3], %t1: i32[1]) {
      %k = core.less(%i, %n1) : bool[]
      return %k
    },
    ^body(%i: i32[], %l1: list<f32[*]>, %n1: i32[], %b1: i32[?,1], %e1: i32[?,1], %x1: f32[?,2,3], %t1: i32[1]) {
      %c1 = core.const() {value = dense<i32[]> 1} : i32[]
      %c0 = core.const() {value = dense<i32[]> 0} : i32[]
      %j = core.add(%i, %c1) : i32[]
      %j2 = core.add(%i, %c1) : i32[]
      %p0 = core.pack(%i, %c0) {axis = 0} : i32[2]
      %p1 = core.pack(%j2, %c0) {axis = 0} : i32[2]
      %ones = core.const() {value = dense<i32[2]> [1, 1]} : i32[2]
      %bb = core.strided_slice(%b1, %p0, %p1, %ones) {begin_mask = 0, ellipsis_mask = 2, end_mask = 0, new_axis_mask = 0, shrink_axis_mask = 1} : i32[*]
      %ee = core.strided_slice(%e1, %p0, %p1, %ones) {begin_mask = 0, ellipsis_mask = 2, end_mask = 0, new_axis_mask = 0, shrink_axis_mask = 1} : i32[*]
      %y = core.strided_slice(%x1, %bb, %ee, %t1) {begin_mask = 0, ellipsis_mask = 0, end_mask = 0, new_axis_mask = 0, shrink_axis_mask = 1} : f32[*]
      %l2 = core.tensor_list_set_item(%l1, %i, %y) : list<f32[*]>
      return %j, %l2, %n1, %b1, %e1, %x1, %t1
    }
  ) : i32[], list<f32[*]>, i32[], i32[?,1], i32[?,1], f32[?,2,3], i32[1] loc("pfor/while")
  %out = core.tensor_list_stack(%l_out) {element_dtype = f32, num_elements = -1} : f32[*]
  return %out
}
"""

FEEDS = {"x": np.random.default_rng(0).normal(size=(4, 2, 3)).astype(np.float32),
         "g": np.array([2, 0, 3, 1], np.int32)}


def test_pfor_slicing_loop_becomes_a_gather():
    report = check_pass("pfor-gather-loops", PFOR_LOOP.replace("PLUS", "1"), feeds=FEEDS)
    assert report[0].report["gathers"] == ["pfor/while"]


def test_the_loop_and_its_list_are_gone():
    from litesmith.passes import run_pipeline

    g = parse_ir(dedent(PFOR_LOOP.replace("PLUS", "1")))
    run_pipeline(g, "pfor-gather-loops", verify_each=True)
    text = print_ir(g)
    assert "core.while" not in text and "tensor_list" not in text
    assert "%out = core.gather(%x, " in text and "return %out" in text
    assert str(g.outputs[0].type) == "f32[?,2,3]"


def test_slices_wider_than_one_row_stay_a_loop():
    """E = g + 2: each step stores x[g[i]] still (axis 0 shrunk), but the pattern is not pfor's; kept."""
    report = check_pass("pfor-gather-loops", PFOR_LOOP.replace("PLUS", "2"), feeds=FEEDS)
    assert report[0].report["gathers"] == []
