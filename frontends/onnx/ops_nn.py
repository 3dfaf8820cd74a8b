"""ONNX neural-network ops: convolutions, pooling, normalizations, Gemm/MatMul, softmax.

ONNX images are NCHW; the core set is NHWC. Each conv or pool is wrapped in a
transpose to NHWC and one back; the ``nchw-to-nhwc`` pass later pushes those
transposes through layout-agnostic ops and cancels them, so a CNN keeps only
the ones at its inputs and outputs. 1-D convs and pools run as 2-D ones over
a unit height. Per-channel parameters (batch norm) broadcast as [C, 1, 1].
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
from litesmith.ir.graph import Value

from .registry import BadNode, Unsupported, need_rank, onnx_op, static_shape

TO_NHWC = [0, 2, 3, 1]
TO_NCHW = [0, 3, 1, 2]


# -- shared window geometry ------------------------------------------------------------


def _window_attrs(node, spatial: int):
    kernel = node.attr_ints("kernel_shape", None)
    strides = node.attr_ints("strides", None) or [1] * spatial
    dilations = node.attr_ints("dilations", None) or [1] * spatial
    pads = node.attr_ints("pads", None) or [0] * (2 * spatial)
    if len(strides) != spatial or len(dilations) != spatial or len(pads) != 2 * spatial \
            or (kernel is not None and len(kernel) != spatial):
        raise Unsupported("kernel_shape/strides/dilations/pads do not match the input rank")
    return kernel, strides, dilations, pads


def _same_pads(size: int, k: int, s: int, d: int, lower: bool) -> Tuple[int, int]:
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    small = total // 2
    return (total - small, small) if lower else (small, total - small)


def _explicit_pads(node, x_hw: Sequence[Optional[int]], kernel, strides, dilations, pads) -> Tuple[str, List[int]]:
    """("SAME" | "VALID" | "EXPLICIT", [top, bottom, left, right]) for a 2-D window op."""
    auto = node.attr_str("auto_pad", "NOTSET")
    if auto == "SAME_UPPER":
        return "SAME", []
    if auto == "VALID":
        return "VALID", [0, 0, 0, 0]
    if auto == "SAME_LOWER":
        if any(d is None for d in x_hw):
            raise Unsupported("SAME_LOWER padding needs static spatial dims")
        (t, b), (left, r) = (_same_pads(x_hw[i], kernel[i], strides[i], dilations[i], True) for i in range(2))
        return "EXPLICIT", [t, b, left, r]
    if auto != "NOTSET":
        raise Unsupported(f"auto_pad={auto}")
    explicit = [pads[0], pads[2], pads[1], pads[3]]
    if any(p < 0 for p in explicit):
        raise Unsupported("negative pads")
    return ("VALID", explicit) if not any(explicit) else ("EXPLICIT", explicit)


def _to_2d(ctx, node, x: Value, attrs):
    """A rank-3 (N, C, L) input as rank 4 (N, C, 1, L), with the window attributes to match."""
    kernel, strides, dilations, pads = attrs
    x4 = ctx.op("core.expand_dims", [x], {"axis": 2})
    kernel = None if kernel is None else [1] + kernel
    return x4, (kernel, [1] + strides, [1] + dilations, [0, pads[0], 0, pads[1]])


def _from_2d(ctx, y: Value) -> Value:
    return ctx.op("core.squeeze", [y], {"axes": [2]})


# -- Conv --------------------------------------------------------------------------------------


@onnx_op("Conv", inputs=(2, 3))
def _conv(ctx, node, inputs):
    x, w = inputs[:2]
    b = inputs[2] if len(inputs) > 2 else None
    rank = need_rank(x)
    if need_rank(w, "weights") != rank or rank not in (3, 4):
        raise Unsupported(f"{rank - 2}-D convolution")
    attrs = _window_attrs(node, rank - 2)
    kshape = static_shape(w, "weights")
    if rank == 3:
        x, attrs = _to_2d(ctx, node, x, attrs)
        w = ctx.reshape(w, [kshape[0], kshape[1], 1, kshape[2]]) if w.const_value() is not None \
            else ctx.op("core.expand_dims", [w], {"axis": 2})
        kshape = (kshape[0], kshape[1], 1, kshape[2])
    kernel, strides, dilations, pads = attrs
    if kernel is not None and list(kernel) != list(kshape[2:]):
        raise Unsupported("kernel_shape differs from the weights' shape")
    group = node.attr_int("group", 1)
    channels = x.shape[1] if x.shape is not None else None
    if channels is None or group < 1 or channels % group or kshape[1] * group != channels or kshape[0] % group:
        raise Unsupported("the channel count must be static and match the weights and group")
    padding, explicit = _explicit_pads(node, x.shape[2:], kshape[2:], strides, dilations, pads)
    core_attrs = {"strides": strides, "dilations": dilations, "padding": padding}
    if padding == "EXPLICIT":
        core_attrs["explicit_paddings"] = explicit
    xt = ctx.transpose(x, TO_NHWC)
    if group == 1:
        y = ctx.op("core.conv2d", [xt, ctx.transpose(w, [2, 3, 1, 0])], core_attrs)
    elif group == channels and kshape[1] == 1:
        mult = kshape[0] // channels
        filt = ctx.transpose(ctx.reshape(w, [channels, mult, kshape[2], kshape[3]]), [2, 3, 0, 1])
        y = ctx.op("core.depthwise_conv2d", [xt, filt], core_attrs)
    else:
        per_in, per_out = channels // group, kshape[0] // group
        xs = ctx.ops("core.split", [xt], {"axis": 3, "sizes": [per_in] * group})
        ws = ctx.ops("core.split", [w], {"axis": 0, "sizes": [per_out] * group})
        ys = [ctx.op("core.conv2d", [xi, ctx.transpose(wi, [2, 3, 1, 0])], core_attrs) for xi, wi in zip(xs, ws)]
        y = ctx.op("core.concat", ys, {"axis": 3})
    if b is not None:
        y = ctx.op("core.add", [y, b])
    y = ctx.transpose(y, TO_NCHW)
    return [_from_2d(ctx, y) if rank == 3 else y]


@onnx_op("ConvTranspose", inputs=(2, 3))
def _conv_transpose(ctx, node, inputs):
    """A transposed conv is a conv of the input with zeros inserted between its pixels (stride), padded by
    dilation * (kernel - 1) minus the pads, with the kernel flipped and its in/out channels swapped."""
    x, w = inputs[:2]
    b = inputs[2] if len(inputs) > 2 else None
    rank = need_rank(x)
    if rank not in (3, 4) or need_rank(w, "weights") != rank:
        raise Unsupported(f"{rank - 2}-D transposed convolution")
    attrs = _window_attrs(node, rank - 2)
    out_pad = node.attr_ints("output_padding", None) or [0] * (rank - 2)
    out_shape = node.attr_ints("output_shape", None)
    if rank == 3:
        x, attrs = _to_2d(ctx, node, x, attrs)
        w = ctx.op("core.expand_dims", [w], {"axis": 2})
        out_pad = [0] + out_pad
        out_shape = None if out_shape is None else [1] + out_shape[-1:]
    kernel, strides, dilations, pads = attrs
    group = node.attr_int("group", 1)
    shape = static_shape(x)
    wshape = static_shape(w, "weights")
    cin, k = shape[1], wshape[2:]
    if wshape[0] != cin or cin % group:
        raise Unsupported("weights do not match the input channels and group")
    auto = node.attr_str("auto_pad", "NOTSET")
    begin, end = [], []
    for i in range(2):
        full = strides[i] * (shape[2 + i] - 1) + out_pad[i] + (k[i] - 1) * dilations[i] + 1
        if out_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
            target = out_shape[len(out_shape) - 2 + i] if out_shape is not None else shape[2 + i] * strides[i]
            total = full - target
            small = total // 2
            pb, pe = (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
        elif auto == "VALID":
            pb = pe = 0
        else:
            pb, pe = pads[i], pads[2 + i]
        begin.append((k[i] - 1) * dilations[i] - pb)
        end.append((k[i] - 1) * dilations[i] - pe + out_pad[i] - (strides[i] - 1))  # zeros already trail
    y = ctx.transpose(x, TO_NHWC)
    y = _insert_zeros(ctx, y, strides)
    y = _pad_or_crop(ctx, y, begin, end)
    filt = ctx.op("core.reverse", [w], {"axes": [2, 3]})  # [cin, cout/g, kh, kw], flipped (folds if constant)
    conv_attrs = {"strides": [1, 1], "dilations": list(dilations), "padding": "VALID"}
    if group == 1:
        y = ctx.op("core.conv2d", [y, ctx.transpose(filt, [2, 3, 0, 1])], conv_attrs)
    else:
        per = cin // group
        xs = ctx.ops("core.split", [y], {"axis": 3, "sizes": [per] * group})
        fs = ctx.ops("core.split", [filt], {"axis": 0, "sizes": [per] * group})
        ys = [ctx.op("core.conv2d", [xi, ctx.transpose(fi, [2, 3, 0, 1])], conv_attrs) for xi, fi in zip(xs, fs)]
        y = ctx.op("core.concat", ys, {"axis": 3})
    if b is not None:
        y = ctx.op("core.add", [y, b])
    y = ctx.transpose(y, TO_NCHW)
    return [_from_2d(ctx, y) if rank == 3 else y]


def _insert_zeros(ctx, y, strides):
    """NHWC ``y`` with stride - 1 zeros after every pixel along H and W (5-D at most, as TFLite's PAD takes)."""
    for axis, s in ((1, strides[0]), (2, strides[1])):
        if s == 1:
            continue
        shape = list(static_shape(y))
        e = ctx.op("core.expand_dims", [y], {"axis": axis + 1})
        pads = np.zeros((5, 2), np.int32)
        pads[axis + 1, 1] = s - 1
        e = ctx.op("core.pad", [e, ctx.const(pads)])
        shape[axis] *= s
        y = ctx.reshape(e, shape)
    return y


def _pad_or_crop(ctx, y, begin, end):
    shape = list(static_shape(y))
    pads = np.zeros((4, 2), np.int32)
    start, size = [0] * 4, list(shape)
    for i in range(2):
        pads[1 + i] = [max(begin[i], 0), max(end[i], 0)]
        start[1 + i] = max(-begin[i], 0)
        size[1 + i] = shape[1 + i] + min(begin[i], 0) + min(end[i], 0)
    if min(size) <= 0:
        raise Unsupported("pads larger than the output")
    if start != [0] * 4 or size != shape:
        y = ctx.op("core.slice", [y, ctx.i32(start), ctx.i32(size)])
    if pads.any():
        y = ctx.op("core.pad", [y, ctx.const(pads)])
    return y


@onnx_op("CausalConvWithState", inputs=(2, 4))
def _causal_conv(ctx, node, inputs):
    """Depthwise 1-D conv over [past_state, input] (zeros without a past): output and the last k-1 steps."""
    x, w = inputs[:2]
    b = inputs[2] if len(inputs) > 2 else None
    past = inputs[3] if len(inputs) > 3 else None
    n, c, length = static_shape(x)
    wc, _, k = static_shape(w, "weight")
    act = node.attr_str("activation", "none")
    if wc != c or act not in ("none", "silu", "swish"):
        raise Unsupported(f"weights of {wc} channels for {c} / activation {act}")
    if past is None:
        past = ctx.const(np.zeros((n, c, k - 1), x.dtype.np))
    full = ctx.op("core.concat", [past, x], {"axis": 2}) if k > 1 else x
    xt = ctx.transpose(ctx.op("core.expand_dims", [full], {"axis": 2}), TO_NHWC)  # [n, 1, L + k - 1, c]
    filt = ctx.transpose(ctx.reshape(w, [c, 1, 1, k]), [2, 3, 0, 1])  # [1, k, c, 1]
    y = ctx.op("core.depthwise_conv2d", [xt, filt], {"padding": "VALID"})
    if b is not None:
        y = ctx.op("core.add", [y, b])
    if act != "none":
        y = ctx.op("core.mul", [y, ctx.op("core.sigmoid", [y])])
    y = ctx.op("core.squeeze", [ctx.transpose(y, TO_NCHW)], {"axes": [2]})
    state = ctx.op("core.slice", [full, ctx.i32([0, 0, length]), ctx.i32([n, c, k - 1])]) if k > 1 else \
        ctx.const(np.zeros((n, c, 0), x.dtype.np))
    return [y, state]


# -- pooling ------------------------------------------------------------------------------------


def _pool_geometry(node, x: Value, attrs):
    """Padding mode and [top, bottom, left, right] pads, with ceil_mode's extra end padding."""
    kernel, strides, dilations, pads = attrs
    if kernel is None:
        raise Unsupported("kernel_shape is missing")
    if any(d != 1 for d in dilations):
        raise Unsupported("dilated pooling")
    padding, explicit = _explicit_pads(node, x.shape[2:], kernel, strides, dilations, pads)
    extra = [0, 0]
    if node.attr_int("ceil_mode", 0) and padding != "SAME":
        hw = static_shape(x)[2:]
        for i in range(2):
            begin, end = explicit[2 * i], explicit[2 * i + 1]
            span = hw[i] + begin + end - kernel[i]
            out = -(-span // strides[i]) + 1
            if (out - 1) * strides[i] >= hw[i] + begin:  # a window starting in the end padding is dropped
                out -= 1
            extra[i] = max((out - 1) * strides[i] + kernel[i] - (hw[i] + begin + end), 0)
        if any(extra):
            padding = "EXPLICIT"
    return padding, explicit, extra


def _pad_nhwc(ctx, xt: Value, explicit: List[int], extra: List[int], value) -> Value:
    t, b, left, r = explicit
    pads = np.array([[0, 0], [t, b + extra[0]], [left, r + extra[1]], [0, 0]], np.int32)
    if not pads.any():
        return xt
    return ctx.op("core.pad", [xt, ctx.const(pads), ctx.scalar_like(xt, value)])


def _pool(kind: str):
    def fn(ctx, node, inputs):
        x = inputs[0]
        rank = need_rank(x)
        if node.num_outputs > 1:
            raise Unsupported("the Indices output")
        if node.attr_int("storage_order", 0):
            raise Unsupported("storage_order=1")
        if rank not in (3, 4) or any(d != 1 for d in _window_attrs(node, rank - 2)[2]):
            return [sliced_pool(ctx, node, x, kind)]
        attrs = _window_attrs(node, rank - 2)
        if rank == 3:
            x, attrs = _to_2d(ctx, node, x, attrs)
        kernel, strides = attrs[0], attrs[1]
        padding, explicit, extra = _pool_geometry(node, x, attrs)
        xt = ctx.transpose(x, TO_NHWC)
        window = {"ksize": list(kernel), "strides": list(strides)}
        if kind == "max":
            if padding == "EXPLICIT":
                low = -np.inf if x.dtype.is_float else np.iinfo(x.dtype.np).min
                xt, padding = _pad_nhwc(ctx, xt, explicit, extra, low), "VALID"
            y = ctx.op("core.max_pool", [xt], {**window, "padding": padding})
        else:
            y = _avg_pool(ctx, node, xt, x, window, padding, explicit, extra)
        y = ctx.transpose(y, TO_NCHW)
        return [_from_2d(ctx, y) if rank == 3 else y]

    return fn


def _avg_pool(ctx, node, xt, x, window, padding, explicit, extra):
    include = node.attr_int("count_include_pad", 0)
    if padding == "SAME" and include:
        padding, explicit = "EXPLICIT", _explicit_pads_same(x, window)
    if padding != "EXPLICIT":
        return ctx.op("core.avg_pool", [xt], {**window, "padding": padding})
    y = ctx.op("core.avg_pool", [_pad_nhwc(ctx, xt, explicit, extra, 0)], {**window, "padding": "VALID"})
    hw = static_shape(x)[2:]
    mask = np.zeros((hw[0] + sum(explicit[:2]) + extra[0], hw[1] + sum(explicit[2:]) + extra[1]), np.float64)
    if include:  # explicit pads count, ceil_mode's extra end padding does not (onnxruntime)
        mask[: mask.shape[0] - extra[0], : mask.shape[1] - extra[1]] = 1
    else:
        mask[explicit[0]: explicit[0] + hw[0], explicit[2]: explicit[2] + hw[1]] = 1
    kh, kw = window["ksize"]
    sh, sw = window["strides"]
    oh, ow = (mask.shape[0] - kh) // sh + 1, (mask.shape[1] - kw) // sw + 1
    counts = np.array([[mask[i * sh: i * sh + kh, j * sw: j * sw + kw].sum() for j in range(ow)] for i in range(oh)])
    if np.all(counts == kh * kw):
        return y
    scale = (kh * kw) / np.maximum(counts, 1)
    return ctx.op("core.mul", [y, ctx.const(scale.reshape(1, oh, ow, 1).astype(x.dtype.np))])


def _explicit_pads_same(x, window) -> List[int]:
    hw = static_shape(x)[2:]
    (t, b), (left, r) = (_same_pads(hw[i], window["ksize"][i], window["strides"][i], 1, False) for i in range(2))
    return [t, b, left, r]


def _lp_pool(ctx, node, inputs):
    """(sum over the window of |x|^p)^(1/p): an average pool of |x|^p times the window size."""
    x = inputs[0]
    rank = need_rank(x)
    if rank not in (3, 4) or any(d != 1 for d in _window_attrs(node, rank - 2)[2]):
        return [sliced_pool(ctx, node, x, "lp")]
    p = node.attr_int("p", 2)
    attrs = _window_attrs(node, rank - 2)
    if rank == 3:
        x, attrs = _to_2d(ctx, node, x, attrs)
    kernel, strides = attrs[0], attrs[1]
    padding, explicit, extra = _pool_geometry(node, x, attrs)
    if padding == "SAME":
        padding, explicit = "EXPLICIT", _explicit_pads_same(x, {"ksize": kernel, "strides": strides})
    powered = ctx.op("core.square", [x]) if p == 2 else \
        ctx.op("core.pow", [ctx.op("core.abs", [x]), ctx.scalar_like(x, p)])
    xt = ctx.transpose(powered, TO_NHWC)
    if padding == "EXPLICIT":
        xt = _pad_nhwc(ctx, xt, explicit, extra, 0)
    y = ctx.op("core.avg_pool", [xt], {"ksize": list(kernel), "strides": list(strides), "padding": "VALID"})
    y = ctx.op("core.mul", [y, ctx.scalar_like(x, kernel[0] * kernel[1])])
    y = ctx.op("core.sqrt", [y]) if p == 2 else ctx.op("core.pow", [y, ctx.scalar_like(x, 1.0 / p)])
    y = ctx.transpose(y, TO_NCHW)
    return [_from_2d(ctx, y) if rank == 3 else y]


onnx_op("LpPool", inputs=1)(_lp_pool)


def sliced_pool(ctx, node, x, kind: str):
    """Pooling the TFLite pools cannot express (dilated windows, 3-D): one strided slice of the padded
    input per kernel offset, combined with maximum or sums; averages divide by the count of cells each
    window covers (counted on constants, as the 2-D path does)."""
    shape = static_shape(x)
    spatial = len(shape) - 2
    if spatial < 1 or spatial > 3:
        raise Unsupported(f"{spatial}-D pooling")
    kernel, strides, dilations, pads = _window_attrs(node, spatial)
    if kernel is None:
        raise Unsupported("kernel_shape is missing")
    auto = node.attr_str("auto_pad", "NOTSET")
    ceil = node.attr_int("ceil_mode", 0)
    begin, end, extra, out = [], [], [], []
    for i in range(spatial):
        size, k, s, d = shape[2 + i], kernel[i], strides[i], dilations[i]
        eff = (k - 1) * d + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pb, pe = _same_pads(size, k, s, d, auto == "SAME_LOWER")
        elif auto == "VALID":
            pb = pe = 0
        elif auto == "NOTSET":
            pb, pe = pads[i], pads[spatial + i]
        else:
            raise Unsupported(f"auto_pad={auto}")
        span = size + pb + pe - eff
        if span < 0:
            raise Unsupported("the window is larger than the padded input")
        n = (-(-span // s) if ceil else span // s) + 1
        if ceil and (n - 1) * s >= size + pb:
            n -= 1
        begin.append(pb)
        end.append(pe)
        extra.append(max((n - 1) * s + eff - (size + pb + pe), 0))
        out.append(n)
    low = {"max": -np.inf if x.dtype.is_float else np.iinfo(x.dtype.np).min}.get(kind, 0)
    src = x
    p = node.attr_int("p", 2) if kind == "lp" else None
    if kind == "lp":
        src = ctx.op("core.square", [x]) if p == 2 else ctx.op("core.pow", [ctx.op("core.abs", [x]), ctx.scalar_like(x, p)])
    paddings = np.array([[0, 0], [0, 0]] + [[begin[i], end[i] + extra[i]] for i in range(spatial)], np.int32)
    if paddings.any():
        src = ctx.op("core.pad", [src, ctx.const(paddings), ctx.scalar_like(x, low)])
    acc = None
    for offset in np.ndindex(*kernel):
        start = [0, 0] + [offset[i] * dilations[i] for i in range(spatial)]
        stop = [shape[0], shape[1]] + [start[2 + i] + (out[i] - 1) * strides[i] + 1 for i in range(spatial)]
        piece = ctx.op("core.strided_slice", [src, ctx.i32(start), ctx.i32(stop), ctx.i32([1, 1] + list(strides))])
        acc = piece if acc is None else ctx.op("core.maximum" if kind == "max" else "core.add", [acc, piece])
    if kind == "max":
        return acc
    if kind == "lp":
        return ctx.op("core.sqrt", [acc]) if p == 2 else ctx.op("core.pow", [acc, ctx.scalar_like(x, 1.0 / p)])
    mask = np.zeros([shape[2 + i] + begin[i] + end[i] + extra[i] for i in range(spatial)])
    if node.attr_int("count_include_pad", 0):
        mask[tuple(slice(0, mask.shape[i] - extra[i]) for i in range(spatial))] = 1
    else:
        mask[tuple(slice(begin[i], begin[i] + shape[2 + i]) for i in range(spatial))] = 1
    counts = np.zeros(out)
    for offset in np.ndindex(*kernel):
        counts += mask[tuple(slice(offset[i] * dilations[i], offset[i] * dilations[i] + (out[i] - 1) * strides[i] + 1,
                                   strides[i]) for i in range(spatial))]
    return ctx.op("core.div", [acc, ctx.const(np.maximum(counts, 1).astype(x.dtype.np))])


@onnx_op("GlobalLpPool", inputs=1)
def _global_lp_pool(ctx, node, inputs):
    x = inputs[0]
    rank = need_rank(x)
    p = node.attr_int("p", 2)
    powered = ctx.op("core.pow", [ctx.op("core.abs", [x]), ctx.scalar_like(x, p)])
    s = ctx.op("core.reduce_sum", [powered], {"axes": list(range(2, rank)), "keepdims": True})
    return [ctx.op("core.pow", [s, ctx.scalar_like(x, 1.0 / p)])]


onnx_op("MaxPool", inputs=1)(_pool("max"))
onnx_op("AveragePool", inputs=1)(_pool("avg"))


def _global_pool(core_op):
    def fn(ctx, node, inputs):
        x = inputs[0]
        rank = need_rank(x)
        if rank < 3:
            raise Unsupported("global pooling of a rank < 3 tensor")
        return [ctx.op(core_op, [x], {"axes": list(range(2, rank)), "keepdims": True})]

    return fn


onnx_op("GlobalAveragePool", inputs=1)(_global_pool("core.reduce_mean"))
onnx_op("GlobalMaxPool", inputs=1)(_global_pool("core.reduce_max"))


# -- normalization ---------------------------------------------------------------------------


def _per_channel(ctx, v: Value, rank: int) -> Value:
    """A [C] vector shaped [C, 1, ...] to broadcast against an N, C, ... tensor."""
    return ctx.reshape(v, [-1] + [1] * (rank - 2)) if rank > 2 else v


@onnx_op("BatchNormalization", inputs=5)
def _batch_norm(ctx, node, inputs):
    x, scale, bias, mean, var = inputs
    if node.attr_int("training_mode", 0):
        return _batch_norm_training(ctx, node, inputs)
    if node.num_outputs > 1 and node.opset >= 14:
        raise Unsupported("running statistics outside training mode")
    if node.opset < 9 and not node.attr_int("spatial", 1):
        raise Unsupported("spatial=0")
    rank = need_rank(x)
    eps = node.attr_float("epsilon", 1e-5)
    consts = [v.const_value() for v in (scale, bias, mean, var)]
    channels = x.shape[1] if x.shape is not None and len(x.shape) > 1 else None
    for name, v in zip(("scale", "B", "mean", "var"), (scale, bias, mean, var)):
        if v.shape is not None and (len(v.shape) != 1 or None not in (channels, v.shape[0]) and v.shape[0] != channels):
            raise BadNode(f"{name} has shape {list(v.shape)}, not [{channels}] (one value per channel)")
    if all(c is not None for c in consts):
        s, o, m, va = (np.asarray(c, np.float64) for c in consts)
        mul = s / np.sqrt(va + eps)
        add = o - m * mul
        mul_v = _per_channel(ctx, ctx.const(mul.astype(x.dtype.np)), rank)
        add_v = _per_channel(ctx, ctx.const(add.astype(x.dtype.np)), rank)
    else:
        inv = ctx.op("core.rsqrt", [ctx.op("core.add", [var, ctx.scalar_like(var, eps)])])
        mul_v = ctx.op("core.mul", [inv, scale])
        add_v = ctx.op("core.sub", [bias, ctx.op("core.mul", [mean, mul_v])])
        mul_v, add_v = _per_channel(ctx, mul_v, rank), _per_channel(ctx, add_v, rank)
    y = ctx.op("core.add", [ctx.op("core.mul", [x, mul_v]), add_v])
    return [y] + [mean, var][: node.num_outputs - 1]


def _batch_norm_training(ctx, node, inputs):
    """Training mode: normalize with the batch's statistics; the running ones move by ``momentum``."""
    x, scale, bias, mean, var = inputs
    rank = need_rank(x)
    axes = [0] + list(range(2, rank))
    eps, momentum = node.attr_float("epsilon", 1e-5), node.attr_float("momentum", 0.9)
    bmean = ctx.op("core.reduce_mean", [x], {"axes": axes, "keepdims": False})
    bvar = ctx.op("core.reduce_mean", [ctx.op("core.square", [ctx.op("core.sub", [x, _per_channel(ctx, bmean, rank)])])],
                  {"axes": axes, "keepdims": False})
    inv = ctx.op("core.rsqrt", [ctx.op("core.add", [bvar, ctx.scalar_like(x, eps)])])
    mul = ctx.op("core.mul", [inv, scale])
    add = ctx.op("core.sub", [bias, ctx.op("core.mul", [bmean, mul])])
    y = ctx.op("core.add", [ctx.op("core.mul", [x, _per_channel(ctx, mul, rank)]), _per_channel(ctx, add, rank)])
    m, one_m = ctx.scalar_like(x, momentum), ctx.scalar_like(x, 1 - momentum)
    run_mean = ctx.op("core.add", [ctx.op("core.mul", [mean, m]), ctx.op("core.mul", [bmean, one_m])])
    run_var = ctx.op("core.add", [ctx.op("core.mul", [var, m]), ctx.op("core.mul", [bvar, one_m])])
    return [y, run_mean, run_var][: max(node.num_outputs, 1)]


def _normalize(ctx, x: Value, axes: List[int], eps: float):
    """(x - mean) / sqrt(var + eps) over ``axes``, and mean and 1/sqrt(var + eps) with kept dims."""
    mean = ctx.op("core.reduce_mean", [x], {"axes": axes, "keepdims": True})
    centered = ctx.op("core.sub", [x, mean])
    var = ctx.op("core.reduce_mean", [ctx.op("core.square", [centered])], {"axes": axes, "keepdims": True})
    inv = ctx.op("core.rsqrt", [ctx.op("core.add", [var, ctx.scalar_like(x, eps)])])
    return ctx.op("core.mul", [centered, inv]), mean, inv


@onnx_op("InstanceNormalization", inputs=3)
def _instance_norm(ctx, node, inputs):
    x, scale, bias = inputs
    rank = need_rank(x)
    y, _, _ = _normalize(ctx, x, list(range(2, rank)), node.attr_float("epsilon", 1e-5))
    y = ctx.op("core.mul", [y, _per_channel(ctx, scale, rank)])
    return [ctx.op("core.add", [y, _per_channel(ctx, bias, rank)])]


@onnx_op("LayerNormalization", inputs=(2, 3))
def _layer_norm(ctx, node, inputs):
    x, scale = inputs[:2]
    bias = inputs[2] if len(inputs) > 2 else None
    rank = need_rank(x)
    axis = node.attr_int("axis", -1)
    axis = axis + rank if axis < 0 else axis
    y, mean, inv = _normalize(ctx, x, list(range(axis, rank)), node.attr_float("epsilon", 1e-5))
    y = ctx.op("core.mul", [y, scale])
    if bias is not None:
        y = ctx.op("core.add", [y, bias])
    return [y, mean, inv][: max(node.num_outputs, 1)]


@onnx_op("GroupNormalization", inputs=3)
def _group_norm(ctx, node, inputs):
    x, scale, bias = inputs
    shape = static_shape(x)
    groups = node.attr_int("num_groups")
    n, c = shape[:2]
    if groups < 1 or c % groups:
        raise Unsupported("num_groups must divide the channels")
    g = ctx.reshape(x, [n, groups, -1])
    y, _, _ = _normalize(ctx, g, [2], node.attr_float("epsilon", 1e-5))
    if node.opset < 21 and scale.shape is not None and scale.shape[0] == groups and groups != c:
        y = ctx.op("core.mul", [y, ctx.reshape(scale, [groups, 1])])
        y = ctx.op("core.add", [y, ctx.reshape(bias, [groups, 1])])
        return [ctx.reshape(y, list(shape))]
    y = ctx.reshape(y, list(shape))
    y = ctx.op("core.mul", [y, _per_channel(ctx, scale, len(shape))])
    return [ctx.op("core.add", [y, _per_channel(ctx, bias, len(shape))])]


@onnx_op("LRN", inputs=1)
def _lrn(ctx, node, inputs):
    """x / (bias + alpha / size * sum of squares over a channel window) ** beta; the window sum is a
    1x1 convolution with a banded matrix, so it runs in NHWC like the convs around it."""
    x = inputs[0]
    if need_rank(x) != 4 or x.shape[1] is None:
        raise Unsupported("LRN needs a rank-4 input with static channels")
    size = node.attr_int("size")
    alpha, beta, bias = node.attr_float("alpha", 1e-4), node.attr_float("beta", 0.75), node.attr_float("bias", 1.0)
    c = x.shape[1]
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    band = np.zeros((1, 1, c, c), x.dtype.np)
    for out in range(c):
        band[0, 0, max(0, out - lo): min(c, out + hi + 1), out] = 1
    sq = ctx.transpose(ctx.op("core.square", [x]), TO_NHWC)
    window = ctx.transpose(ctx.op("core.conv2d", [sq, ctx.const(band)]), TO_NCHW)
    denom = ctx.op("core.add", [ctx.op("core.mul", [window, ctx.scalar_like(x, alpha / size)]),
                                ctx.scalar_like(x, bias)])
    return [ctx.op("core.div", [x, ctx.op("core.pow", [denom, ctx.scalar_like(x, beta)])])]


@onnx_op("LpNormalization", inputs=1)
def _lp_norm(ctx, node, inputs):
    x = inputs[0]
    axis, p = node.attr_int("axis", -1), node.attr_int("p", 2)
    if p == 2:
        norm = ctx.op("core.sqrt", [ctx.op("core.reduce_sum", [ctx.op("core.square", [x])],
                                           {"axes": [axis], "keepdims": True})])
    elif p == 1:
        norm = ctx.op("core.reduce_sum", [ctx.op("core.abs", [x])], {"axes": [axis], "keepdims": True})
    else:
        raise Unsupported(f"p={p}")
    zero = ctx.op("core.equal", [norm, ctx.scalar_like(x, 0)])
    safe = ctx.op("core.select", [zero, ctx.scalar_like(x, 1), norm])  # ONNX: a zero vector stays zero
    return [ctx.op("core.div", [x, safe])]


@onnx_op("RMSNormalization", inputs=2)
def _rms_norm(ctx, node, inputs):
    x, scale = inputs
    rank = need_rank(x)
    axis = node.attr_int("axis", -1)
    axis = axis + rank if axis < 0 else axis
    ms = ctx.op("core.reduce_mean", [ctx.op("core.square", [x])], {"axes": list(range(axis, rank)), "keepdims": True})
    inv = ctx.op("core.rsqrt", [ctx.op("core.add", [ms, ctx.scalar_like(x, node.attr_float("epsilon", 1e-5))])])
    return [ctx.op("core.mul", [ctx.op("core.mul", [x, inv]), scale])]


@onnx_op("MeanVarianceNormalization", inputs=1)
def _mvn(ctx, node, inputs):
    x = inputs[0]
    axes = node.attr_ints("axes", [0, 2, 3])
    y, _, _ = _normalize(ctx, x, axes, 1e-9)
    return [y]


# -- dense -------------------------------------------------------------------------------------


@onnx_op("Gemm", inputs=(2, 3))
def _gemm(ctx, node, inputs):
    a, b = inputs[:2]
    c = inputs[2] if len(inputs) > 2 else None
    if node.opset < 7 and node.has("broadcast"):
        pass  # opset 6 broadcast=1 is what opset 7 always does
    alpha, beta = node.attr_float("alpha", 1.0), node.attr_float("beta", 1.0)
    ta, tb = bool(node.attr_int("transA", 0)), bool(node.attr_int("transB", 0))
    if ta:
        a = ctx.transpose(a, [1, 0])
    wb = b.const_value()
    if wb is not None and tb:  # keep constant weights in [in, out] form for the matmul
        b, tb = ctx.const(np.ascontiguousarray(wb.T)), False
    y = ctx.op("core.matmul", [a, b], {"transpose_b": tb})
    if alpha != 1.0:
        y = ctx.op("core.mul", [y, ctx.scalar_like(y, alpha)])
    if c is not None:
        cc = c.const_value()
        if cc is not None:
            c = ctx.const((np.asarray(cc, np.float64) * beta).astype(cc.dtype)) if beta != 1.0 else c
        elif beta != 1.0:
            c = ctx.op("core.mul", [c, ctx.scalar_like(c, beta)])
        if beta != 0.0:
            y = ctx.op("core.add", [y, c])
    return [y]


@onnx_op("MatMul", inputs=2)
def _matmul(ctx, node, inputs):
    a, b = inputs
    ra, rb = need_rank(a), need_rank(b)
    if ra == 1:
        a = ctx.op("core.expand_dims", [a], {"axis": 0})
    if rb == 1:
        b = ctx.op("core.expand_dims", [b], {"axis": 1})
    y = ctx.op("core.matmul", [a, b])
    if rb == 1:
        y = ctx.op("core.squeeze", [y], {"axes": [-1]})
    if ra == 1:
        y = ctx.op("core.squeeze", [y], {"axes": [-1 if rb == 1 else -2]})
    return [y]


# -- softmax family -------------------------------------------------------------------------


def _softmax_like(core_op):
    def fn(ctx, node, inputs):
        x = inputs[0]
        rank = need_rank(x)
        if node.opset >= 13:
            return [ctx.op(core_op, [x], {"axis": node.attr_int("axis", -1)})]
        axis = node.attr_int("axis", 1)
        axis = axis + rank if axis < 0 else axis
        if axis == rank - 1:
            return [ctx.op(core_op, [x], {"axis": -1})]
        shape = static_shape(x)  # before opset 13: softmax over the flattened trailing dims
        flat = ctx.reshape(x, [int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))])
        return [ctx.reshape(ctx.op(core_op, [flat], {"axis": -1}), list(shape))]

    return fn


onnx_op("Softmax", inputs=1)(_softmax_like("core.softmax"))
onnx_op("LogSoftmax", inputs=1)(_softmax_like("core.log_softmax"))


@onnx_op("Hardmax", inputs=1)
def _hardmax(ctx, node, inputs):
    x = inputs[0]
    rank = need_rank(x)
    axis = node.attr_int("axis", -1 if node.opset >= 13 else 1)
    axis = axis + rank if axis < 0 else axis
    shape = static_shape(x)
    flat = x
    if node.opset < 13 and axis != rank - 1:
        flat = ctx.reshape(x, [int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))])
        axis = 1
    depth = flat.shape[axis]
    idx = ctx.op("core.argmax", [flat], {"axis": axis, "output_type": _i32()})
    one = ctx.op("core.one_hot", [idx, ctx.i32(depth), ctx.scalar_like(x, 1), ctx.scalar_like(x, 0)], {"axis": axis})
    return [ctx.reshape(one, list(shape)) if flat is not x else one]


def _i32():
    from litesmith.ir.dtypes import DType

    return DType.INT32
