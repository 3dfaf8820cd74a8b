"""TFLite backend: lower the IR to ``tfl.*`` ops, write flatbuffers, read them back.

Thin wrappers so ``import litesmith.backends.tflite`` stays cheap.
"""
from __future__ import annotations


def read_tflite(path_or_bytes):
    """Lift a .tflite model (path or bytes) into an IR graph of ``tfl.*`` ops."""
    from .reader import read_tflite as _read

    return _read(path_or_bytes)


def write_tflite(graph, **options) -> bytes:
    """Serialize a graph of ``tfl.*`` ops (already lowered) to flatbuffer bytes."""
    from .writer import write_tflite as _write

    return _write(graph, **options)


def compile_to_tflite(graph, **options) -> bytes:
    """Lower a core-op graph to ``tfl.*`` ops and serialize it."""
    from .compile import compile_to_tflite as _compile

    return _compile(graph, **options)
