"""The reducer's graph edits (litesmith/reducer/cuts.py), IR text in and out; the input graph stays as it was."""
from textwrap import dedent

import numpy as np

from litesmith.ir.text import parse_ir, print_ir
from litesmith.reducer.cuts import Base, drop_outputs, remove_nodes, retype
from litesmith.reducer.ddmin import cut_halves, ddmin

SRC = dedent("""\
    graph @main(%x: f32[4,8], %u: f32[8]) {
      %c = core.const() {value = dense<f32[8]> [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]} : f32[8]
      %a = core.add(%x, %c) : f32[4,8]
      %t = core.tanh(%a) : f32[4,8]
      %e = core.exp(%t) : f32[4,8]
      %s = core.sub(%e, %t) : f32[4,8]
      %w = core.mul(%x, %u) : f32[4,8]
      return %s, %w
    }
""")


def base():
    return Base(parse_ir(SRC))


def by_op(b, op):
    return next(n for n in b.nodes if n.op == op)


def test_removed_node_outputs_become_inputs_and_dying_operands_outputs():
    b = base()
    c = remove_nodes(b, [by_op(b, "core.tanh")])
    assert print_ir(c.graph) == dedent("""\
        graph @main(%x: f32[4,8], %u: f32[8], %t: f32[4,8]) {
          %c = core.const() {value = dense<f32[8]> [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]} : f32[8]
          %a = core.add(%x, %c) : f32[4,8]
          %e = core.exp(%t) : f32[4,8]
          %s = core.sub(%e, %t) : f32[4,8]
          %w = core.mul(%x, %u) : f32[4,8]
          return %s, %w, %a
        }
    """)
    assert print_ir(b.graph) == SRC  # the current graph is a clone's source, never edited
    assert c.node(by_op(b, "core.exp")).op == "core.exp" and c.node(by_op(b, "core.tanh")) is None


def test_removing_a_producer_drops_its_output_and_dead_constants():
    b = base()
    c = remove_nodes(b, [by_op(b, "core.add"), by_op(b, "core.mul")])
    assert print_ir(c.graph) == dedent("""\
        graph @main(%a: f32[4,8]) {
          %t = core.tanh(%a) : f32[4,8]
          %e = core.exp(%t) : f32[4,8]
          %s = core.sub(%e, %t) : f32[4,8]
          return %s
        }
    """)
    assert c.outputs == {0: 0}


def test_dropping_an_output_removes_its_cone():
    c = drop_outputs(base(), [0])
    assert print_ir(c.graph) == dedent("""\
        graph @main(%x: f32[4,8], %u: f32[8]) {
          %w = core.mul(%x, %u) : f32[4,8]
          return %w
        }
    """)
    assert drop_outputs(base(), [0, 1]) is None  # no outputs left: not a candidate


def test_retype_shrinks_dims_together_and_rejects_what_does_not_fit():
    b = base()
    const = by_op(b, "core.const")
    c = retype(b, inputs={0: [1, 4], 1: [4]}, constants={const: np.full(4, 2.0, np.float32)})
    assert "graph @main(%x: f32[1,4], %u: f32[4])" in print_ir(c.graph)
    assert "%w = core.mul(%x, %u) : f32[1,4]" in print_ir(c.graph)
    assert retype(b, inputs={1: [4]}) is None  # mul(f32[4,8], f32[4]) does not broadcast
    scalar = retype(b, constants={const: np.float32(0.0)})
    assert "%c = core.const() {value = dense<f32[]> 0.0} : f32[]" in print_ir(scalar.graph)


def test_ddmin_finds_the_two_needed_elements():
    tests = []

    def try_remove(chunk):
        tests.append(chunk)
        left = set(current) - set(chunk)
        if {13, 77} <= left:
            current[:] = sorted(left)
            return lambda e: e
        return None

    current = list(range(100))
    assert ddmin(list(current), try_remove) == [13, 77]
    assert len(tests) < 60


def test_cut_halves_isolates_one_position_in_log_tests():
    items = list(range(1000))
    tests = []

    def cut(front):
        def attempt(k):
            tests.append(k)
            keep = items[k:] if front else items[:-k]
            if 637 in keep:
                items[:] = keep
                return True
            return False
        return attempt

    cut_halves(lambda: len(items), cut(False), cut(True))
    assert items == [637] and len(tests) <= 4 * 10
