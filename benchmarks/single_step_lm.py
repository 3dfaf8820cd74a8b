"""The seed's LM as one step: litesmith's route vs the hand-split graph through TF's converter.

    .venv/bin/python benchmarks/single_step_lm.py [--source seed|demo] [--json out.json] [--no-quant]

litesmith: the trainer's full LM (seed_lm_v1.pb: dynamic_rnn over [BATCH, None]) ->
`strip-batch,unroll-rnn,fold-constants` -> .tflite (state pairs in its metadata); also the
hand-split step graph compiled by litesmith, for reference. Peer: the seed's hand-split
step graph (seed_lm_step.pb) through tf.compat.v1.lite.TFLiteConverter.from_frozen_graph.
Reports op count, size and LiteRT per-step latency (1 thread, alternating rounds, ratio of
medians; floor <= 1.0). Quantized: litesmith dynamic/int8 vs TF's converter with
Optimize.DEFAULT (dynamic range) and with a representative dataset (int8): size, latency
and top-1 / top-5 agreement with the float model over the same token sequences.

``--source demo``: the keyboard demo's TRAINED 2x256 LM instead (random weights make
agreement meaningless). litesmith compiles the full LM as the demo does (int8 calibrated on
training windows, min/max ranges); TF's converter quantizes the hand-split step graph
(dynamic: Optimize.DEFAULT; int8: plus a representative dataset of the same training
windows threaded through the step graph in TensorFlow). Agreement is measured over
held-out text (state threaded) against the float step graph run in TensorFlow itself.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c

OUR_PASSES = "strip-batch,unroll-rnn,fold-constants"


def compile_ours(info, folder):
    """{name: path} of litesmith's models (float from the full LM and from the step graph; quantized)."""
    import litesmith

    paths = {}
    full = os.path.join(folder, "ours_full_lm.tflite")
    try:
        litesmith.save(litesmith.compile(litesmith.load(info["full"]), passes=OUR_PASSES), full)
        paths["litesmith (full LM, strip-batch,unroll-rnn)"] = full
    except Exception as e:  # noqa: BLE001 - recorded in the report, the benchmark goes on
        print(f"litesmith could not compile the full LM: {type(e).__name__}: {e}", file=sys.stderr)
    step = os.path.join(folder, "ours_step.tflite")
    graph = litesmith.load(info["step"], inputs=info["inputs"], outputs=info["outputs"])
    blob = litesmith.compile(graph, metadata={"litesmith.state": c.state_metadata(info["pairs"], info["sizes"]["hid"])})
    litesmith.save(blob, step)
    paths["litesmith (hand-split step)"] = step
    return paths


def quantize_ours(float_path, mode, calibration, out):
    from litesmith.backends.quantize import quantize_graph
    from litesmith.backends.tflite import read_tflite, write_tflite

    graph = read_tflite(float_path)
    quantize_graph(graph, mode, calibration=calibration if mode == "int8" else None, progress=False)
    with open(out, "wb") as f:
        f.write(write_tflite(graph))
    return out


def roles(interp, pairs):
    """(token detail, [(state in index, state out index)], probs index) by tensor name."""
    ins = {d["name"]: d for d in interp.get_input_details()}
    outs = {d["name"]: d for d in interp.get_output_details()}
    state_in = {i for i, _ in pairs}
    token = next(d for n, d in ins.items() if n not in state_in)
    probs = next(d for n, d in outs.items() if n not in {o for _, o in pairs})
    return token, [(ins[i], outs[o]["index"]) for i, o in pairs], probs["index"]


def pairs_of(path, fallback):
    from litesmith.backends.tflite import read_tflite

    raw = read_tflite(path).meta.get("litesmith.state")
    return [(p["input"], p["output"]) for p in json.loads(bytes(raw))] if raw else fallback


def step_fn(interp, pairs):
    """A stateful step: feed a token, thread the state; returns probs (flattened)."""
    token, state, probs = roles(interp, pairs)
    values = [np.zeros(d["shape"], d["dtype"]) for d, _ in state]

    def step(tok=1):
        interp.set_tensor(token["index"], np.full(token["shape"], tok, token["dtype"]))
        for (d, _), v in zip(state, values):
            interp.set_tensor(d["index"], v)
        interp.invoke()
        for k, (_, out) in enumerate(state):
            values[k] = interp.get_tensor(out)
        return interp.get_tensor(probs).reshape(-1)

    def reset():
        values[:] = [np.zeros(d["shape"], d["dtype"]) for d, _ in state]

    step.reset, step.values = reset, values
    return step


def agreement(float_path, quant_path, pairs_f, pairs_q, vocab, seqs=20, steps=20, seed=1):
    """top-1 equal and float top-1 within quantized top-5, over the same token sequences."""
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(seed)
    models = []
    for path, pairs in ((float_path, pairs_f), (quant_path, pairs_q)):
        interp = Interpreter(model_path=path, num_threads=1)
        interp.allocate_tensors()
        models.append(step_fn(interp, pairs))
    top1 = top5 = n = 0
    for _ in range(seqs):
        for m in models:
            m.reset()
        for tok in rng.integers(0, vocab, steps):
            p_f, p_q = (m(int(tok)) for m in models)
            best = int(np.argmax(p_f))
            top1 += best == int(np.argmax(p_q))
            top5 += best in np.argsort(-p_q)[:5]
            n += 1
    return top1 / n, top5 / n


def calibration_sequences(token_name, token_shape, vocab, seqs=16, steps=12, seed=7):
    """litesmith calibration: [sequences, steps, *token shape] (state threaded by the calibrator)."""
    rng = np.random.default_rng(seed)
    return {token_name: rng.integers(0, vocab, (seqs, steps, *token_shape)).astype(np.int32)}


def tf_representative(step_tflite, pairs, npz, vocab, seqs=16, steps=12, seed=7):
    """TF's representative dataset for the step graph: tokens plus the states a float run produces."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=step_tflite, num_threads=1)
    interp.allocate_tensors()
    token, state, _ = roles(interp, pairs)
    step = step_fn(interp, pairs)
    rng = np.random.default_rng(seed)
    samples = {token["name"]: []} | {d["name"]: [] for d, _ in state}
    for _ in range(seqs):
        step.reset()
        for tok in rng.integers(0, vocab, steps):
            for (d, _), value in zip(state, step.values):  # the state this step is fed
                samples[d["name"]].append(value.copy())
            samples[token["name"]].append(np.full(token["shape"], tok, np.int32))
            step(int(tok))
    np.savez(npz, **{k: np.stack(v) for k, v in samples.items()})


def alternating_latency(models, pairs, rounds, per_round=50):
    """Median per-step ms of each model: 1 thread, alternating rounds, each threading its own state."""
    import time

    from ai_edge_litert.interpreter import Interpreter

    steps = {}
    for name, path in models.items():
        interp = Interpreter(model_path=path, num_threads=1)
        interp.allocate_tensors()
        steps[name] = step_fn(interp, pairs[name])
        for _ in range(5):
            steps[name](3)  # warm-up
    times = {n: [] for n in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                step(3)
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {n: float(np.median(t)) for n, t in times.items()}


# -- --source demo: the trained LM, agreement on held-out text against TensorFlow itself ----------

# Runs the float hand-split step graph in TensorFlow (its own process; litesmith never imports TF):
# the reference top-5 over held-out tokens, and TF's representative dataset (training windows
# threaded through the step graph: each sample is a token plus the state TF fed it).
_TF_STEP_ORACLE = """
import json, os, sys
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import numpy as np
import tensorflow as tf
a = json.loads(sys.argv[1])
gd = tf.compat.v1.GraphDef()
gd.ParseFromString(open(a["pb"], "rb").read())
g = tf.Graph()
with g.as_default():
    tf.import_graph_def(gd, name="")
cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
sess = tf.compat.v1.Session(graph=g, config=cfg)
run = sess.make_callable([g.get_tensor_by_name(n + ":0") for n in a["outputs"]],
                         [g.get_tensor_by_name(n + ":0") for n in a["inputs"]])
zero = [np.zeros([1, a["hid"]], np.float32) for _ in a["inputs"][1:]]
data = np.load(a["tokens"])
state, top5 = list(zero), []
for tok in data["heldout"]:
    out = run(np.array([tok], np.int32), *state)
    state = out[1:]
    top5.append(np.argsort(-out[0].reshape(-1), kind="stable")[:5])
np.save(a["ref"], np.stack(top5))
samples = {n: [] for n in a["inputs"]}
for seq in data["calibration"]:
    state = list(zero)
    for tok in seq:
        feed = [np.array([tok], np.int32)] + state
        for n, v in zip(a["inputs"], feed):
            samples[n].append(v)
        state = run(*feed)[1:]
np.savez(a["calib"], **{n: np.stack(v) for n, v in samples.items()})
"""


def tf_oracle(info, heldout, calibration, folder):
    """Top-5 of TF's float step graph over ``heldout`` ([N, 5], state threaded); writes TF's
    representative dataset (``calibration`` [seqs, steps] threaded in TF) next to tf_int8.tflite."""
    import subprocess

    tokens, ref = os.path.join(folder, "tokens.npz"), os.path.join(folder, "tf_reference_top5.npy")
    np.savez(tokens, heldout=heldout, calibration=calibration)
    args = {"pb": info["step"], "inputs": info["inputs"], "outputs": info["outputs"], "hid": info["sizes"]["hid"],
            "tokens": tokens, "ref": ref, "calib": os.path.join(folder, "tf_int8.tflite.calib.npz")}
    subprocess.run([c.PYTHON, "-c", _TF_STEP_ORACLE, json.dumps(args)], check=True)
    return np.load(ref)


def compile_ours_demo(info, folder):
    """{name: path}: the full LM compiled exactly as the demo does (float, dynamic, int8 with its
    training-window calibration, min/max ranges), and the hand-split step graph (float)."""
    import litesmith
    from litesmith.demo.compile import compile_full_lm, compile_step_graph

    art, paths = info["artifacts"], {}
    for mode, name in ((None, "litesmith float (full LM)"), ("dynamic", "litesmith dynamic"),
                       ("int8", "litesmith int8")):
        out = os.path.join(folder, f"ours_{mode or 'float'}.tflite")
        try:
            litesmith.save(compile_full_lm(art, quantize=mode), out)
            paths[name] = out
        except Exception as e:  # noqa: BLE001 - recorded in the report, the benchmark goes on
            print(f"{name} failed: {type(e).__name__}: {e}", file=sys.stderr)
    out = os.path.join(folder, "ours_step.tflite")
    litesmith.save(compile_step_graph(art), out)
    paths["litesmith float (hand-split step)"] = out
    return paths


def heldout_top5(path, pairs, tokens):
    """[N, 5] top-5 of a .tflite step model over ``tokens`` with its state threaded (LiteRT, 1 thread)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=1)
    interp.allocate_tensors()
    step = step_fn(interp, pairs)
    return np.stack([np.argsort(-step(int(t)), kind="stable")[:5] for t in tokens])


def main_demo(args):
    from litesmith.demo.compile import calibration_sequences as demo_calibration
    from litesmith.demo.corpus import load_corpus

    info = c.demo_lm_paths()
    folder = os.path.join(c.CACHE, "single_step_demo")
    os.makedirs(folder, exist_ok=True)
    art, hid = info["artifacts"], info["sizes"]["hid"]
    heldout = load_corpus(art.config.vocab_size).ids("heldout")[: args.steps].astype(np.int32)
    calibration = next(iter(demo_calibration(art).values()))  # the windows litesmith calibrates on
    reference = tf_oracle(info, heldout, calibration, folder)

    shapes = {n: [1] if k == 0 else [1, hid] for k, n in enumerate(info["inputs"])}
    models = {}
    for mode in (None, "dynamic", "int8"):
        out = os.path.join(folder, f"tf_{mode or 'float'}.tflite")
        name = f"TF converter {mode or 'float'}"
        try:
            c.measure_process(c.tf_convert_argv(info["step"], info["inputs"], info["outputs"], out, shapes, mode))
            models[name] = out
        except RuntimeError as e:
            print(f"{name} failed: {e}", file=sys.stderr)
    models.update(compile_ours_demo(info, folder))
    pairs = {name: pairs_of(path, info["pairs"]) for name, path in models.items()}
    latency = alternating_latency(models, pairs, args.rounds)

    ref = "TF converter float"
    rows = []
    for name, path in models.items():
        ops, hist = c.op_count(path)
        top5 = heldout_top5(path, pairs[name], heldout)
        overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top5, reference)])
        rows.append({"model": name, "ops": ops, "op_histogram": hist, "bytes": os.path.getsize(path),
                     "median_ms": latency[name], "top1": float(np.mean(top5[:, 0] == reference[:, 0])),
                     "top5_overlap": float(overlap), "tf_top1_in_top5": float(np.mean(
                         [r in t for r, t in zip(reference[:, 0], top5)]))})
    print(f"demo LM (trained) {art.config.layers}x{hid}, vocab {info['sizes']['vocab']}; {len(heldout)} held-out "
          f"steps, state threaded; LiteRT 1 thread, {args.rounds} alternating rounds x 50 steps; {c.machine_line()}")
    print("| model | ops | size KiB | per-step ms (median) | latency / TF float | top-1 = TF float | "
          "top-5 overlap | TF top-1 in top-5 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['ops']} | {r['bytes'] / 1024:.0f} | {r['median_ms']:.4f} | "
              f"{r['median_ms'] / latency[ref]:.3f} | {r['top1']:.3f} | {r['top5_overlap']:.3f} | "
              f"{r['tf_top1_in_top5']:.3f} |")
    by = {r["model"]: r for r in rows}
    for mode, ours in (("float", "litesmith float (full LM)"), ("dynamic", "litesmith dynamic"),
                       ("int8", "litesmith int8")):
        theirs = by.get(f"TF converter {mode}")
        if ours in by and theirs:
            o = by[ours]
            print(f"floors {mode}: size {o['bytes'] - theirs['bytes']:+d} bytes vs TF's (<= 0), "
                  f"latency {o['median_ms'] / theirs['median_ms']:.3f} of TF's (<= 1.0), "
                  f"top-1 {o['top1']:.3f} vs TF's {theirs['top1']:.3f} (>=)")
    for r in rows:
        print(f"  {r['model']}: {r['op_histogram']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"source": "demo", "rows": rows, "steps": len(heldout), "rounds": args.rounds}, f, indent=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--no-quant", action="store_true", help="float models only")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--source", choices=("seed", "demo"), default="seed",
                        help="seed: random-weight seed LM; demo: the keyboard demo's trained LM")
    parser.add_argument("--steps", type=int, default=600, help="held-out steps for agreement (demo)")
    args = parser.parse_args(argv)
    if args.source == "demo":
        return main_demo(args)

    info = c.seed_lm_paths()
    folder = os.path.join(c.CACHE, "single_step")
    os.makedirs(folder, exist_ok=True)
    vocab, hid = info["sizes"]["vocab"], info["sizes"]["hid"]
    shapes = {n: [1] if k == 0 else [1, hid] for k, n in enumerate(info["inputs"])}
    tf_float = os.path.join(folder, "tf_step.tflite")
    c.measure_process(c.tf_convert_argv(info["step"], info["inputs"], info["outputs"], tf_float, shapes))
    models = {"TF converter (hand-split step)": tf_float, **compile_ours(info, folder)}
    pairs = {name: pairs_of(path, info["pairs"]) for name, path in models.items()}

    if not args.no_quant:
        ours_float_name = next(iter(n for n in models if "full LM" in n), "litesmith (hand-split step)")
        ours_float = models[ours_float_name]
        from ai_edge_litert.interpreter import Interpreter

        probe = Interpreter(model_path=ours_float)
        token, _, _ = roles(probe, pairs[ours_float_name])
        calib = calibration_sequences(token["name"], list(token["shape"]), vocab)
        quant = {}
        for mode in ("dynamic", "int8"):
            try:
                quant[f"litesmith {mode}"] = quantize_ours(ours_float, mode, calib,
                                                          os.path.join(folder, f"ours_{mode}.tflite"))
                pairs[f"litesmith {mode}"] = pairs[ours_float_name]
            except Exception as e:  # noqa: BLE001
                print(f"litesmith {mode} failed: {type(e).__name__}: {e}", file=sys.stderr)
        for mode in ("dynamic", "int8"):
            out = os.path.join(folder, f"tf_{mode}.tflite")
            if mode == "int8":
                tf_representative(tf_float, info["pairs"], out + ".calib.npz", vocab)
            try:
                c.measure_process(c.tf_convert_argv(info["step"], info["inputs"], info["outputs"], out, shapes, mode))
                quant[f"TF converter {mode}"] = out
                pairs[f"TF converter {mode}"] = info["pairs"]
            except RuntimeError as e:
                print(f"TF converter {mode} failed: {e}", file=sys.stderr)
        models.update(quant)

    latency = alternating_latency(models, pairs, args.rounds)

    ref = "TF converter (hand-split step)"
    rows = []
    for name, path in models.items():
        ops, hist = c.op_count(path)
        row = {"model": name, "ops": ops, "op_histogram": hist, "bytes": os.path.getsize(path),
               "median_ms": latency[name]}
        if not args.no_quant and name != ref and ("dynamic" in name or "int8" in name):
            float_name = "TF converter (hand-split step)" if name.startswith("TF") else ours_float_name
            row["top1"], row["top5"] = agreement(models[float_name], path, pairs[float_name], pairs[name], vocab)
        rows.append(row)
    print(f"seed LM 2x256, vocab {vocab}; LiteRT 1 thread, {args.rounds} alternating rounds x 50 steps; {c.machine_line()}")
    print("| model | ops | size KiB | per-step ms (median) | latency / TF float | top-1 = float | float top-1 in top-5 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        agree = ["-" if k not in r else f"{r[k]:.3f}" for k in ("top1", "top5")]
        print(f"| {r['model']} | {r['ops']} | {r['bytes'] / 1024:.0f} | {r['median_ms']:.4f} | "
              f"{r['median_ms'] / latency[ref]:.3f} | {agree[0]} | {agree[1]} |")
    for r in rows:
        print(f"  {r['model']}: {r['op_histogram']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "vocab": vocab, "rounds": args.rounds}, f, indent=1)


if __name__ == "__main__":
    main()
