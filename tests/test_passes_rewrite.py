"""The greedy pattern driver: re-queueing, regions, names, non-convergence, why-not tracing."""
from textwrap import dedent

import pytest

from litesmith.ir.text import parse_ir, print_ir
from litesmith.ir.verify import verify
from litesmith.passes import RewritePattern, apply_patterns_greedily, pattern
from litesmith.passes.rewrite import PatternError


def parse(src):
    return parse_ir(dedent(src))


@pattern("test.a")
def a_to_b(node, rw):
    """test.a(x) -> test.b(x)"""
    new = rw.builder().op("test.b", node.inputs, output_types=[node.output.type])
    rw.replace_node(node, [new])
    return True


@pattern("test.b")
def b_to_a(node, rw):
    new = rw.builder().op("test.a", node.inputs, output_types=[node.output.type])
    rw.replace_node(node, [new])
    return True


@pattern("test.b")
def b_to_c(node, rw):
    new = rw.builder().op("test.c", node.inputs, output_types=[node.output.type])
    rw.replace_node(node, [new])
    return True


def test_new_nodes_are_rewritten_in_the_same_run_and_output_names_kept():
    g = parse("""
        graph @main(%x: f32[2]) {
          %y = test.a(%x) : f32[2]
          %z = test.a(%y) : f32[2]
          return %z
        }
    """)
    result = apply_patterns_greedily(g, [a_to_b, b_to_c])
    assert result.changed and result.converged
    assert result.applied == {"a_to_b": 2, "b_to_c": 2}
    assert print_ir(g) == dedent("""\
        graph @main(%x: f32[2]) {
          %y = test.c(%x) : f32[2]
          %z = test.c(%y) : f32[2]
          return %z
        }
    """)


def test_patterns_reach_regions():
    g = parse("""
        graph @main(%p: bool[], %x: f32[2]) {
          %r = core.if(%p, %x) (
            ^then(%a: f32[2]) {
              %t = test.a(%a) : f32[2]
              return %t
            },
            ^else(%b: f32[2]) {
              return %b
            }
          ) : f32[2]
          return %r
        }
    """)
    result = apply_patterns_greedily(g, [a_to_b])
    assert result.applied == {"a_to_b": 1}
    assert "test.b(%a)" in print_ir(g)
    verify(g)


def test_ping_pong_patterns_report_non_convergence():
    g = parse("""
        graph @main(%x: f32[2]) {
          %y = test.a(%x) : f32[2]
          return %y
        }
    """)
    result = apply_patterns_greedily(g, [a_to_b, b_to_a], max_iterations=3)
    assert not result.converged and result.changed
    assert result.applied["a_to_b"] >= 1 and result.applied["b_to_a"] >= 1
    assert g.outputs[0].name == "y"  # still a valid graph with its interface
    verify(g)


def test_erasing_dead_nodes_and_class_patterns():
    class DropNoop(RewritePattern):
        op = "test.noop"

        def match_and_rewrite(self, node, rw):
            rw.replace_node(node, [node.inputs[0]])
            return True

    g = parse("""
        graph @main(%x: f32[2]) {
          %c = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
          %d = core.identity(%c) : f32[2]
          %n = test.noop(%x) : f32[2]
          %y = test.keep(%n) : f32[2]
          return %y
        }
    """)
    result = apply_patterns_greedily(g, [DropNoop()])
    assert result.applied == {"DropNoop": 1, "dead": 2}
    assert print_ir(g) == dedent("""\
        graph @main(%x: f32[2]) {
          %y = test.keep(%x) : f32[2]
          return %y
        }
    """)


def test_replacing_an_output_by_an_input_inserts_a_named_identity():
    @pattern("test.noop")
    def forward(node, rw):
        rw.replace_node(node, [node.inputs[0]])
        return True

    g = parse("""
        graph @main(%x: f32[2]) {
          %y = test.noop(%x) : f32[2]
          return %y
        }
    """)
    apply_patterns_greedily(g, [forward])
    assert print_ir(g) == dedent("""\
        graph @main(%x: f32[2]) {
          %y = core.identity(%x) : f32[2]
          return %y
        }
    """)


def test_why_not_tracing():
    @pattern("test.a")
    def never(node, rw):
        return rw.why_not("operand is not a constant")

    g = parse("""
        graph @main(%x: f32[2]) {
          %y = test.a(%x) : f32[2]
          return %y
        }
    """)
    result = apply_patterns_greedily(g, [never], trace=True)
    assert not result.changed and result.converged and result.iterations == 1
    assert [(f.pattern, f.reason) for f in result.why_not] == [("never", "operand is not a constant")]


def test_a_crashing_pattern_names_itself_and_the_node():
    @pattern("test.a")
    def broken(node, rw):
        raise KeyError("oops")

    g = parse("""
        graph @main(%x: f32[2]) {
          %y = test.a(%x) : f32[2]
          return %y
        }
    """)
    with pytest.raises(PatternError, match="pattern broken failed on test.a 'y'"):
        apply_patterns_greedily(g, [broken])


def test_a_misspelt_pattern_root_is_refused_when_registered():
    """`@pattern("core.nge")` would silently never fire: it is an error of the declaration."""
    from litesmith.passes.rewrite import PatternSet, RewritePattern

    with pytest.raises(ValueError, match="'core.nge' is not a declared op of dialect 'core'"):
        pattern("core.nge")(lambda node, rw: False)

    class Misspelt(RewritePattern):
        op = "tfl.ad"

    with pytest.raises(ValueError, match="'tfl.ad' is not a declared op"):
        PatternSet([Misspelt()])
    assert pattern("tf.Cumprod")(lambda node, rw: False).op == "tf.Cumprod"  # foreign roots are fine
