"""Benchmark a single-step model: N steps in TensorFlow vs the same steps in LiteRT.

The TensorFlow side runs the original frozen single-step graph (STEP.pb) in a
TF1 session; each --tflite model runs in the stock LiteRT interpreter. Every side
is its own process (honest peak memory, its own runtime libraries) and feeds the
same seeded token sequence one step at a time, threading the state outputs back
into the state inputs (zeroed every --reset-every steps, like sentences); LiteRT keeps
the state in its interpreter's input tensors, TF feeds back what its callable fetched.
Both runtimes get --threads threads (default 1; the table has a threads column). The
sides take turns in --rounds alternating rounds (default 20; the others wait idle on a pipe),
so load drift on a shared machine hits every side alike.

The tensor roles come from the first .tflite: its 'litesmith.state' metadata
names the state pairs (or give --state IN:OUT), the other input is the token,
the first other output the probabilities; the TF graph is fed under the same
names. Reports per-step latency (median, p90), whole-process peak memory (VmHWM),
model size, size on disk of the runtime libraries the process mapped, and how
often each side's top-1 token agrees with TensorFlow's. Writes OUT/bench.md,
OUT/bench.json and OUT/bench.png and prints the table. Needs TensorFlow
(pip install litesmith[tf]) and ai-edge-litert.

example:
  litesmith bench --tf-graph step.pb --tflite step.tflite --tflite step-int8.tflite -n 10000 --out bench/
  litesmith bench --tf-graph step.pb --tflite plain.tflite --state state_c0:new_state_c0 \\
      --state state_h0:new_state_h0 -n 2000          # a model without litesmith.state metadata
  .venv/bin/python benchmarks/seed_table.py          # builds the seed's 2x256 LM and runs this verb
"""
from __future__ import annotations

import os
import shlex
import sys

from litesmith.ir.errors import UserError


def add_arguments(p) -> None:
    p.add_argument("--tf-graph", required=True, metavar="STEP.pb", help="the frozen single-step TF graph (.pb/.pbtxt)")
    p.add_argument("--tflite", action="append", required=True, metavar="MODEL.tflite",
                   help="a LiteRT model of the same step (repeatable: float, int8, ...)")
    p.add_argument("-n", "--steps", type=int, default=10_000, help="single-step inferences per side (default 10000)")
    p.add_argument("--out", default="bench", metavar="DIR", help="where bench.md/.json/.png go (default ./bench)")
    p.add_argument("--state", action="append", metavar="IN:OUT",
                   help="a state pair (repeatable); default: the first .tflite's litesmith.state metadata")
    p.add_argument("--token", metavar="NAME", help="the token input (default: the one non-state input)")
    p.add_argument("--probs", metavar="NAME", help="the probability output (default: the first non-state output)")
    p.add_argument("--threads", type=int, default=1, help="threads for both runtimes (default 1)")
    p.add_argument("--rounds", type=int, default=20, metavar="R",
                   help="alternating rounds of -n/R steps per side (default 20; 1 = one side after the other)")
    p.add_argument("--reset-every", type=int, default=20, metavar="K",
                   help="zero the state every K steps, like sentences (default 20; 0 = never)")
    p.add_argument("--tf-call", choices=("callable", "run"), default="callable",
                   help="TF per step: a prepared Session.make_callable (default, TF's fastest path) "
                        "or Session.run with a feed dict (what the seed's code does)")
    p.add_argument("--seed", type=int, default=0, help="seed of the token sequence (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _pairs(specs):
    if not specs:
        return None
    pairs = []
    for spec in specs:
        i, sep, o = spec.partition(":")
        if not sep or not i or not o:
            raise UserError(f"--state {spec!r}: expected IN:OUT, e.g. state_c0:new_state_c0")
        pairs.append((i, o))
    return pairs


def _check_inputs(args) -> None:
    if args.steps < 1:
        raise UserError(f"-n {args.steps}: need at least one step")
    if args.rounds < 1 or args.threads < 1:
        raise UserError("--rounds and --threads must be at least 1")
    for path in [args.tf_graph, *args.tflite]:
        if not os.path.isfile(path):
            raise UserError(f"{path}: no such file")
    if not args.tf_graph.endswith((".pb", ".pbtxt")):
        raise UserError(f"{args.tf_graph}: --tf-graph must be a frozen GraphDef (.pb or .pbtxt)")
    from litesmith.benchmarking.harness import tensorflow_available

    if not tensorflow_available():
        raise UserError("TensorFlow is not installed; the bench verb runs the TF side itself: "
                        "pip install litesmith[tf]")


def _label(path: str, taken: set) -> str:
    label = "LiteRT " + os.path.splitext(os.path.basename(path))[0]
    while label in taken:
        label += "'"
    taken.add(label)
    return label


def run(args) -> int:
    from litesmith.benchmarking.harness import (
        SideJob,
        run_sides,
        step_roles,
        top1_agreement,
    )
    from litesmith.benchmarking.report import markdown_table, record, write_outputs

    _check_inputs(args)
    roles = step_roles(args.tflite[0], state=_pairs(args.state), token=args.token, probs=args.probs)
    tf_label = "TensorFlow " + os.path.splitext(os.path.basename(args.tf_graph))[0]
    if args.tf_call == "run":
        tf_label += " (sess.run)"
    taken = {tf_label}
    jobs = [SideJob("tf", args.tf_graph, tf_label)] + [SideJob("litert", path, _label(path, taken))
                                                       for path in args.tflite]
    results = run_sides(jobs, roles, args.steps, rounds=args.rounds, seed=args.seed, threads=args.threads,
                        reset_every=args.reset_every, tf_call=args.tf_call, progress=not args.no_progress)
    for r in results[1:]:
        r["top1_agreement"] = top1_agreement(r, results[0])
    argv = sys.argv[2:] if sys.argv[1:2] == ["bench"] else []
    command = " ".join(["litesmith", "bench", *map(shlex.quote, argv)])
    rec = record(results, command, steps=args.steps, threads=args.threads, rounds=args.rounds, seed=args.seed,
                 reset_every=args.reset_every, tf_call=args.tf_call,
                 roles={"token": roles.token, "probs": roles.probs, "state": roles.state})
    paths = write_outputs(args.out, "bench", results, rec, f"{args.steps} single steps, {args.threads} thread(s)")
    sys.stdout.write(markdown_table(results))
    print(f"\nwrote {paths['md']}, {paths['json']}, {paths['png']}", file=sys.stderr)
    return 0
