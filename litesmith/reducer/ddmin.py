"""Chunked delta debugging (Zeller's ddmin, the "remove a chunk" half) and the halving cut.

Both work on any list of elements and a ``try_remove(chunk)`` callback that
builds and tests the candidate without ``chunk``. On success the callback
returns a function that maps each remaining element to its counterpart in the
new current graph (None if the edit removed it too, e.g. a dead cone); on
failure it returns None.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, TypeVar

T = TypeVar("T")
Remap = Callable[[T], Optional[T]]

__all__ = ["ddmin", "cut_halves"]


def ddmin(elements: Sequence[T], try_remove: Callable[[List[T]], Optional[Remap]]) -> List[T]:
    """Remove chunks of ``elements`` while the result stays interesting: halves first, then
    quarters, ... down to single elements. Returns the elements left (1-minimal: removing
    any single one of them is not interesting)."""
    elements = list(elements)
    n = 2
    while elements:
        size = -(-len(elements) // n)
        chunks = [elements[i:i + size] for i in range(0, len(elements), size)]
        for chunk in chunks:
            remap = try_remove(chunk)
            if remap is not None:
                elements = _remaining(elements, chunk, remap)
                n = max(n - 1, 2)
                break
        else:
            if size == 1:
                return elements
            n = min(2 * n, len(elements))
    return elements


def cut_halves(count: Callable[[], int], try_cut_end: Callable[[int], bool], try_cut_front: Callable[[int], bool]) -> None:
    """Cut ``k`` elements off the end, then off the front, while interesting: ``k`` = half the
    current count, then, once neither end gives, a quarter, ... down to 1. Both ends shrink
    together, so most tests run on small graphs; one fault costs about 2 log2(n) tests."""
    step = count() // 2
    while step >= 1:
        progress = False
        for try_cut in (try_cut_end, try_cut_front):
            if step < count() and try_cut(step):
                progress = True
        if not progress:
            step //= 2


def _remaining(elements: List[T], chunk: List[T], remap: Remap) -> List[T]:
    removed = {id(e) for e in chunk}
    out = []
    for e in elements:
        if id(e) in removed:
            continue
        new = remap(e)
        if new is not None:
            out.append(new)
    return out
