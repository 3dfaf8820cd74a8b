"""Peak memory of each CLI verb on frozen graphs with one 100 MB constant.

    .venv/bin/python benchmarks/big_constants.py [--rows 25000] [--runs 3] [--baseline SITE] [--json OUT.json]

Two models, each built with TensorFlow (tf.function + ``convert_variables_to_constants_v2``, library
defaults) once into the bench cache:

- ``dense``: x [1, ROWS] -> MatMul by a [ROWS, 1000] float32 weight -> BiasAdd -> Relu;
- ``embedding``: ids [1, 16] int32 -> ``tf.nn.embedding_lookup`` in a [ROWS, 1000] float32 table ->
  mean over the ids -> MatMul [1000, 10].

ROWS 25000 makes the constant 100 MB (1e8 bytes). Each model also exists with ROWS 25 (the same graph,
a 100 KB constant): that run's peak is the fixed overhead (Python, numpy, protobuf, flatbuffers and
litesmith's modules), so ``(peak - overhead) / weight bytes`` is what each verb costs per weight byte.

Verbs, each a fresh process (``python -m litesmith``), peak RSS of that process alone (``os.wait4``
``ru_maxrss``), medians over --runs: ``inspect MODEL.pb``; ``opt MODEL.pb -p <default pipeline> -o
OUT.ir`` (constants to OUT.ir.npz); ``convert MODEL.pb -o OUT.tflite``; ``quantize OUT.tflite --mode
dynamic``; ``convert MODEL.pb --quantize dynamic``. Floor (issue 12): peak <= 2 x weight bytes +
overhead.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402  (sets TF env vars before any TensorFlow import)

COLS = 1000
IDS = 16
PIPELINE = "canonicalize,fold-constants,canonicalize,dce"  # litesmith.api.DEFAULT_PIPELINE
MODELS = ("dense", "embedding")


def build(kind: str, rows: int, folder: str) -> str:
    """Freeze the ``kind`` model with a [rows, COLS] float32 constant into ``folder``; its .pb path."""
    pb = os.path.join(folder, f"{kind}_{rows}.pb")
    if os.path.exists(pb):
        return pb
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    rng = np.random.default_rng(rows)
    big = tf.Variable(rng.standard_normal((rows, COLS), dtype=np.float32) * 0.05)
    if kind == "dense":
        bias = tf.Variable(rng.standard_normal(COLS, dtype=np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, rows], tf.float32, name="x")])
        def fn(x):
            return tf.nn.relu(tf.nn.bias_add(tf.matmul(x, big), bias))
    else:
        head = tf.Variable(rng.standard_normal((COLS, 10), dtype=np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, IDS], tf.int32, name="ids")])
        def fn(ids):
            return tf.matmul(tf.reduce_mean(tf.nn.embedding_lookup(big, ids), axis=1), head)

    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    tmp = pb + ".tmp"
    with open(tmp, "wb") as f:
        f.write(frozen.graph.as_graph_def().SerializeToString())
    os.replace(tmp, pb)
    return pb


def verbs(pb: str, out: str) -> dict:
    """Verb name -> argv; ``quantize`` reads the .tflite that ``convert`` writes (run in this order)."""
    ls = [C.PYTHON, "-P", "-m", "litesmith"]  # -P: not the working directory's litesmith/ (the --baseline one)
    tfl = out + ".tflite"
    return {
        "inspect": [*ls, "inspect", pb],
        "opt": [*ls, "opt", pb, "-p", PIPELINE, "-o", out + ".ir"],
        "convert": [*ls, "convert", pb, "-o", tfl],
        "quantize dynamic": [*ls, "quantize", tfl, "--mode", "dynamic", "--quiet", "-o", out + "_dynamic.tflite"],
        "convert --quantize dynamic": [*ls, "convert", pb, "--quantize", "dynamic", "-o", out + "_cd.tflite"],
    }


def measure(argvs: dict, runs: int, env: dict) -> dict:
    """Each verb ``runs`` times in turn (one unmeasured warm-up pass first): median peak MiB and seconds."""
    for argv in argvs.values():
        C.measure_process(argv, env=env)
    samples = {name: [] for name in argvs}
    for _ in range(runs):
        for name, argv in argvs.items():
            samples[name].append(C.measure_process(argv, env=env))
    return {name: {"peak_mib": statistics.median(s["peak_rss_mib"] for s in got),
                   "seconds": statistics.median(s["seconds"] for s in got)} for name, got in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=25000, help="rows of the big constant (x 1000 float32)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per verb (median)")
    parser.add_argument("--models", nargs="*", choices=MODELS, default=list(MODELS))
    parser.add_argument("--baseline", metavar="SITE",
                        help="also measure the litesmith installed in SITE (pip install --no-deps --target SITE "
                             "<older checkout>; run with PYTHONPATH=SITE): 'before' rows")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    folder = os.path.join(C.CACHE, "big_constants")
    os.makedirs(folder, exist_ok=True)
    sides = {"litesmith": {}}
    if args.baseline:
        sides["before"] = {"PYTHONPATH": os.path.abspath(args.baseline)}
    results = {"machine": C.machine_line(), "rows": args.rows, "runs": args.runs, "models": {}}
    for kind in args.models:
        big, small = build(kind, args.rows, folder), build(kind, 25, folder)
        weight_bytes = args.rows * COLS * 4
        entry = results["models"][kind] = {"pb_bytes": os.path.getsize(big), "weight_bytes": weight_bytes, "sides": {}}
        for side, env in sides.items():
            tag = side.replace(" ", "_")
            base = measure(verbs(small, os.path.join(folder, f"out_{kind}_small_{tag}")), args.runs, env)
            peak = measure(verbs(big, os.path.join(folder, f"out_{kind}_big_{tag}")), args.runs, env)
            rows = entry["sides"][side] = {}
            for verb in peak:
                over = peak[verb]["peak_mib"] - base[verb]["peak_mib"]
                rows[verb] = {"overhead_mib": base[verb]["peak_mib"], "peak_mib": peak[verb]["peak_mib"],
                              "seconds": peak[verb]["seconds"], "per_weight_byte": over * 2**20 / weight_bytes}
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def print_table(r: dict) -> None:
    print(f"{r['runs']} runs per verb (median), {r['machine']}")
    print("| model | verb | side | overhead MiB (25-row model) | peak MiB | (peak - overhead) / weight bytes "
          "| floor <= 2 | s |")
    print("| --- | --- | --- | ---: | ---: | ---: | --- | ---: |")
    for kind, m in r["models"].items():
        verbs_ = next(iter(m["sides"].values()))
        for verb in verbs_:
            for side, rows in m["sides"].items():
                row = rows[verb]
                ok = "met" if row["per_weight_byte"] <= 2 else "MISSED"
                print(f"| {kind} ({m['weight_bytes'] / 1e6:.0f} MB) | {verb} | {side} | {row['overhead_mib']:.0f} "
                      f"| {row['peak_mib']:.0f} | {row['per_weight_byte']:.2f} | {ok} | {row['seconds']:.2f} |")


if __name__ == "__main__":
    main()
