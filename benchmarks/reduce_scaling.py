"""`litesmith reduce` on graphs of growing size with one injected fault: nodes, tests, seconds.

    .venv/bin/python benchmarks/reduce_scaling.py [--sizes 500,2000,4000] [--json out.json]

The graphs are tests/faulty_graphs.py's (bounded elementwise math, constants, dead branches,
two outputs, the fault halfway); the faulty passes are tests/plugin_files/faulty_passes.py.
Each reduction runs in this process through litesmith.reducer.reduce_graph, as the CLI does.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from faulty_graphs import build_graph  # noqa: E402

from litesmith.cli.plugins import load_file  # noqa: E402
from litesmith.reducer import CrashPredicate, IllegalPredicate, Job, MismatchPredicate, reduce_graph  # noqa: E402

CASES = {
    "crash": ("exp-sub", lambda: CrashPredicate(Job("crash-on-exp-sub"))),
    "illegal": ("erf", lambda: IllegalPredicate(Job())),
    "mismatch": ("mul-const", lambda: MismatchPredicate(Job("broken-mul-by-const"), 1e-4)),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,4000")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    load_file(os.path.join(ROOT, "tests", "plugin_files", "faulty_passes.py"))
    rows = []
    print(f"{'case':9} {'nodes':>6} {'after':>5} {'tests':>5} {'seconds':>8}")
    for name in args.cases.split(","):
        fault, predicate = CASES[name]
        for n in (int(s) for s in args.sizes.split(",")):
            r = reduce_graph(build_graph(n, fault), predicate())
            rows.append({"case": name, "nodes": r.nodes_before, "after": r.nodes_after, "tests": r.tests,
                         "seconds": round(r.seconds, 2)})
            print(f"{name:9} {r.nodes_before:6d} {r.nodes_after:5d} {r.tests:5d} {r.seconds:8.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
