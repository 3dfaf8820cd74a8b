"""One measured side of a benchmark, run as its own process.

    python -m litesmith.benchmarking.child SPEC.json

SPEC (JSON): side ("tf" or "litert"), model, token, probs, state ([[in, out], ...]),
state_shapes ({in: shape}, used where the TF placeholder's shape is not static),
tf_call ("callable": Session.make_callable, default; "run": Session.run with a feed dict),
steps, seed, threads, reset_every (zero the state every K steps; 0 = never), label,
result (where the result JSON goes), progress (bool), lockstep (bool).

lockstep: the parent runs several sides in alternating rounds (the same load drift hits
every side): the child loads its model, writes ``ready`` on stdout, then runs the next N
steps for each ``run N`` line on stdin (answering ``done``) until ``finish``. Whatever a
runtime prints goes to stderr, so nothing it says can be mistaken for an answer.

Both sides feed the same token sequence (seeded, uniform over the vocabulary) one
step at a time, threading each step's state outputs into the next step's state
inputs (back to zero every ``reset_every`` steps, like sentences: with random weights an
LSTM can be chaotic, and float rounding alone would make long runs diverge), and time every
step (feed the token, run, fetch the probabilities, thread the state). Each side does that
along its runtime's cheapest public path: TF a prepared callable whose fetched states are
fed straight back; LiteRT keeps the state in the interpreter's own input tensors (copied
over from the state outputs after each invoke), so only the token goes in. The size of the
vocabulary is the last dimension of the probability output.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from litesmith.benchmarking.procinfo import mapped_libraries, peak_rss_bytes
from litesmith.ir.progress import ProgressBar


@dataclasses.dataclass
class Side:
    """One runtime ready to step: ``step(token) -> probabilities`` threads the state itself,
    ``reset()`` zeroes it (not timed)."""

    step: Callable[[int], np.ndarray]
    reset: Callable[[], None]
    vocab: int
    package_dir: str


def _tensor(name: str) -> str:
    return name if ":" in name else name + ":0"


def _plain(name: str) -> str:
    return name.removesuffix(":0")


def open_tf(spec) -> Side:
    """A TF1 session over the frozen step graph, called through a prepared callable."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with open(spec["model"], "rb") as f:
        data = f.read()
    if spec["model"].endswith(".pbtxt"):
        from google.protobuf import text_format

        text_format.Parse(data.decode("utf-8"), graph_def)
    else:
        graph_def.ParseFromString(data)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    threads = int(spec.get("threads", 1))
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
    sess = tf.compat.v1.Session(graph=graph, config=config)

    def static_shape(name, fallback):
        shape = graph.get_tensor_by_name(_tensor(name)).shape
        return shape.as_list() if shape.is_fully_defined() else list(fallback)

    token_t = graph.get_tensor_by_name(_tensor(spec["token"]))
    token_buf = np.zeros(static_shape(spec["token"], spec.get("token_shape", [1])), token_t.dtype.as_numpy_dtype)
    ins = [i for i, _ in spec["state"]]
    outs = [o for _, o in spec["state"]]
    zeros = [np.zeros(static_shape(i, spec["state_shapes"][i]), np.float32) for i in ins]
    fetches = [_tensor(spec["probs"])] + [_tensor(o) for o in outs]
    feed_tensors = [token_t] + [graph.get_tensor_by_name(_tensor(i)) for i in ins]
    if spec.get("tf_call", "callable") == "run":  # sess.run with a feed dict, as the seed's code does
        def call(*values):
            return sess.run(fetches, dict(zip(feed_tensors, values)))
    else:  # the fastest TF1 path: a prepared callable, no per-step feed-dict handling
        call = sess.make_callable(fetches, feed_list=feed_tensors)
    states = list(zeros)

    def step(token):
        nonlocal states
        token_buf.fill(token)  # the session copies its feeds, so one buffer serves every step
        probs, *states = call(token_buf, *states)
        return probs

    def reset():
        nonlocal states
        states = list(zeros)  # never written in place: the callable returns fresh arrays

    vocab = graph.get_tensor_by_name(_tensor(spec["probs"])).shape.as_list()[-1]
    if vocab is None:  # dynamic width: ask the graph once
        vocab = np.asarray(call(token_buf, *zeros)[0]).shape[-1]
    return Side(step, reset, int(vocab), os.path.dirname(tf.__file__))


def open_litert(spec) -> Side:
    """The stock LiteRT interpreter (``num_threads`` from the spec) over the .tflite.

    The state lives in the interpreter's input tensors: after each invoke every state
    output is copied into its input (``set_tensor(in, get_tensor(out))``, two 1 KiB
    copies; in-place ``tensor()`` views measured slower from Python, each view costs
    more than a copy), and the token goes through one preallocated array."""
    import ai_edge_litert
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=spec["model"], num_threads=int(spec.get("threads", 1)))
    interp.allocate_tensors()
    inputs = {_plain(d["name"]): d for d in interp.get_input_details()}
    outputs = {_plain(d["name"]): d for d in interp.get_output_details()}
    token_d = inputs[_plain(spec["token"])]
    in_ds = [inputs[_plain(i)] for i, _ in spec["state"]]
    pairs = [(d["index"], outputs[_plain(o)]["index"]) for d, (_, o) in zip(in_ds, spec["state"])]
    zeros = [(d["index"], np.zeros(d["shape"], d["dtype"])) for d in in_ds]
    probs_idx = outputs[_plain(spec["probs"])]["index"]
    token_idx, token_buf = token_d["index"], np.zeros(token_d["shape"], token_d["dtype"])
    set_tensor, get_tensor, invoke = interp.set_tensor, interp.get_tensor, interp.invoke

    def step(token):
        token_buf.fill(token)
        set_tensor(token_idx, token_buf)
        invoke()
        for state_in, state_out in pairs:
            set_tensor(state_in, get_tensor(state_out))
        return get_tensor(probs_idx)

    def reset():
        for index, value in zeros:
            set_tensor(index, value)

    reset()
    vocab = int(outputs[_plain(spec["probs"])]["shape"][-1])
    return Side(step, reset, vocab, os.path.dirname(ai_edge_litert.__file__))


OPENERS = {"tf": open_tf, "litert": open_litert}


class Run:
    """One side stepping through the seeded token sequence, timing every step."""

    def __init__(self, spec):
        self.spec = spec
        start = time.perf_counter()
        self.side = OPENERS[spec["side"]](spec)
        self.load_seconds = time.perf_counter() - start
        self.tokens = np.random.default_rng(int(spec.get("seed", 0))).integers(0, self.side.vocab, int(spec["steps"]))
        self.times = np.empty(len(self.tokens))
        self.top1 = np.empty(len(self.tokens), np.int64)
        self.done = 0

    def advance(self, count: int, bar: ProgressBar | None = None) -> None:
        """Run the next ``count`` steps (fewer at the end of the sequence)."""
        reset_every = int(self.spec.get("reset_every", 0))
        step, times, top1 = self.side.step, self.times, self.top1
        stop = min(self.done + count, len(self.tokens))
        for k in range(self.done, stop):
            if reset_every and k % reset_every == 0:  # a new "sentence" starts from the zero state
                self.side.reset()
            token = int(self.tokens[k])
            t0 = time.perf_counter()
            probs = step(token)
            times[k] = time.perf_counter() - t0
            top1[k] = int(np.argmax(probs))
            if bar is not None and k % 64 == 0:
                bar.update(k)
        self.done = stop

    def result(self) -> dict:
        spec, side = self.spec, self.side
        libraries = mapped_libraries(side.package_dir)
        ms = self.times[: self.done] * 1e3
        return {
            "label": spec.get("label", spec["side"]),
            "side": spec["side"],
            "model": spec["model"],
            "model_bytes": os.path.getsize(spec["model"]),
            "steps": self.done,
            "vocab": side.vocab,
            "threads": int(spec.get("threads", 1)),
            "per_step_ms": {"median": float(np.median(ms)), "mean": float(ms.mean()),
                            "p10": float(np.percentile(ms, 10)), "p90": float(np.percentile(ms, 90))},
            "load_seconds": self.load_seconds,
            "peak_rss_bytes": peak_rss_bytes(),
            "runtime_bytes": sum(libraries.values()),
            "runtime_libraries": libraries,
            "top1": self.top1[: self.done].tolist(),
        }


def measure(spec) -> dict:
    """Load the model, run all ``steps`` steps in one go, return the result dict (timings in ms)."""
    run = Run(spec)
    bar = ProgressBar(len(run.tokens), spec.get("label", spec["side"]), enabled=bool(spec.get("progress", True)))
    run.advance(len(run.tokens), bar)
    bar.close()
    return run.result()


def serve_lockstep(spec, commands, answers) -> dict:
    """Load, answer ``ready``, run ``run N`` rounds as the parent calls them, return the result at ``finish``."""
    run = Run(spec)
    answers.write("ready\n")
    answers.flush()
    for line in commands:
        word, _, count = line.partition(" ")
        if word.strip() == "finish":
            break
        run.advance(int(count))
        answers.write("done\n")
        answers.flush()
    if run.done != len(run.tokens):
        raise RuntimeError(f"the parent stopped after {run.done} of {len(run.tokens)} steps")
    return run.result()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    try:
        if spec.get("lockstep"):
            answers = os.fdopen(os.dup(1), "w", encoding="ascii")
            os.dup2(2, 1)  # runtimes' own prints go to stderr, never into the answers
            result = serve_lockstep(spec, sys.stdin, answers)
        else:
            result = measure(spec)
        code = 0
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line about this side
        result, code = {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:500]}"}, 3
    with open(spec["result"], "w", encoding="utf-8") as f:
        json.dump(result, f)
    return code


if __name__ == "__main__":
    sys.exit(main())
