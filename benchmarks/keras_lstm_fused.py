"""A Keras LSTM in LiteRT: TF's fused UNIDIRECTIONAL_SEQUENCE_LSTM vs litesmith's WHILE loop (issue 14 item 3).

    .venv/bin/python benchmarks/keras_lstm_fused.py [--json out.json] [--rounds 20]

TF's converter fuses a Keras LSTM into one UNIDIRECTIONAL_SEQUENCE_LSTM only when it converts the
Keras model itself (``TFLiteConverter.from_keras_model``: the layer's function keeps its
``api_implements`` attribute); a frozen graph has lost it and TF emits the loop too. So: one tf_keras
model (Input [1, T, F] -> LSTM(units, return_sequences=True)), converted by TF from the Keras model
(fused) and by litesmith from the same model frozen with ``convert_variables_to_constants_v2``
defaults (no passes: a WHILE). Both run in LiteRT (1 thread) on the same input; the outputs are
compared with Keras, and the median invoke of alternating rounds of 10 is reported per size.
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


def run_once(path, x):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=1)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


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
        ours = os.path.join(out_dir, f"ls_{time}_{features}_{units}.tflite")
        with open(ours, "wb") as f:
            f.write(bytes(litesmith.compile(litesmith.load(pb))))
        row = {"time": time, "features": features, "units": units}
        for who, path in (("tf_fused", fused), ("litesmith_while", ours)):
            got = run_once(path, x)
            row[f"{who}_max_error"] = float(np.max(np.abs(got - want)))
            row[f"{who}_ops"] = c.op_count(path)[1]
            row[f"{who}_bytes"] = os.path.getsize(path)
        ms = latency({"tf_fused": fused, "litesmith_while": ours}, x, args.rounds)
        row["latency_ms"] = ms
        row["ratio_while_over_fused"] = ms["litesmith_while"] / ms["tf_fused"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": c.machine_line(), "rows": rows}, f, indent=1)
    print("| T, F, units | TF fused (UNIDIRECTIONAL_SEQUENCE_LSTM) ms | litesmith WHILE ms | ratio | max error vs Keras fused / WHILE |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['time']}, {r['features']}, {r['units']} | {r['latency_ms']['tf_fused']:.3f} | "
              f"{r['latency_ms']['litesmith_while']:.3f} | {r['ratio_while_over_fused']:.2f} | "
              f"{r['tf_fused_max_error']:.1e} / {r['litesmith_while_max_error']:.1e} |")


if __name__ == "__main__":
    main()
