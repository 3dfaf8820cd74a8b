"""A Keras LSTM in LiteRT: TF's fused UNIDIRECTIONAL_SEQUENCE_LSTM vs litesmith's fused op and WHILE loop (issue 14 item 3).

    .venv/bin/python benchmarks/keras_lstm_fused.py [--json out.json] [--rounds 20]

TF's converter fuses a Keras LSTM into one UNIDIRECTIONAL_SEQUENCE_LSTM only when it converts the
Keras model itself (``TFLiteConverter.from_keras_model``: the layer's function keeps its
``api_implements`` attribute); a frozen graph has lost it and TF emits the loop too. So: one tf_keras
model (Input [1, T, F] -> LSTM(units, return_sequences=True)), converted by TF from the Keras model
(fused) and by litesmith from the same model frozen with ``convert_variables_to_constants_v2``
defaults, no passes (``fuse-lstm-loops`` makes it one UNIDIRECTIONAL_SEQUENCE_LSTM) and, for
comparison, through the compile pipeline without ``fuse-lstm-loops`` (a WHILE). All run in LiteRT
(1 thread) on the same input; the outputs of the first and of a second invoke are compared with
Keras (TF's fused op keeps its state from one invoke to the next), and the median invoke of
alternating rounds of 10 is reported per size.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402  (sets the TF environment first)

SIZES = [(17, 8, 16), (17, 32, 64), (64, 32, 64), (64, 128, 256)]  # (time, features, units), batch 1


def build(tf, time, features, units, out_dir):
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    K = tf.keras
    K.utils.set_random_seed(0)
    x_in = K.Input((time, features), batch_size=1, name="x")
    model = K.Model(x_in, K.layers.LSTM(units, return_sequences=True)(x_in))
    x = np.random.default_rng(1).normal(size=(1, time, features)).astype(np.float32)
    want = model(x).numpy()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    fused = os.path.join(out_dir, f"tf_{time}_{features}_{units}.tflite")
    with open(fused, "wb") as f:
        f.write(conv.convert())
    fn = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec([1, time, features], tf.float32, name="x"))
    frozen = convert_variables_to_constants_v2(fn)
    pb = os.path.join(out_dir, f"lstm_{time}_{features}_{units}.pb")
    with open(pb, "wb") as f:
        f.write(frozen.graph.as_graph_def().SerializeToString())
    return fused, pb, x, want


def run_twice(path, x):
    """The outputs of two invokes on ``x`` (a stateful model differs on the second)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=1)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    outs = []
    for _ in range(2):
        interp.invoke()
        outs.append(interp.get_tensor(interp.get_output_details()[0]["index"]).copy())
    return outs


def compile_while(pb):
    """litesmith's compile pipeline without fuse-lstm-loops: the WHILE form."""
    import litesmith
    from litesmith.api import pipeline_for
    from litesmith.backends.tflite.compile import LOWERING_PIPELINE
    from litesmith.backends.tflite.writer import write_tflite
    from litesmith.passes.manager import PassManager

    graph = litesmith.load(pb)
    backend = ",".join(p for p in LOWERING_PIPELINE.split(",") if p != "fuse-lstm-loops")
    PassManager.parse(f"{pipeline_for(graph, None, None)},{backend}").run(graph)
    return bytes(write_tflite(graph))


def latency(paths, x, rounds):
    from ai_edge_litert.interpreter import Interpreter
    import time

    interps = {}
    for k, p in paths.items():
        interps[k] = Interpreter(model_path=p, num_threads=1)
        interps[k].allocate_tensors()
        interps[k].set_tensor(interps[k].get_input_details()[0]["index"], x)
    times = {k: [] for k in paths}
    for _ in range(rounds):
        for k, interp in interps.items():
            for _ in range(10):
                t0 = time.perf_counter()
                interp.invoke()
                times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) * 1e3 for k, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    import tensorflow as tf

    import litesmith

    out_dir = tempfile.mkdtemp(prefix="lstm_fused_")
    rows = []
    for time, features, units in SIZES:
        fused, pb, x, want = build(tf, time, features, units, out_dir)
        paths = {"tf_fused": fused}
        for who, blob in (("litesmith_fused", lambda: bytes(litesmith.compile(litesmith.load(pb)))),
                          ("litesmith_while", lambda: compile_while(pb))):
            paths[who] = os.path.join(out_dir, f"{who}_{time}_{features}_{units}.tflite")
            with open(paths[who], "wb") as f:
                f.write(blob())
        row = {"time": time, "features": features, "units": units}
        for who, path in paths.items():
            first, second = run_twice(path, x)
            row[f"{who}_max_error"] = float(np.max(np.abs(first - want)))
            row[f"{who}_second_invoke_error"] = float(np.max(np.abs(second - want)))
            row[f"{who}_ops"] = c.op_count(path)[1]
            row[f"{who}_bytes"] = os.path.getsize(path)
        ms = latency(paths, x, args.rounds)
        row["latency_ms"] = ms
        row["ratio_fused_over_tf"] = ms["litesmith_fused"] / ms["tf_fused"]
        row["ratio_while_over_fused"] = ms["litesmith_while"] / ms["litesmith_fused"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": c.machine_line(), "rows": rows}, f, indent=1)
    print("| T, features, units | TF fused ms (ops) | litesmith fused ms (ops) | litesmith WHILE ms (ops) | "
          "ratio fused / TF | ratio WHILE / fused | bytes TF / fused / WHILE | "
          "max abs error vs Keras, TF / fused / WHILE (second invoke) |")
    print("|---|---|---|---|---|---|---|---|")
    who = ("tf_fused", "litesmith_fused", "litesmith_while")
    for r in rows:
        ms = r["latency_ms"]
        print(f"| {r['time']}, {r['features']}, {r['units']} | "
              + " | ".join(f"{ms[w]:.3f} ({sum(r[w + '_ops'].values())})" for w in who)
              + f" | {r['ratio_fused_over_tf']:.2f} | {r['ratio_while_over_fused']:.2f} | "
              + " / ".join(str(r[w + "_bytes"]) for w in who) + " | "
              + " / ".join(f"{r[w + '_max_error']:.1e} ({r[w + '_second_invoke_error']:.1e})" for w in who) + " |")


if __name__ == "__main__":
    main()
