"""A causal transformer LM per keystroke: decode-step's one-token step vs TF's whole-sequence model.

    .venv/bin/python benchmarks/decode_step.py [--json out.json] [--no-quant]

Model: a Keras 3 decoder (tests/decoder_models.py: token + learned position embeddings, 4 pre-LN
blocks of causal MultiHeadAttention (4 heads) and a GELU MLP, D=256, T=128, vocabulary 5,000, random
weights), frozen with convert_variables_to_constants_v2 defaults. Peer: TF's converter
(from_frozen_graph) on the same .pb: a whole-sequence model, so each keystroke re-runs all T positions.
Ours: `strip-batch,decode-step,fold-constants` (float), and the same step quantized with
`quantize{mode=int8}` calibrated on random token sequences threaded through the step (caches from
zeros). LiteRT per-token latency, 1 thread, alternating rounds (the step at position T-1, where
its attention reads the whole cache): minimum and median (on a shared, loaded machine the minimum is
the uncontended time; the load average is recorded). A step is timed as a caller threads the caches:
each cache output copied into its input inside the interpreter's own buffers, ids and position set,
invoke, the logits row read; and, as a second figure, as one call of the signature runner, which
also allocates a fresh numpy copy of every output (1 MB of caches at D=256, T=128) per token. The streaming floor: bytes a step must read (its weights and
both caches) over the bandwidth of a numpy float32 GEMV over 16 MiB measured in the same run.
Also: the float step against the whole-sequence model at every position, and top-1 agreement of
the int8 step with the float step over the same threaded sequences.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # the GEMV on one thread, like LiteRT (before numpy is imported)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402  (sets up sys.path for tests/)

PASSES = "strip-batch,decode-step,fold-constants"
RUNNER = " [signature runner]"
SIZES = {"blocks": 4, "width": 256, "heads": 4, "length": 128, "vocab": 5000}


def build(folder):
    """The frozen decoder, its ids and TF's output on them (cached)."""
    pb = os.path.join(folder, "decoder.pb")
    ref = os.path.join(folder, "reference.npz")
    if not os.path.exists(ref):
        os.makedirs(folder, exist_ok=True)
        import tensorflow as tf
        from decoder_models import DecoderForm, build_decoder

        ids, want = build_decoder(tf, pb, DecoderForm(**SIZES, seed=7))
        name, out = next(iter(want.items()))
        np.savez(ref, ids=ids, out=out, name=np.array(name))
        converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(pb, ["ids"], [name], {"ids": [1, SIZES["length"]]})
        with open(os.path.join(folder, "tf_whole_sequence.tflite"), "wb") as f:
            f.write(converter.convert())
    data = np.load(ref)
    return pb, data["ids"], data["out"], str(data["name"])


def run_step(path, ids):
    """Outputs of the step model at each position (caches threaded from zeros)."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path, num_threads=1).get_signature_runner("serving_default")
    caches = {k: np.zeros(v["shape"], v["dtype"]) for k, v in runner.get_input_details().items() if k.startswith("cache/")}
    rows = []
    for t, token in enumerate(ids):
        got = runner(ids=np.array([token], np.int32), position=np.array(t, np.int32), **caches)
        caches = {k[:-len("_out")]: v for k, v in got.items() if k.endswith("_out")}
        rows.append(next(v for k, v in got.items() if not k.startswith("cache/"))[0])
    return np.stack(rows)


def step_feeds(at):
    def make(interp):
        runner = interp.get_signature_runner("serving_default")
        rng = np.random.default_rng(0)
        feeds = {k: rng.normal(0, 0.5, v["shape"]).astype(v["dtype"]) for k, v in runner.get_input_details().items()
                 if k.startswith("cache/")}
        feeds.update(ids=np.array([3], np.int32), position=np.array(at, np.int32))
        return lambda: runner(**feeds)
    return make


def threaded_step(at):
    """One token as a caller threads the caches: each ``cache/<k>/<role>_out`` copied into its input
    through the interpreter's buffers (no allocation), ids and position set, invoke, logits read."""
    def make(interp):
        ins = {d["name"]: d["index"] for d in interp.get_input_details()}
        outs = {d["name"]: d["index"] for d in interp.get_output_details()}
        pairs = [(ins[name[:-len("_out")]], index) for name, index in outs.items() if name.endswith("_out")]
        (logits,) = [index for name, index in outs.items() if not name.startswith("cache/")]
        rng = np.random.default_rng(0)
        for d in interp.get_input_details():
            if d["name"].startswith("cache/"):
                interp.set_tensor(d["index"], rng.normal(0, 0.5, d["shape"]).astype(d["dtype"]))
        ids, position = np.array([3], np.int32), np.array(at, np.int32)

        def step():
            for i, o in pairs:
                np.copyto(interp.tensor(i)(), interp.tensor(o)())
            interp.set_tensor(ins["ids"], ids)
            interp.set_tensor(ins["position"], position)
            interp.invoke()
            return interp.get_tensor(logits)
        return step
    return make


def any_feeds(interp, runner=False):
    """Both kinds of model: the step at position T-1 (threaded, or one signature-runner call), or the
    whole sequence of ids."""
    names = {d["name"] for d in interp.get_input_details()}
    if "position" in names:
        return (step_feeds if runner else threaded_step)(SIZES["length"] - 1)(interp)
    return c.random_feeds(interp)


def bytes_read(path):
    """Bytes one invoke must read: every constant operand of FULLY_CONNECTED / BATCH_MATMUL and every cache."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    inputs = {d["index"] for d in interp.get_input_details() if d["name"].startswith("cache/")}
    read = set(inputs)
    for op in interp._get_ops_details():
        if op["op_name"] in ("FULLY_CONNECTED", "BATCH_MATMUL", "GATHER"):
            read.update(i for i in op["inputs"] if i >= 0 and i not in {d["index"] for d in interp.get_input_details()}
                        and op["op_name"] != "GATHER")
    total = 0
    for i in read:
        t = tensors[i]
        total += int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
    return total


def gemv(mib=16):
    """A float32 matrix-vector product over ``mib`` MiB: (the step to time, bytes it reads)."""
    n = int(np.sqrt(mib * 2**20 / 4))
    a = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    x = np.ones(n, np.float32)
    return (lambda: a @ x), a.nbytes


def latency(models, rounds=20, per_round=20):
    """Median / p90 ms per invoke of each model and of the GEMV, 1 thread, in alternating rounds (a
    shared machine's load hits all of them alike)."""
    from ai_edge_litert.interpreter import Interpreter

    steps = {}
    for name, path in models.items():
        interp = Interpreter(model_path=path, num_threads=1)
        interp.allocate_tensors()
        steps[name] = any_feeds(interp)
        if "step" in name:
            interp = Interpreter(model_path=path, num_threads=1)
            interp.allocate_tensors()
            steps[name + RUNNER] = any_feeds(interp, runner=True)
    steps["numpy GEMV 16 MiB"], _ = gemv()
    times = c.alternating_times(steps, rounds, per_round)
    return {name: {"min_ms": float(np.min(t)), "median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90))}
            for name, t in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json")
    ap.add_argument("--no-quant", action="store_true")
    ap.add_argument("--calibration-sequences", type=int, default=4)
    args = ap.parse_args(argv)
    import litesmith

    folder = os.path.join(c.CACHE, "decoder_4x256_t128")
    pb, ids, want, _ = build(folder)
    models = {"TF converter (whole sequence)": os.path.join(folder, "tf_whole_sequence.tflite")}
    graph = litesmith.optimize(litesmith.load(pb), PASSES)
    float_step = os.path.join(folder, "step_float.tflite")
    t0 = time.perf_counter()
    litesmith.save(litesmith.compile(graph), float_step)
    compile_s = time.perf_counter() - t0
    models["litesmith decode step (float)"] = float_step
    report = {"sizes": SIZES, "compile_seconds": compile_s}
    got = run_step(float_step, ids[0])
    report["float_step_max_abs_error_vs_tf"] = float(np.max(np.abs(got - want[0])))
    if not args.no_quant:
        rng = np.random.default_rng(1)
        n, t = args.calibration_sequences, SIZES["length"]
        calibration = {"ids": rng.integers(0, SIZES["vocab"], (n, t, 1)).astype(np.int32),
                       "position": np.tile(np.arange(t, dtype=np.int32), (n, 1))}
        int8_step = os.path.join(folder, "step_int8.tflite")
        qreport = {}
        litesmith.save(litesmith.compile(graph, quantize="int8", calibration=calibration, report=qreport), int8_step)
        models["litesmith decode step (int8)"] = int8_step
        test = np.random.default_rng(2).integers(0, SIZES["vocab"], (4, t)).astype(np.int32)
        agree = [np.mean(run_step(int8_step, s).argmax(-1) == run_step(float_step, s).argmax(-1)) for s in test]
        report["int8_top1_agreement_with_float_step"] = float(np.mean(agree))
        report["int8_float_ops"] = qreport.get("quantization", {}).get("float_ops")
    report["load_average_before"] = os.getloadavg()
    times = latency(models)
    report["load_average_after"] = os.getloadavg()
    gemv_ms = times["numpy GEMV 16 MiB"]["min_ms"]  # the best run: what the memory system can do
    bandwidth = gemv()[1] / (gemv_ms / 1e3)
    report["gemv_16mib_ms"] = gemv_ms
    report["gemv_bandwidth_gb_s"] = bandwidth / 1e9
    report["models"] = {}
    for name, path in models.items():
        entry = {"size_mb": os.path.getsize(path) / 1e6, **times[name]}
        if "step" in name:
            entry["bytes_read_per_step_mb"] = bytes_read(path) / 1e6
            entry["streaming_floor_ms"] = bytes_read(path) / bandwidth * 1e3
            entry["signature_runner"] = times[name + RUNNER]
        report["models"][name] = entry
    whole = report["models"]["TF converter (whole sequence)"]
    for name, entry in report["models"].items():
        line = (f"{name:34s} min {entry['min_ms']:8.3f} ms, median {entry['median_ms']:8.3f} ms (p90 {entry['p90_ms']:.3f})"
                f"  {entry['size_mb']:6.2f} MB")
        if "streaming_floor_ms" in entry:
            line += (f"  x{entry['min_ms'] / whole['min_ms']:.3f} (min) x{entry['median_ms'] / whole['median_ms']:.3f} "
                     f"(median) of whole-sequence; reads {entry['bytes_read_per_step_mb']:.1f} MB,"
                     f" floor {entry['streaming_floor_ms']:.3f} ms (min x{entry['min_ms'] / entry['streaming_floor_ms']:.2f})")
            runner = entry["signature_runner"]
            line += (f"\n{'':34s} signature runner: min {runner['min_ms']:8.3f} ms, median {runner['median_ms']:8.3f} ms"
                     f"  (min x{runner['min_ms'] / entry['streaming_floor_ms']:.2f} of the floor)")
        print(line)
    print(f"load average {report['load_average_before'][0]:.1f} -> {report['load_average_after'][0]:.1f}; "
          f"GEMV 16 MiB: {gemv_ms:.3f} ms ({bandwidth / 1e9:.1f} GB/s); float step vs TF at every position: "
          f"max |err| {report['float_step_max_abs_error_vs_tf']:.2e}")
    if "int8_top1_agreement_with_float_step" in report:
        print(f"int8 step top-1 agreement with the float step: {report['int8_top1_agreement_with_float_step']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
