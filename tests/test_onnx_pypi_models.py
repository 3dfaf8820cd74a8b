"""Real pretrained models from PyPI wheels (tests/onnx_pypi_models.py): each converts with the
default pipeline and matches onnxruntime in LiteRT (1e-4 of the largest output); the VAD runs one
chunk per call with its state threaded, at every step. Skipped unless
``benchmarks/onnx_pypi_models.py --fetch`` has filled benchmarks/.cache (tests download nothing)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import onnx

import litesmith
from litesmith.frontends.onnx import load_onnx
from onnx_models import run_ort, run_tflite
from onnx_pypi_models import BY_KEY, prepare, sample_inputs, vad_steps


def _converted(key):
    m = BY_KEY[key]
    if not os.path.exists(m.path):
        pytest.skip(f"{m.path} absent: run benchmarks/onnx_pypi_models.py --fetch")
    proto = onnx.load(m.path)
    graph = load_onnx(prepare(proto, key).SerializeToString(), input_shapes=m.input_shapes)
    assert not [n.op for n in graph.walk() if n.op.startswith("onnx.") or n.op == "core.if"]  # all mapped
    return m, proto, litesmith.compile(graph)


@pytest.mark.parametrize("key", ["ppocr-cls", "ppocr-det"])
def test_ppocr_models_match_onnxruntime_in_litert(key, litert_interpreter):
    m, proto, blob = _converted(key)
    feeds = sample_inputs(m)
    want = run_ort(proto, feeds)
    got, ops = run_tflite(litert_interpreter, blob, feeds)
    assert ops["CONV_2D"] > 10 and "WHILE" not in ops
    for name, w in want.items():
        err = float(np.max(np.abs(got[name] - w)))
        assert err <= 1e-4 * max(1.0, float(np.max(np.abs(w)))), (name, err)


def test_silero_vad_runs_one_chunk_per_call_with_state_threaded(litert_interpreter):
    m, proto, blob = _converted("silero-vad")
    worst = vad_steps(lambda feeds: run_ort(proto, feeds),
                      lambda feeds: run_tflite(litert_interpreter, blob, feeds)[0], steps=6)
    assert worst <= 1e-4, worst
    _, ops = run_tflite(litert_interpreter, blob, {"input": np.zeros((1, 512), np.float32),
                                                   "state": np.zeros((2, 1, 128), np.float32)})
    assert "WHILE" not in ops and "IF" not in ops and ops["FULLY_CONNECTED"] >= 1
