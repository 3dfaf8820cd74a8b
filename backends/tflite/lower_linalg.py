"""Lowerings of matrix structure ops (band parts, diagonal matrices).

TFLite has MATRIX_DIAG only for the main diagonal of square matrices. Everything else is a
constant pattern over the last two axes (ir/ops/linalg.py), so a non-constant input with a
static shape becomes SELECT_V2 against a constant mask (band part), or a GATHER through a
constant index matrix then SELECT_V2 (diagonals). All-constant inputs never get here:
fold-constants has folded them (tf.eye, Keras' causal masks).
"""
from __future__ import annotations

import numpy as np

from litesmith.ir.ops.linalg import band_mask, diag_gather_indices, diag_geometry

from .legalize import UNSUPPORTED_ATTR
from .lower import lowers


def _scalar_int(lw, v, what) -> int:
    return int(np.asarray(lw.need_const(v, what)).reshape(-1)[0])


@lowers("core.matrix_band_part")
def lower_matrix_band_part(node, lw):
    x, lower, upper = node.inputs
    rows, cols = x.shape[-2:]
    mask = band_mask(rows, cols, _scalar_int(lw, lower, "num_lower"), _scalar_int(lw, upper, "num_upper"))
    if mask.all():
        return [x]
    zero = lw.const(np.zeros((), x.dtype.np))
    return [lw.op("tfl.select_v2", [lw.const(mask), x, zero])]


@lowers("core.matrix_diag")
def lower_matrix_diag(node, lw):
    diag, k, num_rows, num_cols, padding = node.inputs
    ks = [int(v) for v in np.asarray(lw.need_const(k, "k")).reshape(-1)]
    try:
        lo, hi, rows, cols, band = diag_geometry(tuple(diag.shape), ks, _scalar_int(lw, num_rows, "num_rows"),
                                                 _scalar_int(lw, num_cols, "num_cols"))
    except ValueError as e:
        lw.fail(UNSUPPORTED_ATTR, str(e))
    max_len = diag.shape[-1]
    pad = padding.const_value()
    if not band and lo == 0 and rows == cols == max_len and pad is not None and not np.asarray(pad).any():
        return [lw.op("tfl.matrix_diag", [diag])]
    lead = list(diag.shape[:-2] if band else diag.shape[:-1])
    flat = lw.reshape(diag, lead + [diag.shape[-2] * max_len]) if band else diag
    index, mask = diag_gather_indices(lo, hi, rows, cols, max_len, node.attrs.get("align", "RIGHT_LEFT"))
    out_type = node.output.type
    gathered = lw.op("tfl.gather", [flat, lw.i32(index)], {"axis": len(lead), "batch_dims": 0}, [out_type])
    if mask.all():
        return [gathered]
    cond = lw.const(mask)
    return [lw.op("tfl.select_v2", [cond, gathered, padding], {}, [out_type])]
