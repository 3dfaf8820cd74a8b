"""Parsing, inputs/outputs selection, shape overrides and bad-input errors of the TF frontend."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from litesmith.frontends.tf import load_graphdef, proto
from litesmith.ir import UserError, run


@pytest.fixture(scope="session")
def mlp(tf, tmp_path_factory):
    """A frozen batch-8 MLP with a second unused-output head; (path, weights)."""
    w = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [8, 4], name="x")
        h = tf.matmul(x, w, name="h")
        tf.nn.softmax(h, name="probs")
        tf.reduce_sum(h, axis=1, name="total")
    path = tmp_path_factory.mktemp("mlp") / "mlp.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    return str(path), w


def test_parsing_needs_no_tensorflow(mlp):
    code = ("import sys; from litesmith.frontends.tf import load_graphdef; "
            f"g = load_graphdef({mlp[0]!r}); assert 'tensorflow' not in sys.modules; print(len(g.outputs))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"


def test_default_inputs_outputs_and_batch_override(mlp):
    path, w = mlp
    g = load_graphdef(path)
    assert [v.name for v in g.inputs] == ["x"] and g.output_names() == ["probs", "total"]
    assert g.inputs[0].shape == (8, 4)
    g1 = load_graphdef(path, outputs=["total:0"], input_shapes={"x:0": [1, 4]})
    assert g1.output_names() == ["total"] and g1.outputs[0].shape == (1,)
    x = np.ones((1, 4), np.float32)
    np.testing.assert_allclose(run(g1, {"x": x})["total"], (x @ w).sum(1), rtol=1e-5)


def test_cut_at_inner_tensor(mlp):
    path, _ = mlp
    g = load_graphdef(path, inputs=["h"], outputs=["probs"])
    assert [v.name for v in g.inputs] == ["h"]
    h = np.array([[1.0, 2.0, 3.0]], np.float32)
    e = np.exp(h - h.max())
    np.testing.assert_allclose(run(g, {"h": h})["probs"], e / e.sum(), rtol=1e-5)


def test_unknown_output_name_is_a_user_error(mlp):
    with pytest.raises(UserError, match="no node named 'prbs' for output.*did you mean probs"):
        load_graphdef(mlp[0], outputs=["prbs"])


def test_unknown_input_name_says_input(mlp):
    with pytest.raises(UserError, match="no node named 'hh' for input 'hh'"):
        load_graphdef(mlp[0], inputs=["hh"], outputs=["probs"])


def _write(tmp_path, gd, name="bad.pb"):
    p = tmp_path / name
    p.write_bytes(gd.SerializeToString())
    return str(p)


def _const(name, dtype=1, dims=(), **fields):
    n = proto.NodeDef(name=name, op="Const")
    t = n.attr["value"].tensor
    t.dtype = dtype
    for d in dims:
        t.tensor_shape.dim.add(size=d)
    for k, v in fields.items():
        if k == "tensor_content":
            t.tensor_content = v
        else:
            getattr(t, k).extend(v)
    n.attr["dtype"].type = dtype
    return n


def test_truncated_and_garbage_files(tmp_path, mlp):
    with open(mlp[0], "rb") as f:
        data = f.read()
    (tmp_path / "cut.pb").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.pb").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.pb").write_bytes(b"")
    (tmp_path / "bad.pbtxt").write_text("node { name: 'a' op: 'Const' bogus_field: 3 }")
    for name in ("cut.pb", "junk.pb", "empty.pb", "bad.pbtxt"):
        with pytest.raises(UserError, match=name):
            load_graphdef(str(tmp_path / name))


def test_missing_input_reference(tmp_path):
    gd = proto.GraphDef()
    gd.node.add(name="y", op="Relu", input=["nowhere:0"]).attr["T"].type = 1
    with pytest.raises(UserError, match=r"node 'y' \(Relu\) reads 'nowhere'"):
        load_graphdef(_write(tmp_path, gd))


def test_cycle_outside_loop(tmp_path):
    gd = proto.GraphDef()
    gd.node.add(name="a", op="Relu", input=["b"]).attr["T"].type = 1
    gd.node.add(name="b", op="Relu", input=["a"]).attr["T"].type = 1
    gd.node.add(name="out", op="Identity", input=["a"]).attr["T"].type = 1
    with pytest.raises(UserError, match="cycle"):
        load_graphdef(_write(tmp_path, gd), outputs=["out"])


def test_unknown_dtype_enum(tmp_path):
    gd = proto.GraphDef()
    gd.node.append(_const("c", dtype=77, dims=(2,)))
    with pytest.raises(UserError, match="node 'c'.*unknown dtype enum 77"):
        load_graphdef(_write(tmp_path, gd), outputs=["c"])


def test_constant_size_mismatch_and_absurd_size(tmp_path):
    gd = proto.GraphDef()
    gd.node.append(_const("c", dims=(4,), tensor_content=b"\0" * 12))
    with pytest.raises(UserError, match="node 'c'.*needs 16 bytes, tensor_content has 12"):
        load_graphdef(_write(tmp_path, gd), outputs=["c"])
    gd = proto.GraphDef()
    gd.node.append(_const("huge", dims=(1 << 20, 1 << 20), float_val=[1.0]))
    with pytest.raises(UserError, match="node 'huge'.*corrupt"):
        load_graphdef(_write(tmp_path, gd), outputs=["huge"])


def test_constant_encodings(tmp_path):
    gd = proto.GraphDef()
    gd.node.append(_const("splat", dims=(2, 3), float_val=[1.5]))
    gd.node.append(_const("last_repeats", dtype=3, dims=(4,), int_val=[1, 2]))
    gd.node.append(_const("half", dtype=19, dims=(2,), half_val=[0x3C00, 0xC000]))
    gd.node.append(_const("flags", dtype=10, dims=(3,), bool_val=[True, False, True]))
    gd.node.append(_const("scalar", dtype=9, int64_val=[1 << 40]))
    gd.node.append(_const("zeros", dims=(2,)))
    g = load_graphdef(_write(tmp_path, gd), outputs=["splat", "last_repeats", "half", "flags", "scalar", "zeros"])
    got = run(g, {})
    np.testing.assert_array_equal(got["splat"], np.full((2, 3), 1.5, np.float32))
    np.testing.assert_array_equal(got["last_repeats"], [1, 2, 2, 2])
    np.testing.assert_array_equal(got["half"], np.array([1.0, -2.0], np.float16))
    np.testing.assert_array_equal(got["flags"], [True, False, True])
    assert got["scalar"] == 1 << 40 and got["scalar"].dtype == np.int64
    np.testing.assert_array_equal(got["zeros"], [0.0, 0.0])
