"""Protobuf values to IR values: dtypes, shapes, constant tensors and node attributes.

Every check that guards against a bad file raises ``UserError`` naming the node,
before anything large is allocated.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.types import TensorType

from .proto import DATA_TYPE_NAMES

# TF DataType enum -> IR dtype (ref types are the same number + 100).
_TF_TO_IR = {
    1: DType.FLOAT32, 2: DType.FLOAT64, 3: DType.INT32, 4: DType.UINT8, 5: DType.INT16, 6: DType.INT8,
    7: DType.STRING, 9: DType.INT64, 10: DType.BOOL, 19: DType.FLOAT16, 21: DType.VARIANT,
}
_IR_TO_TF = {v: k for k, v in _TF_TO_IR.items()}

# Refuse constants larger than this: a corrupt size field must not exhaust memory.
MAX_CONSTANT_BYTES = 1 << 32


class UnsupportedDType(UserError):
    """A known TF dtype the IR has no element type for (bfloat16, complex, resource...)."""


def dtype_name(enum: int) -> str:
    """``DT_FLOAT``-style name, or ``DT_<n>`` for a number TF does not define."""
    return DATA_TYPE_NAMES.get(int(enum), f"DT_{int(enum)}")


def check_dtype_enum(enum: int, where: str) -> None:
    if int(enum) not in DATA_TYPE_NAMES:
        raise UserError(f"{where}: unknown dtype enum {int(enum)}; the file is corrupt or from a newer TensorFlow")


def to_dtype(enum: int, where: str) -> DType:
    """The IR dtype of a TF DataType enum value; UserError if there is none."""
    check_dtype_enum(enum, where)
    e = int(enum)
    e = e - 100 if e > 100 else e
    if e not in _TF_TO_IR:
        raise UnsupportedDType(f"{where}: dtype {dtype_name(e)} has no litesmith element type")
    return _TF_TO_IR[e]


def to_tf_dtype(dtype: DType) -> int:
    return _IR_TO_TF[dtype]


def shape_of(proto, where: str) -> Optional[tuple]:
    """A ``TensorShapeProto`` as an IR shape (None = unknown rank, -1 dims = unknown)."""
    if proto.unknown_rank:
        return None
    dims = [d.size for d in proto.dim]
    if any(d < -1 for d in dims):
        raise UserError(f"{where}: shape {dims} has a dimension below -1 (only -1, unknown, may be negative); "
                        "the file is corrupt")
    return tuple(d if d >= 0 else None for d in dims)


def tensor_to_numpy(t, where: str) -> np.ndarray:
    """Decode a ``TensorProto``: tensor_content bytes, typed repeated fields, splats and scalars."""
    dtype = to_dtype(t.dtype, where)
    if t.tensor_shape.unknown_rank:
        raise UserError(f"{where}: constant tensor has unknown rank")
    dims = [d.size for d in t.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise UserError(f"{where}: constant tensor has a negative dimension {dims}")
    count = 1
    for d in dims:
        count *= d
    itemsize = max(dtype.itemsize, 1)
    if count * itemsize > MAX_CONSTANT_BYTES:
        raise UserError(f"{where}: constant of shape {dims} would need {count * itemsize} bytes; the file is corrupt")
    if dtype is DType.STRING:
        vals = list(t.string_val)
        return _fill(np.array(vals + [b""] * (not vals), dtype=object), count, dims, where)
    raw = t.tensor_content  # (each read of the field makes a new bytes object: read it once)
    if raw:
        if len(raw) != count * itemsize:
            raise UserError(f"{where}: constant of shape {dims} and dtype {dtype} needs {count * itemsize} bytes, "
                            f"tensor_content has {len(raw)}")
        # A read-only view on those bytes (no second copy of a 100 MB weight): the IR shares constants
        # read-only. Only a big-endian host converts.
        return np.frombuffer(raw, dtype=dtype.np.newbyteorder("<")).astype(dtype.np, copy=False).reshape(dims)
    if dtype is DType.FLOAT16:
        vals = np.array(t.half_val, dtype=np.uint16).view(np.float16)
    elif dtype is DType.FLOAT32:
        vals = np.array(t.float_val, dtype=np.float32)
    elif dtype is DType.FLOAT64:
        vals = np.array(t.double_val, dtype=np.float64)
    elif dtype is DType.INT64:
        vals = np.array(t.int64_val, dtype=np.int64)
    elif dtype is DType.BOOL:
        vals = np.array(t.bool_val, dtype=np.bool_)
    elif dtype is DType.VARIANT:
        raise UserError(f"{where}: variant constants are not supported")
    else:
        vals = np.array(t.int_val, dtype=np.int64).astype(dtype.np)
    return _fill(vals.astype(dtype.np), count, dims, where)


def _fill(vals: np.ndarray, count: int, dims, where: str) -> np.ndarray:
    """TF's rule: fewer values than elements repeats the last one (none: zeros)."""
    n = len(vals)
    if n == count:
        return vals.reshape(dims)
    if n > count:
        raise UserError(f"{where}: constant of shape {dims} holds {n} values, more than its {count} elements")
    if n == 0:
        return np.zeros(dims, dtype=vals.dtype) if vals.dtype != object else np.full(dims, b"", dtype=object)
    out = np.empty(count, dtype=vals.dtype)
    out[: n - 1] = vals[: n - 1]
    out[n - 1:] = vals[-1]
    return out.reshape(dims)


def tensor_type(dtype_enum: int, shape, where: str) -> TensorType:
    dtype = to_dtype(dtype_enum, where)
    if dtype is DType.VARIANT:
        return TensorType.list_of(TensorType(DType.FLOAT32, None))
    return TensorType(dtype, shape)


def _str(b: bytes):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b


def _dtype_attr(enum: int, where: str):
    """A dtype attr: the IR DType, or TF's name for types the IR lacks (resource...)."""
    check_dtype_enum(enum, where)
    try:
        return to_dtype(enum, where)
    except UnsupportedDType:
        return dtype_name(enum)


def attr_value(a, where: str) -> Any:
    """One ``AttrValue`` as a plain IR attribute value."""
    kind = a.WhichOneof("value")
    if kind is None:
        return None
    if kind == "s":
        return _str(a.s)
    if kind in ("i", "f", "b", "placeholder"):
        return getattr(a, kind)
    if kind == "type":
        return _dtype_attr(a.type, where)
    if kind == "shape":
        return shape_of(a.shape, where)
    if kind == "tensor":
        return tensor_to_numpy(a.tensor, where)
    if kind == "func":
        return func_attr(a.func, where)
    lst = a.list
    for field in ("s", "i", "f", "b", "type", "shape", "tensor", "func"):
        items = getattr(lst, field)
        if len(items):
            if field == "s":
                return [_str(x) for x in items]
            if field == "type":
                return [_dtype_attr(x, where) for x in items]
            if field == "shape":
                return [shape_of(x, where) for x in items]
            if field == "tensor":
                return [tensor_to_numpy(x, where) for x in items]
            if field == "func":
                return [func_attr(x, where) for x in items]
            return list(items)
    return []


def func_attr(f, where: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {"func": f.name}
    if len(f.attr):
        out["attr"] = {k: attr_value(v, where) for k, v in sorted(f.attr.items())}
    return out


def node_attrs(node, where: str) -> Dict[str, Any]:
    """All attributes of a ``NodeDef`` converted, sorted by name."""
    return {k: attr_value(node.attr[k], f"{where} attr {k!r}") for k in sorted(node.attr)}
