"""Facts about nodes that several passes need: purity, deadness, attribute keys.

Foreign ops (``tf.X`` with no declaration) are treated as impure: we do not
know their side effects, so no pass removes or merges them.
"""
from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from litesmith.ir.graph import Node
from litesmith.ir.registry import get_op
from litesmith.ir.types import ElidedTensor

__all__ = ["is_pure", "is_trivially_dead", "attr_key"]


def is_pure(node: Node) -> bool:
    """Declared side-effect free, and so is everything in its regions."""
    opdef = get_op(node.op)
    if opdef is None or not opdef.pure:
        return False
    return all(is_pure(n) for r in node.regions for n in r)


def is_trivially_dead(node: Node) -> bool:
    """Pure and none of its outputs is used (graph outputs count as uses)."""
    return not any(v.has_uses() for v in node.outputs) and is_pure(node)


def attr_key(value: Any) -> Hashable:
    """A hashable key equal for equal attribute values (arrays by dtype, shape and bytes).

    Two elided tensors never compare equal: their data is unknown.
    """
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return ("ndarray", "object", value.shape, tuple(_obj_key(x) for x in value.ravel().tolist()))
        return ("ndarray", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, ElidedTensor):
        return ("elided", id(value))
    if isinstance(value, (float, np.floating)):
        return ("float", np.float64(value).tobytes())  # distinguishes -0.0 and NaN payloads
    if isinstance(value, np.generic):
        return ("scalar", value.dtype.str, value.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(attr_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), attr_key(v)) for k, v in value.items())))
    try:
        hash(value)
    except TypeError:
        return ("repr", type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _obj_key(x: Any) -> Hashable:
    return (type(x).__name__, x) if isinstance(x, (str, bytes)) else ("repr", repr(x))
