"""Ops that move, scatter or bucket elements by position: depth/space blocks, per-sequence reversal,
scatter into zeros, unsorted segment reductions, bucketing, setting a matrix diagonal, broadcast
shapes. Each is TF's op of the same name, as TF's converter maps it to one TFLite builtin."""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..registry import Attr, defop
from ..types import TensorType, is_static

CATEGORY = "index"


def _shape_operand(ctx, i: int):
    """The static dims a shape-like operand ``i`` holds (None while it is not constant)."""
    shape = ctx.consts[i] if len(ctx.consts) > i else None
    if shape is None:
        return None
    dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    if any(d < 0 for d in dims):
        ctx.fail(f"shape {list(dims)} has a negative dim")
    return dims


# -- depth_to_space / space_to_depth (NHWC, TF's DCR order) -------------------------------------


def depth_to_space(x, block_size):
    x = np.asarray(x)
    n, h, w, c = x.shape
    b = int(block_size)
    y = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * b, w * b, c // (b * b))


def space_to_depth(x, block_size):
    x = np.asarray(x)
    n, h, w, c = x.shape
    b = int(block_size)
    y = x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h // b, w // b, b * b * c)


def _infer_blocks(to_space: bool):
    def infer(ctx):
        t, b = ctx.types[0], ctx.attrs["block_size"]
        if b < 2:
            ctx.fail(f"block_size must be >= 2, got {b}")
        if t.shape is None:
            return [t]
        if len(t.shape) != 4:
            ctx.fail(f"expects a 4-D NHWC input, got rank {len(t.shape)}")
        n, h, w, c = t.shape
        if to_space:
            if c is not None and c % (b * b):
                ctx.fail(f"channels {c} are not a multiple of block_size^2 = {b * b}")
            shape = (n, None if h is None else h * b, None if w is None else w * b, None if c is None else c // (b * b))
        else:
            if any(d is not None and d % b for d in (h, w)):
                ctx.fail(f"height and width {h}x{w} are not multiples of block_size {b}")
            shape = (n, None if h is None else h // b, None if w is None else w // b, None if c is None else c * b * b)
        return [TensorType(t.dtype, shape)]

    return infer


defop("core.depth_to_space", doc="TF DepthToSpace (NHWC, DCR): channel blocks of block_size^2 become spatial blocks.",
      operands=["x"], attrs={"block_size": Attr("int", doc="side of the spatial block")},
      infer=_infer_blocks(True), kernel=depth_to_space, category=CATEGORY)
defop("core.space_to_depth", doc="TF SpaceToDepth (NHWC): block_size x block_size spatial blocks become channels.",
      operands=["x"], attrs={"block_size": Attr("int", doc="side of the spatial block")},
      infer=_infer_blocks(False), kernel=space_to_depth, category=CATEGORY)


# -- reverse_sequence -------------------------------------------------------------------------


def reverse_sequence(x, seq_lengths, seq_axis, batch_axis=0):
    """Each batch row ``i`` reversed along ``seq_axis`` over its first ``seq_lengths[i]`` entries."""
    x = np.asarray(x)
    out = x.copy()
    seq_axis, batch_axis = seq_axis % x.ndim, batch_axis % x.ndim
    for i, n in enumerate(np.asarray(seq_lengths).reshape(-1)):
        row = np.take(x, i, axis=batch_axis)
        axis = seq_axis - (seq_axis > batch_axis)
        head = np.flip(np.take(row, range(int(n)), axis=axis), axis=axis)
        index = [slice(None)] * x.ndim
        index[batch_axis] = i
        index[seq_axis] = slice(0, int(n))
        out[tuple(index)] = head
    return out


def _infer_reverse_sequence(ctx):
    x, lengths = ctx.types
    rank = None if x.shape is None else len(x.shape)
    for key in ("seq_axis", "batch_axis"):
        if rank is not None and not -rank <= ctx.attrs[key] < rank:
            ctx.fail(f"{key} {ctx.attrs[key]} is out of range for rank {rank}")
    if lengths.dtype not in (DType.INT32, DType.INT64):
        ctx.fail(f"seq_lengths must be int32 or int64, got {lengths.dtype}")
    return [x]


defop("core.reverse_sequence", doc="TF ReverseSequence: row i of the batch axis reversed along the sequence "
      "axis over its first seq_lengths[i] entries; the rest is kept.",
      operands=["x", "seq_lengths"], attrs={"seq_axis": Attr("int", doc="the sequence axis"),
                                            "batch_axis": Attr("int", 0, "the batch axis")},
      infer=_infer_reverse_sequence, kernel=reverse_sequence, category=CATEGORY)


# -- scatter_nd -----------------------------------------------------------------------------------


def scatter_nd(indices, updates, shape):
    """Zeros of ``shape`` with ``updates`` added at ``indices`` (duplicates sum, as in TF ScatterNd)."""
    indices, updates = np.asarray(indices), np.asarray(updates)
    out = np.zeros([int(d) for d in np.asarray(shape).reshape(-1)], updates.dtype)
    depth = indices.shape[-1]
    flat = indices.reshape(-1, depth)
    np.add.at(out, tuple(flat[:, i] for i in range(depth)), updates.reshape((flat.shape[0],) + out.shape[depth:]))
    return out


def _infer_scatter_nd(ctx):
    indices, updates, _ = ctx.types
    if indices.dtype not in (DType.INT32, DType.INT64):
        ctx.fail(f"indices must be int32 or int64, got {indices.dtype}")
    return [TensorType(updates.dtype, _shape_operand(ctx, 2))]


defop("core.scatter_nd", doc="TF ScatterNd: a zero tensor of `shape` with `updates` added at `indices` "
      "(the last indices axis indexes the leading output axes; duplicates sum).",
      operands=["indices", "updates", "shape"], infer=_infer_scatter_nd, kernel=scatter_nd, category=CATEGORY)


# -- unsorted segment reductions --------------------------------------------------------------------

_SEGMENT_INIT = {
    "sum": lambda dt: 0, "prod": lambda dt: 1,
    "max": lambda dt: np.finfo(dt).min if dt.kind == "f" else np.iinfo(dt).min,
    "min": lambda dt: np.finfo(dt).max if dt.kind == "f" else np.iinfo(dt).max,
}
_SEGMENT_UFUNC = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}


def _segment_kernel(kind: str):
    def kernel(data, segment_ids, num_segments):
        data, ids = np.asarray(data), np.asarray(segment_ids)
        n = int(np.asarray(num_segments).reshape(-1)[0])
        out = np.full((n,) + data.shape[ids.ndim:], _SEGMENT_INIT[kind](data.dtype), data.dtype)
        flat_ids = ids.reshape(-1)
        rows = data.reshape((flat_ids.size,) + data.shape[ids.ndim:])
        keep = (flat_ids >= 0) & (flat_ids < n)  # TF drops negative ids
        _SEGMENT_UFUNC[kind].at(out, flat_ids[keep], rows[keep])
        return out

    return kernel


def _infer_segment(ctx):
    data, ids, _ = ctx.types
    if ids.dtype not in (DType.INT32, DType.INT64):
        ctx.fail(f"segment_ids must be int32 or int64, got {ids.dtype}")
    n = ctx.consts[2] if len(ctx.consts) > 2 else None
    if data.shape is None or ids.shape is None:
        return [TensorType(data.dtype, None)]
    if tuple(data.shape[:len(ids.shape)]) != tuple(ids.shape) and is_static(data.shape) and is_static(ids.shape):
        ctx.fail(f"segment_ids shape {ids.shape} is not a prefix of the data shape {data.shape}")
    head = None if n is None else int(np.asarray(n).reshape(-1)[0])
    if head is not None and head < 0:
        ctx.fail(f"num_segments must be >= 0, got {head}")
    return [TensorType(data.dtype, (head,) + tuple(data.shape[len(ids.shape):]))]


for _kind in ("sum", "prod", "max", "min"):
    defop(f"core.unsorted_segment_{_kind}",
          doc=f"TF UnsortedSegment{_kind.capitalize()}: the {_kind} of the data rows with the same segment id, for ids "
              f"0..num_segments-1 (an empty segment holds the {_kind}'s identity; negative ids are dropped).",
          operands=["data", "segment_ids", "num_segments"], infer=_infer_segment, kernel=_segment_kernel(_kind),
          category=CATEGORY)


# -- bucketize ------------------------------------------------------------------------------------


def bucketize(x, boundaries):
    """The index of the bucket of each element: ``boundaries[i-1] <= x < boundaries[i]``."""
    return np.searchsorted(np.asarray(boundaries, np.float64), np.asarray(x), side="right").astype(np.int32)


def _infer_bucketize(ctx):
    b = list(ctx.attrs["boundaries"])
    if b != sorted(b):
        ctx.fail("boundaries must be sorted")
    return [TensorType(DType.INT32, ctx.types[0].shape)]


defop("core.bucketize", doc="TF Bucketize: the int32 index i of the bucket boundaries[i-1] <= x < boundaries[i].",
      operands=["x"], attrs={"boundaries": Attr("floats", doc="sorted bucket boundaries")},
      infer=_infer_bucketize, kernel=bucketize, category=CATEGORY)


# -- matrix_set_diag --------------------------------------------------------------------------------


def matrix_set_diag(x, diagonal):
    """``x`` with its main diagonal (over the last two axes) replaced by ``diagonal``."""
    out = np.array(x, copy=True)
    k = min(out.shape[-2:])
    idx = np.arange(k)
    out[..., idx, idx] = np.asarray(diagonal)[..., :k]
    return out


def _infer_matrix_set_diag(ctx):
    x, d = ctx.types
    if x.shape is not None and len(x.shape) < 2:
        ctx.fail(f"expects a matrix (rank >= 2), got rank {len(x.shape)}")
    if x.shape is not None and d.shape is not None and len(d.shape) != len(x.shape) - 1:
        ctx.fail(f"diagonal rank {len(d.shape)} must be the input rank minus one ({len(x.shape) - 1})")
    return [x]


defop("core.matrix_set_diag", doc="TF MatrixSetDiagV3 with k = 0: the input with its main diagonal replaced.",
      operands=["x", "diagonal"], infer=_infer_matrix_set_diag, kernel=matrix_set_diag, category=CATEGORY)


# -- broadcast_args -----------------------------------------------------------------------------------


def broadcast_args(s0, s1):
    """The broadcast of two shapes given as 1-D int tensors."""
    s0 = np.asarray(s0)
    return np.asarray(np.broadcast_shapes(tuple(int(d) for d in s0), tuple(int(d) for d in np.asarray(s1))), s0.dtype)


def _infer_broadcast_args(ctx):
    a, b = ctx.types
    if a.dtype not in (DType.INT32, DType.INT64) or b.dtype is not a.dtype:
        ctx.fail(f"expects two int32 or two int64 shapes, got {a.dtype} and {b.dtype}")
    n = None if a.shape is None or b.shape is None or None in (a.shape + b.shape) else max(a.shape[0], b.shape[0])
    return [TensorType(a.dtype, (n,))]


defop("core.broadcast_args", doc="TF BroadcastArgs: the shape two shapes broadcast to.",
      operands=["s0", "s1"], infer=_infer_broadcast_args, kernel=broadcast_args, category=CATEGORY)


# -- bitcast --------------------------------------------------------------------------------------------


def bitcast(x, dtype):
    """The same bytes read as ``dtype`` (same element width)."""
    return np.asarray(x).view(dtype.np)


def _infer_bitcast(ctx):
    x, dtype = ctx.types[0], ctx.attrs["dtype"]
    if np.dtype(dtype.np).itemsize != np.dtype(x.dtype.np).itemsize:
        ctx.fail(f"{x.dtype} and {dtype} differ in width; only same-width bitcasts are declared")
    return [TensorType(dtype, x.shape)]


defop("core.bitcast", doc="TF Bitcast between element types of the same width: the same bytes, another dtype.",
      operands=["x"], attrs={"dtype": Attr("dtype", doc="the element type to read the bytes as")},
      infer=_infer_bitcast, kernel=bitcast, category=CATEGORY)


# -- sparse_to_dense -----------------------------------------------------------------------------------


def sparse_to_dense(indices, output_shape, values, default_value):
    """A tensor of ``output_shape`` filled with ``default_value``, ``values`` (or one scalar) at ``indices``
    (a scalar or [n] for rank 1, [n, rank] otherwise)."""
    shape = [int(d) for d in np.asarray(output_shape).reshape(-1)]
    values = np.asarray(values)
    out = np.full(shape, np.asarray(default_value).reshape(()), values.dtype)
    idx = np.asarray(indices).reshape(-1, len(shape)) if len(shape) > 1 else np.asarray(indices).reshape(-1, 1)
    out[tuple(idx[:, i] for i in range(idx.shape[1]))] = values.reshape(-1) if values.ndim else values
    return out


def _infer_sparse_to_dense(ctx):
    indices, _, values, default = ctx.types
    if indices.dtype not in (DType.INT32, DType.INT64):
        ctx.fail(f"sparse_indices must be int32 or int64, got {indices.dtype}")
    if values.dtype is not default.dtype:
        ctx.fail(f"sparse_values ({values.dtype}) and default_value ({default.dtype}) differ in dtype")
    return [TensorType(values.dtype, _shape_operand(ctx, 1))]


defop("core.sparse_to_dense", doc="TF SparseToDense: default_value everywhere but at sparse_indices, which take "
      "sparse_values (a scalar applies to all); output_shape is shape-like.",
      operands=["sparse_indices", "output_shape", "sparse_values", "default_value"],
      infer=_infer_sparse_to_dense, kernel=sparse_to_dense, category=CATEGORY)
