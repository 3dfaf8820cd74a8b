"""``litesmith convert --stubs-dir DIR``: stubs are written after the model, never on a failed conversion."""
from __future__ import annotations

import json

from litesmith.cli import main
from litesmith.ir import Builder, DType, Graph, Node, TensorType, print_ir

F32 = DType.FLOAT32


def _model(tmp_path, out_shape, tail=(("core.tanh", {}),)):
    """x -> relu -> tf.Mystery (an op TFLite lacks, output ``out_shape``) -> the ops of ``tail``, as IR text."""
    g = Graph("m")
    x = g.add_input(TensorType(F32, (2, 3)), "x")
    b = Builder(g)
    r = b.op("core.relu", [x], name="r")
    (m,) = g.append(Node("tf.Mystery", [r], {"scale": 0.5}, [TensorType(F32, out_shape)], output_names=["m"])).outputs
    for i, (op, attrs) in enumerate(tail):
        m = b.op(op, [m], attrs, name="y" if i == len(tail) - 1 else f"t{i}")
    g.outputs = [m]
    path = tmp_path / "m.ir"
    path.write_text(print_ir(g))
    return path


def test_stubs_are_written_with_the_model(tmp_path, litert_interpreter):
    model, out, stubs, rep = _model(tmp_path, (2, 3)), tmp_path / "m.tflite", tmp_path / "stubs", tmp_path / "r.json"
    assert main(["convert", str(model), "-o", str(out), "--stubs-dir", str(stubs), "--report", str(rep)]) == 0
    assert sorted(p.name for p in stubs.iterdir()) == ["Mystery.cc", "README.md"]
    assert "kernel not implemented" in (stubs / "Mystery.cc").read_text()
    assert sorted(json.loads(rep.read_text())["stub_files"]) == sorted(str(p) for p in stubs.iterdir())
    interp = litert_interpreter(model_path=str(out))  # loads; the kernel is what the stub is for
    try:
        interp.allocate_tensors()
        raise AssertionError("LiteRT resolved a custom op nobody registered")
    except RuntimeError as e:
        assert "Mystery" in str(e)


def test_a_stub_pass_already_in_passes_runs_once(tmp_path):
    model, out, stubs = _model(tmp_path, (2, 3)), tmp_path / "m.tflite", tmp_path / "stubs"
    rep = tmp_path / "r.json"
    assert main(["convert", str(model), "-o", str(out), "--passes", "canonicalize,stub-custom-ops",
                 "--stubs-dir", str(stubs), "--report", str(rep)]) == 0
    assert json.loads(rep.read_text())["passes"].count("stub-custom-ops") == 1
    assert (stubs / "Mystery.cc").exists()


def test_failed_conversion_writes_no_stubs(tmp_path, capsys):
    """The custom op's result feeds float64 math with a constant beyond float32's range, which
    demote-float64 must leave in float64 and TFLite has no kernel for: stubbing happens, the
    lowering then refuses the f64 add, and neither the model nor the stubs directory appear."""
    model, out, stubs = _model(tmp_path, (2, 3), [("core.cast", {"dtype": DType.FLOAT64})]), tmp_path / "m.tflite", tmp_path / "stubs"
    text = model.read_text().replace("  return %y", "  %huge = core.const() {value = dense<f64[]> 1e300} : f64[]\n"
                                                   "  %z = core.add(%y, %huge) : f64[2,3]\n  return %z")
    model.write_text(text)
    assert main(["convert", str(model), "-o", str(out), "--stubs-dir", str(stubs)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "m" in err, err
    assert not out.exists() and not stubs.exists()
