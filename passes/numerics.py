"""Inputs for numeric checks and the comparison of two runs of a graph.

Used by the pass manager's ``check_numerics`` instrument and ``litesmith run``.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np

from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph
from litesmith.ir.types import TensorType

__all__ = ["random_feeds", "random_array", "adapt_feeds", "compare_outputs", "deviation"]


def random_array(t: TensorType, rng: np.random.Generator, name: str = "") -> np.ndarray:
    """A random value of type ``t``; an unknown first dim becomes 1 (a batch), other unknown dims 2."""
    if t.is_list:
        raise UserError(f"input {name!r} is a tensor list; give its value explicitly (no random tensor lists)")
    shape = tuple((1 if i == 0 else 2) if d is None else d for i, d in enumerate(t.shape or ()))
    dt = t.dtype
    if dt.is_float:
        return rng.standard_normal(shape).astype(dt.np)
    if dt is DType.BOOL:
        return rng.integers(0, 2, shape).astype(bool)
    if dt.is_int:
        return rng.integers(0, 2, shape).astype(dt.np)  # small: often indices
    if dt is DType.STRING:
        arr = np.empty(shape, dtype=object)
        arr[...] = "a"
        return arr
    raise UserError(f"input {name!r}: cannot make random values of dtype {dt}")


def random_feeds(graph: Graph, seed: int = 0) -> Dict[str, np.ndarray]:
    """Random inputs for every graph input, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return {v.name: random_array(v.type, rng, v.name) for v in graph.inputs}


def adapt_feeds(graph: Graph, feeds: Mapping[str, np.ndarray]) -> Optional[Dict[str, np.ndarray]]:
    """The feeds reshaped to the graph's current input shapes (a pass may drop a size-1 batch axis).

    None when the inputs no longer correspond (a name is missing or an element count differs).
    """
    out = {}
    for v in graph.inputs:
        if v.name not in feeds:
            return None
        x = np.asarray(feeds[v.name]) if not v.type.is_list else feeds[v.name]
        shape = v.shape
        if isinstance(x, np.ndarray) and shape is not None and x.shape != tuple(shape):
            if None in shape or int(np.prod(shape, dtype=np.int64)) != x.size:
                if not (None in shape and len(shape) == x.ndim):
                    return None
            else:
                x = x.reshape(shape)
        out[v.name] = x
    return out


def compare_outputs(
    expected: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], *, rtol: float = 1e-4, atol: float = 1e-5
) -> Optional[str]:
    """A one-line description of the first difference, or None when the outputs agree.

    Shapes may differ only by size-1 axes (a removed batch axis); floats compare
    with ``rtol``/``atol`` (NaN equals NaN), everything else exactly.
    """
    for name, want in expected.items():
        if name not in got:
            return f"output {name!r} is missing (outputs now: {', '.join(got) or 'none'})"
        have = got[name]
        if not isinstance(want, np.ndarray) or not isinstance(have, np.ndarray):
            continue  # tensor lists: not compared
        if want.dtype != have.dtype:
            return f"output {name!r} changed dtype from {want.dtype} to {have.dtype}"
        if want.shape != have.shape:
            if want.size != have.size or _squeezed(want.shape) != _squeezed(have.shape):
                return f"output {name!r} changed shape from {list(want.shape)} to {list(have.shape)}"
            have = have.reshape(want.shape)
        if want.dtype.kind == "f":
            close = np.isclose(have, want, rtol=rtol, atol=atol, equal_nan=True)
        else:
            close = want == have
        if not np.all(close):
            idx = tuple(int(i) for i in np.argwhere(~np.asarray(close))[0])
            n_bad = int(np.size(close) - np.count_nonzero(close))
            return (
                f"output {name!r} differs at {n_bad} of {want.size} elements; "
                f"first at index {list(idx)}: expected {want[idx]!r}, got {have[idx]!r}"
            )
    return None


def deviation(expected: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray]) -> str:
    """One line: per float output, the largest absolute difference and the largest expected magnitude."""
    parts = []
    for name, want in expected.items():
        have = got.get(name)
        if not isinstance(want, np.ndarray) or not isinstance(have, np.ndarray) or want.dtype.kind != "f":
            continue
        if have.dtype.kind != "f" or have.size != want.size:
            parts.append(f"output {name!r} is now {have.dtype}{list(have.shape)}")
            continue
        err = np.abs(have.astype(np.float64).reshape(want.shape) - want)
        top = float(np.max(np.abs(want))) if want.size else 0.0
        parts.append(f"output {name!r} max abs error {float(np.max(err)) if err.size else 0.0:.3g} (|expected| <= {top:.3g})")
    return "; ".join(parts) or "no float outputs to compare"


def _squeezed(shape) -> tuple:
    return tuple(d for d in shape if d != 1)
