"""The verifier: one negative test per rule, and acceptance of valid graphs."""
import pytest
from hypothesis import HealthCheck, given, settings

from irgen import random_graphs
from litesmith.ir import Builder, DType, Graph, Node, TensorType, Use, UserError, Value, VerifyError
from litesmith.ir.text import parse_ir
from litesmith.ir.graph import IRError
from litesmith.ir.verify import verify

F32 = DType.FLOAT32
T2 = TensorType(F32, (2,))


def chain():
    g = Graph()
    x = g.add_input(T2, "x")
    b = Builder(g)
    a = b.op("core.identity", [x], name="a")
    c = b.op("core.identity", [a], name="c")
    g.outputs = [c]
    return g, x, a, c


def fails(g, pattern):
    with pytest.raises(VerifyError, match=pattern) as info:
        verify(g)
    assert isinstance(info.value, UserError) and "\n" not in str(info.value)


LOOP = """graph @main(%n: i32[], %x: f32[4]) {
  %i = core.const() {value = dense<i32[]> 0} : i32[]
  %r0, %r1, %r2 = core.while(%i, %n, %x) (
    ^cond(%i0: i32[], %n0: i32[], %x0: f32[4]) {
      %p = tf.Less(%i0, %n0) : COND_TYPE
      return %p
    },
    ^body(%i1: i32[], %n1: i32[], %x1: f32[4]) {
      %i2 = tf.AddOne(%i1) : i32[]
      %x2 = core.identity(%x1) : f32[4]
      return BODY_RESULTS
    }
  ) : i32[], i32[], f32[4]
  return %r2
}
"""


def loop(cond_type="bool[]", body_results="%i2, %n1, %x2"):
    return parse_ir(LOOP.replace("COND_TYPE", cond_type).replace("BODY_RESULTS", body_results))


IF = """graph @main(%p: PRED, %x: f32[2]) {
  %y = core.if(%p, %x) (
    ^then(%a: f32[2]) {
      return %a
    },
    ^else(%b: ELSE_ARG) {
      %z = tf.Zero() : ELSE_RESULT
      return %z
    }
  ) : f32[2]
  return %y
}
"""


def branch(pred="bool[]", else_arg="f32[2]", else_result="f32[2]"):
    return parse_ir(IF.replace("PRED", pred).replace("ELSE_ARG", else_arg).replace("ELSE_RESULT", else_result))


# -- valid graphs ------------------------------------------------------------------


def test_valid_graphs_pass():
    verify(chain()[0])
    verify(loop())
    verify(branch())
    verify(branch(pred="bool[*]"))  # unknown rank may still be a scalar


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_random_graphs_verify(case):
    verify(case[0])


def test_foreign_ops_are_accepted_as_is():
    g = Graph()
    x = g.add_input(T2, "x")
    n = g.append(Node("tf.Anything", [x, x, x], {"whatever": object()}, [TensorType(DType.STRING, None)] * 3))
    g.outputs = [n.outputs[2]]
    verify(g)


def test_unknown_dims_are_compatible():
    g = Graph()
    x = g.add_input(TensorType(F32, (None, 3)), "x")
    g.append(Node("core.identity", [x], {}, [TensorType(F32, (8, 3))], output_names=["y"]))
    g.append(Node("core.identity", [x], {}, [TensorType(F32, None)], output_names=["z"]))
    verify(g)


# -- SSA ------------------------------------------------------------------------------


def test_use_before_definition():
    g = Graph()
    x = g.add_input(T2, "x")
    later = Node("core.identity", [x], {}, [T2], output_names=["later"])
    early = Node("core.identity", [later.output], {}, [T2], output_names=["early"])
    g.append(early)
    g.append(later)
    fails(g, r"^core.identity node 'early' in graph main: operand 0 %later is used before it is defined$")


def test_value_from_another_graph_is_a_capture():
    g = parse_ir(LOOP.replace("COND_TYPE", "bool[]").replace("BODY_RESULTS", "%i2, %n1, %x2"))
    body = g.nodes[1].regions[1]
    outer_x = g.inputs[1]
    body.nodes[1].set_input(0, outer_x)
    fails(g, r"core.identity node 'x2' in graph main/r0\^body: operand 0 %x is defined in another graph \(main\); "
             r"regions are isolated from above")


def test_removed_producer():
    g, x, a, c = chain()
    g.remove(a.producer, force=True)
    fails(g, r"core.identity node 'c' in graph main: operand 0 %a comes from a removed core.identity node")


def test_duplicate_definitions():
    g, x, a, c = chain()
    g.inputs.append(x)
    fails(g, r"graph main: input %x is listed twice")
    g, x, a, c = chain()
    with pytest.raises(IRError, match="already belongs to a graph"):  # the node list cannot hold a node twice
        g.append(a.producer)


def test_graph_output_not_defined():
    g, x, a, c = chain()
    g.outputs = [c, Value(T2, "ghost")]
    fails(g, r"^graph main: output 1 %ghost is not defined in any graph$")


def test_producer_link_broken():
    g, x, a, c = chain()
    a.index = 3
    fails(g, r"result 0 %a does not record this node as its producer")


# -- use lists -----------------------------------------------------------------------------


def test_missing_use_record():
    g, x, a, c = chain()
    a._uses.clear()
    fails(g, r"core.identity node 'c' in graph main: the use list of operand 0 %a does not record this use exactly once")


def test_stale_use_record():
    g, x, a, c = chain()
    a._uses[(c.producer._id, 5)] = Use(c.producer, 5)
    fails(g, r"graph main: value %a lists a stale use by core.identity node 'c' \(operand 5\)")


# -- attributes, arity, types -----------------------------------------------------------------


def test_unknown_attribute():
    g, x, a, c = chain()
    a.producer.attrs["bogus"] = 1
    fails(g, r"core.identity node 'a' in graph main: unknown attribute\(s\) bogus")


def test_missing_required_attribute():
    g = Graph()
    n = g.append(Node("core.const", [], {}, [T2], output_names=["k"]))
    g.outputs = [n.output]
    fails(g, r"core.const node 'k' in graph main: missing required attribute\(s\) value")


def test_arity():
    g, x, a, c = chain()
    a.producer.add_input(x)
    fails(g, r"core.identity node 'a' in graph main: expects at most 1 operands, got 2")


def test_result_count():
    g = Graph()
    x = g.add_input(T2, "x")
    g.append(Node("core.identity", [x], {}, [T2, T2], output_names=["y", "z"]))
    fails(g, r"core.identity node 'y' in graph main: has 2 result\(s\), inference gives 1")


@pytest.mark.parametrize("declared,message", [
    (TensorType(F32, (3,)), r"result 0 %y has type f32\[3\], inference gives f32\[2\]"),
    (TensorType(DType.INT32, (2,)), r"result 0 %y has type i32\[2\], inference gives f32\[2\]"),
    (TensorType(F32, (2, 1)), r"result 0 %y has type f32\[2,1\], inference gives f32\[2\]"),
])
def test_result_type_contradicts_inference(declared, message):
    g = Graph()
    x = g.add_input(T2, "x")
    g.append(Node("core.identity", [x], {}, [declared], output_names=["y"]))
    fails(g, r"core.identity node 'y' in graph main: " + message)


def test_tensor_lists_compare_element_types():
    g = Graph()
    lst = g.add_input(TensorType.list_of(TensorType(F32, (2,))), "l")
    g.append(Node("core.identity", [lst], {}, [TensorType.list_of(TensorType(F32, (None,)))], output_names=["ok"]))
    verify(g)
    g.append(Node("core.identity", [lst], {}, [TensorType.list_of(TensorType(DType.INT32, (2,)))], output_names=["bad"]))
    fails(g, r"result 0 %bad has type list<i32\[2\]>, inference gives list<f32\[2\]>")


def test_inference_failure_is_reported():
    g = Graph()
    n = g.append(Node("core.const", [], {"value": "not a tensor"}, [T2], output_names=["k"]))
    g.outputs = [n.output]
    fails(g, r"core.const node 'k' in graph main: type inference fails: ")


# -- regions ------------------------------------------------------------------------------------


def test_region_count():
    g = loop()
    g.nodes[1].regions.pop()
    fails(g, r"core.while node 'r0' in graph main: has 1 region\(s\), core.while needs 2")


def test_while_cond_must_return_one_bool_scalar():
    fails(loop(cond_type="f32[]"), r"core.while node 'r0' in graph main: region cond must return one bool scalar, returns f32\[\]")
    fails(loop(cond_type="bool[2]"), r"region cond must return one bool scalar, returns bool\[2\]")


def test_while_body_returns_one_value_per_carried_value():
    fails(loop(body_results="%i2, %x2"), r"core.while node 'r0' in graph main: region body returns 2 value\(s\), "
                                          r"the loop \(one per carried value\) needs 3")
    fails(loop(body_results="%i2, %x2, %x2"), r"region body result 1 is f32\[4\], the loop \(one per carried value\) needs i32\[\]")
    fails(loop(body_results="%x2, %n1, %x2"), r"region body result 0 is f32\[4\], the loop \(one per carried value\) needs i32\[\]")


def test_while_region_arguments_match_carried_values():
    g = loop()
    g.nodes[1].regions[0].inputs.pop()
    fails(g, r"region cond takes 2 argument\(s\), the loop passes 3")


def test_while_result_count():
    g = loop()
    node = g.nodes[1]
    node.outputs.pop()
    fails(g, r"core.while node 'r0' in graph main: has 2 result\(s\) for 3 carried value\(s\)")


def test_if_rules():
    fails(branch(pred="i32[]"), r"core.if node 'y' in graph main: condition %p is i32\[\], not a bool scalar")
    fails(branch(pred="bool[3]"), r"condition %p is bool\[3\], not a bool scalar")
    fails(branch(else_arg="i32[2]"), r"region else argument 0 is i32\[2\], the if passes f32\[2\]")
    fails(branch(else_result="i32[2]"), r"region else result 0 is i32\[2\], the if needs f32\[2\]")
    g = branch()
    g.nodes[0].regions[1].outputs = []
    fails(g, r"region else returns 0 value\(s\), the if needs 1")


def test_errors_inside_regions_name_the_region():
    g = loop()
    body = g.nodes[1].regions[1]
    body.nodes[1].attrs["bogus"] = True
    fails(g, r"core.identity node 'x2' in graph main/r0\^body: unknown attribute")


# -- trusting inferred types (the compile pipeline's verify) ------------------------------


def concat_graph():
    g = Graph()
    x = g.add_input(TensorType(F32, (2, 3)), "x")
    y = Builder(g).op("core.concat", [x, x], {"axis": 0}, name="y")
    g.outputs = [y]
    return g, x, y


def count_inference(monkeypatch):
    import sys

    verify_module = sys.modules["litesmith.ir.verify"]  # the package's ``verify`` attribute is the function
    calls = []
    real = verify_module.infer_types
    monkeypatch.setattr(verify_module, "infer_types", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    return calls


def test_trusted_verify_skips_only_unchanged_inferred_nodes(monkeypatch):
    g, x, y = concat_graph()
    calls = count_inference(monkeypatch)
    verify(g, trust_inferred=True)
    assert calls == []  # built through the Builder: inference already gave y's type
    verify(g)
    assert calls == ["core.concat"]  # the default re-infers every node
    y.producer.attrs["axis"] = 1  # an edit the stamp sees: inferred again, and found wrong
    with pytest.raises(VerifyError, match=r"core.concat node 'y'.*f32\[4,3\], inference gives f32\[2,6\]"):
        verify(g, trust_inferred=True)


def test_trusted_verify_sees_new_operands_and_retyped_results():
    g, x, y = concat_graph()
    z = Builder(g, before=y.producer).op("core.identity", [x])
    z.set_type(TensorType(F32, (2, 5)))  # a wrong type on a node built with the right one
    with pytest.raises(VerifyError, match=r"core.identity.*has type f32\[2,5\], inference gives f32\[2,3\]"):
        verify(g, trust_inferred=True)
    z.set_type(TensorType(F32, (2, 3)))
    verify(g, trust_inferred=True)
    y.producer.set_input(1, g.add_input(TensorType(F32, (1, 4)), "w"))  # same result type, operands that disagree
    with pytest.raises(VerifyError, match="core.concat node 'y'.*type inference fails"):
        verify(g, trust_inferred=True)
