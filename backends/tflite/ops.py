"""The ``tfl`` dialect: TFLite builtin operators as IR ops.

Op names are ``"tfl." + BuiltinOperator name in lowercase``. Operands are in
TFLite input order (an optional trailing input such as FULLY_CONNECTED's bias
may be absent). Attributes are the op's BuiltinOptions fields in snake_case
(``fused_activation_function`` as "NONE"/"RELU"/..., ``padding`` as
"SAME"/"VALID", schema TensorType fields as a DType). Kernels implement TFLite's
float semantics (kernels.py).

Adding an op
------------
One ``tflop(...)`` call: the name, operands, attrs (exactly the options table's
fields, minus ``derived`` ones the writer computes), ``options=`` the
BuiltinOptions member name, an inference function and a kernel, and
``version=`` when a feature needs a newer op version (see TFLite's
``op_version.cc``). The call declares the IR op and its flatbuffer opcode
entry; the writer and reader need no change. tests/test_tflite_ops.py checks
the attrs against the schema and runs the op in LiteRT: add a case there.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from litesmith.ir.dtypes import DType
from litesmith.ir.ops import index_ops
from litesmith.ir.ops.nn import conv2d_transpose, conv3d, conv_transpose, local_response_norm
from litesmith.ir.ops.shape_ops import batch_to_space_nd, dynamic_update_slice, space_to_batch_nd
from litesmith.ir.registry import Attr, InferContext, defop
from litesmith.ir.types import TensorType, broadcast_shapes, is_static, num_elements

from . import kernels as K
from .opcodes import OpCode, register

ACT = Attr("str", "NONE", "fused activation: NONE, RELU, RELU6, RELU_N1_TO_1, TANH")
PADDING = Attr("str", "VALID", "SAME or VALID")


def tflop(
    name: str,
    *,
    doc: str,
    operands: Sequence[str] = (),
    attrs: Optional[Dict[str, Attr]] = None,
    options: Optional[str] = None,
    infer: Optional[Callable[[InferContext], List[TensorType]]],
    kernel=None,
    execute=None,
    version=None,
    derived: Sequence[str] = (),
    num_regions: int = 0,
    category: str = "tfl",
    pure: bool = True,
    absent_inputs: Sequence[int] = (),
    variable_inputs: Sequence[int] = (),
):
    """Declare ``tfl.<name>`` and its opcode entry (builtin ``NAME``)."""
    op = "tfl." + name
    register(OpCode(op, name.upper(), options, version or (lambda node: 1), tuple(derived),
                    tuple(absent_inputs), tuple(variable_inputs)))
    return defop(op, doc=doc, operands=operands, attrs=attrs, infer=infer, kernel=kernel, execute=execute,
                 num_regions=num_regions, category=category, pure=pure)


# -- inference helpers ------------------------------------------------------------------


def same(ctx):
    return [ctx.types[0]]


def _broadcast(ctx, dtype=None):
    try:
        shape = broadcast_shapes(*(t.shape for t in ctx.types))
    except ValueError as e:
        ctx.fail(str(e))
    return [TensorType(dtype or ctx.types[0].dtype, shape)]


def elementwise(ctx):
    return _broadcast(ctx)


def to_bool(ctx):
    return _broadcast(ctx, DType.BOOL)


# Inference by evaluation allocates its inputs: beyond this (1 GiB of f32) a model cannot be
# a TFLite model anyway (flatbuffers hold < 2 GiB), so refuse instead of exhausting memory.
MAX_EVALUATED_ELEMENTS = 1 << 28


def by_evaluation(dtypes: Callable[[InferContext], List[DType]] = lambda ctx: [ctx.types[0].dtype], consts=(), nout=None):
    """Inference by running the kernel on zeros of the input shapes, with the
    operands listed in ``consts`` (shape-like: axes, perm, begin...) at their
    constant values. Exact wherever the kernel is; unknown shapes when an input
    shape or a needed constant is unknown."""

    def infer(ctx):
        from litesmith.ir.registry import get_op

        known = all(is_static(t.shape) for t in ctx.types) and all(
            i < len(ctx.consts) and ctx.consts[i] is not None for i in consts)
        if known:
            elements = sum(num_elements(t.shape) for t in ctx.types)
            if elements > MAX_EVALUATED_ELEMENTS:
                ctx.fail(f"inputs {', '.join(map(str, ctx.types))} hold {elements} elements, more than a TFLite "
                         f"model can hold ({MAX_EVALUATED_ELEMENTS}); the model is corrupt or not for a device")
            args = [c if (i in consts and c is not None) else np.zeros(t.shape, t.dtype.np)
                    for i, (c, t) in enumerate(zip(ctx.consts, ctx.types))]
            try:
                with np.errstate(all="ignore"):
                    res = get_op(ctx.op).kernel(*args, **ctx.attrs)
            except Exception as e:  # the kernel rejects these shapes/attrs
                ctx.fail(f"inputs {', '.join(map(str, ctx.types))} rejected: {type(e).__name__}: {e}")
            res = list(res) if isinstance(res, (tuple, list)) else [res]
            return [TensorType(d, np.shape(r)) for d, r in zip(dtypes(ctx), res)]
        ds = dtypes(ctx)
        n = nout(ctx) if nout else len(ds)
        return [TensorType(ds[min(i, len(ds) - 1)], None) for i in range(n)]

    return infer


def _int_list(v) -> List[int]:
    return [int(i) for i in np.asarray(v).reshape(-1)]


# -- op versions ----------------------------------------------------------------------------
# Each op's ``version=`` rule follows TFLite's tools/versioning/op_version.cc (with the
# per-channel tests of op_signature.cc) for the dtypes litesmith emits; tests/test_op_versions.py
# compares them with TF's converter on float, dynamic-range and int8 models.


def in_dtype(node, i: int = 0) -> Optional[DType]:
    """The dtype of input ``i`` (None when absent): what op_version.cc keys most rules on."""
    return node.inputs[i].dtype if i < len(node.inputs) else None


def out_dtype(node, i: int = 0) -> Optional[DType]:
    return node.outputs[i].dtype if i < len(node.outputs) else None


def dtype_version(table: Dict[DType, int], operand: int = 0, default: int = 1):
    """A rule keyed on the dtype of input ``operand``: ``table[dtype]``, else ``default``."""
    return lambda node: table.get(in_dtype(node, operand), default)


def int8_version(version_if_int8: int = 2, int16: Optional[int] = None):
    """Version 1 for float, ``version_if_int8`` when the first input is int8, ``int16`` when it is int16."""
    table = {DType.INT8: version_if_int8}
    if int16 is not None:
        table[DType.INT16] = int16
    return dtype_version(table)


def is_hybrid(node) -> bool:
    """Float input, int8 weights (input 1), float output: LiteRT's hybrid kernels quantize the input per call."""
    return (in_dtype(node, 0) is DType.FLOAT32 and in_dtype(node, 1) is DType.INT8
            and out_dtype(node) is DType.FLOAT32)


def is_per_channel(value, dim: int, more_than_one: bool = False) -> bool:
    """One scale per index of axis ``dim`` of ``value`` (TF's op_signature.cc test). A runtime that
    predates the per-channel version of an op reads only the first scale: silently wrong results."""
    q = value.quant
    shape = value.shape
    if q is None or shape is None or not shape or dim >= len(shape) or shape[dim] is None:
        return False
    n = len(q.scale)
    return n == shape[dim] and (n > 1 or not more_than_one)


def _needs_rank5_broadcast(node) -> bool:
    """Inputs of different shapes and one of rank > 4 (op_version.cc's NeedBroadcastForBinaryInputs)."""
    shapes = [v.shape for v in node.inputs[:2]]
    ranks = [len(s) for s in shapes if s is not None]
    return len(node.inputs) >= 2 and shapes[0] != shapes[1] and bool(ranks) and max(ranks) > 4


# -- elementwise unary -------------------------------------------------------------------

_UNARY = {
    "abs": (np.abs, "|x|"),
    "neg": (np.negative, "-x"),
    "sqrt": (np.sqrt, "square root"),
    "rsqrt": (lambda x: (1 / np.sqrt(x)).astype(x.dtype), "1/sqrt(x)"),
    "exp": (np.exp, "e^x"),
    "log": (np.log, "natural logarithm"),
    "sin": (np.sin, "sine"),
    "cos": (np.cos, "cosine"),
    "tanh": (np.tanh, "hyperbolic tangent"),
    "logistic": (lambda x: (1 / (1 + np.exp(-x))).astype(x.dtype), "sigmoid 1/(1+e^-x)"),
    "relu": (lambda x: np.maximum(x, 0), "max(x, 0)"),
    "relu6": (lambda x: np.clip(x, 0, 6), "min(max(x, 0), 6)"),
    "relu_n1_to_1": (lambda x: np.clip(x, -1, 1), "min(max(x, -1), 1)"),
    "relu_0_to_1": (lambda x: np.clip(x, 0, 1), "min(max(x, 0), 1)"),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(x)).astype(x.dtype), "x if x > 0 else e^x - 1"),
    "hard_swish": (lambda x: (x * np.clip(x + 3, 0, 6) / 6).astype(x.dtype), "x * relu6(x + 3) / 6"),
    "floor": (np.floor, "round down"),
    "ceil": (np.ceil, "round up"),
    "round": (np.round, "round half to even"),
    "sign": (np.sign, "-1, 0 or 1"),
    "square": (np.square, "x * x"),
    "logical_not": (np.logical_not, "boolean not"),
    "zeros_like": (np.zeros_like, "zeros of x's shape and type"),
    "log_softmax": (K.log_softmax, "log of softmax over the last axis"),
}
_UNARY_OPTIONS = {"abs": "AbsOptions", "neg": "NegOptions", "exp": "ExpOptions", "cos": "CosOptions",
                  "sign": "SignOptions", "hard_swish": "HardSwishOptions", "square": "SquareOptions",
                  "logical_not": "LogicalNotOptions", "zeros_like": "ZerosLikeOptions", "log_softmax": "LogSoftmaxOptions"}


def _abs_version(node):
    """int32 5; int16 3 when quantized, else 4; int8/uint8 2."""
    x = node.inputs[0]
    if x.dtype is DType.INT16:
        return 3 if x.quant is not None else 4
    return {DType.INT32: 5, DType.INT8: 2, DType.UINT8: 2}.get(x.dtype, 1)


_INT8_2_INT16_3 = {DType.INT8: 2, DType.INT16: 3}
_UNARY_VERSION = {
    "abs": _abs_version,
    "rsqrt": dtype_version(_INT8_2_INT16_3),
    "relu6": dtype_version(_INT8_2_INT16_3),
    "relu": dtype_version({DType.INT8: 2, DType.UINT8: 2, DType.INT16: 3}),
    "tanh": dtype_version(_INT8_2_INT16_3),
    "logistic": dtype_version(_INT8_2_INT16_3),
    "exp": dtype_version({DType.INT8: 2, DType.INT16: 2}),
    "log": dtype_version({DType.INT8: 2, DType.INT16: 2}),
    "sign": dtype_version({DType.INT32: 2}),
    "log_softmax": int8_version(2),
}
for _name, (_fn, _doc) in _UNARY.items():
    tflop(_name, doc=f"Elementwise {_doc}.", operands=["x"], options=_UNARY_OPTIONS.get(_name), infer=same,
          kernel=_fn, version=_UNARY_VERSION.get(_name))

tflop("leaky_relu", doc="x if x >= 0 else alpha * x.", operands=["x"], attrs={"alpha": Attr("float", 0.2)},
      options="LeakyReluOptions", infer=same, version=dtype_version({DType.INT16: 2}),
      kernel=lambda x, alpha: np.where(x >= 0, x, x * np.asarray(alpha, x.dtype)))
tflop("gelu", doc="Gaussian error linear unit; ``approximate`` uses the tanh form.", operands=["x"],
      attrs={"approximate": Attr("bool", False)}, options="GeluOptions", infer=same, kernel=K.gelu,
      version=dtype_version({DType.INT8: 2, DType.UINT8: 2}))
tflop("prelu", doc="x if x >= 0 else alpha * x, alpha a broadcast tensor.", operands=["x", "alpha"],
      infer=elementwise, kernel=lambda x, alpha: np.where(x >= 0, x, x * alpha).astype(x.dtype))
tflop("softmax", doc="Softmax over the last axis of beta * x.", operands=["x"],
      attrs={"beta": Attr("float", 1.0)}, options="SoftmaxOptions", infer=same, kernel=K.softmax,
      version=int8_version(2, int16=3))
tflop("l2_normalization", doc="x / max(||x||, 1e-6) over the last axis.", operands=["x"], attrs={"fused_activation_function": ACT},
      options="L2NormOptions", infer=same, kernel=K.l2_normalization,
      version=lambda node: 2 if out_dtype(node) is DType.INT8 else 1)

tflop("local_response_normalization", doc="x / (bias + alpha * (sum of x^2 over channels d-radius..d+radius)) ^ beta.",
      operands=["x"], options="LocalResponseNormalizationOptions", infer=same,
      attrs={"radius": Attr("int", 0), "bias": Attr("float", 0.0), "alpha": Attr("float", 0.0), "beta": Attr("float", 0.0)},
      kernel=lambda x, *, radius, bias, alpha, beta: local_response_norm(x, radius, bias, alpha, beta))


def _cast_infer(ctx):
    return [TensorType(ctx.attrs["out_data_type"], ctx.types[0].shape)]


def _cast_kernel(x, *, in_data_type, out_data_type):
    if out_data_type is DType.BOOL:
        return x != 0
    return x.astype(out_data_type.np)


def _cast_version(node):
    """float64/float16 on either side 5, int8 on either side 3."""
    ends = {in_dtype(node), out_dtype(node)}
    if ends & {DType.FLOAT64, DType.FLOAT16}:
        return 5
    return 3 if DType.INT8 in ends else 1


tflop("cast", doc="Converts to ``out_data_type`` (floats to ints truncate toward zero).", operands=["x"],
      attrs={"in_data_type": Attr("dtype", DType.FLOAT32), "out_data_type": Attr("dtype", DType.FLOAT32)},
      options="CastOptions", infer=_cast_infer, kernel=_cast_kernel, version=_cast_version)


# -- elementwise binary --------------------------------------------------------------------


def _with_act(fn):
    return lambda x, y, fused_activation_function="NONE", **_: K.activation(fn(x, y), fused_activation_function).astype(x.dtype)


_BINARY_ACT = {
    "add": (np.add, "AddOptions", {"pot_scale_int16": Attr("bool", True, "int16 power-of-two scales")}),
    "sub": (np.subtract, "SubOptions", {"pot_scale_int16": Attr("bool", True, "int16 power-of-two scales")}),
    "mul": (np.multiply, "MulOptions", {}),
    "div": (K.divide, "DivOptions", {}),
}


def _add_version(node):
    """int16 unquantized 5, int64 4, int16 without power-of-two scales 3, int8 2."""
    x = in_dtype(node)
    if x is DType.INT16 and node.inputs[0].quant is None:
        return 5
    if x is DType.INT64:
        return 4
    if x is DType.INT16 and out_dtype(node) is DType.INT16 and not node.attrs.get("pot_scale_int16", True):
        return 3
    return 2 if x is DType.INT8 else 1


def _sub_version(node):
    """int16 without power-of-two scales 5, int64 4, a broadcast over rank > 4 3, int8 2."""
    x = in_dtype(node)
    if x is DType.INT16 and out_dtype(node) is DType.INT16 and not node.attrs.get("pot_scale_int16", True):
        return 5
    if x is DType.INT64:
        return 4
    if _needs_rank5_broadcast(node):
        return 3
    return 2 if x is DType.INT8 else 1


def _mul_version(node):
    """int16 unquantized 7, int64 5, int16 4; 3 when input1_scale * input2_scale / output_scale >= 1
    (the kernel's rescale multiplier is then >= 1); int8 2."""
    x = in_dtype(node)
    quantized = any(v.quant is not None for v in node.inputs[:2])
    if x is DType.INT16 and not quantized:
        return 7
    if x is DType.INT64:
        return 5
    if x is DType.INT16:
        return 4
    scales = [v.quant.scale[0] if v.quant is not None and v.quant.scale else 0.0
              for v in (node.inputs[0], node.inputs[1], node.outputs[0])]
    if all(scales) and scales[0] * scales[1] / scales[2] >= 1.0:
        return 3
    return 2 if x is DType.INT8 else 1


_BINARY_VERSION = {"add": _add_version, "sub": _sub_version, "mul": _mul_version,
                   "div": lambda node: 2 if _needs_rank5_broadcast(node) else 1}
for _name, (_fn, _opts, _extra) in _BINARY_ACT.items():
    tflop(_name, doc=f"Elementwise {_name} with broadcasting and a fused activation.", operands=["x", "y"],
          attrs={"fused_activation_function": ACT, **_extra}, options=_opts, infer=elementwise, kernel=_with_act(_fn),
          version=_BINARY_VERSION[_name])


def _floor_mod(x, y):
    """TFLite's floor_mod.cc: the truncated remainder, plus y when its sign differs from y's. (The
    former fmod(fmod(x, y) + y, y) gave 0 for x = -9e-25, y = 1, where TFLite and TF give 1.0.)"""
    if np.issubdtype(x.dtype, np.integer):
        return np.mod(x, y)
    r = np.fmod(x, y)
    return np.where((r != 0) & ((y < 0) != (r < 0)), r + y, r).astype(x.dtype)


_BINARY = {
    "maximum": (np.maximum, "MaximumMinimumOptions"),
    "minimum": (np.minimum, "MaximumMinimumOptions"),
    "pow": (np.power, "PowOptions"),
    "squared_difference": (lambda x, y: np.square(x - y), "SquaredDifferenceOptions"),
    "floor_div": (lambda x, y: np.floor_divide(x, y), "FloorDivOptions"),
    "floor_mod": (_floor_mod, "FloorModOptions"),
    "atan2": (np.arctan2, None),
    "bitwise_xor": (np.bitwise_xor, "BitwiseXorOptions"),
    "right_shift": (np.right_shift, "RightShiftOptions"),
}


def _min_max_version(node):
    """int16 4, a broadcast over rank > 4 3, int8 2."""
    if in_dtype(node) is DType.INT16 and out_dtype(node) is DType.INT16:
        return 4
    if _needs_rank5_broadcast(node):
        return 3
    return 2 if in_dtype(node) is DType.INT8 else 1


_BINARY_VERSION.update({
    "maximum": _min_max_version, "minimum": _min_max_version,
    "squared_difference": int8_version(2),
    "floor_div": dtype_version({DType.INT8: 3, DType.INT16: 3, DType.FLOAT32: 2}),
    "floor_mod": dtype_version({DType.INT8: 2, DType.INT16: 2}),
})
for _name, (_fn, _opts) in _BINARY.items():
    tflop(_name, doc=f"Elementwise {_name} with broadcasting.", operands=["x", "y"], options=_opts,
          infer=elementwise, kernel=lambda x, y, _fn=_fn: _fn(x, y).astype(x.dtype), version=_BINARY_VERSION.get(_name))

_COMPARE = {
    "equal": (np.equal, "EqualOptions"), "not_equal": (np.not_equal, "NotEqualOptions"),
    "less": (np.less, "LessOptions"), "less_equal": (np.less_equal, "LessEqualOptions"),
    "greater": (np.greater, "GreaterOptions"), "greater_equal": (np.greater_equal, "GreaterEqualOptions"),
    "logical_and": (np.logical_and, "LogicalAndOptions"), "logical_or": (np.logical_or, "LogicalOrOptions"),
}
_COMPARE_VERSION = {
    "equal": dtype_version({DType.INT16: 4, DType.STRING: 3, DType.INT8: 2}),
    "not_equal": dtype_version({DType.STRING: 3, DType.INT8: 2}),
    "less": int8_version(2, int16=3), "greater_equal": int8_version(2, int16=3),
    "greater": int8_version(2), "less_equal": int8_version(2),
}
for _name, (_fn, _opts) in _COMPARE.items():
    tflop(_name, doc=f"Elementwise {_name} with broadcasting; bool result.", operands=["x", "y"], options=_opts,
          infer=to_bool, kernel=_fn, version=_COMPARE_VERSION.get(_name))


def _select_infer(ctx):
    try:
        shape = broadcast_shapes(*(t.shape for t in ctx.types))
    except ValueError as e:
        ctx.fail(str(e))
    return [TensorType(ctx.types[1].dtype, shape)]


tflop("select_v2", doc="where(cond, x, y) with broadcasting.", operands=["cond", "x", "y"], options="SelectV2Options",
      infer=_select_infer, kernel=lambda c, x, y: np.where(c, x, y))
tflop("select", doc="where(cond, x, y); a rank-1 cond selects rows.", operands=["cond", "x", "y"], options="SelectOptions",
      infer=lambda ctx: [ctx.types[1]],
      kernel=lambda c, x, y: np.where(c.reshape(c.shape + (1,) * (x.ndim - c.ndim)), x, y),
      version=lambda node: 3 if any(v.rank == 5 for v in node.inputs) else (2 if in_dtype(node) is DType.INT8 else 1))
tflop("add_n", doc="Sum of all inputs (same shapes).", operands=["*values"], options="AddNOptions", infer=same,
      kernel=lambda *xs: np.sum(np.stack(xs), axis=0).astype(xs[0].dtype))


# -- linear algebra and NN ------------------------------------------------------------------


def _fc_infer(ctx):
    x, w = ctx.types[0], ctx.types[1]
    units = w.shape[0] if w.shape is not None else None
    if ctx.attrs["keep_num_dims"]:
        return [TensorType(x.dtype, None if x.shape is None else x.shape[:-1] + (units,))]
    depth = w.shape[1] if w.shape is not None else None
    rows = None
    if is_static(x.shape) and depth:
        rows = int(np.prod(x.shape)) // depth
    return [TensorType(x.dtype, (rows, units))]


def _fc_kernel(x, w, bias=None, *, fused_activation_function, weights_format, keep_num_dims, asymmetric_quantize_inputs):
    rows = x.reshape(-1, w.shape[1])
    y = rows @ w.T
    if bias is not None:
        y = y + bias
    if keep_num_dims:
        y = y.reshape(x.shape[:-1] + (w.shape[0],))
    return K.activation(y, fused_activation_function).astype(x.dtype)


def _fc_version(node):
    """Hybrid with per-channel weights 12 (checked first), int16 7, no bias 6, keep_num_dims 5,
    int8 4, hybrid 9 (asymmetric inputs) or 3, shuffled weights 2."""
    x, w, y = in_dtype(node, 0), in_dtype(node, 1), out_dtype(node)
    if is_hybrid(node) and is_per_channel(node.inputs[1], 0, more_than_one=True):
        return 12
    if x is DType.INT16 and w is DType.INT16 and y is DType.INT16:
        return 7
    if len(node.inputs) == 2:
        return 6
    if node.attrs.get("keep_num_dims"):
        return 5
    if x is DType.INT8 and w is DType.INT8 and y is DType.INT8:
        return 4
    if is_hybrid(node):
        return 9 if node.attrs.get("asymmetric_quantize_inputs") else 3
    return 2 if node.attrs.get("weights_format") == "SHUFFLED4x16INT8" else 1


tflop("fully_connected", doc="y = x @ weights.T + bias; weights [units, depth]; x flattened to [-1, depth] unless keep_num_dims.",
      operands=["x", "weights", "?bias"],
      attrs={"fused_activation_function": ACT, "weights_format": Attr("str", "DEFAULT"),
             "keep_num_dims": Attr("bool", False), "asymmetric_quantize_inputs": Attr("bool", False)},
      options="FullyConnectedOptions", infer=_fc_infer, kernel=_fc_kernel, version=_fc_version)


def _bmm_kernel(x, y, *, adj_x, adj_y, asymmetric_quantize_inputs):
    if adj_x:
        x = np.swapaxes(x, -1, -2)
    if adj_y:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y).astype(x.dtype)


def _bmm_infer(ctx):
    a, b = ctx.types
    if a.shape is None or b.shape is None:
        return [TensorType(a.dtype, None)]
    am, ak = (a.shape[-1], a.shape[-2]) if ctx.attrs["adj_x"] else (a.shape[-2], a.shape[-1])
    bn = b.shape[-2] if ctx.attrs["adj_y"] else b.shape[-1]
    try:
        lead = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError as e:
        ctx.fail(str(e))
    return [TensorType(a.dtype, lead + (am, bn))]


tflop("batch_matmul", doc="Batched matmul with broadcast leading dims; adj_x/adj_y transpose the last two axes.",
      operands=["x", "y"], attrs={"adj_x": Attr("bool", False), "adj_y": Attr("bool", False),
                                  "asymmetric_quantize_inputs": Attr("bool", False)},
      options="BatchMatMulOptions", infer=_bmm_infer, kernel=_bmm_kernel,
      version=lambda node: {DType.INT16: 3, DType.INT8: 2}.get(in_dtype(node))
      or (4 if is_hybrid(node) and node.attrs.get("asymmetric_quantize_inputs") else 1))


def _window_infer(channels):
    def infer(ctx):
        x = ctx.types[0]
        a = ctx.attrs
        if x.shape is None or len(x.shape) != 4:
            ctx.fail(f"expects an NHWC input, got {x}")
        if "filter_height" in a:
            kh, kw, dh, dw = a["filter_height"], a["filter_width"], 1, 1
        else:
            f = ctx.types[1].shape
            kh, kw = (f[1], f[2]) if f is not None else (None, None)
            dh, dw = a["dilation_h_factor"], a["dilation_w_factor"]
        n, h, w, _ = x.shape
        oh = None if h is None or kh is None else K.window_padding(h, kh, a["stride_h"], dh, a["padding"])[0]
        ow = None if w is None or kw is None else K.window_padding(w, kw, a["stride_w"], dw, a["padding"])[0]
        return [TensorType(x.dtype, (n, oh, ow, channels(ctx)))]

    return infer


def _filter_out_channels(ctx):
    f = ctx.types[1].shape
    return None if f is None else f[0]


def _dw_out_channels(ctx):
    f = ctx.types[1].shape
    return None if f is None else f[3]


_CONV_ATTRS = {
    "padding": PADDING,
    "stride_w": Attr("int", 1),
    "stride_h": Attr("int", 1),
    "fused_activation_function": ACT,
    "dilation_w_factor": Attr("int", 1),
    "dilation_h_factor": Attr("int", 1),
}


def _conv_version(node):
    """Grouped 6, int16 4, int8 3, hybrid 5 with per-channel filters (one scale per output channel), else 2."""
    x, f, y = in_dtype(node, 0), in_dtype(node, 1), out_dtype(node)
    xs, fs = node.inputs[0].shape, node.inputs[1].shape
    if xs is not None and fs is not None and len(xs) == len(fs) == 4 and None not in (xs[3], fs[3]) and xs[3] != fs[3]:
        return 6
    if x is DType.INT16 and f is DType.INT16:
        return 4
    if x is DType.INT8 and f is DType.INT8 and y is DType.INT8:
        return 3
    if is_hybrid(node):
        return 5 if is_per_channel(node.inputs[1], 0) else 2
    return 1


def _depthwise_version(node):
    """int16 5, hybrid 6 with per-channel filters (one scale per channel of axis 3) else 4, int8 3, dilated 2."""
    x, f, y = in_dtype(node, 0), in_dtype(node, 1), out_dtype(node)
    if x is DType.INT16 and f is DType.INT16:
        return 5
    if is_hybrid(node):
        return 6 if is_per_channel(node.inputs[1], 3) else 4
    if x is DType.INT8 and f is DType.INT8 and y is DType.INT8:
        return 3
    d = node.attrs
    return 2 if d.get("dilation_w_factor", 1) != 1 or d.get("dilation_h_factor", 1) != 1 else 1


tflop("conv_2d", doc="2-D convolution, NHWC input, filter OHWI [out, h, w, in], optional bias [out].",
      operands=["input", "filter", "?bias"], attrs=dict(_CONV_ATTRS), options="Conv2DOptions",
      infer=_window_infer(_filter_out_channels), kernel=K.conv_2d, version=_conv_version)
tflop("depthwise_conv_2d", doc="Depthwise 2-D convolution; filter [1, h, w, in * depth_multiplier].",
      operands=["input", "filter", "?bias"],
      attrs={**_CONV_ATTRS, "depth_multiplier": Attr("int", 1)}, options="DepthwiseConv2DOptions",
      infer=_window_infer(_dw_out_channels), kernel=K.depthwise_conv_2d, version=_depthwise_version)

_POOL_ATTRS = {
    "padding": PADDING,
    "stride_w": Attr("int", 1),
    "stride_h": Attr("int", 1),
    "filter_width": Attr("int", 1),
    "filter_height": Attr("int", 1),
    "fused_activation_function": ACT,
}
tflop("max_pool_2d", doc="Max pooling over filter_height x filter_width windows (NHWC).", operands=["input"],
      attrs=dict(_POOL_ATTRS), options="Pool2DOptions", infer=_window_infer(lambda ctx: ctx.types[0].shape[3]),
      kernel=K.max_pool_2d, version=int8_version(2, int16=3))
tflop("average_pool_2d", doc="Average pooling; SAME padding cells are not counted (NHWC).", operands=["input"],
      attrs=dict(_POOL_ATTRS), options="Pool2DOptions", infer=_window_infer(lambda ctx: ctx.types[0].shape[3]),
      kernel=K.average_pool_2d, version=int8_version(2, int16=3))


def _resize_infer(ctx):
    x = ctx.types[0]
    size = ctx.consts[1]
    hw = tuple(_int_list(size)) if size is not None else (None, None)
    n, c = (x.shape[0], x.shape[3]) if x.shape is not None else (None, None)
    return [TensorType(x.dtype, (n,) + hw + (c,))]


_RESIZE_ATTRS = {"align_corners": Attr("bool", False), "half_pixel_centers": Attr("bool", False)}


def _resize_version(*flags):
    """int16 4, any of ``flags`` set 3, int8 2."""
    def version(node):
        if in_dtype(node) is DType.INT16:
            return 4
        if any(node.attrs.get(f) for f in flags):
            return 3
        return 2 if in_dtype(node) is DType.INT8 else 1

    return version


tflop("resize_bilinear", doc="Bilinear resize of NHWC images to size [h, w] (i32).", operands=["input", "size"],
      attrs=dict(_RESIZE_ATTRS), options="ResizeBilinearOptions", infer=_resize_infer, kernel=K.resize_bilinear,
      version=_resize_version("half_pixel_centers"))
tflop("resize_nearest_neighbor", doc="Nearest-neighbour resize of NHWC images to size [h, w] (i32).",
      operands=["input", "size"], attrs=dict(_RESIZE_ATTRS), options="ResizeNearestNeighborOptions",
      infer=_resize_infer, kernel=K.resize_nearest_neighbor,
      version=_resize_version("half_pixel_centers", "align_corners"))

tflop("depth_to_space", doc="Moves depth blocks into spatial blocks (NHWC, DCR order).", operands=["input"],
      attrs={"block_size": Attr("int")}, options="DepthToSpaceOptions", infer=by_evaluation(), kernel=K.depth_to_space,
      version=int8_version(2))
tflop("space_to_depth", doc="Moves spatial blocks into depth (NHWC).", operands=["input"],
      attrs={"block_size": Attr("int")}, options="SpaceToDepthOptions", infer=by_evaluation(), kernel=K.space_to_depth,
      version=int8_version(2))


def _space_batch_version(node):
    """op_version.cc: 4 for int16, 3 for a rank-3 input, 2 for int8."""
    x = node.inputs[0]
    if x.dtype is DType.INT16:
        return 4
    if x.rank != 4:
        return 3
    return 2 if x.dtype is DType.INT8 else 1


tflop("space_to_batch_nd", doc="TF SpaceToBatchND on a rank-3 or rank-4 input; i32 ``block_shape`` [M], ``paddings`` [M, 2].",
      operands=["input", "block_shape", "paddings"], options="SpaceToBatchNDOptions",
      infer=by_evaluation(consts=(1, 2)), kernel=space_to_batch_nd, version=_space_batch_version)
tflop("batch_to_space_nd", doc="TF BatchToSpaceND on a rank-3 or rank-4 input; i32 ``block_shape`` [M], ``crops`` [M, 2].",
      operands=["input", "block_shape", "crops"], options="BatchToSpaceNDOptions",
      infer=by_evaluation(consts=(1, 2)), kernel=batch_to_space_nd, version=_space_batch_version)


# -- reductions -----------------------------------------------------------------------------


def _reducer(fn):
    def kernel(x, axes, *, keep_dims):
        ax = tuple(sorted({a % x.ndim for a in _int_list(axes)})) if x.ndim else ()
        return np.asarray(fn(x, axis=ax, keepdims=keep_dims)).astype(x.dtype)

    return kernel


_REDUCERS = {"mean": np.mean, "sum": np.sum, "reduce_max": np.max, "reduce_min": np.min,
             "reduce_prod": np.prod, "reduce_any": np.any, "reduce_all": np.all}
_REDUCER_VERSION = {"mean": int8_version(2, int16=3), "reduce_max": int8_version(2, int16=3),
                    "reduce_min": int8_version(2, int16=3), "sum": int8_version(2),
                    "reduce_prod": dtype_version({DType.INT8: 2, DType.INT16: 2})}
for _name, _fn in _REDUCERS.items():
    tflop(_name, doc=f"{_name} over the axes given by operand ``axes`` (i32).", operands=["x", "axes"],
          attrs={"keep_dims": Attr("bool", False)}, options="ReducerOptions", infer=by_evaluation(consts=(1,)), kernel=_reducer(_fn),
          version=_REDUCER_VERSION.get(_name))

_ARG_ATTRS = {"output_type": Attr("dtype", DType.INT64)}
tflop("arg_max", doc="Index of the largest value along axis ``dim`` (scalar i32 operand).", operands=["x", "dim"],
      attrs=dict(_ARG_ATTRS), options="ArgMaxOptions",
      infer=by_evaluation(lambda ctx: [ctx.attrs["output_type"]], consts=(1,)),
      kernel=lambda x, dim, output_type: np.argmax(x, axis=_int_list(dim)[0]).astype(output_type.np),
      version=dtype_version({DType.BOOL: 3, DType.INT8: 2}))
tflop("arg_min", doc="Index of the smallest value along axis ``dim`` (scalar i32 operand).", operands=["x", "dim"],
      attrs=dict(_ARG_ATTRS), options="ArgMinOptions",
      infer=by_evaluation(lambda ctx: [ctx.attrs["output_type"]], consts=(1,)),
      kernel=lambda x, dim, output_type: np.argmin(x, axis=_int_list(dim)[0]).astype(output_type.np),
      version=dtype_version({DType.BOOL: 3, DType.INT8: 2}))
tflop("topk_v2", doc="The k largest values along the last axis (sorted) and their i32 indices.", operands=["x", "k"],
      options="TopKV2Options", infer=by_evaluation(lambda ctx: [ctx.types[0].dtype, DType.INT32], consts=(1,)), kernel=K.topk_v2,
      version=lambda node: 3 if DType.INT16 in (in_dtype(node, 0), in_dtype(node, 1), out_dtype(node, 1))
      else (2 if in_dtype(node) is DType.INT8 else 1))
tflop("cumsum", doc="Cumulative sum along axis (scalar i32 operand).", operands=["x", "axis"],
      attrs={"exclusive": Attr("bool", False), "reverse": Attr("bool", False)}, options="CumsumOptions",
      infer=lambda ctx: [ctx.types[0]], kernel=K.cumsum)


# -- shapes and data movement ------------------------------------------------------------------


def _reshape_kernel(x, shape=None):
    return x.reshape(_int_list(shape)) if shape is not None else x


def _reshape_infer(ctx):
    x = ctx.types[0]
    target = ctx.consts[1] if len(ctx.consts) > 1 else None
    if target is None:
        n = ctx.types[1].shape[0] if len(ctx.types) > 1 and ctx.types[1].shape else None
        return [TensorType(x.dtype, None if n is None else (None,) * n)]
    dims = _int_list(target)
    if -1 in dims and is_static(x.shape):
        known = int(np.prod([d for d in dims if d != -1]))
        total = int(np.prod(x.shape))
        dims = [total // known if d == -1 and known else d for d in dims]
    return [TensorType(x.dtype, dims)]


tflop("reshape", doc="Reshape to the 1-D i32 ``shape`` operand (one -1 allowed). The writer also fills ReshapeOptions.new_shape.",
      operands=["x", "?shape"], options="ReshapeOptions", derived=("new_shape",), infer=_reshape_infer,
      kernel=_reshape_kernel)


def _transpose_version(node):
    """rank > 5 6, int16 5, rank 5 4, bool 3, int8 2."""
    rank = node.inputs[0].rank or 0
    if rank > 5:
        return 6
    if in_dtype(node) is DType.INT16:
        return 5
    if rank > 4:
        return 4
    return {DType.BOOL: 3, DType.INT8: 2}.get(in_dtype(node), 1)


tflop("transpose", doc="Permute axes by the ``perm`` operand.", operands=["x", "perm"], options="TransposeOptions",
      infer=by_evaluation(consts=(1,)), kernel=lambda x, perm: np.transpose(x, _int_list(perm)), version=_transpose_version)


def _concat_infer(ctx):
    shapes = [t.shape for t in ctx.types]
    if any(s is None for s in shapes):
        return [TensorType(ctx.types[0].dtype, None)]
    rank = len(shapes[0])
    axis = ctx.attrs["axis"] % rank
    dims = []
    for i in range(rank):
        col = [s[i] for s in shapes]
        if i == axis:
            dims.append(None if None in col else sum(col))
        else:
            dims.append(next((d for d in col if d is not None), None))
    return [TensorType(ctx.types[0].dtype, dims)]


tflop("concatenation", doc="""Join inputs along ``axis``. LiteRT ignores ``fused_activation_function``
      on float inputs (checked by a test), so the kernel does too: never fuse one here.""", operands=["*values"],
      attrs={"axis": Attr("int"), "fused_activation_function": ACT}, options="ConcatenationOptions",
      infer=_concat_infer, version=int8_version(2, int16=3),
      kernel=lambda *xs, axis, fused_activation_function: np.concatenate(xs, axis=axis))


def _gather_version(node):
    """int16 indices 6, batch_dims 5, int16 params 4, bool 3, int8 2."""
    if in_dtype(node, 1) is DType.INT16:
        return 6
    if node.attrs.get("batch_dims"):
        return 5
    return {DType.INT16: 4, DType.BOOL: 3, DType.INT8: 2}.get(in_dtype(node), 1)


tflop("gather", doc="TF GatherV2: take ``indices`` from ``params`` along axis with batch_dims.",
      operands=["params", "indices"], attrs={"axis": Attr("int", 0), "batch_dims": Attr("int", 0)},
      options="GatherOptions", infer=by_evaluation(), kernel=K.gather, version=_gather_version)
tflop("gather_nd", doc="Gather slices of ``params`` addressed by the last axis of ``indices``.",
      operands=["params", "indices"], options="GatherNdOptions", infer=by_evaluation(), kernel=K.gather_nd,
      version=lambda node: 5 if in_dtype(node) is DType.BOOL else 4 if in_dtype(node, 1) is DType.INT16
      else {DType.INT16: 3, DType.STRING: 2}.get(in_dtype(node), 1))



def _matrix_diag_infer(ctx):
    d = ctx.types[0]
    return [TensorType(d.dtype, None if d.shape is None else tuple(d.shape) + (d.shape[-1],))]


def _matrix_diag_kernel(d):
    out = np.zeros(d.shape + d.shape[-1:], d.dtype)
    i = np.arange(d.shape[-1])
    out[..., i, i] = d
    return out


tflop("matrix_diag", doc="Square matrices with ``diagonal`` on the main diagonal, zeros elsewhere.",
      operands=["diagonal"], options="MatrixDiagOptions", infer=_matrix_diag_infer, kernel=_matrix_diag_kernel)


def _ss_version(node):
    """offset 8, ellipsis/new-axis masks 6, string 5, rank > 4 4, bool 3, int8 2."""
    if node.attrs.get("offset"):
        return 8
    if node.attrs.get("ellipsis_mask") or node.attrs.get("new_axis_mask"):
        return 6
    if in_dtype(node) is DType.STRING:
        return 5
    if (node.inputs[0].rank or 0) > 4:
        return 4
    return {DType.BOOL: 3, DType.INT8: 2}.get(in_dtype(node), 1)


tflop("strided_slice", doc="TF StridedSlice with all five masks; ``offset`` makes end relative to begin.",
      operands=["x", "begin", "end", "strides"],
      attrs={k: Attr("int", 0) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}
      | {"offset": Attr("bool", False)},
      options="StridedSliceOptions", infer=by_evaluation(consts=(1, 2, 3)), kernel=K.strided_slice, version=_ss_version)


def _slice_kernel(x, begin, size):
    b, s = _int_list(begin), _int_list(size)
    return x[tuple(slice(bi, None if si == -1 else bi + si) for bi, si in zip(b, s))]


tflop("slice", doc="x[begin : begin + size] per axis; size -1 runs to the end.", operands=["x", "begin", "size"],
      options="SliceOptions", infer=by_evaluation(consts=(1, 2)), kernel=_slice_kernel,
      version=lambda node: 5 if (node.inputs[0].rank or 0) > 4
      else {DType.INT16: 4, DType.STRING: 3, DType.INT8: 2}.get(in_dtype(node), 1))


def _pad_kernel(x, paddings, constant_values=None):
    value = 0 if constant_values is None else np.asarray(constant_values).reshape(-1)[0]
    return np.pad(x, np.asarray(paddings).reshape(-1, 2).tolist(), constant_values=value)


def _pad_version(node):
    """rank > 4 4, int16 3, int8 2."""
    if (node.inputs[0].rank or 0) > 4:
        return 4
    return {DType.INT16: 3, DType.INT8: 2}.get(in_dtype(node), 1)


tflop("pad", doc="Zero padding by ``paddings`` [rank, 2].", operands=["x", "paddings"], options="PadOptions",
      infer=by_evaluation(consts=(1,)), kernel=_pad_kernel, version=_pad_version)
tflop("padv2", doc="Constant padding by ``paddings`` [rank, 2] with a scalar ``constant_values``.",
      operands=["x", "paddings", "constant_values"], options="PadV2Options", infer=by_evaluation(consts=(1,)), kernel=_pad_kernel,
      version=_pad_version)
tflop("mirror_pad", doc="REFLECT or SYMMETRIC padding by ``paddings`` [rank, 2].", operands=["x", "paddings"],
      attrs={"mode": Attr("str", "REFLECT", "REFLECT or SYMMETRIC")}, options="MirrorPadOptions",
      infer=by_evaluation(consts=(1,)), version=int8_version(2, int16=3),
      kernel=lambda x, paddings, mode: np.pad(x, np.asarray(paddings).reshape(-1, 2).tolist(), mode=mode.lower()))


def _split_kernel(axis, x, *, num_splits):
    return tuple(np.split(x, num_splits, axis=_int_list(axis)[0]))


def _split_v_kernel(x, size_splits, axis, *, num_splits):
    sizes = _int_list(size_splits)
    ax = _int_list(axis)[0]
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[ax] - (sum(sizes) + 1)
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=ax))


tflop("split", doc="Split ``x`` into num_splits equal parts along ``axis``; note TFLite's operand order (axis, x).",
      operands=["axis", "x"], attrs={"num_splits": Attr("int")}, options="SplitOptions",
      infer=by_evaluation(lambda ctx: [ctx.types[1].dtype] * ctx.attrs["num_splits"], consts=(0,)), kernel=_split_kernel,
      version=dtype_version({DType.INT16: 4, DType.INT32: 3, DType.INT8: 2}, operand=1))  # x is input 1
tflop("split_v", doc="Split ``x`` into pieces of ``size_splits`` (one may be -1) along ``axis``.",
      operands=["x", "size_splits", "axis"], attrs={"num_splits": Attr("int")}, options="SplitVOptions",
      infer=by_evaluation(lambda ctx: [ctx.types[0].dtype] * ctx.attrs["num_splits"], consts=(1, 2)), kernel=_split_v_kernel,
      version=int8_version(2))
tflop("pack", doc="Stack inputs along a new ``axis``.", operands=["*values"], attrs={"axis": Attr("int", 0)},
      options="PackOptions", derived=("values_count",), infer=by_evaluation(),
      kernel=lambda *xs, axis: np.stack(xs, axis=axis), version=int8_version(2, int16=3))
tflop("unpack", doc="Unstack ``num`` tensors along ``axis``.", operands=["x"],
      attrs={"num": Attr("int"), "axis": Attr("int", 0)}, options="UnpackOptions",
      infer=by_evaluation(lambda ctx: [ctx.types[0].dtype] * ctx.attrs["num"]),
      kernel=lambda x, num, axis: tuple(np.moveaxis(x, axis, 0)),
      version=dtype_version({DType.INT8: 2, DType.UINT8: 2, DType.BOOL: 3, DType.INT16: 4}))


def _squeeze_kernel(x, *, squeeze_dims):
    return np.squeeze(x, axis=tuple(squeeze_dims)) if squeeze_dims else np.squeeze(x)


tflop("squeeze", doc="Drop size-1 axes ``squeeze_dims`` ([] = all of them).", operands=["x"],
      attrs={"squeeze_dims": Attr("ints", [])}, options="SqueezeOptions", infer=by_evaluation(), kernel=_squeeze_kernel,
      version=dtype_version({DType.STRING: 2}))
tflop("expand_dims", doc="Insert a size-1 axis at ``axis`` (scalar i32 operand).", operands=["x", "axis"],
      options="ExpandDimsOptions", infer=by_evaluation(consts=(1,)),
      kernel=lambda x, axis: np.expand_dims(x, _int_list(axis)[0]))
tflop("tile", doc="Repeat ``x`` by ``multiples``.", operands=["x", "multiples"], options="TileOptions",
      infer=by_evaluation(consts=(1,)), kernel=lambda x, m: np.tile(x, _int_list(m)),
      version=dtype_version({DType.INT8: 3, DType.STRING: 2}))
def _shaped_by_const(operand: int, dtype_of: int):
    """Inference for ops whose result shape is a constant operand (fill, broadcast_to): no
    evaluation, so a hostile shape costs nothing before it is refused."""

    def infer(ctx):
        dims = ctx.consts[operand] if operand < len(ctx.consts) else None
        if dims is None:
            return [TensorType(ctx.types[dtype_of].dtype, None)]
        dims = _int_list(dims)
        if any(d < 0 for d in dims):
            ctx.fail(f"negative dims {dims}")
        if dtype_of != operand and ctx.types[dtype_of].shape is not None:
            try:
                np.broadcast_shapes(tuple(d or 1 for d in ctx.types[dtype_of].shape), tuple(dims))
            except ValueError:
                ctx.fail(f"cannot broadcast {ctx.types[dtype_of]} to {dims}")
        return [TensorType(ctx.types[dtype_of].dtype, tuple(dims))]

    return infer


tflop("broadcast_to", doc="Broadcast ``x`` to ``shape``.", operands=["x", "shape"], options="BroadcastToOptions",
      infer=_shaped_by_const(1, 0), kernel=lambda x, shape: np.broadcast_to(x, _int_list(shape)).copy(),
      version=dtype_version({DType.INT8: 3, DType.INT16: 3}, default=2))  # LiteRT registers BROADCAST_TO from version 2
tflop("reverse_v2", doc="Reverse along the axes in ``axis`` (1-D i32).", operands=["x", "axis"],
      options="ReverseV2Options", infer=same, kernel=lambda x, axis: np.flip(x, tuple(_int_list(axis))),
      version=dtype_version({DType.INT8: 3, DType.BOOL: 2}))
tflop("fill", doc="A tensor of shape ``dims`` filled with the scalar ``value``.", operands=["dims", "value"],
      options="FillOptions", infer=_shaped_by_const(0, 1),
      kernel=lambda dims, value: np.full(_int_list(dims), value, dtype=value.dtype),
      version=dtype_version({DType.FLOAT16: 4, DType.INT8: 3, DType.INT16: 3, DType.BOOL: 2, DType.STRING: 2}, operand=1))
tflop("range", doc="[start, limit) by delta, the dtype of start.", operands=["start", "limit", "delta"],
      options="RangeOptions", infer=by_evaluation(consts=(0, 1, 2)),
      kernel=lambda s, l, d: np.arange(s.item(), l.item(), d.item()).astype(s.dtype),
      version=dtype_version({DType.INT64: 2}))
tflop("shape", doc="The shape of ``x`` as a 1-D ``out_type`` tensor.", operands=["x"],
      attrs={"out_type": Attr("dtype", DType.INT32)}, options="ShapeOptions",
      infer=lambda ctx: [TensorType(ctx.attrs["out_type"], (ctx.types[0].rank,))],
      kernel=lambda x, out_type: np.asarray(x.shape, out_type.np))
tflop("rank", doc="The rank of ``x`` as an i32 scalar.", operands=["x"], options="RankOptions",
      infer=lambda ctx: [TensorType(DType.INT32, ())], kernel=lambda x: np.asarray(x.ndim, np.int32))
tflop("one_hot", doc="One-hot encode ``indices`` with ``depth``, on and off values along ``axis``.",
      operands=["indices", "depth", "on_value", "off_value"], attrs={"axis": Attr("int", -1)},
      options="OneHotOptions", infer=by_evaluation(lambda ctx: [ctx.types[2].dtype], consts=(1,)), kernel=K.one_hot)


# -- quantization --------------------------------------------------------------------------


def _exec_quantize(node, inputs, interp):
    (x,) = inputs
    out = node.outputs[0].type
    q = out.quant
    if q is None:
        raise ValueError("tfl.quantize needs quantization parameters on its result type")
    if np.issubdtype(x.dtype, np.integer):  # requantize
        src = node.inputs[0].type.quant
        x = (x.astype(np.float64) - _per_axis(src.zero_point, src.axis, x)) * _per_axis(src.scale, src.axis, x)
    info = np.iinfo(out.dtype.np)
    scale = _per_axis(q.scale, q.axis, x)
    zp = _per_axis(q.zero_point, q.axis, x)
    y = _round_half_away(x / scale) + zp
    return [np.clip(y, info.min, info.max).astype(out.dtype.np)]


def _round_half_away(x):
    """TFLite rounds halves away from zero (np.round would round them to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _exec_dequantize(node, inputs, interp):
    (x,) = inputs
    q = node.inputs[0].type.quant
    if q is None:  # float16 -> float32
        return [x.astype(node.outputs[0].dtype.np)]
    y = (x.astype(np.float64) - _per_axis(q.zero_point, q.axis, x)) * _per_axis(q.scale, q.axis, x)
    return [y.astype(node.outputs[0].dtype.np)]


def _per_axis(values, axis, x):
    arr = np.asarray(values, np.float64)
    if axis is None or arr.size == 1:
        return arr.reshape(-1)[0]
    shape = [1] * x.ndim
    shape[axis] = arr.size
    return arr.reshape(shape)


def _quantized_axis_per_channel(value) -> bool:
    q = value.quant
    return q is not None and is_per_channel(value, q.axis or 0, more_than_one=True)


def _quantize_version(node):
    """Per-channel output 3, int16 output 2; float -> int8 and int8 requantize are version 1."""
    if _quantized_axis_per_channel(node.outputs[0]):
        return 3
    return 2 if out_dtype(node) is DType.INT16 else 1


def _dequantize_version(node):
    """int16/float16 3, per-channel int8 5, int8 2."""
    x = in_dtype(node)
    if x in (DType.INT16, DType.FLOAT16):
        return 3
    if x is DType.INT8:
        return 5 if _quantized_axis_per_channel(node.inputs[0]) else 2
    return 1


tflop("quantize", doc="Float (or another quantized type) to the quantized result type's scale/zero point.",
      operands=["x"], options="QuantizeOptions", infer=None, execute=_exec_quantize, version=_quantize_version)
tflop("dequantize", doc="Quantized (or f16) input to float32.", operands=["x"], options="DequantizeOptions",
      infer=lambda ctx: [TensorType(DType.FLOAT32, ctx.types[0].shape)], execute=_exec_dequantize,
      version=_dequantize_version)


tflop("dynamic_update_slice", doc="``x`` with ``update`` written at the 1-D ``start`` indices (clamped to fit).",
      operands=["x", "update", "start"], infer=lambda ctx: [ctx.types[0]],
      kernel=dynamic_update_slice)


# -- control flow and custom ops --------------------------------------------------------------


def _exec_while(node, inputs, interp):
    cond, body = node.regions
    state = list(inputs)
    while bool(np.asarray(interp.run_region(cond, state)[0]).reshape(-1)[0]):
        state = interp.run_region(body, state)
    return state


def _exec_if(node, inputs, interp):
    branch = node.regions[0] if bool(np.asarray(inputs[0]).reshape(-1)[0]) else node.regions[1]
    return interp.run_region(branch, inputs[1:])


def _if_infer(ctx):
    if len(ctx.regions) != 2:
        ctx.fail("needs then and else regions")
    return [v.type for v in ctx.regions[0].outputs]


tflop("while", doc="Loop: regions cond (N args -> bool) and body (N args -> N); written as subgraphs.",
      operands=["*init"], options="WhileOptions", derived=("cond_subgraph_index", "body_subgraph_index"),
      infer=lambda ctx: list(ctx.types), execute=_exec_while, num_regions=2)
tflop("if", doc="Conditional: bool scalar ``cond``; regions then/else take the other operands.",
      operands=["cond", "*args"], options="IfOptions", derived=("then_subgraph_index", "else_subgraph_index"),
      infer=_if_infer, execute=_exec_if, num_regions=2)


def _lstm_infer(ctx):
    x, w = ctx.types[0], ctx.types[1]
    if x.shape is None or len(x.shape) != 3:
        return [TensorType(x.dtype, None)]
    units = None if w.shape is None else w.shape[0]
    return [TensorType(x.dtype, tuple(x.shape[:2]) + (units,))]


def _lstm_kernel(x, wi, wf, wc, wo, ri, rf, rc, ro, bi, bf, bc, bo, h, c, *, fused_activation_function,
                 cell_clip, proj_clip, time_major, asymmetric_quantize_inputs, diagonal_recurrent_tensors):
    """Keras' LSTM cell (sigmoid gates, tanh cell activation), no clipping, peepholes or projection."""
    def sigmoid(v):
        return 1.0 / (1.0 + np.exp(-v))

    seq = x if time_major else np.swapaxes(x, 0, 1)
    h, c = h.reshape(seq.shape[1], -1), c.reshape(seq.shape[1], -1)
    out = []
    for xt in seq:
        i = sigmoid(xt @ wi.T + h @ ri.T + bi)
        f = sigmoid(xt @ wf.T + h @ rf.T + bf)
        g = np.tanh(xt @ wc.T + h @ rc.T + bc)
        o = sigmoid(xt @ wo.T + h @ ro.T + bo)
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    y = np.stack(out).astype(x.dtype) if out else np.zeros(seq.shape[:2] + (wi.shape[0],), x.dtype)
    return y if time_major else np.swapaxes(y, 0, 1)


# The IR op has the 15 inputs a Keras LSTM uses; the writer leaves TFLite's peephole (9-11),
# projection (16, 17) and layer-norm (20-23) inputs absent and writes both states as variable
# tensors (the kernel updates them in place, so each must be a fresh FILL of zeros: lstm_loops.py).
tflop("unidirectional_sequence_lstm",
      doc="An LSTM over a sequence; weights per gate (i, f, c, o) [units, in] and [units, units], biases [units], "
          "initial output and cell states [batch, units] (each written as a variable tensor).",
      operands=["input", "input_to_input_weights", "input_to_forget_weights", "input_to_cell_weights",
                "input_to_output_weights", "recurrent_to_input_weights", "recurrent_to_forget_weights",
                "recurrent_to_cell_weights", "recurrent_to_output_weights", "input_gate_bias", "forget_gate_bias",
                "cell_gate_bias", "output_gate_bias", "output_state", "cell_state"],
      attrs={"fused_activation_function": Attr("str", "TANH", "the cell and output activation"),
             "cell_clip": Attr("float", 0.0), "proj_clip": Attr("float", 0.0),
             "time_major": Attr("bool", False), "asymmetric_quantize_inputs": Attr("bool", False),
             "diagonal_recurrent_tensors": Attr("bool", False)},
      options="UnidirectionalSequenceLSTMOptions", infer=_lstm_infer, kernel=_lstm_kernel,
      absent_inputs=(9, 10, 11, 16, 17, 20, 21, 22, 23), variable_inputs=(18, 19))


tflop("custom", doc="A custom operator named ``custom_code``; ``custom_options`` are its raw option bytes.",
      operands=["*inputs"], attrs={"custom_code": Attr("str"), "custom_options": Attr("any", b"")},
      infer=None, pure=False)


# -- ops TF's converter emits for TF ops mapped through ir/ops/index_ops.py -----------------------

tflop("reverse_sequence", doc="Row i of batch_dim reversed along seq_dim over its first seq_lengths[i] entries.",
      operands=["input", "seq_lengths"], attrs={"seq_dim": Attr("int"), "batch_dim": Attr("int", 0)},
      options="ReverseSequenceOptions", infer=same,
      kernel=lambda x, lengths, *, seq_dim, batch_dim: index_ops.reverse_sequence(x, lengths, seq_dim, batch_dim))
tflop("scatter_nd", doc="Zeros of shape with updates added at indices.", operands=["indices", "updates", "shape"],
      options="ScatterNdOptions", infer=by_evaluation(lambda ctx: [ctx.types[1].dtype], consts=(2,)),
      kernel=index_ops.scatter_nd)
for _kind in ("sum", "prod", "max", "min"):
    tflop(f"unsorted_segment_{_kind}", doc=f"The {_kind} of the data rows per segment id, num_segments segments.",
          operands=["data", "segment_ids", "num_segments"], options=f"UnsortedSegment{_kind.capitalize()}Options",
          infer=by_evaluation(consts=(1, 2)), kernel=index_ops._segment_kernel(_kind))
tflop("bucketize", doc="int32 bucket index of each element for sorted float boundaries.", operands=["input"],
      attrs={"boundaries": Attr("floats")}, options="BucketizeOptions",
      infer=lambda ctx: [TensorType(DType.INT32, ctx.types[0].shape)],
      kernel=lambda x, *, boundaries: index_ops.bucketize(x, boundaries))
tflop("matrix_set_diag", doc="The input with its main diagonal replaced.", operands=["input", "diagonal"],
      options="MatrixSetDiagOptions", infer=same, kernel=index_ops.matrix_set_diag)
tflop("broadcast_args", doc="The shape two 1-D shapes broadcast to.", operands=["s0", "s1"],
      infer=by_evaluation(consts=(0, 1)), kernel=index_ops.broadcast_args)
tflop("bitcast", doc="The input's bytes read as the output's element type (same width).", operands=["input"],
      options="BitcastOptions", infer=None, kernel=None,
      execute=lambda node, args, interp: [np.asarray(args[0]).view(node.outputs[0].dtype.np)])


def _transpose_conv_kernel(output_shape, weights, x, bias=None, *, padding, stride_w, stride_h, fused_activation_function):
    y = conv2d_transpose(output_shape, np.asarray(weights).transpose(1, 2, 0, 3), x, (stride_h, stride_w), padding)
    return _with_act(lambda a, b: a + b)(y, np.zeros((), y.dtype) if bias is None else bias,
                                         fused_activation_function=fused_activation_function)


tflop("transpose_conv", doc="Transposed conv: output_shape (i32), weights [out, H, W, in], NHWC input, optional bias.",
      operands=["output_shape", "weights", "input", "?bias"], options="TransposeConvOptions",
      attrs={"padding": PADDING, "stride_w": Attr("int", 1), "stride_h": Attr("int", 1), "fused_activation_function": ACT},
      infer=by_evaluation(lambda ctx: [ctx.types[2].dtype], consts=(0,)), kernel=_transpose_conv_kernel,
      version=lambda node: 4 if node.attrs.get("fused_activation_function", "NONE") != "NONE"
      else 3 if len(node.inputs) > 3 else 1)

_CONV3D_ATTRS = {"padding": PADDING, "stride_d": Attr("int", 1), "stride_w": Attr("int", 1), "stride_h": Attr("int", 1),
                 "fused_activation_function": ACT, "dilation_d_factor": Attr("int", 1),
                 "dilation_w_factor": Attr("int", 1), "dilation_h_factor": Attr("int", 1)}


def _conv3d_kernel(x, filt, bias=None, *, padding, stride_d, stride_w, stride_h, fused_activation_function,
                   dilation_d_factor, dilation_w_factor, dilation_h_factor):
    y = conv3d(x, filt, (stride_d, stride_h, stride_w), (dilation_d_factor, dilation_h_factor, dilation_w_factor), padding)
    return _with_act(lambda a, b: a + b)(y, np.zeros((), y.dtype) if bias is None else bias,
                                         fused_activation_function=fused_activation_function)


def _conv3d_transpose_kernel(output_shape, filt, x, bias=None, *, padding, stride_d, stride_w, stride_h,
                             fused_activation_function, **_dilations):
    y = conv_transpose(output_shape, filt, x, (stride_d, stride_h, stride_w), padding)
    return _with_act(lambda a, b: a + b)(y, np.zeros((), y.dtype) if bias is None else bias,
                                         fused_activation_function=fused_activation_function)


tflop("conv_3d", doc="3-D conv of NDHWC input with a DHWIO filter, optional bias.", operands=["input", "filter", "?bias"],
      options="Conv3DOptions", attrs=dict(_CONV3D_ATTRS), infer=by_evaluation(), kernel=_conv3d_kernel)
tflop("conv_3d_transpose", doc="Transposed 3-D conv: output_shape (i32), DHWOI filter, NDHWC input, optional bias.",
      operands=["output_shape", "filter", "input", "?bias"], options="Conv3DOptions", attrs=dict(_CONV3D_ATTRS),
      infer=by_evaluation(lambda ctx: [ctx.types[2].dtype], consts=(0,)), kernel=_conv3d_transpose_kernel)
tflop("sparse_to_dense", doc="default_value everywhere but at indices, which take values.",
      operands=["indices", "output_shape", "values", "default_value"], options="SparseToDenseOptions",
      attrs={"validate_indices": Attr("bool", False)}, infer=by_evaluation(lambda ctx: [ctx.types[2].dtype], consts=(0, 1)),
      kernel=lambda indices, shape, values, default, *, validate_indices: index_ops.sparse_to_dense(indices, shape, values, default))
