"""Malformed .onnx files never crash litesmith: load, compile, inspect and convert end in success
or a one-line UserError (exit 2) naming the file; never a traceback (exit 1).

Hand-picked cases pin the message; a bounded, derandomized hypothesis run applies 1-3 random
edits (op types, inputs, attribute values and kinds, dims, element types, initializer data,
opsets, domains, node order) to small valid models. To hunt for new crashes run the same
edits with ``derandomize=False`` and thousands of examples outside the suite.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper

from onnx_models import init, make_model, mlp, small_cnn, vinfo
from test_malformed_inputs import FUZZ, assert_handled, assert_user_error


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx_fuzz")


def _write(folder, model, name="m.onnx") -> str:
    path = str(folder / name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def _shape_ops_model():
    """Reshape, Split, Slice, Resize, Pad, Gather, Concat, TopK, LSTM: ops whose inputs carry shapes."""
    rng = np.random.default_rng(0)
    i64 = lambda n, v: init(n, np.asarray(v, np.int64))  # noqa: E731
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Split", ["r", "split"], ["s0", "s1"], axis=1),
        helper.make_node("Slice", ["s0", "st", "en", "ax"], ["sl"]),
        helper.make_node("Pad", ["sl", "pads"], ["p"], mode="reflect"),
        helper.make_node("Unsqueeze", ["p", "uax"], ["u"]),
        helper.make_node("Resize", ["u", "", "scales"], ["rs"], mode="linear"),
        helper.make_node("Gather", ["rs", "idx"], ["g"], axis=3),
        helper.make_node("Concat", ["g", "g"], ["c"], axis=1),
        helper.make_node("TopK", ["c", "k"], ["y", "yi"], axis=-1),
        helper.make_node("LSTM", ["s1", "W", "R"], ["ly"], hidden_size=2),
    ]
    inits = [i64("shape", [2, 4, 3]), i64("split", [2, 2]), i64("st", [0, 1]), i64("en", [2, 3]), i64("ax", [1, 2]),
             i64("pads", [0, 0, 1, 0, 0, 1]), i64("uax", [0]),
             init("scales", np.asarray([1, 1, 2, 2], np.float32)), i64("idx", [0, -1]), i64("k", [1]),
             init("W", rng.normal(size=(1, 8, 3)).astype(np.float32)),
             init("R", rng.normal(size=(1, 8, 2)).astype(np.float32))]
    return make_model(nodes, [vinfo("x", [4, 6])], [vinfo("y", None), vinfo("ly", None)], inits, opset=17)


_BASES = {"cnn": small_cnn, "mlp": mlp, "shapes": _shape_ops_model}
_OPS = ["Relu", "Conv", "MaxPool", "Reshape", "Gemm", "Concat", "Split", "Slice", "Resize", "LSTM", "Attention",
        "Transpose", "Gather", "Pad", "Softmax", "BatchNormalization", "ConvTranspose", "TopK", "Expand",
        "Unknown", "ReduceSum", "Squeeze", "Unsqueeze", "Cast", "ConstantOfShape", "Range", "Loop"]
_ATTRS = ["axis", "axes", "perm", "pads", "strides", "kernel_shape", "group", "to", "split", "hidden_size",
          "direction", "mode", "epsilon", "value", "dilations", "num_outputs", "keepdims", "transB", "alpha"]
_INTS = st.sampled_from([0, 1, 2, 3, -1, -7, 5, 2 ** 31, 2 ** 40, -(2 ** 40)])
_EDIT = st.one_of(
    st.tuples(st.just("op"), st.integers(0, 12), st.sampled_from(_OPS)),
    st.tuples(st.just("drop_input"), st.integers(0, 12), st.integers(0, 4)),
    st.tuples(st.just("add_input"), st.integers(0, 12), st.sampled_from(["x", "y", "W1", "nope", "", "r"])),
    st.tuples(st.just("attr_int"), st.integers(0, 12), st.sampled_from(_ATTRS), _INTS),
    st.tuples(st.just("attr_ints"), st.integers(0, 12), st.sampled_from(_ATTRS), st.lists(_INTS, max_size=9)),
    st.tuples(st.just("attr_float"), st.integers(0, 12), st.sampled_from(_ATTRS),
              st.sampled_from([0.0, -1.0, 1e30, float("nan"), float("inf")])),
    st.tuples(st.just("attr_str"), st.integers(0, 12), st.sampled_from(_ATTRS),
              st.sampled_from(["", "bidirectional", "nearest", "NCHW", "\xff"])),
    st.tuples(st.just("attr_tensor"), st.integers(0, 12), st.sampled_from(_ATTRS)),
    st.tuples(st.just("dim"), st.integers(0, 3), st.integers(0, 4), _INTS),
    st.tuples(st.just("elem_type"), st.integers(0, 3), st.integers(0, 27)),
    st.tuples(st.just("init_dtype"), st.integers(0, 12), st.integers(0, 27)),
    st.tuples(st.just("init_dims"), st.integers(0, 12), st.lists(_INTS, max_size=4)),
    st.tuples(st.just("init_raw"), st.integers(0, 12), st.integers(0, 40)),
    st.tuples(st.just("opset"), st.sampled_from([1, 6, 7, 9, 11, 13, 18, 23, 40])),
    st.tuples(st.just("domain"), st.integers(0, 12), st.sampled_from(["com.microsoft", "ai.onnx.ml", "x"])),
    st.tuples(st.just("swap"), st.integers(0, 12), st.integers(0, 12)),
    st.tuples(st.just("rename_output"), st.integers(0, 12), st.sampled_from(["x", "y", "W1", "dup"])),
)


def _pick(items, i):
    return items[i % len(items)] if len(items) else None


def apply_edit(model, kind, *args) -> None:
    g = model.graph
    if kind == "opset":
        model.opset_import[0].version = args[0]
        return
    if kind in ("dim", "elem_type"):
        vi = _pick(list(g.input) + list(g.output), args[0])
        tt = vi.type.tensor_type
        if kind == "elem_type":
            tt.elem_type = args[1]
        elif len(tt.shape.dim):
            tt.shape.dim[args[1] % len(tt.shape.dim)].dim_value = max(args[2], 0) if args[2] < 2 ** 40 else args[2]
        return
    if kind.startswith("init_"):
        t = _pick(g.initializer, args[0])
        if t is None:
            return
        if kind == "init_dtype":
            t.data_type = args[1]
        elif kind == "init_dims":
            del t.dims[:]
            t.dims.extend([d for d in args[1] if -(2 ** 62) < d < 2 ** 62])
        else:
            t.raw_data = t.raw_data[: args[1]]
        return
    node = _pick(g.node, args[0])
    if node is None:
        return
    if kind == "op":
        node.op_type = args[1]
    elif kind == "drop_input" and len(node.input):
        del node.input[args[1] % len(node.input)]
    elif kind == "add_input":
        node.input.append(args[1])
    elif kind == "domain":
        node.domain = args[1]
    elif kind == "swap":
        other = _pick(g.node, args[1])
        a, b = onnx.NodeProto(), onnx.NodeProto()
        a.CopyFrom(node)
        b.CopyFrom(other)
        node.CopyFrom(b)
        other.CopyFrom(a)
    elif kind == "rename_output" and len(node.output):
        node.output[0] = args[1]
    elif kind.startswith("attr_"):
        for a in list(node.attribute):
            if a.name == args[1]:
                node.attribute.remove(a)
        value = {"attr_int": lambda: args[2], "attr_ints": lambda: list(args[2]), "attr_float": lambda: args[2],
                 "attr_str": lambda: args[2],
                 "attr_tensor": lambda: helper.make_tensor("t", TensorProto.FLOAT, [2], [1.0, 2.0])}[kind]()
        if kind == "attr_ints" and not value:
            node.attribute.append(helper.make_attribute(args[1], [], attr_type=onnx.AttributeProto.INTS))
        else:
            node.attribute.append(helper.make_attribute(args[1], value))


@FUZZ
@given(base=st.sampled_from(sorted(_BASES)), edits=st.lists(_EDIT, min_size=1, max_size=3))
def test_fuzzed_onnx_models(fuzz_dir, base, edits):
    model = _BASES[base]()
    for e in edits:
        apply_edit(model, *e)
    assert_handled(_write(fuzz_dir, model))


def _cnn_with(edit):
    model = small_cnn()
    edit(model)
    return model


@pytest.mark.parametrize("name,edit,fragment", [
    ("conv-strides-as-floats", lambda m: m.graph.node[0].attribute.append(helper.make_attribute("strides", [1.5, 2.0])),
     "strides"),
    ("huge-input-dim", lambda m: setattr(m.graph.input[0].type.tensor_type.shape.dim[2], "dim_value", 2 ** 40),
     "too large"),
    ("missing-producer", lambda m: m.graph.node[2].input.__setitem__(0, "nowhere"), "'nowhere', which no node"),
    ("two-producers", lambda m: m.graph.node[2].output.__setitem__(0, "c1"), "produced by two nodes"),
    ("initializer-too-short", lambda m: setattr(m.graph.initializer[0], "raw_data", b"\x00" * 7), "W1"),
    ("initializer-bfloat16", lambda m: setattr(m.graph.initializer[1], "data_type", TensorProto.BFLOAT16),
     "BFLOAT16"),
    ("conv-with-one-input", lambda m: m.graph.node[0].input.__delitem__(slice(1, None)), "Conv takes 2 to 3"),
    ("external-data-outside", lambda m: _external(m.graph.initializer[0], "../../etc/passwd"), "next to the model"),
    ("no-graph", lambda m: m.ClearField("graph"), "no graph"),
])
def test_hand_picked_malformed_models(fuzz_dir, name, edit, fragment):
    assert_user_error(_write(fuzz_dir, _cnn_with(edit), f"{name}.onnx"), fragment)


def _external(tensor, location):
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location


def test_opset_and_attribute_forms_fail_cleanly(fuzz_dir):
    """An opset-13 Squeeze given its axes as an attribute (the opset-11 form) is no crash."""
    x = vinfo("x", [1, 3])
    model = make_model([helper.make_node("Squeeze", ["x"], ["y"], axes=[0])], [x], [vinfo("y", [3])], opset=13)
    assert_handled(_write(fuzz_dir, model, "squeeze.onnx"))


def test_negative_initializer_dims_are_refused_before_onnx_shape_inference(fuzz_dir):
    """ONNX's C++ shape inference aborts the process (a failed assertion, not an exception) on a
    Slice ``starts`` initializer with dims [3, -1, -7]: the reader must refuse it first (fuzzing finding)."""
    model = _shape_ops_model()
    st_init = next(t for t in model.graph.initializer if t.name == "st")
    del st_init.dims[:]
    st_init.dims.extend([3, -1, -7])
    assert_user_error(_write(fuzz_dir, model, "negative-dims.onnx"), "initializer 'st': tensor has a negative dimension")
