"""IR text form: print, parse, save and load graphs.

In the spirit of MLIR's generic syntax, so tests can be written as IR text in,
IR text out, and ``print_ir(parse_ir(print_ir(g))) == print_ir(g)`` always:

    graph @main(%x: f32[8,16], %"ids:0": i32[8,?]) {
      %w = core.const() {value = dense<f32[2,2]> [[1.0, 2.0], [3.0, 4.0]]} : f32[2,2]
      %y = core.matmul(%x, %w) {transpose_a = false, transpose_b = false} : f32[8,2] loc("dense/MatMul")
      %a, %b = core.split(%x) {axis = 1, sizes = [8, 8]} : f32[8,8], f32[8,8]
      %r = core.while(%i) {max_iterations = 0} (
        ^cond(%i0: i32[]) {
          ...
          return %p
        },
        ^body(%i1: i32[]) {
          ...
          return %i2
        }) : i32[]
      return %y, %a
    }

Value names are kept (quoted when they are not plain identifiers) and made
unique per graph; each region is its own namespace because regions are
isolated from above. Types: ``f32[8,?,16]``, scalar ``f32[]``, unknown rank
``f32[*]``, tensor list ``list<f32[8,16]>``, quantized
``i8[1,16] q(scale=0.5, zp=-3)``. Attribute values: ``none``, ``true``,
``1``, ``1.5``, ``inf``, ``nan``, ``"str"``, ``b"bytes"``, ``[list]``, a dtype
(``f32``), ``shape<8,?>`` / ``shape<*>``, ``type<f32[2]>``, ``{dict}``,
tensors ``dense<f32[2]> [1.0, 2.0]`` (a scalar literal on a larger shape is a
splat), ``elided<f32[64,64]>`` (data left out) and ``ref<f32[64,64]> "key"``
(data in a side table, e.g. the ``.npz`` written by ``save_ir``). ``//``
starts a comment.
"""
from __future__ import annotations

import os
from typing import Dict

import numpy as np

from .errors import UserError, VerifyError
from .fileio import write_atomic, write_npz
from .graph import Graph
from .text_parse import parse_ir
from .text_print import format_type, print_ir

__all__ = ["print_ir", "parse_ir", "save_ir", "load_ir", "format_type"]

# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def save_ir(graph: Graph, path) -> None:
    """Write the text form to ``path``; large constants go to ``path + ".npz"``."""
    path = os.fspath(path)
    consts: Dict[str, np.ndarray] = {}
    text = print_ir(graph, constants_out=consts)
    side = path + ".npz"
    try:
        if consts:
            write_atomic(side, lambda f: write_npz(f, consts))
        elif os.path.exists(side):
            os.unlink(side)  # a stale side file from an earlier save
        write_atomic(path, text.encode("utf-8"))
    except OSError as e:
        raise UserError(f"cannot write IR file {path}: {e.strerror or e}") from None


def load_ir(path) -> Graph:
    """Read IR text from ``path`` (and its ``.npz`` side file, if present)."""
    path = os.fspath(path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read IR file {path}: {getattr(e, 'strerror', None) or e}") from None
    constants = None
    side = path + ".npz"
    if os.path.exists(side):
        try:
            with np.load(side, allow_pickle=False) as z:
                constants = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read constants file {side}: {e}") from None
    graph = parse_ir(text, filename=path, constants=constants)
    from .verify import verify  # (verify imports this module)

    try:  # passes assume a valid graph: a file that parses but breaks an IR rule stops here
        verify(graph)
    except VerifyError as e:
        raise VerifyError(f"{path}: {e}") from None
    return graph
