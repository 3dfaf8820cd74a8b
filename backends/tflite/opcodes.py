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
    # Positions of the TFLite input list the op leaves absent (-1), between its IR operands
    # (UNIDIRECTIONAL_SEQUENCE_LSTM without peepholes/projection); the reader drops them again.
    absent_inputs: Tuple[int, ...] = ()
    # Positions (in the TFLite input list) of inputs the kernel updates in place: written as
    # variable tensors (the LSTM's state).
    variable_inputs: Tuple[int, ...] = ()


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


# -- 16x8 op versions ----------------------------------------------------------------------------
# TF's converter quantizes 16x8 models (int16 activations, int8 weights) with its older model
# quantizer (tools/optimize, compiler/mlir/lite/quantization/lite/toco_legacy), which does not ask
# op_version.cc: SetOperatorCodeVersion raises each quantized op to the minimum quantized version
# of tools/optimize/operator_property.cc, the same number as for int8 (CONV_2D 3, not the int16
# rule's 4; DEQUANTIZE of int16 2, not 3). LiteRT accepts both; litesmith writes what TF writes
# (tests/test_quantize_16x8.py compares op by op with TF's converter).
MIN_VERSION_16X8 = {
    "tfl.conv_2d": 3, "tfl.depthwise_conv_2d": 3, "tfl.fully_connected": 4,
    "tfl.reshape": 1, "tfl.squeeze": 1, "tfl.expand_dims": 1,
    **{op: 2 for op in ("tfl.add", "tfl.sub", "tfl.mul", "tfl.logistic", "tfl.tanh", "tfl.softmax", "tfl.mean",
                        "tfl.average_pool_2d", "tfl.max_pool_2d", "tfl.concatenation", "tfl.gather", "tfl.pad",
                        "tfl.split", "tfl.split_v", "tfl.slice", "tfl.strided_slice", "tfl.transpose",
                        "tfl.space_to_batch_nd", "tfl.batch_to_space_nd", "tfl.quantize", "tfl.dequantize")},
}


class _FloatValue:
    """A quantized value seen as the float tensor it stands for (same shape, no quantization)."""

    def __init__(self, value):
        self._value = value
        self.dtype = DType.FLOAT32 if value.quant is not None and value.dtype.is_int else value.dtype
        self.quant = None if value.quant is not None and value.dtype.is_int else value.quant

    def __getattr__(self, name):
        return getattr(self._value, name)


class _FloatNode:
    """A node seen before quantization: what the float model's version rules are asked about."""

    def __init__(self, node):
        self.op, self.attrs, self.name = node.op, node.attrs, node.name
        self.inputs = [_FloatValue(v) for v in node.inputs]
        self.outputs = [_FloatValue(v) for v in node.outputs]


def is_16x8(node) -> bool:
    """A node of a 16x8 model: one of its tensors is int16 with quantization parameters."""
    return any(v.dtype is DType.INT16 and v.quant is not None for v in list(node.inputs) + list(node.outputs))


def op_version(node) -> int:
    """The version to write for ``node``: its op's rule (op_version.cc), or for 16x8 nodes the float
    model's version raised to the op's minimum quantized version, as TF's 16x8 quantizer does."""
    entry = OPCODES[node.op]
    if node.op in MIN_VERSION_16X8 and is_16x8(node):
        return max(int(entry.version(_FloatNode(node))), MIN_VERSION_16X8[node.op])
    return int(entry.version(node))
