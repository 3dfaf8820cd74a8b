"""Read the ``metadata`` entries of a .tflite flatbuffer without TensorFlow or generated schema code.

Only three tables of the TFLite schema matter here (field numbers from schema.fbs):
``Model`` { buffers: 4, metadata: 6 }, ``Metadata`` { name: 0, buffer: 1 }, ``Buffer`` { data: 0 }.
"""
from __future__ import annotations

from typing import Dict

import flatbuffers
from flatbuffers import number_types as N

from litesmith.ir.errors import UserError

_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA = 0


def read_metadata(model: bytes, source: str = "<model>") -> Dict[str, bytes]:
    """Map metadata name -> the bytes of the buffer it points at."""
    try:
        root = flatbuffers.Table(model, flatbuffers.encode.Get(flatbuffers.packer.uoffset, model, 0))
        buffers = _vector_of_tables(root, _MODEL_BUFFERS)
        out = {}
        for entry in _vector_of_tables(root, _MODEL_METADATA):
            name = _string(entry, _METADATA_NAME)
            index = _scalar(entry, _METADATA_BUFFER, N.Uint32Flags)
            out[name] = _bytes(buffers[index], _BUFFER_DATA) if index < len(buffers) else b""
        return out
    except (IndexError, ValueError, TypeError) as e:  # struct errors on a truncated/corrupt file
        raise UserError(f"{source}: not a readable .tflite flatbuffer ({e}); re-export the model") from None


def _field(table, slot: int) -> int:
    return table.Offset(4 + 2 * slot)


def _vector_of_tables(table, slot: int):
    off = _field(table, slot)
    if not off:
        return []
    start = table.Vector(off)
    return [flatbuffers.Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(table.VectorLen(off))]


def _string(table, slot: int) -> str:
    off = _field(table, slot)
    return table.String(off + table.Pos).decode() if off else ""


def _scalar(table, slot: int, flags):
    off = _field(table, slot)
    return table.Get(flags, off + table.Pos) if off else 0


def _bytes(table, slot: int) -> bytes:
    off = _field(table, slot)
    if not off:
        return b""
    start = table.Vector(off)
    return bytes(table.Bytes[start:start + table.VectorLen(off)])
