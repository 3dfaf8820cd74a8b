"""Run the sides of a single-step benchmark, each in its own process, and collect results.

The roles of the model's tensors (token input, probability output, state pairs)
come from the first .tflite: its ``litesmith.state`` metadata names the state
pairs, the one remaining input is the token, the first remaining output the
probabilities. The TensorFlow graph is fed under the same names.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from litesmith.ir.errors import UserError
from litesmith.ir.state import STATE_META_KEY, graph_state


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
        if graph.meta.get(STATE_META_KEY) is None:
            raise UserError(f"{tflite_path}: no '{STATE_META_KEY}' metadata; name the state pairs with --state IN:OUT")
        state = [(p.input, p.output) for p in graph_state(graph, f"{tflite_path} (or pass --state IN:OUT)")]
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


@dataclasses.dataclass
class SideJob:
    """One side to measure: ``side`` is "tf" or "litert"."""

    side: str
    model: str
    label: str


def _child_env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU only: no GPU probing noise or memory
    return env


def _spec(job: SideJob, roles: StepRoles, steps: int, result: str, **options) -> dict:
    return {**dataclasses.asdict(roles), "side": job.side, "model": os.path.abspath(job.model), "label": job.label,
            "steps": steps, **options, "result": result}


def _read_result(job: SideJob, path: str, returncode) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
    except (OSError, ValueError):
        result = {"error": f"the child process died (exit {returncode}) without a result"}
    if "error" in result:
        raise UserError(f"{job.model}: the {job.label} side failed: {result['error']}")
    return result


def round_sizes(steps: int, rounds: int) -> list[int]:
    """``steps`` split into ``rounds`` near-equal chunks (no empty ones)."""
    rounds = max(1, min(rounds, steps))
    return [steps // rounds + (1 if r < steps % rounds else 0) for r in range(rounds)]


def run_sides(jobs: Sequence[SideJob], roles: StepRoles, steps: int, *, rounds: int = 20, seed: int = 0,
              threads: int = 1, reset_every: int = 20, tf_call: str = "callable", progress: bool = True,
              workdir: str | None = None) -> list[dict]:
    """Measure every side in its own ``python -m litesmith.benchmarking.child`` process, in alternating rounds.

    The children load one after the other, then take turns: each round every side runs its next
    ``steps / rounds`` steps while the others wait on a pipe (idle), the first side rotating from
    round to round. Load drift on a shared machine then hits every side alike; each child still
    has its own memory and libraries. ``rounds=1`` runs each side's steps in one go."""
    from litesmith.ir.progress import ProgressBar

    options = {"seed": seed, "threads": threads, "reset_every": reset_every, "tf_call": tf_call,
               "progress": False, "lockstep": True}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        procs: list[subprocess.Popen] = []
        results = [os.path.join(tmp, f"result{n}.json") for n in range(len(jobs))]

        def send(n: int, line: str) -> None:
            try:
                procs[n].stdin.write(line)
                procs[n].stdin.flush()
            except BrokenPipeError:  # the child is gone; expect() reports why
                pass

        def expect(n: int, word: str) -> None:
            if procs[n].stdout.readline().strip() != word:  # the child failed: its result says why
                procs[n].wait()
                _read_result(jobs[n], results[n], procs[n].returncode)
                raise UserError(f"{jobs[n].model}: the {jobs[n].label} side stopped answering")

        try:
            for n, job in enumerate(jobs):  # one at a time, so load times do not overlap
                spec_path = os.path.join(tmp, f"spec{n}.json")
                with open(spec_path, "w", encoding="utf-8") as f:
                    json.dump(_spec(job, roles, steps, results[n], **options), f)
                procs.append(subprocess.Popen([sys.executable, "-m", "litesmith.benchmarking.child", spec_path],
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                              env=_child_env()))
                expect(n, "ready")
            bar = ProgressBar(steps * len(jobs), " vs ".join(j.label for j in jobs), enabled=progress)
            done = 0
            for r, count in enumerate(round_sizes(steps, rounds)):
                for n in [(r + i) % len(jobs) for i in range(len(jobs))]:
                    send(n, f"run {count}\n")
                    expect(n, "done")
                    done += count
                    bar.update(done)
            bar.close()
            for n, p in enumerate(procs):
                send(n, "finish\n")
                with contextlib.suppress(BrokenPipeError):
                    p.stdin.close()
            for p in procs:
                p.wait()
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        return [_read_result(job, path, p.returncode) for job, path, p in zip(jobs, results, procs)]


def top1_agreement(result: dict, reference: dict) -> float:
    """Fraction of steps whose most likely token equals the reference side's."""
    a, b = result["top1"], reference["top1"]
    n = min(len(a), len(b))
    return sum(x == y for x, y in zip(a[:n], b[:n])) / n if n else float("nan")


def tensorflow_available() -> bool:
    """True when ``import tensorflow`` would work (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None
