"""Densify TFLite sparse tensors (``Tensor.sparsity``: TACO-style per-dimension DENSE / SPARSE_CSR
metadata, optionally with blocks), as LiteRT's DENSIFY kernel does.

The reader reads every sparse constant as the dense array it stands for, and a DENSIFY of it as
that constant: litesmith models are dense. A sparse model read and written back holds the same
values (bigger, without DENSIFY ops) and LiteRT computes the same outputs from it.

The format: a tensor of rank n with k block dimensions is traversed as n + k levels in
``traversal_order`` (the n original dims first, then the blocks); ``dim_metadata`` gives each
level in that order. A DENSE level of size s visits 0..s-1; a SPARSE_CSR level visits
``array_indices[segments[p] : segments[p + 1]]`` for the position p reached on the level
above. The buffer holds one value per complete path, in traversal order; everything not
visited is zero.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from litesmith.ir.errors import UserError

__all__ = ["densify", "MAX_DENSE_BYTES"]

DENSE, SPARSE_CSR = 0, 1
MAX_DENSE_BYTES = 1 << 31  # a sparse tensor is refused before a dense array this large is allocated


def _vector(union) -> np.ndarray:
    values = None if union is None else union.values
    return np.zeros(0, np.int64) if values is None else np.asarray(values, np.int64).reshape(-1)


def densify(stored: np.ndarray, shape: Sequence[int], sparsity, where: str) -> np.ndarray:
    """The dense array of ``shape`` whose non-zeros ``stored`` (flat, traversal order) and
    ``sparsity`` (a ``SparsityParametersT``) describe. Malformed metadata is a UserError."""
    shape = [int(d) for d in shape]
    n = len(shape)
    order = [int(v) for v in (sparsity.traversalOrder if sparsity.traversalOrder is not None else [])]
    block_map = [int(v) for v in (sparsity.blockMap if sparsity.blockMap is not None else [])]
    dims = list(sparsity.dimMetadata or [])
    levels = n + len(block_map)
    if sorted(order) != list(range(levels)) or sorted(order[:n]) != list(range(n)) or len(dims) != levels:
        raise UserError(f"{where}: sparsity has traversal order {order} and {len(dims)} dimension entries "
                        f"for rank {n} with {len(block_map)} block dimension(s); the model is corrupt")
    if any(not 0 <= b < n for b in block_map):
        raise UserError(f"{where}: sparsity block map {block_map} names a dimension outside rank {n}")
    total = int(np.prod(shape, dtype=np.int64))
    if min(shape, default=1) < 0 or total * stored.itemsize > MAX_DENSE_BYTES:
        raise UserError(f"{where}: sparse tensor of shape {shape} refused (over {MAX_DENSE_BYTES >> 30} GiB dense)")
    block_size = [int(dims[order[n + b]].denseSize) for b in range(len(block_map))]
    indices: List[np.ndarray] = []  # per level, the index of every path so far
    prev = np.zeros(1, np.int64)  # per path, its position on the level above
    for level, dm in enumerate(dims):
        if dm.format == DENSE:
            size = int(dm.denseSize)
            if size < 0 or prev.size * size > total:  # each path is a distinct prefix of an index in the tensor
                raise UserError(f"{where}: sparsity level {level} expands past the tensor's {total} entries")
            indices = [np.repeat(ix, size) for ix in indices] + [np.tile(np.arange(size), prev.size)]
            prev = (prev[:, None] * size + np.arange(size)).reshape(-1)
        elif dm.format == SPARSE_CSR:
            segments, idx = _vector(dm.arraySegments), _vector(dm.arrayIndices)
            if segments.size < 2 or prev.size and prev.max() + 1 >= segments.size or np.any(np.diff(segments) < 0) \
                    or segments[0] < 0 or segments[-1] > idx.size:
                raise UserError(f"{where}: sparsity level {level} has malformed segments; the model is corrupt")
            starts, counts = segments[prev], segments[prev + 1] - segments[prev]
            children = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
            indices = [np.repeat(ix, counts) for ix in indices] + [idx[children]]
            prev = children
        else:
            raise UserError(f"{where}: sparsity level {level} has unknown format {dm.format}")
    if prev.size != stored.size:
        raise UserError(f"{where}: sparsity describes {prev.size} values, the buffer holds {stored.size}")
    orig = [None] * n
    for level in range(n):
        orig[order[level]] = indices[level]
    for level in range(n, levels):
        b = order[level] - n
        d = block_map[b]
        orig[d] = orig[d] * block_size[b] + indices[level]
    if not len(shape) or len(orig) != len(shape) or any(o is None or np.shape(o) != (stored.size,) for o in orig):
        raise UserError(f"{where}: sparsity's traversal order does not index every dim of shape {shape} once per "
                        "value (a fuzzing finding); the model is corrupt")
    for d in range(n):
        if orig[d].size and (orig[d].min() < 0 or orig[d].max() >= shape[d]):
            raise UserError(f"{where}: sparsity indices fall outside dimension {d} of shape {shape}")
    dense = np.zeros(shape, stored.dtype)
    if stored.size:
        dense[tuple(orig)] = stored
    return dense
