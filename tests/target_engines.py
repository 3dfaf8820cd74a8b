"""Run one .tflite in several engines, the same steps in each: LiteRT, TFLite Micro, Arm NN (and under qemu).

Shared by test_target_engines.py and benchmarks/arm_check.py. A run is a list
of steps; each step's feeds are by input tensor name, and ``pairs`` (input ->
output) thread a stepped model's state from one step to the next. Results are
per step, by output tensor name. Arm NN's Python binding is Debian's
``python3-pyarmnn`` for the system python3: it runs in a child process
(``ARMNN_CHILD`` below) with the folder the packages were unpacked into.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

Steps = Sequence[Mapping[str, np.ndarray]]


def io_names(blob: bytes) -> tuple:
    """(input names, output names) of the main subgraph, in index order."""
    from litesmith.backends.tflite import schema_generated as schema

    sg = schema.Model.GetRootAs(blob, 0).Subgraphs(0)
    name = lambda i: sg.Tensors(i).Name().decode()  # noqa: E731
    return ([name(sg.Inputs(k)) for k in range(sg.InputsLength())],
            [name(sg.Outputs(k)) for k in range(sg.OutputsLength())])


def input_dtypes(blob: bytes) -> Dict[str, np.dtype]:
    """Input name -> its numpy dtype (the feeds are cast to it: Arm NN's binding checks, and
    --target armnn makes token ids float32)."""
    from litesmith.backends.tflite import schema_generated as schema

    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    sg = schema.Model.GetRootAs(blob, 0).Subgraphs(0)
    return {sg.Tensors(sg.Inputs(k)).Name().decode(): np.dtype(types[sg.Tensors(sg.Inputs(k)).Type()].lower())
            for k in range(sg.InputsLength())}


def output_lsb(blob: bytes) -> Dict[str, float]:
    """Output name -> the size of one int8 step there: the scale of the tensor the output DEQUANTIZE
    reads, or of the output itself when it is quantized."""
    from litesmith.backends.tflite import schema_generated as schema

    model = schema.Model.GetRootAs(blob, 0)
    sg = model.Subgraphs(0)
    producer = {}
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        for k in range(op.OutputsLength()):
            producer[op.Outputs(k)] = op
    scales = {}
    for k in range(sg.OutputsLength()):
        t = sg.Outputs(k)
        q = sg.Tensors(t).Quantization()
        if (q is None or q.ScaleLength() == 0) and t in producer and producer[t].InputsLength():
            q = sg.Tensors(producer[t].Inputs(0)).Quantization()
        scales[sg.Tensors(t).Name().decode()] = float(q.Scale(0)) if q is not None and q.ScaleLength() else 1.0
    return scales


def _thread(step_fn, names, steps: Steps, pairs: Mapping[str, str]) -> List[Dict[str, np.ndarray]]:
    inputs, outputs = names
    results, carried = [], {}
    for feeds in steps:
        feed = {**feeds, **carried}
        out = step_fn([np.asarray(feed[n]) for n in inputs])
        got = dict(zip(outputs, out))
        results.append(got)
        carried = {i: got[o] for i, o in pairs.items()}
    return results


def run_litert(blob: bytes, steps: Steps, pairs: Mapping[str, str] = {}) -> List[Dict[str, np.ndarray]]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(blob), num_threads=1)
    interp.allocate_tensors()
    ins, outs = interp.get_input_details(), interp.get_output_details()
    order = {d["index"]: d for d in ins}
    names = io_names(blob)
    from litesmith.backends.tflite import schema_generated as schema

    sg = schema.Model.GetRootAs(blob, 0).Subgraphs(0)
    in_details = [order[sg.Inputs(k)] for k in range(sg.InputsLength())]
    out_by_index = {d["index"]: d for d in outs}
    out_details = [out_by_index[sg.Outputs(k)] for k in range(sg.OutputsLength())]

    def step(values):
        for d, v in zip(in_details, values):
            interp.set_tensor(d["index"], v.astype(d["dtype"]).reshape(d["shape"]))
        interp.invoke()
        return [interp.get_tensor(d["index"]).copy() for d in out_details]

    return _thread(step, names, steps, pairs)


def run_tflm(blob: bytes, steps: Steps, pairs: Mapping[str, str] = {}) -> List[Dict[str, np.ndarray]]:
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(bytes(blob), arena_size=max(len(blob) * 10, 1 << 22))
    names = io_names(blob)

    def step(values):
        for k, v in enumerate(values):
            d = interp.get_input_details(k)
            interp.set_input(v.astype(d["dtype"]).reshape(d["shape"]), k)
        interp.invoke()
        return [interp.get_output(k).copy() for k in range(len(names[1]))]

    return _thread(step, names, steps, pairs)


# Runs under the system python3 with Debian's pyarmnn: argv MODEL FEEDS.npz PAIRS.json BACKEND OUT.npz
ARMNN_CHILD = r'''
import json, sys, numpy as np, pyarmnn as ann
model, feeds_path, pairs_path, backend, out_path = sys.argv[1:6]
opts = ann.CreationOptions()
opts.m_DynamicBackendsPath = sys.argv[6]
runtime = ann.IRuntime(opts)
parser = ann.ITfLiteParser()
network = parser.CreateNetworkFromBinaryFile(model)
ins = parser.GetSubgraphInputTensorNames(0)
outs = parser.GetSubgraphOutputTensorNames(0)
in_info = [parser.GetNetworkInputBindingInfo(0, n) for n in ins]
out_info = [parser.GetNetworkOutputBindingInfo(0, n) for n in outs]
optimized, messages = ann.Optimize(network, [ann.BackendId(b) for b in backend.split(",")], runtime.GetDeviceSpec(),
                                   ann.OptimizerOptions())
net_id, _ = runtime.LoadNetwork(optimized)
feeds = np.load(feeds_path)
pairs = json.load(open(pairs_path))
steps = 1 + max(int(k.split("/")[0]) for k in feeds.files)
carried, results = {}, {}
for s in range(steps):
    feed = {n: feeds[f"{s}/{n}"] for n in ins if f"{s}/{n}" in feeds.files}
    feed.update(carried)
    data = [np.ascontiguousarray(feed[n]).reshape(-1) for n in ins]
    out_tensors = ann.make_output_tensors(out_info)
    runtime.EnqueueWorkload(net_id, ann.make_input_tensors(in_info, data), out_tensors)
    got = dict(zip(outs, ann.workload_tensors_to_ndarray(out_tensors)))
    for n, v in got.items():
        results[f"{s}/{n}"] = v
    carried = {i: got[o] for i, o in pairs.items()}
np.savez(out_path, **results)
'''


# Runs LiteRT under any python (the aarch64 one under qemu): argv MODEL FEEDS.npz PAIRS.json OUT.npz
LITERT_CHILD = r'''
import json, sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
model, feeds_path, pairs_path, out_path = sys.argv[1:5]
interp = Interpreter(model_path=model, num_threads=1)
interp.allocate_tensors()
ins, outs = interp.get_input_details(), interp.get_output_details()
feeds = np.load(feeds_path)
pairs = json.load(open(pairs_path))
steps = 1 + max(int(k.split("/")[0]) for k in feeds.files)
carried, results = {}, {}
for s in range(steps):
    feed = {d["name"]: feeds[f"{s}/{d['name']}"] for d in ins if f"{s}/{d['name']}" in feeds.files}
    feed.update(carried)
    for d in ins:
        interp.set_tensor(d["index"], np.asarray(feed[d["name"]]).astype(d["dtype"]).reshape(d["shape"]))
    interp.invoke()
    got = {d["name"]: interp.get_tensor(d["index"]).copy() for d in outs}
    for n, v in got.items():
        results[f"{s}/{n}"] = v
    carried = {i: got[o] for i, o in pairs.items()}
np.savez(out_path, **results)
'''


def run_litert_child(blob: bytes, steps: Steps, pairs: Mapping[str, str], command: Sequence[str],
                     env: Optional[Mapping[str, str]] = None, timeout: float = 1800) -> List[Dict[str, np.ndarray]]:
    """LiteRT in a child process run by ``command`` (e.g. qemu-aarch64 ROOT/usr/bin/python3.11)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = _child_files(tmp, blob, steps, pairs, LITERT_CHILD)
        argv = [*command, paths["child.py"], paths["m.tflite"], paths["feeds.npz"], paths["pairs.json"], paths["out.npz"]]
        done = subprocess.run(argv, env=dict(env or os.environ), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError((done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1])
        return _child_results(paths["out.npz"], blob, len(steps))


def _child_files(tmp, blob, steps, pairs, script) -> Dict[str, str]:
    paths = {k: os.path.join(tmp, k) for k in ("m.tflite", "feeds.npz", "pairs.json", "out.npz", "child.py")}
    with open(paths["m.tflite"], "wb") as f:
        f.write(blob)
    np.savez(paths["feeds.npz"], **{f"{s}/{n}": np.asarray(v) for s, feeds in enumerate(steps) for n, v in feeds.items()})
    with open(paths["pairs.json"], "w") as f:
        json.dump(dict(pairs), f)
    with open(paths["child.py"], "w") as f:
        f.write(script)
    return paths


def _child_results(path, blob, n_steps) -> List[Dict[str, np.ndarray]]:
    got = np.load(path)
    names = io_names(blob)[1]
    return [{n: got[f"{s}/{n}"] for n in names} for s in range(n_steps)]


class ArmnnUnavailable(RuntimeError):
    pass


def armnn_root() -> Optional[str]:
    """The folder Debian's Arm NN packages were unpacked into (``ARMNN_ROOT``, else the arm-check cache),
    or None."""
    root = os.environ.get("ARMNN_ROOT") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "litesmith-arm", "root-amd64")
    return root if os.path.isdir(os.path.join(root, "usr/lib/python3/dist-packages/pyarmnn")) else None


def armnn_env(root: str, triplet: str = "x86_64-linux-gnu") -> Dict[str, str]:
    lib = os.path.join(root, "usr/lib", triplet)
    return {**os.environ, "PYTHONPATH": os.path.join(root, "usr/lib/python3/dist-packages"),
            "LD_LIBRARY_PATH": ":".join([lib, os.path.join(lib, "blas"), os.path.join(lib, "lapack")])}


def run_armnn(blob: bytes, steps: Steps, pairs: Mapping[str, str] = {}, backend: str = "CpuRef",
              root: Optional[str] = None, command: Sequence[str] = ("/usr/bin/python3",),
              triplet: str = "x86_64-linux-gnu", env: Optional[Mapping[str, str]] = None,
              timeout: float = 600) -> List[Dict[str, np.ndarray]]:
    """Arm NN 20.08 (``backend``: CpuRef, CpuAcc, or "CpuAcc,CpuRef": layers CpuAcc lacks fall back) in a child process; ArmnnUnavailable with its message
    when the parser or backend refuses the model."""
    root = root or armnn_root()
    if root is None:
        raise ArmnnUnavailable("Arm NN packages not unpacked (make arm-check unpacks them)")
    dtypes = input_dtypes(blob)
    steps = [{n: np.asarray(v).astype(dtypes.get(n, np.asarray(v).dtype)) for n, v in feeds.items()} for feeds in steps]
    with tempfile.TemporaryDirectory() as tmp:
        paths = _child_files(tmp, blob, steps, pairs, ARMNN_CHILD)
        argv = [*command, paths["child.py"], paths["m.tflite"], paths["feeds.npz"], paths["pairs.json"], backend,
                paths["out.npz"], os.path.join(root, "usr/lib", triplet, "armnn22")]
        done = subprocess.run(argv, env=dict(env or armnn_env(root, triplet)), capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.strip().splitlines() if "Skipped" not in ln]
            raise ArmnnUnavailable((lines or [f"exit {done.returncode}"])[-1])
        return _child_results(paths["out.npz"], blob, len(steps))


def max_lsb(a: List[Dict[str, np.ndarray]], b: List[Dict[str, np.ndarray]], lsb: Mapping[str, float]) -> float:
    """The largest difference between two runs, in units of each output's int8 step."""
    worst = 0.0
    for sa, sb in zip(a, b):
        for name, va in sa.items():
            diff = np.abs(va.astype(np.float64).reshape(-1) - sb[name].astype(np.float64).reshape(-1)).max()
            worst = max(worst, float(diff) / lsb.get(name, 1.0))
    return worst


if __name__ == "__main__":  # pragma: no cover - a manual probe
    print(io_names(open(sys.argv[1], "rb").read()))
