"""Scaling benchmark (issue #12): `litesmith convert` vs TF's converter on graphs of 1k to 100k nodes.

    .venv/bin/python benchmarks/scale.py [--shapes deep_mlp,wide,rnn] [--sizes 1k,10k,100k]
        [--cnns mobilenet_v2,resnet50] [--sides litesmith,tf] [--rounds 1] [--timeout 1200]
        [--reuse-peer] [--no-stages] [--out DIR] [--write-docs]

For each generated graph (benchmarks/scale_graphs.py: a deep residual MLP with shape arithmetic,
a wide graph of parallel branches, a statically unrolled LSTM) and for MobileNetV2 / ResNet50
(benchmarks/models.py's zoo builders, via _common.cnn_paths):

* whole process, wall time, CPU time and peak RSS (os.wait4 of the child) of `litesmith convert` and of
  ``tf.compat.v1.lite.TFLiteConverter.from_frozen_graph`` in a Python process that does only that,
  given the same static input shapes; the two alternate in ``--rounds`` rounds (medians reported);
  a side past ``--timeout`` is killed and recorded as a timeout;
* litesmith's time per stage (import, load, passes, lower, fuse, write: benchmarks/scale_stages.py)
  in one more child;
* both .tflite files run in LiteRT on the same seeded random input: the max abs difference of
  their outputs (a benchmark of a broken conversion would be worthless).

While `litesmith convert` cannot fold a 34-block deep MLP's shape arithmetic with its default
pipeline (probed at start; see FOLD_BLOCKS_PER_RUN), the deep MLP gets extra fold-constants runs.

TF's figures are cached in ``<cache>/peer.json`` keyed by the .pb's sha256, the input shapes and
TF's version (its .tflite kept beside it); ``--reuse-peer`` takes them from there instead of
running TF again. Results accumulate in ``--out``/results.json (a run replaces the rows it
measured); the table (results.md) and plot (scale.png) are drawn from all rows there.
``--write-docs`` copies them into docs/benchmarks/scale.png and docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import scale_graphs as sg  # noqa: E402
import scale_report  # noqa: E402

CNNS = ("mobilenet_v2", "resnet50")
SIDES = ("litesmith", "tf")
# fold-constants stops after 16 rounds and folds one residual block's shape arithmetic per round
# (passes/fold_constants.py _MAX_ROUNDS): the deep MLP needs more runs of it until that changes.
FOLD_BLOCKS_PER_RUN = 16


# -- what gets converted ------------------------------------------------------------------------


def generated_job(shape: str, size: str, cache: str) -> dict:
    g = sg.scale_graph(shape, size, cache)
    return {"name": f"{shape}/{size}", "shape": shape, "size": size, "nodes": g.nodes, "count": g.count,
            "pb": g.pb, "sha256": g.sha256, "inputs": g.inputs, "outputs": g.outputs,
            "input_shapes": g.input_shapes}


def cnn_job(arch: str) -> dict:
    from litesmith.frontends.tf.lift import read_graphdef

    info = c.cnn_paths([arch])[arch]
    return {"name": arch, "shape": arch, "size": "-", "nodes": len(read_graphdef(info["pb"]).node), "count": None,
            "pb": info["pb"], "sha256": sg.sha256_file(info["pb"]), "inputs": info["inputs"],
            "outputs": info["outputs"], "input_shapes": {"images": [1, 224, 224, 3]}}


def deep_mlp_needs_more_folds(cache: str, timeout: float) -> bool:
    """Does `litesmith convert` leave the shape arithmetic of a 34-block deep MLP unfolded?"""
    job = generated_job("deep_mlp", "1k", cache)
    try:
        c.measure_process(litesmith_argv(job, os.path.join(cache, "probe.tflite")), timeout=timeout)
        return False
    except RuntimeError as e:
        if "dynamic-shape" in str(e):
            return True
        raise


def extra_passes(job: dict, more_folds: bool) -> str | None:
    if job["shape"] != "deep_mlp" or not more_folds:
        return None
    runs = math.ceil(job["count"] / FOLD_BLOCKS_PER_RUN) - 1  # the default pipeline has one
    return ",".join(["fold-constants"] * runs) or None


def shape_flags(job: dict) -> list[str]:
    return [f"--input-shape={n}:{'x'.join(map(str, s))}" for n, s in job["input_shapes"].items()]


def litesmith_argv(job: dict, out: str) -> list[str]:
    argv = [*c.LITESMITH, "convert", job["pb"], "-o", out, "--inputs", ",".join(job["inputs"]),
            "--outputs", ",".join(job["outputs"]), *shape_flags(job)]
    return argv + (["--passes", job["passes"]] if job.get("passes") else [])


def stages_argv(job: dict, out: str, result: str) -> list[str]:
    argv = [c.PYTHON, os.path.join(c.HERE, "scale_stages.py"), job["pb"], out, result,
            "--inputs", ",".join(job["inputs"]), "--outputs", ",".join(job["outputs"]), *shape_flags(job)]
    return argv + (["--passes", job["passes"]] if job.get("passes") else [])


# -- measuring ---------------------------------------------------------------------------------


def measure(argv: list[str], timeout: float) -> dict:
    """One whole-process sample: {"seconds", "peak_rss_mib"} or {"status": "timeout"/"failed", ...}."""
    try:
        s = c.measure_process(argv, timeout=timeout)
        return {"status": "ok", "seconds": s["seconds"], "cpu_seconds": s["cpu_seconds"],
                "peak_rss_mib": s["peak_rss_mib"]}
    except c.ProcessTimeout:
        return {"status": "timeout", "seconds": timeout}
    except RuntimeError as e:
        return {"status": "failed", "error": str(e)[-600:]}


def summarize(samples: list[dict]) -> dict:
    ok = [s for s in samples if s["status"] == "ok"]
    if not ok:
        return {**samples[-1], "samples": samples}
    return {"status": "ok", "seconds": statistics.median(s["seconds"] for s in ok),
            "cpu_seconds": statistics.median(s["cpu_seconds"] for s in ok),
            "peak_rss_mib": statistics.median(s["peak_rss_mib"] for s in ok),
            "all_seconds": [round(s["seconds"], 3) for s in ok]}


class PeerCache:
    """TF's figures per (.pb sha256, input shapes, TF version), with its .tflite kept beside them."""

    def __init__(self, cache: str):
        self.folder = os.path.join(cache, "tf")
        self.path = os.path.join(cache, "peer.json")
        self.tf_version = _tf_version()
        self.entries = json.load(open(self.path)) if os.path.exists(self.path) else {}

    def key(self, job: dict) -> str:
        return f"{job['sha256']}|{json.dumps(job['input_shapes'], sort_keys=True)}|tf {self.tf_version}"

    def tflite(self, job: dict) -> str:
        os.makedirs(self.folder, exist_ok=True)
        return os.path.join(self.folder, f"{job['sha256'][:16]}-tf{self.tf_version}.tflite")

    def get(self, job: dict) -> dict | None:
        return self.entries.get(self.key(job))

    def put(self, job: dict, figures: dict) -> None:
        self.entries[self.key(job)] = {**figures, "model": job["name"], "tf_version": self.tf_version,
                                       "measured": _now()}
        if os.path.exists(self.path):  # another run may have added entries since we read the file
            with open(self.path) as f:
                self.entries = {**json.load(f), **self.entries}
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.entries, f, indent=1)
        os.replace(self.path + ".tmp", self.path)


def _tf_version() -> str:
    from importlib.metadata import version

    for dist in ("tensorflow", "tensorflow-cpu"):
        try:
            return version(dist)
        except Exception:
            continue
    return "unknown"


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def run_job(job: dict, args, peers: PeerCache, work: str) -> dict:
    """Whole-process figures of both sides (alternating), litesmith's stages, LiteRT agreement."""
    ours = os.path.join(work, job["name"].replace("/", "_") + ".litesmith.tflite")
    theirs = peers.tflite(job)
    row = {k: job[k] for k in ("name", "shape", "size", "nodes", "count", "sha256", "input_shapes")}
    row.update(passes=job.get("passes"), measured=_now(), load_average=list(os.getloadavg()))
    cached = peers.get(job) if args.reuse_peer else None
    if cached and cached["status"] == "timeout" and cached["seconds"] < args.timeout:
        cached = None  # a longer --timeout than the cached one: give TF the chance to finish
    run_tf = "tf" in args.sides and cached is None
    samples = {"litesmith": [], "tf": []}
    for r in range(args.rounds):
        if "litesmith" in args.sides and not _stop(samples["litesmith"]):
            samples["litesmith"].append(measure(litesmith_argv(job, ours), args.timeout))
            _say(job, "litesmith", r, samples["litesmith"][-1])
        if run_tf and not _stop(samples["tf"]):
            samples["tf"].append(measure(c.tf_convert_argv(job["pb"], job["inputs"], job["outputs"], theirs,
                                                           job["input_shapes"]), args.timeout))
            _say(job, "tf", r, samples["tf"][-1])
    if samples["litesmith"]:
        row["litesmith"] = summarize(samples["litesmith"])
    if run_tf:
        row["tf"] = summarize(samples["tf"])
        peers.put(job, row["tf"])
    elif cached is not None:
        row["tf"] = {**cached, "cached": True}
        if not samples["litesmith"]:  # nothing measured now: the row is as old as the cached figures
            row["measured"] = cached["measured"]
    if row.get("litesmith", {}).get("status") == "ok" and not args.no_stages:
        row["stages"] = litesmith_stages(job, work, args.timeout)
    if row.get("litesmith", {}).get("status") == "ok" and row.get("tf", {}).get("status") == "ok":
        row["agreement"] = agreement(ours, theirs)
    for side, path in (("litesmith", ours), ("tf", theirs)):
        if row.get(side, {}).get("status") == "ok" and os.path.exists(path):
            row[side]["ops"] = c.op_count(path)[0]
    return row


def _stop(samples: list[dict]) -> bool:
    """After a timeout or failure a side is not run again for this graph."""
    return bool(samples) and samples[-1]["status"] != "ok"


def _say(job, side, r, s) -> None:
    what = f"{s['seconds']:.2f} s (cpu {s['cpu_seconds']:.2f} s), {s['peak_rss_mib']:.0f} MiB" if s["status"] == "ok" else s["status"]
    print(f"  {job['name']} round {r + 1} {side}: {what}", file=sys.stderr, flush=True)


def litesmith_stages(job: dict, work: str, timeout: float) -> dict:
    out = os.path.join(work, job["name"].replace("/", "_") + ".stages.tflite")
    result = out + ".json"
    s = measure(stages_argv(job, out, result), timeout)
    if s["status"] != "ok":
        return {"status": s["status"]}
    with open(result) as f:
        return {"status": "ok", **json.load(f)}


def agreement(ours: str, theirs: str, seed: int = 0) -> dict:
    """Run both models in LiteRT on one seeded random input; max |difference| over all outputs.

    Outputs are matched by name (by position where the names differ)."""
    from ai_edge_litert.interpreter import Interpreter

    results = {}
    for side, path in (("litesmith", ours), ("tf", theirs)):
        interp = Interpreter(model_path=path, num_threads=1)
        interp.allocate_tensors()
        rng = np.random.default_rng(seed)
        for d in sorted(interp.get_input_details(), key=lambda d: d["name"]):
            interp.set_tensor(d["index"], rng.standard_normal(d["shape"]).astype(d["dtype"]))
        interp.invoke()
        results[side] = {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    a, b = results["litesmith"], results["tf"]
    pairs = ([(a[k], b[k]) for k in sorted(a)] if set(a) == set(b) else list(zip(a.values(), b.values())))
    diff = max(float(np.max(np.abs(x.astype(np.float64) - y))) for x, y in pairs)
    scale = max(float(np.max(np.abs(y))) for _, y in pairs)
    finite = all(np.all(np.isfinite(x)) and np.all(np.isfinite(y)) for x, y in pairs)
    return {"max_abs_diff": diff, "max_abs_output": scale, "finite": bool(finite), "outputs": len(pairs)}


# -- main --------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default=",".join(sg.SHAPES), help="generated shapes (comma list; 'none' for none)")
    p.add_argument("--sizes", default="1k,10k,100k", help="about this many nodes each (1k, 10k, 100k, 2500...)")
    p.add_argument("--cnns", default=",".join(CNNS), help="zoo CNNs to run too (comma list; 'none' for none)")
    p.add_argument("--sides", default=",".join(SIDES), help="litesmith, tf or both")
    p.add_argument("--rounds", type=int, default=1, help="alternating rounds per graph (medians reported)")
    p.add_argument("--timeout", type=float, default=1200, help="seconds before a converter process is killed")
    p.add_argument("--reuse-peer", action="store_true",
                   help="take TF's figures from the cache where present (a cached timeout only if >= --timeout)")
    p.add_argument("--no-stages", action="store_true", help="skip the per-stage child")
    p.add_argument("--no-warmup", action="store_true", help="skip the unmeasured first run of each side")
    p.add_argument("--cache", default=sg.CACHE, help="where graphs, TF's figures and outputs are kept")
    p.add_argument("--out", default=None, help="results.json, results.md and scale.png (default CACHE/results)")
    p.add_argument("--write-docs", action="store_true", help="copy the plot and table into docs/")
    args = p.parse_args(argv)
    args.shapes = [s for s in args.shapes.split(",") if s and s != "none"]
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.cnns = [s for s in args.cnns.split(",") if s and s != "none"]
    args.sides = [s for s in args.sides.split(",") if s]
    args.out = args.out or os.path.join(args.cache, "results")
    for name, given, known in (("--shapes", args.shapes, sg.SHAPES), ("--cnns", args.cnns, CNNS),
                               ("--sides", args.sides, SIDES)):
        if set(given) - set(known):
            p.error(f"{name}: unknown {sorted(set(given) - set(known))}; choose from {', '.join(known)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    work = os.path.join(args.cache, "out")
    os.makedirs(work, exist_ok=True)
    jobs = [generated_job(shape, size, args.cache) for size in args.sizes for shape in args.shapes]
    jobs += [cnn_job(arch) for arch in args.cnns]
    more_folds = ("deep_mlp" in args.shapes and "litesmith" in args.sides
                  and deep_mlp_needs_more_folds(args.cache, args.timeout))
    for job in jobs:
        job["passes"] = extra_passes(job, more_folds)
    peers = PeerCache(args.cache)
    if not args.no_warmup and jobs:
        warm_up(generated_job((args.shapes or ["wide"])[0], "1k", args.cache), args, peers, work)
    results_path = os.path.join(args.out, "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    results["_run"] = {"date": _now(), "compiler_commit": _commit(), "machine": c.machine_line(),
                       "tf_version": peers.tf_version, "argv": sys.argv[1:]}
    for job in jobs:
        print(f"{job['name']}: {job['nodes']:,} nodes", file=sys.stderr, flush=True)
        row = run_job(job, args, peers, work)
        row["compiler_commit"] = results["_run"]["compiler_commit"]
        results[job["name"]] = row
        with open(results_path, "w") as f:
            json.dump(results, f, indent=1)
    table = scale_report.markdown(results)
    print(table)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(table)
    png = os.path.join(args.out, "scale.png")
    scale_report.plot(results, png)
    if args.write_docs:
        scale_report.write_docs(table, png)


def warm_up(job: dict, args, peers: PeerCache, work: str) -> None:
    """One unmeasured run of each side (bytecode cache, page cache), on a 1k-node graph."""
    if "litesmith" in args.sides:
        measure(litesmith_argv(job, os.path.join(work, "warmup.tflite")), args.timeout)
    if "tf" in args.sides and not args.reuse_peer:
        measure(c.tf_convert_argv(job["pb"], job["inputs"], job["outputs"], os.path.join(work, "warmup.tf.tflite"),
                                  job["input_shapes"]), args.timeout)


COMPILER_DIRS = ("ir", "passes", "backends", "frontends", "litesmith")


def _commit() -> str:
    """The last commit that changed the compiler's code (+ "-dirty" if it has uncommitted changes)."""
    def git(*a):
        return subprocess.run(["git", "-C", c.REPO, *a], capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("log", "-1", "--format=%h", "--", *COMPILER_DIRS)
        return commit + ("-dirty" if git("status", "--porcelain", "--", *COMPILER_DIRS) else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
