"""Host-split models: compile a split plan to TFLite files + a JSON manifest, and run one.

The manifest (``manifest.json``, format ``litesmith-host-split`` v1) lists
the graph inputs and outputs and the steps in order; each step names the
tensors it reads and writes::

    {"kind": "tflite", "model": "segment0.tflite", "inputs": [...], "outputs": [...]}
    {"kind": "host", "op": "CTCBeamSearchDecoder", "node": "...", "attrs": {...}, "inputs": [...], "outputs": [...]}

Model inputs/outputs are in the listed order. ``run_manifest`` executes the
steps with LiteRT and numpy host callbacks (built in for the CTC decoders,
see host_ops.py); any app can do the same.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np

from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError

from .host_ops import DEFAULT_HOST_OPS
from .host_plan import HostStep

__all__ = ["MANIFEST_NAME", "write_host_split", "run_manifest"]

MANIFEST_NAME = "manifest.json"
FORMAT = "litesmith-host-split"


def _type_json(v) -> dict:
    shape = None if v.shape is None else [-1 if d is None else d for d in v.shape]
    return {"dtype": str(v.dtype), "shape": shape}


def write_host_split(plan, out_dir: str) -> str:
    """Compile each device step of ``plan`` to ``segment<N>.tflite`` in ``out_dir``; write the manifest; return its path."""
    from .compile import compile_to_tflite
    from .stubs import attrs_to_flex

    os.makedirs(out_dir, exist_ok=True)
    steps = []
    for i, step in enumerate(plan.steps):
        if isinstance(step, HostStep):
            steps.append({"kind": "host", "op": step.op, "node": step.node, "attrs": _json_attrs(attrs_to_flex(step.attrs)),
                          "inputs": step.inputs, "outputs": step.outputs})
            continue
        name = f"segment{i}.tflite"
        blob = compile_to_tflite(step.graph)
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(blob)
        steps.append({"kind": "tflite", "model": name, "inputs": step.inputs, "outputs": step.outputs})
    manifest = {
        "format": FORMAT, "version": 1,
        "inputs": [{"name": n, **_type_json(v)} for n, v in plan.inputs.items()],
        "outputs": [{"name": n, "tensor": t} for n, t in plan.outputs.items()],
        "constants": {k: {"dtype": str(DType.from_numpy(v.dtype)), "shape": list(v.shape), "data": v.reshape(-1).tolist()} for k, v in plan.constants.items()},
        "steps": steps,
    }
    path = os.path.join(out_dir, MANIFEST_NAME)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    return path


def _json_attrs(attrs: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (v.decode("latin-1") if isinstance(v, (bytes, bytearray)) else v) for k, v in attrs.items()}


HostFn = Callable[..., Any]


def run_manifest(manifest_path: str, feeds: Mapping[str, Any], host_ops: Optional[Mapping[str, HostFn]] = None) -> Dict[str, np.ndarray]:
    """Run a host-split model: TFLite steps in LiteRT, host steps through ``host_ops``.

    ``host_ops`` maps an op name (``CTCBeamSearchDecoder``) or a node name to
    ``fn(*inputs, **attrs)`` returning the step's outputs (a sequence, or one
    array for a single output). ``CTCGreedyDecoder`` and
    ``CTCBeamSearchDecoder`` default to the numpy decoders of host_ops.py, so
    those models need no callback and no TensorFlow; an entry here overrides
    them. Returns the graph outputs by name.
    """
    from ai_edge_litert.interpreter import Interpreter

    host_ops = dict(host_ops or {})
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise UserError(f"{manifest_path}: not a litesmith host-split manifest")
    base = os.path.dirname(os.path.abspath(manifest_path))
    env: Dict[str, np.ndarray] = {}
    for spec in manifest["inputs"]:
        if spec["name"] not in feeds:
            raise UserError(f"{manifest_path}: missing input {spec['name']!r}")
        env[spec["name"]] = np.asarray(feeds[spec["name"]], dtype=_np_dtype(spec["dtype"]))
    for name, c in manifest.get("constants", {}).items():
        env[name] = np.asarray(c["data"], dtype=_np_dtype(c["dtype"])).reshape(c["shape"])
    for step in manifest["steps"]:
        args = [env[t] for t in step["inputs"]]
        if step["kind"] == "tflite":
            outs = _run_tflite(Interpreter, os.path.join(base, step["model"]), args)
        else:
            fn = host_ops.get(step["node"]) or host_ops.get(step["op"]) or DEFAULT_HOST_OPS.get(step["op"])
            if fn is None:
                raise UserError(f"{manifest_path}: no host callback for {step['op']} (node {step['node']!r}); "
                                f"pass host_ops={{{step['op']!r}: fn}}")
            result = fn(*args, **step["attrs"])
            outs = [result] if len(step["outputs"]) == 1 and not isinstance(result, (list, tuple)) else list(result)
        if len(outs) != len(step["outputs"]):
            raise UserError(f"{manifest_path}: step {step.get('model') or step['op']} gave {len(outs)} outputs, "
                            f"expected {len(step['outputs'])}")
        env.update({t: np.asarray(o) for t, o in zip(step["outputs"], outs)})
    return {o["name"]: env[o["tensor"]] for o in manifest["outputs"]}


def _run_tflite(interpreter_cls, path: str, args):
    it = interpreter_cls(model_path=path)
    details = it.get_input_details()
    for d, a in zip(details, args):
        if tuple(d["shape"]) != a.shape:
            it.resize_tensor_input(d["index"], a.shape)
    it.allocate_tensors()
    for d, a in zip(details, args):
        it.set_tensor(d["index"], np.asarray(a, dtype=d["dtype"]))
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def _np_dtype(text: str):
    from litesmith.ir.dtypes import DType

    return DType.parse(text).np
