"""``litesmith run``: the reference interpreter on .npz inputs."""
from textwrap import dedent

import numpy as np

from litesmith.cli import main

SRC = dedent("""\
    graph @main(%x: f32[?,2], %"ids:0": i32[3]) {
      %c = core.const() {value = dense<f32[2]> [1.0, 2.0]} : f32[2]
      %"out/y:0" = core.identity(%x) : f32[?,2]
      %k = core.identity(%c) : f32[2]
      %i = core.identity(%"ids:0") : i32[3]
      return %"out/y:0", %k, %i
    }
""")


def model(tmp_path):
    p = tmp_path / "m.ir"
    p.write_text(SRC)
    return str(p)


def npz(tmp_path, name="in.npz", **arrays):
    p = tmp_path / name
    np.savez(p, **arrays)
    return str(p)


def test_run_writes_outputs_by_name(tmp_path):
    x = np.arange(6, dtype=np.float64).reshape(3, 2)  # f64 is cast to the graph's f32
    ids = np.array([1, 2, 3], np.int32)
    inputs = npz(tmp_path, **{"x": x, "ids:0": ids})
    out = tmp_path / "out.npz"
    assert main(["run", model(tmp_path), "--inputs", inputs, "-o", str(out)]) == 0
    with np.load(out) as z:
        assert sorted(z.files) == ["i", "k", "out/y:0"]
        np.testing.assert_array_equal(z["out/y:0"], x.astype(np.float32))
        assert z["out/y:0"].dtype == np.float32
        np.testing.assert_array_equal(z["k"], [1.0, 2.0])
        np.testing.assert_array_equal(z["i"], ids)


def test_run_prints_a_summary_without_o(tmp_path, capsys):
    inputs = npz(tmp_path, **{"x": np.zeros((1, 2), np.float32), "ids:0": np.zeros(3, np.int32)})
    assert main(["run", model(tmp_path), "--inputs", inputs]) == 0
    out = capsys.readouterr().out
    assert "out/y:0: float32[1, 2]" in out and "k: float32[2] [1. 2.]" in out


def test_run_rejects_missing_extra_and_misshaped_inputs(tmp_path, capsys):
    m = model(tmp_path)
    ok_ids = np.zeros(3, np.int32)
    cases = [
        ({"x": np.zeros((1, 2), np.float32)}, "missing input(s) ids:0"),
        ({"x": np.zeros((1, 2), np.float32), "ids:0": ok_ids, "z": ok_ids}, "unknown input(s) z"),
        ({"x": np.zeros((1, 3), np.float32), "ids:0": ok_ids}, "input 'x' has shape [1, 3], the graph wants [?,2]"),
        ({"x": np.zeros((2,), np.float32), "ids:0": ok_ids}, "input 'x' has shape [2]"),
        ({"x": np.zeros((1, 2), np.float32), "ids:0": np.zeros(3, np.float32)}, "input 'ids:0' has dtype float32"),
    ]
    for i, (arrays, message) in enumerate(cases):
        assert main(["run", m, "--inputs", npz(tmp_path, f"c{i}.npz", **arrays)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_run_bad_files_exit_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "none.ir"), "--inputs", "x.npz"]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    assert main(["run", model(tmp_path), "--inputs", str(bad)]) == 2
    assert "not a readable .npz" in capsys.readouterr().err


def test_run_litert_and_reference_agree_with_tf(small_graphs, tmp_path):
    """The same .tflite on both runtimes, against TensorFlow's own outputs."""
    model = small_graphs["mlp"]
    tfl = tmp_path / "mlp.tflite"
    assert main(["convert", model.pb_path, "-o", str(tfl)]) == 0
    inputs = npz(tmp_path, **model.inputs)
    for runtime in ("litert", "reference"):
        out = tmp_path / f"{runtime}.npz"
        assert main(["run", str(tfl), "--inputs", inputs, "--runtime", runtime, "-o", str(out)]) == 0
        with np.load(out) as z:
            for name, expected in model.expected.items():
                np.testing.assert_allclose(z[name], expected, rtol=1e-5, atol=1e-5, err_msg=f"{runtime}: {name}")


def test_run_litert_needs_a_tflite_file(tmp_path, capsys):
    assert main(["run", model(tmp_path), "--runtime", "litert"]) == 2
    err = capsys.readouterr().err
    assert "--runtime litert runs .tflite files" in err and "litesmith convert" in err and err.count("\n") == 1
