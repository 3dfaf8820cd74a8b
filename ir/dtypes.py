"""Element types of the IR and their numpy and text spellings.

One table, so the printer, parser, frontends and backends agree on names.
"""
from __future__ import annotations

import enum

import numpy as np


class DType(enum.Enum):
    """An element type. ``value`` is the short text spelling (``f32``)."""

    BOOL = "bool"
    INT8 = "i8"
    UINT8 = "u8"
    INT16 = "i16"
    INT32 = "i32"
    INT64 = "i64"
    FLOAT16 = "f16"
    FLOAT32 = "f32"
    FLOAT64 = "f64"
    STRING = "str"
    # A handle to a tensor list (TF2 TensorList / TF1 TensorArray); the element
    # type lives in ``TensorType.element``.
    VARIANT = "variant"

    def __repr__(self) -> str:
        return f"DType.{self.name}"

    def __str__(self) -> str:
        return self.value

    @property
    def np(self) -> np.dtype:
        """The numpy dtype that holds this element type (strings as objects)."""
        return _TO_NUMPY[self]

    @property
    def is_float(self) -> bool:
        return self in (DType.FLOAT16, DType.FLOAT32, DType.FLOAT64)

    @property
    def is_int(self) -> bool:
        return self in (DType.INT8, DType.UINT8, DType.INT16, DType.INT32, DType.INT64)

    @property
    def itemsize(self) -> int:
        return 0 if self in (DType.STRING, DType.VARIANT) else self.np.itemsize

    @classmethod
    def parse(cls, text: str) -> "DType":
        try:
            return _BY_TEXT[text]
        except KeyError:
            raise ValueError(f"unknown dtype {text!r}; expected one of {', '.join(_BY_TEXT)}") from None

    @classmethod
    def from_numpy(cls, dtype) -> "DType":
        dt = np.dtype(dtype)
        if dt.kind in "OSU":
            return DType.STRING
        try:
            return _FROM_NUMPY[dt]
        except KeyError:
            raise ValueError(f"numpy dtype {dt} has no IR element type") from None


_TO_NUMPY = {
    DType.BOOL: np.dtype(np.bool_),
    DType.INT8: np.dtype(np.int8),
    DType.UINT8: np.dtype(np.uint8),
    DType.INT16: np.dtype(np.int16),
    DType.INT32: np.dtype(np.int32),
    DType.INT64: np.dtype(np.int64),
    DType.FLOAT16: np.dtype(np.float16),
    DType.FLOAT32: np.dtype(np.float32),
    DType.FLOAT64: np.dtype(np.float64),
    DType.STRING: np.dtype(object),
    DType.VARIANT: np.dtype(object),
}
_FROM_NUMPY = {v: k for k, v in _TO_NUMPY.items() if k not in (DType.STRING, DType.VARIANT)}
_BY_TEXT = {d.value: d for d in DType}

# Short aliases for code that builds graphs by hand.
bool_ = DType.BOOL
int8 = DType.INT8
uint8 = DType.UINT8
int16 = DType.INT16
int32 = DType.INT32
int64 = DType.INT64
float16 = DType.FLOAT16
float32 = DType.FLOAT32
float64 = DType.FLOAT64
string = DType.STRING
