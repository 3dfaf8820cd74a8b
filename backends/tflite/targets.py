"""The engines a .tflite file may be written for, declared once as data (``--target``).

Each profile lists the builtin operators the engine runs (with the highest
op version it takes where the engine checks versions at all), the tensor
types it accepts and its constraints. ``target_check.py`` applies a profile
to a written flatbuffer; nothing else knows these facts.

- ``litert``: the stock LiteRT interpreter (``ai_edge_litert``), the default:
  everything the writer emits runs there.
- ``tflm``: TensorFlow Lite for Microcontrollers (the ``tflite-micro`` wheel's
  reference kernels): integer-only int8/int16 models, static shapes, weights
  inline in the flatbuffer, only ops that have a micro kernel. TFLM resolves
  kernels by builtin code alone (no version check).
- ``armnn``: Arm NN 20.08's TFLite parser (Debian bookworm's
  ``libarmnntfliteparser22``), whose operator table was read from the
  library's ``TfLiteParser::Parse*`` symbols; it checks no op versions but
  has option limits of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Mapping, Optional

__all__ = ["TargetProfile", "TARGETS", "TARGET_NAMES", "DEFAULT_TARGET", "get_target", "tflm_resolver_call"]

DEFAULT_TARGET = "litert"


@dataclass(frozen=True)
class TargetProfile:
    """What one engine runs. ``ops`` None: every builtin the writer emits; a version None: any version."""

    name: str
    engine: str
    ops: Optional[Mapping[str, Optional[int]]]
    tensor_types: Optional[FrozenSet[str]] = None  # TensorType names allowed anywhere; None: all
    integer_only: bool = False  # no float tensor except a QUANTIZE input / DEQUANTIZE output
    static_shapes: bool = False  # no -1 in any shape_signature
    inline_buffers: bool = False  # no Buffer.offset/size (weights outside the flatbuffer)
    single_subgraph: bool = False
    custom_ops: FrozenSet[str] = frozenset()  # custom codes the engine resolves itself
    fused_activations: Optional[FrozenSet[str]] = None  # ActivationFunctionType names; None: all
    omitted_inputs: bool = True  # an optional input given as index -1 (TF's bias-less FULLY_CONNECTED)
    fully_connected_per_tensor: bool = False  # int8 FULLY_CONNECTED weights with one scale only
    fully_connected_min_rank: int = 0  # rank the FULLY_CONNECTED input and output must have at least
    int8_softmax_max_classes: Optional[int] = None  # widest int8 -> int8 SOFTMAX row the engine survives
    int8_options: Mapping[str, object] = field(default_factory=dict)  # quantize-int8's options for this engine
    passes: str = ""  # run after lower-tflite,fuse-tflite,dce (before quantization): the engine's lowering choices
    final_passes: str = ""  # run last (after quantization, on the final types): lowering choices of the same kind
    # op -> fix for the ops a target lacks, where there is a better one than "remove it"
    op_fixes: Mapping[str, str] = field(default_factory=dict)


def _any_version(*names: str) -> Dict[str, Optional[int]]:
    return {n: None for n in names}


# Ops with a kernel in TFLM's reference kernels (tensorflow/lite/micro/kernels, the
# MicroMutableOpResolver's Add* calls), as in the tflite-micro wheel's AllOpsResolver.
TFLM_OPS = _any_version(
    "ABS", "ADD", "ADD_N", "ARG_MAX", "ARG_MIN", "ASSIGN_VARIABLE", "AVERAGE_POOL_2D", "BATCH_MATMUL",
    "BATCH_TO_SPACE_ND", "BROADCAST_ARGS", "BROADCAST_TO", "CALL_ONCE", "CAST", "CEIL", "CONCATENATION",
    "CONV_2D", "COS", "CUMSUM", "DEPTH_TO_SPACE", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "DIV", "ELU",
    "EMBEDDING_LOOKUP", "EQUAL", "EXP", "EXPAND_DIMS", "FILL", "FLOOR", "FLOOR_DIV", "FLOOR_MOD",
    "FULLY_CONNECTED", "GATHER", "GATHER_ND", "GREATER", "GREATER_EQUAL", "HARD_SWISH", "IF",
    "L2_NORMALIZATION", "L2_POOL_2D", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG", "LOG_SOFTMAX",
    "LOGICAL_AND", "LOGICAL_NOT", "LOGICAL_OR", "LOGISTIC", "MAX_POOL_2D", "MAXIMUM", "MEAN", "MINIMUM",
    "MIRROR_PAD", "MUL", "NEG", "NOT_EQUAL", "PACK", "PAD", "PADV2", "PRELU", "QUANTIZE", "READ_VARIABLE",
    "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR",
    "REVERSE_V2", "ROUND", "RSQRT", "SELECT_V2", "SHAPE", "SIN", "SLICE", "SOFTMAX", "SPACE_TO_BATCH_ND",
    "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "SQRT", "SQUARE", "SQUARED_DIFFERENCE", "SQUEEZE",
    "STRIDED_SLICE", "SUB", "SUM", "SVDF", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNPACK", "VAR_HANDLE", "WHILE", "ZEROS_LIKE",
)

# The builtins Arm NN 20.08's TfLiteParser registers a Parse* function for.
ARMNN_2008_OPS = _any_version(
    "ADD", "AVERAGE_POOL_2D", "BATCH_TO_SPACE_ND", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEQUANTIZE", "DIV", "EXP", "FULLY_CONNECTED", "HARD_SWISH", "L2_NORMALIZATION", "LEAKY_RELU",
    "LOGISTIC", "MAX_POOL_2D", "MAXIMUM", "MEAN", "MINIMUM", "MUL", "NEG", "PACK", "PAD", "QUANTIZE",
    "RELU", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SLICE", "SOFTMAX",
    "SPACE_TO_BATCH_ND", "SPLIT", "SPLIT_V", "SQUEEZE", "STRIDED_SLICE", "SUB", "TANH", "TRANSPOSE",
    "TRANSPOSE_CONV", "UNPACK",
)

TARGETS: Dict[str, TargetProfile] = {
    "litert": TargetProfile("litert", "LiteRT (ai_edge_litert) builtin kernels", ops=None),
    "tflm": TargetProfile(
        "tflm", "TensorFlow Lite for Microcontrollers (tflite-micro reference kernels)",
        ops=TFLM_OPS,
        tensor_types=frozenset({"INT8", "INT16", "INT32", "BOOL", "FLOAT32"}),  # FLOAT32 only at the edges
        integer_only=True, static_shapes=True, inline_buffers=True,
        # its reference int8 SOFTMAX calls gemmlowp::RoundingDivideByPOT(..., bits of the sum over 1 + 23),
        # which asserts the exponent <= 31: SIGABRT once a row's sum of exp(x - max) reaches 512
        int8_softmax_max_classes=511,
        final_passes="softmax-int16",  # wider int8 SOFTMAX rows computed in int16 (its kernel has no such limit)
        op_fixes={"UNIDIRECTIONAL_SEQUENCE_RNN": "run unroll-rnn (--passes strip-batch,unroll-rnn)"},
    ),
    "armnn": TargetProfile(
        "armnn", "Arm NN 20.08 TfLiteParser (CpuRef / CpuAcc backends)",
        ops=ARMNN_2008_OPS,
        tensor_types=frozenset({"FLOAT32", "FLOAT16", "UINT8", "INT8", "INT16", "INT32"}),
        single_subgraph=True,
        custom_ops=frozenset({"TFLite_Detection_PostProcess"}),
        fused_activations=frozenset({"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH"}),
        omitted_inputs=False,  # "'operatorPtr->inputs[i]' must be non-negative, received: -1"
        fully_connected_per_tensor=True,  # CpuRef: "Reference Fully Connected: weights type not supported"
        # CpuAcc's int8 -> int8 QUANTIZE is 1 LSB off CpuRef's in 7 of 10 values (its float one matches)
        int8_options={"per_tensor_fc": True, "float_requantize": True},
        passes="dense-rank2",  # [1, K] dense inputs: a rank-1 one breaks 20.08's shape inference
        final_passes="embedding-one-hot",  # no GATHER: a one-hot FULLY_CONNECTED (float32 token ids in)
        fully_connected_min_rank=2,  # a [K] input: "TensorShape ... does not match the inferred shape"
        op_fixes={
            "GATHER": "convert with --target armnn: its embedding-one-hot pass makes a lookup of a constant table by "
                      "the model's token-id input a one-hot FULLY_CONNECTED (the ids then come in as float32); other "
                      "lookups: do them in the app and cut the model after them (--inputs)",
            "UNIDIRECTIONAL_SEQUENCE_LSTM": "run unroll-rnn (--passes strip-batch,unroll-rnn)",
            "WHILE": "unroll the loop (--passes strip-batch,unroll-rnn or unroll-loops)",
        },
    ),
}
TARGET_NAMES = tuple(TARGETS)


def get_target(name: str) -> TargetProfile:
    """The profile called ``name``; a ``UserError`` naming the known ones otherwise."""
    from litesmith.ir.errors import UserError

    try:
        return TARGETS[name]
    except KeyError:
        raise UserError(f"unknown target {name!r}: choose one of {', '.join(TARGET_NAMES)}") from None


# MicroMutableOpResolver method names that are not the builtin's CamelCase.
_TFLM_RESOLVER_NAMES = {
    "BATCH_MATMUL": "AddBatchMatMul", "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM", "L2_NORMALIZATION": "AddL2Normalization",
    "LOG_SOFTMAX": "AddLogSoftmax", "PADV2": "AddPadV2", "SELECT_V2": "AddSelectV2", "REVERSE_V2": "AddReverseV2",
    "SPLIT_V": "AddSplitV", "PRELU": "AddPrelu", "ADD_N": "AddAddN", "L2_POOL_2D": "AddL2Pool2D",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "MAX_POOL_2D": "AddMaxPool2D", "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "TRANSPOSE_CONV": "AddTransposeConv", "SVDF": "AddSvdf",
    "GATHER_ND": "AddGatherNd", "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
}


def tflm_resolver_call(builtin: str) -> str:
    """The ``MicroMutableOpResolver`` call that registers ``builtin``'s kernel: CONV_2D -> AddConv2D()."""
    name = _TFLM_RESOLVER_NAMES.get(builtin) or "Add" + "".join(p.capitalize() for p in builtin.split("_"))
    return name + "()"
