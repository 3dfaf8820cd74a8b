"""Numpy reference kernels with TFLite semantics, for the ``tfl`` ops in ops.py.

Float semantics only (quantized kernels come later). Layouts are TFLite's:
NHWC activations, conv filters OHWI, depthwise filters ``[1, H, W, C*M]``.
"""
from __future__ import annotations

import math

import numpy as np


def activation(y: np.ndarray, name: str) -> np.ndarray:
    """Apply a fused activation (``fused_activation_function``)."""
    if name == "NONE":
        return y
    if name == "RELU":
        return np.maximum(y, 0)
    if name == "RELU6":
        return np.clip(y, 0, 6)
    if name == "RELU_N1_TO_1":
        return np.clip(y, -1, 1)
    if name == "TANH":
        return np.tanh(y)
    raise ValueError(f"unsupported fused activation {name!r}")


# -- convolution and pooling ----------------------------------------------------


def window_padding(size: int, k: int, stride: int, dilation: int, padding: str):
    """(output size, padding before) along one spatial axis, as TFLite computes them."""
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2
    if padding == "VALID":
        return max((size - eff) // stride + 1, 0), 0
    raise ValueError(f"unknown padding {padding!r}; expected SAME or VALID")


def _windows(x, kh, kw, sh, sw, dh, dw, padding, fill):
    """Yield (i, j, strided view) for every filter tap over a padded NHWC input."""
    _, h, w, _ = x.shape
    oh, ph = window_padding(h, kh, sh, dh, padding)
    ow, pw = window_padding(w, kw, sw, dw, padding)
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    xp = np.pad(x, [(0, 0), (ph, max(need_h - h - ph, 0)), (pw, max(need_w - w - pw, 0)), (0, 0)], constant_values=fill)
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw, :]


def conv_2d(x, filt, bias=None, *, padding, stride_w, stride_h, fused_activation_function, dilation_w_factor, dilation_h_factor):
    out = None
    acc = np.float64 if x.dtype == np.float64 else np.float32
    for i, j, win in _windows(x, filt.shape[1], filt.shape[2], stride_h, stride_w, dilation_h_factor, dilation_w_factor, padding, 0):
        part = np.tensordot(win.astype(acc, copy=False), filt[:, i, j, :].astype(acc, copy=False), axes=([3], [1]))
        out = part if out is None else out + part
    if bias is not None:
        out = out + bias
    return activation(out, fused_activation_function).astype(x.dtype)


def depthwise_conv_2d(x, filt, bias=None, *, padding, stride_w, stride_h, depth_multiplier, fused_activation_function, dilation_w_factor, dilation_h_factor):
    channels_out = filt.shape[3]
    mult = channels_out // x.shape[3]
    xr = np.repeat(x, mult, axis=3) if mult > 1 else x
    out = None
    for i, j, win in _windows(xr, filt.shape[1], filt.shape[2], stride_h, stride_w, dilation_h_factor, dilation_w_factor, padding, 0):
        part = win * filt[0, i, j, :]
        out = part if out is None else out + part
    if bias is not None:
        out = out + bias
    return activation(out, fused_activation_function).astype(x.dtype)


def max_pool_2d(x, *, padding, stride_w, stride_h, filter_width, filter_height, fused_activation_function):
    out = None
    for _, _, win in _windows(x, filter_height, filter_width, stride_h, stride_w, 1, 1, padding, -np.inf):
        out = win if out is None else np.maximum(out, win)
    return activation(out, fused_activation_function).astype(x.dtype)


def average_pool_2d(x, *, padding, stride_w, stride_h, filter_width, filter_height, fused_activation_function):
    total = None
    count = None
    ones = np.ones(x.shape[:3] + (1,), x.dtype)
    for (_, _, win), (_, _, cnt) in zip(
        _windows(x, filter_height, filter_width, stride_h, stride_w, 1, 1, padding, 0),
        _windows(ones, filter_height, filter_width, stride_h, stride_w, 1, 1, padding, 0),
    ):
        total = win if total is None else total + win
        count = cnt if count is None else count + cnt
    return activation(total / count, fused_activation_function).astype(x.dtype)


# -- resizing ------------------------------------------------------------------------


def _resize_scale(in_size, out_size, align_corners):
    if align_corners and out_size > 1:
        return (in_size - 1) / (out_size - 1)
    return in_size / out_size


def resize_bilinear(x, size, *, align_corners, half_pixel_centers):
    n, h, w, c = x.shape
    oh, ow = (int(s) for s in np.asarray(size).reshape(-1))

    def axis(in_size, out_size):
        scale = _resize_scale(in_size, out_size, align_corners)
        o = np.arange(out_size, dtype=np.float32)
        f = (o + 0.5) * np.float32(scale) - 0.5 if half_pixel_centers else o * np.float32(scale)
        lo = np.maximum(np.floor(f).astype(np.int64), 0)
        hi = np.minimum(np.ceil(f).astype(np.int64), in_size - 1)
        return lo, hi, (f - lo).astype(np.float32)

    y0, y1, fy = axis(h, oh)
    x0, x1, fx = axis(w, ow)
    fy = fy[None, :, None, None]
    fx = fx[None, None, :, None]
    top = x[:, y0][:, :, x0] * (1 - fx) + x[:, y0][:, :, x1] * fx
    bot = x[:, y1][:, :, x0] * (1 - fx) + x[:, y1][:, :, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(x.dtype)


def resize_nearest_neighbor(x, size, *, align_corners, half_pixel_centers):
    _, h, w, _ = x.shape
    oh, ow = (int(s) for s in np.asarray(size).reshape(-1))

    def axis(in_size, out_size):
        scale = _resize_scale(in_size, out_size, align_corners)
        offset = 0.5 if half_pixel_centers else 0.0
        f = (np.arange(out_size, dtype=np.float32) + offset) * np.float32(scale)
        idx = np.sign(f) * np.floor(np.abs(f) + 0.5) if align_corners else np.floor(f)
        idx = np.minimum(idx.astype(np.int64), in_size - 1)
        return np.maximum(idx, 0) if half_pixel_centers else idx

    return x[:, axis(h, oh)][:, :, axis(w, ow)]


# -- data movement -------------------------------------------------------------------


def strided_slice(x, begin, end, strides, *, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask, offset):
    index = []
    for i, (b, e, s) in enumerate(zip(begin.tolist(), end.tolist(), strides.tolist())):
        bit = 1 << i
        if ellipsis_mask & bit:
            index.append(Ellipsis)
        elif new_axis_mask & bit:
            index.append(None)
        elif shrink_axis_mask & bit:
            index.append(int(b))
        else:
            if offset:
                e = b + e
            index.append(slice(None if begin_mask & bit else b, None if end_mask & bit else e, s))
    return np.asarray(x[tuple(index)])


def gather(params, indices, *, axis, batch_dims):
    axis = axis + params.ndim if axis < 0 else axis
    batch_dims = batch_dims + indices.ndim if batch_dims < 0 else batch_dims
    if batch_dims == 0:
        return np.take(params, indices, axis=axis)
    return np.stack([gather(p, i, axis=axis - 1, batch_dims=batch_dims - 1) for p, i in zip(params, indices)])


def gather_nd(params, indices):
    k = indices.shape[-1]
    return params[tuple(np.moveaxis(indices, -1, 0))] if k else np.broadcast_to(params, indices.shape[:-1] + params.shape)


def topk_v2(x, k):
    k = int(np.asarray(k).reshape(-1)[0])
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, order, axis=-1), order.astype(np.int32)


def cumsum(x, axis, *, exclusive, reverse):
    axis = int(np.asarray(axis).reshape(-1)[0])
    y = np.flip(x, axis) if reverse else x
    out = np.cumsum(y, axis=axis, dtype=x.dtype)
    if exclusive:
        out = out - y
    return np.flip(out, axis) if reverse else out


def depth_to_space(x, *, block_size):
    n, h, w, c = x.shape
    b = block_size
    y = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * b, w * b, c // (b * b))


def space_to_depth(x, *, block_size):
    n, h, w, c = x.shape
    b = block_size
    y = x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h // b, w // b, b * b * c)


def one_hot(indices, depth, on_value, off_value, *, axis):
    depth = int(np.asarray(depth).reshape(-1)[0])
    hot = np.arange(depth) == indices[..., None]
    out = np.where(hot, on_value, off_value).astype(np.asarray(on_value).dtype)
    return np.moveaxis(out, -1, axis) if axis != -1 else out


# -- math ------------------------------------------------------------------------------


def divide(x, y):
    """TFLite DIV: true division for floats, truncation toward zero for integers."""
    if np.issubdtype(x.dtype, np.integer):
        q = np.abs(x) // np.abs(y)
        return (np.sign(x) * np.sign(y) * q).astype(x.dtype)
    return x / y


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x, *, approximate):
    if approximate:
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
        return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype)
    return (0.5 * x * (1 + _erf(x / math.sqrt(2)))).astype(x.dtype)


def softmax(x, *, beta):
    if x.size == 0:  # nothing to normalize (numpy's max has no identity)
        return np.array(x, copy=True)
    z = (x - x.max(axis=-1, keepdims=True)) * beta
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


def log_softmax(x):
    if x.size == 0:
        return np.array(x, copy=True)
    z = x - x.max(axis=-1, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))).astype(x.dtype)


def l2_normalization(x, *, fused_activation_function):
    norm = np.sqrt(np.maximum((x.astype(np.float64) ** 2).sum(axis=-1, keepdims=True), 1e-12))
    return activation((x / norm).astype(x.dtype), fused_activation_function)
