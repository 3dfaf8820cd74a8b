"""TF2 TensorList and TF1 TensorArray ops, both lifted to core tensor-list ops.

A TF1 TensorArray is a resource handle plus a "flow" float that orders the
writes. In the IR the flow tensor *is* the list value, and the handle becomes
a ``TensorArrayHandle`` marker that only TensorArray ops accept: the list is
threaded through loops exactly like a TF2 TensorList.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from litesmith.ir.dtypes import DType

from .mapper import tf_op


@dataclass(frozen=True)
class TensorArrayHandle:
    """Stands in for a TF1 TensorArray resource handle (it carries no data)."""

    dtype: DType
    element_shape: Optional[tuple]


def _element_shape(ctx, v):
    """A TF element_shape input (-1 = unknown rank, -1 dims = unknown) as an IR shape."""
    c = v.const_value()
    if c is None:
        return None
    c = np.asarray(c).reshape(-1) if np.ndim(c) else np.asarray(c)
    if np.ndim(c) == 0:
        return None if int(c) == -1 else ()
    return tuple(None if int(d) < 0 else int(d) for d in c)


@tf_op("TensorListReserve", "EmptyTensorList", inputs=2)
def _reserve(ctx, node, inputs):
    dtype = node.attr("element_dtype")
    num = inputs[1]
    if node.op == "EmptyTensorList":
        num = ctx.const(np.array(0, np.int32))
    return [ctx.op("core.tensor_list_reserve", [num],
                   {"element_dtype": dtype, "element_shape": _element_shape(ctx, inputs[0])})]


@tf_op("TensorListFromTensor", inputs=2)
def _from_tensor(ctx, node, inputs):
    x = inputs[0]
    shape = x.shape[1:] if x.shape is not None else _element_shape(ctx, inputs[1])
    return [ctx.op("core.tensor_list_from_tensor", [x], {"element_shape": shape})]


@tf_op("TensorListGetItem", inputs=3)
def _get_item(ctx, node, inputs):
    return [ctx.op("core.tensor_list_get_item", inputs[:2], {"element_dtype": node.attr("element_dtype")})]


@tf_op("TensorListSetItem", inputs=3)
def _set_item(ctx, node, inputs):
    return [ctx.op("core.tensor_list_set_item", inputs[:3])]


@tf_op("TensorListStack", inputs=2)
def _stack(ctx, node, inputs):
    return [ctx.op("core.tensor_list_stack", inputs[:1], {"element_dtype": node.attr("element_dtype"),
                                                          "num_elements": node.attr_int("num_elements", -1)})]


@tf_op("TensorListLength", inputs=1)
def _length(ctx, node, inputs):
    return [ctx.op("core.tensor_list_length", inputs[:1])]


# -- TF1 TensorArray ------------------------------------------------------------------


@tf_op("TensorArrayV3", inputs=1)
def _tensor_array(ctx, node, inputs):
    dtype = node.attr("dtype")
    shape = node.attrs.get("element_shape")
    flow = ctx.op("core.tensor_list_reserve", inputs[:1], {"element_dtype": dtype, "element_shape": shape})
    return [TensorArrayHandle(dtype, shape), flow]


def _is_full_range(v, length_of=None) -> bool:
    """True when index tensor ``v`` is ``range(0, n, 1)`` covering every element."""
    p = v.producer
    if p is not None and p.op == "core.range":
        start, _, delta = (x.const_value() for x in p.inputs)
        return start is not None and delta is not None and int(start) == 0 and int(delta) == 1
    c = v.const_value()
    if c is not None and length_of is not None and length_of.shape:
        return np.array_equal(np.asarray(c).reshape(-1), np.arange(length_of.shape[0]))
    return False


@tf_op("TensorArrayScatterV3", inputs=4)
def _scatter(ctx, node, inputs):
    _, indices, value, _flow = inputs[:4]
    if not _is_full_range(indices, value):
        return None
    shape = value.shape[1:] if value.shape is not None else None
    return [ctx.op("core.tensor_list_from_tensor", [value], {"element_shape": shape})]


@tf_op("TensorArrayWriteV3", inputs=4)
def _write(ctx, node, inputs):
    _, index, value, flow = inputs[:4]
    return [ctx.op("core.tensor_list_set_item", [flow, index, value])]


@tf_op("TensorArrayReadV3", inputs=3)
def _read(ctx, node, inputs):
    _, index, flow = inputs[:3]
    return [ctx.op("core.tensor_list_get_item", [flow, index], {"element_dtype": node.attr("dtype")})]


@tf_op("TensorArrayGatherV3", inputs=3)
def _gather(ctx, node, inputs):
    _, indices, flow = inputs[:3]
    stacked = ctx.op("core.tensor_list_stack", [flow], {"element_dtype": node.attr("dtype")})
    if _is_full_range(indices):
        return [stacked]
    return [ctx.op("core.gather", [stacked, indices])]


@tf_op("TensorArraySizeV3", inputs=2)
def _size(ctx, node, inputs):
    return [ctx.op("core.tensor_list_length", [inputs[1]])]


@tf_op("TensorArrayCloseV3", inputs=1)
def _close(ctx, node, inputs):
    return []
