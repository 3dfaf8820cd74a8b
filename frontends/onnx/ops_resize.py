"""ONNX Resize and Upsample.

Resizing is separable: along each axis the result is a fixed linear map of the
input, a matrix [out, in] that this module computes with ONNX's own formulas
(coordinate transformation, nearest rounding, linear/cubic weights, antialias,
exclude_outside, tf_crop_and_resize extrapolation). When the H and W matrices
of a 4-D NCHW resize equal those of TFLite's RESIZE_BILINEAR or
RESIZE_NEAREST_NEIGHBOR with some (align_corners, half_pixel_centers), that op
is used (in NHWC, between transposes the layout pass cancels). Otherwise each
axis is a gather (nearest) or a matmul with the constant matrix: exact ONNX
semantics for every mode, with static shapes.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np
from litesmith.ir.registry import get_op

from .ops_nn import TO_NCHW, TO_NHWC
from .registry import Unsupported, onnx_op, static_shape

_COORD_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                "tf_crop_and_resize", "tf_half_pixel_for_nn")


def _source_coords(mode: str, out_w: int, in_w: int, scale: float, roi: Optional[Tuple[float, float]]):
    y = np.arange(out_w, dtype=np.float64)
    length = scale * in_w
    extrapolated = None
    if mode == "align_corners":
        x = np.zeros(out_w) if length == 1 else y * (in_w - 1) / (length - 1)
    elif mode == "asymmetric":
        x = y / scale
    elif mode == "tf_half_pixel_for_nn":
        x = (y + 0.5) / scale
    elif mode == "pytorch_half_pixel":
        x = np.full(out_w, -0.5) if length == 1 else (y + 0.5) / scale - 0.5
    elif mode == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif mode == "half_pixel_symmetric":
        offset = in_w / 2 * (1 - out_w / length)
        x = offset + (y + 0.5) / scale - 0.5
    elif mode == "tf_crop_and_resize":
        lo, hi = roi
        x = np.full(out_w, (hi - lo) * (in_w - 1) / 2) if length == 1 else y * (hi - lo) * (in_w - 1) / (length - 1)
        x = x + lo * (in_w - 1)
        extrapolated = (x < 0) | (x > in_w - 1)
    else:
        raise Unsupported(f"coordinate_transformation_mode={mode}")
    return x, extrapolated


def _nearest(ratio: float, mode: str):
    if float(ratio).is_integer():
        return np.array([0.0, 1.0])
    if mode == "round_prefer_floor":
        return np.array([ratio <= 0.5, ratio > 0.5], np.float64)
    if mode == "round_prefer_ceil":
        return np.array([ratio < 0.5, ratio >= 0.5], np.float64)
    if mode == "floor":
        return np.array([1.0, 0.0])
    if mode == "ceil":
        return np.array([0.0, 1.0])
    raise Unsupported(f"nearest_mode={mode}")


def _cubic(ratio: float, a: float):
    r = ratio
    return np.array([
        ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
        ((a + 2) * r - (a + 3)) * r * r + 1,
        ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
        ((a * ((1 - r) + 1) - 5 * a) * ((1 - r) + 1) + 8 * a) * ((1 - r) + 1) - 4 * a,
    ])


def _cubic_antialias(ratio: float, scale: float, a: float):
    scale = min(scale, 1.0)

    def k(x):
        x = abs(x)
        if x <= 1:
            return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
        if x < 2:
            return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
        return 0.0

    start = int(np.floor(-2 / scale) + 1)
    c = np.array([k(scale * (i - ratio)) for i in range(start, 2 - start)])
    return c / c.sum()


def _linear_antialias(ratio: float, scale: float):
    scale = min(scale, 1.0)
    start = int(np.floor(-1 / scale) + 1)
    args = (np.arange(start, start + 2 - 2 * start) - ratio) * scale
    c = np.clip(1 - np.abs(args), 0, 1)
    return c / c.sum()


# The resize of one axis is a dense [out, in] matrix built in Python: bound it (2^24 entries is far
# beyond any image axis) so a corrupt size is refused, not computed for minutes.
MAX_AXIS_MATRIX = 1 << 24


def axis_matrix(in_w: int, out_w: int, scale: float, attrs: dict, roi=None):
    """([out_w, in_w] weights, extrapolated-row mask or None) of one axis, as ONNX's reference computes it."""
    mode = attrs["mode"]
    x, extrapolated = _source_coords(attrs["coord"], out_w, in_w, scale, roi)
    floor = np.floor(x)
    ratios = np.where(x == floor, 1.0, x - floor)
    if mode == "nearest":
        coeffs = [_nearest(r, attrs["nearest_mode"]) for r in ratios]
    elif mode == "linear":
        coeffs = [_linear_antialias(r, scale) if attrs["antialias"] else np.array([1 - r, r]) for r in ratios]
    elif mode == "cubic":
        a = attrs["cubic_a"]
        coeffs = [_cubic_antialias(r, scale, a) if attrs["antialias"] else _cubic(r, a) for r in ratios]
    else:
        raise Unsupported(f"mode={mode}")
    coeffs = np.stack(coeffs)
    n = coeffs.shape[1]
    pad = int(np.ceil(n / 2))
    xp = x + pad
    p = np.floor(xp).astype(np.int64)
    frac = xp - p
    if n % 2 == 0:
        offset = np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        offset = np.where(frac <= 0.5, -((n - 1) // 2), -((n - 1) // 2) + 1)
    idx = (p + offset)[:, None] + np.arange(n)[None, :] - pad
    if attrs["exclude_outside"]:
        coeffs = np.where((idx < 0) | (idx >= in_w), 0.0, coeffs)
        total = coeffs.sum(axis=1, keepdims=True)
        coeffs = coeffs / np.where(total == 0, 1.0, total)
    m = np.zeros((out_w, in_w))
    clamped = np.clip(idx, 0, in_w - 1)
    for j in range(n):
        np.add.at(m, (np.arange(out_w), clamped[:, j]), coeffs[:, j])
    if extrapolated is not None:
        m[extrapolated] = 0
        if not extrapolated.any():
            extrapolated = None
    return m, extrapolated


def _tf_matrix(core_op: str, in_w: int, out_w: int, align: bool, half: bool) -> np.ndarray:
    """The [out, in] map of core.resize_* (TF/TFLite semantics) along H, from its reference kernel."""
    eye = np.eye(in_w, dtype=np.float64).reshape(1, in_w, 1, in_w)
    y = get_op(core_op).kernel(eye, np.array([out_w, 1]), align_corners=align, half_pixel_centers=half)
    return np.asarray(y, np.float64).reshape(out_w, in_w)


def _tf_op(kind: str, mats, sizes) -> Optional[Tuple[str, bool, bool]]:
    core_op = "core.resize_bilinear" if kind == "linear" else "core.resize_nearest"
    for align, half in ((False, True), (False, False), (True, False)):
        try:
            ok = all(np.allclose(_tf_matrix(core_op, m.shape[1], m.shape[0], align, half), m, atol=1e-6)
                     for m in mats)
        except Exception:  # noqa: BLE001  (a combination the reference kernel rejects)
            ok = False
        if ok:
            return core_op, align, half
    return None


def _resize(ctx, node, x, scales: Optional[List[float]], sizes: Optional[List[int]], attrs, roi=None, axes=None):
    shape = static_shape(x)
    rank = len(shape)
    if axes is not None and any(not -rank <= a < rank for a in axes):
        raise Unsupported(f"axes {axes} out of range for rank {rank}")
    axes = list(range(rank)) if axes is None else [a + rank if a < 0 else a for a in axes]
    if sizes is not None:
        if len(sizes) != len(axes):
            raise Unsupported("sizes do not match the axes")
        scale_by_axis = {a: s / shape[a] for a, s in zip(axes, sizes)}
        out = dict(zip(axes, sizes))
        policy = attrs["policy"]
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            common = pick(scale_by_axis.values())
            scale_by_axis = {a: common for a in axes}
            out = {a: int(common * shape[a] + 0.5) for a in axes}
    else:
        if scales is None or len(scales) != len(axes):
            raise Unsupported("scales do not match the axes")
        scale_by_axis = dict(zip(axes, scales))
        out = {a: int(math.floor(s * shape[a])) for a, s in zip(axes, scales)}
    if any(s <= 0 for s in scale_by_axis.values()) or any(n < 1 for n in out.values()):
        raise Unsupported("non-positive scales or an empty result")
    if any(out[a] * shape[a] > MAX_AXIS_MATRIX for a in axes):  # a corrupt size: no dense matrix of that
        raise Unsupported(f"a resize from {shape} to {out} is too large to express")  # (a fuzzing hang)
    mats, masks = {}, {}
    for a in axes:
        if math.isclose(scale_by_axis[a], 1.0) and out[a] == shape[a] and roi is None:
            continue
        r = None if roi is None else (roi[axes.index(a)], roi[len(axes) + axes.index(a)])
        mats[a], masks[a] = axis_matrix(shape[a], out[a], scale_by_axis[a], attrs, r)
    if not mats:
        return x
    if rank == 4 and set(mats) <= {2, 3} and attrs["mode"] in ("linear", "nearest") and not any(
            m is not None for m in masks.values()):
        full = [mats.get(a, np.eye(shape[a])) for a in (2, 3)]
        found = _tf_op(attrs["mode"], full, None)
        if found is not None:
            core_op, align, half = found
            y = ctx.op(core_op, [ctx.transpose(x, TO_NHWC), ctx.i32([full[0].shape[0], full[1].shape[0]])],
                       {"align_corners": align, "half_pixel_centers": half})
            return ctx.transpose(y, TO_NCHW)
    y = x
    for a, m in mats.items():
        y = _apply_axis(ctx, y, a, m, attrs["mode"] == "nearest")
        if masks[a] is not None:
            mask_shape = [1] * rank
            mask_shape[a] = len(masks[a])
            y = ctx.op("core.select", [ctx.const(masks[a].reshape(mask_shape)),
                                       ctx.scalar_like(x, attrs["extrapolation"]), y])
    return y


def _apply_axis(ctx, y, axis: int, m: np.ndarray, nearest: bool):
    """``m`` [out, in] applied along ``axis``: a gather for one-hot rows, else a matmul."""
    one_hot = np.all((m == 0) | (m == 1)) and np.all(m.sum(axis=1) == 1)
    if nearest or one_hot:
        if not one_hot:
            raise Unsupported("nearest weights are not one-hot")
        return ctx.op("core.gather", [y, ctx.i32(np.argmax(m, axis=1))], {"axis": axis})
    rank = y.rank
    w = ctx.const(np.ascontiguousarray(m.T).astype(y.dtype.np))  # [in, out]
    if axis == rank - 1:
        return ctx.op("core.matmul", [y, w])
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    t = ctx.op("core.matmul", [ctx.transpose(y, perm), w])
    return ctx.transpose(t, perm)


def _attrs(node, default_coord: str) -> dict:
    coord = node.attr_str("coordinate_transformation_mode", default_coord)
    if coord not in _COORD_MODES:
        raise Unsupported(f"coordinate_transformation_mode={coord}")
    mode = node.attr_str("mode", "nearest")
    mode = {"bilinear": "linear", "trilinear": "linear"}.get(mode, mode)
    return {
        "mode": mode, "coord": coord, "nearest_mode": node.attr_str("nearest_mode", "round_prefer_floor"),
        "cubic_a": node.attr_float("cubic_coeff_a", -0.75), "exclude_outside": node.attr_int("exclude_outside", 0),
        "antialias": node.attr_int("antialias", 0), "extrapolation": node.attr_float("extrapolation_value", 0.0),
        "policy": node.attr_str("keep_aspect_ratio_policy", "stretch"),
    }


def _floats(ctx, v) -> Optional[List[float]]:
    if v is None:
        return None
    c = ctx.const_value(v, "scales")
    return None if c.size == 0 else [float(s) for s in c.reshape(-1)]


@onnx_op("Resize", inputs=(1, 4))
def _resize_op(ctx, node, inputs):
    x = inputs[0]
    if node.opset < 11:  # Resize-10: (X, scales), asymmetric coordinates, floor-free nearest
        attrs = _attrs(node, "asymmetric")
        attrs["nearest_mode"] = node.attr_str("nearest_mode", "floor") if node.has("nearest_mode") else "floor"
        return [_resize(ctx, node, x, _floats(ctx, inputs[1] if len(inputs) > 1 else None), None, attrs)]
    attrs = _attrs(node, "half_pixel")
    roi_v = inputs[1] if len(inputs) > 1 else None
    scales = _floats(ctx, inputs[2] if len(inputs) > 2 else None)
    sizes_v = inputs[3] if len(inputs) > 3 else None
    sizes = None if sizes_v is None else ctx.const_ints(sizes_v, "sizes") or None
    roi = None
    if attrs["coord"] == "tf_crop_and_resize":
        roi = _floats(ctx, roi_v)
        if roi is None:
            raise Unsupported("tf_crop_and_resize without roi")
    axes = node.attr_ints("axes", None)
    if sizes is None and scales is None:
        raise Unsupported("neither scales nor sizes")
    return [_resize(ctx, node, x, scales if sizes is None else None, sizes, attrs, roi, axes)]


@onnx_op("Upsample", inputs=(1, 2))
def _upsample(ctx, node, inputs):
    x = inputs[0]
    scales = node.attr_floats("scales", None) if len(inputs) < 2 else _floats(ctx, inputs[1])
    if scales is None:
        raise Unsupported("no scales")
    attrs = _attrs(node, "asymmetric")
    attrs["nearest_mode"] = "floor"
    if attrs["mode"] == "linear":
        attrs["coord"] = "asymmetric"
    return [_resize(ctx, node, x, scales, None, attrs)]
