"""Reductions, arg-max/min, top-k and cumulative sums/products.

Axes are attributes (negative counts from the end). Integer ``reduce_mean``
truncates toward zero like TF; ``top_k`` breaks ties by the lower index.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..registry import Attr, defop
from ..types import TensorType
from ._common import const_scalar, norm_axis, np_dtype, require_numeric, same_type_along_axis


def _infer_reduce(ctx):
    x = ctx.types[0]
    dtype = DType.BOOL if ctx.op in ("core.reduce_any", "core.reduce_all") else x.dtype
    if dtype is DType.BOOL and x.dtype is not DType.BOOL:
        ctx.fail(f"expects a bool operand, got {x.dtype}")
    if ctx.op in ("core.reduce_sum", "core.reduce_prod", "core.reduce_mean"):
        require_numeric(ctx, x.dtype)  # as in TF; LiteRT has no bool kernel (a difftest finding)
    if x.shape is None:
        return [TensorType(dtype, None)]
    axes = {norm_axis(ctx, a, len(x.shape), "axes entry") for a in ctx.attrs["axes"]}
    if ctx.attrs["keepdims"]:
        return [TensorType(dtype, [1 if i in axes else d for i, d in enumerate(x.shape)])]
    return [TensorType(dtype, [d for i, d in enumerate(x.shape) if i not in axes])]


def _mean(x, axis, keepdims):
    if np.asarray(x).dtype.kind not in "iu":
        return np.mean(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
    total = np.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
    count = np.asarray(max(int(np.prod([x.shape[a] for a in axis])), 1), x.dtype)
    q = np.abs(total) // count
    return np.where(total < 0, -q, q)


def _sum(x, axis, keepdims):
    return np.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


def _prod(x, axis, keepdims):
    return np.prod(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


def _reduction(name, fn, doc):
    def kernel(x, axes, keepdims=False):
        axis = tuple(sorted({a + x.ndim if a < 0 else a for a in axes}))
        with np.errstate(all="ignore"):
            return fn(x, axis, keepdims)

    defop(
        f"core.{name}",
        doc=doc,
        operands=["x"],
        attrs={"axes": Attr("ints", doc="dims to reduce; [] reduces none"), "keepdims": Attr("bool", False, "keep reduced dims as size 1")},
        infer=_infer_reduce,
        kernel=kernel,
        category="reduce",
        batch_axis="reduce_axes",
    )


_reduction("reduce_sum", _sum, "Sum over `axes`.")
_reduction("reduce_mean", _mean, "Mean over `axes` (integers: truncated toward zero, like TF).")
_reduction("reduce_max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims) if x.size else np.full(_reduced_shape(x, axis, keepdims), _lowest(x.dtype)), "Max over `axes` (empty: the dtype's lowest value).")
_reduction("reduce_min", lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims) if x.size else np.full(_reduced_shape(x, axis, keepdims), _highest(x.dtype)), "Min over `axes` (empty: the dtype's highest value).")
_reduction("reduce_prod", _prod, "Product over `axes`.")
_reduction("reduce_any", lambda x, axis, keepdims: np.any(x, axis=axis, keepdims=keepdims), "Logical or over `axes` (bool).")
_reduction("reduce_all", lambda x, axis, keepdims: np.all(x, axis=axis, keepdims=keepdims), "Logical and over `axes` (bool).")


def _reduced_shape(x, axis, keepdims):
    return tuple(1 if i in axis else d for i, d in enumerate(x.shape) if keepdims or i not in axis)


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _highest(dtype):
    return np.inf if dtype.kind == "f" else np.iinfo(dtype).max


# -- argmax / argmin ---------------------------------------------------------------


def _infer_arg(ctx):
    x = ctx.types[0]
    out = ctx.attrs["output_type"]
    if out not in (DType.INT32, DType.INT64):
        ctx.fail(f"output_type must be i32 or i64, got {out}")
    if x.shape is None:
        return [TensorType(out, None)]
    axis = norm_axis(ctx, ctx.attrs["axis"], len(x.shape))
    return [TensorType(out, x.shape[:axis] + x.shape[axis + 1 :])]


_ARG_ATTRS = {"axis": Attr("int"), "output_type": Attr("dtype", DType.INT64, "i32 or i64")}

defop(
    "core.argmax",
    batch_axis="index_along_axis",
    doc="Index of the largest value along `axis` (the first one on ties).",
    operands=["x"],
    attrs=dict(_ARG_ATTRS),
    infer=_infer_arg,
    kernel=lambda x, axis, output_type=DType.INT64: np.argmax(x, axis=axis).astype(np_dtype(output_type)),
    category="reduce",
)

defop(
    "core.argmin",
    batch_axis="index_along_axis",
    doc="Index of the smallest value along `axis` (the first one on ties).",
    operands=["x"],
    attrs=dict(_ARG_ATTRS),
    infer=_infer_arg,
    kernel=lambda x, axis, output_type=DType.INT64: np.argmin(x, axis=axis).astype(np_dtype(output_type)),
    category="reduce",
)

# -- top_k ------------------------------------------------------------------------


def _infer_top_k(ctx):
    x = ctx.types[0]
    k = const_scalar(ctx, 1)
    if x.shape is None:
        return [TensorType(x.dtype, None), TensorType(DType.INT32, None)]
    if len(x.shape) < 1:
        ctx.fail("input must have rank >= 1")
    last = x.shape[-1]
    if k is not None and (k < 0 or (last is not None and k > last)):
        ctx.fail(f"k={k} must be in [0, {last}] (the size of the last dim)")
    shape = x.shape[:-1] + (None if k is None else int(k),)
    return [TensorType(x.dtype, shape), TensorType(DType.INT32, shape)]


def _top_k(x, k, sorted=True):
    k = int(np.asarray(k).reshape(-1)[0])
    n = x.shape[-1]
    # Stable ascending sort of the reversed row, read backwards: descending
    # values, and equal values in increasing index order (as TF).
    order = n - 1 - np.argsort(x[..., ::-1], axis=-1, kind="stable")[..., ::-1]
    idx = order[..., :k]
    return np.take_along_axis(x, idx, axis=-1), idx.astype(np.int32)


defop(
    "core.top_k",
    doc="""The `k` largest entries of the last dim and their indices (i32),
    largest first; ties go to the lower index.""",
    operands=["x", "k"],
    attrs={"sorted": Attr("bool", True, "results in descending order (always true for the reference kernel)")},
    infer=_infer_top_k,
    kernel=_top_k,
    category="reduce",
)

# -- cumsum / cumprod -------------------------------------------------------------


def _cumulative(accumulate, identity):
    def kernel(x, axis, exclusive=False, reverse=False):
        if reverse:
            x = np.flip(x, axis)
        if exclusive and x.shape[axis]:
            shifted = np.take(x, range(x.shape[axis] - 1), axis=axis)
            pad = np.full_like(np.take(x, [0], axis=axis), identity)
            x = np.concatenate([pad, shifted], axis=axis)
        out = accumulate(x, axis=axis, dtype=x.dtype)
        return np.flip(out, axis) if reverse else out

    return kernel


_CUM_ATTRS = {
    "axis": Attr("int"),
    "exclusive": Attr("bool", False, "element i excludes x[i]"),
    "reverse": Attr("bool", False, "accumulate from the end"),
}

defop(
    "core.cumsum",
    batch_axis="along_axis",
    doc="Running sum along `axis`, optionally exclusive and/or from the end (TF Cumsum).",
    operands=["x"],
    attrs=dict(_CUM_ATTRS),
    infer=same_type_along_axis,
    kernel=_cumulative(np.cumsum, 0),
    category="reduce",
)

defop(
    "core.cumprod",
    batch_axis="along_axis",
    doc="Running product along `axis`, optionally exclusive and/or from the end (TF Cumprod).",
    operands=["x"],
    attrs=dict(_CUM_ATTRS),
    infer=same_type_along_axis,
    kernel=_cumulative(np.cumprod, 1),
    category="reduce",
)
