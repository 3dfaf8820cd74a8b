"""Fusions on lowered ``tfl`` ops, so models come out as lean as TF's converter makes them.

Each is a small rewrite pattern; ``fuse_tflite`` runs them all greedily:

- bias: ADD/SUB of a per-channel constant folded into the bias of CONV_2D,
  DEPTHWISE_CONV_2D or FULLY_CONNECTED;
- batch norm: MUL/DIV by a per-channel constant folded into the weights (the
  frontend lowers FusedBatchNorm to exactly that mul + add);
- activations: RELU, RELU6, RELU_N1_TO_1 fused into the single-use producer
  (TANH is not: LiteRT's float kernels ignore a fused TANH, see docs);
- across a squeeze: a bias ADD/SUB or an activation behind a RESHAPE that only
  drops/adds unit dims of a conv/FC output moves before it, then folds in
  (Keras Conv1D: ExpandDims -> Conv2D -> Squeeze -> BiasAdd -> relu);
- clamps: MAXIMUM/MINIMUM by 0/6/-1/1 become RELU, RELU6, RELU_N1_TO_1;
- input scales: MUL/DIV of a conv/FC input by a per-channel constant folded
  into the weights (Keras ``Rescaling``/``Normalization`` before the stem conv);
- reduce + reshape: a reshape to the keep_dims shape becomes keep_dims=true;
- pads: an explicit zero PAD equal to SAME padding folded into the conv;
- dilated convs: SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND (TF's form) become one
  dilated conv;
- hard-swish: x * relu6(x + 3) / 6 becomes HARD_SWISH;
- reshape/transpose: no-op ones dropped, chains merged; a transpose that moves
  only size-1 axes is a reshape.

Patterns only fire on single-use producers, so no value is computed twice.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from litesmith.ir.graph import Node, Value
from litesmith.ir.types import is_static
from litesmith.passes.rewrite import RewriteResult, apply_patterns_greedily, pattern

from .lower_nn import same_padding

__all__ = ["FUSION_PATTERNS", "fuse_tflite"]

WEIGHTED = ("tfl.conv_2d", "tfl.depthwise_conv_2d", "tfl.fully_connected")
# Ops whose float kernels apply a fused RELU/RELU6/RELU_N1_TO_1.
TAKES_ACTIVATION = WEIGHTED + ("tfl.add", "tfl.sub", "tfl.mul", "tfl.div", "tfl.max_pool_2d", "tfl.average_pool_2d")
ACTIVATIONS = {"tfl.relu": "RELU", "tfl.relu6": "RELU6", "tfl.relu_n1_to_1": "RELU_N1_TO_1"}


# -- helpers ----------------------------------------------------------------------------------


def _act(node: Node) -> str:
    return node.attrs.get("fused_activation_function", "NONE")


def _single_use(v: Value) -> bool:
    return len(v.uses()) == 1 and not v.is_graph_output()


def _producer(v: Value, ops) -> Optional[Node]:
    p = v.producer
    return p if p is not None and p.op in ops else None


def _const_operand(node: Node):
    """(other operand, constant value, constant index) of a binary op with one constant side."""
    a, b = node.inputs
    if b.const_value() is not None:
        return a, b.const_value(), 1
    if a.const_value() is not None:
        return b, a.const_value(), 0
    return None, None, None


def _channel_vector(c: np.ndarray, out: Value) -> Optional[np.ndarray]:
    """``c`` as a [channels] vector if broadcasting it over ``out`` only varies along the last axis."""
    channels = out.shape[-1]
    if c.ndim > len(out.shape) or any(d != 1 for d in c.shape[:-1]):
        return None
    if c.size == 1:
        return np.full([channels], c.reshape(()), dtype=c.dtype)
    if c.shape[-1] == channels:
        return c.reshape(channels)
    return None


def _fusable_weighted(v: Value) -> Optional[Node]:
    """The CONV/DEPTHWISE/FC producing ``v`` if it has no activation, const weights and only this user."""
    p = _producer(v, WEIGHTED)
    if p is None or _act(p) != "NONE" or not _single_use(v) or len(p.inputs) < 3:
        return None
    if p.inputs[1].const_value() is None or p.inputs[2].const_value() is None:
        return None
    return p


def _set_const_input(rw, node: Node, index: int, value: np.ndarray) -> None:
    c = rw.builder(before=node).const(np.ascontiguousarray(value))
    node.set_input(index, c)


# -- bias and batch norm ---------------------------------------------------------------------


def _fold_bias(node, rw, sign):
    x, c, ci = _const_operand(node)
    if x is None or (sign < 0 and ci != 1) or node.output.shape != x.shape:
        return False
    p = _fusable_weighted(x)
    if p is None:
        return rw.why_not("operand is not a single-use conv/FC without activation")
    vec = _channel_vector(c, node.output)
    if vec is None or not x.dtype.is_float:
        return rw.why_not("constant is not per-channel")
    bias = p.inputs[2].const_value()
    _set_const_input(rw, p, 2, (bias + sign * vec).astype(bias.dtype))
    p.attrs["fused_activation_function"] = _act(node)
    rw.notify_changed(p)
    rw.replace_node(node, [x])
    return True


@pattern("tfl.add", name="fold-bias-add")
def fold_bias_add(node, rw):
    return _fold_bias(node, rw, +1)


@pattern("tfl.sub", name="fold-bias-sub")
def fold_bias_sub(node, rw):
    return _fold_bias(node, rw, -1)


def _fold_scale(node, rw, invert):
    if _act(node) != "NONE":
        return False
    x, c, ci = _const_operand(node)
    if x is None or (invert and ci != 1) or node.output.shape != x.shape:
        return False
    p = _fusable_weighted(x)
    vec = None if p is None else _channel_vector(c, node.output)
    if vec is None or not x.dtype.is_float:
        return rw.why_not("not a per-channel scale of a single-use conv/FC")
    if invert:
        vec = 1.0 / vec
    w, bias = p.inputs[1].const_value(), p.inputs[2].const_value()
    # Output channels: OHWI axis 0 (conv), [1,H,W,C*M] axis 3 (depthwise), [out,in] axis 0 (FC).
    scaled = w * (vec.reshape(1, 1, 1, -1) if p.op == "tfl.depthwise_conv_2d" else vec.reshape((-1,) + (1,) * (w.ndim - 1)))
    _set_const_input(rw, p, 1, scaled.astype(w.dtype, copy=False))  # a new array already: no second copy
    _set_const_input(rw, p, 2, (bias * vec).astype(bias.dtype, copy=False))
    rw.notify_changed(p)
    rw.replace_node(node, [x])
    return True


@pattern("tfl.mul", name="fold-scale-mul")
def fold_scale_mul(node, rw):
    return _fold_scale(node, rw, invert=False)


@pattern("tfl.div", name="fold-scale-div")
def fold_scale_div(node, rw):
    return _fold_scale(node, rw, invert=True)


def _fold_input_scale(node, rw):
    """conv(x * c) = conv(x) with weights scaled per input channel (zero padding commutes with scaling)."""
    scale_node = _producer(node.inputs[0], ("tfl.mul", "tfl.div"))
    if scale_node is None or _act(scale_node) != "NONE" or not _single_use(node.inputs[0]):
        return False
    x, c, ci = _const_operand(scale_node)
    w = node.inputs[1].const_value()
    if x is None or w is None or (scale_node.op == "tfl.div" and ci != 1) or x.shape != node.inputs[0].shape:
        return False
    vec = _channel_vector(c, x)
    if vec is None or not x.dtype.is_float:
        return rw.why_not("input scale is not per-channel")
    if scale_node.op == "tfl.div":
        vec = 1.0 / vec
    if node.op == "tfl.depthwise_conv_2d":  # output channel k reads input channel k // M
        scaled = w * np.repeat(vec, node.attrs.get("depth_multiplier", 1)).reshape(1, 1, 1, -1)
    else:  # conv OHWI and FC [out, in]: the input channel is the last axis
        scaled = w * vec
    _set_const_input(rw, node, 1, scaled.astype(w.dtype))
    node.set_input(0, x)
    rw.notify_changed(node)
    rw.notify_changed(scale_node)
    return True


fold_input_scale_conv = pattern("tfl.conv_2d", name="fold-input-scale")(_fold_input_scale)
fold_input_scale_depthwise = pattern("tfl.depthwise_conv_2d", name="fold-input-scale")(_fold_input_scale)
fold_input_scale_fc = pattern("tfl.fully_connected", name="fold-input-scale")(_fold_input_scale)


# -- across a squeeze ----------------------------------------------------------------------------


def _unit_dims_reshape_of_weighted(x: Value) -> Optional[Node]:
    """The RESHAPE producing ``x`` if it only drops/adds unit dims of a fusable conv/FC output,
    keeping the channel axis last (so per-channel stays per-channel); else None."""
    reshape = _producer(x, ("tfl.reshape",))
    if reshape is None or not _single_use(x) or _fusable_weighted(reshape.inputs[0]) is None:
        return None
    src, dst = reshape.inputs[0].shape, x.shape
    if not src or not dst or not is_static(src) or not is_static(dst) or src[-1] != dst[-1]:
        return None
    if [d for d in src if d != 1] != [d for d in dst if d != 1]:
        return None
    return reshape


def _move_before_reshape(node: Node, rw, reshape: Node, operands) -> None:
    """node(reshape(y), ...) -> reshape(node(y, ...)): exact for an elementwise op whose other
    operands only vary along the (unmoved) channel axis."""
    y = reshape.inputs[0]
    b = rw.builder(before=node)
    moved = b.op(node.op, operands, dict(node.attrs), output_types=[node.output.type.with_shape(y.shape)])
    rw.replace_node(node, [b.op("tfl.reshape", [moved] + reshape.inputs[1:], output_types=[node.output.type])])


def _bias_across_reshape(node, rw):
    x, c, ci = _const_operand(node)
    if x is None or (node.op == "tfl.sub" and ci != 1) or node.output.shape != x.shape or not x.dtype.is_float:
        return False
    reshape = _unit_dims_reshape_of_weighted(x)
    if reshape is None:
        return rw.why_not("operand is not a unit-dims RESHAPE of a single-use conv/FC")
    vec = _channel_vector(c, node.output)
    if vec is None:
        return rw.why_not("constant is not per-channel")
    const = rw.builder(before=node).const(np.ascontiguousarray(vec.astype(c.dtype)))
    operands = [reshape.inputs[0], const] if ci == 1 else [const, reshape.inputs[0]]
    _move_before_reshape(node, rw, reshape, operands)
    return True


bias_add_across_reshape = pattern("tfl.add", name="bias-across-reshape")(_bias_across_reshape)
bias_sub_across_reshape = pattern("tfl.sub", name="bias-across-reshape")(_bias_across_reshape)


def _activation_across_reshape(node, rw):
    (x,) = node.inputs
    reshape = _unit_dims_reshape_of_weighted(x) if x.dtype.is_float else None
    if reshape is None:
        return rw.why_not("input is not a unit-dims RESHAPE of a single-use conv/FC")
    _move_before_reshape(node, rw, reshape, [reshape.inputs[0]])
    return True


relu_across_reshape = pattern("tfl.relu", name="activation-across-reshape")(_activation_across_reshape)
relu6_across_reshape = pattern("tfl.relu6", name="activation-across-reshape")(_activation_across_reshape)
relu_n1_to_1_across_reshape = pattern("tfl.relu_n1_to_1", name="activation-across-reshape")(_activation_across_reshape)


# -- activations ----------------------------------------------------------------------------------


def _fuse_activation(node, rw):
    (x,) = node.inputs
    p = _producer(x, TAKES_ACTIVATION)
    if p is None or _act(p) != "NONE" or not _single_use(x) or not x.dtype.is_float:
        return rw.why_not("producer cannot take a fused activation")
    p.attrs["fused_activation_function"] = ACTIVATIONS[node.op]
    rw.notify_changed(p)
    rw.replace_node(node, [x])
    return True


fuse_relu = pattern("tfl.relu", name="fuse-relu")(_fuse_activation)
fuse_relu6 = pattern("tfl.relu6", name="fuse-relu6")(_fuse_activation)
fuse_relu_n1_to_1 = pattern("tfl.relu_n1_to_1", name="fuse-relu-n1-to-1")(_fuse_activation)


def _scalar(c) -> Optional[float]:
    """The value of a one-element numeric constant (a string or object constant is not one)."""
    return float(c.reshape(-1)[0]) if c is not None and c.size == 1 and c.dtype.kind in "biuf" else None


def _clamp(node, outer_op, inner_op):
    """(x, lo, hi) if ``node`` is outer(inner(x, a), b) with scalar constants; else None."""
    if node.op != outer_op:
        return None
    y, c, _ = _const_operand(node)
    if y is None or _scalar(c) is None or y.shape != node.output.shape:
        return None
    inner = y.producer
    if inner is None or not _single_use(y):
        return None
    if inner.op == inner_op:
        x, c2, _ = _const_operand(inner)
        if x is None or _scalar(c2) is None or x.shape != y.shape:
            return None
        return x, _scalar(c2), _scalar(c)
    if inner.op == "tfl.relu" and outer_op == "tfl.minimum":
        return inner.inputs[0], 0.0, _scalar(c)
    return None


CLAMPS = {(0.0, 6.0): "tfl.relu6", (-1.0, 1.0): "tfl.relu_n1_to_1"}


def _clamp_to_activation(node, rw):
    if not node.output.dtype.is_float:
        return False
    found = _clamp(node, "tfl.minimum", "tfl.maximum")  # min(max(x, lo), hi)
    if found is not None:
        x, lo, hi = found
    else:
        found = _clamp(node, "tfl.maximum", "tfl.minimum")  # max(min(x, hi), lo)
        if found is None:
            if node.op == "tfl.maximum":  # max(x, 0) -> relu
                x, c, _ = _const_operand(node)
                if x is not None and _scalar(c) == 0.0 and x.shape == node.output.shape:
                    rw.replace_node(node, [rw.builder().op("tfl.relu", [x], output_types=[node.output.type])])
                    return True
            return False
        x, hi, lo = found
    op = CLAMPS.get((lo, hi))
    if op is None:
        return rw.why_not(f"clamp to [{lo}, {hi}] has no TFLite activation")
    rw.replace_node(node, [rw.builder().op(op, [x], output_types=[node.output.type])])
    return True


clamp_min = pattern("tfl.minimum", name="clamp-to-activation")(_clamp_to_activation)
clamp_max = pattern("tfl.maximum", name="clamp-to-activation")(_clamp_to_activation)


# -- hard swish -------------------------------------------------------------------------------------


def _is_scalar(v: Value, value: float) -> bool:
    s = _scalar(v.const_value())
    return s is not None and abs(s - value) < 1e-6


def _relu6_of_plus_3(v: Value) -> Optional[Value]:
    """x if ``v`` is relu6(x + 3) (a RELU6 op or an ADD with fused RELU6)."""
    p = v.producer
    if p is None:
        return None
    if p.op == "tfl.relu6":
        add = p.inputs[0].producer
        if add is None or add.op != "tfl.add" or _act(add) != "NONE":
            return None
    elif p.op == "tfl.add" and _act(p) == "RELU6":
        add = p
    else:
        return None
    a, b = add.inputs
    if _is_scalar(b, 3.0):
        return a
    if _is_scalar(a, 3.0):
        return b
    return None


def _x_times_relu6(v: Value) -> Optional[Value]:
    """x if ``v`` is x * relu6(x + 3)."""
    p = v.producer
    if p is None or p.op != "tfl.mul" or _act(p) != "NONE":
        return None
    a, b = p.inputs
    for x, r in ((a, b), (b, a)):
        if _relu6_of_plus_3(r) is x:
            return x
    return None


def _div6(v: Value) -> Optional[Value]:
    """y if ``v`` is y / 6 or y * (1/6)."""
    p = v.producer
    if p is None or _act(p) != "NONE":
        return None
    if p.op == "tfl.div" and _is_scalar(p.inputs[1], 6.0):
        return p.inputs[0]
    if p.op == "tfl.mul":
        y, c, _ = _const_operand(p)
        if y is not None and _scalar(c) is not None and abs(_scalar(c) - 1 / 6) < 1e-6:
            return y
    return None


def _hard_swish(node, rw):
    out = node.output
    if not out.dtype.is_float or _act(node) != "NONE":
        return False
    x = None
    y = _div6(out)
    if y is not None:
        x = _x_times_relu6(y)  # (x * relu6(x + 3)) / 6
    if x is None and node.op == "tfl.mul":
        a, b = node.inputs
        for cand, other in ((a, b), (b, a)):
            r = _div6(other)
            if r is not None and _relu6_of_plus_3(r) is cand:  # x * (relu6(x + 3) / 6)
                x = cand
    if x is None or x.shape != out.shape:
        return False
    rw.replace_node(node, [rw.builder().op("tfl.hard_swish", [x], output_types=[out.type])])
    return True


hard_swish_mul = pattern("tfl.mul", name="hard-swish")(_hard_swish)
hard_swish_div = pattern("tfl.div", name="hard-swish")(_hard_swish)


# -- pads -------------------------------------------------------------------------------------------


def _fold_pad(node, rw):
    if node.attrs.get("padding") != "VALID":
        return False
    x = node.inputs[0]
    pad = _producer(x, ("tfl.pad", "tfl.padv2"))
    if pad is None:
        return False
    if pad.op == "tfl.padv2" and _scalar(pad.inputs[2].const_value()) != 0.0:
        return rw.why_not("pad value is not zero")
    paddings = pad.inputs[1].const_value()
    src = pad.inputs[0]
    if paddings is None or paddings.shape != (4, 2) or np.any(paddings[0]) or np.any(paddings[3]):
        return rw.why_not("pad is not a constant spatial pad")
    weights = node.inputs[1]
    kh, kw = weights.shape[1], weights.shape[2]
    strides = (node.attrs["stride_h"], node.attrs["stride_w"])
    dilations = (node.attrs.get("dilation_h_factor", 1), node.attrs.get("dilation_w_factor", 1))
    same = [same_padding(src.shape[1 + i], (kh, kw)[i], strides[i], dilations[i]) for i in range(2)]
    if [tuple(int(p) for p in paddings[1]), tuple(int(p) for p in paddings[2])] != same:
        return rw.why_not("pad differs from SAME padding")
    node.set_input(0, src)
    node.attrs["padding"] = "SAME"
    rw.notify_changed(node)
    rw.notify_changed(pad)
    return True


fold_pad_conv = pattern("tfl.conv_2d", name="fold-pad")(_fold_pad)
fold_pad_depthwise = pattern("tfl.depthwise_conv_2d", name="fold-pad")(_fold_pad)


# -- dilated convolutions ---------------------------------------------------------------------------


def _block_and_pairs(node: Node):
    """(block [bh, bw], pairs [[a, b], [c, d]]) of a rank-4 SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND
    with constant operands; else None."""
    block, pairs = node.inputs[1].const_value(), node.inputs[2].const_value()
    if node.inputs[0].rank != 4 or block is None or pairs is None or block.size != 2 or pairs.size != 4:
        return None
    return [int(b) for b in block.reshape(-1)], pairs.reshape(2, 2).astype(np.int64).tolist()


@pattern("tfl.batch_to_space_nd", name="dilated-conv")
def dilated_conv(node, rw):
    """BATCH_TO_SPACE_ND(conv(SPACE_TO_BATCH_ND(x))), the conv VALID with stride 1, is one conv on x
    with dilation = block_shape and padding = paddings - crops (how TF writes a dilated conv): SAME
    or VALID when it is one of those, else an explicit zero PAD first. Exact: output row r reads
    padded rows r + crop + k * block, which is the dilated conv's tap k."""
    conv = _producer(node.inputs[0], ("tfl.conv_2d", "tfl.depthwise_conv_2d"))
    if conv is None or not _single_use(node.inputs[0]):
        return False
    s2b = _producer(conv.inputs[0], ("tfl.space_to_batch_nd",))
    if s2b is None or not _single_use(conv.inputs[0]):
        return rw.why_not("conv input is not a single-use SPACE_TO_BATCH_ND")
    into, out = _block_and_pairs(s2b), _block_and_pairs(node)
    if into is None or out is None or into[0] != out[0]:
        return rw.why_not("block shapes differ or are not constant")
    a = conv.attrs
    if a.get("padding") != "VALID" or (a.get("stride_h", 1), a.get("stride_w", 1)) != (1, 1) \
            or (a.get("dilation_h_factor", 1), a.get("dilation_w_factor", 1)) != (1, 1):
        return rw.why_not("conv between the two is not VALID, stride 1, undilated")
    block, (pads, crops) = into[0], (into[1], out[1])
    padding = [(pads[i][0] - crops[i][0], pads[i][1] - crops[i][1]) for i in range(2)]
    if min(min(p) for p in padding) < 0:
        return rw.why_not("crops exceed the paddings")
    x = s2b.inputs[0]
    kh, kw = conv.inputs[1].shape[1:3]
    b = rw.builder(before=node)
    if not any(any(p) for p in padding):
        mode = "VALID"
    elif padding == [same_padding(x.shape[1 + i], (kh, kw)[i], 1, block[i]) for i in range(2)]:
        mode = "SAME"
    else:
        mode = "VALID"
        spec = np.array([[0, 0], *padding, [0, 0]], np.int32)
        padded = tuple(d + int(p.sum()) for d, p in zip(x.shape, spec))
        x = b.op("tfl.pad", [x, b.const(spec)], output_types=[x.type.with_shape(padded)])
    attrs = {**a, "padding": mode, "dilation_h_factor": block[0], "dilation_w_factor": block[1]}
    rw.replace_node(node, [b.op(conv.op, [x] + conv.inputs[1:], attrs, output_types=[node.output.type])])
    return True


# -- reshape and transpose --------------------------------------------------------------------------


@pattern("tfl.reshape", name="fold-reshape")
def fold_reshape(node, rw):
    x = node.inputs[0]
    if x.shape == node.output.shape and rw.can_replace(node.output, x):
        rw.replace_node(node, [x])
        return True
    inner = _producer(x, ("tfl.reshape",))
    if inner is not None:
        node.set_input(0, inner.inputs[0])  # reshape(reshape(y)) = reshape(y)
        rw.notify_changed(node)
        rw.notify_changed(inner)
        return True
    return False


@pattern("tfl.reshape", name="vector-fully-connected")
def vector_fully_connected(node, rw):
    """reshape([1,N] -> [N]) of FC(reshape([K] -> [1,K])) -> FC(x, keep_num_dims): a single-step
    model's rank-1 state feeds FULLY_CONNECTED directly (then its bias add can fold in)."""
    fc = _producer(node.inputs[0], ("tfl.fully_connected",))
    if fc is None or not _single_use(node.inputs[0]) or fc.attrs.get("keep_num_dims"):
        return False
    x = fc.inputs[0]  # [K] itself, or [K] lifted to [1, K] by a reshape
    lift = _producer(x, ("tfl.reshape",))
    if lift is not None and _single_use(x) and lift.inputs[0].shape is not None \
            and len(lift.inputs[0].shape) == 1 and x.shape == (1,) + tuple(lift.inputs[0].shape):
        x = lift.inputs[0]
    if x.shape is None or len(x.shape) != 1:
        return False
    if fc.output.shape is None or node.output.shape != tuple(fc.output.shape[1:]) or fc.output.shape[0] != 1:
        return False
    new = rw.builder(before=fc).op("tfl.fully_connected", [x] + fc.inputs[1:], {**fc.attrs, "keep_num_dims": True},
                                  output_types=[node.output.type])
    rw.replace_node(node, [new])
    return True


@pattern("tfl.fully_connected", name="fc-flattens-input")
def fc_flattens_input(node, rw):
    """FULLY_CONNECTED(RESHAPE(x -> [rows, K])) without keep_num_dims -> FULLY_CONNECTED(x):
    the op flattens its input to [-1, K] itself."""
    if node.attrs.get("keep_num_dims"):
        return False
    lift = _producer(node.inputs[0], ("tfl.reshape",))
    x = lift.inputs[0] if lift is not None else None
    if x is None or x.shape is None or not x.shape or x.shape[-1] != node.inputs[1].shape[-1]:
        return False
    if len(lift.output.shape or ()) != 2 or not is_static(x.shape):
        return False
    node.set_input(0, x)
    rw.notify_changed(node)
    rw.notify_changed(lift)
    return True


@pattern("tfl.reshape", name="fc-keeps-leading-dims")
def fc_keeps_leading_dims(node, rw):
    """RESHAPE(FULLY_CONNECTED(x) [rows, N]) back to x's leading dims + [N] -> FULLY_CONNECTED(x,
    keep_num_dims): a Dense layer on [batch, time, K] (TF's Tensordot reshapes around its matmul),
    as TF's converter writes it."""
    fc = _producer(node.inputs[0], ("tfl.fully_connected",))
    if fc is None or fc.attrs.get("keep_num_dims") or not _single_use(node.inputs[0]):
        return False
    x = fc.inputs[0]
    if x.shape is None or len(x.shape) < 3 or not is_static(x.shape) or fc.output.shape is None:
        return False
    if node.output.shape != tuple(x.shape[:-1]) + tuple(fc.output.shape[-1:]) or x.quant is not None:
        return False
    new = rw.builder(before=fc).op("tfl.fully_connected", list(fc.inputs), {**fc.attrs, "keep_num_dims": True},
                                  output_types=[node.output.type])
    rw.replace_node(node, [new])
    return True


REDUCERS = ("tfl.sum", "tfl.mean", "tfl.reduce_max", "tfl.reduce_min", "tfl.reduce_prod", "tfl.reduce_any", "tfl.reduce_all")


@pattern("tfl.reshape", name="reshape-to-keep-dims")
def reshape_to_keep_dims(node, rw):
    """reshape(reduce(x, keep_dims=false)) to the keep_dims shape -> reduce(x, keep_dims=true)."""
    red = _producer(node.inputs[0], REDUCERS)
    if red is None or red.attrs.get("keep_dims") or not _single_use(node.inputs[0]):
        return False
    x, axes_v = red.inputs
    axes = axes_v.const_value()
    if axes is None or x.shape is None:
        return False
    rank = len(x.shape)
    axes = {int(a) % rank for a in axes.reshape(-1)}
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    if kept != node.output.shape:
        return False
    new = rw.builder(before=red).op(red.op, [x, axes_v], {**red.attrs, "keep_dims": True}, output_types=[node.output.type])
    rw.replace_node(node, [new])
    return True


@pattern("tfl.transpose", name="fold-transpose")
def fold_transpose(node, rw):
    x, perm_v = node.inputs
    perm = perm_v.const_value()
    if perm is None:
        return False
    perm = [int(p) for p in perm]
    if perm == list(range(len(perm))) and rw.can_replace(node.output, x):
        rw.replace_node(node, [x])
        return True
    inner = _producer(x, ("tfl.transpose",))
    if inner is not None and inner.inputs[1].const_value() is not None:
        first = [int(p) for p in inner.inputs[1].const_value()]
        composed = np.asarray([first[p] for p in perm], np.int32)
        node.set_input(0, inner.inputs[0])
        node.set_input(1, rw.builder(before=node).const(composed))
        rw.notify_changed(node)
        rw.notify_changed(inner)
        return True
    return False


@pattern("tfl.transpose", name="transpose-of-unit-axes")
def transpose_of_unit_axes(node, rw):
    """TRANSPOSE that moves only size-1 axes -> RESHAPE: the elements keep their order (a decode
    step's one-row heads, [1, h, d] -> [h, 1, d]), and the RESHAPE merges with its neighbours."""
    x, perm_v = node.inputs
    perm = perm_v.const_value()
    if perm is None or x.shape is None or not is_static(x.shape) or node.output.shape is None:
        return False
    moved = [int(p) for p in perm.reshape(-1) if x.shape[int(p)] != 1]
    if moved != sorted(moved):
        return False
    shape = rw.builder(before=node).const(np.array(node.output.shape, np.int32))
    rw.replace_node(node, [rw.builder(before=node).op("tfl.reshape", [x, shape], output_types=[node.output.type])])
    return True


FUSION_PATTERNS = [
    fold_bias_add, fold_bias_sub, fold_scale_mul, fold_scale_div,
    fuse_relu, fuse_relu6, fuse_relu_n1_to_1, clamp_min, clamp_max,
    bias_add_across_reshape, bias_sub_across_reshape,
    relu_across_reshape, relu6_across_reshape, relu_n1_to_1_across_reshape,
    hard_swish_mul, hard_swish_div, fold_pad_conv, fold_pad_depthwise, dilated_conv,
    fold_input_scale_conv, fold_input_scale_depthwise, fold_input_scale_fc,
    fold_reshape, reshape_to_keep_dims, fold_transpose, transpose_of_unit_axes, vector_fully_connected,
    fc_flattens_input, fc_keeps_leading_dims,
]


def fuse_tflite(graph) -> RewriteResult:
    """Apply every fusion until none applies; ``result.applied`` counts them by name."""
    return apply_patterns_greedily(graph, FUSION_PATTERNS, max_iterations=8)
