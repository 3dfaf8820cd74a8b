"""The seed's LM end to end: `litesmith convert --passes strip-batch,unroll-rnn,fold-constants`
gives a one-token model that the stock LiteRT interpreter runs step by step, the state threaded
through by the "litesmith.state" metadata, reproducing TF's full-sequence softmax at every step."""
from __future__ import annotations

import json

import numpy as np
import pytest

from litesmith.backends.tflite import read_tflite
from litesmith.cli import main

PASSES = "strip-batch,unroll-rnn,fold-constants"
# Loop and shape machinery that must not survive into the single-step model.
FORBIDDEN = {"WHILE", "SHAPE", "RANGE", "FILL", "TENSOR_LIST_RESERVE", "TENSOR_LIST_SET_ITEM", "TENSOR_LIST_GET_ITEM"}


@pytest.fixture(scope="module", params=["v1", "v2"])
def converted(request, tmp_path_factory):
    """(model, tflite path) for seed_lm_v1 / seed_lm_v2, converted once per module."""
    model = request.getfixturevalue(f"seed_lm_{request.param}")
    out = tmp_path_factory.mktemp("seed_lm_litert") / f"{model.name}.tflite"
    assert main(["convert", model.pb_path, "-o", str(out), "--passes", PASSES]) == 0
    return model, str(out)


def _litert(litert_interpreter, path):
    from ai_edge_litert.interpreter import OpResolverType

    # No XNNPACK delegate, so the op list shows the model's own operators.
    it = litert_interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def test_interface_one_token_and_four_states(converted, litert_interpreter):
    model, path = converted
    hid = model.meta["sizes"]["hid"]
    it = _litert(litert_interpreter, path)
    inputs = {d["name"]: d for d in it.get_input_details()}
    assert list(inputs["inputids"]["shape"]) == [] and inputs["inputids"]["dtype"] == np.int32
    pairs = json.loads(read_tflite(path).meta["litesmith.state"])
    assert len(pairs) == 2 * model.meta["sizes"]["layers"] == 4
    assert set(inputs) == {"inputids"} | {p["input"] for p in pairs}
    outputs = {d["name"] for d in it.get_output_details()}
    assert outputs == {"probs"} | {p["output"] for p in pairs}
    for p in pairs:
        assert p["shape"] == [hid] and list(inputs[p["input"]]["shape"]) == [hid]


def test_no_loop_or_shape_ops(converted, litert_interpreter):
    _, path = converted
    runtime_ops = {op["op_name"] for op in _litert(litert_interpreter, path)._get_ops_details()}
    assert runtime_ops and not FORBIDDEN & runtime_ops, runtime_ops
    ir_ops = {n.op for n in read_tflite(path).walk()}
    assert not {"tfl." + op.lower() for op in FORBIDDEN} & ir_ops, ir_ops
    assert "FULLY_CONNECTED" in runtime_ops and "SOFTMAX" in runtime_ops


def test_one_token_at_a_time_reproduces_tf(converted, litert_interpreter):
    """Every batch row, fed token by token from zero state, matches TF's probs row b*T+t."""
    model, path = converted
    pairs = json.loads(read_tflite(path).meta["litesmith.state"])
    it = _litert(litert_interpreter, path)
    index = {d["name"]: d["index"] for d in it.get_input_details() + it.get_output_details()}
    ids = model.inputs["inputids"]
    batch, steps = ids.shape
    expected = model.expected["probs"]
    worst = 0.0
    for b in range(batch):
        state = {p["input"]: np.zeros(p["shape"], np.float32) for p in pairs}
        for t in range(steps):
            it.set_tensor(index["inputids"], np.asarray(ids[b, t], np.int32))
            for name, value in state.items():
                it.set_tensor(index[name], value)
            it.invoke()
            probs = it.get_tensor(index["probs"]).reshape(-1)
            worst = max(worst, float(np.abs(probs - expected[b * steps + t]).max()))
            state = {p["input"]: it.get_tensor(index[p["output"]]).copy() for p in pairs}
    assert worst <= 1e-5, f"{model.name}: max abs err {worst}"


def test_inspect_json_shows_state(converted, capsys):
    model, path = converted
    hid = model.meta["sizes"]["hid"]
    assert main(["inspect", path, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    state = summary["state"]
    assert len(state) == 4
    for pair in state:
        assert {"input", "output", "shape"} <= set(pair)
        assert pair["shape"] == [hid]
    input_names = {i["name"] for i in summary["inputs"]}
    output_names = {o["name"] for o in summary["outputs"]}
    assert {p["input"] for p in state} <= input_names and {p["output"] for p in state} <= output_names
