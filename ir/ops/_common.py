"""Helpers shared by the op declarations: constant operands, axes, broadcasting.

Inference sees static dims as ints and unknown ones as None; these helpers
keep that convention so each op's inference stays a few lines.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from ..dtypes import DType
from ..types import broadcast_shapes as _broadcast
from ..types import Shape, TensorType


def tensor(dtype: DType, shape: Shape) -> TensorType:
    return TensorType(dtype, shape)


def const_ints(ctx, i: int) -> Optional[List[int]]:
    """Operand ``i`` as a flat list of ints when it is a constant, else None."""
    if i >= len(ctx.consts) or ctx.consts[i] is None:
        return None
    return [int(v) for v in np.asarray(ctx.consts[i]).reshape(-1)]


def const_scalar(ctx, i: int):
    """Operand ``i`` as a Python scalar when it is a constant, else None."""
    if i >= len(ctx.consts) or ctx.consts[i] is None:
        return None
    v = np.asarray(ctx.consts[i])
    if v.size != 1:
        ctx.fail(f"operand {i} must be a scalar, got shape {list(v.shape)}")
    return v.reshape(-1)[0].item()


def vector_length(t: TensorType) -> Optional[int]:
    """Static length of a 1-D shape-like operand (a scalar counts as 1), else None."""
    if t.shape is None:
        return None
    if len(t.shape) == 0:
        return 1
    return t.shape[0] if len(t.shape) == 1 else None


def norm_axis(ctx, axis: int, rank: int, what: str = "axis") -> int:
    """``axis`` in [0, rank), with negative axes counted from the end."""
    if not -rank <= axis < rank:
        ctx.fail(f"{what} {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def broadcast_shapes(ctx, *shapes: Shape) -> Shape:
    """Numpy broadcasting of shapes that may hold unknown dims (None); mismatches fail inference."""
    try:
        return _broadcast(*shapes)
    except ValueError as e:
        ctx.fail(str(e))


def _fmt(shape: Shape) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def same_type(ctx) -> List[TensorType]:
    t = ctx.types[0]
    return [TensorType(t.dtype, t.shape)]


def float_same_type(ctx) -> List[TensorType]:
    """Inference of float-only math (exp, tanh, softsign...): the operand's type, refusing ints,
    bools and strings, which TF, ONNX and LiteRT refuse too (LiteRT's ABS of a bool failed at
    allocation, a difftest finding)."""
    t = ctx.types[0]
    if not t.dtype.is_float:
        ctx.fail(f"expects a float operand, got {t.dtype}")
    return same_type(ctx)


def require_numeric(ctx, dtype) -> None:
    """Math on numbers: TF's and TFLite's kernels take no bool or string (LiteRT refuses ABS of a
    bool at allocation), so such an operand makes the graph malformed."""
    if dtype in (DType.BOOL, DType.STRING, DType.VARIANT):
        ctx.fail(f"expects a numeric operand, got {dtype}")


def float_along_axis(ctx) -> List[TensorType]:
    """``same_type_along_axis`` for float-only ops (softmax, log_softmax: TF takes floats only, and
    LiteRT refused an i32 SOFTMAX, a difftest finding)."""
    if not ctx.types[0].dtype.is_float:
        ctx.fail(f"expects a float operand, got {ctx.types[0].dtype}")
    return same_type_along_axis(ctx)


def same_type_along_axis(ctx) -> List[TensorType]:
    """Inference of ops that keep their input's type and work along ``attrs["axis"]`` (softmax,
    cumsum): the axis must exist when the rank is known, and the operand be numeric (a softmax
    of a bool verified once, then failed in the interpreter: a difftest finding)."""
    t = ctx.types[0]
    require_numeric(ctx, t.dtype)
    if t.shape is not None:
        norm_axis(ctx, ctx.attrs["axis"], len(t.shape))
    return same_type(ctx)


def ints(values: Sequence) -> List[int]:
    return [int(v) for v in values]


def np_dtype(dtype) -> np.dtype:
    """The numpy dtype for a dtype attribute (a ``DType``, or anything numpy accepts)."""
    return dtype.np if isinstance(dtype, DType) else np.dtype(dtype)


def require_rank(ctx, t: TensorType, rank: int, what: str) -> None:
    if t.shape is not None and len(t.shape) != rank:
        ctx.fail(f"{what} must have rank {rank}, got {_fmt(t.shape)}")
