"""Run the sides of a single-step benchmark, each in its own process, and collect results.

The roles of the model's tensors (token input, probability output, state pairs)
come from the first .tflite: its ``litesmith.state`` metadata names the state
pairs, the one remaining input is the token, the first remaining output the
probabilities. The TensorFlow graph is fed under the same names.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from litesmith.ir.errors import UserError


@dataclasses.dataclass
class StepRoles:
    """Which tensor is which in a single-step model."""

    token: str
    probs: str
    state: list[tuple[str, str]]
    state_shapes: dict[str, list[int]]
    token_shape: list[int]


def step_roles(tflite_path: str, state: Sequence[tuple[str, str]] | None = None,
               token: str | None = None, probs: str | None = None) -> StepRoles:
    """Read the roles from a .tflite (``state`` pairs override the metadata)."""
    from litesmith.backends.tflite import read_tflite

    graph = read_tflite(tflite_path)
    shapes = {v.name: [d if isinstance(d, int) and d >= 0 else 1 for d in (v.type.shape or ())] for v in graph.inputs}
    if state is None:
        raw = graph.meta.get("litesmith.state")
        if raw is None:
            raise UserError(f"{tflite_path}: no 'litesmith.state' metadata; name the state pairs with --state IN:OUT")
        try:
            state = [(p["input"], p["output"]) for p in json.loads(bytes(raw).decode("utf-8"))]
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"{tflite_path}: unreadable 'litesmith.state' metadata ({e}); "
                            "pass --state IN:OUT") from None
    state = [tuple(p) for p in state]
    input_names = [v.name for v in graph.inputs]
    output_names = [v.name for v in graph.outputs]
    for i, o in state:
        if i not in input_names or o not in output_names:
            raise UserError(f"{tflite_path}: state pair {i}:{o} is not an input:output of the model "
                            f"(inputs {', '.join(input_names)}; outputs {', '.join(output_names)})")
    state_in = {i for i, _ in state}
    state_out = {o for _, o in state}
    if token is None:
        rest = [n for n in input_names if n not in state_in]
        if len(rest) != 1:
            raise UserError(f"{tflite_path}: expected one token input besides the state inputs, found "
                            f"{rest or 'none'}; pass --token NAME and --state IN:OUT")
        token = rest[0]
    if probs is None:
        rest = [n for n in output_names if n not in state_out]
        if not rest:
            raise UserError(f"{tflite_path}: no output besides the state outputs; pass --probs NAME")
        probs = rest[0]
    return StepRoles(token, probs, list(state), {i: shapes[i] for i, _ in state}, shapes.get(token, [1]) or [])


def run_side(side: str, model: str, label: str, roles: StepRoles, steps: int, *, seed: int = 0,
             threads: int = 1, reset_every: int = 20, tf_call: str = "callable", progress: bool = True,
             workdir: str | None = None) -> dict:
    """Measure one side in a fresh ``python -m litesmith.benchmarking.child`` process."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        spec = {**dataclasses.asdict(roles), "side": side, "model": os.path.abspath(model), "label": label,
                "steps": steps, "seed": seed, "threads": threads, "reset_every": reset_every, "tf_call": tf_call,
                "progress": progress,
                "result": os.path.join(tmp, "result.json")}
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU only: no GPU probing noise or memory
        proc = subprocess.run([sys.executable, "-m", "litesmith.benchmarking.child", spec_path], check=False, env=env)
        try:
            with open(spec["result"], encoding="utf-8") as f:
                result = json.load(f)
        except (OSError, ValueError):
            result = {"error": f"the child process died (exit {proc.returncode}) without a result"}
    if "error" in result:
        raise UserError(f"{model}: the {label} side failed: {result['error']}")
    return result


def top1_agreement(result: dict, reference: dict) -> float:
    """Fraction of steps whose most likely token equals the reference side's."""
    a, b = result["top1"], reference["top1"]
    n = min(len(a), len(b))
    return sum(x == y for x, y in zip(a[:n], b[:n])) / n if n else float("nan")


def tensorflow_available() -> bool:
    """True when ``import tensorflow`` would work (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None
