"""Integer reference kernels for quantized ``tfl.*`` ops, and an interpreter that uses them.

Each kernel follows TFLite's reference integer kernels (reference_integer_ops,
quantize.cc, activations.cc): int32 accumulation, per-channel fixed-point
multipliers, MultiplyByQuantizedMultiplier rounding, clamping to the fused
activation's quantized range. The float tfl kernels (backends/tflite) stay as
they are; ``QuantizedInterpreter`` consults this table first for nodes whose
tensors are quantized. Exactness against LiteRT per op: docs/quantization.md.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from litesmith.ir.graph import Node, Value
from litesmith.ir.interpreter import Interpreter
from litesmith.ir.types import QuantParams

from .fixedpoint import (multiplier_pairs, multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_once,
                         quantize_multiplier, round_away)
from .params import dequantize_array

Kernel = Callable[[Node, List[np.ndarray]], List[np.ndarray]]
QUANTIZED_KERNELS: Dict[str, Kernel] = {}


def quantized_kernel(*ops: str):
    def wrap(fn):
        for op in ops:
            QUANTIZED_KERNELS[op] = fn
        return fn

    return wrap


def _q(v: Value) -> QuantParams:
    if v.quant is None:
        raise ValueError(f"tensor %{v.name} ({v.type}) has no quantization parameters")
    return v.quant


def _limits(v: Value) -> Tuple[int, int]:
    info = np.iinfo(v.dtype.np)
    return int(info.min), int(info.max)


def activation_range(name: str, out: Value) -> Tuple[int, int]:
    """CalculateActivationRangeQuantized: the fused activation's bounds in the output's integers."""
    qmin, qmax = _limits(out)
    q = _q(out)
    scale, zp = np.float32(q.scale[0]), q.zero_point[0]

    def quant(f):
        return zp + int(round_away(np.float32(f) / scale))

    if name == "NONE":
        return qmin, qmax
    if name == "RELU":
        return max(qmin, quant(0.0)), qmax
    if name == "RELU6":
        return max(qmin, quant(0.0)), min(qmax, quant(6.0))
    if name == "RELU_N1_TO_1":
        return max(qmin, quant(-1.0)), min(qmax, quant(1.0))
    raise ValueError(f"fused activation {name} has no quantized form")


def _channel(values, ndim: int, axis: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 1:
        return arr.reshape(-1)[0]
    shape = [1] * ndim
    shape[axis] = arr.size
    return arr.reshape(shape)


def _requantize_acc(node: Node, acc: np.ndarray, in_scale: float, w: QuantParams, channel_axis: int,
                    rounding=multiply_by_quantized_multiplier) -> np.ndarray:
    """int32 accumulators -> output integers (PopulateConvolutionQuantizationParams + MBQM)."""
    out = node.outputs[0]
    oq = _q(out)
    mult, shift = _requantize_multipliers(float(in_scale), tuple(w.scale), float(oq.scale[0]))
    y = rounding(acc, _channel(mult, acc.ndim, channel_axis), _channel(shift, acc.ndim, channel_axis))
    y = y + oq.zero_point[0]
    lo, hi = activation_range(node.attrs.get("fused_activation_function", "NONE"), out)
    return np.clip(y, lo, hi).astype(out.dtype.np)


@functools.lru_cache(maxsize=1024)
def _requantize_multipliers(in_scale: float, w_scales: Tuple[float, ...], out_scale: float) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) of in_scale * w_scale / out_scale, worked out once per layer
    rather than on every call (the accuracy report runs each layer once per sample)."""
    reals = [float(np.float64(in_scale) * np.float64(s) / np.float64(out_scale)) for s in w_scales]
    mult, shift = multiplier_pairs(reals)
    mult.flags.writeable = shift.flags.writeable = False
    return mult, shift


def _is_integer_node(node: Node) -> bool:
    return bool(node.inputs) and node.inputs[0].quant is not None and node.inputs[0].dtype.is_int


@quantized_kernel("tfl.fully_connected")
def fully_connected(node: Node, ins):
    x, w = ins[0], ins[1]
    xv, wv = node.inputs[0], node.inputs[1]
    if not _is_integer_node(node):  # hybrid: float input, int8 weights
        return [_float_with_dequantized_weights(node, ins)]
    xq, wq = _q(xv), _q(wv)
    rows = x.reshape(-1, w.shape[1]).astype(np.int64) - xq.zero_point[0]
    acc = rows @ w.astype(np.int64).T  # weights are symmetric: zero point 0
    if len(ins) > 2 and ins[2] is not None:
        acc = acc + ins[2].astype(np.int64)
    rounding = multiply_by_quantized_multiplier_once if len(wq.scale) > 1 else multiply_by_quantized_multiplier
    y = _requantize_acc(node, acc, xq.scale[0], wq, 1, rounding)
    if node.attrs.get("keep_num_dims"):
        y = y.reshape(x.shape[:-1] + (w.shape[0],))
    return [y]


def _conv_like(node: Node, ins, kernel, channel_axis_of_filter: int):
    x, w = ins[0], ins[1]
    xq, wq = _q(node.inputs[0]), _q(node.inputs[1])
    attrs = dict(node.attrs, fused_activation_function="NONE")
    acc = kernel(x.astype(np.float64) - xq.zero_point[0], w.astype(np.float64), None, **attrs)
    acc = np.rint(acc).astype(np.int64)
    if len(ins) > 2 and ins[2] is not None:
        acc = acc + ins[2].astype(np.int64)
    return [_requantize_acc(node, acc, xq.scale[0], wq, acc.ndim - 1)]


@quantized_kernel("tfl.conv_2d")
def conv_2d(node: Node, ins):
    from litesmith.backends.tflite import kernels as K

    if not _is_integer_node(node):
        return [_float_with_dequantized_weights(node, ins)]
    return _conv_like(node, ins, K.conv_2d, 0)


@quantized_kernel("tfl.depthwise_conv_2d")
def depthwise_conv_2d(node: Node, ins):
    from litesmith.backends.tflite import kernels as K

    if not _is_integer_node(node):
        return [_float_with_dequantized_weights(node, ins)]
    return _conv_like(node, ins, K.depthwise_conv_2d, 3)


def _float_with_dequantized_weights(node: Node, ins) -> np.ndarray:
    """Hybrid ops, approximately: float input times dequantized int8 weights."""
    from litesmith.ir.registry import get_op

    args = [dequantize_array(a, v.quant) if v.quant is not None and v.dtype.is_int else a for a, v in zip(ins, node.inputs)]
    return get_op(node.op).kernel(*args, **node.attrs)


def _small_multiplier(real: float) -> Tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: the shift as a (non-positive) exponent."""
    return quantize_multiplier(real)


@quantized_kernel("tfl.add", "tfl.sub")
def add_sub(node: Node, ins):
    a, b = ins
    qa, qb, qo = _q(node.inputs[0]), _q(node.inputs[1]), _q(node.outputs[0])
    left_shift = 20 if node.outputs[0].dtype.np == np.int8 else 15
    sa, sb, so = (np.float64(np.float32(s)) for s in (qa.scale[0], qb.scale[0], qo.scale[0]))
    twice_max = 2.0 * max(sa, sb)
    m1, s1 = _small_multiplier(sa / twice_max)
    m2, s2 = _small_multiplier(sb / twice_max)
    mo, so_ = _small_multiplier(twice_max / ((1 << left_shift) * so))
    x1 = multiply_by_quantized_multiplier((a.astype(np.int64) - qa.zero_point[0]) * (1 << left_shift), m1, s1)
    x2 = multiply_by_quantized_multiplier((b.astype(np.int64) - qb.zero_point[0]) * (1 << left_shift), m2, s2)
    raw = x1 + x2 if node.op == "tfl.add" else x1 - x2
    y = multiply_by_quantized_multiplier(raw, mo, so_) + qo.zero_point[0]
    lo, hi = activation_range(node.attrs.get("fused_activation_function", "NONE"), node.outputs[0])
    return [np.clip(y, lo, hi).astype(node.outputs[0].dtype.np)]


@quantized_kernel("tfl.mul")
def mul(node: Node, ins):
    a, b = ins
    qa, qb, qo = _q(node.inputs[0]), _q(node.inputs[1]), _q(node.outputs[0])
    real = float(np.float64(np.float32(qa.scale[0])) * np.float64(np.float32(qb.scale[0])) / np.float64(np.float32(qo.scale[0])))
    m, s = quantize_multiplier(real)
    prod = (a.astype(np.int64) - qa.zero_point[0]) * (b.astype(np.int64) - qb.zero_point[0])
    y = multiply_by_quantized_multiplier(prod, m, s) + qo.zero_point[0]
    lo, hi = activation_range(node.attrs.get("fused_activation_function", "NONE"), node.outputs[0])
    return [np.clip(y, lo, hi).astype(node.outputs[0].dtype.np)]


@quantized_kernel("tfl.mean")
def mean(node: Node, ins):
    """reference_ops::QuantizedMeanOrSum (mean): the zero-point-corrected int32 sum, times the
    input/output scale multiplier with 1/count folded into it. The quantizer emits int8 MEAN only
    over height and width of a 4-D tensor (with keep_dims), the case LiteRT also has a fast kernel for."""
    x = ins[0]
    xq, qo = _q(node.inputs[0]), _q(node.outputs[0])
    axes = tuple(sorted({int(a) % x.ndim for a in np.asarray(ins[1]).reshape(-1)}))
    count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    m, s = quantize_multiplier(float(np.float64(np.float32(xq.scale[0])) / np.float64(np.float32(qo.scale[0]))))
    shift = min(count.bit_length() - 1, 32, 31 + s)
    m, s = (m << shift) // count, s - shift
    acc = np.sum(x.astype(np.int64) - xq.zero_point[0], axis=axes, keepdims=bool(node.attrs.get("keep_dims")))
    y = multiply_by_quantized_multiplier(acc, m, s) + qo.zero_point[0]
    qmin, qmax = _limits(node.outputs[0])
    return [np.clip(y, qmin, qmax).astype(node.outputs[0].dtype.np)]


def _lookup_table(node: Node, fn) -> np.ndarray:
    """PopulateLookupTable: every int8 input value mapped through ``fn`` in float32. (int16: the same
    table over 65,536 values, a float stand-in for LiteRT's fixed-point int16 kernels.)"""
    qi, qo = _q(node.inputs[0]), _q(node.outputs[0])
    qmin, qmax = _limits(node.outputs[0])
    vals = np.arange(qmin, qmax + 1, dtype=np.int64)
    deq = np.float32(qi.scale[0]) * (vals - qi.zero_point[0]).astype(np.float32)
    with np.errstate(over="ignore"):
        out = fn(deq.astype(np.float32)).astype(np.float32)
    rescaled = round_away(out * (np.float32(1.0) / np.float32(qo.scale[0])))
    return np.clip(rescaled.astype(np.int64) + qo.zero_point[0], qmin, qmax)


@quantized_kernel("tfl.logistic")
def logistic(node: Node, ins):
    table = _lookup_table(node, lambda v: np.float32(1) / (np.float32(1) + np.exp(-v)))
    return [table[ins[0].astype(np.int64) - _limits(node.inputs[0])[0]].astype(node.outputs[0].dtype.np)]


@quantized_kernel("tfl.tanh")
def tanh(node: Node, ins):
    table = _lookup_table(node, np.tanh)
    return [table[ins[0].astype(np.int64) - _limits(node.inputs[0])[0]].astype(node.outputs[0].dtype.np)]


@quantized_kernel("tfl.softmax")
def softmax(node: Node, ins):
    """The LUT softmax of optimized_ops: exp(-scale*beta*(max - x)) in float32, then rounded."""
    (x,) = ins
    qi, qo = _q(node.inputs[0]), _q(node.outputs[0])
    beta = np.float32(node.attrs.get("beta", 1.0))
    xi = x.astype(np.int64)
    diff = (np.max(xi, axis=-1, keepdims=True) - xi).astype(np.float32)
    e = np.exp(-np.float32(qi.scale[0]) * beta * diff).astype(np.float32)
    inv = np.float32(1.0) / (np.sum(e, axis=-1, keepdims=True, dtype=np.float32) * np.float32(qo.scale[0]))
    y = round_away(e * inv).astype(np.int64) + qo.zero_point[0]
    qmin, qmax = _limits(node.outputs[0])
    return [np.clip(y, qmin, qmax).astype(node.outputs[0].dtype.np)]


@quantized_kernel("tfl.quantize")
def quantize(node: Node, ins):
    (x,) = ins
    out = node.outputs[0]
    qo = _q(out)
    qmin, qmax = _limits(out)
    src = node.inputs[0]
    if src.dtype.is_int:  # requantize
        qi = _q(src)
        real = float(np.float64(np.float32(qi.scale[0])) / np.float64(np.float32(qo.scale[0])))
        m, s = quantize_multiplier(real)
        y = multiply_by_quantized_multiplier(x.astype(np.int64) - qi.zero_point[0], m, s) + qo.zero_point[0]
    else:
        scale = np.float32(qo.scale[0])
        y = round_away(x.astype(np.float32) / scale).astype(np.int64) + qo.zero_point[0]
    return [np.clip(y, qmin, qmax).astype(out.dtype.np)]


@quantized_kernel("tfl.dequantize")
def dequantize(node: Node, ins):
    (x,) = ins
    q = node.inputs[0].quant
    if q is None:  # float16 weights
        return [x.astype(np.float32)]
    return [dequantize_array(x, q)]


def _same_scale(node: Node, ins):
    """Data movement and max/average pooling on integers: input and output share scale and zero point."""
    from litesmith.ir.registry import get_op

    attrs = dict(node.attrs)
    act = attrs.get("fused_activation_function")
    if act is not None:
        attrs["fused_activation_function"] = "NONE"
    args = [a.astype(np.float64) if v.quant is not None else a for a, v in zip(ins, node.inputs)]
    if node.op == "tfl.max_pool_2d" or node.op == "tfl.average_pool_2d":
        y = round_away(get_op(node.op).kernel(*args, **attrs))
    elif node.op in ZERO_PADDING_OPS:  # LiteRT pads integers with the zero point (real 0.0), not with 0
        zp = node.inputs[0].quant.zero_point[0]
        y = get_op(node.op).kernel(args[0] - zp, *args[1:], **attrs) + zp
    else:
        y = get_op(node.op).kernel(*args, **attrs)
    out = node.outputs[0]
    lo, hi = activation_range(act or "NONE", out) if act else _limits(out)
    return [np.clip(np.asarray(y), lo, hi).astype(out.dtype.np)]


ZERO_PADDING_OPS = ("tfl.pad", "tfl.space_to_batch_nd")
SAME_SCALE_OPS = ("tfl.reshape", "tfl.transpose", "tfl.squeeze", "tfl.expand_dims", "tfl.concatenation",
                  "tfl.max_pool_2d", "tfl.average_pool_2d", "tfl.gather", "tfl.strided_slice", "tfl.slice",
                  "tfl.pad", "tfl.space_to_batch_nd", "tfl.batch_to_space_nd")
for _op in SAME_SCALE_OPS:
    QUANTIZED_KERNELS[_op] = _same_scale


@quantized_kernel("tfl.split", "tfl.split_v")
def split(node: Node, ins):
    """Splitting integers: every piece keeps the input's scale and zero point."""
    from litesmith.ir.registry import get_op

    outs = get_op(node.op).kernel(*ins, **dict(node.attrs))
    return [np.asarray(o).astype(v.dtype.np) for o, v in zip(outs, node.outputs)]


def is_quantized_node(node: Node) -> bool:
    """True when any tensor of ``node`` is an integer with quantization parameters."""
    return any(v.quant is not None and v.dtype.is_int for v in list(node.inputs) + list(node.outputs))


class QuantizedInterpreter(Interpreter):
    """The reference interpreter, with TFLite integer arithmetic for quantized nodes."""

    def execute(self, node: Node, inputs: List[Any]) -> List[Any]:
        kernel = QUANTIZED_KERNELS.get(node.op)
        if kernel is not None and is_quantized_node(node):
            try:
                outs = kernel(node, inputs)
            except Exception as e:
                from litesmith.ir.interpreter import InterpreterError

                raise InterpreterError(f"{node.op} {node.name!r} (quantized): {type(e).__name__}: {e}") from e
            return [np.asarray(o) for o in outs]
        return super().execute(node, inputs)
