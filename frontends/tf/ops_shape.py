"""TF shape, data-movement and reduction ops.

Axis-like inputs become core attributes, so they must be constant; when one
is not, ``ctx.const_*`` raises and the node stays foreign until relifted.
"""
from __future__ import annotations

import numpy as np
from litesmith.ir.dtypes import DType

from .mapper import BadAttr, tf_op


def _same(core_op, n_operands):
    return lambda ctx, node, inputs: [ctx.op(core_op, inputs[:n_operands])]


for _tf, _core, _n in [
    ("Reshape", "core.reshape", 2), ("Transpose", "core.transpose", 2), ("Tile", "core.tile", 2),
    ("Fill", "core.fill", 2), ("Range", "core.range", 3), ("Slice", "core.slice", 3),
    ("BroadcastTo", "core.broadcast_to", 2), ("Rank", "core.rank", 1), ("Pad", "core.pad", 2),
    ("PadV2", "core.pad", 3), ("SpaceToBatchND", "core.space_to_batch_nd", 3),
    ("BatchToSpaceND", "core.batch_to_space_nd", 3),
]:
    tf_op(_tf, inputs=_n)(_same(_core, _n))


@tf_op("Shape", "Size", inputs=1)
def _shape(ctx, node, inputs):
    return [ctx.op("core." + node.op.lower(), inputs[:1], {"dtype": node.attr("out_type", DType.INT32)})]


@tf_op("ShapeN", inputs=(1, None))
def _shape_n(ctx, node, inputs):
    return [ctx.op("core.shape", [x], {"dtype": node.attr("out_type", DType.INT32)}) for x in inputs]


@tf_op("SpaceToBatch", "BatchToSpace", inputs=2)
def _space_batch_v1(ctx, node, inputs):
    """The 2-D ops with a ``block_size`` attribute: the ND ops with block_shape [b, b]."""
    b = node.attr_int("block_size")
    core = "core.space_to_batch_nd" if node.op == "SpaceToBatch" else "core.batch_to_space_nd"
    return [ctx.op(core, [inputs[0], ctx.const(np.array([b, b], np.int32)), inputs[1]])]


@tf_op("MirrorPad", inputs=2)
def _mirror_pad(ctx, node, inputs):
    return [ctx.op("core.pad", inputs[:2], {"mode": node.attr_str("mode", "REFLECT").upper()})]


@tf_op("ConcatV2", inputs=(2, None))
def _concat_v2(ctx, node, inputs):
    return [ctx.op("core.concat", inputs[:-1], {"axis": ctx.const_int(inputs[-1])})]


@tf_op("Concat", inputs=(2, None))
def _concat(ctx, node, inputs):
    return [ctx.op("core.concat", inputs[1:], {"axis": ctx.const_int(inputs[0])})]


@tf_op("Split", inputs=2)
def _split(ctx, node, inputs):
    axis, x = ctx.const_int(inputs[0]), inputs[1]
    num = node.attr_int("num_split", 1)
    if num < 1:
        raise BadAttr(f"attribute 'num_split' must be at least 1, got {num}")
    if x.shape is None or not -len(x.shape) <= axis < len(x.shape) or x.shape[axis] is None:
        return None
    return ctx.ops("core.split", [x], {"axis": axis, "sizes": [x.shape[axis] // num] * num})


@tf_op("SplitV", inputs=3)
def _split_v(ctx, node, inputs):
    x, sizes, axis = inputs[:3]
    return ctx.ops("core.split", [x], {"axis": ctx.const_int(axis), "sizes": ctx.const_ints(sizes)})


@tf_op("Pack", inputs=(1, None))
def _pack(ctx, node, inputs):
    return [ctx.op("core.pack", inputs, {"axis": node.attr_int("axis", 0)})]


@tf_op("Unpack", inputs=1)
def _unpack(ctx, node, inputs):
    return ctx.ops("core.unpack", inputs[:1], {"axis": node.attr_int("axis", 0), "num": node.attr_int("num")})


@tf_op("GatherV2", inputs=3)
def _gather_v2(ctx, node, inputs):
    attrs = {"axis": ctx.const_int(inputs[2]), "batch_dims": node.attr_int("batch_dims", 0)}
    return [ctx.op("core.gather", inputs[:2], attrs)]


@tf_op("Gather", inputs=2)
def _gather(ctx, node, inputs):
    return [ctx.op("core.gather", inputs[:2])]


@tf_op("GatherNd", inputs=2)
def _gather_nd(ctx, node, inputs):
    return [ctx.op("core.gather_nd", inputs[:2], {"batch_dims": node.attr_int("batch_dims", 0)})]


@tf_op("StridedSlice", inputs=4)
def _strided_slice(ctx, node, inputs):
    masks = {m: node.attr_int(m, 0) for m in
             ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}
    return [ctx.op("core.strided_slice", inputs[:4], masks)]


@tf_op("Squeeze", inputs=1)
def _squeeze(ctx, node, inputs):
    return [ctx.op("core.squeeze", inputs[:1], {"axes": node.attr_ints("squeeze_dims", [])})]


@tf_op("ExpandDims", inputs=2)
def _expand_dims(ctx, node, inputs):
    return [ctx.op("core.expand_dims", inputs[:1], {"axis": ctx.const_int(inputs[1])})]


@tf_op("ReverseV2", inputs=2)
def _reverse(ctx, node, inputs):
    return [ctx.op("core.reverse", inputs[:1], {"axes": ctx.const_ints(inputs[1])})]


@tf_op("OneHot", inputs=4)
def _one_hot(ctx, node, inputs):
    return [ctx.op("core.one_hot", inputs[:4], {"axis": node.attr_int("axis", -1)})]


_REDUCTIONS = {"Sum": "core.reduce_sum", "Mean": "core.reduce_mean", "Max": "core.reduce_max",
               "Min": "core.reduce_min", "Prod": "core.reduce_prod", "Any": "core.reduce_any", "All": "core.reduce_all"}


def _reduce(core_op):
    def fn(ctx, node, inputs):
        return [ctx.op(core_op, inputs[:1], {"axes": ctx.const_ints(inputs[1]),
                                             "keepdims": bool(node.attr("keep_dims", False))})]

    return fn


for _tf, _core in _REDUCTIONS.items():
    tf_op(_tf, inputs=2)(_reduce(_core))


@tf_op("ArgMax", "ArgMin", inputs=2)
def _arg(ctx, node, inputs):
    return [ctx.op("core." + node.op.lower(), inputs[:1], {"axis": ctx.const_int(inputs[1]),
                                                           "output_type": node.attr("output_type", DType.INT64)})]


@tf_op("TopKV2", inputs=2)
def _top_k(ctx, node, inputs):
    return ctx.ops("core.top_k", inputs[:2], {"sorted": bool(node.attr("sorted", True))})


@tf_op("Cumsum", "Cumprod", inputs=2)
def _cumulative(ctx, node, inputs):
    attrs = {"axis": ctx.const_int(inputs[1]), "exclusive": bool(node.attr("exclusive", False)),
             "reverse": bool(node.attr("reverse", False))}
    return [ctx.op("core." + node.op.lower(), inputs[:1], attrs)]
