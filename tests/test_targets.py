"""`--target litert|tflm|armnn`: the profiles judge the written bytes; convert refuses what a target rejects.

Whether the engines really take what the profiles pass is checked against the
engines themselves in test_target_engines.py (TFLM, Arm NN CpuRef) and
`make arm-check`.
"""
import json

import numpy as np
import pytest

import litesmith
from litesmith.backends.tflite import schema_generated as schema
from litesmith.backends.tflite.target_check import check_target, ops_used
from litesmith.cli import main

LM_PASSES = "strip-batch,unroll-rnn"


@pytest.fixture(scope="module")
def lm_calibration(seed_lm_v1, tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "ids.npz"
    vocab = seed_lm_v1.meta["sizes"]["vocab"]
    np.savez(path, inputids=np.random.default_rng(0).integers(0, vocab, (16, 12)).astype(np.int32))
    return path


@pytest.fixture(scope="module")
def lm_int8(seed_lm_v1, lm_calibration):
    """The seed LM as one int8 step, integer-only (bytes)."""
    return litesmith.compile(litesmith.load(seed_lm_v1.pb_path), passes=LM_PASSES, quantize="int8",
                             calibration=dict(np.load(lm_calibration)), integer_only=True, progress=False)


def test_bad_target_names_exit_2(seed_lm_v1, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    for args in (["convert", seed_lm_v1.pb_path, "-o", str(out), "--target", "coral"],
                 ["inspect", seed_lm_v1.pb_path, "--check", "--target", "coral"]):
        with pytest.raises(SystemExit) as exit_:  # argparse's own exit
            main(args)
        assert exit_.value.code == 2
        assert "invalid choice: 'coral' (choose from 'litert', 'tflm', 'armnn')" in capsys.readouterr().err
    assert not out.exists()


def test_truncated_tflite_checked_for_a_target_is_one_line(seed_lm_v1, tmp_path, capsys):
    """`inspect --check --target` walks the file lazily: a truncated one is bad input (exit 2, one
    line), never a traceback, for every target."""
    blob = bytes(litesmith.compile(litesmith.load(seed_lm_v1.pb_path), passes=LM_PASSES))
    for cut in (100, len(blob) // 2):
        path = tmp_path / f"cut{cut}.tflite"
        path.write_bytes(blob[:cut])
        for target in ("litert", "tflm", "armnn"):
            assert main(["inspect", str(path), "--check", "--target", target]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith("litesmith: error: ") and str(path) in err, err
            assert "not a valid TFLite flatbuffer" in err or "not a TFLite flatbuffer" in err, err


def test_float_lm_for_tflm_is_refused_one_line_per_problem(seed_lm_v1, tmp_path, capsys):
    out, report = tmp_path / "m.tflite", tmp_path / "r.json"
    args = ["convert", seed_lm_v1.pb_path, "-o", str(out), "--passes", LM_PASSES, "--target", "tflm", "--report", str(report)]
    assert main(args) == 2
    assert not out.exists()
    lines = capsys.readouterr().err.strip().splitlines()
    findings = json.loads(report.read_text())["target_findings"]
    assert len(lines) == 1 + len(findings) and findings
    assert all(" T003 not-integer-only: " in line and "--integer-only" in line for line in lines[1:])
    assert {f["op"] for f in findings} >= {"FULLY_CONNECTED", "SOFTMAX", "GATHER"}


def test_int8_lm_for_tflm_reports_resolver_and_arena(seed_lm_v1, lm_calibration, tmp_path, capsys):
    out, report = tmp_path / "m.tflite", tmp_path / "r.json"
    args = ["convert", seed_lm_v1.pb_path, "-o", str(out), "--passes", LM_PASSES, "--quantize", "int8",
            "--integer-only", "--calibration", str(lm_calibration), "--target", "tflm", "--report", str(report)]
    assert main(args) == 0, capsys.readouterr().err
    tflm = json.loads(report.read_text())["tflm"]
    blob = out.read_bytes()
    assert len(tflm["op_resolver"]) == len(ops_used(blob))
    assert {"AddGather()", "AddFullyConnected()", "AddSoftmax()", "AddQuantize()"} <= set(tflm["op_resolver"])
    pytest.importorskip("tflite_micro", reason="tflite-micro (pip install --pre tflite-micro) measures the arena")
    assert 0 < tflm["arena_bytes"] < len(blob)  # activations of one step: far smaller than the weights


def test_armnn_refuses_the_embedding_gather(lm_int8, tmp_path, capsys):
    path = tmp_path / "lm.tflite"
    path.write_bytes(lm_int8)
    assert main(["inspect", str(path), "--check", "--target", "armnn"]) == 1
    text = capsys.readouterr().out
    assert "T001 no-kernel: GATHER 'embedding_lookup'" in text and "Fix:" in text
    assert main(["inspect", str(path), "--check", "--target", "tflm"]) == 0
    assert "AddGather()" in capsys.readouterr().out
    assert check_target(lm_int8, "litert") == []


def _int8_requantizations(blob) -> int:
    """QUANTIZE ops reading an int8 tensor (int8 -> int8 requantization)."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(blob), 0)
    sg = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    return sum(codes[op.opcodeIndex] == schema.BuiltinOperator.QUANTIZE
               and sg.tensors[op.inputs[0]].type == schema.TensorType.INT8 for op in sg.operators)


def test_armnn_target_converts_the_whole_lm_step(seed_lm_step, tmp_path, capsys, litert_interpreter):
    """TF's hand-split LM step, int8 for Arm NN: the embedding GATHER becomes a one-hot FULLY_CONNECTED
    (the token id comes in as float32), no int8 -> int8 QUANTIZE is left (CpuAcc rounds it otherwise than
    CpuRef), nothing in the file is illegal for Arm NN 20.08, and it answers as TF does."""
    m = seed_lm_step
    ids_name, hid = m.meta["ids_name"], m.meta["sizes"]["hid"]
    rng = np.random.default_rng(0)
    calib = tmp_path / "calib.npz"
    np.savez(calib, **{ids_name: rng.integers(0, m.meta["sizes"]["vocab"], (16, 1)).astype(np.int32),
                       **{n: rng.normal(0, 0.5, (16, 1, hid)).astype(np.float32)
                          for pair in m.meta["state_names"] for n in pair}})
    blobs = {}
    for target in ("litert", "armnn"):
        out = tmp_path / f"{target}.tflite"
        args = ["convert", m.pb_path, "-o", str(out), "--quantize", "int8", "--integer-only", "--calibration",
                str(calib), "--target", target]
        assert main(args) == 0, capsys.readouterr().err
        blobs[target] = out.read_bytes()
    assert "GATHER" in ops_used(blobs["litert"]) and _int8_requantizations(blobs["litert"]) > 0
    assert "GATHER" not in ops_used(blobs["armnn"]) and _int8_requantizations(blobs["armnn"]) == 0
    assert check_target(blobs["armnn"], "armnn") == []
    for target, blob in blobs.items():
        interp = litert_interpreter(model_content=blob)
        interp.allocate_tensors()
        details = {d["name"]: d for d in interp.get_input_details()}
        for name, value in m.inputs.items():
            d = details[name]
            interp.set_tensor(d["index"], value.astype(d["dtype"]).reshape(d["shape"]))
        interp.invoke()
        got = {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
        for name, want in m.expected.items():
            err = np.max(np.abs(got[name].reshape(want.shape) - want))
            assert err <= 0.05 * max(1.0, float(np.max(np.abs(want)))), (target, name, err)


def wide_softmax_ir(classes: int) -> str:
    return (f"graph @main(%x: f32[1,{classes}]) {{\n  %y = core.softmax(%x) {{axis = -1}} : f32[1,{classes}]\n"
            "  return %y\n}\n")


def _softmax_input_types(blob) -> list:
    model = schema.ModelT.InitFromPackedBuf(bytearray(blob), 0)
    sg, names = model.subgraphs[0], {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    return [names[sg.tensors[op.inputs[0]].type] for op in sg.operators
            if codes[op.opcodeIndex] == schema.BuiltinOperator.SOFTMAX]


def test_tflm_target_computes_a_wide_int8_softmax_in_int16(tmp_path, capsys):
    """TFLM's reference int8 SOFTMAX aborts once a row's sum of exp(x - max) reaches 512 (flat scores;
    MobileNetV2's 1000 classes): the tflm profile reports T013 from 512 classes on (an exactly flat row
    of 512 sums to 512), and --target tflm computes such a SOFTMAX in int16 (softmax-int16)."""
    calib = tmp_path / "calib.npz"
    for classes, codes in ((511, []), (512, ["T013"])):
        model = tmp_path / f"softmax{classes}.ir"
        model.write_text(wide_softmax_ir(classes))
        np.savez(calib, x=np.random.default_rng(0).normal(0, 0.1, (8, 1, classes)).astype(np.float32))
        blob = litesmith.compile(litesmith.load(str(model)), quantize="int8", integer_only=True, progress=False,
                                 calibration=dict(np.load(calib)))
        assert [f.code for f in check_target(blob, "tflm")] == codes
        assert check_target(blob, "litert") == [] and check_target(blob, "armnn") == []
        out = tmp_path / f"softmax{classes}.tflite"
        args = ["convert", str(model), "-o", str(out), "--quantize", "int8", "--integer-only", "--calibration",
                str(calib), "--target", "tflm"]
        assert main(args) == 0, capsys.readouterr().err
        assert check_target(out.read_bytes(), "tflm") == []
        assert _softmax_input_types(out.read_bytes()) == (["INT16"] if codes else ["INT8"])
    path = tmp_path / "softmax512.tflite"
    path.write_bytes(blob)
    assert main(["inspect", str(path), "--check", "--target", "tflm"]) == 1
    out = capsys.readouterr().out
    assert "T013 softmax-width: SOFTMAX 'y/int8': int8 SOFTMAX over 512 classes" in out and "--target tflm" in out


def test_int8_cnn_passes_every_target(small_graphs, tmp_path, capsys):
    m = small_graphs["conv_bn_relu6"]
    (name,) = m.input_names
    x = m.inputs[name]
    calib = tmp_path / "calib.npz"
    np.savez(calib, **{name: np.stack([x + np.random.default_rng(i).normal(0, 0.1, x.shape).astype(x.dtype) for i in range(8)])})
    for target in ("litert", "tflm", "armnn"):
        out = tmp_path / f"{target}.tflite"
        args = ["convert", m.pb_path, "-o", str(out), "--quantize", "int8", "--integer-only", "--calibration", str(calib),
                "--target", target]
        assert main(args) == 0, capsys.readouterr().err
        assert main(["inspect", str(out), "--check", "--target", target, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["ok"]


def _repacked(blob, edit) -> bytes:
    import flatbuffers

    model = schema.ModelT.InitFromPackedBuf(bytearray(blob), 0)
    edit(model)
    builder = flatbuffers.Builder(len(blob) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_external_buffers_are_named(lm_int8):
    """Weights stored outside the flatbuffer (Buffer.offset/size, as other writers do for big models):
    TFLM misreads them."""
    def outside(model):
        index = next(i for i, b in enumerate(model.buffers) if b.data is not None and len(b.data) > 64)
        model.buffers[index].offset, model.buffers[index].size = 1 << 20, len(model.buffers[index].data)
        model.buffers[index].data = None

    tflm = check_target(_repacked(lm_int8, outside), "tflm")
    assert [f.code for f in tflm] == ["T005"] and "outside the flatbuffer" in tflm[0].reason


def test_armnn_target_quantizes_dense_weights_per_tensor(small_graphs, litert_interpreter, tmp_path, capsys):
    """Arm NN 20.08 refuses per-channel FULLY_CONNECTED weights; --target armnn writes one scale each,
    and the model still answers as TF does."""
    m = small_graphs["mlp"]
    (name,) = m.input_names
    x = m.inputs[name]
    calib = tmp_path / "calib.npz"
    rng = np.random.default_rng(0)
    np.savez(calib, **{name: np.stack([x + rng.normal(0, 0.1, x.shape).astype(x.dtype) for _ in range(16)])})
    scales = {}
    for target in ("litert", "armnn"):
        out = tmp_path / f"{target}.tflite"
        args = ["convert", m.pb_path, "-o", str(out), "--quantize", "int8", "--calibration", str(calib), "--target", target]
        assert main(args) == 0, capsys.readouterr().err
        blob = out.read_bytes()
        model = schema.ModelT.InitFromPackedBuf(bytearray(blob), 0)
        fc = {i for i, c in enumerate(model.operatorCodes)
              if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED}
        sg = model.subgraphs[0]
        scales[target] = [len(sg.tensors[op.inputs[1]].quantization.scale) for op in sg.operators if op.opcodeIndex in fc]
        interp = litert_interpreter(model_content=blob)
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x.reshape(interp.get_input_details()[0]["shape"]))
        interp.invoke()
        got = interp.get_tensor(interp.get_output_details()[0]["index"])
        (want,) = m.expected.values()
        assert np.max(np.abs(got.reshape(want.shape) - want)) <= 0.1 * max(float(np.max(np.abs(want))), 1.0)
    assert scales["armnn"] and set(scales["armnn"]) == {1}
    if any(n > 1 for n in scales["litert"]):  # the default is per channel where rows are long
        assert {f.code for f in check_target((tmp_path / "litert.tflite").read_bytes(), "armnn")} == {"T011"}


def test_an_omitted_input_is_named_for_armnn(lm_int8):
    """TF's converter writes a bias-less FULLY_CONNECTED as inputs [x, w, -1]; Arm NN 20.08's parser refuses
    any -1 ("must be non-negative"), LiteRT takes it."""
    def omitted_bias(model):
        fc = next(i for i, c in enumerate(model.operatorCodes)
                  if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED)
        op = next(op for op in model.subgraphs[0].operators if op.opcodeIndex == fc)
        op.inputs = list(op.inputs[:2]) + [-1]

    blob = _repacked(lm_int8, omitted_bias)
    assert "T012" in {f.code for f in check_target(blob, "armnn")}
    assert check_target(blob, "litert") == [] and check_target(blob, "tflm") == []
