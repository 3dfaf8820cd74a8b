"""Shape and data-movement ops: reshape, transpose, slicing, gathers, padding...

Shape-like operands (reshape target, slice begin/size, paddings, ...) are
tensors; inference uses their value when it is a constant and gives unknown
dims otherwise. ``normalize_strided_slice`` is public: passes that rewrite
strided slices reuse it so they agree with TF on all five masks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..dtypes import DType
from ..registry import Attr, defop
from ..types import Shape, TensorType
from ._common import broadcast_shapes, const_ints, const_scalar, norm_axis, np_dtype, vector_length


def _t(dtype, shape) -> TensorType:
    return TensorType(dtype, shape)


def _unknown_dims(n: Optional[int]) -> Shape:
    return None if n is None else (None,) * n


# -- reshape ------------------------------------------------------------------


def _infer_reshape(ctx):
    x, shape_t = ctx.types
    target = const_ints(ctx, 1)
    if target is None:
        return [_t(x.dtype, _unknown_dims(vector_length(shape_t)))]
    if sum(d == -1 for d in target) > 1 or any(d < -1 for d in target):
        ctx.fail(f"target shape {target} may hold at most one -1 and no other negative dims")
    count = None if x.shape is None or None in x.shape else int(np.prod(x.shape, dtype=np.int64))
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
        if count is None:
            return [_t(x.dtype, [None if d == -1 else d for d in target])]
        if known == 0 or count % known:
            ctx.fail(f"cannot reshape {count} elements into {target}")
        target = [count // known if d == -1 else d for d in target]
    elif count is not None and count != int(np.prod(target, dtype=np.int64)):
        ctx.fail(f"cannot reshape {count} elements into {target}")
    return [_t(x.dtype, target)]


defop(
    "core.reshape",
    batch_axis="reshape",
    doc="Same elements (row-major order) in a new shape; `shape` is 1-D int with at most one -1.",
    operands=["x", "shape"],
    infer=_infer_reshape,
    kernel=lambda x, shape: np.reshape(x, [int(d) for d in np.asarray(shape).reshape(-1)]),
    category="shape",
)

# -- transpose ----------------------------------------------------------------


def _infer_transpose(ctx):
    x, perm_t = ctx.types
    perm = const_ints(ctx, 1)
    if perm is None:
        return [_t(x.dtype, _unknown_dims(x.rank if x.rank is not None else vector_length(perm_t)))]
    if x.shape is not None and sorted(p % max(len(x.shape), 1) for p in perm) != list(range(len(x.shape))):
        ctx.fail(f"perm {perm} is not a permutation of the {len(x.shape)} input dims")
    if x.shape is None:
        return [_t(x.dtype, _unknown_dims(len(perm)))]
    return [_t(x.dtype, [x.shape[p] for p in perm])]


defop(
    "core.transpose",
    batch_axis="transpose",
    doc="Permutes dims: result dim i is input dim perm[i].",
    operands=["x", "perm"],
    infer=_infer_transpose,
    kernel=lambda x, perm: np.transpose(x, [int(p) for p in np.asarray(perm).reshape(-1)]),
    category="shape",
)

# -- concat / split / pack / unpack --------------------------------------------


def _same_rank_shapes(ctx):
    """The known operand shapes of a variadic op (concat, pack), checked to share one rank;
    None when no operand has a known rank."""
    if not ctx.types:
        ctx.fail("needs at least one operand")
    shapes = [t.shape for t in ctx.types if t.shape is not None]
    if shapes and any(len(s) != len(shapes[0]) for s in shapes):
        ctx.fail(f"operands have different ranks: {[len(s) for s in shapes]}")
    return shapes or None


def _agreed_dim(ctx, shapes, i):
    known = {s[i] for s in shapes if s[i] is not None}
    if len(known) > 1:
        ctx.fail(f"operands differ in dim {i}: {sorted(known)}")
    return known.pop() if known else None


def _infer_concat(ctx):
    dtype = ctx.types[0].dtype if ctx.types else None
    shapes = _same_rank_shapes(ctx)
    if shapes is None:
        return [_t(dtype, None)]
    rank = len(shapes[0])
    axis = norm_axis(ctx, ctx.attrs["axis"], rank)
    out = []
    for i in range(rank):
        if i == axis:
            dims = [s[i] for s in shapes]
            out.append(None if None in dims or len(shapes) < len(ctx.types) else sum(dims))
        else:
            out.append(_agreed_dim(ctx, shapes, i))
    return [_t(dtype, out)]


defop(
    "core.concat",
    batch_axis="concat",
    doc="Joins the operands along `axis`; all other dims must agree.",
    operands=["*values"],
    attrs={"axis": Attr("int", doc="negative counts from the end")},
    infer=_infer_concat,
    kernel=lambda *values, axis: np.concatenate(values, axis=axis),
    category="shape",
)


def _split_sizes(ctx, dim: Optional[int], sizes: Sequence[int]) -> List[Optional[int]]:
    if sum(s == -1 for s in sizes) > 1 or any(s < -1 for s in sizes):
        ctx.fail(f"sizes {list(sizes)} may hold at most one -1 and no other negative value")
    known = sum(s for s in sizes if s != -1)
    if -1 not in sizes:
        if dim is not None and known != dim:
            ctx.fail(f"sizes {list(sizes)} add up to {known}, the split dim has {dim}")
        return list(sizes)
    if dim is None:
        return [None if s == -1 else s for s in sizes]
    if known > dim:
        ctx.fail(f"sizes {list(sizes)} exceed the split dim {dim}")
    return [dim - known if s == -1 else s for s in sizes]


def _infer_split(ctx):
    x = ctx.types[0]
    sizes = list(ctx.attrs["sizes"])
    if not sizes:
        ctx.fail("sizes must not be empty")
    if x.shape is None:
        return [_t(x.dtype, None) for _ in sizes]
    axis = norm_axis(ctx, ctx.attrs["axis"], len(x.shape))
    resolved = _split_sizes(ctx, x.shape[axis], sizes)
    return [_t(x.dtype, x.shape[:axis] + (s,) + x.shape[axis + 1 :]) for s in resolved]


def _split(x, axis, sizes):
    sizes = list(sizes)
    if -1 in sizes:
        i = sizes.index(-1)
        sizes[i] = x.shape[axis] - (sum(sizes) + 1)
    return _results(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _results(parts: List[np.ndarray]):
    """A multi-result kernel returns a list, but a single result bare (the interpreter's convention)."""
    return parts[0] if len(parts) == 1 else parts


defop(
    "core.split",
    batch_axis="split",
    doc="Cuts `x` along `axis` into len(sizes) pieces; one size may be -1 (the rest). TF Split is sizes all equal.",
    operands=["x"],
    attrs={"axis": Attr("int"), "sizes": Attr("ints", doc="piece sizes along axis")},
    infer=_infer_split,
    kernel=_split,
    category="shape",
)


def _infer_pack(ctx):
    dtype = ctx.types[0].dtype if ctx.types else None
    shapes = _same_rank_shapes(ctx)
    if shapes is None:
        return [_t(dtype, None)]
    rank = len(shapes[0])
    elem = [_agreed_dim(ctx, shapes, i) for i in range(rank)]
    axis = norm_axis(ctx, ctx.attrs["axis"], rank + 1)
    return [_t(dtype, elem[:axis] + [len(ctx.types)] + elem[axis:])]


defop(
    "core.pack",
    batch_axis="pack",
    doc="Stacks N tensors of equal shape into one with a new dim of size N at `axis` (TF Pack/stack).",
    operands=["*values"],
    attrs={"axis": Attr("int", 0)},
    infer=_infer_pack,
    kernel=lambda *values, axis=0: np.stack(values, axis=axis),
    category="shape",
)


def _infer_unpack(ctx):
    x = ctx.types[0]
    num = ctx.attrs["num"]
    if num < 0:
        ctx.fail(f"num must be >= 0, got {num}")
    if x.shape is None:
        return [_t(x.dtype, None) for _ in range(num)]
    axis = norm_axis(ctx, ctx.attrs["axis"], len(x.shape))
    if x.shape[axis] is not None and x.shape[axis] != num:
        ctx.fail(f"num={num} but dim {axis} has size {x.shape[axis]}")
    return [_t(x.dtype, x.shape[:axis] + x.shape[axis + 1 :]) for _ in range(num)]


defop(
    "core.unpack",
    batch_axis="unpack",
    doc="Splits `x` along `axis` into `num` tensors with that dim removed (TF Unpack/unstack).",
    operands=["x"],
    attrs={"axis": Attr("int", 0), "num": Attr("int", doc="size of dim axis = number of results")},
    infer=_infer_unpack,
    kernel=lambda x, axis=0, num=None: _results([np.take(x, i, axis=axis) for i in range(x.shape[axis])]),
    category="shape",
)

# -- slice ----------------------------------------------------------------------


def _infer_slice(ctx):
    x = ctx.types[0]
    for i, what in ((1, "begin"), (2, "size")):
        if ctx.types[i].rank not in (None, 1):  # TFLite SLICE wants vectors (LiteRT refused a scalar begin)
            ctx.fail(f"{what} must be a 1-D vector, got {ctx.types[i]}")
    begin, size = const_ints(ctx, 1), const_ints(ctx, 2)
    rank = x.rank if x.rank is not None else vector_length(ctx.types[1]) or vector_length(ctx.types[2])
    if size is None:
        return [_t(x.dtype, _unknown_dims(rank))]
    if x.shape is not None and len(size) != len(x.shape):
        ctx.fail(f"size {size} does not match input rank {len(x.shape)}")
    out = []
    for i, s in enumerate(size):
        if s >= 0:
            dim = None if x.shape is None else x.shape[i]
            if dim is not None and begin is not None and begin[i] + s > dim:
                ctx.fail(f"slice [{begin[i]}, {begin[i] + s}) is out of bounds for dim {i} of size {dim}")
            out.append(s)
        elif s == -1 and begin is not None and x.shape is not None and x.shape[i] is not None:
            out.append(x.shape[i] - begin[i])
        else:
            out.append(None)
    return [_t(x.dtype, out)]


def _slice(x, begin, size):
    begin = [int(b) for b in np.asarray(begin).reshape(-1)]
    size = [int(s) for s in np.asarray(size).reshape(-1)]
    return x[tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size))]


defop(
    "core.slice",
    batch_axis="per_dim_operands",
    doc="x[begin : begin + size] in every dim; size -1 means to the end.",
    operands=["x", "begin", "size"],
    infer=_infer_slice,
    kernel=_slice,
    category="shape",
)



def _infer_dynamic_update_slice(ctx):
    x, update, start = ctx.types
    if update.dtype is not x.dtype:
        ctx.fail(f"update dtype {update.dtype} differs from the operand's {x.dtype}")
    if x.rank is not None and update.rank is not None and update.rank != x.rank:
        ctx.fail(f"update rank {update.rank} differs from the operand's {x.rank}")
    if not start.dtype.is_int or start.rank != 1:
        ctx.fail(f"start indices must be a 1-D integer tensor, got {start}")
    return [x]


def dynamic_update_slice(x, update, start):
    out = np.array(x, copy=True)
    at = [int(s) for s in np.asarray(start).reshape(-1)]
    at = [min(max(a, 0), d - u) for a, d, u in zip(at, out.shape, np.shape(update))]  # clamped, as XLA and TFLite do
    out[tuple(slice(a, a + u) for a, u in zip(at, np.shape(update)))] = update
    return out


defop(
    "core.dynamic_update_slice",
    doc="""`x` with the block `update` written at `start` (one index per dim, run-time values),
    each index clamped so the block fits (XLA / TFLite DYNAMIC_UPDATE_SLICE). What a tensor
    list's set_item becomes once the list is a tensor (lower-tensor-lists).""",
    operands=["x", "update", "start"],
    infer=_infer_dynamic_update_slice,
    kernel=dynamic_update_slice,
    category="shape",
)

# -- strided slice --------------------------------------------------------------

NEW_AXIS = -1  # in ``StridedSliceSpec.output_dims``: a dim inserted by new_axis_mask


@dataclass(frozen=True)
class StridedSliceSpec:
    """A strided slice resolved against an input shape, as TF resolves it.

    Per input dim: ``begin``/``end``/``strides`` are canonical (non-negative
    begin; ``end`` -1 means "past index 0" for a negative stride), or None
    where the dim is unknown. ``shrink`` marks input dims removed from the
    result. ``output_dims`` lists, per result dim, the input dim it comes from
    or ``NEW_AXIS``. ``sizes`` is the slice size per input dim (None unknown),
    and ``shape`` the result shape."""

    begin: Tuple[Optional[int], ...]
    end: Tuple[Optional[int], ...]
    strides: Tuple[int, ...]
    shrink: Tuple[bool, ...]
    output_dims: Tuple[int, ...]
    sizes: Tuple[Optional[int], ...]
    shape: Tuple[Optional[int], ...]

    def slices(self) -> Tuple[slice, ...]:
        """Python slices (one per input dim) selecting the elements; needs known dims."""
        out = []
        for b, e, s, n in zip(self.begin, self.end, self.strides, self.sizes):
            if b is None:
                raise ValueError("strided slice over an unknown dim")
            # -1 is "before index 0" here, not Python's "last element".
            out.append(slice(0, 0) if n == 0 else slice(b, e if e >= 0 else None, s))
        return tuple(out)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.reshape(x[self.slices()], self.shape)


class StridedSliceError(ValueError):
    """A strided-slice spec TF rejects (bad masks, index out of bounds, zero stride)."""


def normalize_strided_slice(
    input_shape: Sequence[Optional[int]],
    begin: Sequence[int],
    end: Sequence[int],
    strides: Sequence[int],
    begin_mask: int = 0,
    end_mask: int = 0,
    ellipsis_mask: int = 0,
    new_axis_mask: int = 0,
    shrink_axis_mask: int = 0,
) -> StridedSliceSpec:
    """Resolve a TF strided-slice spec against ``input_shape`` (rank known, dims may be None).

    Follows tensorflow/core/util/strided_slice_op.cc: the sparse spec (with
    at most one ellipsis, implicitly one at the end) expands to one entry per
    input dim; new-axis bits win over shrink bits; masked bounds take the
    full range in the stride's direction; shrunk dims take exactly index
    ``begin``. Raises StridedSliceError where TF raises."""
    begin, end, strides = [int(v) for v in begin], [int(v) for v in end], [int(v) for v in strides]
    n = len(begin)
    if len(end) != n or len(strides) != n:
        raise StridedSliceError(f"begin, end and strides differ in length: {len(begin)}, {len(end)}, {len(strides)}")
    if ellipsis_mask & (ellipsis_mask - 1):
        raise StridedSliceError("only one ellipsis (one bit of ellipsis_mask) is allowed")
    rank = len(input_shape)
    bit = lambda mask, i: bool(mask & (1 << i))  # noqa: E731

    # Sparse -> dense: one entry per input dim, plus the layout of the result.
    sparse_dims = n
    if not any(bit(ellipsis_mask, i) for i in range(n)):
        ellipsis_mask |= 1 << n
        sparse_dims += 1
    seen_ellipsis, new_after_ellipsis = False, 0
    for i in range(n):
        if seen_ellipsis and bit(new_axis_mask, i):
            new_after_ellipsis += 1
        if bit(ellipsis_mask, i):
            seen_ellipsis = True
    d_begin = [0] * rank
    d_end = [0] * rank
    d_stride = [1] * rank
    d_bmask = [False] * rank
    d_emask = [False] * rank
    d_shrink = [False] * rank
    layout: List[int] = []  # per sparse-expanded result dim: input dim, NEW_AXIS, or -2 (shrunk)
    full = 0
    for i in range(sparse_dims):
        if bit(ellipsis_mask, i):
            stop = min(rank - (sparse_dims - i) + 1 + new_after_ellipsis, rank)
            while full < stop:
                d_bmask[full] = d_emask[full] = True
                layout.append(full)
                full += 1
        elif bit(new_axis_mask, i):
            layout.append(NEW_AXIS)
        else:
            if full == rank:
                raise StridedSliceError(f"index out of range using input dim {full}; input has only {rank} dims")
            d_begin[full], d_end[full], d_stride[full] = begin[i], end[i], strides[i]
            d_bmask[full], d_emask[full] = bit(begin_mask, i), bit(end_mask, i)
            if bit(shrink_axis_mask, i):
                d_shrink[full] = True
                layout.append(-2)
            else:
                layout.append(full)
            full += 1

    # Canonicalize each dense dim.
    out_begin: List[Optional[int]] = []
    out_end: List[Optional[int]] = []
    sizes: List[Optional[int]] = []
    for i in range(rank):
        dim, s = input_shape[i], d_stride[i]
        if s == 0:
            raise StridedSliceError(f"strides[{i}] must be non-zero")
        if d_shrink[i] and s <= 0:
            raise StridedSliceError("only stride 1 allowed on non-range indexing")
        if dim is None:
            out_begin.append(None)
            out_end.append(None)
            sizes.append(1 if d_shrink[i] else None)
            continue
        if d_shrink[i]:
            b = d_begin[i] + dim if d_begin[i] < 0 else d_begin[i]
            if not 0 <= b < dim:
                raise StridedSliceError(f"slice index {d_begin[i]} of dimension {i} out of bounds (size {dim})")
            out_begin.append(b)
            out_end.append(b + 1)
            sizes.append(1)
            continue
        b = _canonical_bound(d_begin[i], d_bmask[i], False, dim, s)
        e = _canonical_bound(d_end[i], d_emask[i], True, dim, s)
        interval = e - b
        if interval == 0 or (interval < 0) != (s < 0):
            size = 0
        else:
            size = (abs(interval) + abs(s) - 1) // abs(s)
        out_begin.append(b)
        out_end.append(e)
        sizes.append(size)

    output_dims = tuple(d for d in layout if d != -2)
    shape = tuple(1 if d == NEW_AXIS else sizes[d] for d in output_dims)
    return StridedSliceSpec(
        tuple(out_begin), tuple(out_end), tuple(d_stride), tuple(d_shrink), output_dims, tuple(sizes), shape
    )


def _canonical_bound(x: int, masked: bool, is_end: bool, dim: int, stride: int) -> int:
    """A begin/end index made non-negative and clamped to the range the stride walks
    ([0, dim] forward, [-1, dim - 1] backward); a masked bound takes the far end."""
    lo, hi = (0, dim) if stride > 0 else (-1, dim - 1)
    if masked:
        return (hi if is_end else lo) if stride > 0 else (lo if is_end else hi)
    x = x + dim if x < 0 else x
    return min(max(x, lo), hi)


_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def strided_slice_shape_unknown_bounds(input_shape: Sequence[Optional[int]], n: int, masks) -> Shape:
    """The result shape of a strided slice whose bounds are known only by their count ``n``.

    The masks alone fix the layout (which dims are shrunk, new, or kept), so the rank is known;
    the dims the ellipsis (explicit, or implicit after the last entry) covers keep their size,
    and each dim an entry names is unknown. Why: ``tf.vectorized_map`` slices ``x[i]`` with
    run-time bounds, and what its loop writes must keep a known rank."""
    rank = len(input_shape)
    spec = normalize_strided_slice((None,) * rank, [0] * n, [0] * n, [1] * n, **masks)
    ellipsis, new_axes = masks["ellipsis_mask"], masks["new_axis_mask"]
    at = next((i for i in range(n) if ellipsis >> i & 1), n)
    named = lambda lo, hi: sum(1 for i in range(lo, hi) if not new_axes >> i & 1)  # noqa: E731
    first, last = named(0, at), rank - named(at + 1, n)
    return tuple(1 if d == NEW_AXIS else input_shape[d] if first <= d < last else None for d in spec.output_dims)


def _infer_strided_slice(ctx):
    x = ctx.types[0]
    begin, end, strides = const_ints(ctx, 1), const_ints(ctx, 2), const_ints(ctx, 3)
    if x.shape is not None and (begin is None or end is None or strides is None):
        n = {vector_length(t) for t in ctx.types[1:4]}
        masks = {m: ctx.attrs[m] for m in _MASKS}
        if len(n) == 1 and None not in n:
            try:
                return [_t(x.dtype, strided_slice_shape_unknown_bounds(x.shape, n.pop(), masks))]
            except StridedSliceError as e:
                ctx.fail(str(e))
    if x.shape is None or begin is None or end is None or strides is None:
        return [_t(x.dtype, None)]
    try:
        spec = normalize_strided_slice(x.shape, begin, end, strides, **{m: ctx.attrs[m] for m in _MASKS})
    except StridedSliceError as e:
        ctx.fail(str(e))
    return [_t(x.dtype, spec.shape)]


def _strided_slice(x, begin, end, strides, **masks):
    spec = normalize_strided_slice(
        x.shape, np.asarray(begin).reshape(-1), np.asarray(end).reshape(-1), np.asarray(strides).reshape(-1), **masks
    )
    return spec.apply(x)


defop(
    "core.strided_slice",
    batch_axis="strided_slice",
    doc="""TF StridedSlice: x[begin:end:strides] per dim with all five masks
    (begin/end masks take the full range, one ellipsis, new axes, shrunk
    axes). See ``normalize_strided_slice`` for the exact resolution.""",
    operands=["x", "begin", "end", "strides"],
    attrs={m: Attr("int", 0, "bit i applies to spec entry i") for m in _MASKS},
    infer=_infer_strided_slice,
    kernel=_strided_slice,
    category="shape",
)

# -- gather ---------------------------------------------------------------------


def _infer_gather(ctx):
    params, indices = ctx.types
    if params.shape is None or indices.shape is None:
        return [_t(params.dtype, None)]
    axis = norm_axis(ctx, ctx.attrs["axis"], len(params.shape))
    bd = ctx.attrs["batch_dims"]
    bd = bd + len(indices.shape) if bd < 0 else bd
    if not 0 <= bd <= min(axis, len(indices.shape)):
        ctx.fail(f"batch_dims {ctx.attrs['batch_dims']} must be in [0, min(axis, rank(indices))]")
    n = params.shape[axis]
    known = const_ints(ctx, 1) if n is not None else None
    if known and not all(-n <= i < n for i in known):  # a kernel would fail (a difftest finding: of an empty dim)
        ctx.fail(f"constant indices {sorted(set(known))[:8]} out of range for a dim of size {n}")
    return [_t(params.dtype, params.shape[:axis] + indices.shape[bd:] + params.shape[axis + 1 :])]


def _gather(params, indices, axis=0, batch_dims=0):
    axis = axis + params.ndim if axis < 0 else axis
    bd = batch_dims + indices.ndim if batch_dims < 0 else batch_dims
    if bd == 0:
        return np.take(params, indices, axis=axis)
    batch = params.shape[:bd]
    p = params.reshape((-1,) + params.shape[bd:])
    ix = indices.reshape((-1,) + indices.shape[bd:])
    out = np.stack([np.take(p[i], ix[i], axis=axis - bd) for i in range(p.shape[0])])
    return out.reshape(batch + out.shape[1:])


defop(
    "core.gather",
    batch_axis="gather",
    doc="""TF GatherV2: slices of `params` along `axis` picked by `indices`;
    the first `batch_dims` dims of both are matched batch dims.""",
    operands=["params", "indices"],
    attrs={"axis": Attr("int", 0), "batch_dims": Attr("int", 0)},
    infer=_infer_gather,
    kernel=_gather,
    category="shape",
)


def _infer_gather_nd(ctx):
    params, indices = ctx.types
    bd = ctx.attrs["batch_dims"]
    if params.shape is None or indices.shape is None:
        return [_t(params.dtype, None)]
    if len(indices.shape) < 1:
        ctx.fail("indices must have rank >= 1")
    k = indices.shape[-1]
    if k is None:
        return [_t(params.dtype, None)]
    if bd + k > len(params.shape):
        ctx.fail(f"index depth {k} (+ batch_dims {bd}) exceeds params rank {len(params.shape)}")
    return [_t(params.dtype, indices.shape[:-1] + params.shape[bd + k :])]


def _gather_nd(params, indices, batch_dims=0):
    if batch_dims == 0:
        return params[tuple(np.moveaxis(indices, -1, 0))]
    batch = params.shape[:batch_dims]
    p = params.reshape((-1,) + params.shape[batch_dims:])
    ix = indices.reshape((-1,) + indices.shape[batch_dims:])
    out = np.stack([p[i][tuple(np.moveaxis(ix[i], -1, 0))] for i in range(p.shape[0])])
    return out.reshape(batch + out.shape[1:])


defop(
    "core.gather_nd",
    doc="""TF GatherNd: the last dim of `indices` indexes the leading dims of
    `params` (after `batch_dims` matched batch dims).""",
    operands=["params", "indices"],
    attrs={"batch_dims": Attr("int", 0)},
    infer=_infer_gather_nd,
    kernel=_gather_nd,
    category="shape",
)

# -- pad / tile / broadcast / reverse ---------------------------------------------


def _infer_pad(ctx):
    x = ctx.types[0]
    if ctx.attrs["mode"] not in ("CONSTANT", "REFLECT", "SYMMETRIC"):
        ctx.fail(f"mode must be CONSTANT, REFLECT or SYMMETRIC, got {ctx.attrs['mode']!r}")
    pads = const_ints(ctx, 1)
    p_t = ctx.types[1]
    if p_t.shape is not None and (len(p_t.shape) != 2 or p_t.shape[1] not in (None, 2)
                                  or None not in (x.rank, p_t.shape[0]) and p_t.shape[0] != x.rank):
        ctx.fail(f"paddings must have shape [{x.rank if x.rank is not None else 'rank'}, 2], got {p_t}")
    rank = x.rank if x.rank is not None else (p_t.shape[0] if p_t.shape else None)
    if pads is None or x.shape is None:
        return [_t(x.dtype, _unknown_dims(rank))]
    if len(pads) != 2 * len(x.shape):
        ctx.fail(f"paddings must have shape [{len(x.shape)}, 2], got {len(pads)} values")
    if min(pads, default=0) < 0:
        ctx.fail(f"paddings must be non-negative, got {pads}")
    return [_t(x.dtype, [None if d is None else d + pads[2 * i] + pads[2 * i + 1] for i, d in enumerate(x.shape)])]


def _pad(x, paddings, constant_value=None, mode="CONSTANT"):
    pads = np.asarray(paddings).reshape(-1, 2).tolist()
    if not pads:  # a scalar: nothing to pad (np.pad rejects an empty pad list; a difftest finding)
        return np.array(x, copy=True)
    if mode == "CONSTANT":
        value = 0 if constant_value is None else np.asarray(constant_value).reshape(-1)[0]
        return np.pad(x, pads, mode="constant", constant_values=value)
    return np.pad(x, pads, mode=mode.lower())


defop(
    "core.pad",
    batch_axis="per_dim_operands",
    doc="""Pads each dim by paddings[i] = [before, after]: with constant_value
    (default 0), or mirrored (REFLECT excludes the edge, SYMMETRIC repeats it).""",
    operands=["x", "paddings", "?constant_value"],
    attrs={"mode": Attr("str", "CONSTANT", "CONSTANT, REFLECT or SYMMETRIC")},
    infer=_infer_pad,
    kernel=_pad,
    category="shape",
)


def _infer_tile(ctx):
    x = ctx.types[0]
    mult = const_ints(ctx, 1)
    if x.shape is None:
        return [_t(x.dtype, _unknown_dims(vector_length(ctx.types[1])))]
    if mult is None:
        return [_t(x.dtype, _unknown_dims(len(x.shape)))]
    if len(mult) != len(x.shape):
        ctx.fail(f"multiples {mult} must have one entry per input dim ({len(x.shape)})")
    return [_t(x.dtype, [None if d is None else d * m for d, m in zip(x.shape, mult)])]


defop(
    "core.tile",
    batch_axis="per_dim_operands",
    doc="Repeats `x` multiples[i] times along dim i.",
    operands=["x", "multiples"],
    infer=_infer_tile,
    kernel=lambda x, multiples: np.tile(x, [int(m) for m in np.asarray(multiples).reshape(-1)]),
    category="shape",
)


def _infer_broadcast_to(ctx):
    x = ctx.types[0]
    target = const_ints(ctx, 1)
    if target is None:
        return [_t(x.dtype, _unknown_dims(vector_length(ctx.types[1])))]
    if x.shape is not None and len(x.shape) > len(target):
        ctx.fail(f"cannot broadcast rank {len(x.shape)} to shape {target}")
    shape = broadcast_shapes(ctx, x.shape, tuple(target)) if x.shape is not None else tuple(target)
    if shape is not None and list(shape) != target and None not in shape:
        ctx.fail(f"cannot broadcast {list(x.shape)} to {target}")
    return [_t(x.dtype, target)]


defop(
    "core.broadcast_to",
    batch_axis="broadcast_to",
    doc="Broadcasts `x` (numpy rules) to `shape`.",
    operands=["x", "shape"],
    infer=_infer_broadcast_to,
    kernel=lambda x, shape: np.broadcast_to(x, [int(d) for d in np.asarray(shape).reshape(-1)]).copy(),
    category="shape",
)


def _infer_reverse(ctx):
    x = ctx.types[0]
    if x.shape is not None:
        axes = [norm_axis(ctx, a, len(x.shape), "axes entry") for a in ctx.attrs["axes"]]
        if len(set(axes)) != len(axes):
            ctx.fail(f"axes {list(ctx.attrs['axes'])} repeat a dim")
    return [_t(x.dtype, x.shape)]


defop(
    "core.reverse",
    batch_axis="reverse",
    doc="Reverses the order of elements along each of `axes`.",
    operands=["x"],
    attrs={"axes": Attr("ints")},
    infer=_infer_reverse,
    kernel=lambda x, axes: np.flip(x, axis=tuple(axes)) if len(axes) else x,
    category="shape",
)

# -- space_to_batch_nd / batch_to_space_nd ------------------------------------------
# TF writes a dilated convolution as SpaceToBatchND -> conv -> BatchToSpaceND;
# the TFLite backend fuses the three back into one dilated conv.


def _block_pairs(ctx, x: TensorType, pairs_name: str) -> Tuple[Optional[List[int]], Optional[List[Tuple[int, int]]]]:
    """Constant block_shape (operand 1) and [M, 2] pairs (operand 2), checked as TF checks them; None where not constant."""
    block, flat = const_ints(ctx, 1), const_ints(ctx, 2)
    m = len(block) if block is not None else vector_length(ctx.types[1])
    if block is not None and min(block, default=1) < 1:
        ctx.fail(f"block_shape must be positive, got {block}")
    if m is not None and x.shape is not None and len(x.shape) < 1 + m:
        ctx.fail(f"input rank {len(x.shape)} is less than 1 + {m} block dims")
    pairs = None
    if flat is not None:
        if m is not None and len(flat) != 2 * m:
            ctx.fail(f"{pairs_name} must have shape [{m}, 2], got {len(flat)} values")
        if min(flat, default=0) < 0:
            ctx.fail(f"{pairs_name} must be non-negative, got {flat}")
        pairs = [(flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)]
    return block, pairs


def _infer_space_to_batch(ctx):
    x = ctx.types[0]
    block, pads = _block_pairs(ctx, x, "paddings")
    if x.shape is None:
        return [_t(x.dtype, None)]
    if block is None:
        return [_t(x.dtype, _unknown_dims(len(x.shape)))]
    m, n = len(block), x.shape[0]
    spatial = []
    for i, b in enumerate(block):
        d = x.shape[1 + i]
        if d is None or pads is None:
            spatial.append(None)
            continue
        padded = d + pads[i][0] + pads[i][1]
        if padded % b:
            ctx.fail(f"padded dim {1 + i} has size {padded}, not a multiple of block size {b}")
        spatial.append(padded // b)
    batch = None if n is None else n * int(np.prod(block, dtype=np.int64))
    return [_t(x.dtype, (batch,) + tuple(spatial) + tuple(x.shape[1 + m :]))]


def space_to_batch_nd(x, block_shape, paddings):
    """TF SpaceToBatchND: zero-pad the M spatial dims, then move each block's offset into the batch
    (result batch index = offset * N + n)."""
    block = [int(b) for b in np.asarray(block_shape).reshape(-1)]
    m = len(block)
    pads = np.asarray(paddings, np.int64).reshape(m, 2).tolist()
    x = np.pad(x, [(0, 0)] + pads + [(0, 0)] * (x.ndim - 1 - m))
    n, rest = x.shape[0], list(x.shape[1 + m :])
    outer = [d // b for d, b in zip(x.shape[1 : 1 + m], block)]
    y = x.reshape([n] + [v for o, b in zip(outer, block) for v in (o, b)] + rest)
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + list(range(1 + 2 * m, y.ndim))
    return y.transpose(perm).reshape([n * int(np.prod(block, dtype=np.int64))] + outer + rest)


defop(
    "core.space_to_batch_nd",
    batch_axis="space_batch",
    doc="""TF SpaceToBatchND: zero-pads the M dims after the batch by paddings
    [M, 2], then splits each into blocks of block_shape[i] and moves the
    offsets within a block into the batch: [N, *spatial, *rest] ->
    [N * prod(block_shape), *(padded / block_shape), *rest].""",
    operands=["x", "block_shape", "paddings"],
    infer=_infer_space_to_batch,
    kernel=space_to_batch_nd,
    category="shape",
)


def _infer_batch_to_space(ctx):
    x = ctx.types[0]
    block, crops = _block_pairs(ctx, x, "crops")
    if x.shape is None:
        return [_t(x.dtype, None)]
    if block is None:
        return [_t(x.dtype, _unknown_dims(len(x.shape)))]
    m, n = len(block), x.shape[0]
    blocks = int(np.prod(block, dtype=np.int64))
    if n is not None and n % blocks:
        ctx.fail(f"batch {n} is not a multiple of prod(block_shape) = {blocks}")
    spatial = []
    for i, b in enumerate(block):
        d = x.shape[1 + i]
        if d is None or crops is None:
            spatial.append(None)
            continue
        size = d * b - crops[i][0] - crops[i][1]
        if size < 0:
            ctx.fail(f"crops {list(crops[i])} exceed dim {1 + i} of size {d * b}")
        spatial.append(size)
    return [_t(x.dtype, (None if n is None else n // blocks,) + tuple(spatial) + tuple(x.shape[1 + m :]))]


def batch_to_space_nd(x, block_shape, crops):
    """TF BatchToSpaceND, the inverse of ``space_to_batch_nd``: interleave the batch blocks back
    into the M spatial dims, then crop."""
    block = [int(b) for b in np.asarray(block_shape).reshape(-1)]
    m = len(block)
    crops = np.asarray(crops, np.int64).reshape(m, 2).tolist()
    n = x.shape[0] // int(np.prod(block, dtype=np.int64))
    spatial, rest = list(x.shape[1 : 1 + m]), list(x.shape[1 + m :])
    y = x.reshape(block + [n] + spatial + rest)
    perm = [m] + [v for i in range(m) for v in (m + 1 + i, i)] + list(range(1 + 2 * m, y.ndim))
    y = y.transpose(perm).reshape([n] + [d * b for d, b in zip(spatial, block)] + rest)
    return y[(slice(None),) + tuple(slice(c0, d * b - c1) for (c0, c1), d, b in zip(crops, spatial, block))]


defop(
    "core.batch_to_space_nd",
    batch_axis="space_batch",
    doc="""TF BatchToSpaceND, the inverse of space_to_batch_nd: moves blocks of
    the batch back into the M dims after it, then crops each by crops
    [M, 2]: [N * prod(block_shape), *spatial, *rest] ->
    [N, *(spatial * block_shape - crops), *rest].""",
    operands=["x", "block_shape", "crops"],
    infer=_infer_batch_to_space,
    kernel=batch_to_space_nd,
    category="shape",
)

# -- expand_dims / squeeze -----------------------------------------------------


def _infer_expand_dims(ctx):
    x = ctx.types[0]
    if x.shape is None:
        return [_t(x.dtype, None)]
    axis = norm_axis(ctx, ctx.attrs["axis"], len(x.shape) + 1)
    return [_t(x.dtype, x.shape[:axis] + (1,) + x.shape[axis:])]


defop(
    "core.expand_dims",
    batch_axis="expand_dims",
    doc="Inserts a dim of size 1 at `axis` (negative counts from the end of the result).",
    operands=["x"],
    attrs={"axis": Attr("int")},
    infer=_infer_expand_dims,
    kernel=lambda x, axis: np.expand_dims(x, axis),
    category="shape",
)


def _infer_squeeze(ctx):
    x = ctx.types[0]
    if x.shape is None:
        return [_t(x.dtype, None)]
    axes = [norm_axis(ctx, a, len(x.shape), "axes entry") for a in ctx.attrs["axes"]]
    if not axes:
        if None in x.shape:
            return [_t(x.dtype, None)]  # which unknown dims are 1 decides the rank
        return [_t(x.dtype, [d for d in x.shape if d != 1])]
    for a in axes:
        if x.shape[a] is not None and x.shape[a] != 1:
            ctx.fail(f"cannot squeeze dim {a} of size {x.shape[a]}")
    return [_t(x.dtype, [d for i, d in enumerate(x.shape) if i not in axes])]


defop(
    "core.squeeze",
    batch_axis="squeeze",
    doc="Removes the size-1 dims listed in `axes`, or every size-1 dim when `axes` is empty.",
    operands=["x"],
    attrs={"axes": Attr("ints", [], "[] = all size-1 dims")},
    infer=_infer_squeeze,
    kernel=lambda x, axes=(): np.squeeze(x, axis=tuple(axes) if len(axes) else None),
    category="shape",
)

# -- one_hot ----------------------------------------------------------------------


def _infer_one_hot(ctx):
    indices, _, on, off = ctx.types
    if on.dtype is not off.dtype:
        ctx.fail(f"on_value ({on.dtype}) and off_value ({off.dtype}) must have the same dtype")
    depth = const_scalar(ctx, 1)
    if indices.shape is None:
        return [_t(on.dtype, None)]
    axis = ctx.attrs["axis"]
    rank = len(indices.shape) + 1
    if axis != -1:
        axis = norm_axis(ctx, axis, rank)
    else:
        axis = rank - 1
    shape = list(indices.shape)
    shape.insert(axis, None if depth is None else int(depth))
    return [_t(on.dtype, shape)]


def _one_hot(indices, depth, on_value, off_value, axis=-1):
    depth = int(np.asarray(depth).reshape(-1)[0])
    hot = np.asarray(indices)[..., None] == np.arange(depth)
    out = np.where(hot, on_value, off_value).astype(np.asarray(on_value).dtype)
    return np.moveaxis(out, -1, axis) if axis != -1 else out


defop(
    "core.one_hot",
    doc="""One-hot encoding: a new dim of size `depth` at `axis` holds on_value
    where its position equals the index, off_value elsewhere (out-of-range
    indices give all off_value).""",
    operands=["indices", "depth", "on_value", "off_value"],
    attrs={"axis": Attr("int", -1, "-1 appends the new dim")},
    infer=_infer_one_hot,
    kernel=_one_hot,
    category="shape",
)

# -- shape arithmetic --------------------------------------------------------------


def _int_result_dtype(ctx, key: str = "dtype") -> DType:
    dtype = ctx.attrs[key]
    if dtype not in (DType.INT32, DType.INT64):
        ctx.fail(f"{key} must be i32 or i64, got {dtype}")
    return dtype


defop(
    "core.shape",
    batch_axis="shape_of",
    doc="The shape of `x` as a 1-D integer tensor.",
    operands=["x"],
    attrs={"dtype": Attr("dtype", DType.INT32, "i32 or i64")},
    infer=lambda ctx: [_t(_int_result_dtype(ctx), (ctx.types[0].rank,))],
    kernel=lambda x, dtype=DType.INT32: np.asarray(np.shape(x), np_dtype(dtype)),
    category="shape arithmetic",
)

defop(
    "core.size",
    batch_axis="size_of",
    doc="The number of elements of `x` as an integer scalar.",
    operands=["x"],
    attrs={"dtype": Attr("dtype", DType.INT32, "i32 or i64")},
    infer=lambda ctx: [_t(_int_result_dtype(ctx), ())],
    kernel=lambda x, dtype=DType.INT32: np.asarray(np.size(x), np_dtype(dtype)),
    category="shape arithmetic",
)

defop(
    "core.rank",
    batch_axis="shape_of",
    doc="The number of dims of `x` as an i32 scalar.",
    operands=["x"],
    infer=lambda ctx: [_t(DType.INT32, ())],
    kernel=lambda x: np.asarray(np.ndim(x), np.int32),
    category="shape arithmetic",
)


def _infer_fill(ctx):
    dims_t, value_t = ctx.types
    if value_t.shape is not None and len(value_t.shape) != 0:
        ctx.fail(f"value must be a scalar, got rank {len(value_t.shape)}")
    dims = const_ints(ctx, 0)
    if dims is None:
        return [_t(value_t.dtype, _unknown_dims(vector_length(dims_t)))]
    if min(dims, default=0) < 0:
        ctx.fail(f"dims must be non-negative, got {dims}")
    return [_t(value_t.dtype, dims)]


defop(
    "core.fill",
    batch_axis="fill",
    doc="A tensor of shape `dims` filled with the scalar `value`.",
    operands=["dims", "value"],
    infer=_infer_fill,
    kernel=lambda dims, value: np.full([int(d) for d in np.asarray(dims).reshape(-1)], value, np.asarray(value).dtype),
    category="shape arithmetic",
)


def _range_size(start, limit, delta) -> int:
    if delta == 0:
        raise ValueError("delta must be non-zero")
    if isinstance(start, float) or isinstance(limit, float) or isinstance(delta, float):
        return max(int(np.ceil(abs((limit - start) / delta))), 0) if (limit - start) * delta > 0 else 0
    if (limit - start) * delta <= 0:
        return 0
    return (abs(limit - start) + abs(delta) - 1) // abs(delta)


def _infer_range(ctx):
    dtype = ctx.types[0].dtype
    vals = [const_scalar(ctx, i) for i in range(3)]
    if any(v is None for v in vals):
        return [_t(dtype, (None,))]
    try:
        return [_t(dtype, (_range_size(*vals),))]
    except ValueError as e:
        ctx.fail(str(e))


def _range(start, limit, delta):
    dtype = np.asarray(start).dtype
    start, limit, delta = (np.asarray(v).item() for v in (start, limit, delta))
    n = _range_size(start, limit, delta)
    return (np.asarray(start, dtype) + np.arange(n, dtype=dtype) * np.asarray(delta, dtype)).astype(dtype)


defop(
    "core.range",
    doc="[start, start + delta, ...] up to but excluding `limit` (scalars of one dtype; TF Range).",
    operands=["start", "limit", "delta"],
    infer=_infer_range,
    kernel=_range,
    category="shape arithmetic",
)
