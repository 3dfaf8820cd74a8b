"""The seed's table: `litesmith bench` on the seed's 2x256 LSTM LM, 10,000 single steps.

    .venv/bin/python benchmarks/seed_table.py [--source zoo|demo] [-n 10000] [--threads 1] [--out DIR]
                                              [--png PATH] [any `litesmith bench` option, e.g. --tf-call run]

--source zoo (default): the ~11 MB random-weight seed LM from tests/tf_models.py (built once).
--source demo: the keyboard demo's trained 2x256 LM (.cache/demo/*; run `make demo` first),
whose real weights make the top-1 agreement meaningful.
TF side: the hand-split single-step graph in a TF1 session. LiteRT side: that graph compiled
by litesmith (float) and the same model quantized to int8 (calibrated on token sequences,
state threaded by the calibrator). Floors: LiteRT/TF per-step time <= 1/10, peak memory <= 1/5.
--threads N gives both runtimes N threads (TF intra/inter-op, LiteRT num_threads); the default
output folder then ends in _tN so the 1-thread table is kept.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c


def demo_source():
    folders = sorted(glob.glob(os.path.join(c.REPO, ".cache", "demo", "demo-*")))
    if not folders:
        sys.exit("no demo cache: run `make demo` first (or use --source zoo)")
    folder = folders[-1]
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    pairs = list(cfg["state_pairs"].items())
    return {"step": os.path.join(folder, "step.pb"), "inputs": cfg["step_inputs"], "outputs": cfg["step_outputs"],
            "pairs": pairs, "hid": cfg["config"]["hidden"], "vocab": cfg["config"]["vocab_size"] + 2, "name": "demo"}


def zoo_source():
    info = c.seed_lm_paths()
    return {"step": info["step"], "inputs": info["inputs"], "outputs": info["outputs"], "pairs": info["pairs"],
            "hid": info["sizes"]["hid"], "vocab": info["sizes"]["vocab"], "name": "zoo"}


def prepare(src, folder):
    """(float .tflite, int8 .tflite) compiled by litesmith from the hand-split step graph."""
    from litesmith.backends.quantize import quantize_graph
    from litesmith.backends.tflite import read_tflite, write_tflite

    import litesmith

    float_path = os.path.join(folder, "litesmith-float.tflite")
    int8_path = os.path.join(folder, "litesmith-int8.tflite")
    graph = litesmith.load(src["step"], inputs=src["inputs"], outputs=src["outputs"])
    litesmith.save(litesmith.compile(graph, metadata={"litesmith.state": c.state_metadata(src["pairs"], src["hid"])}),
                   float_path)
    rng = np.random.default_rng(7)
    calib = {src["inputs"][0]: rng.integers(0, src["vocab"], (16, 12, 1)).astype(np.int32)}
    tfl = read_tflite(float_path)
    quantize_graph(tfl, "int8", calibration=calib, progress=False)
    litesmith.save(write_tflite(tfl), int8_path)
    return float_path, int8_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("zoo", "demo"), default="zoo")
    parser.add_argument("-n", "--steps", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1, help="threads for both runtimes (default 1)")
    parser.add_argument("--out", default=None,
                        help="bench output folder (default CACHE/seed_table_SOURCE, + _tN for --threads N > 1)")
    parser.add_argument("--png", help="copy the chart here (e.g. docs/benchmarks/seed_table.png)")
    args, bench_args = parser.parse_known_args(argv)  # the rest goes to `litesmith bench` (e.g. --tf-call run)

    src = demo_source() if args.source == "demo" else zoo_source()
    suffix = f"_t{args.threads}" if args.threads != 1 else ""
    folder = args.out or os.path.join(c.CACHE, f"seed_table_{src['name']}{suffix}")
    os.makedirs(folder, exist_ok=True)
    float_path, int8_path = prepare(src, folder)
    cmd = [*c.LITESMITH, "bench", "--tf-graph", src["step"], "--tflite", float_path, "--tflite", int8_path,
           "-n", str(args.steps), "--threads", str(args.threads), "--out", folder, *bench_args]
    print("$ litesmith " + " ".join(cmd[3:]), flush=True)
    subprocess.run(cmd, check=True)
    if args.png:
        import shutil

        shutil.copyfile(os.path.join(folder, "bench.png"), args.png)


if __name__ == "__main__":
    main()
