"""ONNX frontend: lift ONNX models (.onnx) into the IR with the ``onnx`` package (parsing and shape
inference only; nothing is run). Needs the ``onnx`` extra: ``pip install 'litesmith[onnx]'``."""
from __future__ import annotations


def load_onnx(source, *, inputs=None, outputs=None, input_shapes=None, base_dir=None):
    """Read an ONNX model (a path, or its bytes) and lift it into an IR ``Graph``."""
    from .lift import load_onnx as _load

    return _load(source, inputs=inputs, outputs=outputs, input_shapes=input_shapes, base_dir=base_dir)
