"""Static shapes for foreign ops: user-declared (``--custom-shape``) ones survive stubbing, and ops over
constants fold whenever they have a kernel (``tf.eye`` is a MatrixDiagV3 of constants)."""
from __future__ import annotations

import numpy as np
import pytest

import litesmith
from litesmith.backends.tflite import read_tflite
from litesmith.cli import main
from litesmith.ir.errors import UserError
from litesmith.ir import Builder, DType, Graph, Node, TensorType, print_ir
from tf_litert import assert_close, convert_and_run
from tf_models import freeze_function

F32 = DType.FLOAT32
RNG = np.random.default_rng(13)


@pytest.fixture
def lgamma_pb(tf, tmp_path):
    """lgamma(x) * 2 + x frozen with library defaults: TF records no shapes, Lgamma has no mapping."""
    feeds = {"x": RNG.uniform(0.5, 3, (2, 3)).astype(np.float32)}
    freeze_function(tf, tmp_path / "m.pb", lambda x: tf.math.lgamma(x) * 2.0 + x, feeds)
    return tmp_path / "m.pb"


@pytest.mark.parametrize("key", ["Lgamma", "tf.Lgamma", "Lgamma:0"])
def test_declared_shape_is_kept_through_stubbing(lgamma_pb, tmp_path, key):
    """Without a shape the conversion stops at the unknown dims; declared by op type, node or result
    name, the custom op keeps it and what follows lowers to builtins."""
    out = tmp_path / "m.tflite"
    assert main(["convert", str(lgamma_pb), "-o", str(out), "--stubs-dir", str(tmp_path / "s")]) == 2
    assert main(["convert", str(lgamma_pb), "-o", str(out), "--stubs-dir", str(tmp_path / "s"),
                 "--custom-shape", f"{key}:2x3"]) == 0
    back = read_tflite(str(out))
    custom = next(n for n in back if n.op == "tfl.custom")
    assert custom.attrs["custom_code"] == "Lgamma" and custom.output.shape == (2, 3)
    assert sorted(n.op for n in back if n.op not in ("core.const", "tfl.custom")) == ["tfl.add", "tfl.mul"]
    assert all(v.shape == (2, 3) for v in back.outputs)
    assert "[2, 3]" in (tmp_path / "s" / "Lgamma.cc").read_text()


def test_inspect_and_opt_take_declared_shapes(lgamma_pb, tmp_path, capsys):
    assert main(["inspect", str(lgamma_pb), "--custom-shape", "Lgamma:2x3", "--ir"]) == 0
    text = capsys.readouterr().out
    assert "tf.Lgamma(%x) {T = f32} : f32[2,3]" in text and "?" not in text, text
    assert main(["opt", str(lgamma_pb), "-p", "fold-constants", "--custom-shape", "Lgamma:2x3",
                 "-o", str(tmp_path / "o.ir")]) == 0
    assert "?" not in (tmp_path / "o.ir").read_text().split("tf.Lgamma")[1].split("\n")[0]


def _two_result_graph(tmp_path):
    g = Graph("m")
    x = g.add_input(TensorType(F32, (4,)), "x")
    a, b = g.append(Node("tf.Split2", [x], {}, [TensorType(F32, None), TensorType(F32, None)],
                         output_names=["parts", "parts:1"])).outputs
    bld = Builder(g)
    g.outputs = [bld.op("core.relu", [a], name="ra"), bld.op("core.tanh", [b], name="tb")]
    path = tmp_path / "m.ir"
    path.write_text(print_ir(g))
    return path


def test_each_result_of_a_node_by_its_name(tmp_path):
    graph = litesmith.load(str(_two_result_graph(tmp_path)), custom_shapes={"parts": [2], "parts:1": [1, 2]})
    assert [v.shape for v in graph.outputs] == [(2,), (1, 2)]


@pytest.mark.parametrize("spec, message", [
    ("Mystery:2", "no foreign (unmapped) op, node or result has that name; the foreign ops are tf.Split2"),
    ("Split2:2x", "empty dimension"),
    ("Split2", "expected NAME:DIMS"),
])
def test_bad_declarations_are_one_line_errors(tmp_path, capsys, spec, message):
    path = _two_result_graph(tmp_path)
    assert main(["convert", str(path), "-o", str(tmp_path / "o.tflite"), "--custom-shape", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err and "--custom-shape" in err, err


def test_a_declared_shape_that_contradicts_a_known_one_is_refused(tmp_path):
    g = Graph("m")
    x = g.add_input(TensorType(F32, (4,)), "x")
    (y,) = g.append(Node("tf.Mystery", [x], {}, [TensorType(F32, (4,))], output_names=["y"])).outputs
    g.outputs = [y]
    (tmp_path / "m.ir").write_text(print_ir(g))
    with pytest.raises(UserError, match="already has shape 4, which 5 contradicts"):
        litesmith.load(str(tmp_path / "m.ir"), custom_shapes={"Mystery": [5]})


def test_eye_of_constants_folds_into_the_add(tf, litert_interpreter, tmp_path):
    """The issue's graph: a matrix plus tf.eye(3) (MatrixDiagV3 of constants) folds to one ADD of a
    constant instead of an unknown op with an unknown shape."""
    feeds = {"m": RNG.normal(size=(3, 3)).astype(np.float32)}
    want = freeze_function(tf, tmp_path / "m.pb", lambda m: m + tf.eye(3), feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=0, rtol=0)
    assert ops == ["ADD"]
