"""Describe a model: op histogram, inputs/outputs, loops, foreign ops, constant bytes.

example:
  litesmith inspect model.pb
  litesmith inspect model.pb --json
  litesmith inspect model.pb --input-shape input:1x28x28x3 --outputs logits --ir
  litesmith inspect model.pb --check          # what TFLite lacks, with reasons and fixes
  litesmith inspect model.tflite --check --target tflm    # TFLite Micro: findings, arena, AddXxx() calls
  litesmith inspect model.tflite --dot | dot -Tsvg > model.svg
  litesmith inspect saved_model_dir/          # its signatures (no TensorFlow needed)
  litesmith inspect saved_model_dir/ --signature serving_default   # one signature's graph (the tf extra)
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any, Dict

from litesmith.backends.tflite.targets import TARGET_NAMES

from .options import add_io_arguments, load_model


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL",
                   help="a .pb, .pbtxt, .onnx, .tflite, .ir, .keras or .h5 model or a SavedModel directory")
    p.add_argument("--json", action="store_true", help="print a JSON summary (stable keys) instead of text")
    p.add_argument("--ir", action="store_true", help="print the IR text of the lifted graph")
    p.add_argument("--dot", action="store_true", help="print the graph in Graphviz dot form")
    p.add_argument("--check", action="store_true",
                   help="list every node TFLite cannot take as a builtin, with a reason code and a fix "
                        "(exit 1 if any); with --json: the op-coverage report")
    p.add_argument("--target", choices=TARGET_NAMES,
                   help="with --check: judge the model as written for this engine (litert, tflm or armnn; a "
                        "non-.tflite model is compiled in memory, unquantized); for tflm also the arena TFLM "
                        "measures and the op resolver calls")
    add_io_arguments(p)


def summarize(graph) -> Dict[str, Any]:
    """The machine-readable summary (the ``--json`` output)."""
    import numpy as np

    from litesmith.ir.state import encode_state, graph_state
    from litesmith.ir.types import ElidedTensor

    ops: Counter = Counter()
    foreign: Counter = Counter()
    loops = []
    const_bytes = 0
    nodes = 0
    for node in graph.walk():
        nodes += 1
        ops[node.op] += 1
        if node.op.split(".", 1)[0] not in ("core", "tfl"):
            foreign[node.op] += 1
        if node.op == "core.const":
            v = node.attrs.get("value")
            if isinstance(v, np.ndarray):
                const_bytes += int(v.nbytes)
            elif isinstance(v, ElidedTensor) and v.type.shape is not None:
                const_bytes += int(np.prod(v.type.shape or (1,))) * v.type.dtype.itemsize
        if node.op in ("core.while", "core.if"):
            args = node.inputs[1:] if node.op == "core.if" else node.inputs
            loops.append({"kind": node.op.split(".")[1], "name": node.name,
                          "carried": [_value(v) for v in args],
                          "results": [_value(v) for v in node.outputs]})
    return {
        "inputs": [_value(v) for v in graph.inputs],
        "outputs": [_value(v) for v in graph.outputs],
        "ops": dict(sorted(ops.items())),
        "loops": loops,
        "foreign_ops": dict(sorted(foreign.items())),
        "constant_bytes": const_bytes,
        "nodes": nodes,
        "state": json.loads(encode_state(graph_state(graph))),
    }


def _value(v) -> Dict[str, Any]:
    t = v.type
    if t.is_list:
        return {"name": v.name, "dtype": "list", "shape": [], "element": _type(t.element)}
    return {"name": v.name, **_type(t)}


def _type(t) -> Dict[str, Any]:
    return {"dtype": str(t.dtype), "shape": None if t.shape is None else list(t.shape)}


def _shape_text(d: Dict[str, Any]) -> str:
    if d["dtype"] == "list":
        return f"list<{_shape_text(d['element'])}>"
    shape = d["shape"]
    dims = "*" if shape is None else ",".join("?" if x is None else str(x) for x in shape)
    return f"{d['dtype']}[{dims}]"


def render(summary: Dict[str, Any]) -> str:
    lines = [f"nodes: {summary['nodes']}   constants: {summary['constant_bytes']} bytes"]
    for key in ("inputs", "outputs"):
        lines.append(f"{key}:")
        lines += [f"  {v['name']}: {_shape_text(v)}" for v in summary[key]] or ["  (none)"]
    lines.append("ops:")
    width = max((len(op) for op in summary["ops"]), default=0)
    lines += [f"  {op:<{width}}  {n}" for op, n in sorted(summary["ops"].items(), key=lambda kv: (-kv[1], kv[0]))]
    lines.append(f"loops and branches: {len(summary['loops'])}")
    for loop in summary["loops"]:
        carried = ", ".join(f"{v['name']}: {_shape_text(v)}" for v in loop["carried"])
        lines.append(f"  {loop['kind']} {loop['name']}: carries {len(loop['carried'])} ({carried})")
    for pair in summary["state"]:
        lines.append(f"state: {pair['input']} -> {pair['output']} {pair.get('shape')}")
    foreign = summary["foreign_ops"]
    lines.append("foreign ops: " + (", ".join(f"{op} x{n}" for op, n in foreign.items()) if foreign else "none"))
    return "\n".join(lines) + "\n"


def render_signatures(sigs) -> str:
    lines = []
    for sig in sigs:
        lines.append(f"signature {sig.name}:")
        for key in ("inputs", "outputs"):
            tensors = getattr(sig, key)
            lines.append(f"  {key}:")
            lines += [f"    {t.key}: {_shape_text({'dtype': t.dtype, 'shape': t.shape})}" for t in tensors] or ["    (none)"]
    return "\n".join(lines or ["no signatures"]) + "\n"


def _lists_signatures(args) -> bool:
    """A SavedModel with nothing asking for a graph: list its signatures (no TensorFlow needed)."""
    import os

    return (os.path.isfile(os.path.join(args.model, "saved_model.pb")) and not args.signature and not args.ir
            and not args.dot and not args.check and not args.custom_shape)


def run(args) -> int:
    if _lists_signatures(args):
        from dataclasses import asdict

        from litesmith.frontends.tf.saved_model import read_signatures

        sigs = read_signatures(args.model)
        sys.stdout.write(json.dumps({"signatures": [asdict(s) for s in sigs]}, indent=2) + "\n" if args.json
                         else render_signatures(sigs))
        return 0
    if args.target:
        return _check_target(args)
    graph = load_model(args)
    if args.ir:
        from litesmith.ir.text import print_ir

        sys.stdout.write(print_ir(graph))
        return 0
    if args.dot:
        from litesmith.ir.dot import to_dot

        sys.stdout.write(to_dot(graph))
        return 0
    if args.check:
        from litesmith.backends.tflite.legality_check import check_graph, format_findings, op_coverage

        findings = check_graph(graph)
        out = json.dumps(op_coverage(graph, findings), indent=2) + "\n" if args.json else format_findings(findings)
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
        return 1 if findings else 0
    summary = summarize(graph)
    sys.stdout.write(json.dumps(summary, indent=2) + "\n" if args.json else render(summary))
    return 0


def _check_target(args) -> int:
    """``--check --target X``: the written model's findings for X (exit 1 if any), as text or JSON."""
    from litesmith.backends.tflite.target_check import check_target, format_target_findings, ops_used, tflm_resolver_calls
    from litesmith.backends.tflite.tflm_arena import measure_arena
    from litesmith.ir.errors import UserError

    if not args.check:
        raise UserError("--target goes with --check (inspect MODEL --check --target tflm)")
    blob = _written_model(args)
    findings = check_target(blob, args.target)
    result: Dict[str, Any] = {"target": args.target, "ok": not findings, "ops": ops_used(blob),
                              "findings": [f.to_dict() for f in findings]}
    if args.target == "tflm" and not findings:
        result["op_resolver"] = tflm_resolver_calls(blob)
        result.update(measure_arena(blob) or {"arena_bytes": None, "note": "pip install --pre tflite-micro to measure it"})
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        lines = [format_target_findings(args.target, findings)]
        if "op_resolver" in result:
            lines.append(f"tflm arena: {result['arena_bytes'] if result['arena_bytes'] is not None else 'not measured'} bytes"
                         + (f" ({result['note']})" if result.get("note") else ""))
            lines.append(f"tflm op resolver (MicroMutableOpResolver<{len(result['op_resolver'])}>): "
                         + " ".join(result["op_resolver"]))
        sys.stdout.write("\n".join(lines) + "\n")
    return 1 if findings else 0


def _written_model(args) -> bytes:
    """The flatbuffer bytes of MODEL: a .tflite as it is, anything else compiled in memory (no quantization)."""
    from litesmith.ir.errors import UserError

    if str(args.model).endswith(".tflite") and not (args.inputs or args.outputs or args.input_shape):
        try:
            with open(args.model, "rb") as f:
                return f.read()
        except OSError as e:
            raise UserError(f"{args.model}: cannot read: {e.strerror}") from None
    from litesmith.backends.tflite.compile import compile_to_tflite

    return bytes(compile_to_tflite(load_model(args), progress=False))
