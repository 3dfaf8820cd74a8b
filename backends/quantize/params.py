"""Choosing quantization parameters and quantizing constant arrays.

Follows the TFLite 8-bit quantization spec: activations asymmetric int8 with
a range that contains 0; weights symmetric int8 in [-127, 127] with zero
point 0, per output channel; biases int32 with scale input_scale *
weight_scale. Scales are rounded to float32 on creation because the
flatbuffer stores them as float32 and the runtime derives its multipliers
from those stored values.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from litesmith.ir.types import QuantParams

from .fixedpoint import round_away

INT8_MIN, INT8_MAX = -128, 127
_TINY_SCALE = float(np.float32(1e-8))  # an all-zero channel still needs a positive scale


def f32(x: float) -> float:
    return float(np.float32(x))


def activation_params(lo: float, hi: float, qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> QuantParams:
    """Asymmetric per-tensor params covering [lo, hi] (widened to contain 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        return QuantParams((f32(1.0 / 255),), (0 if qmin < 0 else qmin,))
    scale = f32((hi - lo) / (qmax - qmin))
    zp = int(np.clip(_round(qmin - lo / scale), qmin, qmax))
    return QuantParams((scale,), (zp,))


def symmetric_params(lo: float, hi: float, qmax: int) -> QuantParams:
    """Symmetric per-tensor params (zero point 0), e.g. int16 activations."""
    m = max(abs(float(lo)), abs(float(hi)))
    return QuantParams((f32(m / qmax) if m > 0 else _TINY_SCALE,), (0,))


def _round(x: float) -> int:
    return int(np.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


# Ops whose per-channel int8 weights keep each channel's sum (see keep_channel_sums).
KEEP_SUM_OPS = frozenset({"tfl.conv_2d", "tfl.depthwise_conv_2d"})


# Weights are quantized this many elements at a time: the float64 temporaries of a 100 MB
# embedding table stay a few MB (channels are independent, so the result is the same).
CHUNK_ELEMENTS = 1 << 18


def per_channel_weights(w: np.ndarray, axis: Optional[int], keep_sums: bool = False) -> Tuple[np.ndarray, QuantParams]:
    """Symmetric int8 weights, one scale per slice along ``axis`` (per tensor if None);
    ``keep_sums``: rounded by :func:`keep_channel_sums`."""
    w = np.asarray(w, np.float32)
    blocks = list(_blocks(w, axis)) if w.size else []
    if axis is None:
        m = np.array([max((np.max(np.abs(b)) for b, _ in blocks), default=0)], np.float32)
    else:
        m = np.zeros(w.shape[axis], np.float32)
        for b, channels in blocks:
            m[channels] = np.max(np.abs(b), axis=tuple(range(1, b.ndim)))
    scales = np.where(m > 0, m / 127.0, _TINY_SCALE).astype(np.float32)
    qp = QuantParams(tuple(float(s) for s in scales), (0,) * scales.size, axis if axis is not None else None)
    q = np.empty(w.shape, np.int8)
    q_first = np.moveaxis(q, axis, 0) if axis is not None else q.reshape(-1)
    for b, where in blocks:
        scale = broadcast_axis(scales[where], 0, b.ndim) if axis is not None else np.float64(scales[0])
        q_first[where] = _quantize_block(b, scale, keep_sums and axis is not None)
    return q, qp


def _quantize_block(w: np.ndarray, scale, keep_sums: bool) -> np.ndarray:
    """quantize_array's arithmetic on one block (channels first), kept sums per channel."""
    exact = np.asarray(w, np.float64) / scale
    q = np.clip(round_away(exact), INT8_MIN + 1, INT8_MAX).astype(np.int64)
    return keep_channel_sums(q, exact, 0) if keep_sums else q


def _blocks(w: np.ndarray, axis: Optional[int]):
    """(block, index): ``w`` with ``axis`` first, a few whole channels at a time (index: a channel
    slice), or, per tensor, flat chunks (index: an element slice)."""
    if axis is None:
        flat = w.reshape(-1)
        for i in range(0, flat.size, CHUNK_ELEMENTS):
            yield flat[i : i + CHUNK_ELEMENTS], slice(i, i + CHUNK_ELEMENTS)
        return
    first = np.moveaxis(w, axis, 0)
    per = max(1, CHUNK_ELEMENTS // max(1, first[0].size)) if len(first) else 1
    for c in range(0, len(first), per):
        yield first[c : c + per], slice(c, c + per)


def keep_channel_sums(q: np.ndarray, exact: np.ndarray, axis: int) -> np.ndarray:
    """Round-to-nearest ``q`` of ``exact`` (= w / scale), changed by one step in as few elements as
    needed, those nearest a rounding boundary, so each channel's integer sum is its exact sum rounded.

    Why: a channel's rounding errors e add e . x to its output. Convolution inputs are spatially
    smooth (neighbouring pixels, a 3x3 window of a depthwise kernel, nearly equal) and post-ReLU
    channels share a positive mean, so x ~ m (1, ..., 1) + rest, and sum(e) * m is a systematic
    error every position and image sees (what bias correction removes with data). Keeping the sum
    cancels it, data-free, for a few weights rounded the other way (each within one step). MobileNetV2 (docs/benchmarks.md
    section 5), top-1 agreement with float and rms logit error: int8 91.8% -> 92.9%, 0.284 -> 0.249;
    dynamic 95.1% -> 95.3%, 0.163 -> 0.150. Not for FULLY_CONNECTED: an LSTM's inputs have no common mean."""
    qm = np.moveaxis(np.asarray(q, np.int64), axis, 0).reshape(q.shape[axis], -1)
    em = np.moveaxis(exact, axis, 0).reshape(q.shape[axis], -1)
    need = (round_away(em.sum(1)) - qm.sum(1)).astype(np.int64)  # steps to move, per channel
    step = np.sign(need)[:, None]
    moved = qm + step
    cost = np.abs(moved - em) - np.abs(qm - em)  # added error of a step, 0..1 for nearest rounding
    cost[(moved > INT8_MAX) | (moved < INT8_MIN + 1) | (step == 0)] = np.inf
    rank = np.argsort(np.argsort(cost, axis=1, kind="stable"), axis=1)  # 0 = cheapest step in its channel
    chosen = (rank < np.abs(need)[:, None]) & np.isfinite(cost)
    qm = qm + step * chosen
    return np.moveaxis(qm.reshape(np.moveaxis(q, axis, 0).shape), 0, axis)


def bias_int32(b: np.ndarray, input_scale: float, weight: QuantParams, dtype=None) -> Tuple[np.ndarray, QuantParams]:
    """int32 bias with scale input_scale * weight_scale (per channel when the weights are);
    ``dtype`` DType.INT64 for 16x8 (int16 activations)."""
    scales = np.array([f32(input_scale * s) for s in weight.scale], np.float64)
    axis = 0 if len(scales) > 1 else None
    qp = QuantParams(tuple(float(s) for s in scales), (0,) * len(scales), axis)
    q = round_away(np.asarray(b, np.float64) / (scales if len(scales) > 1 else scales[0]))
    info = np.iinfo(np.int32 if dtype is None else dtype.np)
    return np.clip(q, int(info.min), int(info.max)).astype(info.dtype), qp


def broadcast_axis(values, axis: Optional[int], ndim: int) -> np.ndarray:
    arr = np.asarray(values, np.float64)
    if axis is None or arr.size == 1:
        return arr.reshape(-1)[0] if arr.size == 1 else arr
    shape = [1] * ndim
    shape[axis] = arr.size
    return arr.reshape(shape)


def quantize_array(x: np.ndarray, qp: QuantParams, qmin: int, qmax: int) -> np.ndarray:
    """round(x / scale) + zero_point, clamped, as int64 (TFLite rounds halves away from zero)."""
    x = np.asarray(x, np.float64)
    scale = broadcast_axis(qp.scale, qp.axis, x.ndim)
    zp = broadcast_axis(qp.zero_point, qp.axis, x.ndim)
    return np.clip(round_away(x / scale) + zp, qmin, qmax).astype(np.int64)


def dequantize_array(q: np.ndarray, qp: QuantParams) -> np.ndarray:
    q = np.asarray(q)
    scale = broadcast_axis(qp.scale, qp.axis, q.ndim)
    zp = broadcast_axis(qp.zero_point, qp.axis, q.ndim)
    return ((q.astype(np.float64) - zp) * scale).astype(np.float32)
