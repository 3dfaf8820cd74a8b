"""Re-inference after input shapes change, and I/O overrides by name."""
import numpy as np
import pytest

from litesmith.ir import Builder, DType, Graph, Node, QuantParams, TensorType, UserError, get_op, run
from litesmith.ir.io_override import override_io
from litesmith.ir.reinfer import reinfer
from litesmith.ir.text import parse_ir, print_ir
from litesmith.ir.verify import verify

F32 = DType.FLOAT32


def types(g):
    return {v.name: (v.type.dtype.value, v.type.shape) for v in g.values()}


LOOP = """graph @main(%x: f32[8,16]) {
  %a = core.identity(%x) : f32[8,16]
  %i = core.const() {value = dense<i32[]> 0} : i32[]
  %r0, %r1 = core.while(%i, %a) {max_iterations = 4} (
    ^cond(%i0: i32[], %x0: f32[8,16]) {
      %p = tf.Less3(%i0) : bool[]
      return %p
    },
    ^body(%i1: i32[], %x1: f32[8,16]) {
      %i2 = tf.AddOne(%i1) : i32[]
      %x2 = core.identity(%x1) : f32[8,16]
      return %i2, %x2
    }
  ) : i32[], f32[8,16]
  %y = core.if(%p0, %r1) (
    ^then(%t: f32[8,16]) {
      %t1 = core.identity(%t) : f32[8,16]
      return %t1
    },
    ^else(%e: f32[8,16]) {
      return %e
    }
  ) : f32[8,16]
  %f = tf.Foreign(%y) : f32[8,16]
  return %y, %f
}
"""


def loop_graph():
    return parse_ir(LOOP.replace("graph @main(%x: f32[8,16])", "graph @main(%x: f32[8,16], %p0: bool[])"))


def test_batch_change_propagates_through_nodes_and_regions():
    g = loop_graph()
    x = g.inputs[0]
    x.set_type(TensorType(F32, (1, 16)))
    reinfer(g, [x])
    verify(g)
    t = types(g)
    assert t["a"] == t["r1"] == t["y"] == ("f32", (1, 16))
    loop, branch = g.nodes[2], g.nodes[3]
    assert loop.regions[1].inputs[1].shape == (1, 16) and loop.regions[1].nodes[1].output.shape == (1, 16)
    assert branch.regions[0].nodes[0].output.shape == (1, 16) and branch.regions[1].inputs[0].shape == (1, 16)
    assert t["f"] == ("f32", (8, 16))  # a foreign op keeps its declared type


def test_reinfer_without_changed_still_replaces_contradicted_types():
    g = loop_graph()
    g.inputs[0].set_type(TensorType(F32, (1, 16)))
    reinfer(g)
    verify(g)
    assert types(g)["y"] == ("f32", (1, 16))


def test_known_dims_kept_unless_inputs_changed():
    text = """graph @main(%x: f32[?,16]) {
  %y = core.identity(%x) : f32[8,16]
  return %y
}
"""
    g = parse_ir(text)
    reinfer(g)
    assert g.outputs[0].shape == (8, 16)  # frontend knowledge that inference cannot derive is kept
    g.inputs[0].set_type(TensorType(F32, (None, None)))
    reinfer(g, [g.inputs[0]])
    assert g.outputs[0].shape == (None, None)  # the input changed: stale dims are dropped


def test_quantization_and_lists_are_kept():
    g = Graph()
    q = QuantParams(0.5, 3)
    x = g.add_input(TensorType(DType.INT8, (8, 4), q), "x")
    lst = g.add_input(TensorType.list_of(TensorType(F32, (8, None))), "l")
    b = Builder(g)
    y = b.op("core.identity", [x], name="y")
    y.set_type(TensorType(DType.INT8, (8, 4), q))
    z = b.op("core.identity", [lst], name="z")
    z.set_type(TensorType.list_of(TensorType(F32, (8, 5))))
    g.outputs = [y, z]
    x.set_type(TensorType(DType.INT8, (1, 4), q))
    reinfer(g, [x])
    assert y.type == TensorType(DType.INT8, (1, 4), q)
    assert z.type == TensorType.list_of(TensorType(F32, (8, 5)))  # unchanged input: the known dim stays


def test_while_with_growing_carried_value_widens():
    g = Graph()
    x = g.add_input(TensorType(F32, (2,)), "x")
    body = Graph("body")
    a = body.add_input(TensorType(F32, (2,)), "a")
    grown = body.append(Node("tf.Grow", [a], {}, [TensorType(F32, (3,))], output_names=["g"]))
    body.outputs = [grown.output]
    cond = Graph("cond")
    c = cond.add_input(TensorType(F32, (2,)), "c")
    cond.outputs = [cond.append(Node("tf.Stop", [c], {}, [TensorType(DType.BOOL, ())])).output]
    node = Builder(g).create("core.while", [x], regions=[cond, body], name="w")
    g.outputs = node.outputs
    x.set_type(TensorType(F32, (5,)))
    reinfer(g, [x])
    assert node.output.shape == (None,)
    assert body.inputs[0].shape == (None,)
    verify(g)


def test_inference_rejecting_new_shapes_is_a_user_error():
    if get_op("core.reshape") is None:
        pytest.skip("core.reshape not declared yet")
    g = Graph()
    x = g.add_input(TensorType(F32, (8, 16)), "x")
    b = Builder(g)
    g.outputs = [b.op("core.reshape", [x, b.const(np.array([8, 16], np.int32))], name="r")]
    x.set_type(TensorType(F32, (1, 16)))
    with pytest.raises(UserError, match="core.reshape node 'r' rejects its new operand types"):
        reinfer(g, [x])


def test_reinfer_matches_tensorflow_shape_inference(request):
    ops = ["core.tanh", "core.add", "core.reshape", "core.transpose"]
    missing = [o for o in ops if get_op(o) is None]
    if missing:
        pytest.skip(f"ops not declared yet: {missing}")
    tf = request.getfixturevalue("tf")  # only pay for importing TensorFlow when the test runs

    @tf.function(input_signature=[tf.TensorSpec([1, 4, 6], tf.float32)])
    def model(x):
        h = tf.tanh(x) + tf.constant(np.ones(6, np.float32))
        r = tf.reshape(h, [-1, 3, 2])
        return tf.transpose(r, [0, 2, 1])

    want = tuple(model.get_concrete_function().outputs[0].shape.as_list())
    g = Graph()
    x = g.add_input(TensorType(F32, (8, 4, 6)), "x")
    b = Builder(g)
    h = b.op("core.add", [b.op("core.tanh", [x]), b.const(np.ones(6, np.float32))])
    r = b.op("core.reshape", [h, b.const(np.array([-1, 3, 2], np.int32))])
    g.outputs = [b.op("core.transpose", [r, b.const(np.array([0, 2, 1], np.int32))], name="y")]
    assert g.outputs[0].shape == (8 * 4, 2, 3)
    override_io(g, input_shapes={"x": [1, 4, 6]})
    assert g.outputs[0].shape == want
    feed = np.random.default_rng(0).standard_normal((1, 4, 6)).astype(np.float32)
    np.testing.assert_allclose(run(g, {"x": feed})["y"], model(tf.constant(feed)).numpy(), rtol=1e-6, atol=1e-6)


# -- override_io -----------------------------------------------------------------------------

SIMPLE = """graph @main(%x: f32[8,16], %unused: f32[2], %"state:0": f32[8,4]) {
  %a = core.identity(%x) : f32[8,16]
  %"b:0" = core.identity(%a) : f32[8,16]
  %s = core.identity(%"state:0") : f32[8,4]
  return %"b:0", %s
}
"""


def test_select_and_reorder_outputs():
    g = parse_ir(SIMPLE)
    override_io(g, outputs=["s", "b", "a"])  # "b" finds "b:0"
    assert g.output_names() == ["s", "b:0", "a"]
    verify(g)


def test_unknown_output_names_the_known_ones():
    g = parse_ir(SIMPLE)
    with pytest.raises(UserError, match=r"unknown output 'b:1'; did you mean .*b:0.* \(known: x, unused, state:0, a, b:0, s\)"):
        override_io(g, outputs=["b:1"])


def test_inputs_reorder_drop_unused_and_set_shapes():
    g = parse_ir(SIMPLE)
    override_io(g, inputs=["state", "x"], input_shapes={"x": [1, 16], "state:0": [1, None]})
    assert [v.name for v in g.inputs] == ["state:0", "x"]
    t = types(g)
    assert t["b:0"] == ("f32", (1, 16)) and t["s"] == ("f32", (1, None))
    verify(g)
    out = run(g, {"x": np.ones((1, 16), np.float32), "state:0": np.zeros((1, 3), np.float32)})
    assert out["s"].shape == (1, 3)


def test_dropping_a_used_input_is_refused():
    g = parse_ir(SIMPLE)
    with pytest.raises(UserError, match=r"graph input 'state:0' is still used by core.identity node 's'"):
        override_io(g, inputs=["x"])


def test_inner_value_becomes_an_input():
    g = parse_ir(SIMPLE)
    override_io(g, inputs=["x", "state:0", "a"], input_shapes={"a": [2, 16]})
    assert [v.name for v in g.inputs] == ["x", "state:0", "a"]
    assert g.outputs[0].shape == (2, 16)
    verify(g)
    text = print_ir(g)
    assert "graph @main(%x: f32[8,16], %\"state:0\": f32[8,4], %a: f32[2,16])" in text
    assert '%"b:0" = core.identity(%a) : f32[2,16]' in text


def test_unknown_input_shape_name():
    g = parse_ir(SIMPLE)
    with pytest.raises(UserError, match=r"unknown input \(for input_shapes\) 'y' \(known: x, unused, state:0\)"):
        override_io(g, input_shapes={"y": [1]})
