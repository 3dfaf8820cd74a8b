"""TensorFlow frontend: lift frozen GraphDefs (.pb/.pbtxt) into the IR without importing TensorFlow."""
from __future__ import annotations


def load_graphdef(path, *, inputs=None, outputs=None, input_shapes=None):
    """Parse a GraphDef file and lift it into an IR ``Graph`` (no automatic garbage collection meanwhile:
    lifting allocates the whole graph, and nothing it drops is worth a collector's walk over it)."""
    from litesmith.ir.gcpause import automatic_gc_paused

    from .lift import load_graphdef as _load

    with automatic_gc_paused():
        return _load(path, inputs=inputs, outputs=outputs, input_shapes=input_shapes)
