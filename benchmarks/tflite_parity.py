"""TFLite parity (issue 14): litesmith with no passes vs TensorFlow's converter on the zoo's TF graphs.

    .venv/bin/python benchmarks/tflite_parity.py [--json out.json] [--rounds 30] [--keras]

Graphs: the zoo's loops and dynamic dims (tests/tf_models.py): dynamic_rnn over a [2, None, 3]
input in TF1 frames (TensorArrayV3) and TF2 StatelessWhile form (7 cells each), the seed LM
([8, None] ids, v1 and v2), the small cond/while graphs, the Keras LSTM/GRU (StatelessWhile,
static) and the dynamic-batch CNN. Per graph: does TF's converter convert it without Flex
(TFLITE_BUILTINS only, ``from_frozen_graph``), does litesmith (``litesmith.compile`` with no
passes); both outputs vs TensorFlow at two sequence lengths / batch sizes (max abs error,
LiteRT resized with ``resize_tensor_input``); operators in all subgraphs; file size; LiteRT
latency at the longer length (1 thread, alternating rounds, ratio of medians litesmith / TF).
``--keras``: instead, the Keras recurrent variants of tests/keras_rnn_models.py (Keras 3 and
tf_keras, both freezing forms; batch and time dynamic), at sequence lengths 1 and 17, batch 2.
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

LENGTHS = (1, 17)  # sequence lengths (batch sizes for the CNN)


def zoo(tf, out_dir):
    import tf_models as z

    models = {}
    for form in ("v1", "v2"):
        models.update({m.name: m for m in z.build_rnn_cells(tf, out_dir, form, dynamic_time=True).values()})
        models.update({m.name: m for m in z.build_seed_lm(tf, out_dir, form)[:1]})
    models.update({m.name: m for m in z.build_small_graphs(tf, out_dir).values() if "mlp" not in m.name and "conv" not in m.name})
    for kind in ("lstm", "gru"):
        m = z.build_keras_rnn(tf, out_dir, kind)
        models[m.name] = m
    cnn = z.build_dynamic_batch_cnn(tf, out_dir)
    models[cnn.name] = cnn
    return models


def keras_zoo(tf, out_dir):
    from keras_rnn_models import build_keras_rnn_variants

    models = {}
    for version in ("keras3", "tf_keras"):
        for (variant, _form), m in build_keras_rnn_variants(tf, out_dir, version).items():
            if variant != "unroll":  # a static time axis: nothing varies
                models[m.name] = m
    return models


def _varied_axis(model):
    """Which axis of the first input is the sequence (or batch) axis that may vary; None if static."""
    if model.name.startswith("keras_rnn_"):
        return 1
    if model.name == "dynamic_batch_cnn":
        return 0
    if model.name.startswith("seed_lm") or model.name.endswith("_dyn"):
        return 0 if model.meta.get("time_major") else 1
    return None


def feeds_at(model, length, rng):
    axis = _varied_axis(model)
    out = {}
    for name, value in model.inputs.items():
        if name == "sequence_length":
            out[name] = np.array([length, max(length - 2, 0)], np.int32)
            continue
        shape = list(np.shape(value))
        if axis is not None and name == model.input_names[0]:
            shape[axis] = length
        if value.dtype.kind == "f":
            out[name] = rng.normal(0, 1, size=shape).astype(value.dtype)
        elif value.dtype.kind == "b":
            out[name] = np.asarray(value)
        else:
            out[name] = rng.integers(0, 4, size=shape).astype(value.dtype)
    return out


def tf_convert(tf, model, path):
    try:
        conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(model.pb_path, model.input_names, model.output_names)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        blob = conv.convert()
    except Exception as e:  # the peer's failure is a result here, not an error
        return None, str(e).strip().splitlines()[-1][:120]
    with open(path, "wb") as f:
        f.write(blob)
    return path, ""


def ours_convert(model, path):
    import litesmith

    try:
        blob = litesmith.compile(litesmith.load(model.pb_path))
    except Exception as e:
        return None, str(e).splitlines()[0][:120]
    with open(path, "wb") as f:
        f.write(blob)
    return path, ""


def _prepared(path, feeds):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=1)
    details = {d["name"].split(":")[0]: d for d in interp.get_input_details()}
    signature = interp._get_full_signature_list().get("serving_default", {"inputs": {}, "outputs": {}})
    index = {name: signature["inputs"].get(name, details.get(name, {}).get("index")) for name in feeds}
    for name, value in feeds.items():
        interp.resize_tensor_input(index[name], list(np.shape(value)))
    interp.allocate_tensors()
    for name, value in feeds.items():
        interp.set_tensor(index[name], value)
    outputs = {d["name"].split(":")[0]: d["index"] for d in interp.get_output_details()}
    outputs.update(signature["outputs"])
    return interp, outputs


def max_error(path, model, feeds, want):
    interp, outputs = _prepared(path, feeds)
    interp.invoke()
    worst = 0.0
    for name, w in want.items():
        index = outputs.get(name)
        if index is None:  # TF's converter names outputs by tensor; take them in order
            index = list(outputs.values())[model.output_names.index(name)]
        got = interp.get_tensor(index)
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - w))) if got.shape == w.shape else float("inf"))
    return worst


def latency(paths, feeds, rounds):
    steps = {k: _prepared(p, feeds)[0].invoke for k, p in paths.items()}
    times = c.alternating_times(steps, rounds, per_round=10, warmup=0)
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--keras", action="store_true", help="the Keras recurrent variants instead of the zoo")
    args = parser.parse_args(argv)
    import tensorflow as tf
    from tf_models import run_tf_graphdef

    out_dir = tempfile.mkdtemp(prefix="parity_")
    rows = []
    for name, model in (keras_zoo if args.keras else zoo)(tf, out_dir).items():
        ours, ours_err = ours_convert(model, os.path.join(out_dir, name + ".litesmith.tflite"))
        theirs, tf_err = tf_convert(tf, model, os.path.join(out_dir, name + ".tf.tflite"))
        row = {"graph": name, "tf_converts": theirs is not None, "litesmith_converts": ours is not None,
               "tf_error": tf_err, "litesmith_error": ours_err}
        lengths = LENGTHS if _varied_axis(model) is not None else (None,)
        rng = np.random.default_rng(0)
        for length in lengths:
            feeds = feeds_at(model, length, rng) if length is not None else dict(model.inputs)
            want = run_tf_graphdef(tf, model.pb_path, feeds, model.output_names)
            for who, path in (("litesmith", ours), ("tf", theirs)):
                if path is not None:
                    try:
                        err = max_error(path, model, feeds, want)
                    except Exception as e:  # a model that loads but does not run at this length
                        err = f"fails: {str(e).splitlines()[0][:80]}"
                    row.setdefault(f"{who}_max_error", {})[str(length or "fixed")] = err
        for who, path in (("litesmith", ours), ("tf", theirs)):
            if path is not None:
                row[f"{who}_ops"] = c.op_count(path)[0]
                row[f"{who}_op_hist"] = c.op_count(path)[1]
                row[f"{who}_bytes"] = os.path.getsize(path)
        if ours and theirs:
            feeds = feeds_at(model, lengths[-1], rng) if lengths[-1] is not None else dict(model.inputs)
            try:
                ms = latency({"litesmith": ours, "tf": theirs}, feeds, args.rounds)
                row["latency_ms"] = ms
                row["latency_ratio"] = ms["litesmith"] / ms["tf"]
            except Exception as e:
                row["latency_ms"] = f"fails: {str(e).splitlines()[0][:80]}"
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if not k.endswith("_hist")}), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": c.machine_line(), "rows": rows}, f, indent=1)
    print(table(rows))


def _err(row, who):
    errs = row.get(f"{who}_max_error")
    if not errs:
        return "-"
    return " / ".join(f"{v:.1e}" if isinstance(v, float) else str(v) for v in errs.values())


def table(rows) -> str:
    lines = ["| graph | TF converts (no Flex) | litesmith converts | max error vs TF: litesmith | TF | ops litesmith / TF | "
             "bytes litesmith / TF | latency litesmith / TF |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ops = f"{r.get('litesmith_ops', '-')} / {r.get('tf_ops', '-')}"
        size = f"{r.get('litesmith_bytes', '-')} / {r.get('tf_bytes', '-')}"
        lat = f"{r['latency_ratio']:.2f}" if isinstance(r.get("latency_ratio"), float) else "-"
        lines.append(f"| {r['graph']} | {'yes' if r['tf_converts'] else 'no'} | {'yes' if r['litesmith_converts'] else 'no'} "
                     f"| {_err(r, 'litesmith')} | {_err(r, 'tf')} | {ops} | {size} | {lat} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
