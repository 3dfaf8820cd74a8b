"""Lowerings of the index ops (ir/ops/index_ops.py) and the integer bit ops: each is one TFLite
builtin, as TF's converter emits it; index-like operands become int32."""
from __future__ import annotations

from litesmith.ir.dtypes import DType

from .legalize import UNSUPPORTED_DTYPE
from .lower import lowers, normalize_axis


@lowers("core.depth_to_space", "core.space_to_depth")
def lower_blocks(node, lw):
    op = "tfl.depth_to_space" if node.op == "core.depth_to_space" else "tfl.space_to_depth"
    return [lw.op(op, node.inputs, {"block_size": int(node.attrs["block_size"])})]


@lowers("core.reverse_sequence")
def lower_reverse_sequence(node, lw):
    x, lengths = node.inputs
    rank = lw.rank(x)
    return [lw.op("tfl.reverse_sequence", [x, lw.as_i32(lengths)],
                  {"seq_dim": normalize_axis(int(node.attrs["seq_axis"]), rank),
                   "batch_dim": normalize_axis(int(node.attrs["batch_axis"]), rank)})]


@lowers("core.scatter_nd")
def lower_scatter_nd(node, lw):
    indices, updates, shape = node.inputs
    return [lw.op("tfl.scatter_nd", [lw.as_i32(indices), updates, lw.as_i32(shape)])]


@lowers("core.unsorted_segment_sum", "core.unsorted_segment_prod", "core.unsorted_segment_max",
        "core.unsorted_segment_min")
def lower_unsorted_segment(node, lw):
    data, ids, num = node.inputs
    if data.dtype not in (DType.FLOAT32, DType.INT32):
        lw.fail(UNSUPPORTED_DTYPE, f"UNSORTED_SEGMENT_* takes float32 or int32 data, got {data.dtype}")
    return [lw.op("tfl." + node.op[5:], [data, lw.as_i32(ids), lw.as_i32(num)])]


@lowers("core.bucketize")
def lower_bucketize(node, lw):
    return [lw.op("tfl.bucketize", node.inputs, {"boundaries": [float(b) for b in node.attrs["boundaries"]]})]


@lowers("core.matrix_set_diag")
def lower_matrix_set_diag(node, lw):
    return [lw.op("tfl.matrix_set_diag", node.inputs)]


@lowers("core.broadcast_args")
def lower_broadcast_args(node, lw):
    return [lw.op("tfl.broadcast_args", node.inputs)]


@lowers("core.bitwise_xor", "core.right_shift")
def lower_bit_ops(node, lw):
    """LiteRT's kernels take 8-, 16- and 32-bit integers; an int64 operand was refused at allocation
    (a difftest finding), so it is refused here, before a file is written."""
    x = node.inputs[0]
    if x.dtype is DType.INT64:
        lw.fail(UNSUPPORTED_DTYPE, f"{node.op[5:].upper()} of i64 (%{x.name}): LiteRT has 8-, 16- and 32-bit kernels")
    return [lw.op("tfl." + node.op[5:], node.inputs)]


@lowers("core.bitcast")
def lower_bitcast(node, lw):
    return [lw.op("tfl.bitcast", node.inputs)]


@lowers("core.sparse_to_dense")
def lower_sparse_to_dense(node, lw):
    indices, shape, values, default = node.inputs
    return [lw.op("tfl.sparse_to_dense", [lw.as_i32(indices), lw.as_i32(shape), values, default],
                  {"validate_indices": False})]
