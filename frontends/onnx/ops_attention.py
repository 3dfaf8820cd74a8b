"""ONNX Attention (opsets 23-25): scaled dot-product attention from core matmul, softmax and masks.

Follows ONNX's reference step by step: 3-D inputs split into heads, both Q and
K scaled by sqrt(scale), past key/value concatenated, grouped-query heads
repeated, softcap, an additive bias from the mask, the causal frontier and the
sliding window (constants when the shapes are static), and rows whose bias is
all -inf set to zero after the softmax.
"""
from __future__ import annotations

import numpy as np
from litesmith.ir.dtypes import DType

from .registry import Unsupported, onnx_op, static_shape

_MODE_BIAS, _MODE_SOFTMAX = 2, 3


def _heads(ctx, x, heads: int):
    b, s, hidden = static_shape(x)
    if heads < 1 or hidden % heads:
        raise Unsupported("num_heads must divide the hidden size")
    return ctx.transpose(ctx.reshape(x, [b, s, heads, hidden // heads]), [0, 2, 1, 3])


def _frontier(q_len: int, kv_len: int, offset: int, causal: bool, left: int, right: int) -> np.ndarray:
    """The constant additive bias of the causal frontier and the sliding window ([q, kv], 0 or -inf)."""
    i = np.arange(q_len).reshape(-1, 1) + offset
    j = np.arange(kv_len).reshape(1, -1)
    allowed = np.ones((q_len, kv_len), bool)
    if causal:
        allowed &= j <= i
    if left >= 0:
        allowed &= i - j <= left
    if right >= 0:
        allowed &= j - i <= right
    return np.where(allowed, 0.0, -np.inf).astype(np.float32)


@onnx_op("Attention", inputs=(3, 7))
def _attention(ctx, node, inputs):
    q, k, v = inputs[:3]
    mask, past_k, past_v, nonpad = (list(inputs[3:]) + [None] * 4)[:4]
    if nonpad is not None:
        raise Unsupported("nonpad_kv_seqlen")
    if (past_k is None) != (past_v is None):
        raise Unsupported("past_key without past_value")
    rank = len(static_shape(q))
    if rank == 3:
        q = _heads(ctx, q, node.attr_int("q_num_heads"))
        k = _heads(ctx, k, node.attr_int("kv_num_heads"))
        v = _heads(ctx, v, node.attr_int("kv_num_heads"))
    elif rank != 4:
        raise Unsupported(f"rank-{rank} inputs")
    dtype = q.dtype.np
    scale = node.attr_float("scale", 1.0 / np.sqrt(static_shape(q)[3]))
    root = ctx.const(np.asarray(np.sqrt(scale), dtype))
    if past_k is not None:
        k = ctx.op("core.concat", [past_k, k], {"axis": 2})
        v = ctx.op("core.concat", [past_v, v], {"axis": 2})
    present_k, present_v = k, v
    q_len, kv_len = static_shape(q)[2], static_shape(k)[2]
    q_heads, kv_heads = static_shape(q)[1], static_shape(k)[1]
    offset = static_shape(past_k)[2] if past_k is not None else 0
    causal = bool(node.attr_int("is_causal", 0))
    left, right = node.attr_int("left_window_size", -1), node.attr_int("right_window_size", -1)
    const_bias = _frontier(q_len, kv_len, offset, causal, left, right) if causal or left >= 0 or right >= 0 else None
    bias = None if const_bias is None else ctx.const(const_bias.astype(dtype))
    if mask is not None:
        m = mask
        if m.dtype is DType.BOOL:
            m = ctx.op("core.select", [m, ctx.const(np.zeros((), dtype)), ctx.const(np.asarray(-np.inf, dtype))])
        width = static_shape(m)[-1]
        if width < kv_len:
            pads = np.zeros((m.rank, 2), np.int32)
            pads[-1, 1] = kv_len - width
            m = ctx.op("core.pad", [m, ctx.const(pads), ctx.const(np.asarray(-np.inf, dtype))])
        bias = m if bias is None else ctx.op("core.add", [m, bias])
    if q_heads != kv_heads:
        if q_heads % kv_heads:
            raise Unsupported("q heads are not a multiple of kv heads")
        idx = ctx.i32(np.repeat(np.arange(kv_heads), q_heads // kv_heads))
        k = ctx.op("core.gather", [k, idx], {"axis": 1})
        v = ctx.op("core.gather", [v, idx], {"axis": 1})
    qk = ctx.op("core.matmul", [ctx.op("core.mul", [q, root]), ctx.op("core.mul", [k, root])],
                {"transpose_b": True})
    softcap = node.attr_float("softcap", 0.0)
    if softcap > 0:
        cap = ctx.const(np.asarray(softcap, dtype))
        qk = ctx.op("core.mul", [ctx.op("core.tanh", [ctx.op("core.div", [qk, cap])]), cap])
    scores = qk if bias is None else ctx.op("core.add", [qk, bias])
    probs = ctx.op("core.softmax", [scores], {"axis": -1})
    if bias is not None:
        if const_bias is not None and bias.const_value() is not None:
            dead = np.isneginf(const_bias.max(axis=-1, keepdims=True))
            guard = ctx.const(dead) if dead.any() else None
        else:
            top = ctx.op("core.reduce_max", [bias], {"axes": [-1], "keepdims": True})
            guard = ctx.op("core.equal", [top, ctx.const(np.asarray(-np.inf, dtype))])
        if guard is not None:
            probs = ctx.op("core.select", [guard, ctx.const(np.zeros((), dtype)), probs])
    y = ctx.op("core.matmul", [probs, v])
    if rank == 3:
        b, _, s, _ = static_shape(y)
        y = ctx.reshape(ctx.transpose(y, [0, 2, 1, 3]), [b, s, -1])
    mode = node.attr_int("qk_matmul_output_mode", 0)
    qk_out = {_MODE_BIAS: scores, _MODE_SOFTMAX: probs}.get(mode, qk)
    return [y, present_k, present_v, qk_out][: max(node.num_outputs, 1)]


@onnx_op("RotaryEmbedding", inputs=(3, 4))
def _rotary(ctx, node, inputs):
    """RoPE as ONNX's reference computes it: halves (or interleaved pairs) of the first
    rotary_embedding_dim features rotated by the cached cos/sin of each position."""
    x, cos, sin = inputs[:3]
    pos = inputs[3] if len(inputs) > 3 else None
    shape = static_shape(x)
    if len(shape) == 4:  # [B, H, S, D] -> [B, S, H, D]
        xs = ctx.transpose(x, [0, 2, 1, 3])
    elif len(shape) == 3:
        heads = node.attr_int("num_heads", 0)
        if heads < 1 or shape[2] % heads:
            raise Unsupported("num_heads must divide the hidden size")
        xs = ctx.reshape(x, [shape[0], shape[1], heads, shape[2] // heads])
    else:
        raise Unsupported(f"rank-{len(shape)} input")
    b, s, h, d = static_shape(xs)
    dim = node.attr_int("rotary_embedding_dim", 0) or d
    if pos is not None:
        cos = ctx.op("core.gather", [cos, pos], {"axis": 0})
        sin = ctx.op("core.gather", [sin, pos], {"axis": 0})
    cos = ctx.op("core.expand_dims", [cos], {"axis": 2})
    sin = ctx.op("core.expand_dims", [sin], {"axis": 2})
    rot = ctx.op("core.slice", [xs, ctx.i32([0, 0, 0, 0]), ctx.i32([b, s, h, dim])]) if dim < d else xs
    interleaved = bool(node.attr_int("interleaved", 0))
    if interleaved:
        pairs = ctx.reshape(rot, [b, s, h, dim // 2, 2])
        x1, x2 = (ctx.op("core.squeeze", [v], {"axes": [4]})
                  for v in ctx.ops("core.split", [pairs], {"axis": 4, "sizes": [1, 1]}))
    else:
        x1, x2 = ctx.ops("core.split", [rot], {"axis": 3, "sizes": [dim // 2, dim // 2]})
    real = ctx.op("core.sub", [ctx.op("core.mul", [cos, x1]), ctx.op("core.mul", [sin, x2])])
    imag = ctx.op("core.add", [ctx.op("core.mul", [sin, x1]), ctx.op("core.mul", [cos, x2])])
    if interleaved:
        y = ctx.reshape(ctx.op("core.pack", [real, imag], {"axis": 4}), [b, s, h, dim])
    else:
        y = ctx.op("core.concat", [real, imag], {"axis": 3})
    if dim < d:
        rest = ctx.op("core.slice", [xs, ctx.i32([0, 0, 0, dim]), ctx.i32([b, s, h, d - dim])])
        y = ctx.op("core.concat", [y, rest], {"axis": 3})
    if len(shape) == 3:
        return [ctx.reshape(y, list(shape))]
    return [ctx.transpose(y, [0, 2, 1, 3])]
