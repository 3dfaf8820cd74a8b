"""`litesmith convert --quantize`: each mode gives a model LiteRT runs, close to TF's float answer."""
import numpy as np
import pytest

from litesmith.cli import main


def _run_litert(litert_interpreter, path, feeds):
    interp = litert_interpreter(model_path=str(path))
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], feeds[d["name"]].astype(d["dtype"]))
    interp.invoke()
    return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]


@pytest.fixture(scope="module")
def conv_model(small_graphs):
    return small_graphs["conv_bn_relu6"]


@pytest.mark.parametrize("mode, tol", [("float16", 1e-2), ("dynamic", 0.1), ("int8", 0.2)])
def test_convert_quantize_modes_match_tf(mode, tol, conv_model, tmp_path, litert_interpreter, capsys):
    (name,) = conv_model.input_names
    x = conv_model.inputs[name]
    rng = np.random.default_rng(0)
    calib = tmp_path / "calib.npz"
    samples = np.concatenate([x[None]] + [(x + rng.normal(0, 0.1, x.shape).astype(x.dtype))[None] for _ in range(7)])
    np.savez(calib, **{name: samples})
    out = tmp_path / f"m-{mode}.tflite"
    float_out = tmp_path / "m.tflite"
    assert main(["convert", conv_model.pb_path, "-o", str(float_out)]) == 0
    args = ["convert", conv_model.pb_path, "-o", str(out), "--quantize", mode]
    if mode == "int8":
        args += ["--calibration", str(calib)]
    assert main(args) == 0, capsys.readouterr().err
    (got,) = _run_litert(litert_interpreter, out, conv_model.inputs)
    (want,) = conv_model.expected.values()
    scale = float(np.max(np.abs(want))) or 1.0
    assert np.max(np.abs(got - want)) <= tol * scale
    if mode == "int8":  # the conv runs in int8 (sizes are checked on weight-heavy models in test_quantize.py)
        interp = litert_interpreter(model_path=str(out))
        assert any(d["dtype"] == np.int8 for d in interp.get_tensor_details())


def test_convert_int8_without_calibration_is_a_clear_error(conv_model, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert main(["convert", conv_model.pb_path, "-o", str(out), "--quantize", "int8"]) == 2
    err = capsys.readouterr().err
    assert "calibration" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
