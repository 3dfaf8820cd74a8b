"""Malformed models never crash litesmith: a file that parses but is wrong is a UserError (exit 2).

Small valid models (GraphDefs built with litesmith's own protobuf schema, TF's frozen
``small_graphs``, .tflite from ``litesmith.compile``, IR text) are broken on purpose, by hand
and by bounded, derandomized hypothesis mutations. Each file goes through what a user runs:
``litesmith.load`` + ``litesmith.compile``, ``litesmith inspect`` and ``litesmith convert``.
Success is fine; so is a ``UserError`` / exit 2 with one stderr line naming the file. Any
other exception (exit 1, a traceback) is a bug in litesmith and fails the test.
"""
from __future__ import annotations

import contextlib
import functools
import io
import os
import tempfile

import flatbuffers
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import litesmith
from litesmith.backends.tflite import schema_generated as schema
from litesmith.backends.tflite import write_tflite
from litesmith.cli import main
from litesmith.frontends.tf import proto
from litesmith.ir import Builder, DType, Graph, TensorType, UserError

# 50 fixed examples per fuzz test keep the suite's budget; `make fuzz` runs 100,000 per reader.
FUZZ = settings(max_examples=50, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
F32, I32, BOOL = 1, 3, 10  # TF DataType enum values


# -- the oracle: success or a UserError, never anything else ------------------------------------


def api_outcome(path) -> str:
    """"ok" or the UserError message of load + compile; any other exception propagates (a bug)."""
    try:
        litesmith.compile(litesmith.load(path))
        return "ok"
    except UserError as e:
        return str(e)


def cli(*argv) -> tuple:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main([str(a) for a in argv])
    return rc, err.getvalue()


def assert_handled(path) -> str:
    """Run every entry point on ``path``; return the API outcome ("ok" or the error message)."""
    path = str(path)
    outcome = api_outcome(path)
    for argv in (["inspect", path], ["convert", path, "-o", path + ".out.tflite"]):
        rc, err = cli(*argv)
        assert rc in (0, 2), f"{argv[0]} exited {rc} (a litesmith bug):\n{err}"
        assert "Traceback" not in err, err
        if rc == 2:
            assert err.count("\n") == 1 and err.startswith("litesmith: error: "), err
            assert path in err, f"the message does not name the file: {err}"
    return outcome


def assert_user_error(path, fragment: str) -> None:
    outcome = assert_handled(path)
    assert outcome != "ok" and fragment in outcome, outcome


# -- GraphDefs without TensorFlow ------------------------------------------------------------------


def _attr_type(node, key, enum):
    node.attr[key].type = enum


def _const(nodes, name, arr):
    arr = np.asarray(arr)
    n = nodes.add(name=name, op="Const")
    enum = {np.dtype(np.float32): F32, np.dtype(np.int32): I32, np.dtype(np.bool_): BOOL}[arr.dtype]
    t = n.attr["value"].tensor
    t.dtype = enum
    for d in arr.shape:
        t.tensor_shape.dim.add(size=d)
    t.tensor_content = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    _attr_type(n, "dtype", enum)
    return n


def _placeholder(nodes, name, enum, shape):
    n = nodes.add(name=name, op="Placeholder")
    _attr_type(n, "dtype", enum)
    for d in shape:
        n.attr["shape"].shape.dim.add(size=d)
    return n


def _op(nodes, name, op, inputs, t=F32, **attrs):
    n = nodes.add(name=name, op=op, input=list(inputs))
    if t is not None:
        _attr_type(n, "T", t)
    for k, v in attrs.items():
        if isinstance(v, str):
            n.attr[k].s = v.encode()
        elif isinstance(v, list):
            n.attr[k].list.i.extend(v)
        else:
            n.attr[k].i = v
    return n


def mlp_graphdef():
    """x[2,4] -> MatMul -> BiasAdd -> Relu -> Softmax "y"."""
    gd = proto.GraphDef()
    _placeholder(gd.node, "x", F32, [2, 4])
    _const(gd.node, "w", np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
    _const(gd.node, "b", np.ones(3, np.float32))
    _op(gd.node, "mm", "MatMul", ["x", "w"])
    _op(gd.node, "bias", "BiasAdd", ["mm", "b"])
    _op(gd.node, "relu", "Relu", ["bias"])
    _op(gd.node, "y", "Softmax", ["relu"])
    return gd


def conv_graphdef():
    """x[1,8,8,3] -> Conv2D -> MaxPool -> Reshape -> ConcatV2 with itself "y"."""
    gd = proto.GraphDef()
    _placeholder(gd.node, "x", F32, [1, 8, 8, 3])
    _const(gd.node, "k", np.full((3, 3, 3, 4), 0.1, np.float32))
    _const(gd.node, "shape", np.array([1, 64], np.int32))
    _const(gd.node, "axis", np.array(1, np.int32))
    _op(gd.node, "conv", "Conv2D", ["x", "k"], strides=[1, 1, 1, 1], padding="SAME")
    _op(gd.node, "pool", "MaxPool", ["conv"], ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
    _op(gd.node, "flat", "Reshape", ["pool", "shape"])
    _op(gd.node, "y", "ConcatV2", ["flat", "flat", "axis"], N=2)
    return gd


def _function(lib, name, args, outs, ret):
    f = lib.function.add()
    f.signature.name = name
    for a, enum in args:
        f.signature.input_arg.add(name=a, type=enum)
    for o, enum in outs:
        f.signature.output_arg.add(name=o, type=enum)
    for k, v in ret.items():
        f.ret[k] = v
    return f


def functional_graphdef():
    """TF2 control flow: a While (i < 3: x *= 2), an If on x's sign and a PartitionedCall."""
    gd = proto.GraphDef()
    lib = gd.library
    cond = _function(lib, "cond", [("i", I32), ("x", F32)], [("ok", BOOL)], {"ok": "less:z:0"})
    _const(cond.node_def, "three", np.array(3, np.int32))
    _op(cond.node_def, "less", "Less", ["i", "three:output:0"], t=I32)
    body = _function(lib, "body", [("i", I32), ("x", F32)], [("i2", I32), ("x2", F32)],
                     {"i2": "inc:z:0", "x2": "dbl:z:0"})
    _const(body.node_def, "one", np.array(1, np.int32))
    _const(body.node_def, "two", np.array(2, np.float32))
    _op(body.node_def, "inc", "AddV2", ["i", "one:output:0"], t=I32)
    _op(body.node_def, "dbl", "Mul", ["x", "two:output:0"])
    for name, op in (("then", "Relu"), ("else", "Neg"), ("callee", "Tanh")):
        f = _function(lib, name, [("v", F32)], [("out", F32)], {"out": "r:y:0"})
        _op(f.node_def, "r", op, ["v"])
    _placeholder(gd.node, "x", F32, [3])
    _const(gd.node, "i0", np.array(0, np.int32))
    _const(gd.node, "zero", np.array(0, np.float32))
    w = gd.node.add(name="loop", op="While", input=["i0", "x"])
    w.attr["cond"].func.name = "cond"
    w.attr["body"].func.name = "body"
    w.attr["T"].list.type.extend([I32, F32])
    _op(gd.node, "s", "Sum", ["loop:1", "i0"], keep_dims=0)
    _op(gd.node, "pos", "Greater", ["s", "zero"])
    branch = gd.node.add(name="branch", op="If", input=["pos", "loop:1"])
    branch.attr["then_branch"].func.name = "then"
    branch.attr["else_branch"].func.name = "else"
    branch.attr["Tout"].list.type.append(F32)
    call = gd.node.add(name="y", op="PartitionedCall", input=["branch"])
    call.attr["f"].func.name = "callee"
    call.attr["Tout"].list.type.append(F32)
    return gd


def write_graphdef(folder, gd, name="m.pb") -> str:
    path = os.path.join(str(folder), name)
    with open(path, "wb") as f:
        f.write(gd.SerializeToString())
    return path


def _string_bias(gd):
    """A BiasAdd bias Const whose tensor is a string, as fuzzing made it (fusion crashed on it once)."""
    t = _node(gd, "b").attr["value"].tensor
    t.Clear()
    t.dtype = 7  # DT_STRING
    t.tensor_shape.dim.add(size=3)
    t.string_val.extend([b"", b"", b""])


def _node(gd, name, nodes=None):
    return next(n for n in (gd.node if nodes is None else nodes) if n.name == name)


def test_the_graphdef_bases_are_valid(tmp_path):
    """The seeds lift (so mutations reach the mappers and control-flow code); the plain ones compile."""
    for base in (mlp_graphdef, conv_graphdef):
        assert assert_handled(write_graphdef(tmp_path, base())) == "ok"
    ops = {n.op for n in litesmith.load(write_graphdef(tmp_path, functional_graphdef())).walk()}
    assert {"core.while", "core.if", "core.tanh", "core.less"} <= ops


def _set_input(name, i, ref):
    def edit(gd):
        _node(gd, name).input[i] = ref
    return edit


def _add_input(name, ref):
    return lambda gd: _node(gd, name).input.append(ref)


def _drop_input(name):
    return lambda gd: _node(gd, name).input.pop()


def _duplicate(name):
    return lambda gd: gd.node.add().CopyFrom(_node(gd, name))


def _del_attr(name, key):
    return lambda gd: _node(gd, name).attr.pop(key)


def _attr(name, key, **value):
    def edit(gd):
        a = _node(gd, name).attr[key]
        a.Clear()
        for k, v in value.items():
            if k == "ints":
                a.list.i.extend(v)
            elif k == "dims":
                for d in v:
                    a.shape.dim.add(size=d)
            elif k == "types":
                a.list.type.extend(v)
            else:
                setattr(a, k, v)
    return edit


def _tensor(name, **fields):
    def edit(gd):
        t = _node(gd, name).attr["value"].tensor
        for k, v in fields.items():
            setattr(t, k, v)
    return edit


def _op_type(name, op):
    def edit(gd):
        _node(gd, name).op = op
    return edit


def _cycle(gd):
    _node(gd, "bias").input[0] = "relu"


def _fn_node(fname, node):
    def find(gd):
        f = next(f for f in gd.library.function if f.signature.name == fname)
        return _node(gd, node, f.node_def)
    return find


def _recursive_call(gd):
    f = next(f for f in gd.library.function if f.signature.name == "callee")
    call = f.node_def.add(name="again", op="PartitionedCall", input=["v"])
    call.attr["f"].func.name = "callee"
    f.ret["out"] = "again:output:0"


def _fn_reads_bad_arg_output(gd):
    _fn_node("callee", "r")(gd).input[0] = "v:1"


GRAPHDEF_CASES = [
    # (name, base, edit, fragment of the expected UserError or None when success is fine too)
    ("missing input node", mlp_graphdef, _set_input("relu", 0, "nowhere:0"), "reads 'nowhere'"),
    ("bad output index", mlp_graphdef, _set_input("relu", 0, "bias:7"), "has no output 7"),
    ("control input to a missing node", mlp_graphdef, _add_input("y", "^missing"), "reads 'missing'"),
    ("cycle", mlp_graphdef, _cycle, "cycle"),
    ("string bias of a float BiasAdd (a fuzzing finding)", mlp_graphdef, _string_bias,
     "operands have different dtypes (f32 and str)"),
    ("duplicate node names", mlp_graphdef, _duplicate("relu"), "two nodes are named 'relu'"),
    ("tensor_content too short", mlp_graphdef, _tensor("w", tensor_content=b"\0" * 7), "tensor_content has 7"),
    ("unknown dtype enum", mlp_graphdef, _attr("x", "dtype", type=77), "unknown dtype enum 77"),
    ("Const of unknown dtype", mlp_graphdef, _tensor("b", dtype=88), "unknown dtype enum 88"),
    ("Const without value", mlp_graphdef, _del_attr("w", "value"), "has no tensor attribute 'value'"),
    ("Const value of the wrong kind", mlp_graphdef, _attr("w", "value", i=3), "has no tensor attribute 'value'"),
    ("MatMul without T", mlp_graphdef, _del_attr("mm", "T"), None),
    ("Conv2D without strides", conv_graphdef, _del_attr("conv", "strides"), None),
    ("strides an int, not a list", conv_graphdef, _attr("conv", "strides", i=1), "'strides' must be a list of ints"),
    ("padding an int", conv_graphdef, _attr("conv", "padding", i=1), "'padding' must be a string"),
    ("ksize a type", conv_graphdef, _attr("pool", "ksize", type=F32), "'ksize' must be a list of ints"),
    ("placeholder dim -5", mlp_graphdef, _attr("x", "shape", dims=[2, -5]), "dimension below -1"),
    ("placeholder shape an int", mlp_graphdef, _attr("x", "shape", i=4), "'shape' must be a shape"),
    ("placeholder without shape", mlp_graphdef, _del_attr("x", "shape"), None),
    ("placeholder of dtype variant", mlp_graphdef, _attr("x", "dtype", type=21), "not supported as a graph input"),
    ("Placeholder fed an input", mlp_graphdef, _add_input("x", "w"), "has 1 data input(s), Placeholder takes 0"),
    ("Conv2D fed one input", conv_graphdef, _drop_input("conv"), "has 1 data input(s), Conv2D takes 2"),
    ("Relu fed two inputs", mlp_graphdef, _add_input("relu", "mm"), "Relu takes 1"),
    ("ConcatV2 without axis", conv_graphdef, lambda gd: [_node(gd, "y").input.pop() for _ in range(2)],
     "ConcatV2 takes at least 2"),
    ("_output_shapes of the wrong kind", mlp_graphdef, _attr("relu", "_output_shapes", types=[F32]), None),
    ("Reshape to a bool", conv_graphdef, _op_type("shape", "Placeholder"), None),
    ("While body missing", functional_graphdef, _attr("loop", "body", s=b"body"), "not in the graph's function library"),
    ("While cond names no function", functional_graphdef, _del_attr("loop", "cond"), "function None"),
    ("If branch missing", functional_graphdef, lambda gd: setattr(
        _node(gd, "branch").attr["then_branch"].func, "name", "nope"), "function 'nope' is not in"),
    ("PartitionedCall without f", functional_graphdef, _del_attr("y", "f"), "not in the graph's function library"),
    ("a function calling itself", functional_graphdef, _recursive_call, "depends on itself"),
    ("a function arg read at output 1", functional_graphdef, _fn_reads_bad_arg_output, "has one output"),
    ("function returns a missing node", functional_graphdef,
     lambda gd: gd.library.function[0].ret.__setitem__("ok", "ghost:z:0"), "reads 'ghost'"),
    ("Split into zero parts", conv_graphdef, lambda gd: (_op_type("y", "Split")(gd), _attr("y", "num_split", i=0)(gd),
                                                         _node(gd, "y").input.__delitem__(slice(None)),
                                                         _node(gd, "y").input.extend(["axis", "flat"])),
     "'num_split' must be at least 1"),
    ("Unpack without num", mlp_graphdef, _op_type("y", "Unpack"), "attribute 'num' is missing"),
]


@pytest.mark.parametrize("name,base,edit,fragment", GRAPHDEF_CASES, ids=[c[0] for c in GRAPHDEF_CASES])
def test_malformed_graphdef(tmp_path, name, base, edit, fragment):
    gd = base()
    edit(gd)
    path = write_graphdef(tmp_path, gd, "bad.pb")
    if fragment is None:
        assert_handled(path)
    else:
        assert_user_error(path, fragment)


# -- TF1 control flow from TensorFlow's own frozen graphs -----------------------------------------


def _tf1(small_graphs, name):
    with open(small_graphs[name].pb_path, "rb") as f:
        return proto.GraphDef.FromString(f.read())


def _first(gd, op):
    return next(n for n in gd.node if n.op == op)


def test_tf1_exit_not_fed_by_a_switch(tmp_path, small_graphs):
    gd = _tf1(small_graphs, "while_sum_v1")
    const = _first(gd, "Const").name
    _first(gd, "Exit").input[0] = const
    assert_user_error(write_graphdef(tmp_path, gd), "not fed by a loop's Switch and Merge")


def test_tf1_loop_body_reading_its_own_exit(tmp_path, small_graphs):
    """Once a RecursionError: lifting the loop lifted the Exit, which lifted the loop..."""
    gd = _tf1(small_graphs, "while_sum_v1")
    exits = [n.name for n in gd.node if n.op == "Exit"]
    _first(gd, "NextIteration").input[0] = exits[-1]
    assert_user_error(write_graphdef(tmp_path, gd), "depends on itself")


def test_tf1_exit_without_input_and_cond_merge_with_one(tmp_path, small_graphs):
    gd = _tf1(small_graphs, "while_sum_v1")
    del _first(gd, "Exit").input[:]
    assert_user_error(write_graphdef(tmp_path, gd), "has 0 data input(s), Exit takes 1")
    gd = _tf1(small_graphs, "cond_v1")
    merge = _first(gd, "Merge")
    merge.input[:] = merge.input[:1]
    assert_user_error(write_graphdef(tmp_path, gd), "(Switch)")


# -- hypothesis: random edits of the GraphDefs --------------------------------------------------

_OPS = ["Relu", "MatMul", "Conv2D", "ConcatV2", "Split", "Unpack", "While", "If", "PartitionedCall", "Enter",
        "Exit", "Merge", "Switch", "NextIteration", "Const", "Placeholder", "FusedBatchNorm", "Identity",
        "TensorArrayReadV3", "StridedSlice", "Select", "NotAnOp"]
_ATTR_KEYS = ["T", "strides", "padding", "dtype", "shape", "value", "num_split", "axis", "N", "data_format",
              "ksize", "num", "DstT", "f", "body", "cond", "then_branch", "frame_name", "is_constant",
              "squeeze_dims", "_output_shapes", "epsilon", "block_size", "out_type"]


def _random_attr(a, kind: int, pick: int) -> None:
    a.Clear()
    if kind == 0:
        a.i = [-5, -1, 0, 1, 7, 1 << 40][pick % 6]
    elif kind == 1:
        a.f = [0.0, -1.0, float("nan")][pick % 3]
    elif kind == 2:
        a.s = [b"", b"SAME", b"NCHW", b"\xff", b"EXPLICIT"][pick % 5]
    elif kind == 3:
        a.type = [0, 1, 3, 7, 14, 20, 21, 77, 101][pick % 9]
    elif kind == 4:
        for d in [[], [-7], [-1, 3], [0, 2], [1 << 40]][pick % 5]:
            a.shape.dim.add(size=d)
    elif kind == 5:
        a.list.i.extend([[], [1], [1, 2], [1, 1, 1, 1], [0, 0, 0, 0, 0]][pick % 5])
    elif kind == 6:
        a.list.type.extend([[F32], [I32, 20], [77]][pick % 3])
    else:
        a.func.name = ["nope", "", "cond", "body", "callee"][pick % 5]


def apply_edit(gd, kind: int, a: int, b: int) -> None:
    """One small corruption of ``gd`` (in the main graph or a function body), chosen by three ints."""
    bodies = [gd.node] + [f.node_def for f in gd.library.function]
    nodes = bodies[a % len(bodies)]
    if not len(nodes):
        return
    node = nodes[b % len(nodes)]
    names = [n.name for body in bodies for n in body] + ["missing"]
    other = names[(a * 7 + b) % len(names)]
    if kind == 0 and len(node.input):
        node.input[a % len(node.input)] = other + ["", ":1", ":7", ":output:0"][b % 4]
    elif kind == 1:
        node.input.append(("^" if b % 3 == 0 else "") + other)
    elif kind == 2 and len(node.input):
        del node.input[a % len(node.input)]
    elif kind == 3:
        node.op = _OPS[a % len(_OPS)]
    elif kind == 4 and len(node.attr):
        del node.attr[sorted(node.attr)[a % len(node.attr)]]
    elif kind == 5:
        _random_attr(node.attr[_ATTR_KEYS[a % len(_ATTR_KEYS)]], b % 8, a // 7)
    elif kind == 6 and "value" in node.attr:
        t = node.attr["value"].tensor
        [lambda: setattr(t, "tensor_content", bytes(b % 23)), lambda: setattr(t, "dtype", [0, 2, 7, 9, 21, 77][a % 6]),
         lambda: t.tensor_shape.dim.add(size=[-2, 0, 3][a % 3]), lambda: t.float_val.extend([1.0] * (a % 4))][b % 4]()
    elif kind == 7:
        node.name = other
    elif kind == 8:
        nodes.add().CopyFrom(node)
    elif kind == 9:
        del nodes[b % len(nodes)]
    elif kind == 10 and len(gd.library.function):
        f = gd.library.function[a % len(gd.library.function)]
        if b % 3 == 0:
            f.signature.name = "renamed"
        elif b % 3 == 1 and len(f.ret):
            f.ret[sorted(f.ret)[0]] = other + [":z:0", ":output:3", ""][a % 3]
        else:
            f.signature.input_arg.add(name="extra", type=F32)


_EDITS = st.lists(st.tuples(st.integers(0, 10), st.integers(0, 999), st.integers(0, 999)), min_size=1, max_size=3)
_BASES = {"mlp": mlp_graphdef(), "conv": conv_graphdef(), "functional": functional_graphdef()}


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _fuzz_graphdef(folder, base, edits) -> None:
    gd = proto.GraphDef()
    gd.CopyFrom(base)
    for e in edits:
        apply_edit(gd, *e)
    assert_handled(write_graphdef(folder, gd, "fuzz.pb"))


@FUZZ
@given(base=st.sampled_from(sorted(_BASES)), edits=_EDITS)
def test_fuzzed_graphdefs(fuzz_dir, base, edits):
    _fuzz_graphdef(fuzz_dir, _BASES[base], edits)


@FUZZ
@given(base=st.sampled_from(["while_sum_v1", "cond_v1", "while_sum_v2", "conv_bn_relu6"]), edits=_EDITS)
def test_fuzzed_tf_frozen_graphs(fuzz_dir, small_graphs, base, edits):
    _fuzz_graphdef(fuzz_dir, _tf1(small_graphs, base), edits)


# -- .tflite ------------------------------------------------------------------------------------------


def _control_flow_graph() -> Graph:
    """A tfl.while (i < 3: x = tanh(2x)): two extra subgraphs to point indices at."""
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    cond, body = Graph("cond"), Graph("body")
    for r in (cond, body):
        r.add_input(TensorType(DType.INT32, ()), "i")
        r.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    cb, bb, b = Builder(cond), Builder(body), Builder(g)
    cond.outputs = [cb.op("tfl.less", [cond.inputs[0], cb.const(np.int32(3))])]
    body.outputs = [bb.op("tfl.add", [body.inputs[0], bb.const(np.int32(1))]),
                    bb.op("tfl.tanh", [bb.op("tfl.mul", [body.inputs[1], bb.const(np.float32(2.0))])])]
    _, y = b.op("tfl.while", [b.const(np.int32(0)), x], regions=[cond, body])
    y.name = "y"
    g.outputs = [y]
    return g


@functools.lru_cache(maxsize=None)
def tflite_bases() -> dict:
    """Valid models to corrupt (a cached function, not a fixture: hypothesis would print the bytes)."""
    with tempfile.TemporaryDirectory() as folder:
        mlp = litesmith.load(write_graphdef(folder, mlp_graphdef(), "base_mlp.pb"))
        conv = litesmith.load(write_graphdef(folder, conv_graphdef(), "base_conv.pb"))
    return {"mlp": litesmith.compile(mlp), "mlp_int8_weights": litesmith.compile(mlp, quantize="dynamic"),
            "conv": litesmith.compile(conv), "while": write_tflite(_control_flow_graph())}


def _model(blob: bytes):
    """The object tree of ``blob`` with its index vectors as lists (the object API's are read-only arrays)."""
    m = schema.ModelT.InitFromPackedBuf(blob, 0)
    for sub in m.subgraphs:
        sub.inputs, sub.outputs = list(sub.inputs), list(sub.outputs)
        for op in sub.operators or []:
            op.inputs, op.outputs = list(op.inputs), list(op.outputs)
    return m


def _pack(model) -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def write_tflite_file(folder, blob: bytes, name="bad.tflite") -> str:
    path = os.path.join(str(folder), name)
    with open(path, "wb") as f:
        f.write(blob)
    return path


def _op_input(m, value):
    m.subgraphs[0].operators[0].inputs[0] = value


def _op_output(m, value):
    m.subgraphs[0].operators[0].outputs[0] = value


def _const_tensor(m):
    sub = m.subgraphs[0]
    return next(t for t in sub.tensors if t.buffer and m.buffers[t.buffer].data is not None)


def _wrong_options(m):
    """A FULLY_CONNECTED operator carrying a Conv2D options table."""
    op = m.subgraphs[0].operators[0]
    opts = schema.Conv2DOptionsT()
    opts.strideW = opts.strideH = 2
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.Conv2DOptions, opts


def _string_constant(m):
    t = _const_tensor(m)
    t.type = 5  # STRING
    m.buffers[t.buffer].data = np.frombuffer(np.array([9, 4, 4], "<i4").tobytes() + b"\xff", np.uint8)


def _while_body_is_main(m):
    op = next(o for o in m.subgraphs[0].operators if o.builtinOptions is not None
              and hasattr(o.builtinOptions, "bodySubgraphIndex"))
    op.builtinOptions.bodySubgraphIndex = 0


def _nameless_custom(m):
    code = m.operatorCodes[m.subgraphs[0].operators[0].opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = 32  # CUSTOM
    code.customCode = None


TFLITE_CASES = [
    ("CUSTOM operator code without a name", "mlp", _nameless_custom, "names no custom op (empty custom_code)"),
    ("operator input out of range", "mlp", lambda m: _op_input(m, 999), "operator 0 input is tensor 999"),
    ("operator output out of range", "mlp", lambda m: _op_output(m, 999), "operator 0 output is tensor 999"),
    ("opcode index out of range", "mlp", lambda m: setattr(m.subgraphs[0].operators[0], "opcodeIndex", 77),
     "opcode index 77 out of range"),
    ("subgraph input points nowhere", "mlp", lambda m: setattr(m.subgraphs[0], "inputs", [555]), "input is tensor 555"),
    ("subgraph output points nowhere", "mlp", lambda m: setattr(m.subgraphs[0], "outputs", [555]),
     "output is tensor 555"),
    ("buffer index out of range", "mlp", lambda m: setattr(_const_tensor(m), "buffer", 4242), "buffer index 4242"),
    ("options table of the wrong type", "mlp", _wrong_options, "which litesmith does not support"),
    ("buffer not a whole number of values", "mlp",
     lambda m: setattr(m.buffers[_const_tensor(m).buffer], "data", np.zeros(5, np.uint8)), "5 bytes of data"),
    ("buffer size does not match the shape", "mlp",
     lambda m: setattr(m.buffers[_const_tensor(m).buffer], "data", np.zeros(8, np.uint8)), "holds 2 values"),
    ("malformed string buffer", "mlp", _string_constant, "string"),
    ("unknown tensor type", "mlp", lambda m: setattr(m.subgraphs[0].tensors[0], "type", 127), "TFLite type 127"),
    ("WHILE body is the main subgraph", "while", _while_body_is_main, "is a WHILE/IF body of itself"),
    ("WHILE body index out of range", "while", lambda m: setattr(next(
        o for o in m.subgraphs[0].operators if hasattr(o.builtinOptions, "bodySubgraphIndex")).builtinOptions,
        "bodySubgraphIndex", 9), "subgraph index 9 out of range"),
    ("tensor name not UTF-8", "mlp", lambda m: setattr(m.subgraphs[0].tensors[0], "name", b"\xff\xfe"), None),
    ("negative dims in a shape signature", "conv",
     lambda m: setattr(m.subgraphs[0].tensors[0], "shapeSignature", [-3, 2]), None),
]


@pytest.mark.parametrize("name,base,edit,fragment", TFLITE_CASES, ids=[c[0] for c in TFLITE_CASES])
def test_malformed_tflite(tmp_path, name, base, edit, fragment):
    m = _model(tflite_bases()[base])
    edit(m)
    path = write_tflite_file(tmp_path, _pack(m))
    if fragment is None:
        assert_handled(path)
    else:
        assert_user_error(path, fragment)


@FUZZ
@given(base=st.sampled_from(["mlp", "mlp_int8_weights", "conv", "while"]), data=st.data())
def test_fuzzed_tflite_bytes(fuzz_dir, base, data):
    """Overwrite a few bytes after the 8-byte header: the file still says TFL3 and mostly still parses."""
    blob = bytearray(tflite_bases()[base])
    for _ in range(data.draw(st.integers(1, 6))):
        blob[data.draw(st.integers(8, len(blob) - 1))] = data.draw(st.integers(0, 255))
    assert_handled(write_tflite_file(fuzz_dir, bytes(blob), "fuzz.tflite"))


def _edit_model(m, kind: int, a: int, b: int) -> None:
    """One corruption of the object tree (an index, a type, a shape, a buffer), chosen by three ints."""
    sub = m.subgraphs[a % len(m.subgraphs)]
    ops, tensors = sub.operators or [], sub.tensors or []
    index = [-1, 999, len(tensors), len(m.buffers), 0, 1][b % 6]
    if kind == 0 and ops and ops[a % len(ops)].inputs is not None and len(ops[a % len(ops)].inputs):
        ops[a % len(ops)].inputs[b % len(ops[a % len(ops)].inputs)] = index
    elif kind == 1 and ops and ops[a % len(ops)].outputs is not None and len(ops[a % len(ops)].outputs):
        ops[a % len(ops)].outputs[0] = max(index, 0)
    elif kind == 2 and tensors:
        tensors[b % len(tensors)].buffer = max(index, 0)
    elif kind == 3 and tensors:
        tensors[a % len(tensors)].shape = [[-3, 2], [], [0], [7, 7], [1 << 30]][b % 5]
    elif kind == 4 and tensors:
        tensors[a % len(tensors)].type = [0, 2, 3, 5, 9, 16, 40][b % 7]
    elif kind == 5 and m.buffers:
        m.buffers[a % len(m.buffers)].data = np.arange(b % 41, dtype=np.uint8)
    elif kind == 6:
        sub.inputs = [index] + list(sub.inputs if sub.inputs is not None else [])[1:]
    elif kind == 7:
        sub.outputs = [max(index, 0)]
    elif kind == 8 and ops:
        op = ops[a % len(ops)]
        op.inputs = list(op.inputs if op.inputs is not None else [])[: b % 3]
    elif kind == 9 and m.operatorCodes:
        code = m.operatorCodes[a % len(m.operatorCodes)]
        code.builtinCode = code.deprecatedBuiltinCode = [0, 3, 9, 22, 32, 119, 126][b % 7]
    elif kind == 10 and ops and ops[a % len(ops)].builtinOptions is not None:
        opts = ops[a % len(ops)].builtinOptions
        for field, value in sorted(vars(opts).items()):
            if isinstance(value, bool):
                setattr(opts, field, not value)
            elif isinstance(value, int):
                setattr(opts, field, [0, 1, 3, 100][(a + b + len(field)) % 4])


@FUZZ
@given(base=st.sampled_from(["mlp", "mlp_int8_weights", "conv", "while"]),
       edits=st.lists(st.tuples(st.integers(0, 10), st.integers(0, 999), st.integers(0, 999)), min_size=1, max_size=3))
def test_fuzzed_tflite_fields(fuzz_dir, base, edits):
    m = _model(tflite_bases()[base])
    for e in edits:
        _edit_model(m, *e)
    assert_handled(write_tflite_file(fuzz_dir, _pack(m), "fuzz.tflite"))


# -- IR text ------------------------------------------------------------------------------------------

_IR_GOOD = """graph @m(%x: f32[2,3]) {
  %w = core.const() {value = dense<f32[3,2]> [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]} : f32[3,2]
  %y = core.matmul(%x, %w) : f32[2,2]
  %r = core.relu(%y) : f32[2,2]
  return %r
}
"""

_IR_LOOP = """graph @loop(%x: f32[3]) {
  %i0 = core.const() {value = dense<i32[]> 0} : i32[]
  %i, %out = core.while(%i0, %x) (^cond(%a: i32[], %b: f32[3]) {
    %n = core.const() {value = dense<i32[]> 3} : i32[]
    %c = core.less(%a, %n) : bool[]
    return %c
  }, ^body(%a: i32[], %b: f32[3]) {
    %one = core.const() {value = dense<i32[]> 1} : i32[]
    %a2 = core.add(%a, %one) : i32[]
    %b2 = core.tanh(%b) : f32[3]
    return %a2, %b2
  }) : i32[], f32[3]
  return %out
}
"""

IR_CASES = [
    ("result type disagrees with inference", _IR_GOOD.replace("core.relu(%y) : f32[2,2]", "core.relu(%y) : f32[5]"),
     "inference gives f32[2,2]"),
    ("result dtype disagrees with inference", _IR_GOOD.replace("core.relu(%y) : f32[2,2]", "core.relu(%y) : i32[2,2]"),
     "inference gives f32[2,2]"),
    ("use before definition", _IR_GOOD.replace("%y = core.matmul(%x, %w)", "%y = core.matmul(%x, %r)"),
     "undefined value %r"),
    ("unknown attribute", _IR_GOOD.replace("core.relu(%y)", "core.relu(%y) {alpha = 2}"), "unknown attribute"),
    ("attribute of the wrong kind", _IR_GOOD.replace("core.matmul(%x, %w)", "core.matmul(%x, %w) {transpose_a = [1]}"),
     "'transpose_a' must be a bool"),
    ("region with too few block arguments", _IR_LOOP.replace("^body(%a: i32[], %b: f32[3])", "^body(%a: i32[])"),
     "undefined value %b"),
    ("region with an extra block argument", _IR_LOOP.replace("^cond(%a: i32[], %b: f32[3])",
                                                             "^cond(%a: i32[], %b: f32[3], %z: f32[])"),
     "region cond takes 3 argument(s), the loop passes 2"),
    ("loop body returning one value", _IR_LOOP.replace("return %a2, %b2", "return %a2"),
     "returns 1 value(s), the loop (one per carried value) needs 2"),
    ("while without regions", _IR_LOOP.split("(^cond")[0] + ": i32[], f32[3]\n  return %out\n}\n", "region"),
    ("operand count", _IR_GOOD.replace("core.relu(%y)", "core.relu(%y, %y)"), "expects at most 1 operands"),
    ("add with one operand (crashed canonicalize once)", _IR_GOOD.replace("core.relu(%y)", "core.add(%y)"),
     "expects at least 2 operands"),
    ("tensor literal of the wrong size", _IR_GOOD.replace("5.0, 6.0]", "5.0]"), "has 5 elements"),
    ("deeply nested literal", _IR_GOOD.replace("[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]", "[" * 3000 + "1.0" + "]" * 3000),
     "nesting deeper than"),
    ("a fill of 2^40 elements is refused before anything is allocated (a fuzzing finding)",
     _IR_GOOD.replace("  %r = core.relu(%y) : f32[2,2]\n", "  %d = core.const() {value = dense<i32[3]> [65536, 65536, 256]} : "
                      "i32[3]\n  %v = core.const() {value = dense<f32[]> 1.0} : f32[]\n  %f = core.fill(%d, %v) : "
                      "f32[65536,65536,256]\n  %s = core.reduce_sum(%f) {axes = [0, 1, 2]} : f32[]\n"
                      "  %r = core.add(%y, %s) : f32[2,2]\n"), "more than a TFLite model can hold"),
    ("binary op with operands of two dtypes", _IR_GOOD.replace("core.relu(%y) : f32[2,2]", "core.add(%y, %x2) : f32[2,2]")
     .replace("  %y = core", "  %x2 = core.const() {value = dense<i32[2,2]> [[1, 2], [3, 4]]} : i32[2,2]\n  %y = core"),
     "operands have different dtypes (f32 and i32)"),
    ("deeply nested list type", "graph @m(%x: " + "list<" * 3000 + "f32[]" + ">" * 3000 + ") {\n  return %x\n}\n",
     "nesting deeper than"),
]


@pytest.mark.parametrize("name,text,fragment", IR_CASES, ids=[c[0] for c in IR_CASES])
def test_malformed_ir(tmp_path, name, text, fragment):
    path = tmp_path / "bad.ir"
    path.write_text(text)
    assert_user_error(path, fragment)


def test_the_ir_bases_compile(tmp_path):
    for i, text in enumerate((_IR_GOOD, _IR_LOOP)):
        path = tmp_path / f"good{i}.ir"
        path.write_text(text)
        assert assert_handled(path) == "ok" or "cannot lower" in api_outcome(path)


_IR_WORDS = ["%x", "%w", "%y", "%r", "%a", "%b", "%n", "%one", "f32[]", "i32[2,2]", "bool[]", "f32[*]", "list<f32[3]>",
             "core.add", "core.while", "core.concat", "core.split", "tf.Foo", "{axis = 9}", "{sizes = [1]}", "(", ")",
             ",", "-1", "0", "7", "dense<f32[2]> [1.0, 2.0]", "return"]


@FUZZ
@given(base=st.sampled_from([_IR_GOOD, _IR_LOOP]),
       edits=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 9999), st.integers(0, len(_IR_WORDS) - 1)),
                      min_size=1, max_size=3))
def test_fuzzed_ir_text(fuzz_dir, base, edits):
    """Replace, insert or delete whole tokens: most results fail to parse, some parse and must verify."""
    tokens = base.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split(" ")
    for kind, at, word in edits:
        i = at % len(tokens)
        if kind == 0:
            tokens[i] = _IR_WORDS[word]
        elif kind == 1:
            tokens.insert(i, _IR_WORDS[word])
        else:
            del tokens[i]
    path = os.path.join(str(fuzz_dir), "fuzz.ir")
    with open(path, "w") as f:
        f.write(" ".join(tokens))
    assert_handled(path)
