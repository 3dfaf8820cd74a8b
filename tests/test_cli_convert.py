"""``litesmith convert``: IR in, .tflite out; bad input -> exit 2, one line, no output file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from litesmith.cli import main
from litesmith.ir import Builder, DType, Graph, TensorType, print_ir, run

F32 = DType.FLOAT32
RNG = np.random.default_rng(2)


def write_model(tmp_path, x_shape=(1, 6, 6, 2), tail="core.relu", name="m.ir"):
    """x -> conv2d -> add bias -> ``tail``: a small model as IR text."""
    g = Graph("m")
    x = g.add_input(TensorType(F32, x_shape), "x")
    b = Builder(g)
    w = b.const(RNG.normal(size=(3, 3, 2, 4)).astype(np.float32))
    y = b.op("core.conv2d", [x, w], {"padding": "SAME"})
    y = b.op("core.add", [y, b.const(RNG.normal(size=4).astype(np.float32))])
    y = b.op(tail, [y], name="y")
    g.outputs = [y]
    path = tmp_path / name
    path.write_text(print_ir(g, elide_above=1 << 30))
    return path, g


def run_tflite(litert, path, feeds):
    interp = litert(model_path=str(path))
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], feeds[d["name"]])
    interp.invoke()
    return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]


def test_convert_happy_path(tmp_path, litert_interpreter):
    model, g = write_model(tmp_path)
    out, rep = tmp_path / "m.tflite", tmp_path / "r.json"
    assert main(["convert", str(model), "-o", str(out), "--report", str(rep)]) == 0
    feeds = {"x": RNG.normal(size=(1, 6, 6, 2)).astype(np.float32)}
    (got,) = run_tflite(litert_interpreter, out, feeds)
    np.testing.assert_allclose(got, run(g, feeds)["y"], rtol=1e-5, atol=1e-5)
    report = json.loads(rep.read_text())
    assert report["status"] == "ok" and report["ops_after"] == {"tfl.conv_2d": 1}
    assert report["fused"] == {"fold-bias-add": 1, "fuse-relu": 1}
    assert report["bytes"] == out.stat().st_size


def test_convert_input_shape_makes_a_dynamic_model_static(tmp_path, litert_interpreter):
    model, g = write_model(tmp_path, x_shape=(None, 6, 6, 2))
    out = tmp_path / "m.tflite"
    assert main(["convert", str(model), "-o", str(out), "--input-shape", "x:2x6x6x2", "--passes", "cse"]) == 0
    feeds = {"x": RNG.normal(size=(2, 6, 6, 2)).astype(np.float32)}
    (got,) = run_tflite(litert_interpreter, out, feeds)
    np.testing.assert_allclose(got, run(g, feeds)["y"], rtol=1e-5, atol=1e-5)


def _fails(capsys, argv, *fragments):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("litesmith: error:"), err
    for f in fragments:
        assert f in err, err
    return err


def test_convert_missing_file(tmp_path, capsys):
    out = tmp_path / "m.tflite"
    _fails(capsys, ["convert", str(tmp_path / "nope.pb"), "-o", str(out)], "no such file")
    assert not out.exists()


def test_convert_illegal_op_writes_report_and_no_model(tmp_path, capsys):
    model, _ = write_model(tmp_path, tail="core.erf")
    out, rep = tmp_path / "m.tflite", tmp_path / "r.json"
    _fails(capsys, ["convert", str(model), "-o", str(out), "--report", str(rep)], "core.erf", "no-builtin", str(rep))
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m.ir", "r.json"]
    report = json.loads(rep.read_text())
    assert report["status"] == "illegal-ops"
    (issue,) = report["legality"]["illegal"]
    assert issue["op"] == "core.erf" and issue["kind"] == "no-builtin" and issue["hint"]


def test_convert_dynamic_shape_says_which_input(tmp_path, capsys):
    """An unknown spatial dim the conv's lowering reads: dynamic-shape, naming the input's fix."""
    model, _ = write_model(tmp_path, x_shape=(1, None, 6, 2))
    out = tmp_path / "m.tflite"
    _fails(capsys, ["convert", str(model), "-o", str(out)], "dynamic-shape", "--input-shape x:1x1x6x2")
    assert not out.exists()


def test_convert_keeps_an_unknown_batch_and_litert_resizes_it(tmp_path, litert_interpreter):
    """An unknown batch is written as -1 in shape_signature (shape 1) and LiteRT resizes it."""
    model, g = write_model(tmp_path, x_shape=(None, 6, 6, 2))
    out = tmp_path / "m.tflite"
    assert main(["convert", str(model), "-o", str(out)]) == 0
    interp = litert_interpreter(model_path=str(out))
    (detail,) = interp.get_input_details()
    assert list(detail["shape"]) == [1, 6, 6, 2] and list(detail["shape_signature"]) == [-1, 6, 6, 2]
    x = RNG.normal(size=(3, 6, 6, 2)).astype(np.float32)
    interp.resize_tensor_input(detail["index"], [3, 6, 6, 2])
    interp.allocate_tensors()
    interp.set_tensor(detail["index"], x)
    interp.invoke()
    (want,) = run(g, {"x": x}).values()
    np.testing.assert_allclose(interp.get_tensor(interp.get_output_details()[0]["index"]), want, atol=1e-5)


@pytest.mark.parametrize("spec", ["x", "x:1xa", ":1x2", "x:0x", "x:1xx2"])
def test_convert_bad_input_shape_spec(tmp_path, capsys, spec):
    model, _ = write_model(tmp_path)
    _fails(capsys, ["convert", str(model), "-o", str(tmp_path / "m.tflite"), "--input-shape", spec], "--input-shape")


def test_convert_frozen_graphdef_matches_tf(tmp_path, small_graphs, litert_interpreter):
    model = small_graphs["conv_bn_relu6"]
    out, rep = tmp_path / "m.tflite", tmp_path / "r.json"
    assert main(["convert", model.pb_path, "-o", str(out), "--inputs", "x", "--outputs", "y", "--report", str(rep)]) == 0
    (got,) = run_tflite(litert_interpreter, out, {"x": model.inputs["x"]})
    np.testing.assert_allclose(got, model.expected["y"], rtol=1e-5, atol=1e-5)
    assert json.loads(rep.read_text())["ops_after"] == {"tfl.conv_2d": 1}
