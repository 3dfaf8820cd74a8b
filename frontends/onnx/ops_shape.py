"""ONNX shape and indexing ops: reshape, transpose, (un)squeeze, concat, split, slice, gather, pad...

Where an attribute became an input over the opsets (Squeeze/Unsqueeze axes and
Split sizes at 13, Slice starts/ends at 10, Pad pads at 11), both forms are
read; the input form must be constant (otherwise the node stays foreign).
ONNX index conventions (0 = copy a dim in Reshape, negative gather indices,
INT64_MAX slice ends) are resolved here against the static shapes.
"""
from __future__ import annotations

import numpy as np
from litesmith.ir.dtypes import DType

from .registry import BadNode, Unsupported, need_input, need_rank, onnx_op, static_shape
from .tensors import to_dtype

_I32_MAX = np.iinfo(np.int32).max


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise Unsupported(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


@onnx_op("Reshape", inputs=2)
def _reshape(ctx, node, inputs):
    x, shape_v = inputs
    shape = ctx.const_ints(shape_v, "shape")
    if not node.attr_int("allowzero", 0):
        for i, d in enumerate(shape):
            if d == 0:
                if x.shape is None or i >= len(x.shape) or x.shape[i] is None:
                    raise Unsupported("shape copies an unknown dim")
                shape[i] = x.shape[i]
    unit = _unit_dims_only(x.shape, shape)
    if unit is not None and x.const_value() is None:
        return [unit(ctx, x)]
    return [ctx.reshape(x, shape)]


def _unit_dims_only(src, target):
    """A squeeze or expand_dims when a reshape only drops or adds size-1 dims (exporters bake whole
    shapes into such reshapes: an axis op keeps working when strip-batch / unroll-rnn change the sizes)."""
    if src is None or None in src or target.count(-1) > 1:
        return None
    total = int(np.prod(src))
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        if known == 0 or total % known:
            return None
        target = [total // known if d == -1 else d for d in target]
    if list(src) == list(target):
        return lambda ctx, x: x
    longer, shorter = (list(src), list(target)) if len(src) > len(target) else (list(target), list(src))
    if len(longer) == len(shorter) or [d for d in longer if d != 1] != [d for d in shorter if d != 1]:
        return None
    extra, j = [], 0
    for i, d in enumerate(longer):
        if j < len(shorter) and shorter[j] == d:
            j += 1
        elif d == 1:
            extra.append(i)
        else:
            return None
    if j != len(shorter):
        return None
    if len(src) > len(target):
        return lambda ctx, x: ctx.op("core.squeeze", [x], {"axes": extra})

    def expand(ctx, x):
        for a in extra:
            x = ctx.op("core.expand_dims", [x], {"axis": a})
        return x

    return expand


@onnx_op("Flatten", inputs=1)
def _flatten(ctx, node, inputs):
    x = inputs[0]
    rank = need_rank(x)
    axis = node.attr_int("axis", 1)
    axis = axis + rank if axis < 0 else axis
    head, tail = x.shape[:axis], x.shape[axis:]
    if None not in head:
        shape = [int(np.prod(head)), -1]
    elif None not in tail:
        shape = [-1, int(np.prod(tail))]
    else:
        raise Unsupported("Flatten of a tensor with unknown dims on both sides of the axis")
    return [ctx.reshape(x, shape)]


@onnx_op("Transpose", inputs=1)
def _transpose(ctx, node, inputs):
    x = inputs[0]
    rank = need_rank(x)
    perm = node.attr_ints("perm", None) or list(reversed(range(rank)))
    return [ctx.transpose(x, perm)]


def _axes(ctx, node, inputs, key="axes"):
    """Axes from the attribute (before opset 13 for most ops) or the optional second input."""
    if len(inputs) > 1 and inputs[1] is not None:
        return ctx.const_ints(inputs[1], key)
    return node.attr_ints(key, None)


@onnx_op("Squeeze", inputs=(1, 2))
def _squeeze(ctx, node, inputs):
    x = inputs[0]
    axes = _axes(ctx, node, inputs) or []
    return [ctx.op("core.squeeze", [x], {"axes": axes})]


@onnx_op("Unsqueeze", inputs=(1, 2))
def _unsqueeze(ctx, node, inputs):
    x = inputs[0]
    axes = _axes(ctx, node, inputs)
    if not axes:
        raise Unsupported("Unsqueeze without axes")
    rank = need_rank(x) + len(axes)
    y = x
    for a in sorted(_axis(a, rank) for a in axes):
        y = ctx.op("core.expand_dims", [y], {"axis": a})
    return [y]


@onnx_op("Concat", inputs=(1, None))
def _concat(ctx, node, inputs):
    return [ctx.op("core.concat", [v for v in inputs if v is not None], {"axis": node.attr_int("axis")})]


@onnx_op("Split", inputs=(1, 2))
def _split(ctx, node, inputs):
    x = inputs[0]
    rank = need_rank(x)
    axis = _axis(node.attr_int("axis", 0), rank)
    sizes = _axes(ctx, node, inputs, "split")
    n = node.num_outputs
    if not sizes:
        dim = x.shape[axis]
        if dim is None:
            raise Unsupported("Split of an unknown dim")
        parts = node.attr_int("num_outputs", n)
        step = -(-dim // parts) if node.has("num_outputs") else dim // parts
        sizes = [min(step, dim - i * step) for i in range(parts)]
    outs = ctx.ops("core.split", [x], {"axis": axis, "sizes": sizes})
    return outs


def _slice_spec(x, starts, ends, axes, steps):
    """begin, end, strides and masks of a strided slice covering every dim of ``x``."""
    rank = need_rank(x)
    begin, end, strides = [0] * rank, [0] * rank, [1] * rank
    begin_mask = end_mask = 0
    touched = set()
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = _axis(a, rank)
        if a in touched:
            raise Unsupported("an axis is sliced twice")
        touched.add(a)
        if st == 0:
            raise Unsupported("step 0")
        dim = x.shape[a]
        strides[a] = st
        if dim is None:
            begin[a], end[a] = int(np.clip(s, -_I32_MAX, _I32_MAX)), int(np.clip(e, -_I32_MAX, _I32_MAX))
            continue
        # ONNX: negative values count from the end, then clamp ([0, dim] forward, [-1, dim - 1] backward).
        s = s + dim if s < 0 else s
        e = e + dim if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
        else:
            s, e = min(max(s, -1), dim - 1), min(max(e, -1), dim - 1)
            if e < 0:
                end_mask |= 1 << a  # through index 0
        begin[a], end[a] = s, e
    for a in range(rank):
        if a not in touched:
            begin_mask |= 1 << a
            end_mask |= 1 << a
    return begin, end, strides, begin_mask, end_mask


@onnx_op("Slice", inputs=(1, 5))
def _slice(ctx, node, inputs):
    x = inputs[0]
    rank = need_rank(x)
    if node.opset < 10:
        starts, ends = node.attr_ints("starts"), node.attr_ints("ends")
        axes = node.attr_ints("axes", None)
        steps = None
    else:
        starts = ctx.const_ints(need_input(inputs, 1, "starts", "Slice"), "starts")
        ends = ctx.const_ints(need_input(inputs, 2, "ends", "Slice"), "ends")
        axes = ctx.const_ints(inputs[3], "axes") if len(inputs) > 3 and inputs[3] is not None else None
        steps = ctx.const_ints(inputs[4], "steps") if len(inputs) > 4 and inputs[4] is not None else None
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise Unsupported("starts, ends, axes and steps differ in length")
    begin, end, strides, bm, em = _slice_spec(x, starts, ends, axes, steps)
    if rank == 0:
        return [x]
    return [ctx.op("core.strided_slice", [x, ctx.i32(begin), ctx.i32(end), ctx.i32(strides)],
                   {"begin_mask": bm, "end_mask": em})]


def _normalized_indices(ctx, indices, dim):
    """Indices with negative entries counted from the end (ONNX allows them, TFLite does not)."""
    c = indices.const_value()
    if c is not None:
        if dim is None:
            if np.any(c < 0):
                raise Unsupported("negative indices into an unknown dim")
            return ctx.const(c.astype(np.int32) if c.dtype == np.int64 and np.all(np.abs(c) < _I32_MAX) else c)
        if np.any(c >= dim) or np.any(c < -dim):
            raise Unsupported("an index is out of range")
        return ctx.const(np.where(c < 0, c + dim, c).astype(np.int32))
    if dim is None:
        return indices
    zero = ctx.const(np.asarray(0, indices.dtype.np))
    wrapped = ctx.op("core.add", [indices, ctx.const(np.asarray(dim, indices.dtype.np))])
    return ctx.op("core.select", [ctx.op("core.less", [indices, zero]), wrapped, indices])


@onnx_op("Gather", inputs=2)
def _gather(ctx, node, inputs):
    x, indices = inputs
    rank = need_rank(x)
    axis = _axis(node.attr_int("axis", 0), rank)
    idx = _normalized_indices(ctx, indices, x.shape[axis])
    return [ctx.op("core.gather", [x, idx], {"axis": axis})]


@onnx_op("GatherElements", inputs=2)
def _gather_elements(ctx, node, inputs):
    x, indices = inputs
    rank = need_rank(x)
    axis = _axis(node.attr_int("axis", 0), rank)
    ishape = static_shape(indices, "indices")
    idx = _normalized_indices(ctx, indices, x.shape[axis])
    grids = np.indices(ishape).astype(np.int32)
    parts = []
    for d in range(rank):
        parts.append(ctx.op("core.expand_dims", [idx], {"axis": -1}) if d == axis
                     else ctx.const(grids[d][..., None]))
    if idx.dtype is not DType.INT32:
        parts = [p if p.dtype is DType.INT32 else ctx.op("core.cast", [p], {"dtype": DType.INT32}) for p in parts]
    return [ctx.op("core.gather_nd", [x, ctx.op("core.concat", parts, {"axis": -1})])]


@onnx_op("GatherND", inputs=2)
def _gather_nd(ctx, node, inputs):
    x, indices = inputs
    c = indices.const_value()
    if c is not None and np.any(c < 0):
        raise Unsupported("negative GatherND indices")
    return [ctx.op("core.gather_nd", [x, indices], {"batch_dims": node.attr_int("batch_dims", 0)})]


@onnx_op("Expand", inputs=2)
def _expand(ctx, node, inputs):
    x, shape_v = inputs
    shape = ctx.const_ints(shape_v, "shape")
    xs = static_shape(x)
    try:
        target = list(np.broadcast_shapes(tuple(xs), tuple(shape)))
    except ValueError:
        raise Unsupported("shape does not broadcast") from None
    if target == list(xs):
        return [x]
    return [ctx.op("core.broadcast_to", [x, ctx.i32(target)])]


@onnx_op("Tile", inputs=2)
def _tile(ctx, node, inputs):
    return [ctx.op("core.tile", inputs)]


@onnx_op("Pad", inputs=(1, 4))
def _pad(ctx, node, inputs):
    x = inputs[0]
    rank = need_rank(x)
    mode = node.attr_str("mode", "constant")
    if node.opset < 11:
        pads = node.attr_ints("pads" if node.has("pads") else "paddings")
        value = node.attr_float("value", 0.0)
        value_v = ctx.scalar_like(x, value)
        axes = list(range(rank))
    else:
        pads = ctx.const_ints(need_input(inputs, 1, "pads", "Pad"), "pads")
        value_v = inputs[2] if len(inputs) > 2 and inputs[2] is not None else ctx.scalar_like(x, 0)
        axes = ctx.const_ints(inputs[3], "axes") if len(inputs) > 3 and inputs[3] is not None else list(range(rank))
    if len(pads) != 2 * len(axes):
        raise Unsupported("pads do not match the axes")
    full = np.zeros((rank, 2), np.int64)
    for i, a in enumerate(axes):
        full[_axis(a, rank)] = [pads[i], pads[i + len(axes)]]
    crop = np.minimum(full, 0)
    full = np.maximum(full, 0)
    if mode == "constant":
        if value_v.shape not in ((), (1,)) and value_v.shape is not None:
            raise Unsupported("a non-scalar pad value")
        if value_v.rank == 1:
            value_v = ctx.reshape(value_v, [])
        y = ctx.op("core.pad", [x, ctx.i32(full), value_v]) if full.any() else x
    elif mode == "reflect":
        y = ctx.op("core.pad", [x, ctx.i32(full)], {"mode": "REFLECT"}) if full.any() else x
    elif mode == "edge":
        y = _edge_pad(ctx, x, full)
    else:
        raise Unsupported(f"mode={mode}")
    if crop.any():
        shape = static_shape(y)
        begin = [-int(c) for c in crop[:, 0]]
        size = [shape[d] + int(crop[d, 0]) + int(crop[d, 1]) for d in range(rank)]
        y = ctx.op("core.slice", [y, ctx.i32(begin), ctx.i32(size)])
    return [y]


def _edge_pad(ctx, x, full):
    """Replicate the border: concat the first/last slice, broadcast to the pad width, on each axis."""
    y = x
    for axis, (before, after) in enumerate(full):
        if not before and not after:
            continue
        shape = list(static_shape(y))
        parts = []
        if before:
            edge = ctx.op("core.slice", [y, ctx.i32([0] * len(shape)), ctx.i32(shape[:axis] + [1] + shape[axis + 1:])])
            parts.append(ctx.op("core.broadcast_to", [edge, ctx.i32(shape[:axis] + [int(before)] + shape[axis + 1:])]))
        parts.append(y)
        if after:
            start = [0] * len(shape)
            start[axis] = shape[axis] - 1
            edge = ctx.op("core.slice", [y, ctx.i32(start), ctx.i32(shape[:axis] + [1] + shape[axis + 1:])])
            parts.append(ctx.op("core.broadcast_to", [edge, ctx.i32(shape[:axis] + [int(after)] + shape[axis + 1:])]))
        y = ctx.op("core.concat", parts, {"axis": axis})
    return y


@onnx_op("Shape", inputs=1)
def _shape(ctx, node, inputs):
    x = inputs[0]
    rank = need_rank(x)
    start, end = node.attr_int("start", 0), node.attr_int("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    dims = x.shape[start:end]
    if None not in dims:
        return [ctx.const(np.asarray(dims, np.int64).reshape(-1))]
    full = ctx.op("core.shape", [x], {"dtype": DType.INT64})
    if (start, end) == (0, rank):
        return [full]
    return [ctx.op("core.slice", [full, ctx.i32([start]), ctx.i32([max(end - start, 0)])])]


@onnx_op("Size", inputs=1)
def _size(ctx, node, inputs):
    x = inputs[0]
    if x.shape is not None and None not in x.shape:
        return [ctx.const(np.asarray(int(np.prod(x.shape)), np.int64))]
    return [ctx.op("core.size", [x], {"dtype": DType.INT64})]


@onnx_op("ConstantOfShape", inputs=1)
def _constant_of_shape(ctx, node, inputs):
    value = node.attr_tensor("value", None)
    value = np.zeros(1, np.float32) if value is None else value
    if value.size != 1:
        raise Unsupported("value must hold one element")
    scalar = ctx.const(value.reshape(()))
    c = inputs[0].const_value()
    if c is not None and np.any(np.asarray(c) < 0):
        raise BadNode(f"ConstantOfShape to a shape with negative dims {np.asarray(c).tolist()}")
    if c is not None and int(np.prod(c)) <= 1 << 20:
        return [ctx.const(np.full([int(d) for d in c.reshape(-1)], value.reshape(()), dtype=value.dtype))]
    return [ctx.op("core.fill", [inputs[0], scalar])]


@onnx_op("Constant", inputs=0)
def _constant(ctx, node, inputs):
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64), ("value_string", object),
                       ("value_strings", object)):
        if node.has(key):
            v = node.attrs[key]
            if dtype is None:
                if not isinstance(v, np.ndarray):
                    raise Unsupported("value is not a tensor")
                return [ctx.const(v)]
            return [ctx.const(np.asarray(v, dtype=dtype))]
    raise Unsupported("no supported value attribute (sparse_value?)")


@onnx_op("Range", inputs=3)
def _range(ctx, node, inputs):
    return [ctx.op("core.range", inputs)]


@onnx_op("OneHot", inputs=3)
def _one_hot(ctx, node, inputs):
    indices, depth_v, values = inputs
    depth = int(np.asarray(ctx.const_value(depth_v, "depth")).reshape(-1)[0])
    vals = ctx.const_value(values, "values").reshape(-1)
    if vals.size != 2:
        raise Unsupported("values must hold [off, on]")
    if indices.dtype.is_float:
        indices = ctx.op("core.cast", [indices], {"dtype": DType.INT64})
    zero = ctx.const(np.asarray(0, indices.dtype.np))
    wrapped = ctx.op("core.add", [indices, ctx.const(np.asarray(depth, indices.dtype.np))])
    indices = ctx.op("core.select", [ctx.op("core.less", [indices, zero]), wrapped, indices])
    return [ctx.op("core.one_hot", [indices, ctx.i32(depth), ctx.const(vals[1:2].reshape(())),
                                    ctx.const(vals[0:1].reshape(()))], {"axis": node.attr_int("axis", -1)})]


@onnx_op("TopK", inputs=(1, 2))
def _top_k(ctx, node, inputs):
    x = inputs[0]
    rank = need_rank(x)
    k = node.attr_int("k") if node.opset < 10 else int(ctx.const_ints(need_input(inputs, 1, "K", "TopK"), "k")[0])
    axis = _axis(node.attr_int("axis", -1), rank)
    largest = node.attr_int("largest", 1)
    if not node.attr_int("sorted", 1):
        pass  # any order is allowed; sorted is one
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    y = x if axis == rank - 1 else ctx.transpose(x, perm)
    if not largest:
        if not x.dtype.is_float:
            raise Unsupported("smallest-k of integers")
        y = ctx.op("core.neg", [y])
    values, indices = ctx.ops("core.top_k", [y, ctx.i32(k)])
    if not largest:
        values = ctx.op("core.neg", [values])
    if axis != rank - 1:
        values, indices = ctx.transpose(values, perm), ctx.transpose(indices, perm)
    return [values, ctx.op("core.cast", [indices], {"dtype": DType.INT64})]


def _d2s_perm(mode: str):
    return [0, 3, 4, 1, 5, 2] if mode == "DCR" else [0, 1, 4, 2, 5, 3]


@onnx_op("DepthToSpace", inputs=1)
def _depth_to_space(ctx, node, inputs):
    x = inputs[0]
    n, c, h, w = static_shape(x)
    b = node.attr_int("blocksize")
    mode = node.attr_str("mode", "DCR")
    if b < 1 or c % (b * b) or mode not in ("DCR", "CRD"):
        raise Unsupported(f"blocksize {b} / mode {mode}")
    shape = [n, b, b, c // (b * b), h, w] if mode == "DCR" else [n, c // (b * b), b, b, h, w]
    t = ctx.transpose(ctx.reshape(x, shape), _d2s_perm(mode))
    return [ctx.reshape(t, [n, c // (b * b), h * b, w * b])]


@onnx_op("SpaceToDepth", inputs=1)
def _space_to_depth(ctx, node, inputs):
    x = inputs[0]
    n, c, h, w = static_shape(x)
    b = node.attr_int("blocksize")
    mode = node.attr_str("mode", "DCR")
    if b < 1 or h % b or w % b or mode not in ("DCR", "CRD"):
        raise Unsupported(f"blocksize {b} / mode {mode}")
    perm = [0, 3, 5, 1, 2, 4] if mode == "DCR" else [0, 1, 3, 5, 2, 4]
    t = ctx.transpose(ctx.reshape(x, [n, c, h // b, b, w // b, b]), perm)
    return [ctx.reshape(t, [n, c * b * b, h // b, w // b])]


@onnx_op("CumSum", inputs=2)
def _cumsum(ctx, node, inputs):
    x, axis_v = inputs
    axis = int(ctx.const_ints(axis_v, "axis")[0])
    return [ctx.op("core.cumsum", [x], {"axis": axis, "exclusive": bool(node.attr_int("exclusive", 0)),
                                         "reverse": bool(node.attr_int("reverse", 0))})]


@onnx_op("Trilu", inputs=(1, 2))
def _trilu(ctx, node, inputs):
    x = inputs[0]
    shape = static_shape(x)
    if len(shape) < 2:
        raise Unsupported("Trilu of a rank < 2 tensor")
    k = int(ctx.const_ints(inputs[1], "k")[0]) if len(inputs) > 1 and inputs[1] is not None else 0
    rows, cols = shape[-2:]
    mask = np.triu(np.ones((rows, cols), bool), k) if node.attr_int("upper", 1) else \
        np.tril(np.ones((rows, cols), bool), k)
    zero = ctx.const(np.zeros((), x.dtype.np))
    return [ctx.op("core.select", [ctx.const(mask), x, zero])]


@onnx_op("EyeLike", inputs=1)
def _eye_like(ctx, node, inputs):
    x = inputs[0]
    shape = static_shape(x)
    if len(shape) != 2:
        raise Unsupported("EyeLike of a rank != 2 tensor")
    dtype = to_dtype(node.attr_int("dtype"), "EyeLike dtype").np if node.has("dtype") else x.dtype.np
    return [ctx.const(np.eye(shape[0], shape[1], node.attr_int("k", 0), dtype=dtype))]

