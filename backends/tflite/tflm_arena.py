"""The tensor arena a model needs in TFLite Micro, measured by its own interpreter (the ``tflite-micro`` wheel).

TFLM's recording allocator reports the bytes it took from the arena; we
allocate with a generous arena and read that figure. The interpreter runs in
a child process: with an arena too small, or a model it cannot take, the
wheel's C++ code can crash the process instead of raising. The figure is for
the x86_64 build (64-bit pointers): a 32-bit microcontroller needs somewhat
less for the same model. ``None`` when the wheel is not installed
(``pip install --pre tflite-micro``; the dev extra has it).

    python -m litesmith.backends.tflite.tflm_arena MODEL.tflite   # prints the JSON
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Optional, Union

__all__ = ["tflm_available", "measure_arena"]

_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


def tflm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tflite_micro") is not None


def measure_arena(blob: Union[bytes, bytearray], timeout: float = 120) -> Optional[dict]:
    """``{"arena_bytes": N}`` (or ``{"error": "..."}`` when TFLM refuses the model); None without the wheel."""
    if not tflm_available():
        return None
    with tempfile.NamedTemporaryFile(suffix=".tflite", delete=False) as f:
        f.write(blob)
    try:
        done = subprocess.run([sys.executable, "-m", "litesmith.backends.tflite.tflm_arena", f.name], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"TFLM did not allocate the model within {timeout:.0f} s"}
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"error": f"TFLM refused the model: {last}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure_here(path: str) -> dict:
    from tflite_micro.python.tflite_micro import runtime

    with open(path, "rb") as f:
        data = f.read()
    interp = runtime.Interpreter.from_bytes(data, arena_size=max(len(data) * 10, 1 << 22))
    with tempfile.TemporaryFile() as log:  # print_allocations writes to the C stderr
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    match = _TOTAL.search(text)
    if not match:
        raise RuntimeError(f"no arena figure in TFLM's allocation log: {text[:200]!r}")
    return {"arena_bytes": int(match.group(1))}


if __name__ == "__main__":
    print(json.dumps(_measure_here(sys.argv[1])))
