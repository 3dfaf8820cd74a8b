"""The 9 "light" CNNs in the onnx wheel (opset 9, placeholder weights, 1x3x224x224): converted with
the default pipeline, run in LiteRT and compared with onnxruntime on the same random image.

    .venv/bin/python benchmarks/onnx_light_models.py

Prints one row per model: max error relative to the largest output, LiteRT op count, TRANSPOSE
ops left after nchw-to-nhwc, convert seconds. The figures are in docs/onnx.md.
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from onnx_models import check_light_model, light_models  # noqa: E402


def main() -> int:
    from ai_edge_litert.interpreter import Interpreter

    print(f"{'model':24s} {'rel err':>8s} {'ops':>5s} {'transposes':>10s} {'convert s':>9s}")
    worst = 0.0
    for path in light_models():
        err, ops, seconds = check_light_model(path, Interpreter)
        worst = max(worst, err)
        name = os.path.basename(path)[len("light_"):-len(".onnx")]
        print(f"{name:24s} {err:8.1e} {sum(ops.values()):5d} {ops.get('TRANSPOSE', 0):10d} {seconds:9.1f}")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
