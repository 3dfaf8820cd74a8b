"""ONNX reductions and arg-reductions.

``axes`` is an attribute before opset 18 (ReduceSum: 13) and an optional
input after; no axes means all of them, unless ``noop_with_empty_axes``.
ReduceL1/L2/LogSum/LogSumExp/SumSquare compose from core reductions.
"""
from __future__ import annotations

import numpy as np
from litesmith.ir.dtypes import DType

from .registry import Unsupported, need_rank, onnx_op

_CORE = {"ReduceSum": "core.reduce_sum", "ReduceMean": "core.reduce_mean", "ReduceMax": "core.reduce_max",
         "ReduceMin": "core.reduce_min", "ReduceProd": "core.reduce_prod"}


def _axes(ctx, node, inputs, rank: int):
    """The axes to reduce, or None for 'reduce nothing' (noop_with_empty_axes)."""
    if len(inputs) > 1 and inputs[1] is not None:
        axes = ctx.const_ints(inputs[1], "axes")
    else:
        axes = node.attr_ints("axes", None)
    if not axes:
        return None if node.attr_int("noop_with_empty_axes", 0) else list(range(rank))
    return axes


def _reduce(ctx, node, inputs, core_op, x=None):
    x = inputs[0] if x is None else x
    rank = need_rank(x)
    axes = _axes(ctx, node, inputs, rank)
    if axes is None:
        return x
    return ctx.op(core_op, [x], {"axes": axes, "keepdims": bool(node.attr_int("keepdims", 1))})


def _plain(core_op):
    return lambda ctx, node, inputs: [_reduce(ctx, node, inputs, core_op)]


for _onnx, _core in _CORE.items():
    onnx_op(_onnx, inputs=(1, 2))(_plain(_core))


@onnx_op("ReduceL1", inputs=(1, 2))
def _l1(ctx, node, inputs):
    return [_reduce(ctx, node, inputs, "core.reduce_sum", ctx.op("core.abs", [inputs[0]]))]


@onnx_op("ReduceL2", inputs=(1, 2))
def _l2(ctx, node, inputs):
    s = _reduce(ctx, node, inputs, "core.reduce_sum", ctx.op("core.square", [inputs[0]]))
    return [ctx.op("core.sqrt", [s])]


@onnx_op("ReduceSumSquare", inputs=(1, 2))
def _sum_square(ctx, node, inputs):
    return [_reduce(ctx, node, inputs, "core.reduce_sum", ctx.op("core.square", [inputs[0]]))]


@onnx_op("ReduceLogSum", inputs=(1, 2))
def _log_sum(ctx, node, inputs):
    return [ctx.op("core.log", [_reduce(ctx, node, inputs, "core.reduce_sum")])]


@onnx_op("ReduceLogSumExp", inputs=(1, 2))
def _log_sum_exp(ctx, node, inputs):
    """log(sum(exp(x - max))) + max, stable for large inputs."""
    x = inputs[0]
    rank = need_rank(x)
    axes = _axes(ctx, node, inputs, rank)
    if axes is None:
        return [x]
    m = ctx.op("core.reduce_max", [x], {"axes": axes, "keepdims": True})
    s = ctx.op("core.reduce_sum", [ctx.op("core.exp", [ctx.op("core.sub", [x, m])])],
               {"axes": axes, "keepdims": True})
    y = ctx.op("core.add", [ctx.op("core.log", [s]), m])
    if not node.attr_int("keepdims", 1):
        y = ctx.op("core.squeeze", [y], {"axes": axes})
    return [y]


def _arg(core_op):
    def fn(ctx, node, inputs):
        x = inputs[0]
        rank = need_rank(x)
        axis = node.attr_int("axis", 0)
        axis = axis + rank if axis < 0 else axis
        last = node.attr_int("select_last_index", 0)
        y = ctx.op("core.reverse", [x], {"axes": [axis]}) if last else x
        idx = ctx.op(core_op, [y], {"axis": axis, "output_type": DType.INT64})
        if last:
            dim = x.shape[axis]
            if dim is None:
                raise Unsupported("select_last_index over an unknown dim")
            idx = ctx.op("core.sub", [ctx.const(np.asarray(dim - 1, np.int64)), idx])
        if node.attr_int("keepdims", 1):
            idx = ctx.op("core.expand_dims", [idx], {"axis": axis})
        return [idx]

    return fn


onnx_op("ArgMax", inputs=1)(_arg("core.argmax"))
onnx_op("ArgMin", inputs=1)(_arg("core.argmin"))
