"""Pretrained ONNX models from PyPI wheels (issue 15): PP-OCR mobile's text-direction classifier and
text detector from ``rapidocr-onnxruntime``, and the streaming LSTM voice-activity model of
``silero-vad``. ``benchmarks/onnx_pypi_models.py --fetch`` downloads the wheels with pip into
benchmarks/.cache and extracts the .onnx files; tests only read that cache (they skip without it).

Each entry: the file, the input shapes to convert with, and how to feed it. The VAD model takes the
sample rate as an input and branches on it (``If``): the device runs one rate, so ``prepare`` makes
``sr`` a constant 16000 first (the If then folds away when the model is lifted); it runs one
512-sample chunk per call with its state (``state`` -> ``stateN``) threaded by the caller.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(REPO, "benchmarks", ".cache")
MODEL_DIR = os.path.join(CACHE, "models")
WHEELS = {"rapidocr-onnxruntime": "1.4.4", "silero-vad": "6.2.3"}
VAD_RATE, VAD_CHUNK = 16000, 512


@dataclass(frozen=True)
class PypiModel:
    key: str
    package: str
    member: str  # path of the .onnx inside the wheel
    input_shapes: Dict[str, List[int]] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return os.path.join(MODEL_DIR, os.path.basename(self.member))


MODELS = [
    PypiModel("ppocr-cls", "rapidocr-onnxruntime", "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
              {"x": [1, 3, 48, 192]}),
    PypiModel("ppocr-det", "rapidocr-onnxruntime", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
              {"x": [1, 3, 320, 320]}),
    PypiModel("silero-vad", "silero-vad", "silero_vad/data/silero_vad.onnx",
              {"input": [1, VAD_CHUNK], "state": [2, 1, 128]}),
]
BY_KEY = {m.key: m for m in MODELS}


def prepare(model_proto, key: str):
    """The model as converted: the VAD's sample-rate input becomes the constant 16000."""
    if key != "silero-vad":
        return model_proto
    from onnx import numpy_helper

    out = type(model_proto)()
    out.CopyFrom(model_proto)
    sr = next(i for i in out.graph.input if i.name == "sr")
    out.graph.input.remove(sr)
    out.graph.initializer.append(numpy_helper.from_array(np.array(VAD_RATE, np.int64), "sr"))
    return out


def sample_inputs(m: PypiModel, seed: int = 0) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if m.key == "silero-vad":
        return {"input": (rng.standard_normal((1, VAD_CHUNK)) * 0.1).astype(np.float32)}
    (name, shape), = m.input_shapes.items()
    return {name: rng.uniform(-1, 1, shape).astype(np.float32)}


def vad_steps(run_onnxruntime, run_converted, steps: int = 8, seed: int = 0) -> float:
    """Feed ``steps`` chunks to both, each threading its own state; the largest difference of any
    output (speech probability, state) at any step."""
    rng = np.random.default_rng(seed)
    state = tstate = np.zeros((2, 1, 128), np.float32)
    worst = 0.0
    for _ in range(steps):
        x = (rng.standard_normal((1, VAD_CHUNK)) * 0.1).astype(np.float32)
        want = run_onnxruntime({"input": x, "state": state, "sr": np.array(VAD_RATE, np.int64)})
        got = run_converted({"input": x, "state": tstate})
        for k in ("output", "stateN"):
            worst = max(worst, float(np.max(np.abs(np.asarray(got[k]).reshape(want[k].shape) - want[k]))))
        state, tstate = want["stateN"], np.asarray(got["stateN"]).reshape(want["stateN"].shape)
    return worst
