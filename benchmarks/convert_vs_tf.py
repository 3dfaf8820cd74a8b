"""litesmith's compile vs TensorFlow's converter on the same frozen graphs.

    .venv/bin/python benchmarks/convert_vs_tf.py [--models mobilenet_v2 resnet50 efficientnet_b0 seed_step]
                                                 [--runs 3] [--json out.json]

Per model: op count and file size of both .tflite files; LiteRT latency (1 thread, the two
models in alternating rounds, ratio of medians); whole-process compile time (median of
--runs, alternating) and peak memory. litesmith runs as `litesmith convert`, TF as
tf.compat.v1.lite.TFLiteConverter.from_frozen_graph, each in a fresh process.
Floors: ops and size <= TF's; latency ratio <= 1.05; compile >= 5x faster.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c

MODELS = ("mobilenet_v2", "resnet50", "efficientnet_b0", "seed_step")


def sources(names):
    """{name: {"pb", "inputs", "outputs", "shapes"}} for the chosen models (built on first use)."""
    out = {}
    cnns = c.cnn_paths([n for n in names if n != "seed_step"])
    for arch, info in cnns.items():
        out[arch] = {**info, "shapes": {"images": [1, 224, 224, 3]}}
    if "seed_step" in names:
        lm = c.seed_lm_paths()
        hid = lm["sizes"]["hid"]
        out["seed_step"] = {"pb": lm["step"], "inputs": lm["inputs"], "outputs": lm["outputs"],
                            "shapes": {n: [1] if k == 0 else [1, hid] for k, n in enumerate(lm["inputs"])}}
    return out


def ours_argv(src, out):
    return [*c.LITESMITH, "convert", src["pb"], "-o", out, "--inputs", ",".join(src["inputs"]),
            "--outputs", ",".join(src["outputs"])] + [f"--input-shape={n}:{'x'.join(map(str, s))}"
                                                       for n, s in src["shapes"].items()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", choices=MODELS, default=list(MODELS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    folder = os.path.join(c.CACHE, "convert_vs_tf")
    os.makedirs(folder, exist_ok=True)
    rows = []
    for name, src in sources(args.models).items():
        ours, theirs = os.path.join(folder, f"{name}.litesmith.tflite"), os.path.join(folder, f"{name}.tf.tflite")
        try:
            compile_ = c.median_runs({"litesmith": ours_argv(src, ours),
                                      "tf": c.tf_convert_argv(src["pb"], src["inputs"], src["outputs"], theirs,
                                                              src["shapes"])}, args.runs)
        except RuntimeError as e:
            print(f"{name}: a compile failed: {e}", file=sys.stderr)
            rows.append({"model": name, "error": str(e)[-500:]})
            continue
        lat = c.litert_latency({"litesmith": ours, "tf": theirs}, c.random_feeds,
                               rounds=10, per_round=50 if name == "seed_step" else 3)
        row = {"model": name}
        for side, path in (("litesmith", ours), ("tf", theirs)):
            ops, hist = c.op_count(path)
            row[side] = {"ops": ops, "op_histogram": hist, "bytes": os.path.getsize(path), **lat[side],
                         **compile_[side]}
        rows.append(row)
        print(f"{name}: done", file=sys.stderr)

    print(f"{c.machine_line()}; compile = whole process, median of {args.runs} alternating runs; "
          "LiteRT 1 thread, alternating rounds")
    print("| model | ops ours / TF | size KiB ours / TF | latency ms ours / TF | latency ratio "
          "| compile s ours / TF | TF/ours compile | peak MiB ours / TF |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | failed: {r['error'][:80]} |||||||")
            continue
        o, t = r["litesmith"], r["tf"]
        print(f"| {r['model']} | {o['ops']} / {t['ops']} | {o['bytes'] / 1024:.0f} / {t['bytes'] / 1024:.0f} "
              f"| {o['median_ms']:.3f} / {t['median_ms']:.3f} | {o['median_ms'] / t['median_ms']:.3f} "
              f"| {o['seconds']:.2f} / {t['seconds']:.2f} | {t['seconds'] / o['seconds']:.1f}x "
              f"| {o['peak_rss_mib']:.0f} / {t['peak_rss_mib']:.0f} |")
    for r in rows:
        if "error" not in r:
            print(f"  {r['model']} ours: {r['litesmith']['op_histogram']}\n  {r['model']} TF:   {r['tf']['op_histogram']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
