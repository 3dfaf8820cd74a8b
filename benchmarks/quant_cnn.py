"""Quantized MobileNetV2: litesmith's int8 / dynamic vs TF's converter on the same frozen graph.

    .venv/bin/python benchmarks/quant_cnn.py [--calib 8] [--heldout 32] [--rounds 10] [--json OUT.json]

Both sides quantize the zoo's MobileNetV2 (random weights, randomized batch norm, 224x224) with the
same calibration images (uniform in [0, 1), like the zoo's input); TF runs
``tf.compat.v1.lite.TFLiteConverter.from_frozen_graph`` with ``optimizations=[DEFAULT]`` (plus the
representative dataset for int8) in its own process. Per row: file size, LiteRT latency (1 thread,
alternating rounds; ratio of medians, litesmith / TF) and agreement with litesmith's float model
(which matches TF to 1e-4, tests/test_quantize_accuracy.py) on held-out images from the same
distribution: top-1 agreement and the max |logit error| relative to each row's logit spread.
With random weights one class wins for every input, so top-1 says little; the logit error is the
telling figure.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402  (sets TF env vars before any TensorFlow import)

MODES = ("int8", "dynamic")
LOGITS = "Identity"  # the zoo's frozen name of the logits output (probs: Identity_1)


def images(n: int, seed: int) -> np.ndarray:
    """[n, 1, 224, 224, 3] float32 uniform in [0, 1)."""
    return np.random.default_rng(seed).uniform(0, 1, (n, 1, 224, 224, 3)).astype(np.float32)


def litesmith_models(pb: str, calib: np.ndarray, folder: str) -> dict:
    import litesmith

    out = {}
    for mode in (None,) + MODES:
        report = {}
        start = time.perf_counter()
        blob = litesmith.compile(litesmith.load(pb), report=report, quantize=mode,
                                 calibration={"images": calib} if mode == "int8" else None)
        path = os.path.join(folder, f"litesmith_{mode or 'float'}.tflite")
        with open(path, "wb") as f:
            f.write(blob)
        out[mode or "float"] = {"path": path, "seconds": time.perf_counter() - start,
                                "quantization": report.get("quantization", {})}
    return out


def tf_models(pb: str, calib: np.ndarray, folder: str) -> dict:
    out = {}
    for mode in MODES:
        path = os.path.join(folder, f"tf_{mode}.tflite")
        np.savez(path + ".calib.npz", images=calib)
        argv = C.tf_convert_argv(pb, ["images"], [LOGITS, "Identity_1"], path, {"images": [1, 224, 224, 3]}, mode)
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"TF converter ({mode}) failed:\n{proc.stderr.decode(errors='replace')[-3000:]}")
        out[mode] = {"path": path, "seconds": time.perf_counter() - start}
    return out


def logits(path: str, xs: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=1)
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    out = next(d for d in interp.get_output_details() if d["name"].split(":")[0] == LOGITS)
    rows = []
    for x in xs:
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        rows.append(interp.get_tensor(out["index"]).reshape(-1).copy())
    return np.array(rows)


def agreement(ref: np.ndarray, got: np.ndarray) -> dict:
    spread = np.ptp(ref, axis=1)
    err = np.abs(got - ref).max(axis=1)
    return {"top1": float(np.mean(ref.argmax(1) == got.argmax(1))), "max_logit_err": float(err.max()),
            "err_over_spread": float(np.max(err / spread))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calib", type=int, default=8, help="calibration images (both converters)")
    parser.add_argument("--heldout", type=int, default=32, help="held-out images for agreement")
    parser.add_argument("--rounds", type=int, default=10, help="latency rounds (alternating)")
    parser.add_argument("--per-round", type=int, default=10, help="invokes per model per round")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    pb = C.cnn_paths(["mobilenet_v2"])["mobilenet_v2"]["pb"]
    folder = os.path.join(C.CACHE, "quant_cnn")
    os.makedirs(folder, exist_ok=True)
    calib, heldout = images(args.calib, seed=7), images(args.heldout, seed=8)

    ours = litesmith_models(pb, calib, folder)
    theirs = tf_models(pb, calib, folder)
    ref = logits(ours["float"]["path"], heldout)
    results = {"machine": C.machine_line(), "calibration_images": args.calib, "heldout_images": args.heldout,
               "float_bytes": os.path.getsize(ours["float"]["path"]),
               "float_logit_std_across_inputs": float(ref.std(0).mean()), "rows": {}}
    for mode in MODES:
        paths = {"litesmith": ours[mode]["path"], "tf": theirs[mode]["path"]}
        lat = C.litert_latency(paths, C.random_feeds, rounds=args.rounds, per_round=args.per_round)
        row = {"latency_ratio": lat["litesmith"]["median_ms"] / lat["tf"]["median_ms"],
               "litesmith_ops": C.op_count(paths["litesmith"])[1], "tf_ops": C.op_count(paths["tf"])[1],
               "float_ops_left": ours[mode]["quantization"].get("float_ops")}
        for side, path in paths.items():
            row[side] = {"bytes": os.path.getsize(path), "median_ms": lat[side]["median_ms"],
                         "convert_seconds": (ours if side == "litesmith" else theirs)[mode]["seconds"],
                         **agreement(ref, logits(path, heldout))}
        results["rows"][mode] = row
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def print_table(r: dict) -> None:
    print(f"MobileNetV2 224, random weights; float {r['float_bytes']:,} B; {r['calibration_images']} calibration / "
          f"{r['heldout_images']} held-out images U[0,1); {r['machine']}")
    print(f"float logits: std across inputs {r['float_logit_std_across_inputs']:.1e} (one class wins everywhere)\n")
    print("| mode | side | size (B) | size / TF | median ms | latency ratio | top-1 | max logit err | err / row spread |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode, row in r["rows"].items():
        for side in ("litesmith", "tf"):
            s = row[side]
            ratio = f"{row['latency_ratio']:.2f}" if side == "litesmith" else ""
            print(f"| {mode} | {side} | {s['bytes']:,} | {s['bytes'] / row['tf']['bytes']:.3f} | {s['median_ms']:.2f} | "
                  f"{ratio} | {s['top1']:.3f} | {s['max_logit_err']:.4f} | {s['err_over_spread']:.2%} |")
    for mode, row in r["rows"].items():
        print(f"\n{mode}: litesmith ops {row['litesmith_ops']}\n{mode}: TF ops {row['tf_ops']}\n"
              f"{mode}: litesmith float ops left {row['float_ops_left']}")


if __name__ == "__main__":
    main()
