"""TensorFlow frontend: lift frozen GraphDefs (.pb/.pbtxt) into the IR without importing TensorFlow."""
from __future__ import annotations


def load_graphdef(path, *, inputs=None, outputs=None, input_shapes=None):
    """Parse a GraphDef file and lift it into an IR ``Graph``."""
    from .lift import load_graphdef as _load

    return _load(path, inputs=inputs, outputs=outputs, input_shapes=input_shapes)
