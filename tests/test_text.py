"""IR text form: exact round-trips of every feature, parse errors with line:col, files."""
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from irgen import random_graphs
from litesmith.ir import Builder, DType, ElidedTensor, Graph, Node, ParseError, QuantParams, TensorType, UserError, run
from litesmith.ir.text import format_type, load_ir, parse_ir, print_ir, save_ir
from litesmith.ir.verify import verify

F32 = DType.FLOAT32


def roundtrip(g: Graph) -> Graph:
    """Print, parse, print: the two texts must be identical; returns the parsed graph."""
    text = print_ir(g)
    g2 = parse_ir(text)
    assert print_ir(g2) == text
    return g2


def foreign(attrs, out_types=(TensorType(F32, (2,)),), inputs_types=()):
    g = Graph()
    ins = [g.add_input(t, f"i{k}") for k, t in enumerate(inputs_types)]
    n = g.append(Node("tf.Foo", ins, attrs, out_types, output_names=[f"o{k}" for k in range(len(out_types))]))
    g.outputs = list(n.outputs)
    return g, n


SKETCH = """\
// a comment
graph @main(%ids: i32[8,?], %x: f32[8,16]) {
  %w = core.const() {value = dense<f32[2,2]> [[1.0, 2.0], [3.0, 4.0]]} : f32[2,2]
  %y = tf.MatMul(%x, %w) {transpose_a = false, transpose_b = false} : f32[8,2] loc("dense/MatMul")
  %a, %b = tf.Split(%x) {axis = 1, sizes = [8, 8]} : f32[8,8], f32[8,8]
  %i = core.const() {value = dense<i32[]> 0} : i32[]
  %r0, %r1 = core.while(%i, %a) {max_iterations = 0} (
    ^cond(%i0: i32[], %c0: f32[8,8]) {
      %n = core.const() {value = dense<i32[]> 3} : i32[]
      %p = tf.Less(%i0, %n) : bool[]
      return %p
    },
    ^body(%i1: i32[], %c1: f32[8,8]) {
      %i2 = tf.AddOne(%i1) : i32[]
      %c2 = core.identity(%c1) : f32[8,8]
      return %i2, %c2
    }
  ) : i32[], f32[8,8]
  tf.Print(%y) {message = "y = "} : ()
  return %y, %r1
}
"""


def test_sketch_prints_back_identically():
    g = parse_ir(SKETCH)
    expected = SKETCH.split("\n", 1)[1]  # the printer drops comments
    assert print_ir(g) == expected
    verify(g)
    mm = g.nodes[1]
    assert (mm.op, mm.meta, mm.attrs) == ("tf.MatMul", {"source": "dense/MatMul"}, {"transpose_a": False, "transpose_b": False})
    assert [v.name for v in g.inputs] == ["ids", "x"] and g.output_names() == ["y", "r1"]
    loop = g.nodes[4]
    assert [r.name for r in loop.regions] == ["cond", "body"]
    assert [v.name for v in loop.regions[1].inputs] == ["i1", "c1"]
    assert len(g.nodes[5].outputs) == 0


def test_parsed_while_runs_like_numpy():
    g = Graph()
    x = g.add_input(TensorType(F32, (3,)), "x")
    b = Builder(g)
    i0 = b.const(np.array(0, np.int32), name="i0")

    def region(name, build):
        r = Graph(name)
        args = [r.add_input(TensorType(DType.INT32, ()), "i"), r.add_input(TensorType(F32, (3,)), "v")]
        r.outputs = build(Builder(r), args)
        return r

    cond = region("cond", lambda rb, a: [rb.op("core.identity", [rb.const(np.array(False), name="stop")])])
    body = region("body", lambda rb, a: [rb.op("core.identity", [a[0]]), rb.op("core.identity", [a[1]])])
    node = b.create("core.while", [i0, x], regions=[cond, body], name="loop")
    g.outputs = [node.outputs[1]]
    g2 = roundtrip(g)
    feed = np.array([1.0, -2.0, 3.5], np.float32)
    np.testing.assert_array_equal(run(g2, {"x": feed})["loop:1"], feed)


# -- names --------------------------------------------------------------------


def test_names_are_quoted_kept_and_made_unique():
    g = Graph()
    x = g.add_input(TensorType(F32, (2,)), "rnn/while/Exit_2:0")
    b = Builder(g)
    weird = ['a "quoted" \\ name', "tab\there\nnewline", "unicode é 😀", "dup", "dup", "", "", "0", "plain.name$1-x"]
    vals = [b.op("core.identity", [x], name=n) for n in weird]
    g.outputs = [vals[4], vals[0]]
    text = print_ir(g)
    assert '%"rnn/while/Exit_2:0": f32[2]' in text
    assert '%"a \\"quoted\\" \\\\ name" = ' in text
    assert '%"tab\\there\\nnewline" = ' in text
    # the output keeps its name; the earlier clash gets a suffix; unnamed values get numbers
    assert "%dup_1 = core.identity" in text and "%dup = core.identity" in text
    assert "%0 = core.identity" in text and "%1 = core.identity" in text and "%0_1 = core.identity" in text
    assert "%plain.name$1-x = " in text
    g2 = roundtrip(g)
    assert [v.name for v in g2.outputs] == ["dup", weird[0]]
    assert [n.outputs[0].name for n in g2.nodes][:3] == weird[:3]
    assert print_ir(g) == text  # printing never renames the graph itself
    assert [n.outputs[0].name for n in g.nodes] == weird


def test_graph_and_region_names_quoted():
    g = Graph("my graph")
    g.outputs = []
    assert print_ir(g) == 'graph @"my graph"() {\n  return\n}\n'
    assert roundtrip(g).name == "my graph"


# -- types --------------------------------------------------------------------

TYPES = [
    TensorType(F32, (8, None, 16)),
    TensorType(F32, ()),
    TensorType(F32, None),
    TensorType(DType.STRING, (2,)),
    TensorType.list_of(TensorType(F32, (8, 16))),
    TensorType.list_of(TensorType.list_of(TensorType(DType.INT32, None))),
    TensorType(DType.INT8, (1, 16), QuantParams(0.5, -3)),
    TensorType(DType.INT8, (2, 16), QuantParams([0.1, 0.25], [0, 1], axis=0)),
    TensorType(DType.UINT8, (4,), QuantParams([0.1], [128], axis=0)),
    TensorType(DType.INT16, (4,), QuantParams([1e-5, 3.0], [0, 0])),
] + [TensorType(d, (3,)) for d in DType if d is not DType.VARIANT]


@pytest.mark.parametrize("t", TYPES, ids=[format_type(t) for t in TYPES])
def test_types_roundtrip(t):
    g = Graph()
    x = g.add_input(t, "x")
    g.outputs = [x]
    g2 = roundtrip(g)
    assert g2.inputs[0].type == t


def test_type_spellings():
    assert format_type(TensorType(F32, (8, None, 16))) == "f32[8,?,16]"
    assert format_type(TensorType(F32, ())) == "f32[]"
    assert format_type(TensorType(F32, None)) == "f32[*]"
    assert format_type(TensorType.list_of(TensorType(F32, (8, 16)))) == "list<f32[8,16]>"
    assert format_type(TensorType(DType.INT8, (1, 16), QuantParams(0.5, -3))) == "i8[1,16] q(scale=0.5, zp=-3)"
    assert (format_type(TensorType(DType.INT8, (2,), QuantParams([0.5, 0.25], [0, 1], 0)))
            == "i8[2] q(scale=[0.5, 0.25], zp=[0, 1], axis=0)")


# -- attributes -----------------------------------------------------------------

F32_TENTH = float(np.float32(0.1))
ATTRS = {
    "int": 7, "neg": -3, "big": 2**70, "zero": 0,
    "float": 1.5, "tenth": 0.1, "f32tenth": F32_TENTH, "tiny": 5e-324, "huge": 1e300, "negzero": -0.0,
    "inf": math.inf, "ninf": -math.inf, "whole": 3.0,
    "t": True, "f": False, "none": None,
    "str": 'a "q" \\ \n\t\r\x00\x7f é 😀 \ud800', "empty": "", "bytes": b"\x00\xff\"\\ab",
    "ints": [1, -2, 3], "floats": [0.5, math.inf], "strs": ["a", "b/c"], "nested": [[1, 2], [], ["x", 1.0, None, True]],
    "emptylist": [],
    "shape": (8, None, 16), "scalar_shape": (), "dtype": F32, "dtypes": [d for d in DType],
    "type": TensorType(DType.INT8, (2,), QuantParams(0.5, 1)), "dict": {"k": 1, "weird key": [b"x"]},
    "weird/key:0": 1, "true": 2, "inf_": 3, "nan.x": 4,
}


def _same(a, b) -> bool:
    if isinstance(a, float):
        return isinstance(b, float) and (math.isnan(a) and math.isnan(b) or a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def test_all_attr_kinds_roundtrip():
    g, _ = foreign(dict(ATTRS, nan=math.nan))
    g2 = roundtrip(g)
    got = g2.nodes[0].attrs
    assert got.keys() == set(ATTRS) | {"nan"}
    for k, v in ATTRS.items():
        assert _same(v, got[k]), (k, v, got[k])
    assert math.isnan(got["nan"])


def test_attr_spellings():
    g, _ = foreign({"a": 1.0, "b": math.inf, "c": -0.0, "d": F32, "e": (2, None), "f": None, "g": b"\x01", "h": (), "i": [1]})
    line = print_ir(g).splitlines()[1]
    assert ('{a = 1.0, b = inf, c = -0.0, d = f32, e = shape<2,?>, f = none, g = b"\\x01", h = shape<>, i = [1]}') in line


def test_registered_attrs_get_defaults_and_kinds():
    text = """graph @main(%x: f32[2]) {
  %y = core.while(%x) (
    ^c(%a: f32[2]) {
      %p = tf.P(%a) : bool[]
      return %p
    },
    ^b(%a: f32[2]) {
      return %a
    }
  ) : f32[2]
  return %y
}
"""
    g = parse_ir(text)
    assert g.nodes[0].attrs == {"max_iterations": 0}
    assert "{max_iterations = 0}" in print_ir(g)
    # a graph built without defaults prints them too, so its text is canonical
    node = g.nodes[0]
    node.attrs.clear()
    assert "{max_iterations = 0}" in print_ir(g)


# -- tensors ------------------------------------------------------------------------


def _tensor_cases():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, 12, dtype=np.uint64).astype(np.uint32).view(np.float32)
    bits = bits[np.isfinite(bits)]
    return {
        "f32_bits": bits,
        "f32_special": np.array([np.inf, -np.inf, -0.0, 0.0, 1e-45, 3.4028235e38, 0.1], np.float32),
        "f16": np.array([0.1, 65504, -6e-8, np.inf, 1 / 3], np.float16),
        "f64": np.array([0.1, 1 / 3, 5e-324, -1e308], np.float64),
        "i8": np.array([-128, 127, 0], np.int8),
        "u8": np.array([[0, 255]], np.uint8),
        "i16": np.array([-32768, 32767], np.int16),
        "i32": np.array([[1, 2, 3], [4, 5, 6]], np.int32),
        "i64": np.array([-(2**63), 2**63 - 1], np.int64),
        "bool": np.array([[True, False], [False, True]]),
        "str": np.array(["a", 'q"\\', "é\n", b"\x00\xffbytes"], dtype=object),
        "scalar": np.array(2.5, np.float32),
        "scalar_str": np.array(b"x", dtype=object),
        "scalar_bool": np.array(True),
        "empty": np.zeros((0,), np.float32),
        "empty2d": np.zeros((2, 0, 3), np.int32),
        "nan": np.array([np.nan, 1.0], np.float32),
    }


@pytest.mark.parametrize("name", list(_tensor_cases()))
def test_tensors_roundtrip_exactly(name):
    arr = _tensor_cases()[name]
    g = Graph()
    b = Builder(g)
    g.outputs = [b.const(arr, name="c")]
    g2 = roundtrip(g)
    got = g2.nodes[0].attrs["value"]
    assert got.dtype == arr.dtype and got.shape == arr.shape
    if arr.dtype == object:
        assert got.tolist() == arr.tolist() and [type(x) for x in got.reshape(-1)] == [type(x) for x in arr.reshape(-1)]
    else:
        assert got.tobytes() == arr.tobytes() or (name == "nan" and np.isnan(got[0]) and got[1] == 1.0)
    assert g2.outputs[0].type == g.outputs[0].type


def test_shortest_float_text():
    g = Graph()
    g.outputs = [Builder(g).const(np.array([0.1, 1.0, 1e-30], np.float32), name="c")]
    assert "dense<f32[3]> [0.1, 1.0, 1e-30]" in print_ir(g)


def test_large_constants_elided_or_stored():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((5, 4)).astype(np.float32)
    g = Graph()
    b = Builder(g)
    c = b.const(w, name="dense/kernel:0")
    z = b.const(np.zeros((64, 64), np.float32), name="zeros")
    g.outputs = [c, z]
    text = print_ir(g)
    assert "value = elided<f32[5,4]>" in text
    assert "value = dense<f32[64,64]> 0.0" in text  # a splat keeps its data
    parsed = parse_ir(text).nodes[0].attrs["value"]
    assert parsed == ElidedTensor(TensorType(F32, (5, 4)))
    assert print_ir(parse_ir(text)) == text
    np.testing.assert_array_equal(parse_ir(text).nodes[1].attrs["value"], np.zeros((64, 64), np.float32))

    store = {}
    text = print_ir(g, constants_out=store)
    assert 'value = ref<f32[5,4]> "dense/kernel:0"' in text
    assert list(store) == ["dense/kernel:0"]
    g2 = parse_ir(text, constants=store)
    np.testing.assert_array_equal(g2.nodes[0].attrs["value"], w)
    unresolved = parse_ir(text).nodes[0].attrs["value"]
    assert unresolved == ElidedTensor(TensorType(F32, (5, 4)), "dense/kernel:0")
    assert print_ir(parse_ir(text)) == text
    assert "elided<f32[5,4]>" in print_ir(g, elide_above=16) and "[[" in print_ir(g, elide_above=20)


def test_reference_with_wrong_type_is_a_parse_error():
    text = 'graph @main() {\n  %c = core.const() {value = ref<f32[2]> "k"} : f32[2]\n  return %c\n}\n'
    with pytest.raises(ParseError, match=r"^<string>:2:42: constant 'k' has type i32\[2\], but the text says f32\[2\]$"):
        parse_ir(text, constants={"k": np.array([1, 2], np.int32)})


# -- meta, regions, foreign ops ------------------------------------------------------


def test_meta_roundtrip():
    g, n = foreign({})
    n.meta.update({"source": 'scope/"op"', "device": "/cpu:0", "line": 3, "opaque": object()})
    text = print_ir(g)
    assert 'loc("scope/\\"op\\"") #{device = "/cpu:0", line = 3}' in text
    assert roundtrip(g).nodes[0].meta == {"source": 'scope/"op"', "device": "/cpu:0", "line": 3}


def test_foreign_op_with_regions_and_quoted_name():
    g = Graph()
    x = g.add_input(TensorType(F32, (2,)), "x")
    inner = Graph("fn")
    a = inner.add_input(TensorType(F32, (2,)), "x")  # same name as outside: regions are their own namespace
    inner.outputs = [a]
    n = g.append(Node("onnx.Weird-Op/1", [x], {"then_branch": "fn"}, [TensorType(F32, (2,))], regions=[inner], output_names=["y"]))
    g.outputs = n.outputs
    text = print_ir(g)
    assert '"onnx.Weird-Op/1"(%x)' in text and "^fn(%x: f32[2])" in text
    g2 = roundtrip(g)
    assert g2.nodes[0].op == "onnx.Weird-Op/1" and g2.nodes[0].regions[0].inputs[0].name == "x"


def test_if_roundtrip_and_runs():
    g = Graph()
    p = g.add_input(TensorType(DType.BOOL, ()), "p")
    x = g.add_input(TensorType(F32, (2,)), "x")
    branches = []
    for name in ("then", "else"):
        r = Graph(name)
        a = r.add_input(TensorType(F32, (2,)), "a")
        r.outputs = [Builder(r).op("core.identity", [a], name="r")] if name == "then" else [Builder(r).const(np.zeros(2, np.float32))]
        branches.append(r)
    g.outputs = [Builder(g).op("core.if", [p, x], regions=branches, name="y")]
    g2 = roundtrip(g)
    verify(g2)
    feed = np.array([1.0, 2.0], np.float32)
    np.testing.assert_array_equal(run(g2, {"p": np.array(True), "x": feed})["y"], feed)
    np.testing.assert_array_equal(run(g2, {"p": np.array(False), "x": feed})["y"], np.zeros(2, np.float32))


def test_dangling_value_prints_but_does_not_parse():
    g = Graph()
    x = g.add_input(TensorType(F32, (2,)), "x")
    other = Graph("other")
    stray = other.add_input(TensorType(F32, (2,)), "stray")
    g.append(Node("core.identity", [stray], {}, [TensorType(F32, (2,))], output_names=["y"]))
    g.outputs = [x]
    text = print_ir(g)
    assert 'core.identity(%!"stray")' in text
    with pytest.raises(ParseError, match="expected a name after '%'"):
        parse_ir(text)


# -- parse errors -----------------------------------------------------------------------

ERRORS = [
    ("graph @main(%x: f32[2]) {\n  return %y\n}", "2:10: undefined value %y"),
    ("graph @main(%x: f32[2]) {\n  %x = core.identity(%x) : f32[2]\n  return %x\n}", "2:3: value %x is defined twice in this graph"),
    ("graph @main(%x: f33[2]) {\n  return %x\n}", "1:17: expected an element type"),
    ("graph @main(%x: f32[2) {\n  return %x\n}", "1:22: expected ',' or ']', got ')'"),
    ("graph @main(%x f32[2]) {\n  return %x\n}", "1:16: expected ':' and the argument's type, got 'f32'"),
    ("graph @main(%x: f32[2]) {\n  %y = core.identity(%x)\n  return %y\n}", "3:3: expected ':' and the result types, got 'return'"),
    ("graph @main(%x: f32[2]) {\n  %y = core.identity(%x) : f32[2]\n", "3:1: expected 'return', got end of input"),
    ("graph @main() {\n  return\n}\nextra", "4:1: expected end of input after the graph, got 'extra'"),
    ('graph @main() {\n  %s = core.const() {value = "abc} : f32[]\n  return %s\n}', "2:30: unterminated string literal"),
    ("graph @main() {\n  %c = core.const() {value = dense<f32[3]> [1.0, 2.0]} : f32[3]\n  return %c\n}",
     "2:44: tensor literal has 2 elements but f32[3] needs 3"),
    ("graph @main() {\n  %c = core.const() {value = dense<i8[1]> [300]} : i8[1]\n  return %c\n}", "2:43: tensor literal does not fit i8"),
    ("graph @main() {\n  %c = core.const() {value = dense<i32[1]> [1.5]} : i32[1]\n  return %c\n}",
     "2:45: expected an integer element of i32, got '1.5'"),
    ("graph @main() {\n  %a, %b = tf.X() : f32[]\n  return %a\n}", "2:12: tf.X has 2 result name(s) but 1 result type(s)"),
    ("graph @main(%x: f32[2]) {\n  %y = core.identity(%x) {bogus = 1} : f32[2]\n  return %y\n}",
     "2:8: core.identity: unknown attribute(s) bogus"),
    ("graph @main() {\n  %c = core.const() : f32[]\n  return %c\n}", "2:8: core.const: missing attribute(s) value"),
    ("graph @main(%x: f32[2]) {\n  %y = tf.R() (\n    ^r() {\n      return %x\n    }\n  ) : f32[2]\n  return %y\n}",
     "4:14: undefined value %x (define it before use; regions see only their own arguments)"),
    ("graph @main(%x: f32[2]) {\n  %y = tf.A(%x) {k = 1, k = 2} : f32[2]\n  return %y\n}", "2:25: attribute 'k' given twice"),
    ("graph @main(%x: f32[-1]) {\n  return %x\n}", "1:21: expected a dimension (an integer or ?), got '-1'"),
    ("graph @main(%x: f32[2]) {\n  return %x ~\n}", "2:13: unexpected character '~'"),
    ('graph @main() {\n  %c = tf.C() {s = "\\q"} : f32[]\n  return %c\n}', "2:21: unknown escape sequence \\q"),
    ("graph @main(%x: i8[2] q(scale=0.5)) {\n  return %x\n}", "1:23: quantization needs scale and zp"),
    ("graph @main() {\n  %c = core.const() {value = dense<f32[?]> [1.0]} : f32[?]\n  return %c\n}",
     "2:36: a tensor literal needs a static plain type, got f32[?]"),
    ("main() {}", "1:1: expected 'graph', got 'main'"),
]


@pytest.mark.parametrize("text,message", ERRORS, ids=[m.split(": ", 1)[1][:40] for _, m in ERRORS])
def test_parse_errors_name_file_line_col(text, message):
    with pytest.raises(ParseError) as info:
        parse_ir(text, filename="model.ir")
    assert str(info.value).startswith("model.ir:" + message), str(info.value)
    assert isinstance(info.value, UserError) and "\n" not in str(info.value)


# -- files -------------------------------------------------------------------------------


def test_save_and_load(tmp_path):
    rng = np.random.default_rng(2)
    g = Graph()
    b = Builder(g)
    big = {name: rng.standard_normal((6, 6)).astype(np.float32) for name in ("a/b:0", "file", "allow_pickle")}
    outs = [b.const(v, name=k) for k, v in big.items()]
    outs.append(b.const(np.arange(20, dtype=np.int64).reshape(4, 5), name="ints"))
    g.outputs = outs
    path = tmp_path / "model.ir"
    save_ir(g, path)
    assert os.path.exists(str(path) + ".npz")
    assert sorted(os.listdir(tmp_path)) == ["model.ir", "model.ir.npz"]  # no temporary files left over
    g2 = load_ir(path)
    for k, v in big.items():
        np.testing.assert_array_equal(run(g2, {})[k], v)
    assert print_ir(g2) == print_ir(g)
    # a later save without large constants removes the stale side file
    small = Graph()
    small.outputs = [Builder(small).const(np.ones(2, np.float32), name="c")]
    save_ir(small, path)
    assert not os.path.exists(str(path) + ".npz")
    assert print_ir(load_ir(path)) == print_ir(small)


def test_load_missing_file_is_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read IR file .*nope.ir"):
        load_ir(tmp_path / "nope.ir")


def test_load_reports_file_name_in_parse_errors(tmp_path):
    path = tmp_path / "bad.ir"
    path.write_text("graph @main() {\n  return %z\n}\n")
    with pytest.raises(ParseError, match=r"bad\.ir:2:10: undefined value %z"):
        load_ir(path)


# -- property -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_random_graphs_roundtrip_through_text(case):
    g, feeds = case
    text = print_ir(g)
    g2 = parse_ir(text)
    assert print_ir(g2) == text
    verify(g2)
    before, after = run(g, feeds), run(g2, feeds)
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])
