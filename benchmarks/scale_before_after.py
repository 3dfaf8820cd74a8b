"""`litesmith convert` of an older commit against this tree, alternating, on the scaling graphs.

    .venv/bin/python benchmarks/scale_before_after.py --base main [--shapes deep_mlp,wide,rnn]
        [--sizes 10k,100k] [--cnns mobilenet_v2,resnet50] [--rounds 1] [--timeout 1200]

The base commit's compiler (``git archive BASE``) is unpacked under the cache and run with this
venv, the installed editable finder bypassed, so both sides share every dependency and differ
only in litesmith's code. Per graph (benchmarks/scale.py's jobs), in each round: base, then this
tree, each as one whole `litesmith convert` process (wall time, CPU time, peak RSS:
_common.measure_process). The outputs must be byte-identical (a refactoring of speed changes no
bytes); a row says so. Prints a markdown table: medians, the CPU-time speedup and peak ratio.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import scale  # noqa: E402

# Put first on the base side's sys.path: drops the editable finder (which maps litesmith.* to
# this tree) so that imports find the unpacked base instead.
_SITECUSTOMIZE = """import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
"""


def base_tree(rev: str, cache: str) -> tuple[str, str]:
    """(commit, PYTHONPATH entry) of ``rev``'s compiler unpacked under ``cache``."""
    commit = subprocess.run(["git", "-C", c.REPO, "rev-parse", "--short", rev], capture_output=True, text=True,
                            check=True).stdout.strip()
    root = os.path.join(cache, "base", commit)
    path = os.path.join(root, "path")
    if not os.path.exists(path):
        tree = os.path.join(root, "tree")
        os.makedirs(tree, exist_ok=True)
        archive = subprocess.run(["git", "-C", c.REPO, "archive", commit, *scale.COMPILER_DIRS], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        for layer in ("ir", "passes", "backends", "frontends"):  # pyproject's package-dir mapping
            os.symlink(os.path.join(tree, layer), os.path.join(tree, "litesmith", layer))
        os.makedirs(path + ".tmp")
        os.symlink(os.path.join(tree, "litesmith"), os.path.join(path + ".tmp", "litesmith"))
        with open(os.path.join(path + ".tmp", "sitecustomize.py"), "w") as f:
            f.write(_SITECUSTOMIZE)
        os.rename(path + ".tmp", path)
    return commit, path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="main", help="the commit to compare with (default main)")
    p.add_argument("--shapes", default=",".join(scale.sg.SHAPES))
    p.add_argument("--sizes", default="10k,100k")
    p.add_argument("--cnns", default=",".join(scale.CNNS))
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1200)
    p.add_argument("--cache", default=scale.sg.CACHE)
    args = p.parse_args(argv)
    split = (lambda s: [] if s == "none" else s.split(","))
    commit, path = base_tree(args.base, args.cache)
    work = os.path.join(args.cache, "out")
    os.makedirs(work, exist_ok=True)
    jobs = [scale.generated_job(shape, size, args.cache) for size in split(args.sizes) for shape in split(args.shapes)]
    jobs += [scale.cnn_job(arch) for arch in split(args.cnns)]
    this_env = {"PYTHONSAFEPATH": "1"}  # no working directory on sys.path: the base must not find this tree
    base_env = {**this_env, "PYTHONPATH": path}
    warm = scale.generated_job("wide", "1k", args.cache)  # bytecode of both trees, page cache
    for env in (base_env, this_env):
        c.measure_process(scale.litesmith_argv(warm, os.path.join(work, "warmup.tflite")), env=env)
    rows = []
    for job in jobs:
        outs = {side: os.path.join(work, job["name"].replace("/", "_") + f".{side}.tflite") for side in ("base", "this")}
        samples = {"base": [], "this": []}
        for r in range(args.rounds):
            for side, env in (("base", base_env), ("this", this_env)):
                s = c.measure_process(scale.litesmith_argv(job, outs[side]), timeout=args.timeout, env=env)
                samples[side].append(s)
                print(f"  {job['name']} round {r + 1} {side}: {s['seconds']:.2f} s (cpu {s['cpu_seconds']:.2f} s), "
                      f"{s['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
        med = {side: {k: statistics.median(s[k] for s in samples[side]) for k in ("seconds", "cpu_seconds", "peak_rss_mib")}
               for side in samples}
        rows.append((job, med, filecmp.cmp(outs["base"], outs["this"], shallow=False)))
    print(f"base {commit} vs this tree ({scale._commit()}), {args.rounds} round(s), load average at the end "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| graph | nodes | before cpu s (wall) | after cpu s (wall) | cpu speedup | peak MiB before / after | same bytes |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for job, m, same in rows:
        b, a = m["base"], m["this"]
        print(f"| {job['name']} | {job['nodes']:,} | {b['cpu_seconds']:.2f} ({b['seconds']:.1f}) | "
              f"{a['cpu_seconds']:.2f} ({a['seconds']:.1f}) | {b['cpu_seconds'] / a['cpu_seconds']:.2f}x | "
              f"{b['peak_rss_mib']:.0f} / {a['peak_rss_mib']:.0f} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
