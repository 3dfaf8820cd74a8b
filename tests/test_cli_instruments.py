"""`convert` and `quantize` run one pass pipeline with `opt`'s instruments; `opt` runs any prefix of
the compile. Models: TF's frozen Conv2D + BiasAdd + FusedBatchNorm + Relu6 (small_graphs)."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

from litesmith.backends.tflite import fusions, read_tflite
from litesmith.cli import main
from litesmith.passes import pattern

FRONT = ["canonicalize (#1)", "fold-constants (#2)", "canonicalize (#3)", "dce (#4)"]


@pytest.fixture(scope="module")
def model(small_graphs):
    return small_graphs["conv_bn_relu6"]


@pytest.fixture
def calibration(model, tmp_path):
    x = model.inputs["x"]
    rng = np.random.default_rng(3)
    path = tmp_path / "calib.npz"
    np.savez(path, x=np.stack([x] + [x + rng.normal(0, 0.1, x.shape).astype(x.dtype) for _ in range(7)]))
    return str(path)


def sections(err: str):
    """(header, IR text) per `// -----// IR after ... //----- //` block."""
    parts = re.split(r"^// -----// IR after (.*) //----- //$", err, flags=re.M)
    return list(zip(parts[1::2], parts[2::2]))


def ops_in(ir: str):
    return set(re.findall(r"= ((?:tfl|core)\.[a-z_0-9]+)\(", ir))


def test_convert_print_ir_after_all_shows_lowering_fusion_and_quantization(model, calibration, tmp_path, capsys):
    plain, traced = tmp_path / "plain.tflite", tmp_path / "traced.tflite"
    args = ["convert", model.pb_path, "--quantize", "int8", "--calibration", calibration]
    assert main(args + ["-o", str(plain)]) == 0
    capsys.readouterr()
    assert main(args + ["-o", str(traced), "--print-ir-after-all", "--verify-each", "--time-passes"]) == 0
    err = capsys.readouterr().err
    blocks = dict(sections(err))
    assert list(blocks) == FRONT + ["lower-tensor-lists (#5)", "sink-loop-constants (#6)", "fold-empty-tensors (#7)",
                                    "demote-float64 (#8)", "fuse-lstm-loops (#9)", "lower-tflite (#10)",
                                    "fuse-tflite (#11)", "dce (#12)", "quantize-int8/dce (#13.1)", "quantize-int8 (#13)"]
    assert "core.conv2d" in ops_in(blocks["dce (#4)"])
    lowered = ops_in(blocks["lower-tflite (#10)"])
    assert {"tfl.conv_2d", "tfl.relu6"} <= lowered and not any(op.startswith("core.") and op != "core.const" for op in lowered)
    fused = blocks["fuse-tflite (#11)"]
    assert ops_in(fused) == {"core.const", "tfl.conv_2d"} and 'fused_activation_function = "RELU6"' in fused
    quantized = blocks["quantize-int8 (#13)"]
    assert ops_in(quantized) == {"core.const", "tfl.quantize", "tfl.conv_2d", "tfl.dequantize"} and ": i8[" in quantized
    assert re.search(r"^ +\d+\.\d+ +[\d.]+% +13\. quantize-int8$", err, re.M)  # --time-passes
    assert re.search(r"^ +\d+\.\d+ +[\d.]+% +  13\.1\. dce", err, re.M)
    assert traced.read_bytes() == plain.read_bytes()  # instruments change no byte


def test_convert_check_numerics_passes_on_a_correct_compile(model, tmp_path, capsys):
    plain, checked = tmp_path / "plain.tflite", tmp_path / "checked.tflite"
    assert main(["convert", model.pb_path, "-o", str(plain)]) == 0
    assert main(["convert", model.pb_path, "-o", str(checked), "--check-numerics", "--verify-each"]) == 0
    assert checked.read_bytes() == plain.read_bytes()
    assert "check-numerics" not in capsys.readouterr().err  # nothing to note: every pass kept the outputs


@pattern("tfl.relu6", name="test-drop-relu6")
def drop_relu6(node, rw):
    """A wrong fusion: the activation just disappears."""
    rw.replace_node(node, [node.inputs[0]])
    return True


def test_convert_check_numerics_names_a_broken_fusion(model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fusions, "FUSION_PATTERNS", [drop_relu6] + fusions.FUSION_PATTERNS)
    out, repro = tmp_path / "m.tflite", tmp_path / "repro"
    assert main(["convert", model.pb_path, "-o", str(out)]) == 0  # without the check, the wrong file is written
    capsys.readouterr()
    out.unlink()
    args = ["convert", model.pb_path, "-o", str(out), "--check-numerics", "--reproducer-dir", str(repro)]
    assert main(args) == 1  # a pass that changes numerics is a bug
    err = capsys.readouterr().err
    assert ("pass fuse-tflite (#11) broke the graph, after canonicalize, fold-constants, canonicalize, dce, "
            "lower-tensor-lists, sink-loop-constants, fold-empty-tensors, demote-float64, fuse-lstm-loops, lower-tflite: "
            "numerics changed: output 'y' differs") in err
    assert re.search(r"; the pass applied [^\n]*test-drop-relu6 x1", err)
    assert not out.exists()
    (name,) = [n for n in os.listdir(repro) if n.endswith(".ir")]  # (+ its .npz of constants)
    assert name == "reproducer-11-fuse-tflite.ir"
    text = (repro / name).read_text()
    assert ("// pipeline: canonicalize,fold-constants,canonicalize,dce,lower-tensor-lists,sink-loop-constants,"
            "fold-empty-tensors,demote-float64,fuse-lstm-loops,lower-tflite,fuse-tflite,dce") in text
    assert main(["opt", str(repro / name), "--check-numerics"]) == 1  # the reproducer reproduces
    assert "pass fuse-tflite (#11) broke the graph" in capsys.readouterr().err


def test_quantize_takes_the_instruments(model, calibration, tmp_path, capsys):
    float_model, plain, traced = tmp_path / "m.tflite", tmp_path / "q.tflite", tmp_path / "q-traced.tflite"
    assert main(["convert", model.pb_path, "-o", str(float_model)]) == 0
    args = ["quantize", str(float_model), "--mode", "int8", "--calibration", calibration, "--quiet"]
    assert main(args + ["-o", str(plain)]) == 0
    capsys.readouterr()
    assert main(args + ["-o", str(traced), "--print-ir-after-all", "--check-numerics", "--time-passes"]) == 0
    err = capsys.readouterr().err
    assert [h for h, _ in sections(err)] == ["quantize-int8/dce (#1.1)", "quantize-int8 (#1)"]
    note = re.search(r"check-numerics: quantize-int8 \(#1\) approximates by design: output 'y' max abs error (\S+) "
                     r"\(\|expected\| <= (\S+)\)", err)
    assert note, err
    error, top = float(note.group(1)), float(note.group(2))
    assert 0 < error < 0.1 * top  # int8's rounding, measured with the integer kernels on random inputs
    assert traced.read_bytes() == plain.read_bytes()


def test_opt_runs_a_prefix_of_the_compile(model, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert main(["convert", model.pb_path, "-o", str(out)]) == 0
    capsys.readouterr()
    front = "canonicalize,fold-constants,canonicalize,dce"
    assert main(["opt", model.pb_path, "-p", f"{front},lower-tflite", "--verify-each", "--check-numerics"]) == 0
    lowered = capsys.readouterr().out
    assert "tfl.conv_2d" in lowered and "tfl.relu6" in lowered and "core.conv2d" not in lowered
    assert main(["opt", model.pb_path, "-p", f"{front},lower-tflite,fuse-tflite,dce"]) == 0
    fused = capsys.readouterr().out
    written = [n.op for n in read_tflite(str(out)) if n.op != "core.const"]
    assert re.findall(r"= (tfl\.[a-z_0-9]+)\(", fused) == written == ["tfl.conv_2d"]


def test_backend_passes_are_listed_as_builtin(capsys):
    assert main(["passes"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name in ("lower-tflite", "fuse-tflite", "quantize-float16", "quantize-dynamic", "quantize-int8"):
        assert not lines[name].endswith("]"), lines[name]  # no [origin]: it ships with litesmith
    assert main(["passes", "quantize-int8"]) == 0
    out = capsys.readouterr().out
    assert "io_dtype = 'float32'" in out and "docs/passes/quantize-int8.md" in out
