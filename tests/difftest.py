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
fine for a random graph, counted by reason); ``ambiguous`` (a disagreement where the
reference itself is ambiguous: nudging the inputs by 1e-4 moves an output by more than
1e-2, as at an argmax tie, a floor/round/compare boundary or a cast at an integer; counted
separately, never as a match); ``nonfinite`` (no input found with finite outputs);
anything else is a finding: an internal error, a pass that breaks the graph or its
numerics, LiteRT refusing the output or disagreeing with the interpreter. Each new
finding is shrunk with ``litesmith reduce``'s engine (same signature, 60 s budget) and
saved as IR text with its inputs (.npz) under tests/data/diff_findings/, which
tests/test_fuzz_findings.py replays.
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


def _litert_outputs(blob: bytes, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=blob, num_threads=1)
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.asarray(feeds[d["name"]], dtype=d["dtype"]))
    interp.invoke()
    return {d["name"]: read_output(interp, d) for d in interp.get_output_details()}


def read_output(interp, detail) -> np.ndarray:
    """An output's value; a zero-size one by its declared shape (LiteRT's get_tensor refuses to read
    those, "Invalid tensor size", from TF's converter's files too; an empty constant output after
    fold-empty-tensors is one). The ONNX conformance run reads its outputs with it too."""
    if 0 in detail["shape"]:
        return np.zeros(detail["shape"], detail["dtype"])
    return np.array(interp.get_tensor(detail["index"]))


class _LiteRTWorker:
    """LiteRT in a child process: a generated model that crashes or hangs the runtime (a segfault
    in a kernel) becomes a finding instead of ending the whole run. One long-lived worker, restarted
    after a crash, so the runtime is imported once, not per graph."""

    TIMEOUT = 60.0

    def __init__(self):
        self._pool = None

    def run(self, blob: bytes, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self.call(_litert_outputs, blob, feeds)

    def call(self, function, *args):
        """``function(*args)`` in the worker (a module-level function, as pickling requires)."""
        import concurrent.futures as cf
        import multiprocessing

        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        future = self._pool.submit(function, *args)
        try:
            return future.result(timeout=self.TIMEOUT)
        except cf.process.BrokenProcessPool:
            self._restart()
            raise Finding("LiteRT crashes on the output", "the runtime process died (a signal)") from None
        except cf.TimeoutError:
            self._restart(kill=True)
            raise Finding("LiteRT hangs on the output", f"no result in {self.TIMEOUT:.0f} s") from None

    def _restart(self, kill: bool = False) -> None:
        pool, self._pool = self._pool, None
        if kill:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)


_WORKER = _LiteRTWorker()
ISOLATE = False  # the command line sets it; the replay in `make test` runs LiteRT in-process


def run_litert(blob: bytes, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """LiteRT's outputs by name; in a child process when ``ISOLATE`` (see ``_LiteRTWorker``)."""
    return _WORKER.run(blob, feeds) if ISOLATE else _litert_outputs(blob, feeds)


def reference(graph, feeds) -> Optional[Dict[str, np.ndarray]]:
    """The interpreter's outputs by name, or None when any float value in the graph (not only an
    output) is inf or nan: runtimes legitimately differ there (sigmoid(rsqrt(-0.0)) is 0 in numpy
    and nan in LiteRT), so such inputs are redrawn, as NNSmith's input search does."""
    from litesmith.ir.clone import clone_graph
    from litesmith.ir.interpreter import Interpreter, InterpreterError

    probe = clone_graph(graph)
    watched = [v for node in probe for v in node.outputs if not v.type.is_list and v.dtype.is_float]
    names = [v.name for v in graph.outputs]
    probe.outputs = list(probe.outputs) + watched
    try:
        outs = Interpreter(probe).run_region(probe, [feeds[v.name] for v in probe.inputs])
    except InterpreterError as e:  # the graph verified, so a kernel that fails on it is a bug
        raise Finding("the reference interpreter fails on a verified graph", str(e).splitlines()[0][:300]) from None
    if not all(np.all(np.isfinite(np.asarray(o, np.float64))) for o in outs[len(names):]):
        return None
    values = dict(zip(names, outs[:len(names)]))
    if not all(np.all(np.isfinite(np.asarray(v, np.float64))) for v in values.values() if np.asarray(v).dtype.kind == "f"):
        return None
    return values


def check(graph, feeds) -> str:
    """"match", "refused: why", "ambiguous: what" or "nonfinite"; raises Finding for anything that is
    litesmith's fault."""
    from litesmith.ir import UserError

    feeds, want = search_inputs(graph, feeds)
    if want is None:
        return "nonfinite"
    try:
        _compile_and_compare(graph, feeds, want)
    except Finding as f:
        if unstable(graph, feeds, want):
            return "ambiguous: " + f.signature
        raise
    except UserError as e:
        return "refused: " + _reason(str(e))
    return "match"


def search_inputs(graph, feeds):
    """(feeds, reference outputs) with every float output finite: the drawn inputs, then the same
    magnitudes made positive (log, sqrt, pow of negatives), then small positive ones; else (feeds, None)."""
    tries = [feeds, {k: np.abs(v) + np.asarray(0.5, v.dtype) for k, v in feeds.items()},
             {k: np.full_like(v, 0.75) for k, v in feeds.items()}]
    for attempt in tries:
        want = reference(graph, attempt)
        if want is not None:
            return attempt, want
    return feeds, None


def unstable(graph, feeds, want, rel: float = 1e-4) -> bool:
    """Is the reference itself ambiguous here? True when nudging every input by ``rel`` (up and down)
    moves an output by more than the tolerance: a tie (argmax), a rounding or comparison boundary, a
    cast at an integer: any result within rounding of such a point is as right as the reference."""
    for sign in (1, -1):
        nudged = {k: (v + sign * rel * np.maximum(np.abs(v), 1e-2)).astype(v.dtype) if v.dtype.kind == "f" else v
                  for k, v in feeds.items()}  # relative, and absolute near 0 (ties at 0: gelu(0) vs relu(0))
        other = reference(graph, nudged)
        if other is None:
            return True
        for name, expected in want.items():
            if not np.allclose(np.asarray(other[name], np.float64), np.asarray(expected, np.float64),
                               rtol=100 * rel, atol=100 * rel):
                return True
    return False


def _compile_and_compare(graph, feeds, want) -> None:
    from litesmith.backends.tflite import compile_to_tflite
    from litesmith.ir import UserError
    from litesmith.ir.clone import clone_graph
    from litesmith.passes.manager import NumericsError, PassBrokeGraphError

    try:
        blob = compile_to_tflite(clone_graph(graph), manager_options={
            "verify_each": True, "check_numerics": True, "numerics_feeds": feeds, "rtol": RTOL, "atol": ATOL})
    except (NumericsError, PassBrokeGraphError) as e:
        raise Finding(f"{type(e).__name__} in {e.pass_name}", str(e).splitlines()[0][:300]) from None
    except UserError:
        raise
    except Exception as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        raise Finding(f"{type(e).__name__} at {os.path.relpath(where.filename, ROOT)}:{where.lineno}",
                      str(e).splitlines()[0][:300] if str(e) else "") from None
    try:
        got = run_litert(blob, feeds)
    except (RuntimeError, ValueError) as e:  # the legality check should have refused what LiteRT cannot run
        message = " ".join(str(e).split())
        raise Finding(f"LiteRT refuses the output ({_runtime_site(message)})", message[:300]) from None
    for name, expected in want.items():
        if name not in got:
            raise Finding("LiteRT output missing", f"{name!r} not among {sorted(got)}")
        actual = got[name]
        same_shape = actual.shape == np.shape(expected)
        if not same_shape or not np.allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                                             rtol=RTOL, atol=ATOL):
            producer = next((v.producer for v in graph.outputs if v.name == name), None)
            raise Finding(f"LiteRT differs from the interpreter (at {producer.op if producer else 'an input'})",
                          f"{name!r}: shape {actual.shape} vs {np.shape(expected)}, max abs diff "
                          f"{np.max(np.abs(np.asarray(actual, np.float64) - expected)) if same_shape else 'n/a'}")


def _runtime_site(message: str) -> str:
    """Where LiteRT failed, to tell findings apart: the builtin ("MEAN") or the kernel source line."""
    import re

    op = re.search(r"Node number \d+ \(([A-Z_0-9]+)\)", message)
    site = re.search(r"([a-z_/]+\.cc):\d+", message)
    return op.group(1) if op else site.group(1) if site else "no site"


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


class _SameFinding:
    """A ``litesmith reduce`` predicate: the candidate still shows the finding ``signature``."""

    def __init__(self, signature: str, feeds):
        self.signature, self.feeds = signature, feeds

    def setup(self, graph) -> str:
        from litesmith.reducer.predicates import NotInteresting

        if not self(graph):
            raise NotInteresting(f"the graph does not show {self.signature}")
        return self.signature

    def __call__(self, graph) -> bool:
        from litesmith.passes.numerics import adapt_feeds, random_feeds

        if any(not v.dtype.is_float for v in graph.inputs):  # a constant cut into an input: random ints
            return False  # (a perm, an index) would make the failure the feed's, not litesmith's

        feeds = adapt_feeds(graph, self.feeds)
        try:
            check(graph, feeds if feeds is not None else random_feeds(graph))
        except Finding as f:
            return f.signature == self.signature
        except Exception:  # a different failure of a candidate: not the same finding
            return False
        return False


def minimize(graph, feeds, signature: str):
    """The smallest graph ``litesmith reduce`` finds that still shows the finding (60 s budget)."""
    from litesmith.reducer.engine import reduce_graph

    try:
        return reduce_graph(graph, _SameFinding(signature, feeds), time_limit=60).graph
    except Exception:  # the finding does not reproduce on a copy (it depends on the draw): keep it whole
        return graph


def _summary(counts) -> str:
    return f"{sum(counts.values())} graphs: " + ", ".join(f"{v} {k}" for k, v in counts.most_common())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="graphs to try")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--findings", default=FINDINGS)
    parser.add_argument("--generator", choices=["opgen", "irgen"], default="opgen",
                        help="opgen: every declared core op (default); irgen: pass-property graphs with loops")
    parser.add_argument("--in-process", action="store_true",
                        help="run LiteRT in this process (faster; a runtime crash ends the run)")
    parser.add_argument("--every", type=int, default=250, help="print running counts every N graphs")
    parser.add_argument("--all-findings", metavar="DIR",
                        help="also save every finding as drawn (unminimized), to re-check them all after a fix")
    parser.add_argument("--recheck", metavar="DIR", help="check every saved finding in DIR again and count the outcomes")
    args = parser.parse_args(argv)
    global ISOLATE
    ISOLATE = not args.in_process
    try:
        return recheck(args.recheck) if args.recheck else _run(args)
    finally:
        ISOLATE = False


def recheck(folder: str) -> int:
    """Outcomes of the findings saved in ``folder`` under the current code; 1 if any still shows."""
    from litesmith.ir import UserError
    from litesmith.ir.text import load_ir

    counts: collections.Counter = collections.Counter()
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".ir")):
        path = os.path.join(folder, name)
        try:
            outcome = check(load_ir(path), dict(np.load(path[:-3] + ".npz")))
        except Finding as f:
            outcome = "finding: " + f.signature
            print(f"STILL {path}: {f.signature}", file=sys.stderr)
        except UserError as e:  # fixed by refusing the graph at load: inference rejects it now
            outcome = "refused at load: " + _reason(str(e))
        counts[outcome.split(":")[0] if outcome.startswith(("refused", "ambiguous")) else outcome] += 1
    print(_summary(counts), flush=True)
    return 1 if any(k.startswith("finding") for k in counts) else 0


def _run(args) -> int:
    sys.path.insert(0, HERE)
    from hypothesis import HealthCheck, Phase, given, seed, settings

    if args.generator == "opgen":
        from opgen import declared_graphs as random_graphs
    else:
        from irgen import random_graphs

    counts: collections.Counter = collections.Counter()
    known: Dict[str, str] = {}  # signature -> the first (minimized) finding saved for it

    def one(case) -> None:
        try:
            count(case)
        finally:
            if sum(counts.values()) % args.every == 0:
                print(_summary(counts), file=sys.stderr, flush=True)

    def count(case) -> None:
        graph, feeds = case
        try:
            outcome = check(graph, feeds)
        except Finding as f:
            counts["finding: " + f.signature] += 1
            if args.all_findings:
                save_finding(args.all_findings, graph, feeds, f.signature)
            if f.signature not in known:
                from litesmith.passes.numerics import adapt_feeds, random_feeds

                small = minimize(graph, feeds, f.signature)
                small_feeds = adapt_feeds(small, feeds) or random_feeds(small)  # the reducer may change dims
                known[f.signature] = save_finding(args.findings, small, small_feeds, f.signature)
                print(f"FINDING {known[f.signature]}: {f.signature}", file=sys.stderr, flush=True)
            return
        counts[outcome] += 1

    test = settings(max_examples=args.count, deadline=None, database=None, derandomize=False,
                    phases=[Phase.generate], print_blob=False,
                    suppress_health_check=list(HealthCheck))(seed(args.seed)(given(random_graphs())(one)))
    test()
    print(_summary(counts), flush=True)
    print(f"{len(known)} new finding(s)" + "".join(f"\n  {s}: {p}" for s, p in known.items()))
    return 1 if known else 0


if __name__ == "__main__":
    sys.exit(main())
