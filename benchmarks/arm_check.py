"""`make arm-check`: the same int8 models in every engine we can run here, compared step by step.

    .venv/bin/python benchmarks/arm_check.py [--steps 50] [--images 8] [--json out.json]

Engines: LiteRT x86 (ai_edge_litert), TFLite Micro x86 (tflite-micro wheel),
Arm NN 20.08 CpuRef x86 (Debian bookworm's python3-pyarmnn and libraries,
downloaded with `apt-get download` and unpacked into the cache folder, run by
the system python3), and under qemu-aarch64 (Debian's qemu-user-static, an
arm64 root of Debian's python3.11 and Arm NN, LiteRT's aarch64 wheel): LiteRT
aarch64 and Arm NN CpuAcc aarch64 (--no-qemu leaves those out).

Models: the seed LM (int8, integer-only, one step, state threaded for
--steps steps; as written for litert and with --target armnn, whose
embedding-one-hot pass replaces the GATHER Arm NN 20.08 lacks) and the zoo's
MobileNetV2 (random weights, int8, --images images; --target armnn, and
--target tflm in LiteRT and TFLM). Also TF's converter's int8 output of the seed's
hand-split step graph and of MobileNetV2, through the same engines: which one
refuses it and why. Per model: the largest difference between every pair of
engines in int8 steps (LSB) of each output, at the first step and over all
steps, and the top-1 agreement with the float model (litesmith's float
.tflite in LiteRT).

Idempotent: the Debian packages, the models and the conversions are cached in
$ARM_CHECK_CACHE (default ~/.cache/litesmith-arm).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import _common as C  # noqa: E402
import target_engines as E  # noqa: E402

CACHE = os.environ.get("ARM_CHECK_CACHE", os.path.join(os.path.expanduser("~/.cache"), "litesmith-arm"))
ARMNN_DEBS = ["libarmnn22", "libarmnn-cpuref-backend22", "libflatbuffers2", "libarmnntfliteparser22",
              "python3-pyarmnn", "python3-numpy", "libblas3", "liblapack3", "libgfortran5"]
LM_PASSES = "strip-batch,unroll-rnn"
# arm64 packages for python3.11 + Arm NN (CpuRef, CpuAcc) + numpy, unpacked into a root for qemu-aarch64 -L
# (never installed: python3:arm64 system-wide would remove the host's python3).
ARM64_DEBS = [
    "gcc-12-base", "libarm-compute20", "libarmnn-cpuacc-backend22", "libarmnn-cpuref-backend22", "libarmnn22",
    "libarmnnaclcommon22", "libarmnntfliteparser22", "libblas3", "libbz2-1.0", "libc6", "libcom-err2", "libcrypt1",
    "libdb5.3", "libexpat1", "libffi8", "libflatbuffers2", "libgcc-s1", "libgfortran5", "libgomp1",
    "libgssapi-krb5-2", "libk5crypto3", "libkeyutils1", "libkrb5-3", "libkrb5support0", "liblapack3", "liblzma5",
    "libncursesw6", "libnsl2", "libpython3-stdlib", "libpython3.11-minimal", "libpython3.11-stdlib", "libreadline8",
    "libsqlite3-0", "libssl3", "libstdc++6", "libtinfo6", "libtirpc3", "libuuid1", "python3-numpy",
    "python3-pyarmnn", "python3.11-minimal", "python3.11", "python3", "zlib1g",
]
# LiteRT reads the CPU's features from /proc/cpuinfo, which qemu-user passes through from the host.
FAKE_CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

"""
QEMU_CPU = "neoverse-n1"  # qemu's default CPU model gives wrong XNNPACK int8 results


def ensure_armnn_x86() -> str:
    """Debian's Arm NN 20.08 for amd64 unpacked under the cache (nothing installed system-wide)."""
    root = os.path.join(CACHE, "root-amd64")
    if os.path.isdir(os.path.join(root, "usr/lib/python3/dist-packages/pyarmnn")):
        return root
    debs = os.path.join(CACHE, "debs-amd64")
    os.makedirs(debs, exist_ok=True)
    subprocess.run(["apt-get", "download", *ARMNN_DEBS], cwd=debs, check=True)
    for name in sorted(os.listdir(debs)):
        subprocess.run(["dpkg-deb", "-x", os.path.join(debs, name), root], check=True)
    return root


def ensure_aarch64() -> dict:
    """qemu-aarch64 (Debian's static build) and an arm64 root: Debian's python3.11 and Arm NN, LiteRT's
    aarch64 wheel beside it. Returns the commands and environments for the two engines."""
    qemu_root = os.path.join(CACHE, "root-qemu")
    qemu = os.path.join(qemu_root, "usr/bin/qemu-aarch64-static")
    if not os.path.exists(qemu):
        debs = os.path.join(CACHE, "debs-qemu")
        os.makedirs(debs, exist_ok=True)
        subprocess.run(["apt-get", "download", "qemu-user-static"], cwd=debs, check=True)
        for name in os.listdir(debs):
            subprocess.run(["dpkg-deb", "-x", os.path.join(debs, name), qemu_root], check=True)
    root = os.path.join(CACHE, "root-arm64")
    if not os.path.exists(os.path.join(root, "usr/lib/python3/dist-packages/pyarmnn")):
        arches = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True).stdout.split()
        if "arm64" not in arches:
            subprocess.run(["dpkg", "--add-architecture", "arm64"], check=True)
            subprocess.run(["apt-get", "update", "-qq"], check=True)
        debs = os.path.join(CACHE, "debs-arm64")
        os.makedirs(debs, exist_ok=True)
        subprocess.run(["apt-get", "download", *[f"{p}:arm64" for p in ARM64_DEBS]], cwd=debs, check=True)
        for name in sorted(os.listdir(debs)):
            subprocess.run(["dpkg-deb", "-x", os.path.join(debs, name), root], check=True)
    os.makedirs(os.path.join(root, "proc"), exist_ok=True)
    with open(os.path.join(root, "proc/cpuinfo"), "w") as f:
        f.write(FAKE_CPUINFO)
    pylib = os.path.join(CACHE, "pylib-arm64")
    if not os.path.isdir(os.path.join(pylib, "ai_edge_litert")):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", pylib, "--platform",
                        "manylinux_2_27_aarch64", "--python-version", "3.11", "--only-binary=:all:",
                        "ai-edge-litert", "numpy"], check=True)
    python = [qemu, "-L", root, os.path.join(root, "usr/bin/python3.11")]
    lib = os.path.join(root, "usr/lib/aarch64-linux-gnu")
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH")}
    return {"root": root, "python": python,
            "litert_env": {**base, "QEMU_CPU": QEMU_CPU, "PYTHONPATH": pylib},
            "armnn_env": {**base, "QEMU_CPU": QEMU_CPU, "PYTHONPATH": os.path.join(root, "usr/lib/python3/dist-packages"),
                          "LD_LIBRARY_PATH": ":".join([lib, os.path.join(lib, "blas"), os.path.join(lib, "lapack")])}}


def seed_lm() -> dict:
    folder = os.path.join(CACHE, "models")
    info_path = os.path.join(folder, "seed_lm.json")
    if not os.path.exists(info_path):
        os.makedirs(folder, exist_ok=True)
        import tensorflow as tf
        import tf_models as zoo

        full, step, _ = zoo.build_seed_lm(tf, folder, "v1")
        m = step.meta
        with open(info_path, "w") as f:
            json.dump({"full": full.pb_path, "step": step.pb_path, "ids": m["ids_name"],
                       "states": [n for pair in m["state_names"] for n in pair], "probs": m["probs_name"],
                       "new_states": [n for pair in m["new_state_names"] for n in pair], "sizes": full.meta["sizes"]}, f)
    with open(info_path) as f:
        return json.load(f)


def _compile(pb, out, quantize=None, calibration=None, passes=None, target=None, **load_args) -> bytes:
    if not os.path.exists(out):
        import litesmith

        blob = litesmith.compile(litesmith.load(pb, **load_args), passes=passes, quantize=quantize,
                                 calibration=calibration, integer_only=bool(quantize), target=target, progress=False)
        with open(out, "wb") as f:
            f.write(blob)
    with open(out, "rb") as f:
        return f.read()


def _tf_int8(pb, inputs, outputs, shapes, calib, out) -> bytes | str:
    if not os.path.exists(out):
        np.savez(out + ".calib.npz", **calib)
        done = subprocess.run(C.tf_convert_argv(pb, inputs, outputs, out, shapes, "int8"), capture_output=True, text=True)
        if done.returncode:
            return "TF's converter failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    with open(out, "rb") as f:
        return f.read()


def _state_pairs(blob) -> dict:
    from litesmith.backends.tflite import schema_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(blob), 0)
    for md in model.metadata or []:
        if md.name in (b"litesmith.state", "litesmith.state"):
            return {p["input"]: p["output"] for p in json.loads(bytes(model.buffers[md.buffer].data).decode())}
    return {}


def lm_cases(steps: int) -> list:
    info = seed_lm()
    vocab = info["sizes"]["vocab"]
    rng = np.random.default_rng(0)
    calib = {"inputids": rng.integers(0, vocab, (16, 12)).astype(np.int32)}
    ids = np.random.default_rng(1).integers(0, vocab, steps)
    folder = os.path.join(CACHE, "models")
    full = info["full"]
    ours = _compile(full, os.path.join(folder, "lm_int8.tflite"), "int8", calib, LM_PASSES)
    flt = _compile(full, os.path.join(folder, "lm_float.tflite"), passes=LM_PASSES)
    armnn = _compile(full, os.path.join(folder, "lm_int8_armnn.tflite"), "int8", calib, LM_PASSES, target="armnn")
    pairs = _state_pairs(ours)
    zeros = {n: np.zeros(_input_shape(ours, n), np.float32) for n in pairs}
    run_ids = [{"inputids": np.array(t, np.int32), **(zeros if k == 0 else {})} for k, t in enumerate(ids)]
    float_ref = E.run_litert(flt, run_ids, pairs)
    cases = [("seed LM int8 (ids in)", ours, run_ids, pairs, float_ref, "probs"),
             # embedding-one-hot: the GATHER as a one-hot FULLY_CONNECTED (ids fed as float32 by the runners)
             ("seed LM int8 (ids in, --target armnn)", armnn, run_ids, pairs, float_ref, "probs")]
    # TF's converter on the seed's hand-split step graph (state [1, HID] per input)
    hid = info["sizes"]["hid"]
    tf_calib = {info["ids"]: calib["inputids"][:, :1]}
    tf_calib.update({n: rng.normal(0, 0.5, (16, 1, hid)).astype(np.float32) for n in info["states"]})
    tf_blob = _tf_int8(info["step"], [info["ids"]] + info["states"], [info["probs"]] + info["new_states"],
                       {info["ids"]: [1], **{n: [1, hid] for n in info["states"]}}, tf_calib,
                       os.path.join(folder, "tf_lm_int8.tflite"))
    if isinstance(tf_blob, bytes):
        tf_pairs = dict(zip(info["states"], info["new_states"]))
        tf_steps = [{info["ids"]: np.array([t], np.int32),
                     **({n: np.zeros((1, hid), np.float32) for n in info["states"]} if k == 0 else {})}
                    for k, t in enumerate(ids)]
        cases.append(("TF converter LM step int8", tf_blob, tf_steps, tf_pairs, float_ref, info["probs"]))
    else:
        print(tf_blob)
    return cases


def _input_shape(blob, name):
    from litesmith.backends.tflite import schema_generated as schema

    sg = schema.Model.GetRootAs(blob, 0).Subgraphs(0)
    for k in range(sg.InputsLength()):
        t = sg.Tensors(sg.Inputs(k))
        if t.Name().decode() == name:
            return tuple(t.ShapeAsNumpy().tolist()) if t.ShapeLength() else ()
    raise KeyError(name)


def mobilenet_cases(n_images: int) -> list:
    info = C.cnn_paths(["mobilenet_v2"])["mobilenet_v2"]
    folder = os.path.join(CACHE, "models")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    calib = {"images": rng.uniform(0, 1, (8, 1, 224, 224, 3)).astype(np.float32)}
    xs = np.random.default_rng(1).uniform(0, 1, (n_images, 1, 224, 224, 3)).astype(np.float32)
    ours = _compile(info["pb"], os.path.join(folder, "mobilenet_v2_int8_armnn.tflite"), "int8", calib, target="armnn")
    flt = _compile(info["pb"], os.path.join(folder, "mobilenet_v2_float.tflite"))
    steps = [{"images": x} for x in xs]
    float_ref = E.run_litert(flt, steps)
    cases = [("MobileNetV2 int8 (--target armnn)", ours, steps, {}, float_ref, "Identity")]
    # TFLM aborts in that file's 1000-class int8 SOFTMAX (T013); --target tflm computes it in int16 (softmax-int16)
    tflm = _compile(info["pb"], os.path.join(folder, "mobilenet_v2_int8_tflm.tflite"), "int8", calib, target="tflm")
    cases.append(("MobileNetV2 int8 (--target tflm)", tflm, steps, {}, float_ref, "Identity", ("LiteRT x86", "TFLM x86")))
    tf_blob = _tf_int8(info["pb"], ["images"], ["Identity", "Identity_1"], {"images": [1, 224, 224, 3]}, calib,
                       os.path.join(folder, "tf_mobilenet_v2_int8.tflite"))
    if isinstance(tf_blob, bytes):
        cases.append(("TF converter MobileNetV2 int8", tf_blob, steps, {}, float_ref, "Identity"))
    return cases


def run_case(name, blob, steps, pairs, float_ref, top_output, only=None, armnn_root=None, arm64=None) -> dict:
    from litesmith.backends.tflite.target_check import check_target

    engines = {
        "LiteRT x86": lambda: E.run_litert(blob, steps, pairs),
        "TFLM x86": lambda: E.run_tflm(blob, steps, pairs),
        "Arm NN CpuRef x86": lambda: E.run_armnn(blob, steps, pairs, root=armnn_root),
    }
    checks = {"LiteRT x86": "litert", "TFLM x86": "tflm", "Arm NN CpuRef x86": "armnn"}
    if arm64:
        engines["LiteRT aarch64 (qemu)"] = lambda: E.run_litert_child(blob, steps, pairs, arm64["python"],
                                                                      arm64["litert_env"])
        engines["Arm NN CpuAcc aarch64 (qemu)"] = lambda: E.run_armnn(  # MEAN int8: CpuRef (CpuAcc lacks it)
            blob, steps, pairs, backend="CpuAcc,CpuRef", root=arm64["root"], command=arm64["python"],
            triplet="aarch64-linux-gnu", env=arm64["armnn_env"], timeout=3600)
        checks.update({"LiteRT aarch64 (qemu)": "litert", "Arm NN CpuAcc aarch64 (qemu)": "armnn"})
    if only:  # a case for some engines only
        engines = {k: v for k, v in engines.items() if k in only}
    results, refused = {}, {}
    for engine, fn in engines.items():
        findings = [f.line() for f in check_target(blob, checks[engine])]
        try:
            results[engine] = _isolated(fn)
        except Exception as e:  # the engine's own refusal, or its crash
            refused[engine] = {"engine": f"{type(e).__name__}: {e}"[:300], "profile": findings[:3]}
            continue
        if findings:
            refused[engine] = {"engine": "ran", "profile": findings[:3]}
    lsb = E.output_lsb(blob)
    pairs_table = {}
    for a, b in itertools.combinations(results, 2):
        only = {top_output: lsb[top_output]}
        pairs_table[f"{a} / {b}"] = {"step0": round(E.max_lsb(results[a][:1], results[b][:1], lsb), 2),
                                     "all": round(E.max_lsb(results[a], results[b], lsb), 2),
                                     "top_output": round(E.max_lsb(results[a], results[b], only), 2)}
    ref_top = [np.argmax(s[next(k for k in s if k in ("probs", "Identity"))]) for s in float_ref]
    top1 = {e: float(np.mean([np.argmax(s[top_output]) == r for s, r in zip(res, ref_top)])) for e, res in results.items()}
    return {"model": name, "steps": len(steps), "top_output": top_output, "pairs": pairs_table, "top1_vs_float": top1, "refused": refused}


def _isolated(fn):
    """``fn()`` in a forked child: an engine that aborts (TFLM does on MobileNetV2) fails this case only."""
    import pickle
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pkl") as out:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                result = fn()
            except BaseException as e:  # handed to the parent
                result, code = RuntimeError(f"{type(e).__name__}: {e}"), 3
            with open(out.name, "wb") as f:
                pickle.dump(result, f)
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            raise RuntimeError(f"the engine crashed (signal {os.WTERMSIG(status)}) while running the model")
        with open(out.name, "rb") as f:
            result = pickle.load(f)
        if isinstance(result, Exception):
            raise result
        return result


def print_case(r: dict) -> None:
    print(f"\n## {r['model']} ({r['steps']} steps)")
    print(f"  {'largest |difference| in LSB':<44} {'first step':>10} {'all steps':>10} {r['top_output'] + ' only':>16}")
    for pair, d in r["pairs"].items():
        print(f"  {pair:<44} {d['step0']:>10} {d['all']:>10} {d['top_output']:>16}")
    for engine, agree in r["top1_vs_float"].items():
        print(f"  top-1 agreement with float  {engine:<20} {agree:.3f}")
    for engine, why in r["refused"].items():
        print(f"  {engine}: engine: {why['engine']}")
        for line in why["profile"]:
            print(f"      profile: {line}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--json", metavar="OUT.json")
    ap.add_argument("--no-qemu", action="store_true", help="x86 engines only (qemu runs are 20-50x slower)")
    args = ap.parse_args(argv)
    root = ensure_armnn_x86()
    arm64 = None if args.no_qemu else ensure_aarch64()
    cases = lm_cases(args.steps) + mobilenet_cases(args.images)
    report = []
    for case in cases:
        r = run_case(*case, armnn_root=root, arm64=arm64)
        print_case(r)
        report.append(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
