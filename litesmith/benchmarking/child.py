"""One measured side of a benchmark, run as its own process.

    python -m litesmith.benchmarking.child SPEC.json

SPEC (JSON): side ("tf" or "litert"), model, token, probs, state ([[in, out], ...]),
state_shapes ({in: shape}, used where the TF placeholder's shape is not static),
tf_call ("callable": Session.make_callable, default; "run": Session.run with a feed dict),
steps, seed, threads, reset_every (zero the state every K steps; 0 = never), label,
result (where the result JSON goes), progress (bool).

Both sides feed the same token sequence (seeded, uniform over the vocabulary) one
step at a time, threading each step's state outputs into the next step's state
inputs (back to zero every ``reset_every`` steps, like sentences: with random weights an
LSTM can be chaotic, and float rounding alone would make long runs diverge), and time every
step (feed + run + fetch). The token-count size of the
vocabulary is the last dimension of the probability output.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from litesmith.benchmarking.procinfo import mapped_libraries, peak_rss_bytes
from litesmith.benchmarking.progress import ProgressBar

# step(token, states) -> (probs, new states)
StepFn = Callable[[int, list[np.ndarray]], tuple[np.ndarray, list[np.ndarray]]]


def _tensor(name: str) -> str:
    return name if ":" in name else name + ":0"


def _plain(name: str) -> str:
    return name.removesuffix(":0")


def open_tf(spec) -> tuple[StepFn, list[np.ndarray], int, str]:
    """A TF1 session over the frozen step graph: (step, zero states, vocab, package dir)."""
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
    token_shape = static_shape(spec["token"], spec.get("token_shape", [1]))
    token_dtype = token_t.dtype.as_numpy_dtype
    ins = [i for i, _ in spec["state"]]
    outs = [o for _, o in spec["state"]]
    states = [np.zeros(static_shape(i, spec["state_shapes"][i]), np.float32) for i in ins]
    fetches = [_tensor(spec["probs"])] + [_tensor(o) for o in outs]
    feed_tensors = [token_t] + [graph.get_tensor_by_name(_tensor(i)) for i in ins]
    if spec.get("tf_call", "callable") == "run":  # sess.run with a feed dict, as the seed's code does
        def call(*values):
            return sess.run(fetches, dict(zip(feed_tensors, values)))
    else:  # the fastest TF1 path: a prepared callable, no per-step feed-dict handling
        call = sess.make_callable(fetches, feed_list=feed_tensors)
    vocab = graph.get_tensor_by_name(_tensor(spec["probs"])).shape.as_list()[-1]
    if vocab is None:  # dynamic width: ask the graph once
        vocab = np.asarray(call(np.zeros(token_shape, token_dtype), *states)[0]).shape[-1]

    def step(token, state_values):
        fetched = call(np.full(token_shape, token, token_dtype), *state_values)
        return fetched[0], list(fetched[1:])

    return step, states, int(vocab), os.path.dirname(tf.__file__)


def open_litert(spec) -> tuple[StepFn, list[np.ndarray], int, str]:
    """The stock LiteRT interpreter (``num_threads`` from the spec) over the .tflite."""
    import ai_edge_litert
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=spec["model"], num_threads=int(spec.get("threads", 1)))
    interp.allocate_tensors()
    inputs = {_plain(d["name"]): d for d in interp.get_input_details()}
    outputs = {_plain(d["name"]): d for d in interp.get_output_details()}
    token_d = inputs[_plain(spec["token"])]
    in_ds = [inputs[_plain(i)] for i, _ in spec["state"]]
    out_idx = [outputs[_plain(o)]["index"] for _, o in spec["state"]]
    probs_idx = outputs[_plain(spec["probs"])]["index"]
    states = [np.zeros(d["shape"], d["dtype"]) for d in in_ds]
    token_shape, token_dtype, token_idx = tuple(token_d["shape"]), token_d["dtype"], token_d["index"]
    in_idx = [d["index"] for d in in_ds]

    def step(token, state_values):
        interp.set_tensor(token_idx, np.full(token_shape, token, token_dtype))
        for index, value in zip(in_idx, state_values):
            interp.set_tensor(index, value)
        interp.invoke()
        return interp.get_tensor(probs_idx), [interp.get_tensor(i) for i in out_idx]

    vocab = int(outputs[_plain(spec["probs"])]["shape"][-1])
    return step, states, vocab, os.path.dirname(ai_edge_litert.__file__)


OPENERS = {"tf": open_tf, "litert": open_litert}


def measure(spec) -> dict:
    """Load the model, run ``steps`` steps, return the result dict (timings in ms)."""
    start = time.perf_counter()
    step, states, vocab, package_dir = OPENERS[spec["side"]](spec)
    load_seconds = time.perf_counter() - start
    tokens = np.random.default_rng(int(spec.get("seed", 0))).integers(0, vocab, int(spec["steps"]))
    times = np.empty(len(tokens))
    top1 = np.empty(len(tokens), np.int64)
    bar = ProgressBar(len(tokens), spec.get("label", spec["side"]), enabled=bool(spec.get("progress", True)))
    zero_states = [np.array(s, copy=True) for s in states]
    reset_every = int(spec.get("reset_every", 0))
    for k, token in enumerate(tokens):
        if reset_every and k % reset_every == 0:  # a new "sentence" starts from the zero state
            states = [np.array(s, copy=True) for s in zero_states]
        t0 = time.perf_counter()
        probs, states = step(int(token), states)
        times[k] = time.perf_counter() - t0
        top1[k] = int(np.argmax(probs))
        if k % 64 == 0:
            bar.update(k)
    bar.close()
    libraries = mapped_libraries(package_dir)
    ms = times * 1e3
    return {
        "label": spec.get("label", spec["side"]),
        "side": spec["side"],
        "model": spec["model"],
        "model_bytes": os.path.getsize(spec["model"]),
        "steps": len(tokens),
        "vocab": vocab,
        "per_step_ms": {"median": float(np.median(ms)), "mean": float(ms.mean()),
                        "p10": float(np.percentile(ms, 10)), "p90": float(np.percentile(ms, 90))},
        "load_seconds": load_seconds,
        "peak_rss_bytes": peak_rss_bytes(),
        "runtime_bytes": sum(libraries.values()),
        "runtime_libraries": libraries,
        "top1": top1.tolist(),
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    try:
        result, code = measure(spec), 0
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line about this side
        result, code = {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:500]}"}, 3
    with open(spec["result"], "w", encoding="utf-8") as f:
        json.dump(result, f)
    return code


if __name__ == "__main__":
    sys.exit(main())
