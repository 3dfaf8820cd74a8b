"""Execute a model with the reference interpreter (or LiteRT) on inputs from an .npz file.

The .npz keys are the graph's input names; the outputs are written under
the graph's output names. ``--runtime litert`` runs a .tflite file in the stock
LiteRT interpreter instead (needs the ai-edge-litert package), so the two can be
compared on the same inputs.

example:
  litesmith run model.ir --inputs in.npz -o out.npz
  litesmith run model.pb --inputs in.npz          # prints a summary of each output
  litesmith run model.tflite --inputs in.npz --runtime litert -o litert.npz
"""
from __future__ import annotations

import sys
import zipfile
from typing import Dict

import numpy as np

from litesmith.ir.errors import UserError


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL", help="a .ir, .pb, .pbtxt or .tflite model")
    p.add_argument("--inputs", metavar="IN.npz", help="input arrays keyed by input name (omit if there are no inputs)")
    p.add_argument("-o", "--output", metavar="OUT.npz", help="write outputs here (default: print a summary)")
    p.add_argument("--runtime", choices=("reference", "litert"), default="reference",
                   help="reference: litesmith's numpy interpreter (any model); litert: the LiteRT "
                        "interpreter (.tflite only, needs ai-edge-litert)")


def run(args) -> int:
    from litesmith.api import load
    from litesmith.ir.fileio import npz_bytes, write_atomic
    from litesmith.ir.interpreter import InterpreterError, run as run_graph

    if args.runtime == "litert" and not str(args.model).endswith(".tflite"):
        raise UserError(f"{args.model}: --runtime litert runs .tflite files; convert it first "
                        f"(litesmith convert {args.model} -o model.tflite)")
    graph = load(args.model)
    feeds = check_feeds(graph, _read_npz(args.inputs) if args.inputs else {}, args.inputs or "(no --inputs)")
    if args.runtime == "litert":
        from litesmith.cli.litert_runner import run_litert

        outputs = run_litert(args.model, feeds)
    else:
        try:
            outputs = run_graph(graph, feeds)
        except InterpreterError as e:
            raise UserError(f"{args.model}: cannot run: {e}") from None
    if args.output:
        write_atomic(args.output, npz_bytes(outputs))
    else:
        for name, value in outputs.items():
            arr = np.asarray(value)
            sys.stdout.write(f"{name}: {arr.dtype}{list(arr.shape)} {np.array2string(arr, threshold=8, edgeitems=2)}\n")
    return 0


def _read_npz(path: str) -> Dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise UserError(f"{path}: not a readable .npz file ({e})") from None


def check_feeds(graph, feeds: Dict[str, np.ndarray], source: str) -> Dict[str, np.ndarray]:
    """Feeds matched to the graph's inputs by name, checked for rank, static dims and dtype."""
    names = [v.name for v in graph.inputs]
    missing = [n for n in names if n not in feeds]
    if missing:
        raise UserError(f"{source}: missing input(s) {', '.join(missing)} (the graph's inputs: {', '.join(names)})")
    extra = sorted(set(feeds) - set(names))
    if extra:
        raise UserError(f"{source}: unknown input(s) {', '.join(extra)} (the graph's inputs: {', '.join(names) or 'none'})")
    out = {}
    for v in graph.inputs:
        x = np.asarray(feeds[v.name])
        shape = v.shape
        if shape is not None and (x.ndim != len(shape) or any(d is not None and d != s for d, s in zip(shape, x.shape))):
            want = "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"
            raise UserError(f"{source}: input {v.name!r} has shape {list(x.shape)}, the graph wants {want}")
        want_dt = v.dtype.np
        if x.dtype != want_dt:
            if not np.can_cast(x.dtype, want_dt, casting="same_kind"):
                raise UserError(f"{source}: input {v.name!r} has dtype {x.dtype}, the graph wants {v.dtype}")
            x = x.astype(want_dt)
        out[v.name] = x
    return out
