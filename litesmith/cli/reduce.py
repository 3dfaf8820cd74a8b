"""Shrink a model on which litesmith fails to a small .ir file that still fails (delta debugging).

Name the failure to keep with one of:
  --crash         a pass or the compile raises an internal error (not bad input):
                  the same exception type, raised at the same place
  --illegal       the TFLite lowering leaves illegal an op (and reason) that MODEL has
  --mismatch TOL  on random inputs the outputs differ from the reference interpreter by
                  more than TOL (numpy.isclose, rtol = atol = TOL): after -p, or, with
                  --compile, after lowering, or, with --litert, in LiteRT
  --until 'CMD'   a shell command; {} is replaced by the candidate .ir file (appended if
                  absent); a candidate is interesting if CMD exits with the status it had
                  on MODEL (MODEL is tested as .ir text too)

For the first three, each candidate goes through -p PIPELINE (verified after each
pass), then with --compile what `litesmith convert` does (clean-up pipeline,
lowering, fusion, writer), then with --litert one run in LiteRT. Without -p,
--compile is implied. The result is written atomically with its failure and a
one-line command that reproduces it in its header; progress is shown on a terminal.

example:
  litesmith reduce model.pb --crash -p strip-batch,unroll-rnn -o small.ir
  litesmith reduce model.ir --illegal
  litesmith reduce model.ir --mismatch 1e-4 --load my_passes.py -p my-pass
  litesmith reduce model.tflite --mismatch 1e-3 --litert --time-limit 600
  litesmith reduce model.ir --until 'litesmith opt {} -p cse 2>&1 | grep -q KeyError'
"""
from __future__ import annotations

import os
import shlex
import sys

from .options import OptionError, add_io_arguments, load_model, pipeline_error
from .plugins import add_load_argument, load_files


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL", help="the model: .pb/.pbtxt, .tflite or .ir")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--crash", action="store_true", help="keep an internal error (same type and place)")
    what.add_argument("--illegal", action="store_true", help="keep an op the TFLite lowering leaves illegal")
    what.add_argument("--mismatch", type=float, metavar="TOL", help="keep outputs differing by more than TOL")
    what.add_argument("--until", metavar="CMD", help="keep CMD's exit status ({} is the candidate .ir file)")
    p.add_argument("-p", "--pipeline", default="", help="passes to run on each candidate (verified after each)")
    p.add_argument("--compile", action="store_true", help="then compile to TFLite as convert does (implied without -p)")
    p.add_argument("--litert", action="store_true", help="then run the .tflite once in LiteRT (implies --compile)")
    add_load_argument(p)
    p.add_argument("-o", "--output", metavar="OUT.ir", help="where to write the result (default: MODEL's stem + .reduced.ir)")
    p.add_argument("--max-tests", type=int, metavar="N", help="stop after N candidate tests (keep the best so far)")
    p.add_argument("--time-limit", type=float, metavar="SECONDS", help="stop after this long (keep the best so far)")
    p.add_argument("--check", action="store_true", help="only say whether MODEL shows the failure (exit 0) or not (exit 2)")
    add_io_arguments(p)


def run(args) -> int:
    from litesmith.reducer import reduce_graph

    load_files(args.load)
    predicate = _predicate(args)
    graph = load_model(args)
    if args.check:
        print(f"{args.model}: {predicate.setup(graph)}")
        return 0
    show = _progress() if sys.stderr.isatty() else None
    result = reduce_graph(graph, predicate, max_tests=args.max_tests, time_limit=args.time_limit, progress=show)
    if show is not None:
        sys.stderr.write("\r\033[K")
    out = args.output or os.path.splitext(os.path.basename(args.model))[0] + ".reduced.ir"
    command = reproducer(args, out, predicate)
    header = [
        f"litesmith reduce: {args.model}, {result.nodes_before} -> {result.nodes_after} nodes "
        f"in {result.tests} tests ({result.seconds:.1f} s)" + ("" if result.complete else ", budget used up"),
        f"failure: {result.description}",
    ]
    if args.pipeline and args.until is None:
        from litesmith.passes.manager import REPRODUCER_PIPELINE_PREFIX

        header.append(REPRODUCER_PIPELINE_PREFIX[3:] + args.pipeline)  # `litesmith opt OUT.ir` reruns it
    header.append(f"reproduce: {command}")
    _write(result.graph, out, header)
    budget = "" if result.complete else " (budget used up: it may shrink further)"
    print(f"{args.model}: {result.nodes_before} -> {result.nodes_after} nodes in {result.tests} tests "
          f"({result.seconds:.1f} s){budget}; wrote {out}\nreproduce: {command}")
    return 0


def _predicate(args):
    from litesmith.passes.pipeline import parse_pipeline
    from litesmith.reducer import CommandPredicate, CrashPredicate, IllegalPredicate, Job, MismatchPredicate

    if args.until is not None:
        if args.pipeline or args.compile or args.litert:
            raise OptionError("--until runs only its command; -p, --compile and --litert are for --crash, "
                              "--illegal and --mismatch")
        return CommandPredicate(args.until)
    if args.pipeline:
        try:
            parse_pipeline(args.pipeline)
        except Exception as e:
            from litesmith.ir.errors import UserError

            if isinstance(e, UserError):
                raise pipeline_error(args.pipeline, e) from None
            raise
    job = Job(args.pipeline, compile=args.compile or not args.pipeline, litert=args.litert)
    if args.crash:
        return CrashPredicate(job)
    if args.illegal:
        return IllegalPredicate(job)
    if not args.mismatch >= 0:
        raise OptionError(f"--mismatch {args.mismatch}: the tolerance must be a number >= 0")
    return MismatchPredicate(job, args.mismatch)


def reproducer(args, out: str, predicate) -> str:
    """The one-line command that shows the failure on ``out``."""
    if args.until is not None:
        return predicate.command_for(out)
    words = ["litesmith", "reduce", out]
    words += ["--crash"] if args.crash else ["--illegal"] if args.illegal else ["--mismatch", f"{args.mismatch:g}"]
    if args.pipeline:
        words += ["-p", args.pipeline]
    if args.compile:
        words.append("--compile")
    if args.litert:
        words.append("--litert")
    for path in args.load:
        words += ["--load", path]
    return " ".join(shlex.quote(w) for w in words + ["--check"])


def _write(graph, path: str, header) -> None:
    """IR text with ``// `` header lines, constants above 16 elements in ``path.npz``; both atomic."""
    from litesmith.ir.fileio import write_atomic, write_npz
    from litesmith.ir.text import print_ir

    consts: dict = {}
    text = "".join(f"// {line}\n" for line in header) + print_ir(graph, constants_out=consts)
    side = path + ".npz"
    if consts:
        write_atomic(side, lambda f: write_npz(f, consts))
    elif os.path.exists(side):
        os.unlink(side)  # a stale side file from an earlier run
    write_atomic(path, text.encode("utf-8"))


def _progress():
    def show(message: str) -> None:
        sys.stderr.write(f"\r\033[Kreduce: {message}")
        sys.stderr.flush()

    return show
