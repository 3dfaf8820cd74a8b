"""decode-step on decoders built with TensorFlow the ways users write them (tests/decoder_models.py):
the step runs in LiteRT token by token with the K/V caches threaded from zeros and matches TF's
whole-sequence output at every position; every FULLY_CONNECTED works on one row. Non-causal graphs
are refused in one line naming the node."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from decoder_models import FORMS, build_decoder, with_mask

import litesmith
from litesmith.ir import UserError
from litesmith.ir.state import graph_state

PIPELINE = "strip-batch,decode-step,fold-constants"


@pytest.fixture(scope="session")
def decoders(tf, tmp_path_factory):
    """form name -> (frozen .pb path, ids [1, T], TF's output [1, T, vocab]); built once per session."""
    built = {}

    def get(name, form=None):
        if name not in built:
            path = tmp_path_factory.mktemp("decoders") / f"{name}.pb"
            ids, want = build_decoder(tf, path, form or FORMS[name])
            built[name] = (path, ids, next(iter(want.values())))
        return built[name]

    return get


def step_in_litert(litert, blob, ids):
    """Run the step model token by token from zero caches: (outputs per position, the interpreter)."""
    interp = litert(model_content=blob)
    runner = interp.get_signature_runner("serving_default")
    caches = {k: np.zeros(v["shape"], np.float32) for k, v in runner.get_input_details().items() if k.startswith("cache/")}
    outputs = []
    for t, token in enumerate(ids):
        got = runner(ids=np.array([token], np.int32), position=np.array(t, np.int32), **caches)
        caches = {k[:-len("_out")]: v for k, v in got.items() if k.endswith("_out")}
        outputs.append(next(v for k, v in got.items() if not k.startswith("cache/")))
    return outputs, interp


def fully_connected_rows(interp):
    tensors = {t["index"]: t["shape"] for t in interp.get_tensor_details()}
    return [int(np.prod(tensors[d["outputs"][0]][:-1])) for d in interp._get_ops_details()
            if d["op_name"] == "FULLY_CONNECTED"]


@pytest.mark.parametrize("name", list(FORMS))
def test_step_matches_the_whole_sequence_at_every_position(decoders, litert_interpreter, name):
    path, ids, want = decoders(name)
    graph = litesmith.optimize(litesmith.load(str(path)), PIPELINE)
    state = graph_state(graph)
    assert [p.input for p in state] == [f"cache/{k // 2}/{'value' if k % 2 else 'key'}" for k in range(len(state))]
    assert len(state) == 2 * FORMS[name].blocks
    assert [v.name for v in graph.inputs][:2] == ["ids", "position"]
    outputs, interp = step_in_litert(litert_interpreter, litesmith.compile(graph), ids[0])
    for t, got in enumerate(outputs):
        np.testing.assert_allclose(got[0], want[0, t], atol=1e-5, rtol=1e-5, err_msg=f"position {t}")
    rows = fully_connected_rows(interp)
    assert rows and set(rows) == {1}
    assert "DYNAMIC_UPDATE_SLICE" in {d["op_name"] for d in interp._get_ops_details()}


@pytest.mark.parametrize("mask", ["none", "leaky"])
def test_non_causal_attention_is_refused_naming_the_node(decoders, mask):
    """A band_part mask that keeps every key (bidirectional) or the next one too (leaky)."""
    path, _, _ = decoders(f"raw_tf_{mask}", with_mask(FORMS["raw_tf_post_ln_tanh"], mask))
    with pytest.raises(UserError, match=r"decode-step: core\.add node 'add_\d+' is not a causal mask: it lets position 0 see the later position 1"):
        litesmith.optimize(litesmith.load(str(path)), PIPELINE)


def test_bidirectional_keras_encoder_is_refused_by_the_cli(decoders, tmp_path):
    path, _, _ = decoders("keras3_encoder", with_mask(FORMS["keras3"], "none"))
    proc = subprocess.run([sys.executable, "-m", "litesmith", "convert", str(path), "-o", str(tmp_path / "x.tflite"),
                           "--passes", PIPELINE], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Softmax" in lines[0] and "no causal mask" in lines[0], proc.stderr
    assert not (tmp_path / "x.tflite").exists()


def test_int8_step_keeps_float_caches_and_tracks_the_float_model(decoders, litert_interpreter):
    """quantize{mode=int8} on the step, calibrated on token sequences threaded through it: the caches
    stay float32 state I/O, every FULLY_CONNECTED is int8, the masked attention softmax stays float
    (its -1e9 fill leaves int8 no resolution); outputs stay near TF's at every position."""
    path, ids, want = decoders("keras3")
    form = FORMS["keras3"]
    graph = litesmith.optimize(litesmith.load(str(path)), PIPELINE)
    rng = np.random.default_rng(5)
    calibration = {"ids": rng.integers(0, form.vocab, (8, form.length, 1)).astype(np.int32),
                   "position": np.tile(np.arange(form.length, dtype=np.int32), (8, 1))}
    blob = litesmith.compile(graph, quantize="int8", calibration=calibration)
    outputs, interp = step_in_litert(litert_interpreter, blob, ids[0])
    caches = [d for d in interp.get_input_details() if d["name"].startswith("cache/")]
    assert len(caches) == 2 and all(d["dtype"] == np.float32 for d in caches)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    assert {tensors[d["inputs"][1]]["dtype"] for d in ops if d["op_name"] == "FULLY_CONNECTED"} == {np.int8}
    assert {tensors[d["outputs"][0]]["dtype"] for d in ops if d["op_name"] == "SOFTMAX"} == {np.float32}
    got = np.stack([o[0] for o in outputs])
    scale = np.abs(want[0]).mean()
    assert np.abs(got - want[0]).mean() < 0.1 * scale, (np.abs(got - want[0]).mean(), scale)


def test_inspect_json_lists_the_cache_pairs_as_state(decoders, tmp_path):
    path, _, _ = decoders("keras3_2blocks_post_ln")
    out = tmp_path / "step.tflite"
    subprocess.run([sys.executable, "-m", "litesmith", "convert", str(path), "-o", str(out), "--passes", PIPELINE],
                   check=True, capture_output=True)
    proc = subprocess.run([sys.executable, "-m", "litesmith", "inspect", "--json", str(out)],
                          check=True, capture_output=True, text=True)
    summary = json.loads(proc.stdout)
    inputs = {d["name"]: d for d in summary["inputs"]}
    assert inputs["ids"]["shape"] == [1] and inputs["position"]["shape"] == [] and inputs["position"]["dtype"] == "i32"
    assert [(p["input"], p["output"], p["initial"]) for p in summary["state"]] == [
        (f"cache/{k}/{role}", f"cache/{k}/{role}_out", "zeros") for k in range(2) for role in ("key", "value")]
    assert all(p["shape"] == inputs[p["input"]]["shape"] for p in summary["state"])
