"""Run a .tflite file once in the stock LiteRT interpreter (``litesmith run --runtime litert``).

LiteRT is an optional dependency: the compiler never needs it, so it is
imported here, only when asked for, and its absence is a user error with
the install line, not a traceback.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from litesmith.ir.errors import UserError


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise UserError("--runtime litert needs the ai-edge-litert package: pip install 'litesmith[litert]'") from None
    return Interpreter


def run_litert(path: str, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Outputs by name for one invoke; ``feeds`` are already checked against the model's inputs."""
    interp = _interpreter_class()(model_path=path, num_threads=1)
    details = {d["name"]: d for d in interp.get_input_details()}
    missing = sorted(set(feeds) - set(details))
    if missing:  # our reader and LiteRT disagree on a name: a litesmith bug, not bad input
        raise RuntimeError(f"{path}: LiteRT has no input(s) {missing}; it has {sorted(details)}")
    for name, value in feeds.items():
        if tuple(details[name]["shape"]) != value.shape:  # a dynamic dimension: give it this run's size
            interp.resize_tensor_input(details[name]["index"], list(value.shape))
    try:
        interp.allocate_tensors()
        for name, value in feeds.items():
            interp.set_tensor(details[name]["index"], value)
        interp.invoke()
    except (RuntimeError, ValueError) as e:
        raise UserError(f"{path}: LiteRT cannot run it ({' '.join(str(e).split())[:300]})") from None
    return {d["name"]: np.array(interp.get_tensor(d["index"])) for d in interp.get_output_details()}
