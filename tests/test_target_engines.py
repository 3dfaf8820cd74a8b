"""The targets' own engines run what the profiles pass: TFLite Micro and Arm NN CpuRef vs LiteRT, in int8 steps.

TFLM is the ``tflite-micro`` wheel (dev extra, x86_64). Arm NN 20.08 is
Debian's packages unpacked by ``make arm-check`` (or ``ARMNN_ROOT``), run by
the system python3; the tests skip, saying so, where either is absent.
"""
import numpy as np
import pytest

import litesmith
from litesmith.backends.tflite.target_check import check_target

import target_engines as E

LM_PASSES = "strip-batch,unroll-rnn"
STEPS = 12


def _tflm():
    pytest.importorskip("tflite_micro", reason="TFLite Micro absent: pip install --pre tflite-micro (x86_64)")


def _armnn_root():
    root = E.armnn_root()
    if root is None:
        pytest.skip("Arm NN 20.08 absent: `make arm-check` unpacks Debian's packages (or set ARMNN_ROOT)")
    return root


@pytest.fixture(scope="module")
def lm_case(seed_lm_v1):
    """The seed LM as one int8 integer-only step, and STEPS steps with the state threaded."""
    vocab = seed_lm_v1.meta["sizes"]["vocab"]
    calib = {"inputids": np.random.default_rng(0).integers(0, vocab, (16, 12)).astype(np.int32)}
    blob = litesmith.compile(litesmith.load(seed_lm_v1.pb_path), passes=LM_PASSES, quantize="int8",
                             calibration=calib, integer_only=True, progress=False)
    ins, _ = E.io_names(blob)
    hid = seed_lm_v1.meta["sizes"]["hid"]
    pairs = {n: n + "_out" for n in ins[1:]}
    ids = np.random.default_rng(1).integers(0, vocab, STEPS)
    steps = [{"inputids": np.array(t, np.int32), **({n: np.zeros(hid, np.float32) for n in pairs} if k == 0 else {})}
             for k, t in enumerate(ids)]
    return blob, steps, pairs


@pytest.fixture(scope="module")
def cnn_case(small_graphs):
    m = small_graphs["conv_bn_relu6"]
    (name,) = m.input_names
    x = m.inputs[name]
    rng = np.random.default_rng(0)
    calib = {name: np.stack([x + rng.normal(0, 0.1, x.shape).astype(x.dtype) for _ in range(8)])}
    blob = litesmith.compile(litesmith.load(m.pb_path), quantize="int8", calibration=calib, integer_only=True,
                             progress=False)
    steps = [{name: x + rng.normal(0, 0.1, x.shape).astype(x.dtype)} for _ in range(4)]
    return blob, steps


def test_tflm_runs_the_lm_step_as_litert_does(lm_case):
    _tflm()
    blob, steps, pairs = lm_case
    assert check_target(blob, "tflm") == []
    lsb = E.output_lsb(blob)
    ref, got = E.run_litert(blob, steps[:1]), E.run_tflm(blob, steps[:1])
    assert E.max_lsb(ref, got, lsb) <= 3  # one step from the zero state: kernels differ in rounding only
    threaded_ref, threaded = E.run_litert(blob, steps, pairs), E.run_tflm(blob, steps, pairs)
    probs = {"probs": lsb["probs"]}
    assert E.max_lsb([{"probs": s["probs"]} for s in threaded_ref], [{"probs": s["probs"]} for s in threaded], probs) <= 3


def test_tflm_runs_the_cnn_as_litert_does(cnn_case):
    _tflm()
    blob, steps = cnn_case
    assert check_target(blob, "tflm") == []
    assert E.max_lsb(E.run_litert(blob, steps), E.run_tflm(blob, steps), E.output_lsb(blob)) <= 1


def test_tflm_aborts_where_the_profile_says_t013(tmp_path):
    """The tflm profile's limit on an int8 SOFTMAX (511 classes) is TFLM's own: flat scores over 511 classes
    run, over 512 the reference kernel's RoundingDivideByPOT assertion aborts the process."""
    import subprocess
    import sys

    _tflm()
    from test_targets import wide_softmax_ir

    codes = {}
    for classes in (511, 512):
        path = tmp_path / f"softmax{classes}.ir"
        path.write_text(wide_softmax_ir(classes))
        calib = {"x": np.random.default_rng(0).normal(0, 0.1, (8, 1, classes)).astype(np.float32)}
        blob = litesmith.compile(litesmith.load(str(path)), quantize="int8", integer_only=True, calibration=calib,
                                 progress=False)
        (tmp_path / "m.tflite").write_bytes(blob)
        probe = ("import sys, numpy as np; from tflite_micro.python.tflite_micro import runtime; "
                 "i = runtime.Interpreter.from_bytes(open(sys.argv[1], 'rb').read(), arena_size=1 << 20); "
                 f"i.set_input(np.full((1, {classes}), 0.01, np.float32), 0); i.invoke()")
        codes[classes] = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "m.tflite")],
                                        capture_output=True).returncode
        assert [f.code for f in check_target(blob, "tflm")] == ([] if classes == 511 else ["T013"])
    assert codes == {511: 0, 512: -6}  # SIGABRT
    tflm = litesmith.compile(litesmith.load(str(path)), quantize="int8", integer_only=True, calibration=calib,
                             target="tflm", progress=False)  # softmax-int16: 512 flat classes run
    steps = [{"x": np.full((1, 512), 0.01, np.float32)}, {"x": calib["x"][0]}]
    assert E.max_lsb(E.run_litert(tflm, steps), E.run_tflm(tflm, steps), E.output_lsb(tflm)) <= 1


def test_armnn_cpuref_runs_the_cnn_as_litert_does(cnn_case):
    root = _armnn_root()
    blob, steps = cnn_case
    assert check_target(blob, "armnn") == []
    assert E.max_lsb(E.run_litert(blob, steps), E.run_armnn(blob, steps, root=root), E.output_lsb(blob)) <= 1


def test_armnn_refuses_what_the_profile_refuses(lm_case):
    """The profile's GATHER finding is Arm NN's own parser error."""
    root = _armnn_root()
    blob, steps, pairs = lm_case
    findings = check_target(blob, "armnn")
    assert findings[0].op == "GATHER" and {f.code for f in findings} == {"T001", "T010", "T011"}
    # T010: a rank-1 dense input; T011: per-channel dense weights (litesmith's default int8)
    with pytest.raises(E.ArmnnUnavailable, match="GATHER"):
        E.run_armnn(blob, steps[:1], root=root)


def test_armnn_cpuref_runs_the_dense_model_as_litert_does(small_graphs):
    """FULLY_CONNECTED layers compiled for --target armnn (per-tensor weights) run in Arm NN."""
    root = _armnn_root()
    m = small_graphs["mlp"]
    (name,) = m.input_names
    x = m.inputs[name]
    rng = np.random.default_rng(0)
    calib = {name: np.stack([x + rng.normal(0, 0.1, x.shape).astype(x.dtype) for _ in range(16)])}
    blob = litesmith.compile(litesmith.load(m.pb_path), quantize="int8", calibration=calib, integer_only=True,
                             target="armnn", progress=False)
    assert check_target(blob, "armnn") == []
    steps = [{name: x + rng.normal(0, 0.1, x.shape).astype(x.dtype)} for _ in range(4)]
    assert E.max_lsb(E.run_litert(blob, steps), E.run_armnn(blob, steps, root=root), E.output_lsb(blob)) <= 1


def test_armnn_cpuref_runs_the_whole_lm(seed_lm_v1):
    """--target armnn makes the LM's embedding GATHER a one-hot FULLY_CONNECTED (embedding-one-hot; the
    token id as float32) and its dense layers [1, K] (dense-rank2): Arm NN 20.08 then runs the whole
    model, ids in, as LiteRT does, with the state threaded."""
    root = _armnn_root()
    vocab = seed_lm_v1.meta["sizes"]["vocab"]
    calib = {"inputids": np.random.default_rng(0).integers(0, vocab, (16, 12)).astype(np.int32)}
    blob = litesmith.compile(litesmith.load(seed_lm_v1.pb_path), passes=LM_PASSES, quantize="int8",
                             calibration=calib, integer_only=True, target="armnn", progress=False)
    assert check_target(blob, "armnn") == []
    hid = seed_lm_v1.meta["sizes"]["hid"]
    pairs = {n: n + "_out" for n in E.io_names(blob)[0][1:]}
    tokens = np.random.default_rng(1).integers(0, vocab, STEPS)
    steps = [{"inputids": np.array(t, np.int32), **({n: np.zeros(hid, np.float32) for n in pairs} if k == 0 else {})}
             for k, t in enumerate(tokens)]
    lsb = E.output_lsb(blob)
    ref, got = E.run_litert(blob, steps, pairs), E.run_armnn(blob, steps, pairs, root=root)
    assert E.max_lsb(ref[:1], got[:1], lsb) <= 1
    assert E.max_lsb(ref, got, lsb) <= 3  # CpuRef and LiteRT x86 round alike: 0 LSB measured (docs/targets.md)


def test_armnn_refuses_an_omitted_input_as_the_profile_says(small_graphs):
    import flatbuffers

    from litesmith.backends.tflite import schema_generated as schema

    root = _armnn_root()
    m = small_graphs["mlp"]
    (name,) = m.input_names
    x = m.inputs[name]
    blob = litesmith.compile(litesmith.load(m.pb_path), target="armnn", progress=False)
    model = schema.ModelT.InitFromPackedBuf(bytearray(blob), 0)
    fc = next(i for i, c in enumerate(model.operatorCodes)
              if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED)
    op = next(op for op in model.subgraphs[0].operators if op.opcodeIndex == fc)
    op.inputs = list(op.inputs[:2]) + [-1]  # as TF's converter writes a bias-less dense layer
    builder = flatbuffers.Builder(len(blob) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    edited = bytes(builder.Output())
    assert [f.code for f in check_target(edited, "armnn")] == ["T012"]
    with pytest.raises(E.ArmnnUnavailable, match="non-negative"):
        E.run_armnn(edited, [{name: x}], root=root)
