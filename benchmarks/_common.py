"""Shared pieces of the benchmark scripts: the benchmark models, measured child processes,
op counts, and LiteRT latency of two models in alternation.

Models are built once into a cache folder (default /tmp/litesmith_bench; TensorFlow is
imported only to build them). Every measured compile/import runs as its own process;
its wall time comes from the parent and its peak memory from ``os.wait4`` (that child
alone, not every child as RUSAGE_CHILDREN would give).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before TensorFlow is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))  # tests/tf_models.py builds the graphs

CACHE = os.environ.get("LITESMITH_BENCH_CACHE", "/tmp/litesmith_bench")
PYTHON = sys.executable
LITESMITH = [PYTHON, "-m", "litesmith"]

# The seed's LM at benchmark size: 2x256 LSTM; vocab and embedding chosen so the frozen .pb is ~11 MB.
BIG_SEED_LM = {"batch": 8, "vocab": 3300, "emb": 256, "hid": 256, "layers": 2, "seq_len": 5}


# -- models ------------------------------------------------------------------------------------


def seed_lm_paths(cache: str = CACHE) -> dict:
    """The big seed LM (full graph + hand-split step graph), built on first use.

    Returns {"full": lm.pb, "step": step.pb, "inputs": [...], "outputs": [...], "pairs": [[in, out], ...],
    "sizes": {...}}."""
    folder = os.path.join(cache, "seed_lm_2x256")
    info_path = os.path.join(folder, "info.json")
    if not os.path.exists(info_path):
        os.makedirs(folder, exist_ok=True)
        import tensorflow as tf
        import tf_models as zoo

        tf.get_logger().setLevel("ERROR")
        saved, zoo.SEED_LM_SIZES = zoo.SEED_LM_SIZES, dict(BIG_SEED_LM)
        try:
            full, step, _ = zoo.build_seed_lm(tf, folder, "v1")
        finally:
            zoo.SEED_LM_SIZES = saved
        m = step.meta
        info = {
            "full": full.pb_path, "step": step.pb_path,
            "inputs": [m["ids_name"]] + [n for pair in m["state_names"] for n in pair],
            "outputs": [m["probs_name"]] + [n for pair in m["new_state_names"] for n in pair],
            "sizes": dict(BIG_SEED_LM),
        }
        info["pairs"] = [[i, o] for i, o in zip(info["inputs"][1:], info["outputs"][1:])]
        with open(info_path, "w") as f:
            json.dump(info, f, indent=1)
    with open(info_path) as f:
        return json.load(f)


def demo_lm_paths() -> dict:
    """The keyboard demo's TRAINED 2x256 LM (cached under .cache/demo; trained on first use).

    Same keys as :func:`seed_lm_paths`, plus "artifacts" (litesmith.demo.train.Artifacts)."""
    from litesmith.demo.train import DEMO_CONFIG, load_or_train

    art = load_or_train(DEMO_CONFIG)
    cfg = art.config
    return {"full": str(art.lm_pb), "step": str(art.step_pb), "inputs": art.step_inputs(),
            "outputs": art.step_outputs(), "pairs": [[i, o] for i, o in art.state_pairs().items()],
            "sizes": {"vocab": cfg.vocab_size + 2, "emb": cfg.embedding, "hid": cfg.hidden, "layers": cfg.layers},
            "artifacts": art}


def cnn_paths(archs: Sequence[str], cache: str = CACHE) -> dict[str, dict]:
    """{arch: {"pb", "inputs", "outputs"}} of the zoo's Keras CNNs, built on first use."""
    folder = os.path.join(cache, "cnns")
    os.makedirs(folder, exist_ok=True)
    out = {}
    for arch in archs:
        pb = os.path.join(folder, f"keras_{arch}.pb")
        if not os.path.exists(pb):
            import tensorflow as tf
            import tf_models as zoo

            tf.get_logger().setLevel("ERROR")
            zoo.build_keras_cnn(tf, folder, arch)
        out[arch] = {"pb": pb, "inputs": ["images"], "outputs": ["Identity", "Identity_1"]}
    return out


def state_metadata(pairs, hid: int) -> bytes:
    """The ``litesmith.state`` entry for a hand-split step graph."""
    from litesmith.ir.state import StatePair, encode_state

    return encode_state(StatePair(i, o, (1, hid)) for i, o in pairs)


# -- measured processes --------------------------------------------------------------------------


# A tiny launcher between us and the measured process: a forked child starts with its
# parent's RSS high-water mark, so ru_maxrss seen from a big parent would be the parent's.
# The launcher is small (python -S) and spawns the command, so the peak is the command's own.
_LAUNCHER = ("import os, sys; pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ);"
             "_, status, usage = os.wait4(pid, 0);"
             "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}');"
             "sys.exit(os.waitstatus_to_exitcode(status))")


def _measured_env() -> dict:
    """Bytecode caching on (under CACHE, not in the repo): an installed package has its .pyc files,
    so neither side should pay for compiling its sources (this box sets PYTHONDONTWRITEBYTECODE)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = os.path.join(CACHE, "pycache")
    return env


class ProcessTimeout(RuntimeError):
    """A measured process ran past its timeout and was killed (with everything it started)."""


def measure_process(argv: Sequence[str], quiet: bool = True, timeout: float | None = None,
                    env: dict | None = None) -> dict:
    """Run ``argv``; {"seconds": wall, "cpu_seconds": its user + system time, "peak_rss_mib": its own peak
    RSS, "returncode"}. CPU time says what the work cost when other jobs share the cores (wall time
    then waits for them). ``env``: extra environment variables.

    Past ``timeout`` seconds the process group is killed and ``ProcessTimeout`` raised."""
    import signal
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".maxrss") as rss_file:
        start = time.perf_counter()
        proc = subprocess.Popen([PYTHON, "-S", "-c", _LAUNCHER, rss_file.name, *argv], env={**_measured_env(), **(env or {})},
                                stdout=subprocess.DEVNULL if quiet else None,
                                stderr=subprocess.PIPE if quiet else None, start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command it spawned
            proc.communicate()
            raise ProcessTimeout(f"{' '.join(argv)}: no result after {timeout:.0f} s") from None
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            err = (stderr or b"").decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{err}")
        peak_kib, cpu = (rss_file.read() or "0 0").split()
    return {"seconds": seconds, "cpu_seconds": float(cpu), "peak_rss_mib": int(peak_kib) / 1024,
            "returncode": proc.returncode}


def tf_convert_argv(pb: str, inputs: Sequence[str], outputs: Sequence[str], out: str,
                    shapes: dict[str, list[int]] | None = None, quantize: str | None = None) -> list[str]:
    """A process running TF's own converter (the peer) on a frozen graph."""
    code = (
        "import os,sys,json; os.environ.setdefault('TF_USE_LEGACY_KERAS','1');"
        "import tensorflow as tf; a=json.loads(sys.argv[1]);"
        "c=tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(a['pb'],a['inputs'],a['outputs'],a['shapes']);"
        "q=a['quantize'];\n"
        "if q=='dynamic': c.optimizations=[tf.lite.Optimize.DEFAULT]\n"
        "if q=='int8':\n"
        " import numpy as np; d=np.load(a['calib']); c.optimizations=[tf.lite.Optimize.DEFAULT]\n"
        " c.representative_dataset=lambda: ([d[k][s] for k in a['inputs']] for s in range(len(d[a['inputs'][0]])))\n"
        "open(a['out'],'wb').write(c.convert())"
    )
    args = {"pb": pb, "inputs": list(inputs), "outputs": list(outputs), "out": out, "shapes": shapes,
            "quantize": quantize, "calib": out + ".calib.npz"}
    return [PYTHON, "-c", code, json.dumps(args)]


def median_runs(argvs: dict[str, Sequence[str]], runs: int) -> dict[str, dict]:
    """Run each argv ``runs`` times, alternating between them; medians of wall time and peak memory.

    One unmeasured warm-up run each first (bytecode cache, page cache)."""
    for argv in argvs.values():
        measure_process(argv)
    samples = {name: [] for name in argvs}
    for _ in range(runs):
        for name, argv in argvs.items():
            samples[name].append(measure_process(argv))
    return {name: {"seconds": statistics.median(s["seconds"] for s in runs_),
                   "peak_rss_mib": statistics.median(s["peak_rss_mib"] for s in runs_),
                   "all_seconds": [round(s["seconds"], 3) for s in runs_]}
            for name, runs_ in samples.items()}


# -- .tflite facts ----------------------------------------------------------------------------------


def op_count(path: str) -> tuple[int, dict[str, int]]:
    """(operators in all subgraphs, {opcode name: count}) read from the flatbuffer."""
    from litesmith.backends.tflite import schema_generated as schema

    with open(path, "rb") as f:
        model = schema.Model.GetRootAs(f.read(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        codes.append(names.get(code, str(code)) if code != 32 else f"CUSTOM:{oc.CustomCode()}")
    hist: dict[str, int] = {}
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for k in range(sg.OperatorsLength()):
            name = codes[sg.Operators(k).OpcodeIndex()]
            hist[name] = hist.get(name, 0) + 1
    return sum(hist.values()), dict(sorted(hist.items()))


def alternating_times(steps: dict, rounds: int = 20, per_round: int = 20, warmup: int = 3) -> dict[str, list]:
    """Milliseconds per call of each ``steps[name]()``, in alternating rounds, so a shared machine's
    load hits every candidate alike (compare ratios, never absolute figures across runs)."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                step()
                times[name].append((time.perf_counter() - t0) * 1e3)
    return times


def litert_latency(models: dict[str, str], feeds_fn, rounds: int = 20, per_round: int = 20) -> dict[str, dict]:
    """Per-invoke latency (ms) of several .tflite models, 1 thread, alternating rounds.

    ``feeds_fn(interpreter) -> callable`` returns one step (set inputs + invoke + read outputs)."""
    from ai_edge_litert.interpreter import Interpreter

    steps = {}
    for name, path in models.items():
        interp = Interpreter(model_path=path, num_threads=1)
        interp.allocate_tensors()
        steps[name] = feeds_fn(interp)
    times = alternating_times(steps, rounds, per_round)
    return {name: {"min_ms": float(np.min(t)), "median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90))}
            for name, t in times.items()}


def random_feeds(interp, seed: int = 0):
    """A step that feeds fixed random inputs (ints in [0, 2) for integer inputs) and invokes."""
    rng = np.random.default_rng(seed)
    feeds = []
    for d in interp.get_input_details():
        if np.issubdtype(d["dtype"], np.integer):
            value = rng.integers(0, 2, size=d["shape"]).astype(d["dtype"])
        else:
            value = rng.standard_normal(d["shape"]).astype(d["dtype"])
        feeds.append((d["index"], value))
    outs = [d["index"] for d in interp.get_output_details()]

    def step():
        for index, value in feeds:
            interp.set_tensor(index, value)
        interp.invoke()
        return [interp.get_tensor(i) for i in outs]

    return step


def machine_line() -> str:
    import platform

    return f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, {platform.platform()}"
