"""The ``tfl`` op <-> TFLite builtin table shared by ops.py, the writer and the reader.

``ops.py`` fills ``OPCODES`` while declaring each op (one call per op), so an
op's IR declaration and its flatbuffer encoding live side by side. This module
never imports the (large) generated schema: names are strings, resolved by the
writer and reader.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

from litesmith.ir.dtypes import DType

VersionFn = Callable[["object"], int]  # fn(node) -> op version


@dataclass(frozen=True)
class OpCode:
    """How one ``tfl`` op is encoded: builtin operator, options table, version."""

    op: str  # "tfl.conv_2d"
    builtin: str  # "CONV_2D" (a BuiltinOperator name)
    options: Optional[str]  # "Conv2DOptions" (a BuiltinOptions member) or None
    version: VersionFn = field(default=lambda node: 1)
    # Option fields the writer computes from the node instead of reading attrs
    # (``values_count`` of PACK, subgraph indices of WHILE/IF...); the reader drops them.
    derived: Tuple[str, ...] = ()


OPCODES: Dict[str, OpCode] = {}  # by op name
BY_BUILTIN: Dict[str, OpCode] = {}  # by BuiltinOperator name


def register(opcode: OpCode) -> None:
    if opcode.op in OPCODES or opcode.builtin in BY_BUILTIN:
        raise ValueError(f"{opcode.op} ({opcode.builtin}) has two opcode entries")
    OPCODES[opcode.op] = opcode
    BY_BUILTIN[opcode.builtin] = opcode


# Option fields that are enums in the schema: IR attr spelling (str or DType) <-> schema enum class.
ENUM_FIELDS = {
    "fused_activation_function": "ActivationFunctionType",
    "padding": "Padding",
    "mode": "MirrorPadMode",
    "weights_format": "FullyConnectedOptionsWeightsFormat",
}
# Option fields that hold a schema ``TensorType``: IR attr is a DType.
DTYPE_FIELDS = ("in_data_type", "out_data_type", "output_type", "out_type", "idx_out_type")

# IR dtype <-> schema TensorType value (stable across schema versions).
TENSOR_TYPE_CODES = {
    DType.FLOAT32: 0, DType.FLOAT16: 1, DType.INT32: 2, DType.UINT8: 3, DType.INT64: 4,
    DType.STRING: 5, DType.BOOL: 6, DType.INT16: 7, DType.INT8: 9, DType.FLOAT64: 10,
}
DTYPE_OF_CODE = {v: k for k, v in TENSOR_TYPE_CODES.items()}


def snake_case(camel: str) -> str:
    """Object-API field name -> IR attr name (``strideW`` -> ``stride_w``)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def camel_case(snake: str) -> str:
    """IR attr name -> object-API field name (``stride_w`` -> ``strideW``)."""
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)
