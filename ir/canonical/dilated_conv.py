"""Canonicalization: TF's SpaceToBatchND -> conv -> BatchToSpaceND chain becomes one dilated conv.

TF writes every dilated convolution (``tf.nn.depthwise_conv2d``/``atrous_conv2d``/``convolution``
with a rate, Keras ``dilation_rate`` in 2-D and 1-D) as an undilated VALID conv over the image
split into ``block x block`` interleaved sub-images stacked on the batch axis. That mixes the
batch axis with spatial blocks, which strip-batch cannot follow and TFLite runs as three ops;
the single conv with ``dilations = block_shape`` computes the same numbers.

Exact: the conv on sub-image ``o`` reads padded rows ``(q + k) * block + o`` for output row
``q * block + o``, so cropped output row ``r`` reads padded row ``r + crop + k * block``: the
dilated conv's tap ``k`` with padding ``paddings - crops`` (which must be >= 0).

Keras ``Conv1D`` adds an ExpandDims/Squeeze pair inside the chain (the conv is 2-D); the
rewrite keeps the pair around the new conv. Registered like the built-in patterns (``_canonical``,
attached when the registry loads); strip-batch also applies it before its axis analysis.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from litesmith.ir.graph import Node, Value
from litesmith.ir.ops.nn import window_padding

from .basic import _canonical

_CONVS = ("core.conv2d", "core.depthwise_conv2d")
Pair = Tuple[int, int]


def _producer(v: Value, ops: Sequence[str]) -> Optional[Node]:
    """``v``'s producer if it is one of ``ops`` and ``v`` is used once (nothing would be computed twice)."""
    p = v.producer
    if p is None or p.op not in ops or len(v.uses()) != 1 or v.is_graph_output():
        return None
    return p


def _block_and_pairs(node: Node) -> Optional[Tuple[List[int], List[Pair]]]:
    """Constant (block_shape, paddings-or-crops pairs) of a space/batch node; None if not constant."""
    block, pairs = node.inputs[1].const_value(), node.inputs[2].const_value()
    if block is None or pairs is None or pairs.size != 2 * block.size:
        return None
    flat = [int(p) for p in pairs.reshape(-1)]
    return [int(b) for b in block.reshape(-1)], [(flat[2 * i], flat[2 * i + 1]) for i in range(block.size)]


def _source(node: Node) -> Optional[dict]:
    """The provenance to keep on the node that replaces ``node`` (its TF name, for tracing)."""
    return {"source": node.meta["source"]} if node.meta.get("source") else None


def _undilated_valid_unit_stride(conv: Node) -> bool:
    a = conv.attrs
    unpadded = a["padding"] == "VALID" or (a["padding"] == "EXPLICIT" and not any(a["explicit_paddings"]))
    return unpadded and list(a["strides"]) == [1, 1] and list(a["dilations"]) == [1, 1]


def _unit_axis(node: Node) -> Optional[int]:
    """The one axis an expand_dims adds to, or a squeeze removes from, a rank-4 value (normalized)."""
    if node.op == "core.expand_dims":
        return node.attrs["axis"] % 4
    axes = list(node.attrs["axes"])
    return axes[0] % 4 if len(axes) == 1 else None


def _per_conv_dim(x_rank: int, block: List[int], pairs: List[Pair], unit: Optional[int]) -> List[Tuple[int, Pair]]:
    """(block, pair) for the conv's H and W: the blocked dims of x, size-1 blocks elsewhere, the
    expand_dims axis (``unit``) inserted as an unblocked dim."""
    spatial = [(b, p) for b, p in zip(block, pairs)]
    spatial += [(1, (0, 0))] * (x_rank - 2 - len(spatial))
    if unit is not None:
        spatial.insert(unit - 1, (1, (0, 0)))
    return spatial


def _padding_attrs(sizes, kernel, dilations, pads: List[Pair]) -> dict:
    """VALID, SAME when the pads are TF's SAME pads, else EXPLICIT: the most readable exact form."""
    if not any(p for pair in pads for p in pair):
        return {"padding": "VALID"}
    if None not in sizes and None not in kernel:
        same = [window_padding(s, k, 1, d, "SAME")[1:] for s, k, d in zip(sizes, kernel, dilations)]
        if same == pads:
            return {"padding": "SAME"}
    return {"padding": "EXPLICIT", "explicit_paddings": [p for pair in pads for p in pair]}


@_canonical("core.batch_to_space_nd")
def dilated_conv(node: Node, rw) -> bool:
    """batch_to_space_nd(conv(space_to_batch_nd(x))) -> conv(x) with dilations = block_shape and
    padding = paddings - crops; also through Conv1D's expand_dims/squeeze pair."""
    y = node.inputs[0]
    squeeze = _producer(y, ("core.squeeze",))
    conv = _producer(squeeze.inputs[0] if squeeze else y, _CONVS)
    if conv is None:
        return rw.why_not("input is not a single-use conv2d/depthwise_conv2d (or squeeze of one)")
    if not _undilated_valid_unit_stride(conv):
        return rw.why_not("the conv is not VALID, stride 1, undilated")
    unit = _unit_axis(squeeze) if squeeze else None
    expand = _producer(conv.inputs[0], ("core.expand_dims",)) if squeeze else None
    if squeeze and (expand is None or unit not in (1, 2) or _unit_axis(expand) != unit):
        return rw.why_not("the squeeze does not undo a single-use expand_dims of a spatial axis before the conv")
    s2b = _producer(expand.inputs[0] if expand else conv.inputs[0], ("core.space_to_batch_nd",))
    if s2b is None:
        return rw.why_not("the conv input is not a single-use space_to_batch_nd")
    into, out = _block_and_pairs(s2b), _block_and_pairs(node)
    if into is None or out is None or into[0] != out[0]:
        return rw.why_not("block shapes differ or paddings/crops are not constant")
    x = s2b.inputs[0]
    if x.rank != (3 if expand else 4) or len(into[0]) > x.rank - 2:
        return rw.why_not(f"block dims {into[0]} on a rank-{x.rank} input are not the conv's spatial dims")
    if any(v.quant is not None for v in (x, y, node.output)):
        return rw.why_not("quantized values")
    dims = [(b, p, c) for (b, p), (_, c) in zip(_per_conv_dim(x.rank, *into, unit), _per_conv_dim(x.rank, *out, unit))]
    pads = [(p[0] - c[0], p[1] - c[1]) for _, p, c in dims]
    if min(min(p) for p in pads) < 0:
        return rw.why_not("crops exceed the paddings")

    b = rw.builder(before=node)
    x4 = b.create("core.expand_dims", [x], {"axis": unit}, meta=_source(expand)).output if expand else x
    dilations = [blk for blk, _, _ in dims]
    kernel = conv.inputs[1].shape[:2] if conv.inputs[1].shape is not None else (None, None)
    attrs = {"strides": [1, 1], "dilations": dilations,
             **_padding_attrs(list(x4.shape[1:3]), list(kernel), dilations, pads)}
    new = [b.create(conv.op, [x4, conv.inputs[1]], attrs, meta=_source(conv))]
    if squeeze:
        new.append(b.create("core.squeeze", [new[-1].output], {"axes": [unit]}, meta=_source(squeeze)))
    if new[-1].output.type != node.output.type:  # cannot happen when the chain type-checks; never guess
        for n in reversed(([x4.producer] if expand else []) + new):  # users first
            rw.erase(n)
        return rw.why_not(f"the dilated conv's type {new[-1].output.type} differs from {node.output.type}")
    rw.replace_node(node, [new[-1].output])
    return True
