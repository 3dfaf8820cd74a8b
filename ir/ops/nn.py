"""Neural-network ops: matmul, convolutions, pooling, softmax, resize.

Images are NHWC, conv filters HWIO, depthwise filters [H, W, C, M]. Padding
follows TF exactly: VALID uses no padding, SAME pads so that
``out = ceil(in / stride)`` with the odd cell at the bottom/right, EXPLICIT
takes ``explicit_paddings = [top, bottom, left, right]``. Kernels gather the
kernel taps as strided views: conv2d contracts them (im2col) with one matmul,
depthwise conv and pooling accumulate tap by tap, so whole CNNs run at numpy
speed.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from ..dtypes import DType
from ..registry import Attr, defop
from ..types import TensorType, is_static
from ._common import broadcast_shapes, const_ints, float_along_axis, require_numeric

# -- matmul -------------------------------------------------------------------


def _infer_matmul(ctx):
    a, b = ctx.types
    require_numeric(ctx, a.dtype)
    require_numeric(ctx, b.dtype)
    if a.dtype is not b.dtype and a.quant is None and b.quant is None:  # as in TF (a difftest finding)
        ctx.fail(f"operands must have the same dtype, got {a.dtype} and {b.dtype}")
    if a.shape is None or b.shape is None:
        return [TensorType(a.dtype, None)]
    if len(a.shape) < 2 or len(b.shape) < 2:
        ctx.fail(f"operands need rank >= 2, got ranks {len(a.shape)} and {len(b.shape)}")
    m, ka = a.shape[-2:][::-1] if ctx.attrs["transpose_a"] else a.shape[-2:]
    kb, n = b.shape[-2:][::-1] if ctx.attrs["transpose_b"] else b.shape[-2:]
    if ka is not None and kb is not None and ka != kb:
        ctx.fail(f"inner dimensions differ: {ka} vs {kb}")
    batch = broadcast_shapes(ctx, a.shape[:-2], b.shape[:-2])
    return [TensorType(a.dtype, tuple(batch) + (m, n))]


def _matmul(a, b, transpose_a=False, transpose_b=False):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)


defop(
    "core.matmul",
    batch_axis="matmul",
    doc="""Matrix product over the last two dims; leading (batch) dims
    broadcast. Covers TF MatMul and BatchMatMulV2 (adj_x/adj_y map to the
    transpose attributes).""",
    operands=["a", "b"],
    attrs={
        "transpose_a": Attr("bool", False, "use a's last two dims swapped"),
        "transpose_b": Attr("bool", False, "use b's last two dims swapped"),
    },
    infer=_infer_matmul,
    kernel=_matmul,
    category="nn",
)

# -- windows: shared by conv and pooling ----------------------------------------


def window_padding(
    size: Optional[int], k: int, stride: int, dilation: int, padding: str, explicit: Sequence[int] = (0, 0)
) -> Tuple[Optional[int], int, int]:
    """(output size, pad before, pad after) of one spatial dim, as TF computes them.

    ``size`` None (unknown) gives output None; SAME pads then are unknown too (returned 0)."""
    eff = (k - 1) * dilation + 1
    if padding == "VALID":
        if size is None:
            return None, 0, 0
        return max((size - eff) // stride + 1, 0), 0, 0
    if padding == "SAME":
        if size is None:
            return None, 0, 0
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, total - total // 2
    if padding == "EXPLICIT":
        before, after = explicit
        if size is None:
            return None, before, after
        return max((size + before + after - eff) // stride + 1, 0), before, after
    raise ValueError(f"padding must be SAME, VALID or EXPLICIT, got {padding!r}")


def _check_window_attrs(ctx, padding: str, strides, dilations, explicit) -> None:
    if padding not in ("SAME", "VALID", "EXPLICIT"):
        ctx.fail(f"padding must be SAME, VALID or EXPLICIT, got {padding!r}")
    if len(strides) != 2 or min(strides) < 1:
        ctx.fail(f"strides must be two positive ints [sh, sw], got {list(strides)}")
    if len(dilations) != 2 or min(dilations) < 1:
        ctx.fail(f"dilations must be two positive ints [dh, dw], got {list(dilations)}")
    if max(list(strides) + list(dilations) + list(explicit or [0])) >= 1 << 31:  # TFLite options are int32
        ctx.fail(f"strides {list(strides)}, dilations {list(dilations)} or paddings beyond int32 (a corrupt file?)")
    if padding == "EXPLICIT" and (len(explicit) != 4 or min(explicit) < 0):
        ctx.fail(f"explicit_paddings must be four non-negative ints [top, bottom, left, right], got {list(explicit)}")


def _spatial(ctx, x: TensorType, ksize, strides, dilations, padding, explicit):
    """Output (N, OH, OW) of a window op over NHWC ``x``."""
    explicit = list(explicit) or [0, 0, 0, 0]
    n, h, w = x.shape[0], x.shape[1], x.shape[2]
    oh = window_padding(h, ksize[0], strides[0], dilations[0], padding, explicit[0:2])[0]
    ow = window_padding(w, ksize[1], strides[1], dilations[1], padding, explicit[2:4])[0]
    return n, oh, ow


def _taps(x: np.ndarray, ksize, strides, dilations, padding, explicit, pad_value=0):
    """Yield ``(i, j, view)``: for each kernel tap, the [N, OH, OW, C] strided view of
    NHWC ``x`` (padded as TF pads) that the tap multiplies."""
    explicit = list(explicit) or [0, 0, 0, 0]
    _, h, w, _ = x.shape
    oh, t, b = window_padding(h, ksize[0], strides[0], dilations[0], padding, explicit[0:2])
    ow, l, r = window_padding(w, ksize[1], strides[1], dilations[1], padding, explicit[2:4])
    if t or b or l or r:
        x = np.pad(x, [(0, 0), (t, b), (l, r), (0, 0)], constant_values=pad_value)
    sh, sw = strides
    dh, dw = dilations
    for i in range(ksize[0]):
        for j in range(ksize[1]):
            y0, x0 = i * dh, j * dw
            yield i, j, x[:, y0 : y0 + (oh - 1) * sh + 1 : sh, x0 : x0 + (ow - 1) * sw + 1 : sw, :]


def window_patches(x: np.ndarray, ksize, strides, dilations, padding, explicit, positions=None) -> np.ndarray:
    """Windows of NHWC ``x`` as [N, OH, OW, KH, KW, C] (im2col), padded as TF pads (also what
    GPTQ measures a convolution's inputs with, backends/quantize/gptq.py). ``positions`` (flat
    indices into N * OH * OW): only those windows, as [P, KH, KW, C], gathered tap by tap so a
    caller that samples a few windows never builds the others."""
    views = [v for _, _, v in _taps(x, ksize, strides, dilations, padding, explicit)]  # [N, OH, OW, C] each
    if positions is None:
        p = np.stack(views, axis=3)
        return p.reshape(p.shape[:3] + tuple(ksize) + p.shape[4:])
    at = np.unravel_index(positions, views[0].shape[:3])
    p = np.stack([v[at] for v in views], axis=1)  # [P, KH * KW, C]
    return p.reshape((p.shape[0],) + tuple(ksize) + p.shape[2:])


_CONV_ATTRS = {
    "strides": Attr("ints", [1, 1], "[sh, sw]"),
    "dilations": Attr("ints", [1, 1], "[dh, dw]"),
    "padding": Attr("str", "VALID", "SAME, VALID or EXPLICIT"),
    "explicit_paddings": Attr("ints", [], "[top, bottom, left, right] for EXPLICIT"),
}


def _infer_conv(depthwise: bool):
    def infer(ctx):
        x, f = ctx.types
        a = ctx.attrs
        _check_window_attrs(ctx, a["padding"], a["strides"], a["dilations"], a["explicit_paddings"])
        if f.shape is not None and len(f.shape) != 4:
            ctx.fail(f"filter must have rank 4, got rank {len(f.shape)}")
        if x.shape is None:
            return [TensorType(x.dtype, None)]
        if len(x.shape) != 4:
            ctx.fail(f"input must be NHWC (rank 4), got rank {len(x.shape)}")
        if f.shape is None:
            return [TensorType(x.dtype, (x.shape[0], None, None, None))]
        kh, kw, cin, m = f.shape
        if cin is not None and x.shape[3] is not None and cin != x.shape[3] and (depthwise or x.shape[3] % cin):
            ctx.fail(f"input has {x.shape[3]} channels, filter expects {cin}")
        if kh is None or kw is None:
            return [TensorType(x.dtype, (x.shape[0], None, None, None))]
        n, oh, ow = _spatial(ctx, x, (kh, kw), a["strides"], a["dilations"], a["padding"], a["explicit_paddings"])
        c = x.shape[3] if depthwise else m
        out_c = None if c is None or m is None else (c * m if depthwise else m)
        return [TensorType(x.dtype, (n, oh, ow, out_c))]

    return infer


def _conv2d(x, filter, strides=(1, 1), dilations=(1, 1), padding="VALID", explicit_paddings=()):
    kh, kw, cin, cout = filter.shape
    p = window_patches(x, (kh, kw), strides, dilations, padding, explicit_paddings)
    groups = x.shape[3] // cin
    if groups == 1:
        n, oh, ow = p.shape[:3]
        cols = p.reshape(n * oh * ow, kh * kw * cin)
        return (cols @ filter.reshape(kh * kw * cin, cout)).reshape(n, oh, ow, cout)
    # Grouped convolution (TF allows in_channels = groups * filter in_channels).
    p = p.reshape(p.shape[:5] + (groups, cin))
    f = filter.reshape(kh, kw, cin, groups, cout // groups)
    out = np.einsum("nhwijgc,ijcgo->nhwgo", p, f, optimize=True)
    return out.reshape(out.shape[:3] + (cout,))


def _depthwise_conv2d(x, filter, strides=(1, 1), dilations=(1, 1), padding="VALID", explicit_paddings=()):
    kh, kw, c, m = filter.shape
    out = None
    for i, j, view in _taps(x, (kh, kw), strides, dilations, padding, explicit_paddings):
        term = view[..., None] * filter[i, j]  # [N, OH, OW, C, M]
        out = term if out is None else out + term
    return out.reshape(out.shape[:3] + (c * m,))


defop(
    "core.conv2d",
    batch_axis="spatial",
    doc="""2-D convolution (cross-correlation) of NHWC input with an HWIO
    filter, with TF's strides, dilations and SAME/VALID/EXPLICIT padding.""",
    operands=["x", "filter"],
    attrs=dict(_CONV_ATTRS),
    infer=_infer_conv(depthwise=False),
    kernel=_conv2d,
    category="nn",
)

defop(
    "core.depthwise_conv2d",
    batch_axis="spatial",
    doc="""Depthwise 2-D convolution: filter [H, W, C, M] applies M filters to
    each input channel; output channel c*M+m. Same attributes as conv2d.""",
    operands=["x", "filter"],
    attrs=dict(_CONV_ATTRS),
    infer=_infer_conv(depthwise=True),
    kernel=_depthwise_conv2d,
    category="nn",
)

# -- pooling ------------------------------------------------------------------

_POOL_ATTRS = {
    "ksize": Attr("ints", doc="[kh, kw]"),
    "strides": Attr("ints", doc="[sh, sw]"),
    "padding": Attr("str", doc="SAME or VALID"),
}


def _infer_pool(ctx):
    x = ctx.types[0]
    a = ctx.attrs
    if a["padding"] not in ("SAME", "VALID"):
        ctx.fail(f"padding must be SAME or VALID, got {a['padding']!r}")
    if len(a["ksize"]) != 2 or min(a["ksize"]) < 1:
        ctx.fail(f"ksize must be two positive ints [kh, kw], got {list(a['ksize'])}")
    _check_window_attrs(ctx, a["padding"], a["strides"], [1, 1], [])
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    if len(x.shape) != 4:
        ctx.fail(f"input must be NHWC (rank 4), got rank {len(x.shape)}")
    n, oh, ow = _spatial(ctx, x, a["ksize"], a["strides"], (1, 1), a["padding"], [])
    return [TensorType(x.dtype, (n, oh, ow, x.shape[3]))]


def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _window_sum(x, ksize, strides, padding, combine, pad_value=0):
    out = None
    for _, _, view in _taps(x, ksize, strides, (1, 1), padding, (), pad_value):
        out = view.copy() if out is None else combine(out, view)
    return out


def _max_pool(x, ksize, strides, padding):
    return _window_sum(x, ksize, strides, padding, np.maximum, pad_value=_lowest(x.dtype))


def _avg_pool(x, ksize, strides, padding):
    total = _window_sum(x, ksize, strides, padding, np.add)
    count = _window_sum(np.ones((1,) + x.shape[1:3] + (1,), x.dtype), ksize, strides, padding, np.add)
    return total / count


defop(
    "core.max_pool",
    batch_axis="spatial",
    doc="Max over each window of NHWC input; SAME padding never wins the max.",
    operands=["x"],
    attrs=dict(_POOL_ATTRS),
    infer=_infer_pool,
    kernel=_max_pool,
    category="nn",
)

defop(
    "core.avg_pool",
    batch_axis="spatial",
    doc="Mean over each window of NHWC input; with SAME padding, pad cells are left out of the count (TF).",
    operands=["x"],
    attrs=dict(_POOL_ATTRS),
    infer=_infer_pool,
    kernel=_avg_pool,
    category="nn",
)

# -- softmax ------------------------------------------------------------------


def _softmax(x, axis=-1, beta=1.0):
    if x.size == 0:  # nothing to normalize (numpy's max has no identity: a difftest finding)
        return np.array(x, copy=True)
    z = (x - x.max(axis=axis, keepdims=True)) * np.asarray(beta, x.dtype)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    if x.size == 0:
        return np.array(x, copy=True)
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


defop(
    "core.softmax",
    batch_axis="along_axis",
    doc="exp(beta * x) normalized to sum 1 along `axis` (beta is TFLite's; TF's is 1).",
    operands=["x"],
    attrs={"axis": Attr("int", -1), "beta": Attr("float", 1.0, "logit scale")},
    infer=float_along_axis,
    kernel=_softmax,
    category="nn",
)

defop(
    "core.log_softmax",
    batch_axis="along_axis",
    doc="log(softmax(x)) along `axis`, computed stably.",
    operands=["x"],
    attrs={"axis": Attr("int", -1)},
    infer=float_along_axis,
    kernel=_log_softmax,
    category="nn",
)

# -- transposed convolution ------------------------------------------------------------


def conv_transpose(output_shape, filter, x, strides, padding="VALID"):
    """TF Conv2DBackpropInput / Conv3DBackpropInputV2 (channels last, filter [*window, out, in]): each
    input pixel adds its filter-weighted copy at stride spacing; SAME crops the full result as the
    forward conv pads it."""
    x, filter = np.asarray(x), np.asarray(filter)
    out = [int(d) for d in np.asarray(output_shape).reshape(-1)]
    window, spatial = filter.shape[:-2], x.shape[1:-1]
    begin = [max((i - 1) * s + k - o, 0) // 2 if padding == "SAME" else 0
             for i, s, k, o in zip(spatial, strides, window, out[1:-1])]
    full = np.zeros([out[0]] + [max((i - 1) * s + k, b + o) for i, s, k, b, o in
                                zip(spatial, strides, window, begin, out[1:-1])] + [out[-1]], np.float64)
    for tap in np.ndindex(*window):
        index = (slice(None),) + tuple(slice(t, t + (i - 1) * s + 1, s) for t, i, s in zip(tap, spatial, strides))
        full[index] += np.tensordot(x, filter[tap], axes=([x.ndim - 1], [1]))
    return full[(slice(None),) + tuple(slice(b, b + o) for b, o in zip(begin, out[1:-1]))].astype(x.dtype)


def conv2d_transpose(output_shape, filter, x, strides=(1, 1), padding="VALID"):
    return conv_transpose(output_shape, filter, x, strides, padding)


def conv3d(x, filter, strides=(1, 1, 1), dilations=(1, 1, 1), padding="VALID"):
    """TF Conv3D (NDHWC, filter DHWIO): cross-correlation with strides, dilations, SAME/VALID."""
    x, filter = np.asarray(x), np.asarray(filter)
    window, spatial = filter.shape[:3], x.shape[1:4]
    outs, pads = [], []
    for i, k, s, d in zip(spatial, window, strides, dilations):
        span = (k - 1) * d + 1
        o = -(-i // s) if padding == "SAME" else (i - span) // s + 1
        total = max((o - 1) * s + span - i, 0) if padding == "SAME" else 0
        outs.append(o)
        pads.append((total // 2, total - total // 2))
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    y = np.zeros((x.shape[0], *outs, filter.shape[-1]), np.float64)
    for tap in np.ndindex(*window):
        index = (slice(None),) + tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                                       for t, d, o, s in zip(tap, dilations, outs, strides))
        y += np.tensordot(xp[index], filter[tap], axes=([4], [0]))
    return y.astype(x.dtype)


def _infer_conv3d(ctx):
    x, f = ctx.types
    a = ctx.attrs
    if a["padding"] not in ("SAME", "VALID"):
        ctx.fail(f"padding must be SAME or VALID, got {a['padding']!r}")
    for key in ("strides", "dilations"):
        if len(a[key]) != 3 or min(a[key]) < 1:
            ctx.fail(f"{key} must be three positive ints, got {a[key]}")
    for name, t in (("input", x), ("filter", f)):
        if t.shape is not None and len(t.shape) != 5:
            ctx.fail(f"{name} must have rank 5, got rank {len(t.shape)}")
    if x.shape is None or f.shape is None or not is_static(x.shape[1:4]) or not is_static(f.shape[:3]):
        return [TensorType(x.dtype, None if x.shape is None else (x.shape[0], None, None, None, None if f.shape is None else f.shape[4]))]
    outs = []
    for i, k, s, d in zip(x.shape[1:4], f.shape[:3], a["strides"], a["dilations"]):
        span = (k - 1) * d + 1
        if a["padding"] == "VALID" and i < span:
            ctx.fail(f"window {span} is larger than the input {i} (VALID)")
        outs.append(-(-i // s) if a["padding"] == "SAME" else (i - span) // s + 1)
    return [TensorType(x.dtype, (x.shape[0], *outs, f.shape[4]))]


defop(
    "core.conv3d",
    doc="""3-D convolution (cross-correlation) of NDHWC input with a DHWIO filter: TF Conv3D with
    strides, dilations and SAME/VALID padding.""",
    operands=["x", "filter"],
    attrs={"strides": Attr("ints", [1, 1, 1], "[d, h, w]"), "dilations": Attr("ints", [1, 1, 1], "[d, h, w]"),
           "padding": Attr("str", "VALID", "SAME or VALID")},
    infer=_infer_conv3d,
    kernel=conv3d,
    category="nn",
)


def _infer_conv_transpose(rank: int):
    def infer(ctx):
        _, f, x = ctx.types
        if ctx.attrs["padding"] not in ("SAME", "VALID"):
            ctx.fail(f"padding must be SAME or VALID, got {ctx.attrs['padding']!r}")
        if len(ctx.attrs["strides"]) != rank - 2 or min(ctx.attrs["strides"]) < 1:
            ctx.fail(f"strides must be {rank - 2} positive ints, got {ctx.attrs['strides']}")
        for name, t in (("filter", f), ("input", x)):
            if t.shape is not None and len(t.shape) != rank:
                ctx.fail(f"{name} must have rank {rank}, got rank {len(t.shape)}")
        shape = ctx.consts[0] if ctx.consts else None
        dims = None if shape is None else tuple(int(d) for d in np.asarray(shape).reshape(-1))
        if dims is not None and (len(dims) != rank or min(dims) < 0):
            ctx.fail(f"output_shape must be {rank} dims >= 0, got {list(dims)}")
        return [TensorType(x.dtype, dims)]

    return infer


defop(
    "core.conv2d_transpose",
    doc="""Transposed 2-D convolution as TF Conv2DBackpropInput (NHWC): the gradient of conv2d with
    respect to its input, for an output of `output_shape` (shape-like), an HWOI filter
    [H, W, out_channels, in_channels], strides and SAME/VALID padding (no dilation).""",
    operands=["output_shape", "filter", "x"],
    attrs={"strides": Attr("ints", [1, 1], "[stride_h, stride_w]"),
           "padding": Attr("str", "VALID", "SAME or VALID, as of the forward conv")},
    infer=_infer_conv_transpose(4),
    kernel=conv2d_transpose,
    category="nn",
)

defop(
    "core.conv3d_transpose",
    doc="""Transposed 3-D convolution as TF Conv3DBackpropInputV2 (NDHWC): output_shape (shape-like),
    a DHWOI filter [D, H, W, out_channels, in_channels], strides and SAME/VALID padding.""",
    operands=["output_shape", "filter", "x"],
    attrs={"strides": Attr("ints", [1, 1, 1], "[stride_d, stride_h, stride_w]"),
           "padding": Attr("str", "VALID", "SAME or VALID, as of the forward conv")},
    infer=_infer_conv_transpose(5),
    kernel=lambda output_shape, filter, x, strides=(1, 1, 1), padding="VALID": conv_transpose(
        output_shape, filter, x, strides, padding),
    category="nn",
)

# -- local response normalization ---------------------------------------------


def local_response_norm(x, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5):
    """TF LRN (and TFLite LOCAL_RESPONSE_NORMALIZATION, same maths): the window sum of squares
    over channels ``d - depth_radius .. d + depth_radius`` (clipped to the channel range)."""
    x = np.asarray(x)
    r = int(depth_radius)
    sq = np.square(x.astype(np.float64))
    c = np.cumsum(np.pad(sq, [(0, 0)] * (x.ndim - 1) + [(r + 1, r)]), axis=-1)
    window = c[..., 2 * r + 1:] - c[..., : -(2 * r + 1)]  # sum of sq[d - r .. d + r]
    return (x / np.power(bias + alpha * window, beta)).astype(x.dtype)


def _infer_lrn(ctx):
    t = ctx.types[0]
    if t.shape is not None and len(t.shape) != 4:
        ctx.fail(f"expects a 4-D NHWC input, got rank {len(t.shape)}")
    if ctx.attrs["depth_radius"] < 0:
        ctx.fail(f"depth_radius must be >= 0, got {ctx.attrs['depth_radius']}")
    return [t]


defop(
    "core.local_response_norm",
    doc="""Local response normalization across channels (TF LRN, NHWC):
    ``x / (bias + alpha * sum(x[..., d-r..d+r] ** 2)) ** beta`` with ``r = depth_radius``
    (alpha is not divided by the window size).""",
    operands=["x"],
    attrs={
        "depth_radius": Attr("int", 5, "half-width of the channel window"),
        "bias": Attr("float", 1.0, "offset, usually positive to avoid dividing by 0"),
        "alpha": Attr("float", 1.0, "scale of the sum of squares"),
        "beta": Attr("float", 0.5, "exponent"),
    },
    infer=_infer_lrn,
    kernel=local_response_norm,
    category="nn",
)

# -- resize -------------------------------------------------------------------

_RESIZE_ATTRS = {
    "align_corners": Attr("bool", False, "corner pixels of input and output line up"),
    "half_pixel_centers": Attr("bool", False, "sample at pixel centers (TF2 default)"),
}


def _infer_resize(result_dtype):
    def infer(ctx):
        x, size = ctx.types
        dtype = result_dtype or x.dtype
        if ctx.attrs["align_corners"] and ctx.attrs["half_pixel_centers"]:
            ctx.fail("align_corners and half_pixel_centers cannot both be true")
        hw = const_ints(ctx, 1)
        if hw is not None and len(hw) != 2:
            ctx.fail(f"size must hold two values [height, width], got {hw}")
        if x.shape is None:
            return [TensorType(dtype, None)]
        if len(x.shape) != 4:
            ctx.fail(f"input must be NHWC (rank 4), got rank {len(x.shape)}")
        oh, ow = hw if hw is not None else (None, None)
        return [TensorType(dtype, (x.shape[0], oh, ow, x.shape[3]))]

    return infer


def _resize_scale(in_size: int, out_size: int, align_corners: bool) -> np.float32:
    if align_corners and out_size > 1:
        return np.float32(in_size - 1) / np.float32(out_size - 1)
    return np.float32(in_size) / np.float32(out_size)


def _bilinear_weights(in_size, out_size, align_corners, half_pixel_centers):
    scale = _resize_scale(in_size, out_size, align_corners)
    i = np.arange(out_size, dtype=np.float32)
    src = (i + np.float32(0.5)) * scale - np.float32(0.5) if half_pixel_centers else i * scale
    floor = np.floor(src)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    return lower, upper, (src - floor).astype(np.float32)


def _resize_bilinear(x, size, align_corners=False, half_pixel_centers=False):
    oh, ow = (int(v) for v in np.asarray(size).reshape(-1))
    x = x.astype(np.float32)
    y0, y1, ly = _bilinear_weights(x.shape[1], oh, align_corners, half_pixel_centers)
    x0, x1, lx = _bilinear_weights(x.shape[2], ow, align_corners, half_pixel_centers)
    lx = lx[None, None, :, None]
    ly = ly[None, :, None, None]
    top = x[:, y0][:, :, x0] + (x[:, y0][:, :, x1] - x[:, y0][:, :, x0]) * lx
    bottom = x[:, y1][:, :, x0] + (x[:, y1][:, :, x1] - x[:, y1][:, :, x0]) * lx
    return top + (bottom - top) * ly


def _nearest_index(in_size, out_size, align_corners, half_pixel_centers):
    scale = _resize_scale(in_size, out_size, align_corners)
    i = np.arange(out_size, dtype=np.float32)
    src = (i + np.float32(0.5)) * scale if half_pixel_centers else i * scale
    # roundf rounds half away from zero; np.round would round half to even.
    idx = np.floor(src + np.float32(0.5)) if align_corners else np.floor(src)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return np.maximum(idx, 0) if half_pixel_centers else idx


def _resize_nearest(x, size, align_corners=False, half_pixel_centers=False):
    oh, ow = (int(v) for v in np.asarray(size).reshape(-1))
    ys = _nearest_index(x.shape[1], oh, align_corners, half_pixel_centers)
    xs = _nearest_index(x.shape[2], ow, align_corners, half_pixel_centers)
    return x[:, ys][:, :, xs]


defop(
    "core.resize_bilinear",
    batch_axis="spatial",
    doc="""Bilinear resize of NHWC images to `size` = [height, width] (int32),
    TF ResizeBilinear coordinates; the result is f32 whatever the input
    type, as in TF.""",
    operands=["x", "size"],
    attrs=dict(_RESIZE_ATTRS),
    infer=_infer_resize(DType.FLOAT32),
    kernel=_resize_bilinear,
    category="nn",
)

defop(
    "core.resize_nearest",
    batch_axis="spatial",
    doc="Nearest-neighbour resize of NHWC images to `size` = [height, width], TF ResizeNearestNeighbor coordinates.",
    operands=["x", "size"],
    attrs=dict(_RESIZE_ATTRS),
    infer=_infer_resize(None),
    kernel=_resize_nearest,
    category="nn",
)
