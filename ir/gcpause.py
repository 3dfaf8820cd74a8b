"""Pause Python's automatic cyclic garbage collector while a big graph is built or rewritten.

A graph is millions of small container objects (nodes, values, use records, attribute
dicts), and the collector's generational sweeps keep re-walking them while lifting, the
passes and the writer allocate more: 10-15% of a 10k- to 100k-node compile
(docs/benchmarks.md, section 6). Reference counting still frees everything that is not in
a cycle; a removed node and its values are a cycle, so callers collect at the points where
such garbage is big (compile_to_tflite after lowering and quantizing).
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

__all__ = ["automatic_gc_paused"]


@contextmanager
def automatic_gc_paused():
    """Disable automatic collection inside the block; restore the caller's setting after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
