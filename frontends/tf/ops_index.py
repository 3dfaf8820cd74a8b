"""TF ops TF's converter maps 1:1 to TFLite builtins that move, scatter or bucket elements, and the
integer bit ops (core ops in ir/ops/index_ops.py and ir/ops/elementwise.py)."""
from __future__ import annotations

import numpy as np
from litesmith.ir.dtypes import DType

from .mapper import BadAttr, tf_op


def _nhwc(node) -> bool:
    return node.attr_str("data_format", "NHWC") == "NHWC"


@tf_op("DepthToSpace", inputs=1)
def _depth_to_space(ctx, node, inputs):
    if not _nhwc(node):
        return None  # NCHW / NCHW_VECT_C: TF's converter does not take them either
    return [ctx.op("core.depth_to_space", inputs, {"block_size": node.attr_int("block_size")})]


@tf_op("SpaceToDepth", inputs=1)
def _space_to_depth(ctx, node, inputs):
    if not _nhwc(node):
        return None
    return [ctx.op("core.space_to_depth", inputs, {"block_size": node.attr_int("block_size")})]


@tf_op("ReverseSequence", inputs=2)
def _reverse_sequence(ctx, node, inputs):
    return [ctx.op("core.reverse_sequence", inputs,
                   {"seq_axis": node.attr_int("seq_dim"), "batch_axis": node.attr_int("batch_dim", 0)})]


@tf_op("ScatterNd", inputs=3)
def _scatter_nd(ctx, node, inputs):
    return [ctx.op("core.scatter_nd", inputs)]


for _kind in ("Sum", "Prod", "Max", "Min"):
    tf_op(f"UnsortedSegment{_kind}", inputs=3)(
        lambda ctx, node, inputs, _op=f"core.unsorted_segment_{_kind.lower()}": [ctx.op(_op, inputs)])


@tf_op("Bucketize", inputs=1)
def _bucketize(ctx, node, inputs):
    boundaries = node.attr("boundaries", [])
    if not isinstance(boundaries, list) or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in boundaries):
        raise BadAttr(f"attribute 'boundaries' must be a list of floats, got {boundaries!r:.40}")
    return [ctx.op("core.bucketize", inputs, {"boundaries": [float(b) for b in boundaries]})]


@tf_op("MatrixSetDiag", inputs=2)
def _matrix_set_diag(ctx, node, inputs):
    return [ctx.op("core.matrix_set_diag", inputs)]


@tf_op("MatrixSetDiagV2", "MatrixSetDiagV3", inputs=3)
def _matrix_set_diag_k(ctx, node, inputs):
    if ctx.const_ints(inputs[2]) != [0]:
        return None  # other diagonals: no builtin (TF's converter keeps only k = 0 too)
    return [ctx.op("core.matrix_set_diag", inputs[:2])]


@tf_op("BroadcastArgs", inputs=2)
def _broadcast_args(ctx, node, inputs):
    return [ctx.op("core.broadcast_args", inputs)]


@tf_op("BitwiseXor", inputs=2)
def _bitwise_xor(ctx, node, inputs):
    return [ctx.op("core.bitwise_xor", inputs)]


@tf_op("RightShift", inputs=2)
def _right_shift(ctx, node, inputs):
    return [ctx.op("core.right_shift", inputs)]


@tf_op("SigmoidGrad", inputs=2)
def _sigmoid_grad(ctx, node, inputs):
    """dy * y * (1 - y) with y = sigmoid(x), as TF's converter writes it (MUL, SUB)."""
    y, dy = inputs
    one_minus_y = ctx.op("core.sub", [ctx.const(1, y.dtype), y])
    return [ctx.op("core.mul", [dy, ctx.op("core.mul", [y, one_minus_y])])]


@tf_op("ApproxTopK", inputs=1)
def _approx_top_k(ctx, node, inputs):
    """TF's converter takes the max-k form over the last axis as an exact TOPK_V2; so do we."""
    x = inputs[0]
    axis = node.attr_int("reduction_dimension", -1)
    if not bool(node.attr("is_max_k", True)) or x.rank is None or axis not in (-1, x.rank - 1):
        return None
    return ctx.ops("core.top_k", [x, ctx.const(node.attr_int("k"))], {"sorted": True})


@tf_op("SegmentSum", inputs=2)
def _segment_sum(ctx, node, inputs):
    """Sorted segment ids: an unsorted segment sum over max(id) + 1 segments, once the ids are constant
    (the result's length depends on them)."""
    ids = ctx.const_value(inputs[1])
    count = int(ids.max()) + 1 if ids.size else 0
    return [ctx.op("core.unsorted_segment_sum", [inputs[0], inputs[1], ctx.const(count, inputs[1].dtype)])]


@tf_op("Bitcast", inputs=1)
def _bitcast(ctx, node, inputs):
    x, dtype = inputs[0], node.attr("type")
    if not isinstance(dtype, DType) or np.dtype(dtype.np).itemsize != np.dtype(x.dtype.np).itemsize:
        return None  # a width change reshapes the last axis: not mapped
    return [ctx.op("core.bitcast", [x], {"dtype": dtype})]


@tf_op("SparseToDense", inputs=4)
def _sparse_to_dense(ctx, node, inputs):
    return [ctx.op("core.sparse_to_dense", inputs[:4])]
