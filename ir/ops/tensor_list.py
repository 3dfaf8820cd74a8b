"""Tensor lists: TF2 TensorList and TF1 TensorArray lift to these ops.

A list value has type ``TensorType.list_of(element)``; at run time the
interpreter holds a ``TensorListValue``. Kernels never mutate an input list:
``set_item`` returns a new list, so a value seen by several users (or by an
observer recording every node's output) never changes under them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from ..dtypes import DType
from ..registry import Attr, defop
from ..types import Shape, TensorType, is_static, make_shape, refine_shape, shapes_compatible


@dataclass
class TensorListValue:
    """A list of numpy arrays (None for a reserved, never-set slot) with its element dtype and shape."""

    items: List[Optional[np.ndarray]]
    element_dtype: DType
    element_shape: Shape = None

    def __len__(self) -> int:
        return len(self.items)

    def copy(self) -> "TensorListValue":
        return TensorListValue(list(self.items), self.element_dtype, self.element_shape)

    def item(self, index: int) -> np.ndarray:
        """Element ``index``; an unset slot reads as zeros when the element shape is static (TF)."""
        if not -len(self.items) <= index < len(self.items):
            raise IndexError(f"tensor list index {index} out of range for a list of {len(self.items)}")
        value = self.items[index]
        if value is None:
            if not is_static(self.element_shape):
                raise ValueError(f"tensor list element {index} was never set and its shape {self.element_shape} is not static")
            return np.zeros(self.element_shape, self.element_dtype.np)
        return value


def _element_shape_attr(ctx, key="element_shape") -> Shape:
    return make_shape(ctx.attrs[key]) if ctx.attrs[key] is not None else None


def _list_type(dtype: DType, shape: Shape) -> TensorType:
    return TensorType.list_of(TensorType(dtype, shape))


def _require_list(ctx, t: TensorType) -> TensorType:
    if not t.is_list:
        ctx.fail(f"operand 0 must be a tensor list, got {t}")
    return t.element


def _require_scalar_int(ctx, t: TensorType, what: str) -> None:
    if not t.dtype.is_int:
        ctx.fail(f"{what} must be an integer scalar, got {t}")
    if t.shape is not None and not (len(t.shape) == 0 or t.shape in ((1,), (None,))):
        ctx.fail(f"{what} must be a scalar, got {t}")


# -- reserve / from_tensor -------------------------------------------------------------


def _infer_reserve(ctx):
    _require_scalar_int(ctx, ctx.types[0], "num_elements")
    return [_list_type(ctx.attrs["element_dtype"], _element_shape_attr(ctx))]


def _reserve(num_elements, element_dtype, element_shape):
    n = int(np.asarray(num_elements).reshape(-1)[0])
    if n < 0:
        raise ValueError(f"num_elements must be >= 0, got {n}")
    return TensorListValue([None] * n, element_dtype, make_shape(element_shape) if element_shape is not None else None)


defop(
    "core.tensor_list_reserve",
    batch_axis="list_reserve",
    doc="""A list of `num_elements` unset slots; an unset slot reads as zeros
    of `element_shape` (TF TensorListReserve / TensorArrayV3).""",
    operands=["num_elements"],
    attrs={
        "element_dtype": Attr("dtype", doc="element type"),
        "element_shape": Attr("shape", doc="element shape; None dims unknown, None for unknown rank"),
    },
    infer=_infer_reserve,
    kernel=_reserve,
    category="tensor list",
)


def _infer_from_tensor(ctx):
    t = ctx.types[0]
    declared = _element_shape_attr(ctx)
    row = None if t.shape is None else t.shape[1:]
    if t.shape is not None and len(t.shape) < 1:
        ctx.fail("tensor must have rank >= 1 (it is unstacked along axis 0)")
    if not shapes_compatible(row, declared):
        ctx.fail(f"rows of shape {list(row)} contradict element_shape {declared}")
    return [_list_type(t.dtype, refine_shape(row, declared))]


def _from_tensor(tensor, element_shape):
    tensor = np.asarray(tensor)
    return TensorListValue([np.array(row) for row in tensor], DType.from_numpy(tensor.dtype), tensor.shape[1:])


defop(
    "core.tensor_list_from_tensor",
    batch_axis="list_from_tensor",
    doc="The list of `tensor`'s rows (unstacked along axis 0).",
    operands=["tensor"],
    attrs={"element_shape": Attr("shape", doc="declared element shape (refined by the tensor's rows)")},
    infer=_infer_from_tensor,
    kernel=_from_tensor,
    category="tensor list",
)

# -- get / set ----------------------------------------------------------------


def _infer_get_item(ctx):
    elem = _require_list(ctx, ctx.types[0])
    _require_scalar_int(ctx, ctx.types[1], "index")
    dtype = ctx.attrs["element_dtype"]
    if dtype is not elem.dtype:
        ctx.fail(f"element_dtype {dtype} differs from the list's {elem.dtype}")
    return [TensorType(elem.dtype, elem.shape)]


def _get_item(lst: TensorListValue, index, element_dtype=None):
    return lst.item(int(np.asarray(index).reshape(-1)[0]))


defop(
    "core.tensor_list_get_item",
    batch_axis="passthrough",
    doc="Element `index` of the list (an unset slot reads as zeros).",
    operands=["list", "index"],
    attrs={"element_dtype": Attr("dtype", doc="must equal the list's element dtype")},
    infer=_infer_get_item,
    kernel=_get_item,
    category="tensor list",
)


def _infer_set_item(ctx):
    lst, index, item = ctx.types
    elem = _require_list(ctx, lst)
    _require_scalar_int(ctx, index, "index")
    if item.dtype is not elem.dtype:
        ctx.fail(f"item dtype {item.dtype} differs from the list's {elem.dtype}")
    if not shapes_compatible(item.shape, elem.shape):
        ctx.fail(f"item shape {item.shape} contradicts the list's element shape {elem.shape}")
    return [TensorType.list_of(TensorType(elem.dtype, elem.shape))]


def _set_item(lst: TensorListValue, index, item):
    i = int(np.asarray(index).reshape(-1)[0])
    if not -len(lst) <= i < len(lst):
        raise IndexError(f"tensor list index {i} out of range for a list of {len(lst)}")
    out = lst.copy()
    out.items[i] = np.array(item, copy=True)
    return out


defop(
    "core.tensor_list_set_item",
    batch_axis="list_set_item",
    doc="A new list equal to `list` with element `index` replaced by `item` (the input list is unchanged).",
    operands=["list", "index", "item"],
    infer=_infer_set_item,
    kernel=_set_item,
    category="tensor list",
)

# -- stack / length -------------------------------------------------------------


def _infer_stack(ctx):
    elem = _require_list(ctx, ctx.types[0])
    dtype = ctx.attrs["element_dtype"]
    if dtype is not elem.dtype:
        ctx.fail(f"element_dtype {dtype} differs from the list's {elem.dtype}")
    n = ctx.attrs["num_elements"]
    if elem.shape is None:
        return [TensorType(dtype, None)]
    return [TensorType(dtype, (n if n >= 0 else None,) + elem.shape)]


def _stack(lst: TensorListValue, element_dtype=None, num_elements=-1):
    if num_elements >= 0 and num_elements != len(lst):
        raise ValueError(f"list has {len(lst)} elements, num_elements says {num_elements}")
    items = [lst.item(i) for i in range(len(lst))]
    if not items:
        if not is_static(lst.element_shape):
            raise ValueError("cannot stack an empty list whose element shape is not static")
        return np.zeros((0,) + tuple(lst.element_shape), lst.element_dtype.np)
    return np.stack(items)


defop(
    "core.tensor_list_stack",
    batch_axis="list_stack",
    doc="All elements stacked into one tensor [n, *element_shape].",
    operands=["list"],
    attrs={
        "element_dtype": Attr("dtype", doc="must equal the list's element dtype"),
        "num_elements": Attr("int", -1, "expected length, -1 if unknown"),
    },
    infer=_infer_stack,
    kernel=_stack,
    category="tensor list",
)


def _infer_length(ctx):
    _require_list(ctx, ctx.types[0])
    return [TensorType(DType.INT32, ())]


defop(
    "core.tensor_list_length",
    batch_axis="size_of",
    doc="The number of elements of the list, as an i32 scalar.",
    operands=["list"],
    infer=_infer_length,
    kernel=lambda lst: np.asarray(len(lst), np.int32),
    category="tensor list",
)
