"""The ``tf`` dialect: unmapped TF ops stay ``tf.X`` nodes; this registers how to
re-lift them into core ops once fold-constants has made their axis-like
operands constant (the seed's softmax without ``axis``).

Loaded through the ``litesmith.dialects`` entry point, so passes re-lift tf
nodes of any graph (one read from .ir text too) without importing the
frontend.
"""
import numpy as np
from litesmith.ir.interpreter import register_foreign_kernel
from litesmith.ir.registry import register_foreign_lifter

from .mapper import relift

register_foreign_lifter("tf", relift)


def _split(split_dim, value, num_split=1, **_):
    """TF Split before its operand's length is known (pfor splits the shape of a stacked list)."""
    parts = np.split(np.asarray(value), int(num_split), axis=int(split_dim))
    return parts[0] if len(parts) == 1 else parts


register_foreign_kernel("tf.Split", _split)
