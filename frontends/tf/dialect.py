"""The ``tf`` dialect: unmapped TF ops stay ``tf.X`` nodes; this registers how to
re-lift them into core ops once fold-constants has made their axis-like
operands constant (the seed's softmax without ``axis``).

Loaded through the ``litesmith.dialects`` entry point, so passes re-lift tf
nodes of any graph (one read from .ir text too) without importing the
frontend.
"""
from litesmith.ir.registry import register_foreign_lifter

from .mapper import relift

register_foreign_lifter("tf", relift)
