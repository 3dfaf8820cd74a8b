"""Differential testing of the whole compile on random valid IR graphs (`make fuzz`).

    python tests/difftest.py [--count N] [--seed S] [--findings DIR]

Each graph comes from ``irgen.random_graphs`` (random valid graphs over the ops the
registry declares, with dead nodes, duplicates, constant subtrees, loops and branches).
Three oracles, one graph at a time:

1. the reference interpreter on the graph as generated (inputs redrawn until every
   output is finite: the input search);
2. the interpreter after every pass of the compile pipeline (the pass manager's
   ``check_numerics`` and ``verify_each`` instruments name the first pass that breaks
   the graph or changes its outputs);
3. LiteRT on the emitted .tflite against (1).

Outcomes: ``match``; ``refused`` (a UserError: litesmith says it cannot lower the graph,
fine for a random graph, counted); ``ambiguous`` (the reference itself is ambiguous: a tie or
a rounding boundary; none of the ops generated today has one, the class is kept for when
they do); anything else is a finding: an internal error, a pass that breaks numerics,
or LiteRT disagreeing with the interpreter. Hypothesis shrinks each new finding to a
small graph, which is saved as IR text (with its inputs as .npz) under
tests/data/diff_findings/ and replayed by tests/test_fuzz_findings.py.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import traceback
from typing import Dict, Optional

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FINDINGS = os.path.join(HERE, "data", "diff_findings")
RTOL, ATOL = 1e-5, 1e-5


class Finding(AssertionError):
    """A disagreement or crash that is litesmith's fault; ``signature`` groups equal ones."""

    def __init__(self, signature: str, detail: str):
        super().__init__(f"{signature}: {detail}")
        self.signature = signature


def run_litert(blob: bytes, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=blob, num_threads=1)
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.asarray(feeds[d["name"]], dtype=d["dtype"]))
    interp.invoke()
    return {d["name"]: np.array(interp.get_tensor(d["index"])) for d in interp.get_output_details()}


def reference(graph, feeds) -> Optional[Dict[str, np.ndarray]]:
    """The interpreter's outputs by name, or None when one is not finite (the input search redraws)."""
    from litesmith.ir.interpreter import Interpreter

    values = Interpreter(graph).run(feeds)
    if not all(np.all(np.isfinite(np.asarray(v, np.float64))) for v in values.values() if np.asarray(v).dtype.kind == "f"):
        return None
    return values


def check(graph, feeds) -> str:
    """"match", "refused" or "nonfinite"; raises Finding for anything that is litesmith's fault."""
    from litesmith.backends.tflite import compile_to_tflite
    from litesmith.ir import UserError
    from litesmith.ir.clone import clone_graph
    from litesmith.passes.manager import NumericsError, PassBrokeGraphError

    want = reference(graph, feeds)
    if want is None:
        return "nonfinite"
    try:
        blob = compile_to_tflite(clone_graph(graph), manager_options={
            "verify_each": True, "check_numerics": True, "numerics_feeds": feeds, "rtol": RTOL, "atol": ATOL})
    except (NumericsError, PassBrokeGraphError) as e:
        raise Finding(f"{type(e).__name__} in {e.pass_name}", str(e).splitlines()[0][:300]) from None
    except UserError as e:
        return "refused: " + _reason(str(e))
    except Exception as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        raise Finding(f"{type(e).__name__} at {os.path.relpath(where.filename, ROOT)}:{where.lineno}",
                      str(e).splitlines()[0][:300] if str(e) else "") from None
    got = run_litert(blob, feeds)
    for name, expected in want.items():
        if name not in got:
            raise Finding("LiteRT output missing", f"{name!r} not among {sorted(got)}")
        actual = got[name]
        if actual.shape != np.shape(expected) or not np.allclose(actual, expected, rtol=RTOL, atol=ATOL):
            raise Finding("LiteRT differs from the interpreter",
                          f"{name!r}: shape {actual.shape} vs {np.shape(expected)}, max abs diff "
                          f"{np.max(np.abs(actual - expected)) if actual.shape == np.shape(expected) else 'n/a'}")
    return "match"


def _reason(message: str) -> str:
    """The kind of a refusal, without node names: "cannot lower 2 node(s) ... (core.while)" -> its op list."""
    import re

    text = message.split("; pass --report")[0]
    text = re.sub(r"'[^']*'|%\S+|\d+", "_", text)
    return text[:120]


def save_finding(folder: str, graph, feeds, signature: str) -> str:
    from litesmith.ir.text import print_ir

    os.makedirs(folder, exist_ok=True)
    text = print_ir(graph)
    stem = os.path.join(folder, f"finding-{abs(hash(text)) % 10 ** 10:010d}")
    with open(stem + ".ir", "w") as f:
        f.write(f"// {signature}\n{text}")
    np.savez(stem + ".npz", **feeds)
    return stem + ".ir"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="graphs to try")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--findings", default=FINDINGS)
    args = parser.parse_args(argv)
    sys.path.insert(0, HERE)
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from irgen import random_graphs

    counts: collections.Counter = collections.Counter()
    known: Dict[str, str] = {}
    state = {"new": None}  # (signature, graph, feeds) of the newest failing call: after shrinking, the minimal one

    def one(case) -> None:
        graph, feeds = case
        try:
            outcome = check(graph, feeds)
        except Finding as f:
            if f.signature in known:
                counts[f"finding (known): {f.signature}"] += 1
                return
            state["new"] = (f.signature, graph, feeds)
            raise
        counts[outcome] += 1

    remaining, run_seed = args.count, args.seed
    while remaining > 0:
        before = sum(counts.values())
        test = settings(max_examples=remaining, deadline=None, database=None, derandomize=False,
                        phases=[Phase.generate, Phase.shrink], print_blob=False,
                        suppress_health_check=list(HealthCheck))(seed(run_seed)(given(random_graphs())(one)))
        try:
            test()
            remaining = 0
        except Finding:
            signature, graph, feeds = state["new"]
            known[signature] = save_finding(args.findings, graph, feeds, signature)
            print(f"FINDING {known[signature]}: {signature}", file=sys.stderr, flush=True)
            remaining -= max(sum(counts.values()) - before, 1)
            run_seed += 1
    total = sum(counts.values())
    print(f"{total} graphs: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    print(f"{len(known)} new finding(s)" + "".join(f"\n  {s}: {p}" for s, p in known.items()))
    return 1 if known else 0


if __name__ == "__main__":
    sys.exit(main())
