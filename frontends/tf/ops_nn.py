"""TF neural-network ops: convolutions, pooling, batch norm, bias, matmul, softmax, resize.

The core set is NHWC only; NCHW nodes are wrapped in transposes.
"""
from __future__ import annotations

import numpy as np

from .mapper import tf_op

_TO_NHWC = np.array([0, 2, 3, 1], np.int32)
_TO_NCHW = np.array([0, 3, 1, 2], np.int32)


def _is_nchw(node) -> bool:
    return node.attr_str("data_format", "NHWC").upper() in ("NCHW", "NCDHW")


def _spatial(values, nchw: bool):
    """[h, w] of a 4-element TF strides/ksize/dilations list."""
    values = list(values or [1, 1, 1, 1])
    return values[2:4] if nchw else values[1:3]


def _nhwc_in(ctx, x, nchw):
    return ctx.op("core.transpose", [x, ctx.const(_TO_NHWC)]) if nchw else x


def _nhwc_out(ctx, y, nchw):
    return ctx.op("core.transpose", [y, ctx.const(_TO_NCHW)]) if nchw else y


def _conv(core_op):
    def fn(ctx, node, inputs):
        nchw = _is_nchw(node)
        padding = node.attr_str("padding", "VALID").upper()
        attrs = {"strides": _spatial(node.attr_ints("strides", [1, 1, 1, 1]), nchw), "dilations": _spatial(node.attr_ints("dilations", [1, 1, 1, 1]), nchw),
                 "padding": padding}
        if padding == "EXPLICIT":
            pads = node.attr_ints("explicit_paddings", [])
            if len(pads) != 8:
                return None
            h, w = (4, 6) if nchw else (2, 4)
            attrs["explicit_paddings"] = [pads[h], pads[h + 1], pads[w], pads[w + 1]]
        x = _nhwc_in(ctx, inputs[0], nchw)
        return [_nhwc_out(ctx, ctx.op(core_op, [x, inputs[1]], attrs), nchw)]

    return fn


tf_op("Conv2D", inputs=2)(_conv("core.conv2d"))
tf_op("DepthwiseConv2dNative", inputs=2)(_conv("core.depthwise_conv2d"))


def _pool(core_op):
    def fn(ctx, node, inputs):
        nchw = _is_nchw(node)
        attrs = {"ksize": _spatial(node.attr_ints("ksize", [1, 1, 1, 1]), nchw), "strides": _spatial(node.attr_ints("strides", [1, 1, 1, 1]), nchw),
                 "padding": node.attr_str("padding", "VALID").upper()}
        if attrs["padding"] not in ("SAME", "VALID"):
            return None
        x = _nhwc_in(ctx, inputs[0], nchw)
        return [_nhwc_out(ctx, ctx.op(core_op, [x], attrs), nchw)]

    return fn


tf_op("MaxPool", inputs=1)(_pool("core.max_pool"))
tf_op("AvgPool", inputs=1)(_pool("core.avg_pool"))


def _channel_shape(node, x):
    """Shape that broadcasts a per-channel vector against ``x`` in the node's layout."""
    if _is_nchw(node) and x.rank is not None and x.rank > 2:
        return np.array([-1] + [1] * (x.rank - 2), np.int32)
    return None


@tf_op("BiasAdd", "BiasAddV1", inputs=2)
def _bias_add(ctx, node, inputs):
    x, bias = inputs[:2]
    shape = _channel_shape(node, x)
    if _is_nchw(node) and shape is None:
        return None
    if shape is not None:
        bias = ctx.op("core.reshape", [bias, ctx.const(shape)])
    return [ctx.op("core.add", [x, bias])]


@tf_op("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", inputs=5)
def _fused_batch_norm(ctx, node, inputs):
    """Inference batch norm folded into ``x * m + a`` (constants when the statistics are)."""
    if node.attr("is_training", True):
        return _training_batch_norm(ctx, node, inputs)
    x, scale, offset, mean, var = inputs[:5]
    if not all(v.dtype.is_float for v in inputs[:5]):
        return None  # not a batch norm TF can run either: keep it foreign
    eps = node.attr_float("epsilon", 1e-3)
    consts = [v.const_value() for v in (scale, offset, mean, var)]
    shape = _channel_shape(node, x)
    if _is_nchw(node) and shape is None:
        return None
    if all(c is not None for c in consts):
        s, o, m, v = (np.asarray(c, np.float64) for c in consts)
        mul = s / np.sqrt(v + eps)
        add = o - m * mul
        if shape is not None:
            mul, add = mul.reshape(shape), add.reshape(shape)
        mul_v, add_v = ctx.const(mul.astype(x.dtype.np)), ctx.const(add.astype(x.dtype.np))
    else:
        eps_v = ctx.const(np.array(eps, var.dtype.np))
        mul_v = ctx.op("core.mul", [ctx.op("core.rsqrt", [ctx.op("core.add", [var, eps_v])]), scale])
        add_v = ctx.op("core.sub", [offset, ctx.op("core.mul", [mean, mul_v])])
        if shape is not None:
            mul_v = ctx.op("core.reshape", [mul_v, ctx.const(shape)])
            add_v = ctx.op("core.reshape", [add_v, ctx.const(shape)])
    y = ctx.op("core.add", [ctx.op("core.mul", [x, mul_v]), add_v])
    extra = 5 if node.op == "FusedBatchNormV3" else 4
    return [y, mean, var] + [mean, var, mean][: extra - 2]


def _training_batch_norm(ctx, node, inputs):
    """``is_training``: normalized by the batch's own statistics over every axis but the channel's
    (tf_keras's LayerNormalization is one: [B, T, D] reshaped to NCHW [1, B*T, D, 1]). The
    batch_variance output is Bessel-corrected, as TF returns it; static shapes only."""
    x, scale, offset = inputs[:3]
    if x.shape is None or None in x.shape or x.rank != 4 or not all(v.dtype.is_float for v in inputs[:3]):
        return None
    channel = 1 if _is_nchw(node) else 3
    axes = [a for a in range(4) if a != channel]
    count = int(np.prod([x.shape[a] for a in axes]))
    eps = node.attr_float("epsilon", 1e-3)
    mean = ctx.op("core.reduce_mean", [x], {"axes": axes, "keepdims": True})
    var = ctx.op("core.reduce_mean", [ctx.op("core.squared_difference", [x, mean])], {"axes": axes, "keepdims": True})
    inv = ctx.op("core.rsqrt", [ctx.op("core.add", [var, ctx.const(np.array(eps, x.dtype.np))])])
    shape = _channel_shape(node, x)
    if shape is not None:
        scale = ctx.op("core.reshape", [scale, ctx.const(shape)])
        offset = ctx.op("core.reshape", [offset, ctx.const(shape)])
    y = ctx.op("core.add", [ctx.op("core.mul", [ctx.op("core.sub", [x, mean]), ctx.op("core.mul", [inv, scale])]), offset])
    flat = ctx.const(np.array([x.shape[channel]], np.int32))
    batch_mean = ctx.op("core.reshape", [mean, flat])
    bessel = ctx.const(np.array(count / max(count - 1, 1), x.dtype.np))
    batch_var = ctx.op("core.mul", [ctx.op("core.reshape", [var, flat]), bessel])
    extra = 5 if node.op == "FusedBatchNormV3" else 4
    return [y, batch_mean, batch_var] + [batch_mean, batch_var, batch_mean][: extra - 2]


@tf_op("MatMul", inputs=2)
def _matmul(ctx, node, inputs):
    return [ctx.op("core.matmul", inputs[:2], {"transpose_a": bool(node.attr("transpose_a", False)),
                                               "transpose_b": bool(node.attr("transpose_b", False))})]


@tf_op("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", inputs=2)
def _batch_matmul(ctx, node, inputs):
    out = ctx.op("core.matmul", inputs[:2], {"transpose_a": bool(node.attr("adj_x", False)),
                                             "transpose_b": bool(node.attr("adj_y", False))})
    tout = node.attr("Tout")
    if tout is not None and tout is not out.dtype:
        out = ctx.op("core.cast", [out], {"dtype": tout})
    return [out]


@tf_op("Softmax", inputs=1)
def _softmax(ctx, node, inputs):
    return [ctx.op("core.softmax", inputs[:1])]


@tf_op("LogSoftmax", inputs=1)
def _log_softmax(ctx, node, inputs):
    return [ctx.op("core.log_softmax", inputs[:1])]


def _resize(core_op):
    def fn(ctx, node, inputs):
        return [ctx.op(core_op, inputs[:2], {"align_corners": bool(node.attr("align_corners", False)),
                                             "half_pixel_centers": bool(node.attr("half_pixel_centers", False))})]

    return fn


tf_op("ResizeBilinear", inputs=2)(_resize("core.resize_bilinear"))
tf_op("ResizeNearestNeighbor", inputs=2)(_resize("core.resize_nearest"))


@tf_op("LRN", inputs=1)
def _lrn(ctx, node, inputs):
    attrs = {"depth_radius": node.attr_int("depth_radius", 5), "bias": node.attr_float("bias", 1.0),
             "alpha": node.attr_float("alpha", 1.0), "beta": node.attr_float("beta", 0.5)}
    return [ctx.op("core.local_response_norm", inputs[:1], attrs)]


@tf_op("Conv2DBackpropInput", inputs=3)
def _conv2d_backprop_input(ctx, node, inputs):
    """Conv2DTranspose layers: NHWC, SAME/VALID, unit dilations (what TF's converter takes as TRANSPOSE_CONV)."""
    strides = node.attr_ints("strides", [1, 1, 1, 1])
    padding = node.attr_str("padding", "VALID").upper()
    if _is_nchw(node) or padding not in ("SAME", "VALID") or any(d != 1 for d in node.attr_ints("dilations", [1, 1, 1, 1])) \
            or len(strides) != 4 or strides[0] != 1 or strides[3] != 1:
        return None
    return [ctx.op("core.conv2d_transpose", inputs[:3], {"strides": strides[1:3], "padding": padding})]


def _conv3d_attrs(node):
    """strides / dilations / padding of an NDHWC Conv3D-family node, or None when TFLite cannot take them."""
    strides, dilations = node.attr_ints("strides", [1] * 5), node.attr_ints("dilations", [1] * 5)
    padding = node.attr_str("padding", "VALID").upper()
    if node.attr_str("data_format", "NDHWC") != "NDHWC" or padding not in ("SAME", "VALID") or len(strides) != 5 \
            or len(dilations) != 5 or strides[0] != 1 or strides[4] != 1 or dilations[0] != 1 or dilations[4] != 1:
        return None
    return {"strides": strides[1:4], "dilations": dilations[1:4], "padding": padding}


@tf_op("Conv3D", inputs=2)
def _conv3d(ctx, node, inputs):
    attrs = _conv3d_attrs(node)
    return None if attrs is None else [ctx.op("core.conv3d", inputs[:2], attrs)]


@tf_op("Conv3DBackpropInputV2", inputs=3)
def _conv3d_backprop_input(ctx, node, inputs):
    attrs = _conv3d_attrs(node)
    if attrs is None or attrs.pop("dilations") != [1, 1, 1]:
        return None
    return [ctx.op("core.conv3d_transpose", inputs[:3], attrs)]
