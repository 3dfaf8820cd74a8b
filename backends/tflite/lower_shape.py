"""Lowerings of data movement, reductions and shape arithmetic.

With static shapes expand_dims/squeeze/reshape all become one RESHAPE to the
known output shape, and shape/size/rank become constants. With unknown dims
(``dynamic_dims.py``) they lower as TF's converter writes them: a RESHAPE to a
constant with one ``-1`` or to the shape tensor the graph computes (SHAPE,
STRIDED_SLICE, PACK...), EXPAND_DIMS / SQUEEZE, and SHAPE for the shape
queries. Axis attributes become the int32 constant operands TFLite expects.
"""
from __future__ import annotations

import numpy as np

from litesmith.ir.dtypes import DType
from litesmith.ir.types import TensorType, is_static

from .legalize import UNSUPPORTED_ATTR
from .lower import cast_attrs, lowers, normalize_axis

_I32 = DType.INT32


def _copy(node, lw, x):
    """``x`` as the node's result; a RESHAPE copy when a graph output may not take ``x`` over."""
    if lw.rw.can_replace(node.output, x):
        return [x]
    if not is_static(x.shape):
        return [lw.op("tfl.reshape", [x, _shape_of(lw, x)])]
    return [lw.reshape(x, node.output.shape)]


def _one_unknown(shape) -> bool:
    return shape is not None and sum(d is None for d in shape) == 1


def _same_dims(a, b) -> bool:
    """Shapes that surely hold the same dims (an unknown one is the same when it is the only one)."""
    return a is not None and tuple(a) == tuple(b) and (is_static(a) or _one_unknown(a))


def _target(shape):
    """A reshape target with one unknown dim as TFLite's ``-1``."""
    return [-1 if d is None else int(d) for d in shape]


def _shape_of(lw, x):
    """SHAPE(x): ``x``'s dims at run time, int32."""
    return lw.op("tfl.shape", [x], {"out_type": _I32}, [TensorType(_I32, (x.rank,))])


@lowers("core.identity")
def lower_identity(node, lw):
    return _copy(node, lw, node.inputs[0])


@lowers("core.reshape", "core.expand_dims", "core.squeeze")
def lower_reshape(node, lw):
    x, out = node.inputs[0], node.output.shape
    if _same_dims(x.shape, out):
        return _copy(node, lw, x)
    if is_static(out):
        return [lw.op("tfl.reshape", [x, lw.i32(list(out))])]
    if _one_unknown(out):
        return [lw.op("tfl.reshape", [x, lw.i32(_target(out))])]
    if node.op == "core.reshape":  # several unknown dims: the shape tensor the graph computes
        return [lw.op("tfl.reshape", [x, lw.as_i32(node.inputs[1])])]
    if node.op == "core.expand_dims":
        return [lw.op("tfl.expand_dims", [x, lw.i32(normalize_axis(int(node.attrs["axis"]), len(out)))])]
    axes = [normalize_axis(int(a), x.rank) for a in node.attrs.get("axes") or []]
    if not axes:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    return [lw.op("tfl.squeeze", [x], {"squeeze_dims": axes})]


@lowers("core.transpose")
def lower_transpose(node, lw):
    x, perm = node.inputs
    if x.rank == 0:  # nothing to permute (LiteRT's TRANSPOSE of a scalar reads garbage: a difftest finding)
        return _copy(node, lw, x)
    return [lw.op("tfl.transpose", [x, lw.as_i32(perm)])]


@lowers("core.concat")
def lower_concat(node, lw):
    axis = normalize_axis(node.attr("axis"), node.output.rank)
    return [lw.op("tfl.concatenation", node.inputs, {"axis": axis, "fused_activation_function": "NONE"})]


@lowers("core.split")
def lower_split(node, lw):
    (x,) = node.inputs
    axis = normalize_axis(node.attr("axis"), x.rank)
    sizes = [v.shape[axis] for v in node.outputs]  # static: -1 already resolved by inference
    n = len(sizes)
    if x.dtype is DType.BOOL:  # LiteRT's SPLIT and SPLIT_V have no bool kernel (a difftest finding); SLICE has
        begins = np.cumsum([0] + sizes[:-1])
        return [lw.op("tfl.slice", [x, lw.i32([int(b) if i == axis else 0 for i in range(x.rank)]),
                                    lw.i32([size if i == axis else -1 for i in range(x.rank)])], {}, [v.type])
                for b, size, v in zip(begins, sizes, node.outputs)]
    if len(set(sizes)) == 1:
        return lw.ops("tfl.split", [lw.i32(axis), x], {"num_splits": n})
    return lw.ops("tfl.split_v", [x, lw.i32(sizes), lw.i32(axis)], {"num_splits": n})


@lowers("core.slice")
def lower_slice(node, lw):
    x, begin, size = node.inputs
    if x.shape is not None and len(x.shape) == 0:  # a slice of a scalar is the scalar; LiteRT's
        return _copy(node, lw, x)                    # XNNPACK refuses a rank-0 SLICE (difftest finding)
    return [lw.op("tfl.slice", [x, lw.as_i32(begin), lw.as_i32(size)])]


@lowers("core.strided_slice")
def lower_strided_slice(node, lw):
    x, begin, end, strides = node.inputs
    attrs = {k: int(node.attrs.get(k, 0)) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}
    attrs["offset"] = False
    return [lw.op("tfl.strided_slice", [x, lw.as_i32(begin), lw.as_i32(end), lw.as_i32(strides)], attrs)]


@lowers("core.gather")
def lower_gather(node, lw):
    params, indices = node.inputs
    axis = normalize_axis(int(node.attrs.get("axis", 0)), params.rank)
    batch_dims = int(node.attrs.get("batch_dims", 0))
    if batch_dims < 0:
        batch_dims += indices.rank
    return [lw.op("tfl.gather", [params, indices], {"axis": axis, "batch_dims": batch_dims})]


@lowers("core.gather_nd")
def lower_gather_nd(node, lw):
    if int(node.attrs.get("batch_dims", 0)) != 0:
        lw.fail(UNSUPPORTED_ATTR, "gather_nd with batch_dims != 0 (TFLite GATHER_ND has none)")
    return [lw.op("tfl.gather_nd", node.inputs)]


@lowers("core.pad")
def lower_pad(node, lw):
    x, paddings = node.inputs[:2]
    if x.rank == 0:  # nothing to pad (the tflite reference kernel rejects an empty paddings list)
        return _copy(node, lw, x)
    paddings = lw.as_i32(paddings)
    mode = node.attrs.get("mode", "CONSTANT")
    if mode in ("REFLECT", "SYMMETRIC"):
        return [lw.op("tfl.mirror_pad", [x, paddings], {"mode": mode})]
    if mode != "CONSTANT":
        lw.fail(UNSUPPORTED_ATTR, f"pad mode {mode!r}")
    if len(node.inputs) == 3:
        value = node.inputs[2]
        c = value.const_value()
        if c is None or np.any(c != 0):
            if value.rank not in (0, 1) and value.rank is not None:
                lw.fail(UNSUPPORTED_ATTR, "pad constant_value must be a scalar")
            return [lw.op("tfl.padv2", [x, paddings, value])]
    return [lw.op("tfl.pad", [x, paddings])]


@lowers("core.tile")
def lower_tile(node, lw):
    x, multiples = node.inputs
    return [lw.op("tfl.tile", [x, lw.as_i32(multiples)])]


@lowers("core.broadcast_to")
def lower_broadcast_to(node, lw):
    x, shape = node.inputs
    if is_static(x.shape) and tuple(x.shape) == tuple(node.output.shape):  # an unknown dim may be 1 and grow
        return _copy(node, lw, x)
    if not is_static(node.output.shape):
        return [lw.op("tfl.broadcast_to", [x, lw.as_i32(shape)])]
    return [lw.op("tfl.broadcast_to", [x, lw.i32(list(node.output.shape))])]


@lowers("core.space_to_batch_nd", "core.batch_to_space_nd")
def lower_space_batch(node, lw):
    """SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND take [N, 1 or 2 block dims, C]: other trailing dims are
    merged into (or a size-1 C added as) that one C by RESHAPEs around the op. A dilated conv
    between the two is fused back into one conv (fusions.py)."""
    x, block_v, pairs_v = node.inputs
    block = [int(b) for b in lw.need_const(block_v, "block_shape").reshape(-1)]
    pairs = lw.need_const(pairs_v, "paddings/crops").reshape(-1, 2)
    m = len(block)
    if m not in (1, 2):
        lw.fail(UNSUPPORTED_ATTR, f"{m} block dims (TFLite has 1 or 2)")
    op = "tfl.space_to_batch_nd" if node.op == "core.space_to_batch_nd" else "tfl.batch_to_space_nd"
    operands = [lw.i32(block), lw.i32(pairs)]
    if x.rank == m + 2:
        return [lw.op(op, [x] + operands)]
    channels = int(np.prod(x.shape[1 + m :], dtype=np.int64))
    out = node.output.shape
    y = lw.op(op, [lw.reshape(x, tuple(x.shape[: 1 + m]) + (channels,))] + operands, {},
              [node.output.type.with_shape(tuple(out[: 1 + m]) + (channels,))])
    return [lw.reshape(y, out)]


@lowers("core.pack")
def lower_pack(node, lw):
    axis = normalize_axis(int(node.attrs.get("axis", 0)), node.output.rank)
    if node.output.dtype is DType.BOOL and is_static(node.output.shape):
        # LiteRT's PACK has no bool kernel (a difftest finding); CONCATENATION has one
        shape = [d for i, d in enumerate(node.output.shape) if i != axis]
        shape.insert(axis, 1)
        parts = [lw.reshape(v, tuple(shape)) for v in node.inputs]
        return [lw.op("tfl.concatenation", parts, {"axis": axis, "fused_activation_function": "NONE"})]
    return [lw.op("tfl.pack", node.inputs, {"axis": axis})]


@lowers("core.unpack")
def lower_unpack(node, lw):
    (x,) = node.inputs
    axis = normalize_axis(int(node.attrs.get("axis", 0)), x.rank)
    return lw.ops("tfl.unpack", [x], {"num": len(node.outputs), "axis": axis})


@lowers("core.reverse")
def lower_reverse(node, lw):
    (x,) = node.inputs
    axes = sorted(normalize_axis(int(a), x.rank) for a in node.attrs["axes"])
    if not axes:
        return _copy(node, lw, x)
    return [lw.op("tfl.reverse_v2", [x, lw.i32(axes)])]


@lowers("core.one_hot")
def lower_one_hot(node, lw):
    indices, depth, on, off = node.inputs
    return [lw.op("tfl.one_hot", [indices, lw.as_i32(depth), on, off], {"axis": int(node.attrs.get("axis", -1))})]


REDUCTIONS = {
    "core.reduce_sum": "tfl.sum", "core.reduce_mean": "tfl.mean", "core.reduce_max": "tfl.reduce_max",
    "core.reduce_min": "tfl.reduce_min", "core.reduce_prod": "tfl.reduce_prod",
    "core.reduce_any": "tfl.reduce_any", "core.reduce_all": "tfl.reduce_all",
}


@lowers(*REDUCTIONS)
def lower_reduction(node, lw):
    (x,) = node.inputs
    axes = sorted({normalize_axis(int(a), x.rank) for a in node.attrs["axes"]})
    if not axes:
        return _copy(node, lw, x)
    keep = bool(node.attrs.get("keepdims", False))
    op = REDUCTIONS[node.op]
    if x.dtype is DType.BOOL:  # LiteRT's min/max have no bool kernel: over bools they are all/any
        op = BOOL_REDUCTIONS.get(op, op)
    wide = None
    if op == "tfl.reduce_prod" and x.dtype is DType.FLOAT16:  # no float16 kernel (an NNSmith finding)
        wide = DType.FLOAT32
    elif op in ("tfl.sum", "tfl.reduce_prod") and x.dtype in (DType.UINT8, DType.INT8, DType.INT16):
        # LiteRT sums 8/16-bit ints only as quantized tensors (SUM of a uint8 [1] holding 1 gave 0:
        # NNSmith s13/0105); in int32 and cast back it wraps as TF does (modulo 2^8 or 2^16)
        wide = DType.INT32
    if wide is not None:
        xw = lw.op("tfl.cast", [x], cast_attrs(x.dtype, wide), [x.type.with_dtype(wide)])
        red = lw.op(op, [xw, lw.i32(axes)], {"keep_dims": keep}, [node.output.type.with_dtype(wide)])
        return [lw.op("tfl.cast", [red], cast_attrs(wide, x.dtype), [node.output.type])]
    return [lw.op(op, [x, lw.i32(axes)], {"keep_dims": keep})]


BOOL_REDUCTIONS = {"tfl.reduce_min": "tfl.reduce_all", "tfl.reduce_max": "tfl.reduce_any"}


@lowers("core.argmax", "core.argmin")
def lower_arg(node, lw):
    (x,) = node.inputs
    axis = normalize_axis(node.attr("axis"), x.rank)
    op = "tfl.arg_max" if node.op == "core.argmax" else "tfl.arg_min"
    if x.dtype is DType.INT64:  # LiteRT's ARG_MAX/ARG_MIN refuse int64 (float32, int8/uint8/int32, bool)
        x, op = _extremum_mask(node, lw, x, axis), "tfl.arg_max"
    elif x.dtype is DType.INT16:  # and int16 ("Unknown input type: 7"): int32 holds it exactly
        x = lw.op("tfl.cast", [x], cast_attrs(DType.INT16, DType.INT32), [x.type.with_dtype(DType.INT32)])
    return [lw.op(op, [x, lw.i32(axis)], {"output_type": node.output.dtype})]


def _extremum_mask(node, lw, x, axis):
    """``x == max(x, axis)`` (min for argmin), exact in int64: ARG_MAX of that bool mask is the first
    index of the extremum, as TF's ArgMax/ArgMin give on ties."""
    keep = tuple(1 if i == axis else d for i, d in enumerate(x.shape))
    reduce = "tfl.reduce_max" if node.op == "core.argmax" else "tfl.reduce_min"
    m = lw.op(reduce, [x, lw.i32([axis])], {"keep_dims": True}, [x.type.with_shape(keep)])
    return lw.op("tfl.equal", [x, m], {}, [x.type.with_dtype(DType.BOOL)])


@lowers("core.top_k")
def lower_top_k(node, lw):
    x, k = node.inputs
    return lw.ops("tfl.topk_v2", [x, lw.as_i32(k)])


@lowers("core.cumsum")
def lower_cumsum(node, lw):
    (x,) = node.inputs
    axis = normalize_axis(node.attr("axis"), x.rank)
    attrs = {"exclusive": bool(node.attrs.get("exclusive")), "reverse": bool(node.attrs.get("reverse"))}
    return [lw.op("tfl.cumsum", [x, lw.i32(axis)], attrs)]


@lowers("core.shape", "core.size", "core.rank")
def lower_static_shape(node, lw):
    """Constants where the shape is static (the rank always is here); else SHAPE, and
    REDUCE_PROD of it for the size, cast to the result dtype where it is not i32."""
    x = node.inputs[0]
    shape = x.shape
    if node.op != "core.rank" and not is_static(shape):
        dims = _shape_of(lw, x)
        if node.op == "core.size":
            dims = lw.op("tfl.reduce_prod", [dims, lw.i32([0])], {"keep_dims": False}, [TensorType(_I32, ())])
        if node.output.dtype is _I32:
            return [dims]
        return [lw.op("tfl.cast", [dims], {"in_data_type": _I32, "out_data_type": node.output.dtype}, [node.output.type])]
    value = {"core.shape": list(shape), "core.size": int(np.prod(shape, dtype=np.int64)), "core.rank": len(shape)}[node.op]
    return [lw.const(np.asarray(value, dtype=node.output.dtype.np))]


@lowers("core.fill")
def lower_fill(node, lw):
    dims, value = node.inputs
    return [lw.op("tfl.fill", [lw.as_i32(dims), value])]


@lowers("core.range")
def lower_range(node, lw):
    return [lw.op("tfl.range", node.inputs)]

