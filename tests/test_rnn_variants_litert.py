"""RNN cell variants end to end: convert with strip-batch,unroll-rnn,fold-constants, run one
step at a time in LiteRT with the state threaded through, compare with TF's dynamic_rnn /
Keras output at every step (and the final state where the graph outputs it)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from litesmith.backends.tflite import read_tflite
from litesmith.cli import main

PASSES = "strip-batch,unroll-rnn,fold-constants"
FORBIDDEN = {"WHILE", "SHAPE", "RANGE", "FILL"}
HID, PROJ = 5, 3

# case id -> (fixture, variant or None, passes, expected state shapes)
CASES = {
    **{
        f"{variant}-{form}": (f"rnn_cells_{form}", variant, passes, shapes)
        for form in ("v1", "v2")
        for variant, passes, shapes in (
            ("gru", PASSES, [[HID]]),
            ("basic_rnn", PASSES, [[HID]]),
            ("lstm_peephole_proj", PASSES, [[HID], [PROJ]]),
            ("stacked_basic_lstm", PASSES, [[HID]] * 6),
            # time-major input [T, B, F]: the batch is axis 1
            ("time_major", PASSES, [[HID]] * 2),
            ("final_state", PASSES, [[HID]] * 2),
        )
    },
    "keras_lstm-v2": ("keras_lstm_v2", None, PASSES, [[HID]] * 2),
    "keras_gru-v2": ("keras_gru_v2", None, PASSES, [[HID]]),
}


def _litert(litert_interpreter, path):
    from ai_edge_litert.interpreter import OpResolverType

    it = litert_interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def _convert(model, passes, tmp_path_factory):
    out = tmp_path_factory.mktemp("rnn_litert") / f"{model.name}.tflite"
    assert main(["convert", model.pb_path, "-o", str(out), "--passes", passes]) == 0
    return str(out)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, tmp_path_factory):
    """(model, tflite path, expected state shapes), converted once per module."""
    fixture, variant, passes, shapes = CASES[request.param]
    model = request.getfixturevalue(fixture)
    model = model[variant] if variant else model
    return model, _convert(model, passes, tmp_path_factory), shapes


def _run_steps(it, x_name, steps_by_row, pairs):
    """Feed each row's steps from zero state; yields (row, t, {output name: value})."""
    index = {d["name"]: d["index"] for d in it.get_input_details() + it.get_output_details()}
    out_names = [d["name"] for d in it.get_output_details()]
    for b, steps in enumerate(steps_by_row):
        state = {p["input"]: np.zeros(p["shape"], np.float32) for p in pairs}
        for t, feed in enumerate(steps):
            it.set_tensor(index[x_name], feed[0])
            for name, value in {**feed[1], **state}.items():
                it.set_tensor(index[name], value)
            it.invoke()
            out = {n: it.get_tensor(index[n]).copy() for n in out_names}
            yield b, t, out
            state = {p["input"]: out[p["output"]] for p in pairs}


def test_single_step_model_matches_tf_every_step(case, litert_interpreter):
    model, path, shapes = case
    pairs = json.loads(read_tflite(path).meta["litesmith.state"])
    assert [p["shape"] for p in pairs] == shapes
    it = _litert(litert_interpreter, path)
    assert not FORBIDDEN & {op["op_name"] for op in it._get_ops_details()}
    inputs = {d["name"]: d for d in it.get_input_details()}
    (x_name,) = set(model.input_names)
    assert set(inputs) == {x_name} | {p["input"] for p in pairs}
    time_major = model.meta.get("time_major", False)
    x = model.inputs[x_name]
    x = np.swapaxes(x, 0, 1) if time_major else x  # -> [B, T, F]
    assert list(inputs[x_name]["shape"]) == [x.shape[2]]  # one step, no batch, no time
    (seq_out,) = [n for n in model.output_names if n not in ("final_c", "final_h")]
    expected = model.expected[seq_out]
    expected = np.swapaxes(expected, 0, 1) if time_major else expected
    worst = 0.0
    rows = [[(row[t], {}) for t in range(x.shape[1])] for row in x]
    for b, t, out in _run_steps(it, x_name, rows, pairs):
        worst = max(worst, float(np.abs(out[seq_out].reshape(-1) - expected[b, t]).max()))
        if t == x.shape[1] - 1 and "final_c" in model.expected:
            for name in ("final_c", "final_h"):
                worst = max(worst, float(np.abs(out[name] - model.expected[name][b]).max()))
    assert worst <= 1e-5, f"{model.name}: max abs err {worst}"


def test_sequence_length_mask_disappears_in_single_step_model(rnn_cells, litert_interpreter, tmp_path_factory):
    """A fed step is always inside its sequence: unroll-rnn folds ``time >= sequence_length`` to
    false, the selects collapse to the cell's values and the lengths input is dropped. Feeding
    each row's real steps (t < its length) reproduces TF's outputs and final state."""
    model = rnn_cells["sequence_length"]
    path = _convert(model, "strip-batch{mode=pin},unroll-rnn,fold-constants", tmp_path_factory)
    pairs = json.loads(read_tflite(path).meta["litesmith.state"])
    assert [p["shape"] for p in pairs] == [[1, HID]] * 2
    it = _litert(litert_interpreter, path)
    ops = {op["op_name"] for op in it._get_ops_details()}
    assert not (FORBIDDEN | {"SELECT", "SELECT_V2", "GREATER_EQUAL"}) & ops
    assert {d["name"] for d in it.get_input_details()} == {"inputs"} | {p["input"] for p in pairs}
    x, lengths = model.inputs["inputs"], model.inputs["sequence_length"]
    expected = model.expected["output"]
    rows = [[(x[b, t][None], {}) for t in range(lengths[b])] for b in range(x.shape[0])]
    worst, last = 0.0, {}
    for b, t, out in _run_steps(it, "inputs", rows, pairs):
        worst = max(worst, float(np.abs(out["output"].reshape(-1) - expected[b, t]).max()))
        last[b] = out["output"].reshape(-1)
    assert worst <= 1e-5, f"{model.name}: max abs err {worst}"
    assert lengths.min() < x.shape[1]  # a row shorter than the sequence was exercised
    for b in range(x.shape[0]):  # TF's last real output is the row's final h
        assert np.allclose(last[b], expected[b, lengths[b] - 1], atol=1e-5)


def test_sequence_length_batch_reduction_refused_for_batch_of_two(rnn_cells, tmp_path, capsys):
    """The lengths' max over a batch of 2 mixes rows: plain strip-batch refuses it in one line."""
    model = rnn_cells["sequence_length"]
    out = tmp_path / "seq.tflite"
    assert main(["convert", model.pb_path, "-o", str(out), "--passes", PASSES]) == 2
    err = capsys.readouterr().err
    assert "rnn/Max" in err and "batch size 2" in err and "mode=pin" in err and "Traceback" not in err
    assert not out.exists()


def test_time_major_axis_0_forced_says_use_axis_1(rnn_cells, tmp_path, capsys):
    """Forcing axis 0 on a time-major input (the time the loop steps over): a one-line error says what to pass."""
    model = rnn_cells["time_major"]
    out = tmp_path / "tm.tflite"
    assert main(["convert", model.pb_path, "-o", str(out), "--passes", "strip-batch{axis=0},unroll-rnn,fold-constants"]) == 2
    err = capsys.readouterr().err
    assert "tensor_list_from_tensor" in err and "strip-batch{axis=1}" in err and "Traceback" not in err
    assert not out.exists()
