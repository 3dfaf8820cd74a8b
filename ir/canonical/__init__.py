"""Canonicalization patterns of the core ops.

Each pattern attaches to its root op's declaration (``OpDef.canonicalize``)
when the registry loads the core ops, so ``get_op("core.mul").canonicalize``
is complete in any process, whoever imported what first. The patterns know
only the IR; the ``canonicalize`` pass (passes/canonicalize.py) applies them.
"""
from . import basic, dilated_conv, gelu  # noqa: F401  (they attach themselves)
