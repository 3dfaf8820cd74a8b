"""Lowerings of linear algebra and NN ops: matmul, convolutions, pools, softmax, resize, LRN.

Layout changes happen here, once, on constants: conv filters HWIO -> OHWI,
depthwise [H,W,C,M] -> [1,H,W,C*M], FULLY_CONNECTED weights -> [out, in]
(a filter computed at run time, as ONNX models may feed it, gets a TRANSPOSE
or RESHAPE instead).
Every conv and FULLY_CONNECTED gets an explicit bias (zeros), so fusions only
ever add into an existing bias.
"""
from __future__ import annotations

import numpy as np

from litesmith.ir.dtypes import DType
from litesmith.ir.types import is_static

from .legalize import DYNAMIC_SHAPE, UNSUPPORTED_ATTR, UNSUPPORTED_DTYPE
from .lower import lowers, normalize_axis

ACT_NONE = "NONE"


def _pair(values, name, lw):
    """[a, b] from a 2-list (or the H, W entries of a 4-list in NHWC)."""
    values = [int(v) for v in values]
    if len(values) == 4:
        values = values[1:3]
    if len(values) != 2:
        lw.fail(UNSUPPORTED_ATTR, f"{name}={values} is not [h, w]")
    return values


def same_padding(size, kernel, stride, dilation):
    """(before, after) of TF's SAME padding along one spatial dim."""
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def explicit_pads(node, lw):
    """[top, bottom, left, right] of an EXPLICIT-padding conv."""
    pads = [int(p) for p in node.attrs.get("explicit_paddings", [])]
    if len(pads) == 8:  # TF's per-dim form [N0,N1,H0,H1,W0,W1,C0,C1]
        pads = pads[2:6]
    if len(pads) != 4:
        lw.fail(UNSUPPORTED_ATTR, f"explicit_paddings={pads} is not [top, bottom, left, right]")
    return pads


def padding_mode(node, lw, x, kernel_hw, strides, dilations):
    """'SAME' or 'VALID', with ``x`` padded first when EXPLICIT padding matches neither."""
    padding = node.attrs.get("padding", "VALID")
    if padding in ("SAME", "VALID"):
        return padding, x
    if padding != "EXPLICIT":
        lw.fail(UNSUPPORTED_ATTR, f"padding={padding!r} (TFLite has SAME and VALID)")
    top, bottom, left, right = explicit_pads(node, lw)
    if top == bottom == left == right == 0:
        return "VALID", x
    same = [same_padding(x.shape[1 + i], kernel_hw[i], strides[i], dilations[i]) for i in range(2)]
    if [(top, bottom), (left, right)] == same:
        return "SAME", x
    paddings = np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32)
    shape = tuple(d + int(p.sum()) for d, p in zip(x.shape, paddings))
    padded = lw.op("tfl.pad", [x, lw.i32(paddings)], {}, [x.type.with_shape(shape)])
    return "VALID", padded


def _zeros_bias(lw, n, like):
    return lw.const(np.zeros([n], dtype=like.dtype.np))


@lowers("core.conv2d")
def lower_conv2d(node, lw):
    x, w = node.inputs
    filt = w.const_value()
    strides = _pair(node.attrs.get("strides", [1, 1]), "strides", lw)
    dilations = _pair(node.attrs.get("dilations", [1, 1]), "dilations", lw)
    kh, kw, cin, cout = filt.shape if filt is not None else w.shape
    if x.shape[3] % cin:
        lw.fail(UNSUPPORTED_ATTR, f"filter input channels {cin} do not divide input channels {x.shape[3]}")
    padding, x = padding_mode(node, lw, x, (kh, kw), strides, dilations)
    # a constant filter becomes a transposed view (the writer copies it into the file in OHWI order, and a
    # fused batch norm's scale makes a new array anyway); one computed at run time (ONNX weights fed as
    # inputs) is transposed at run time
    ohwi = lw.const(filt.transpose(3, 0, 1, 2)) if filt is not None else lw.transpose(w, [3, 0, 1, 2])
    attrs = {
        "padding": padding, "stride_h": strides[0], "stride_w": strides[1],
        "dilation_h_factor": dilations[0], "dilation_w_factor": dilations[1],
        "fused_activation_function": ACT_NONE,
    }
    return [lw.op("tfl.conv_2d", [x, ohwi, _zeros_bias(lw, cout, x)], attrs)]


@lowers("core.depthwise_conv2d")
def lower_depthwise_conv2d(node, lw):
    x, w = node.inputs
    filt = w.const_value()
    strides = _pair(node.attrs.get("strides", [1, 1]), "strides", lw)
    dilations = _pair(node.attrs.get("dilations", [1, 1]), "dilations", lw)
    kh, kw, c, m = filt.shape if filt is not None else w.shape
    padding, x = padding_mode(node, lw, x, (kh, kw), strides, dilations)
    weights = lw.const(np.ascontiguousarray(filt.reshape(1, kh, kw, c * m))) if filt is not None \
        else lw.reshape(w, [1, kh, kw, c * m])
    attrs = {
        "padding": padding, "stride_h": strides[0], "stride_w": strides[1],
        "dilation_h_factor": dilations[0], "dilation_w_factor": dilations[1],
        "depth_multiplier": m, "fused_activation_function": ACT_NONE,
    }
    return [lw.op("tfl.depthwise_conv_2d", [x, weights, _zeros_bias(lw, c * m, x)], attrs)]


def _lower_pool(op, node, lw):
    ksize = _pair(node.attrs["ksize"], "ksize", lw)
    strides = _pair(node.attrs["strides"], "strides", lw)
    padding = node.attrs.get("padding", "VALID")
    if padding not in ("SAME", "VALID"):
        lw.fail(UNSUPPORTED_ATTR, f"padding={padding!r} (TFLite pools have SAME and VALID)")
    attrs = {
        "padding": padding, "stride_h": strides[0], "stride_w": strides[1],
        "filter_height": ksize[0], "filter_width": ksize[1], "fused_activation_function": ACT_NONE,
    }
    return [lw.op(op, node.inputs, attrs)]


@lowers("core.max_pool")
def lower_max_pool(node, lw):
    return _lower_pool("tfl.max_pool_2d", node, lw)


@lowers("core.avg_pool")
def lower_avg_pool(node, lw):
    return _lower_pool("tfl.average_pool_2d", node, lw)


@lowers("core.matmul")
def lower_matmul(node, lw):
    """Constant 2-D weights -> FULLY_CONNECTED (weights [out, in]); otherwise BATCH_MATMUL."""
    a, b = node.inputs
    ta, tb = bool(node.attrs.get("transpose_a")), bool(node.attrs.get("transpose_b"))
    w = b.const_value()
    if w is not None and w.ndim == 2 and not ta and a.dtype.is_float:
        weights = w if tb else w.T
        attrs = {"fused_activation_function": ACT_NONE, "keep_num_dims": a.rank > 2}
        bias = _zeros_bias(lw, weights.shape[0], a)
        return [lw.op("tfl.fully_connected", [a, lw.const(np.ascontiguousarray(weights)), bias], attrs)]
    if a.dtype in (DType.INT32, DType.INT64):  # LiteRT's BATCH_MATMUL takes float32 and quantized int8/int16
        return [_integer_matmul(node, lw, a, b, ta, tb)]
    if a.dtype.is_int and a.dtype not in (DType.INT8, DType.INT16):  # LiteRT refuses the file otherwise
        lw.fail(UNSUPPORTED_DTYPE, f"BATCH_MATMUL takes float32 (int8/int16 quantized), not {a.dtype} (%{a.name})")
    return [lw.op("tfl.batch_matmul", [a, b], {"adj_x": ta, "adj_y": tb})]


MAX_PRODUCTS = 1 << 24  # elements of the [..., M, K, N] product an integer matmul builds


def _integer_matmul(node, lw, a, b, ta, tb):
    """``sum(a[..., M, K, 1] * b[..., 1, K, N], axis=-2)``: MUL and SUM take int32/int64 and wrap on
    overflow as TF's integer MatMul does; the [..., M, K, N] products are built, so their size is capped."""
    if not (is_static(a.shape) and is_static(b.shape)):
        lw.fail(DYNAMIC_SHAPE, f"integer matmul needs static shapes (%{a.name}, %{b.name})")
    if ta:
        a = lw.transpose(a, [*range(a.rank - 2), a.rank - 1, a.rank - 2])
    if tb:
        b = lw.transpose(b, [*range(b.rank - 2), b.rank - 1, b.rank - 2])
    rank = max(a.rank, b.rank) + 1
    out = node.output.shape
    (m, k), n = a.shape[-2:], b.shape[-1]
    products = int(np.prod(out[:-2], dtype=np.int64)) * m * k * n
    if rank > 6 or products > MAX_PRODUCTS:
        lw.fail(UNSUPPORTED_DTYPE, f"BATCH_MATMUL takes float32 (int8/int16 quantized), not {a.dtype}, and the "
                f"composition MUL+SUM needs rank <= 5 and at most {MAX_PRODUCTS} products (%{a.name})")
    a4 = lw.reshape(a, [1] * (rank - 1 - a.rank) + [*a.shape, 1])
    b4 = lw.reshape(b, [1] * (rank - 1 - b.rank) + [*b.shape[:-2], 1, k, n])
    full = [*out[:-2], m, k, n]
    prod = lw.op("tfl.mul", [a4, b4], {"fused_activation_function": "NONE"}, [a.type.with_shape(tuple(full))])
    return lw.op("tfl.sum", [prod, lw.i32([rank - 2])], {"keep_dims": False}, [node.output.type])


def _last_axis_op(op, node, lw, attrs):
    """Softmax-like ops TFLite only has on the last axis: transpose around other axes."""
    (x,) = node.inputs
    rank = lw.rank(x)
    axis = normalize_axis(int(node.attrs.get("axis", -1)), rank)
    if axis == rank - 1:
        return [lw.op(op, [x], attrs)]
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    t = lw.transpose(x, perm)
    y = lw.op(op, [t], attrs, [t.type.with_dtype(node.output.dtype)])
    return [lw.transpose(y, perm)]


@lowers("core.softmax")
def lower_softmax(node, lw):
    return _last_axis_op("tfl.softmax", node, lw, {"beta": float(node.attrs.get("beta", 1.0))})


@lowers("core.log_softmax")
def lower_log_softmax(node, lw):
    return _last_axis_op("tfl.log_softmax", node, lw, {})


def _lower_resize(op, node, lw):
    x, size = node.inputs
    if x.rank != 4:
        lw.fail(UNSUPPORTED_ATTR, f"resize of a rank-{x.rank} tensor (TFLite resizes NHWC images)")
    attrs = {"align_corners": bool(node.attrs.get("align_corners")), "half_pixel_centers": bool(node.attrs.get("half_pixel_centers"))}
    return [lw.op(op, [x, lw.as_i32(size)], attrs)]


@lowers("core.resize_bilinear")
def lower_resize_bilinear(node, lw):
    return _lower_resize("tfl.resize_bilinear", node, lw)


@lowers("core.resize_nearest")
def lower_resize_nearest(node, lw):
    return _lower_resize("tfl.resize_nearest_neighbor", node, lw)



@lowers("core.local_response_norm")
def lower_local_response_norm(node, lw):
    """``x * (bias + alpha * sum of x^2 over the depth window)^-beta`` from builtins, the window sum a
    FULLY_CONNECTED with a 0/1 band matrix as TF's CPU kernel contracts it. LiteRT's
    LOCAL_RESPONSE_NORMALIZATION (what TF's converter emits) keeps a running sum it adds to and
    subtracts from, which loses the small squares next to large ones: NNSmith s3/0094 and six more
    models came out up to 8% off. A depth not known at compile time keeps the builtin."""
    a = {"depth_radius": 5, "bias": 1.0, "alpha": 1.0, "beta": 0.5, **node.attrs}
    (x,) = node.inputs
    radius, bias, alpha, beta = int(a["depth_radius"]), float(a["bias"]), float(a["alpha"]), float(a["beta"])
    depth = x.shape[-1] if x.rank else None
    if not isinstance(depth, int) or depth < 0 or x.dtype is not DType.FLOAT32:
        return [lw.op("tfl.local_response_normalization", node.inputs,
                      {"radius": radius, "bias": bias, "alpha": alpha, "beta": beta})]
    idx = np.arange(depth)
    band = (np.abs(idx[:, None] - idx[None, :]) <= radius).astype(np.float32)
    act = {"fused_activation_function": ACT_NONE}
    square = lw.op("tfl.mul", [x, x], act, [x.type])
    window = lw.op("tfl.fully_connected", [square, lw.const(band), _zeros_bias(lw, depth, x)],
                   {**act, "keep_num_dims": True}, [x.type])
    scaled = lw.op("tfl.mul", [window, lw.const(np.float32(alpha))], act, [x.type])
    shifted = lw.op("tfl.add", [scaled, lw.const(np.float32(bias))], act, [x.type])
    power = lw.op("tfl.pow", [shifted, lw.const(np.float32(-beta))], None, [x.type])
    return [lw.op("tfl.mul", [x, power], act, [x.type])]


@lowers("core.conv2d_transpose")
def lower_conv2d_transpose(node, lw):
    """TRANSPOSE_CONV wants the filter [out, H, W, in]: TF's HWOI filter transposed (2, 0, 1, 3), as TF's
    converter does; the output shape as int32."""
    shape, w, x = node.inputs
    strides = _pair(node.attrs.get("strides", [1, 1]), "strides", lw)
    filt = w.const_value()
    ohwi = lw.const(np.ascontiguousarray(filt.transpose(2, 0, 1, 3))) if filt is not None else lw.transpose(w, [2, 0, 1, 3])
    attrs = {"padding": node.attrs.get("padding", "VALID"), "stride_h": strides[0], "stride_w": strides[1],
             "fused_activation_function": ACT_NONE}
    return [lw.op("tfl.transpose_conv", [lw.as_i32(shape), ohwi, x], attrs)]


def _conv3d_options(node, dilations=(1, 1, 1)):
    sd, sh, sw = (int(v) for v in node.attrs.get("strides", [1, 1, 1]))
    dd, dh, dw = (int(v) for v in dilations)
    return {"padding": node.attrs.get("padding", "VALID"), "stride_d": sd, "stride_h": sh, "stride_w": sw,
            "dilation_d_factor": dd, "dilation_h_factor": dh, "dilation_w_factor": dw,
            "fused_activation_function": ACT_NONE}


@lowers("core.conv3d")
def lower_conv3d(node, lw):
    """CONV_3D takes TF's DHWIO filter as it is."""
    return [lw.op("tfl.conv_3d", node.inputs, _conv3d_options(node, node.attrs.get("dilations", [1, 1, 1])))]


@lowers("core.conv3d_transpose")
def lower_conv3d_transpose(node, lw):
    """CONV_3D_TRANSPOSE takes TF's DHWOI filter as it is; the output shape as int32."""
    shape, w, x = node.inputs
    return [lw.op("tfl.conv_3d_transpose", [lw.as_i32(shape), w, x], _conv3d_options(node))]
