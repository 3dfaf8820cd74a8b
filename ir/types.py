"""Tensor types: element type, shape with static or unknown dims, quantization.

A shape is a tuple whose entries are ints (static) or ``None`` (unknown); a
shape of ``None`` means even the rank is unknown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .dtypes import DType

Dim = Optional[int]
Shape = Optional[Tuple[Dim, ...]]


def make_shape(dims: Union[None, Sequence[Optional[int]]]) -> Shape:
    """Normalize a dims sequence: ints stay, negative or None become None."""
    if dims is None:
        return None
    if type(dims) is tuple:  # the common case, already normal: keep the tuple
        for d in dims:
            if d is not None and (type(d) is not int or d < 0):
                break
        else:
            return dims
    out = []
    for d in dims:
        if d is None:
            out.append(None)
        else:
            d = int(d)
            out.append(d if d >= 0 else None)
    return tuple(out)


def is_static(shape: Shape) -> bool:
    return shape is not None and all(d is not None for d in shape)


def num_elements(shape: Shape) -> Optional[int]:
    if not is_static(shape):
        return None
    n = 1
    for d in shape:
        n *= d
    return n


def shape_str(shape: Shape) -> str:
    if shape is None:
        return "*"
    return ",".join("?" if d is None else str(d) for d in shape)


def broadcast_shapes(*shapes: Shape) -> Shape:
    """Numpy broadcasting of shapes that may hold unknown dims (None) or rank (None).
    Raises ValueError when two static dims disagree."""
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"shapes {' and '.join('[' + shape_str(s) + ']' for s in shapes)} do not broadcast")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def shapes_compatible(a: Shape, b: Shape) -> bool:
    """True when no static dim of ``a`` contradicts one of ``b``."""
    if a is None or b is None:
        return True
    if len(a) != len(b):
        return False
    return all(x is None or y is None or x == y for x, y in zip(a, b))


def refine_shape(a: Shape, b: Shape) -> Shape:
    """The most specific shape both ``a`` and ``b`` allow (they must be compatible)."""
    if a is None:
        return b
    if b is None:
        return a
    return tuple(x if x is not None else y for x, y in zip(a, b))


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point); per-axis when axis is set."""

    scale: Tuple[float, ...]
    zero_point: Tuple[int, ...]
    axis: Optional[int] = None

    def __post_init__(self):
        object.__setattr__(self, "scale", tuple(float(s) for s in np.atleast_1d(self.scale)))
        object.__setattr__(self, "zero_point", tuple(int(z) for z in np.atleast_1d(self.zero_point)))
        if len(self.scale) != len(self.zero_point):
            raise ValueError("quantization scale and zero_point differ in length")


@dataclass(frozen=True)
class TensorType:
    dtype: DType
    shape: Shape = None
    quant: Optional[QuantParams] = None
    # For ``variant`` (tensor list) values: the type of one element.
    element: Optional["TensorType"] = None

    def __post_init__(self):
        shape = make_shape(self.shape)
        if shape is not self.shape:
            object.__setattr__(self, "shape", shape)
        if (self.element is not None) != (self.dtype is DType.VARIANT):
            raise ValueError("a tensor-list type needs dtype variant and an element type")

    @property
    def rank(self) -> Optional[int]:
        return None if self.shape is None else len(self.shape)

    def with_shape(self, shape) -> "TensorType":
        return TensorType(self.dtype, shape, self.quant, self.element)

    def with_dtype(self, dtype: DType) -> "TensorType":
        return TensorType(dtype, self.shape)

    @classmethod
    def list_of(cls, element: "TensorType") -> "TensorType":
        """The type of a tensor list whose elements have type ``element``."""
        return cls(DType.VARIANT, (), None, element)

    @property
    def is_list(self) -> bool:
        return self.dtype is DType.VARIANT

    def __str__(self) -> str:
        if self.is_list:
            return f"list<{self.element}>"
        return f"{self.dtype}[{shape_str(self.shape)}]"


@dataclass(frozen=True)
class ElidedTensor:
    """Stands in for constant data left out of printed IR (``key``: its name in a side .npz)."""

    type: TensorType
    key: Optional[str] = None

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype.np
