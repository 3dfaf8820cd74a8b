"""Matrix structure ops: band parts (tril/triu masks) and diagonal matrices (tf.eye).

Both act on the last two axes and depend only on positions, never on values, so each is
described by a constant index pattern over ``[rows, cols]``: ``band_mask`` and
``diag_gather_indices`` below. The kernels use them, and so does the TFLite lowering,
which turns a non-constant input into a GATHER / SELECT_V2 against those constants.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from ..registry import Attr, defop
from ..types import TensorType
from ._common import const_ints

__all__ = ["band_mask", "diag_geometry", "diag_gather_indices", "DIAG_ALIGNS"]


# -- band part ------------------------------------------------------------------


def band_mask(rows: int, cols: int, num_lower: int, num_upper: int) -> np.ndarray:
    """bool [rows, cols]: entry (m, n) is kept when ``m - n <= num_lower`` and ``n - m <= num_upper``
    (a negative bound keeps that whole triangle), as TF MatrixBandPart."""
    m = np.arange(rows)[:, None]
    n = np.arange(cols)[None, :]
    keep = np.ones((rows, cols), bool)
    if num_lower >= 0:
        keep &= m - n <= num_lower
    if num_upper >= 0:
        keep &= n - m <= num_upper
    return keep


def _band_part(x, num_lower, num_upper):
    x = np.asarray(x)
    mask = band_mask(x.shape[-2], x.shape[-1], int(np.asarray(num_lower)), int(np.asarray(num_upper)))
    return np.where(mask, x, np.zeros((), x.dtype))


def _infer_band_part(ctx):
    x = ctx.types[0]
    if x.shape is not None and len(x.shape) < 2:
        ctx.fail(f"expects a matrix or a batch of them, got rank {len(x.shape)}")
    for i, what in ((1, "num_lower"), (2, "num_upper")):
        t = ctx.types[i]
        if t.shape is not None and len(t.shape) != 0:
            ctx.fail(f"{what} must be a scalar, got rank {len(t.shape)}")
        if not t.dtype.is_int:
            ctx.fail(f"{what} must be an integer, got {t.dtype}")
        bound, size = const_ints(ctx, i), None if x.shape is None or len(x.shape) < 2 else x.shape[i - 3]
        if bound is not None and size is not None and bound[0] > size:
            ctx.fail(f"{what} = {bound[0]} exceeds the number of {'rows' if i == 1 else 'columns'} ({size})")
    return [x]


defop(
    "core.matrix_band_part",
    doc="""Zero everything outside a band of the last two axes (TF MatrixBandPart):
    keeps ``x[..., m, n]`` where ``m - n <= num_lower`` and ``n - m <= num_upper``; a negative
    bound keeps that whole triangle (``(-1, 0)`` is tril, ``(0, -1)`` triu).""",
    operands=["x", "num_lower", "num_upper"],
    infer=_infer_band_part,
    kernel=_band_part,
    category="linear algebra",
)


# -- diagonal matrices ----------------------------------------------------------

DIAG_ALIGNS = ("RIGHT_LEFT", "LEFT_RIGHT", "LEFT_LEFT", "RIGHT_RIGHT")


def diag_geometry(diag_shape: Tuple[int, ...], k: List[int], num_rows: int, num_cols: int) -> Tuple[int, int, int, int, bool]:
    """(k_lo, k_hi, rows, cols, band) of TF MatrixDiagV3 from the diagonal's shape and the
    constant operands; ``band`` when the diagonal has a diagonals axis (k_lo < k_hi).
    Raises ValueError naming the rule that fails."""
    if len(k) not in (1, 2):
        raise ValueError(f"k must have 1 or 2 entries, got {len(k)}")
    lo, hi = k[0], k[-1]
    if lo > hi:
        raise ValueError(f"k[0] = {lo} must not exceed k[1] = {hi}")
    band = lo < hi
    need = 2 if band else 1
    if len(diag_shape) < need:
        raise ValueError(f"the diagonal needs rank >= {need}, got {len(diag_shape)}")
    if band and diag_shape[-2] != hi - lo + 1:
        raise ValueError(f"the diagonal holds {diag_shape[-2]} diagonals, k = [{lo}, {hi}] needs {hi - lo + 1}")
    max_len = diag_shape[-1]
    min_rows, min_cols = max_len - min(hi, 0), max_len + max(lo, 0)
    if num_rows == -1 and num_cols == -1:
        num_rows = num_cols = max(min_rows, min_cols)
    elif num_rows == -1:
        num_rows = min_rows
    elif num_cols == -1:
        num_cols = min_cols
    if num_rows < min_rows or num_cols < min_cols or (num_rows != min_rows and num_cols != min_cols):
        raise ValueError(f"a {num_rows}x{num_cols} matrix does not fit diagonals {lo}..{hi} of length {max_len}")
    return lo, hi, num_rows, num_cols, band


def diag_gather_indices(lo: int, hi: int, rows: int, cols: int, max_len: int, align: str) -> Tuple[np.ndarray, np.ndarray]:
    """(index int32 [rows, cols], on-diagonal mask bool [rows, cols]): output entry (m, n) is entry
    ``index`` of the diagonals flattened to ``[num_diags * max_len]`` where ``mask`` holds, else padding.
    TF's rule: d = n - m, diagonal row ``hi - d``, position ``min(m, n)`` plus ``max_len - len(d)``
    when that diagonal is aligned right (``align``: superdiagonals first, then subdiagonals)."""
    m = np.arange(rows)[:, None]
    n = np.arange(cols)[None, :]
    d = n - m
    mask = (d >= lo) & (d <= hi)
    length = np.minimum(rows + np.minimum(0, d), cols - np.maximum(0, d))
    sup, sub = align.split("_")
    right = ((d >= 0) & (sup == "RIGHT")) | ((d <= 0) & (sub == "RIGHT"))
    pos = np.minimum(m, n) + np.where(right, max_len - length, 0)
    index = np.where(mask, (hi - d) * max_len + pos, 0)
    return index.astype(np.int32), mask


def _matrix_diag(diagonal, k, num_rows, num_cols, padding_value, align="RIGHT_LEFT"):
    diagonal = np.asarray(diagonal)
    ks = [int(v) for v in np.asarray(k).reshape(-1)]
    lo, hi, rows, cols, band = diag_geometry(diagonal.shape, ks, int(np.asarray(num_rows)), int(np.asarray(num_cols)))
    max_len = diagonal.shape[-1]
    lead = diagonal.shape[:-2] if band else diagonal.shape[:-1]
    flat = diagonal.reshape(lead + (-1,))
    index, mask = diag_gather_indices(lo, hi, rows, cols, max_len, align)
    return np.where(mask, np.take(flat, index, axis=-1), np.asarray(padding_value, diagonal.dtype))


def _infer_matrix_diag(ctx):
    diag = ctx.types[0]
    if ctx.attrs["align"] not in DIAG_ALIGNS:
        ctx.fail(f"align must be one of {', '.join(DIAG_ALIGNS)}, got {ctx.attrs['align']!r}")
    k, rows, cols = const_ints(ctx, 1), const_ints(ctx, 2), const_ints(ctx, 3)
    if k is None or rows is None or cols is None or diag.shape is None:
        return [TensorType(diag.dtype, None)]
    if len(rows) != 1 or len(cols) != 1:
        ctx.fail("num_rows and num_cols must be scalars")
    band = len(k) == 2 and k[0] < k[1]
    lead = diag.shape[:-2] if band else diag.shape[:-1]
    if any(d is None for d in diag.shape[-2 if band else -1:]):
        return [TensorType(diag.dtype, tuple(lead) + (None, None))]
    try:
        _, _, r, c, _ = diag_geometry(tuple(diag.shape), k, rows[0], cols[0])
    except ValueError as e:
        ctx.fail(str(e))
    return [TensorType(diag.dtype, tuple(lead) + (r, c))]


defop(
    "core.matrix_diag",
    doc="""A batch of matrices with the given diagonals and ``padding_value`` elsewhere (TF
    MatrixDiagV3; ``tf.eye`` is one). ``k`` is one diagonal offset (0 main, > 0 above) or a range
    ``[lo, hi]``, in which case ``diagonal`` has a diagonals axis, highest first. ``num_rows`` /
    ``num_cols`` of -1 are inferred. ``align`` says how diagonals shorter than the longest sit
    in theirs (superdiagonals first): ``RIGHT_LEFT`` is TF's default.""",
    operands=["diagonal", "k", "num_rows", "num_cols", "padding_value"],
    attrs={"align": Attr("str", "RIGHT_LEFT", "RIGHT_LEFT, LEFT_RIGHT, LEFT_LEFT or RIGHT_RIGHT")},
    infer=_infer_matrix_diag,
    kernel=_matrix_diag,
    category="linear algebra",
)
