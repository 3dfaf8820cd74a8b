"""ONNX node-test conformance: every float32-only case of ONNX's own node tests converted by
litesmith and run in LiteRT against the expected outputs.

    .venv/bin/python benchmarks/onnx_conformance.py            # all 751 cases, ~2-4 min
    .venv/bin/python benchmarks/onnx_conformance.py --only relu,conv --verbose

Prints the counts by category (pass / unsupported / mismatch / crash), writes
the per-op table to docs/onnx-conformance.md and the passing cases to
tests/data/onnx_conformance_pass.txt (``module case`` per line), which
tests/test_onnx_conformance.py replays. ``--check`` only compares with that
list: it exits 1 if a listed case no longer passes.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

from onnx_conformance_cases import STATUSES, is_float32_io, is_measured, load_cases, node_modules, run_case, summarize  # noqa: E402

PASS_LIST = os.path.join(REPO, "tests", "data", "onnx_conformance_pass.txt")
TABLE = os.path.join(REPO, "docs", "onnx-conformance.md")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated node-test modules (default: all)")
    p.add_argument("--verbose", action="store_true", help="print every case that does not pass, with the reason")
    p.add_argument("--check", action="store_true", help="fail if a case in the pass list no longer passes; write nothing")
    p.add_argument("--no-write", action="store_true", help="print only; do not rewrite the table and the pass list")
    args = p.parse_args(argv)
    from ai_edge_litert.interpreter import Interpreter

    import onnx

    t0 = time.time()
    modules = args.only.split(",") if args.only else node_modules()
    cases = load_cases(modules)
    all_count = len(cases)
    n_float = sum(1 for c in cases if is_float32_io(c))
    cases = [c for c in cases if is_measured(c)]
    t1 = time.time()
    results = []
    for c in cases:
        status, detail = run_case(c, Interpreter)
        results.append((c, status, detail))
        if args.verbose and status != "pass":
            print(f"{status:12s} {c.name}: {detail}")
    t2 = time.time()
    counts = summarize([r for r in results if is_float32_io(r[0])])
    extra = summarize([r for r in results if not is_float32_io(r[0])])
    total = n_float
    print(f"onnx {onnx.__version__}: {all_count} node cases, {total} float32-only")
    for s in STATUSES:
        print(f"  {s:12s} {counts[s]:4d}  ({100.0 * counts[s] / max(total, 1):.1f}%)")
    print(f"  If/Loop/Scan cases with other tensor types: {sum(extra.values())}, "
          + ", ".join(f"{s} {extra[s]}" for s in STATUSES))
    print(f"generate {t1 - t0:.0f} s, convert and run {t2 - t1:.0f} s")
    passing = sorted(f"{c.module} {c.name}" for c, s, _ in results if s == "pass")
    if args.check:
        listed = _read_list()
        lost = sorted(x for x in listed if x not in passing and (args.only is None or x.split()[0] in modules))
        for x in lost:
            print(f"REGRESSION {x}")
        return 1 if lost else 0
    if not args.no_write and not args.only:
        os.makedirs(os.path.dirname(PASS_LIST), exist_ok=True)
        with open(PASS_LIST, "w") as f:
            f.write("\n".join(passing) + "\n")
        with open(TABLE, "w") as f:
            f.write(_table(results, counts, extra, onnx.__version__, all_count))
        print(f"wrote {PASS_LIST} and {TABLE}")
    return 1 if counts["crash"] else 0


def _read_list():
    if not os.path.exists(PASS_LIST):
        return []
    with open(PASS_LIST) as f:
        return [line.strip() for line in f if line.strip()]


def _table(results, counts, extra, version, all_count) -> str:
    by_op = defaultdict(lambda: defaultdict(int))
    reasons = defaultdict(list)
    for c, s, detail in results:
        by_op[c.module][s] += 1
        if s != "pass":
            reasons[c.module].append(detail.split("; first:")[0].replace("main: ", ""))
    total = sum(counts.values())
    lines = [
        "# ONNX node-test conformance",
        "",
        "<!-- Written by `benchmarks/onnx_conformance.py`; do not edit by hand. -->",
        "",
        f"ONNX's own node tests (onnx {version}: {all_count} cases, {total} with float32-only inputs and",
        "outputs), each converted by litesmith with the default pipeline and run in LiteRT against the",
        "expected outputs (the case's tolerance, at least 1e-4 relative). See docs/onnx.md.",
        "",
        "| category | cases | share |",
        "|---|---:|---:|",
    ]
    for s in STATUSES:
        lines.append(f"| {s} | {counts[s]} | {100.0 * counts[s] / max(total, 1):.1f}% |")
    lines += ["", f"Also run: the {sum(extra.values())} If/Loop/Scan cases whose inputs or outputs are tensors of other "
              "types (a bool condition, an int64 trip count): " + ", ".join(f"{s} {extra[s]}" for s in STATUSES) + "."]
    lines += ["", "Per node-test module (one per ONNX op; `_expanded` cases, the op's function body, count with it):",
              "", "| module | pass | unsupported | mismatch | crash | first reason |", "|---|---:|---:|---:|---:|---|"]
    for op in sorted(by_op):
        row = by_op[op]
        why = reasons[op][0].replace("|", "/")[:120] if reasons[op] else ""
        lines.append(f"| {op} | {row['pass']} | {row['unsupported']} | {row['mismatch']} | {row['crash']} | {why} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
