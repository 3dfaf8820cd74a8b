"""Whole-process `litesmith inspect` of the seed's ~11 MB LM graph vs TensorFlow's own import.

    .venv/bin/python benchmarks/inspect_speed.py [--runs 7] [--json out.json]

Both sides are fresh processes, run alternately; wall time (and peak memory) per process,
medians over --runs. TF's side is what any TF tool pays to look at the graph:
`import tensorflow`, GraphDef.ParseFromString, tf.import_graph_def. Floor: litesmith < 1 s.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c

TF_IMPORT = (
    "import sys, tensorflow as tf; gd = tf.compat.v1.GraphDef(); gd.ParseFromString(open(sys.argv[1], 'rb').read());"
    "g = tf.Graph();\nwith g.as_default(): tf.compat.v1.import_graph_def(gd, name='')\n"
    "print(len(g.get_operations()))"
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    pb = c.seed_lm_paths()["full"]
    size_mb = os.path.getsize(pb) / 1e6
    result = c.median_runs({
        "litesmith inspect": [*c.LITESMITH, "inspect", pb],
        "TF import+parse": [c.PYTHON, "-c", TF_IMPORT, pb],
    }, args.runs)
    ours, tf = result["litesmith inspect"], result["TF import+parse"]
    print(f"model: {pb} ({size_mb:.1f} MB), {args.runs} runs each, alternating; {c.machine_line()}")
    print("| process | wall s (median) | peak MiB (median) | runs (s) |")
    print("|---|---|---|---|")
    for name, r in result.items():
        print(f"| {name} | {r['seconds']:.3f} | {r['peak_rss_mib']:.0f} | {', '.join(map(str, r['all_seconds']))} |")
    print(f"litesmith/TF wall-time ratio: {ours['seconds'] / tf['seconds']:.3f} "
          f"(TF is {tf['seconds'] / ours['seconds']:.1f}x slower); floor litesmith < 1 s: "
          f"{'met' if ours['seconds'] < 1 else 'MISSED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": pb, "model_mb": size_mb, "runs": args.runs, **result}, f, indent=1)


if __name__ == "__main__":
    main()
