"""TF's op set, measured: which TF ops TensorFlow's converter legalizes to TFLite builtins, and what
litesmith does with each.

    .venv/bin/python benchmarks/tf_ops_table.py           # rewrites docs/tf-ops.md
    .venv/bin/python benchmarks/tf_ops_table.py --check   # exit 1 if docs/tf-ops.md is stale

The op list is tests/data/tf_legalized_ops.tsv (read from TF's legalization patterns; the file
names the commits). litesmith's status per op comes from its own registries, no graph is built:

- core: the TF frontend maps the op to core ops (``@tf_op`` in frontends/tf/ops_*.py);
- composed: no mapping, but a compose-ops rule rewrites the foreign ``tf.<Op>`` node;
- stub only: neither; the op stays ``tf.<Op>`` and only stub-custom-ops / split-host-ops take it.

tests/test_tf_ops_table.py regenerates the table and fails when the committed one differs.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OPS_FILE = os.path.join(REPO, "tests", "data", "tf_legalized_ops.tsv")
TABLE = os.path.join(REPO, "docs", "tf-ops.md")

STATUSES = ("core", "composed", "stub only")


def read_ops(path: str = OPS_FILE) -> Tuple[List[Tuple[str, List[str], List[str]]], List[str]]:
    """(rows of (tf op, TFLite builtins, source files), the '#' header lines naming the sources)."""
    rows, header = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                header.append(line[1:].strip())
            elif line.strip():
                op, builtins, sources = line.split("\t")
                rows.append((op, builtins.split(","), sources.split(",")))
    return rows, header


def statuses(ops: List[str]) -> Dict[str, str]:
    """TF op -> core / composed / stub only, from the frontend's mapping table and compose-ops' rules."""
    from litesmith.frontends.tf.mapper import MAPPERS, _load_mappings
    from litesmith.passes.compose_patterns import RULES

    _load_mappings()
    composed = {root[3:] for rule in RULES.values() for root in rule.roots if root.startswith("tf.")}
    return {op: "core" if op in MAPPERS else "composed" if op in composed else "stub only" for op in ops}


def _sources(header: List[str]) -> List[str]:
    """The header's source lines: ``name  path @ commit``."""
    return [h for h in header if " @ " in h]


def render(path: str = OPS_FILE) -> str:
    rows, header = read_ops(path)
    status = statuses([op for op, _, _ in rows])
    counts = {s: sum(1 for v in status.values() if v == s) for s in STATUSES}
    total = len(rows)
    mapped = counts["core"] + counts["composed"]
    lines = [
        "# TF ops that TF's converter legalizes, and litesmith",
        "",
        "<!-- Written by `benchmarks/tf_ops_table.py` from `tests/data/tf_legalized_ops.tsv`; do not edit by hand. -->",
        "",
        "Every TF op that TensorFlow's converter rewrites to TFLite builtins, taken from TF's own",
        "legalization patterns (tensorflow/tensorflow, the stored copies read at these commits):",
        "",
    ]
    for src in _sources(header):
        name, rest = src.split(None, 1)
        where, commit = (s.strip() for s in rest.split(" @ "))
        lines.append(f"- `{name}`: `{where}` at `{commit}`")
    lines += [
        "",
        "litesmith's status comes from its registries: **core** = the TF frontend maps the op to core ops",
        "(`@tf_op` in `frontends/tf/ops_*.py`), **composed** = a `compose-ops` rule rewrites the foreign",
        "`tf.<Op>` node, **stub only** = neither (the op stays `tf.<Op>`; `stub-custom-ops` or",
        "`split-host-ops` take it).",
        "",
        "| status | ops | share |",
        "|---|---:|---:|",
    ]
    lines += [f"| {s} | {counts[s]} | {100.0 * counts[s] / total:.1f}% |" for s in STATUSES]
    lines += [
        f"| **mapped (core + composed)** | **{mapped}** | **{100.0 * mapped / total:.1f}%** |",
        "",
        "| TF op | TF's converter emits | from | litesmith |",
        "|---|---|---|---|",
    ]
    for op, builtins, sources in sorted(rows, key=lambda r: r[0].lower()):
        lines.append(f"| `{op}` | {', '.join(builtins)} | {', '.join(sources)} | {status[op]} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if docs/tf-ops.md differs from a fresh render")
    args = p.parse_args(argv)
    text = render()
    if args.check:
        with open(TABLE, encoding="utf-8") as f:
            stale = f.read() != text
        print("docs/tf-ops.md is stale; run benchmarks/tf_ops_table.py" if stale else "docs/tf-ops.md is current")
        return 1 if stale else 0
    with open(TABLE, "w", encoding="utf-8") as f:
        f.write(text)
    print(text.split("| TF op |")[0].rstrip().rsplit("\n\n", 1)[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
