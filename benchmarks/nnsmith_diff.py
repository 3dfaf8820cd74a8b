"""NNSmith's random TF models through litesmith and TF's converter, side by side, in LiteRT.

    nice -n 15 .venv/bin/python benchmarks/nnsmith_diff.py --count 150 --seeds 1 2 \\
        [--jobs 2] [--json out.json] [--md out.md] [--litesmith .venv/bin/litesmith] [--min-ops 5 --max-ops 20]
        [--resume [--redo]] [--from-logs]

NNSmith (PyPI ``nnsmith==0.1.0``, ASPLOS'23) lives in a venv of its own under
benchmarks/.cache/nnsmith/venv with TF 2.21 and ai-edge-litert, created on first use; it is never
a dependency of litesmith and litesmith is never imported there. This file is both the driver
(stdlib only, any Python) and, with ``--worker``, the worker that runs in that venv.

Per model (seed ``s``, index ``i``; NNSmith seed ``s * 100000 + i``, 5-20 ops drawn from the same
seed): NNSmith's own generator, the steps of its ``nnsmith.model_gen`` CLI with that CLI's config
(``model.type=tensorflow mgen.dtype_choices=[f32] mgen.max_nodes=N mgen.seed=...``) called in the
worker process, which imports TF and NNSmith once per seed (``Generator``); its ``concrete_net`` is
frozen with ``convert_variables_to_constants_v2`` defaults into model.pb.
Inputs are NNSmith's own draws (``random_inputs``: standard normal), retried up to 5 times until
TF's outputs are all finite. Models, inputs, references and TF's converter results are cached
under benchmarks/.cache/nnsmith/models, so a rerun only redoes litesmith.

Then ``litesmith convert`` (this worktree's CLI, a subprocess) and
``tf.compat.v1.lite.TFLiteConverter.from_frozen_graph`` (builtin ops only, no Flex) convert the
same .pb, and both .tflite files run in LiteRT on the same inputs against TF's outputs (the frozen
graph run by TF, Grappler on). Each tool's result on each model is one of:

- match: every output has TF's shape and |got - want| <= 1e-5 * max(1, max|want|) + 1e-4 * |want|
  (booleans and integers exactly);
- error: the converter refused cleanly (litesmith: exit 2; TF: a ConverterError), with the ops named;
- internal: the converter crashed (litesmith: exit 1, a signal or a timeout; TF: any other
  exception or a signal) -- a bug;
- ambiguous: a mismatch where the reference itself is ill-defined: a tie (an ArgMax/ArgMin whose
  top two values, a Floor/Ceil/Cast-to-int/FloorDiv/FloorMod whose input, a Round whose input's
  fraction, a comparison whose operands, a Cast-to-bool or Sign whose input lies within the
  tolerance of the boundary, upstream of every wrong output, or one upstream of each), a non-finite cast (a Cast to an integer
  type of an inf or NaN upstream of every wrong output: undefined in C++), a reference rewrite (the output
  matches TF run eagerly, without Grappler, which rewrites ``x / c`` as ``x * (1 / c)``), or an
  ill-conditioned output (every error within 4x of how far TF's own output moves when the float
  inputs move by ~4 ulp, in 4 random draws: tan near a pole), or each wrong output one of these on
  its own (a tie upstream of it, or ill-conditioned);
- mismatch: any other wrong output (values, shapes, or LiteRT refusing or crashing on the file); wrong
  values that LiteRT's builtin kernels get right without the default XNNPACK delegate are grouped as
  "XNNPACK delegate only" (its SIN/COS are approximations: Tan near a pole).

Writes a JSON of per-model outcomes and a markdown summary (default: next to the cache).
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CACHE = os.path.join(HERE, ".cache", "nnsmith")
VENV = os.path.join(CACHE, "venv")
VENV_PY = os.path.join(VENV, "bin", "python")
PINS = ["nnsmith==0.1.0", "tensorflow-cpu==2.21.*", "ai-edge-litert"]
CLASSES = ("match", "error", "internal", "mismatch", "ambiguous")
TOOLS = ("litesmith", "tf")
RTOL, ATOL = 1e-4, 1e-5
INPUT_DRAWS = 5
PERTURBATIONS = 4
SEED_STRIDE = 100000


# -- driver (stdlib only) ---------------------------------------------------------------------------


def ensure_venv() -> None:
    """Create NNSmith's venv on first use (pip's cache makes TF cheap to reinstall)."""
    probe = [VENV_PY, "-c", "import nnsmith, tensorflow, ai_edge_litert"]
    if os.path.exists(VENV_PY) and subprocess.run(probe, capture_output=True).returncode == 0:
        return
    os.makedirs(CACHE, exist_ok=True)
    print(f"creating NNSmith's venv in {VENV} ({' '.join(PINS)})", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([VENV_PY, "-m", "pip", "install", "-q", *PINS], check=True)


def run_worker(seed: int, count: int, args) -> list:
    """All models of one seed through a worker in NNSmith's venv; a crashed worker restarts after the
    model and stage it died in, which is recorded as that stage's crash."""
    log = os.path.join(CACHE, "models", f"seed{seed}", "progress.jsonl")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    if not args.resume or not os.path.exists(log):
        open(log, "w").close()
    elif args.redo:  # keep litesmith's matches only: a fix can change the other results
        rows = [line for line in open(log) if '"result"' in line]
        with open(log, "w") as f:
            f.writelines(r for r in rows if json.loads(r)["litesmith"]["class"] == "match")
    crashed: list = []
    while True:
        argv = [VENV_PY, os.path.abspath(__file__), "--worker", "--seeds", str(seed), "--count", str(count),
                "--litesmith", args.litesmith, "--min-ops", str(args.min_ops), "--max-ops", str(args.max_ops),
                "--log", log, "--timeout", str(args.timeout)] + [f"--crashed={c}" for c in crashed]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, env={**os.environ, "XDG_CACHE_HOME": os.path.join(CACHE, "xdg"),
                                         "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"})
        lines = [json.loads(line) for line in open(log) if line.strip()]
        done = [r for r in lines if r.get("kind") == "result"]
        if proc.returncode == 0:
            return done
        started = [r for r in lines if r.get("kind") == "stage"]
        if not started:
            raise SystemExit(f"the NNSmith worker failed before any model (exit {proc.returncode})")
        last = started[-1]
        tag = f"{last['index']}:{last['stage']}:{proc.returncode}"
        if tag in crashed:
            raise SystemExit(f"the NNSmith worker dies in the same place twice: {tag}")
        print(f"worker died (exit {proc.returncode}) in seed {seed} model {last['index']} at {last['stage']}; "
              "restarting", file=sys.stderr)
        crashed.append(tag)


def summarize(results: list, seeds: list) -> str:
    """The markdown summary: a table per tool and seed, the failure reasons, the ambiguous cases."""
    lines = ["| seed | models | tool | " + " | ".join(CLASSES) + " |", "|---" * (3 + len(CLASSES)) + "|"]
    for seed in [*seeds, "total"]:
        rows = [r for r in results if seed == "total" or r["seed"] == seed]
        for tool in TOOLS:
            counts = collections.Counter(r[tool]["class"] for r in rows)
            name = "litesmith" if tool == "litesmith" else "TF's converter"
            lines.append(f"| {seed} | {len(rows)} | {name} | " + " | ".join(str(counts[c]) for c in CLASSES) + " |")
    for tool in TOOLS:
        for cls in ("error", "internal", "mismatch", "ambiguous"):
            reasons = collections.Counter(r[tool]["group"] for r in results if r[tool]["class"] == cls)
            if reasons:
                lines += ["", f"{tool} {cls} ({sum(reasons.values())} models), by reason:", ""]
                lines += [f"- {n} x {reason}" for reason, n in reasons.most_common(15)]
    amb = [(r["id"], tool, r[tool]["detail"]) for r in results for tool in TOOLS if r[tool]["class"] == "ambiguous"]
    if amb:
        lines += ["", "ambiguous cases:", ""] + [f"- {i} {tool}: {d}" for i, tool, d in amb]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=150, help="models per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--min-ops", type=int, default=5)
    parser.add_argument("--max-ops", type=int, default=20)
    parser.add_argument("--litesmith", default=os.path.join(REPO, ".venv", "bin", "litesmith"),
                        help="the litesmith CLI to test (default: this worktree's)")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (one worker process each)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per litesmith convert")
    parser.add_argument("--json", default=os.path.join(CACHE, "results.json"))
    parser.add_argument("--md", default=os.path.join(CACHE, "summary.md"))
    parser.add_argument("--resume", action="store_true",
                        help="keep the results the last run finished (only valid if litesmith is unchanged for them)")
    parser.add_argument("--redo", action="store_true",
                        help="with --resume, redo the models litesmith did not match (after a fix that can "
                             "only change those)")
    parser.add_argument("--from-logs", action="store_true",
                        help="only summarize what the last run of these seeds finished (its progress logs)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--crashed", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    ensure_venv()
    started = time.time()
    if args.from_logs:  # the models done so far, e.g. of a run stopped at a deadline
        results = [json.loads(line) for seed in args.seeds
                   for line in open(os.path.join(CACHE, "models", f"seed{seed}", "progress.jsonl"))
                   if '"result"' in line]
    else:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:  # one worker process per seed
            results = [r for rows in pool.map(lambda s: run_worker(s, args.count, args), args.seeds) for r in rows]
    per_seed = dict(collections.Counter(r["seed"] for r in results))
    md = (f"NNSmith 0.1.0 TF models, {args.min_ops}-{args.max_ops} ops, models per seed {per_seed} "
          f"({time.time() - started:.0f} s)\n\n" + summarize(results, args.seeds))
    with open(args.json, "w") as f:
        json.dump({"seeds": args.seeds, "count": args.count, "rtol": RTOL, "atol": ATOL, "models": results}, f,
                  indent=1)
    with open(args.md, "w") as f:
        f.write(md)
    print(md)
    print(f"per-model outcomes: {args.json}; summary: {args.md}")


# -- worker (runs in NNSmith's venv) ------------------------------------------------------------------

TIE_OPS = {"ArgMax", "ArgMin", "Floor", "Ceil", "Round", "Rint", "Cast", "FloorDiv", "FloorMod", "Sign",
           "Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "NotEqual"}


def worker(args) -> int:
    import random

    import numpy as np

    log = open(args.log, "a")
    crashed = {}
    for tag in args.crashed:
        index, stage, code = tag.split(":")
        crashed[(int(index), stage)] = int(code)
    done = {json.loads(line)["index"] for line in open(args.log) if '"result"' in line}
    seed, index, have = args.seeds[0], 0, len(done)
    root = os.path.join(CACHE, "models", f"seed{seed}")
    skipped, generator = 0, Generator()
    while have < args.count and index < 3 * args.count:
        if index in done:
            index += 1
            continue
        folder = os.path.join(root, f"{index:04d}")

        def stage(name):
            log.write(json.dumps({"kind": "stage", "index": index, "stage": name}) + "\n")
            log.flush()
            return crashed.get((index, name))

        if stage("generate") is not None:
            skipped += 1
            index += 1
            continue
        n_ops = random.Random(seed * SEED_STRIDE + index).randint(args.min_ops, args.max_ops)
        started = time.time()
        meta = generate(folder, seed * SEED_STRIDE + index, n_ops, np, generator)
        if meta.get("skip"):
            skipped += 1
            index += 1
            continue
        io = dict(np.load(os.path.join(folder, "io.npz")))
        feeds = {k: io["in:" + k] for k in meta["inputs"]}
        want = {k: io["out:" + k] for k in meta["outputs"]}
        eager = {k: io["eager:" + k] for k in meta["outputs"]}
        row = {"kind": "result", "id": f"s{seed}/{index:04d}", "seed": seed, "index": index, "ops": meta["ops"],
               "n_ops": meta["n_ops"], "seconds": {"generate": round(time.time() - started, 2)}}
        for tool in TOOLS:
            started = time.time()
            row[tool] = run_tool(tool, folder, meta, feeds, want, eager, stage, args, np)
            row["seconds"][tool] = round(time.time() - started, 2)
        log.write(json.dumps(row) + "\n")
        log.flush()
        have += 1
        index += 1
        print(f"{row['id']} ({meta['n_ops']} ops): litesmith {row['litesmith']['class']}, "
              f"tf {row['tf']['class']} ({' '.join(f'{k} {v:.1f}s' for k, v in row['seconds'].items())})",
              file=sys.stderr, flush=True)
    if skipped:
        print(f"seed {seed}: {skipped} model(s) skipped (generation failed or no finite outputs in "
              f"{INPUT_DRAWS} draws)", file=sys.stderr)
    return 0


def run_tool(tool: str, folder: str, meta: dict, feeds: dict, want: dict, eager: dict, stage, args, np) -> dict:
    """One converter on one model, converted and judged: its outcome."""
    code = stage(f"{tool}_convert")
    if code is not None:
        return outcome("internal", f"{tool} converter crashed (worker exit {code})", "crash")
    path, failure = (convert_litesmith if tool == "litesmith" else convert_tf)(folder, meta, args)
    if failure:
        return failure
    code = stage(f"{tool}_run")
    if code is not None:
        return outcome("mismatch", f"LiteRT crashed on the file (worker exit {code})", "LiteRT crash")
    return judge(path, feeds, want, eager, folder, meta, np)


def outcome(cls: str, detail: str, group: str) -> dict:
    return {"class": cls, "detail": detail[:500], "group": group}


class Generator:
    """NNSmith's ``model_gen`` CLI, step by step, in this process with its hydra config's defaults, but
    the opset (a YAML cache NNSmith parsed on every call, 1.7 s) computed once and no SavedModel round
    trip (1.5 s to write, more to load and trace again). The random draws are the CLI's, so most
    seeds give the CLI's model, but not all: NNSmith's generation also depends on what the process
    generated before (the CLI too; seed 1's first 8 models: 6 the same), so a seed's models are
    reproducible by a fresh worker that generates them in order."""

    opset = None

    def setup(self):
        from nnsmith.abstract.extension import activate_ext
        from nnsmith.materialize import Model
        from nnsmith.narrow_spec import auto_opset
        from nnsmith.util import hijack_patch_requires

        self.model_type = Model.init("tensorflow", backend_target="cpu")
        self.model_type.add_seed_setter()
        self.opset = auto_opset(self.model_type, None, vulops=False)
        hijack_patch_requires([])
        activate_ext(opset=self.opset, factory=None)

    def __call__(self, nnsmith_seed: int, n_ops: int):
        """The TF model of ``mgen.seed=nnsmith_seed mgen.max_nodes=n_ops mgen.dtype_choices=[f32]``."""
        from nnsmith.graph_gen import model_gen

        if self.opset is None:
            self.setup()
        gen = model_gen(opset=self.opset, method="symbolic-cinit", seed=nnsmith_seed, max_elem_per_tensor=2 ** 16,
                        max_nodes=n_ops, timeout_ms=10000, rank_choices=None, dtype_choices=["f32"])
        model = self.model_type.from_gir(gen.make_concrete())
        model.refine_weights()
        model.make_oracle()  # unused, but it draws inputs: the draws that follow come after, as in the CLI,
        self.model_type(model.ir)  # and after the weights of the net that loading the SavedModel built
        return model


def generate(folder: str, nnsmith_seed: int, n_ops: int, np, generator) -> dict:
    """NNSmith's model into ``folder``, frozen to model.pb (its GraphIR in gir.pkl); inputs and
    references in io.npz."""
    meta_path = os.path.join(folder, "meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            return json.load(f)
    import pickle

    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    os.makedirs(folder, exist_ok=True)
    meta = {"nnsmith_seed": nnsmith_seed, "max_nodes": n_ops}
    try:
        model = generator(nnsmith_seed, n_ops)
        frozen = convert_variables_to_constants_v2(model.concrete_net())
    except Exception as e:  # NNSmith's own generation failing is not a converter's result
        meta["skip"] = f"generation failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        return save_meta(meta_path, meta)
    with open(os.path.join(folder, "gir.pkl"), "wb") as f:
        pickle.dump(model.ir, f)
    graph_def = frozen.graph.as_graph_def()
    with open(os.path.join(folder, "model.pb"), "wb") as f:
        f.write(graph_def.SerializeToString())
    inputs = [t.name.split(":")[0] for t in frozen.inputs]
    outputs = [t.name.split(":")[0] for t in frozen.outputs]
    for _ in range(INPUT_DRAWS):
        feeds = {k: np.asarray(v.numpy()) for k, v in model.random_inputs().items()}
        want = run_graph(tf, graph_def, feeds, [o + ":0" for o in outputs])
        if all(np.all(np.isfinite(v)) for v in want.values() if v.dtype.kind == "f"):
            break
    else:
        meta["skip"] = f"no finite outputs in {INPUT_DRAWS} draws"
        return save_meta(meta_path, meta)
    eager = tf.nest.flatten(model.run_eagerly({k: tf.constant(v) for k, v in feeds.items()}))
    arrays = {"in:" + k: feeds[k] for k in inputs}
    arrays.update({"out:" + k: want[k + ":0"] for k in outputs})
    arrays.update({"eager:" + k: np.asarray(v.numpy()) for k, v in zip(outputs, eager)})
    np.savez(os.path.join(folder, "io.npz"), **arrays)
    meta.update({"inputs": inputs, "outputs": outputs, "n_ops": model.ir.n_compute_inst(),
                 "shapes": {k: list(feeds[k].shape) for k in inputs},
                 "ops": sorted({n.op for n in graph_def.node} - {"Const", "Placeholder", "Identity"})})
    return save_meta(meta_path, meta)


def save_meta(path: str, meta: dict) -> dict:
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def run_graph(tf, graph_def, feeds: dict, fetches: list) -> dict:
    """The frozen graph run by TF (a v1 session, Grappler on, as a deployed frozen graph runs)."""
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        got = sess.run(fetches, {k + ":0": v for k, v in feeds.items()})
    return dict(zip(fetches, got))


def convert_litesmith(folder: str, meta: dict, args):
    """``litesmith convert`` in a subprocess: (path, None) or (None, outcome)."""
    out = os.path.join(folder, "litesmith.tflite")
    report = os.path.join(folder, "litesmith-report.json")
    for stale in (out, report):
        if os.path.exists(stale):
            os.remove(stale)
    argv = [args.litesmith, "convert", os.path.join(folder, "model.pb"), "-o", out, "--report", report,
            "--inputs", ",".join(meta["inputs"]), "--outputs", ",".join(meta["outputs"])]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return None, outcome("internal", f"timeout after {args.timeout:.0f} s", "timeout")
    if proc.returncode == 0:
        return out, None
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode == 2:
        first = lines[0] if lines else "(no message)"
        return None, outcome("error", first, error_group(first, report))
    last = lines[-1] if lines else f"exit {proc.returncode}"
    where = [line.strip() for line in lines if line.strip().startswith("File ")]
    return None, outcome("internal", f"exit {proc.returncode}: {last}" + (f" at {where[-1]}" if where else ""),
                         re.sub(r"\d+", "N", last)[:120])


def error_group(first: str, report: str) -> str:
    """A clean error's reason: the unknown ops (from the --report legality report) or its message."""
    if os.path.exists(report):
        try:
            with open(report) as f:
                illegal = (json.load(f).get("legality") or {}).get("illegal") or []
        except (OSError, ValueError):
            illegal = []
        roots = sorted({f"{i['op']} ({i['kind']})" for i in illegal if not i.get("caused_by")})
        if roots:
            return "cannot lower " + ", ".join(roots)
    return re.sub(r"'[^']*'|\d+", "_", first)[:120]


def convert_tf(folder: str, meta: dict, args):
    """TF's converter on the same .pb (cached: TF's version is pinned): (path, None) or (None, outcome)."""
    out = os.path.join(folder, "tf.tflite")
    failed = os.path.join(folder, "tf-failure.json")
    if os.path.exists(out):
        return out, None
    if os.path.exists(failed):
        with open(failed) as f:
            return None, json.load(f)
    import tensorflow as tf

    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        os.path.join(folder, "model.pb"), meta["inputs"], meta["outputs"],
        {k: v for k, v in meta["shapes"].items()})
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        flatbuffer = converter.convert()
    except Exception as e:  # the converter's refusal (ConverterError) vs anything else
        text = str(e)
        ops = sorted(set(re.findall(r"'(tf\.\w+)' op is neither a custom op nor a flex op", text)))
        if type(e).__name__ == "ConverterError":
            first = next((line for line in text.splitlines() if "error:" in line), text.splitlines()[0] if text else "")
            result = outcome("error", first.strip(), "cannot convert " + ", ".join(ops) if ops
                             else re.sub(r"'[^']*'|\d+", "_", first.split("error:")[-1].strip())[:120])
        else:
            result = outcome("internal", f"{type(e).__name__}: {text.splitlines()[0] if text else ''}",
                             type(e).__name__)
        with open(failed, "w") as f:
            json.dump(result, f)
        return None, result
    with open(out + ".part", "wb") as f:
        f.write(flatbuffer)
    os.replace(out + ".part", out)
    return out, None


def run_litert(path: str, feeds: dict, outputs: list, np, delegates: bool = True) -> dict:
    """The .tflite in LiteRT (with its default XNNPACK delegate, as users run it, unless ``delegates`` is
    false); inputs and outputs matched by name, else by position."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.AUTO if delegates
                         else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    ins = interp.get_input_details()
    names = list(feeds)
    for k, d in enumerate(ins):
        key = d["name"] if d["name"] in feeds else names[k]
        interp.set_tensor(d["index"], feeds[key].astype(d["dtype"]))
    interp.invoke()
    outs = interp.get_output_details()
    by_name = {d["name"]: d for d in outs}
    details = [by_name.get(o) or outs[k] for k, o in enumerate(outputs)]
    # a zero-size output by its declared shape: get_tensor refuses those ("Invalid tensor size")
    return {o: np.zeros(d["shape"], d["dtype"]) if 0 in d["shape"] else interp.get_tensor(d["index"])
            for o, d in zip(outputs, details)}


def close(got, want, np) -> bool:
    if got.shape != want.shape:
        return False
    if want.dtype.kind != "f":
        return bool(np.array_equal(got.astype(want.dtype), want))
    got = got.astype(np.float64)
    want = want.astype(np.float64)
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    return bool(np.all(np.abs(got - want) <= ATOL * scale + RTOL * np.abs(want)))


def judge(path: str, feeds: dict, want: dict, eager: dict, folder: str, meta: dict, np) -> dict:
    """match / mismatch / ambiguous for one converted file."""
    try:
        got = run_litert(path, feeds, meta["outputs"], np)
    except Exception as e:  # LiteRT refusing the file: the converter's output is wrong
        return outcome("mismatch", f"LiteRT cannot run it: {type(e).__name__}: {str(e).splitlines()[0][:200]}",
                       "LiteRT cannot run it")
    wrong = [o for o in meta["outputs"] if not close(got[o], want[o], np)]
    if not wrong:
        return outcome("match", "", "match")
    shapes = [o for o in wrong if got[o].shape != want[o].shape]
    if shapes:
        o = shapes[0]
        return outcome("mismatch", f"{o}: shape {list(got[o].shape)}, TF gives {list(want[o].shape)}", "wrong shape")
    if all(close(got[o], eager[o], np) for o in wrong):
        return outcome("ambiguous", f"{', '.join(wrong)} match TF run eagerly, not the frozen graph "
                       "(Grappler rewrote it)", "reference rewrite")
    undefined = find_tie(folder, feeds, wrong, np)
    if undefined:
        group, where = undefined
        return outcome("ambiguous", f"{', '.join(wrong)}: {group} {where}", f"{group} {where.split(' ')[0]}")
    spread = ill_conditioned(folder, feeds, {o: got[o] for o in wrong}, want, np)
    if spread:
        return outcome("ambiguous", f"{', '.join(wrong)}: {spread}", "ill-conditioned")
    each = explain_each(folder, feeds, wrong, got, want, np) if len(wrong) > 1 else None
    if each:
        return outcome("ambiguous", each, "tie and ill-conditioned")
    o = wrong[0]
    err = np.abs(got[o].astype(np.float64) - want[o].astype(np.float64))
    plain = run_litert(path, feeds, meta["outputs"], np, delegates=False)
    delegate = all(close(plain[o], want[o], np) for o in wrong)  # XNNPACK's approximate SIN/COS, e.g.
    return outcome("mismatch", f"{', '.join(wrong)} differ (max abs error {float(np.max(err)):.3g} on {o})"
                   f"{' with the XNNPACK delegate only: the builtin kernels match' if delegate else ''}; "
                   f"ops {', '.join(meta['ops'])}", "wrong values, XNNPACK delegate only" if delegate else "wrong values")


def explain_each(folder: str, feeds: dict, wrong: list, got: dict, want: dict, np) -> str:
    """'' unless every wrong output has its own tie upstream or is ill-conditioned on its own (s15/0004:
    a Less at a tie, and tan of tan near a pole that TF's own outputs move by 132 under 4 ulp)."""
    reasons = []
    for o in wrong:
        tie = find_tie(folder, feeds, [o], np)
        if tie:
            reasons.append(f"{o}: {tie[0]} {tie[1]}")
            continue
        spread = ill_conditioned(folder, feeds, {o: got[o]}, {o: want[o]}, np)
        if not spread:
            return ""
        reasons.append(f"{o}: {spread}")
    return "; ".join(reasons)


def ill_conditioned(folder: str, feeds: dict, got: dict, want: dict, np) -> str:
    """'' unless TF's own outputs move as far as ``got`` is off when the float inputs move by ~4 ulp
    (tan near a pole, a sum that cancels): the reference cannot tell right from wrong there."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with open(os.path.join(folder, "model.pb"), "rb") as f:
        graph_def.ParseFromString(f.read())
    rng = np.random.default_rng(0)
    spread = {o: np.zeros(w.shape) for o, w in want.items() if o in got}
    for _ in range(PERTURBATIONS):
        moved = {k: (v * (1 + rng.uniform(-2.0 ** -22, 2.0 ** -22, v.shape))).astype(v.dtype) if v.dtype.kind == "f"
                 else v for k, v in feeds.items()}
        again = run_graph(tf, graph_def, moved, [o + ":0" for o in spread])
        for o in spread:
            with np.errstate(all="ignore"):
                spread[o] = np.fmax(spread[o], np.abs(again[o + ":0"].astype(np.float64) - want[o]))
    for o, g in got.items():
        w = want[o].astype(np.float64)
        scale = max(1.0, float(np.max(np.abs(w)))) if w.size else 1.0
        allowed = ATOL * scale + RTOL * np.abs(w) + 4 * spread[o]
        if not np.all(np.abs(g.astype(np.float64) - w) <= allowed):
            return ""
    worst = max(float(np.max(v, initial=0)) for v in spread.values())
    return f"TF's own outputs move by up to {worst:.3g} when its inputs move by 4 ulp (errors within 4x that)"


def find_tie(folder: str, feeds: dict, wrong: list, np):
    """A tie-prone node upstream of every wrong output (else one upstream of each) whose input TF
    computed at a boundary, as ("tie at", node), or a Cast to an integer type of an infinite or NaN float, as ("non-finite cast
    at", node): undefined in C++, so TF on x86 gives INT_MIN for +inf and LiteRT saturates; or None."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with open(os.path.join(folder, "model.pb"), "rb") as f:
        graph_def.ParseFromString(f.read())
    nodes = {n.name: n for n in graph_def.node}
    upstream = {}

    def ancestors(name):
        if name not in upstream:
            upstream[name] = set()
            for src in nodes[name].input:
                src = src.lstrip("^").split(":")[0]
                upstream[name] |= {src} | ancestors(src)
        return upstream[name]

    def suspects_of(names):
        return [n for n in graph_def.node if n.name in names and n.op in TIE_OPS
                and not (n.op == "Cast" and tf.as_dtype(n.attr["DstT"].type).is_floating)]

    # one tie upstream of every wrong output, else one upstream of each (two Floors of one softmax
    # that TF computes a hair under 1.0 on a size-1 axis: NNSmith s14/0142)
    shared = suspects_of(set.intersection(*(ancestors(o) | {o} for o in wrong)))
    per_output = [suspects_of(ancestors(o) | {o}) for o in wrong]
    every = [n for g in [shared, *per_output] for n in g]
    if not every:
        return None
    fetches = sorted({i for n in every for i in n.input if not i.startswith("^")})
    fetches = [i if ":" in i else i + ":0" for i in fetches]
    values = run_graph(tf, graph_def, feeds, fetches)

    def near(x, boundary):
        """Some element of ``x`` lies within the comparison's tolerance of ``boundary``."""
        x = np.asarray(x, np.float64)
        scale = max(1.0, float(np.max(np.abs(x), initial=0)))
        return bool(np.any(np.abs(x - boundary) <= ATOL * scale + RTOL * np.abs(x)))

    def val(name):
        return np.asarray(values[name if ":" in name else name + ":0"], np.float64)

    def tie_among(suspects):
        for n in suspects:
            x = val(n.input[0])
            if n.op == "Cast" and tf.as_dtype(n.attr["DstT"].type).is_integer and not np.all(np.isfinite(x)):
                return "non-finite cast at", f"{n.op} {n.name!r}"
            if n.op in ("ArgMax", "ArgMin"):
                axis = int(val(n.input[1]))
                s = np.sort(x if n.op == "ArgMax" else -x, axis=axis)
                hit = x.shape[axis] > 1 and near(np.take(s, [-2], axis=axis), np.take(s, [-1], axis=axis))
            elif n.op in ("Floor", "Ceil", "Cast"):
                hit = near(x, np.round(x)) if n.op != "Cast" or tf.as_dtype(n.attr["DstT"].type) != tf.bool \
                    else near(x, 0.0)
            elif n.op in ("Round", "Rint"):
                hit = near(x, np.floor(x) + 0.5)
            elif n.op == "Sign":
                hit = near(x, 0.0)
            elif n.op in ("FloorDiv", "FloorMod"):
                with np.errstate(all="ignore"):
                    q = x / val(n.input[1])
                hit = near(q, np.round(q))
            else:  # comparisons
                hit = near(x, val(n.input[1]))
            if hit:
                return "tie at", f"{n.op} {n.name!r}"
        return None

    common = tie_among(shared)
    if common or len(wrong) == 1:
        return common
    each = [tie_among(g) for g in per_output]
    if not all(each):
        return None
    kind = "non-finite cast at" if any(k == "non-finite cast at" for k, _ in each) else "tie at"
    return kind, " and ".join(dict.fromkeys(where for _, where in each))


if __name__ == "__main__":
    sys.exit(main())
