"""Quantized MobileNetV2: litesmith's int8 / dynamic vs TF's converter on the same frozen graph.

    .venv/bin/python benchmarks/quant_cnn.py [--model synthetic|random] [--calib 32] [--heldout 2000]
                                             [--rounds 30] [--convert-runs 1] [--baseline SITE] [--nearest]
                                             [--json OUT.json]

The default model is benchmarks/models.py's MobileNetV2 (224x224, random weights, batch norm
recalibrated on synthetic images, Dense head trained on them): its top-1 varies over inputs. Its inputs
are ``models.synthetic_images`` (colour fields, gradients, textures, one object), seeded: calibration and
held-out images come from the same distribution, different seeds. ``--model random`` is the zoo's
MobileNetV2 (randomized batch norm) on inputs uniform in [0, 1): its logits do not depend on the input.

Both sides quantize the same frozen .pb with the same calibration images; TF runs
``tf.compat.v1.lite.TFLiteConverter.from_frozen_graph`` with ``optimizations=[DEFAULT]`` (plus the
representative dataset for int8) in its own process. Per row: file size, LiteRT latency (1 thread,
alternating rounds; ratio of medians, litesmith / TF) and agreement with TensorFlow's float logits
(the frozen graph run by TF) on the held-out images: top-1 agreement, the rms and max |logit error|,
and each row's max |logit error| over that row's logit spread (worst row, mean over rows).

Every conversion is a process of its own: its wall time, its CPU time (user + system, what a busy
shared box inflates least) and litesmith's in-process ``compile`` time. ``--baseline SITE`` adds
"litesmith before" rows converted by an older litesmith (``pip install --no-deps --target SITE
<checkout>``), alternating with this tree's, so before/after accuracy and time come from one run;
``--nearest`` adds int8 without GPTQ.
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
import models  # noqa: E402

MODES = ("int8", "dynamic")
LOGITS = "Identity"  # the zoo's frozen name of the logits output (probs: Identity_1)


def images(model: str, n: int, seed: int) -> np.ndarray:
    """[n, 1, 224, 224, 3] float32: synthetic images in [-1, 1], or uniform in [0, 1) for the random model."""
    if model == "random":
        return np.random.default_rng(seed).uniform(0, 1, (n, 1, 224, 224, 3)).astype(np.float32)
    return models.synthetic_images(n, seed)[:, None]


def model_pb(model: str) -> tuple[str, dict]:
    """(frozen .pb, facts about the model) built on first use under the bench cache."""
    if model == "random":
        return C.cnn_paths(["mobilenet_v2"])["mobilenet_v2"]["pb"], {}
    info = models.mobilenet_v2_synthetic_paths(C.CACHE)
    return info["pb"], info["facts"]


_TF_LOGITS = (
    "import os,sys; os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL','2'); import numpy as np, tensorflow as tf;"
    "gd=tf.compat.v1.GraphDef(); gd.ParseFromString(open(sys.argv[1],'rb').read()); g=tf.Graph()\n"
    "with g.as_default(): tf.import_graph_def(gd, name='')\n"
    "s=tf.compat.v1.Session(graph=g); xs=np.load(sys.argv[2])['images']\n"
    "np.save(sys.argv[3], np.array([s.run(sys.argv[4]+':0', {'images:0': x}).reshape(-1) for x in xs]))"
)


def tf_float_logits(pb: str, xs: np.ndarray, folder: str) -> np.ndarray:
    """TensorFlow running the frozen graph (its own process): the reference for every row."""
    feeds, out = os.path.join(folder, "heldout.npz"), os.path.join(folder, "tf_float_logits.npy")
    np.savez(feeds, images=xs)
    subprocess.run([sys.executable, "-c", _TF_LOGITS, pb, feeds, out, LOGITS], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return np.load(out)


def convert_child(argv) -> None:
    """``--child MODE PB CALIB.npz OUT.tflite REPORT.json [--nearest]``: one litesmith conversion in this
    process (the parent measures the process); writes {"compile_seconds", "quantization"} to REPORT.json."""
    import litesmith
    from litesmith.backends.quantize import gptq

    mode, pb, calib, out, report_path = argv[:5]
    if "--nearest" in argv:
        gptq.OPS = frozenset()  # int8 convolution weights rounded to nearest (kept channel sums)
    calibration = dict(np.load(calib)) if mode == "int8" else None
    report = {}
    start = time.perf_counter()
    blob = litesmith.compile(litesmith.load(pb), report=report, quantize=None if mode == "float" else mode,
                             calibration=calibration)
    seconds = time.perf_counter() - start
    with open(out, "wb") as f:
        f.write(blob)
    with open(report_path, "w") as f:
        json.dump({"compile_seconds": seconds, "quantization": report.get("quantization", {}),
                   "litesmith": os.path.dirname(gptq.__file__)}, f, default=str)


def litesmith_models(pb: str, calib: np.ndarray, folder: str, sides: dict, runs: int) -> dict:
    """{(mode, side): {"path", "seconds", "cpu_seconds", "compile_seconds", "quantization"}}: each
    conversion a process of its own (``sides``: side -> (extra env, extra child args)), ``runs``
    rounds alternating between the sides; times are medians."""
    calib_path = os.path.join(folder, "calibration.npz")
    np.savez(calib_path, images=calib)
    jobs = [("float", "litesmith")] + [(mode, side) for mode in MODES for side in sides]
    out = {}
    for _ in range(runs):
        for mode, side in jobs:
            env, extra = sides[side]
            path = os.path.join(folder, f"{side.replace(' ', '_')}_{mode}.tflite")
            report = os.path.join(folder, "child.json")
            argv = [sys.executable, os.path.abspath(__file__), "--child", mode, pb, calib_path, path, report, *extra]
            m = C.measure_process(argv, env=env)
            with open(report) as f:
                child = json.load(f)
            entry = out.setdefault((mode, side), {"path": path, "runs": []})
            entry["runs"].append({"seconds": m["seconds"], "cpu_seconds": m["cpu_seconds"],
                                  "compile_seconds": child["compile_seconds"]})
            entry["quantization"], entry["litesmith"] = child["quantization"], child["litesmith"]
    for entry in out.values():
        for key in ("seconds", "cpu_seconds", "compile_seconds"):
            entry[key] = float(np.median([r[key] for r in entry["runs"]]))
    return out


def tf_models(pb: str, calib: np.ndarray, folder: str) -> dict:
    out = {}
    for mode in MODES:
        path = os.path.join(folder, f"tf_{mode}.tflite")
        np.savez(path + ".calib.npz", images=calib)
        argv = C.tf_convert_argv(pb, ["images"], [LOGITS, "Identity_1"], path, {"images": [1, 224, 224, 3]}, mode)
        m = C.measure_process(argv)  # raises with TF's stderr if the converter fails
        out[mode] = {"path": path, "seconds": m["seconds"], "cpu_seconds": m["cpu_seconds"]}
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
            "err_over_spread": float(np.max(err / spread)), "mean_err_over_spread": float(np.mean(err / spread)),
            "rms_logit_err": float(np.sqrt(np.mean((got - ref) ** 2)))}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return convert_child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("synthetic", "random"), default="synthetic",
                        help="synthetic: input-dependent MobileNetV2 (models.py); random: the zoo's")
    parser.add_argument("--calib", type=int, default=32, help="calibration images (both converters)")
    parser.add_argument("--heldout", type=int, default=2000, help="held-out images for agreement")
    parser.add_argument("--heldout-seed", type=int, default=8, help="seed of the held-out images")
    parser.add_argument("--rounds", type=int, default=30, help="latency rounds (alternating)")
    parser.add_argument("--per-round", type=int, default=20, help="invokes per model per round")
    parser.add_argument("--convert-runs", type=int, default=1, help="litesmith conversions per side (alternating; medians)")
    parser.add_argument("--baseline", metavar="SITE",
                        help="also convert with the litesmith installed in SITE (pip install --target SITE <older "
                             "checkout>; run with PYTHONPATH=SITE): rows 'litesmith before', side by side")
    parser.add_argument("--baseline-one-thread", action="store_true",
                        help="with --baseline: also 'litesmith before, 1 BLAS thread' (OPENBLAS_NUM_THREADS=1)")
    parser.add_argument("--nearest", action="store_true",
                        help="also a 'litesmith nearest' side: int8 without GPTQ (convolution weights rounded to nearest)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    pb, facts = model_pb(args.model)
    folder = os.path.join(C.CACHE, "quant_cnn", args.model)
    os.makedirs(folder, exist_ok=True)
    calib, heldout = images(args.model, args.calib, seed=7), images(args.model, args.heldout, seed=args.heldout_seed)

    sides = {"litesmith": ({}, [])}
    if args.baseline:
        sides["litesmith before"] = ({"PYTHONPATH": os.path.abspath(args.baseline)}, [])
        if args.baseline_one_thread:
            sides["litesmith before, 1 BLAS thread"] = (
                {"PYTHONPATH": os.path.abspath(args.baseline), "OPENBLAS_NUM_THREADS": "1"}, [])
    if args.nearest:
        sides["litesmith nearest"] = ({}, ["--nearest"])
    ours = litesmith_models(pb, calib, folder, sides, args.convert_runs)
    theirs = tf_models(pb, calib, folder)
    ref = tf_float_logits(pb, heldout, folder)
    ours_float = logits(ours["float", "litesmith"]["path"], heldout)
    results = {"machine": C.machine_line(), "model": args.model, "model_facts": facts,
               "calibration_images": args.calib, "heldout_images": args.heldout, "heldout_seed": args.heldout_seed,
               "float_bytes": os.path.getsize(ours["float", "litesmith"]["path"]),
               "float_vs_tf_max_abs_err": float(np.abs(ours_float - ref).max()),
               "float_logit_std_across_inputs": float(ref.std(0).mean()),
               "float_distinct_top1": len(set(ref.argmax(1).tolist())), "rows": {}}
    for mode in MODES:
        mode_sides = [side for side in sides if side != "litesmith nearest" or mode == "int8"]
        paths = {side: ours[mode, side]["path"] for side in mode_sides}
        paths["tf"] = theirs[mode]["path"]
        lat = C.litert_latency(paths, C.random_feeds, rounds=args.rounds, per_round=args.per_round)
        row = {"latency_ratio": lat["litesmith"]["median_ms"] / lat["tf"]["median_ms"],
               "litesmith_ops": C.op_count(paths["litesmith"])[1], "tf_ops": C.op_count(paths["tf"])[1],
               "float_ops_left": ours[mode, "litesmith"]["quantization"].get("float_ops"), "sides": list(paths)}
        top1 = {}
        for side, path in paths.items():
            got = logits(path, heldout)
            top1[side] = got.argmax(1) == ref.argmax(1)
            timing = theirs[mode] if side == "tf" else ours[mode, side]
            row[side] = {"bytes": os.path.getsize(path), "median_ms": lat[side]["median_ms"],
                         "convert_seconds": timing["seconds"], "convert_cpu_seconds": timing.get("cpu_seconds"),
                         "compile_seconds": timing.get("compile_seconds"), **agreement(ref, got)}
        # Images where one side keeps the float top-1 and the other loses it (the pairs that decide top-1).
        row["top1_only_litesmith"] = int(np.sum(top1["litesmith"] & ~top1["tf"]))
        row["top1_only_tf"] = int(np.sum(top1["tf"] & ~top1["litesmith"]))
        results["rows"][mode] = row
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def print_table(r: dict) -> None:
    print(f"MobileNetV2 224 ({r['model']}); float {r['float_bytes']:,} B; {r['calibration_images']} calibration / "
          f"{r['heldout_images']} held-out images (seed {r['heldout_seed']}); {r['machine']}")
    if r["model_facts"]:
        print(f"model: {json.dumps(r['model_facts'])}")
    print(f"float logits on the held-out images: std across inputs {r['float_logit_std_across_inputs']:.3g}, "
          f"{r['float_distinct_top1']} distinct top-1 classes; litesmith float vs TF max |err| "
          f"{r['float_vs_tf_max_abs_err']:.1e}\n")
    print("| mode | side | size (B) | size / TF | median ms | latency ratio | top-1 | rms logit err | max logit err "
          "| err / row spread (worst) | (mean) | convert s (process) | CPU s | compile s (in process) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode, row in r["rows"].items():
        tf_ms = row["tf"]["median_ms"]
        for side in row["sides"]:
            s = row[side]
            ratio = f"{s['median_ms'] / tf_ms:.2f}" if side != "tf" else ""
            cpu = f"{s['convert_cpu_seconds']:.1f}" if s.get("convert_cpu_seconds") is not None else ""
            inner = f"{s['compile_seconds']:.1f}" if s.get("compile_seconds") is not None else ""
            print(f"| {mode} | {side} | {s['bytes']:,} | {s['bytes'] / row['tf']['bytes']:.3f} | {s['median_ms']:.2f} | "
                  f"{ratio} | {s['top1']:.3f} | {s['rms_logit_err']:.4f} | {s['max_logit_err']:.4f} "
                  f"| {s['err_over_spread']:.2%} | {s['mean_err_over_spread']:.2%} | {s['convert_seconds']:.1f} | {cpu} | {inner} |")
    for mode, row in r["rows"].items():
        print(f"\n{mode}: top-1 kept by litesmith only on {row['top1_only_litesmith']} images, by TF only on "
              f"{row['top1_only_tf']}")
        print(f"{mode}: litesmith ops {row['litesmith_ops']}\n{mode}: TF ops {row['tf_ops']}\n"
              f"{mode}: litesmith float ops left {row['float_ops_left']}")


if __name__ == "__main__":
    main()
