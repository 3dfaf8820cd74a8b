"""ONNX protobuf values to IR values: element types, shapes, initializers and attributes.

Every check that guards against a bad file raises ``UserError`` naming the
tensor or node, before anything large is allocated.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.types import TensorType

# ONNX TensorProto.DataType -> IR dtype (the ones the IR has).
_ONNX_TO_IR = {
    1: DType.FLOAT32, 2: DType.UINT8, 3: DType.INT8, 5: DType.INT16, 6: DType.INT32, 7: DType.INT64,
    8: DType.STRING, 9: DType.BOOL, 10: DType.FLOAT16, 11: DType.FLOAT64,
}
_IR_TO_ONNX = {v: k for k, v in _ONNX_TO_IR.items()}
_NAMES = {
    0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64", 8: "STRING",
    9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64", 15: "COMPLEX128",
    16: "BFLOAT16", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ", 21: "UINT4",
    22: "INT4", 23: "FLOAT4E2M1", 24: "FLOAT8E8M0", 25: "UINT2", 26: "INT2",
}

# Refuse tensors larger than this: a corrupt dims field must not exhaust memory.
MAX_TENSOR_BYTES = 1 << 32


class UnsupportedDType(UserError):
    """An ONNX element type the IR has no counterpart for (bfloat16, uint32, complex, float8...)."""


def dtype_name(enum: int) -> str:
    return _NAMES.get(int(enum), f"type {int(enum)}")


def to_dtype(enum: int, where: str) -> DType:
    """The IR dtype of an ONNX element type; ``UnsupportedDType`` if there is none."""
    got = _ONNX_TO_IR.get(int(enum))
    if got is None:
        raise UnsupportedDType(f"{where}: element type {dtype_name(enum)} has no litesmith dtype")
    return got


def to_onnx_dtype(dtype: DType) -> int:
    return _IR_TO_ONNX[dtype]


def value_type(type_proto, where: str) -> TensorType:
    """A ``TypeProto`` of a graph input/output or value_info as an IR tensor type."""
    kind = type_proto.WhichOneof("value")
    if kind != "tensor_type":
        raise UserError(f"{where}: {kind or 'untyped'} values are not supported (only tensors)")
    tt = type_proto.tensor_type
    dtype = to_dtype(tt.elem_type, where)
    return TensorType(dtype, shape_of(tt, where))


def shape_of(tensor_type, where: str) -> Optional[tuple]:
    """Static dims as ints; symbolic (``dim_param``) or missing dims as None; no shape: unknown rank."""
    if not tensor_type.HasField("shape"):
        return None
    dims = []
    for d in tensor_type.shape.dim:
        if d.HasField("dim_value"):
            if d.dim_value == -1:  # paddle2onnx writes a dynamic dim as -1 (onnxruntime reads it so too)
                dims.append(None)
                continue
            if d.dim_value < 0:
                raise UserError(f"{where}: negative dimension {d.dim_value}; the file is corrupt")
            if d.dim_value >= 1 << 31:
                raise UserError(f"{where}: dimension {d.dim_value} is too large; the file is corrupt")
            dims.append(int(d.dim_value))
        else:
            dims.append(None)
    return tuple(dims)


def check_tensor_size(t, where: str) -> int:
    """The element count of ``t``'s dims; a UserError for negative or hostile dims, before any allocation."""
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise UserError(f"{where}: tensor has a negative dimension {dims}; the file is corrupt")
    count = 1
    for d in dims:
        count *= d
    dtype = _ONNX_TO_IR.get(t.data_type)
    itemsize = max(dtype.itemsize, 1) if dtype is not None else 1
    if count * itemsize > MAX_TENSOR_BYTES:
        raise UserError(f"{where}: tensor of shape {dims} would need {count * itemsize} bytes; the file is corrupt")
    return count


def tensor_to_numpy(t, where: str, base_dir: str = "") -> np.ndarray:
    """Decode a ``TensorProto`` (raw or typed data; external data must be loaded already)."""
    from onnx import numpy_helper

    dtype = to_dtype(t.data_type, where)
    dims = list(t.dims)
    count = check_tensor_size(t, where)
    if t.data_location == 1 and not t.raw_data:  # EXTERNAL, not loaded
        raise UserError(f"{where}: tensor data is in an external file that was not found next to the model")
    try:
        arr = numpy_helper.to_array(t, base_dir)
    except Exception as e:  # the onnx package raises ValueError, TypeError or its own errors on bad data
        raise UserError(f"{where}: cannot decode tensor data ({type(e).__name__}: {_first_line(e)}); "
                        "the file is corrupt") from None
    if dtype is DType.STRING:
        arr = np.asarray([x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in arr.reshape(-1)],
                         dtype=object).reshape(arr.shape)
    elif arr.dtype != dtype.np:
        arr = arr.astype(dtype.np)
    if list(arr.shape) != dims:
        raise UserError(f"{where}: tensor holds {arr.size} values, its dims {dims} need {count}; the file is corrupt")
    return arr


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""


# AttributeProto.AttributeType
_A_FLOAT, _A_INT, _A_STRING, _A_TENSOR, _A_GRAPH = 1, 2, 3, 4, 5
_A_FLOATS, _A_INTS, _A_STRINGS, _A_TENSORS, _A_GRAPHS = 6, 7, 8, 9, 10
_A_SPARSE, _A_SPARSES, _A_TYPE_PROTO, _A_TYPE_PROTOS = 11, 12, 13, 14


class SubGraph:
    """A graph-valued attribute (``If`` branches, ``Loop``/``Scan`` bodies), kept as the proto."""

    def __init__(self, proto):
        self.proto = proto

    def __repr__(self) -> str:
        return f"<subgraph {self.proto.name!r}>"


def attr_value(a, where: str) -> Any:
    """One ``AttributeProto`` as a plain Python value (graphs as ``SubGraph``)."""
    kind = a.type
    if kind == 0:  # pre-IR-v2 files leave the type unset: take the field that is filled
        kind = _guess_kind(a)
    if kind == _A_FLOAT:
        return float(a.f)
    if kind == _A_INT:
        return int(a.i)
    if kind == _A_STRING:
        return _text(a.s)
    if kind == _A_TENSOR:
        return tensor_to_numpy(a.t, where)
    if kind == _A_GRAPH:
        return SubGraph(a.g)
    if kind == _A_FLOATS:
        return [float(x) for x in a.floats]
    if kind == _A_INTS:
        return [int(x) for x in a.ints]
    if kind == _A_STRINGS:
        return [_text(x) for x in a.strings]
    if kind == _A_TENSORS:
        return [tensor_to_numpy(x, where) for x in a.tensors]
    if kind == _A_GRAPHS:
        return [SubGraph(g) for g in a.graphs]
    if kind in (_A_SPARSE, _A_SPARSES, _A_TYPE_PROTO, _A_TYPE_PROTOS):
        raise UserError(f"{where}: {'sparse tensor' if kind in (_A_SPARSE, _A_SPARSES) else 'type'} attributes "
                        "are not supported")
    raise UserError(f"{where}: attribute of unknown type {kind}; the file is corrupt")


def _guess_kind(a) -> int:
    for field, kind in (("floats", _A_FLOATS), ("ints", _A_INTS), ("strings", _A_STRINGS),
                        ("tensors", _A_TENSORS), ("graphs", _A_GRAPHS)):
        if len(getattr(a, field)):
            return kind
    for field, kind in (("t", _A_TENSOR), ("g", _A_GRAPH)):
        if a.HasField(field):
            return kind
    if a.HasField("s"):
        return _A_STRING
    if a.HasField("i"):
        return _A_INT
    if a.HasField("f"):
        return _A_FLOAT
    return _A_INTS  # nothing set: an empty list


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def node_attrs(node, where: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for a in node.attribute:
        if not a.name or not isinstance(a.name, str):
            raise UserError(f"{where}: an attribute without a (UTF-8) name; the file is corrupt")
        if a.ref_attr_name:
            raise UserError(f"{where}: attribute {a.name!r} refers to a function attribute; "
                            "only model graphs are supported")
        out[a.name] = attr_value(a, f"{where} attribute {a.name!r}")
    return out


def ir_attrs(attrs: Dict[str, Any]) -> Dict[str, Any]:
    """Attributes a foreign ``onnx.X`` IR node can carry: subgraphs become their names."""
    out = {}
    for k, v in sorted(attrs.items()):
        if isinstance(v, SubGraph):
            v = f"<graph {v.proto.name}>"
        elif isinstance(v, list) and v and isinstance(v[0], SubGraph):
            v = [f"<graph {g.proto.name}>" for g in v]
        out[k] = v
    return out
