"""Which core ops lower to TFLite with unknown dims, as TF's converter writes them.

TFLite keeps an unknown dim as ``-1`` in a tensor's ``shape_signature``
(``shape`` holds 1 there), and every kernel sizes its outputs again when the
interpreter is resized (``resize_tensor_input``). So an op whose lowering
never reads a dim's value can keep that dim unknown: elementwise ops, matmul,
reductions, shape queries (SHAPE), slices, packs and the reshapes whose target
is a shape tensor. The lowerings that read a dim (a convolution's channels, a
split's sizes, a composed op that builds a constant of the operand's shape)
are not listed (a split only when its axis is static), so a node of theirs with an unknown dim stays
``dynamic-shape`` with the ``--input-shape`` hint. Unknown *rank* is never
lowered.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from litesmith.ir.graph import Node, Value

__all__ = ["UNKNOWN_DIMS_OK", "accepts_unknown_dims"]

# core op -> the axes that must still be static (() = any dim may be unknown).
# Convolutions and pools read their spatial dims (explicit padding) and channels.
_NHWC_STATIC = (1, 2, 3)
UNKNOWN_DIMS_OK: Dict[str, Tuple[int, ...]] = {
    op: () for op in (
        "core.select", "core.cast", "core.gelu", "core.leaky_relu", "core.matmul", "core.softmax", "core.log_softmax",
        "core.reshape", "core.expand_dims", "core.squeeze", "core.transpose", "core.concat", "core.slice",
        "core.strided_slice", "core.gather", "core.gather_nd", "core.pack", "core.unpack", "core.tile", "core.pad",
        "core.broadcast_to", "core.shape", "core.size", "core.rank", "core.fill", "core.range", "core.identity",
        "core.reduce_sum", "core.reduce_mean", "core.reduce_max", "core.reduce_min", "core.reduce_prod",
        "core.reduce_any", "core.reduce_all", "core.argmax", "core.argmin", "core.one_hot", "core.reverse",
        "core.while", "core.if", "core.dynamic_update_slice",
    )
}
UNKNOWN_DIMS_OK.update({op: _NHWC_STATIC for op in ("core.conv2d", "core.depthwise_conv2d", "core.max_pool", "core.avg_pool")})


def _same_operands(op: str) -> bool:
    """An op lowered 1:1 to a builtin on the same operands (``lower_elementwise.same_operands``)."""
    from .lower import LOWERINGS  # lazy: lower imports this module

    return getattr(LOWERINGS.get(op), "keeps_unknown_dims", False)


def accepts_unknown_dims(node: Node, v: Value) -> bool:
    """Whether ``node``'s lowering handles ``v`` (one of its operands or results) with unknown dims."""
    if v.shape is None:
        return False
    if node.op == "core.split":  # the split axis must be static: its sizes become SPLIT_V's constant
        axis = int(node.attrs["axis"])
        return -len(v.shape) <= axis < len(v.shape) and v.shape[axis] is not None
    static_axes: Optional[Tuple[int, ...]] = UNKNOWN_DIMS_OK.get(node.op)
    if static_axes is None:
        return _same_operands(node.op)
    return all(i < len(v.shape) and v.shape[i] is not None for i in static_axes)
