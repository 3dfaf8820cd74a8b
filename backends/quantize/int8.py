"""int8 mode: full-integer post-training quantization per the TFLite 8-bit spec.

Walks the float tfl graph in order. A node whose op has an int8 kernel in
LiteRT (and whose float inputs were calibrated) is re-created on int8
tensors: per-channel symmetric weights, int32 bias (scale input_scale *
weight_scale), output parameters from the calibrated range, or the spec's
fixed ones (LOGISTIC, TANH, SOFTMAX), or the input's own (same-scale ops).
Every other node stays float: its quantized inputs come through a DEQUANTIZE
and its float outputs go through a QUANTIZE where an int8 op reads them.
Model inputs/outputs stay float (QUANTIZE/DEQUANTIZE at the edges) unless
``io_dtype="int8"``.
"""
from __future__ import annotations

from typing import Dict, Optional, Set, Tuple

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.types import QuantParams, TensorType

from . import gptq
from .params import KEEP_SUM_OPS, activation_params, bias_int32, f32, per_channel_weights, quantize_array, symmetric_params
from .recurrent import accumulator_nodes, state_update_nodes
from .rewrite import const_with_quant, insert_point
from .saturation import clip_to_saturation

WEIGHTED = {"tfl.fully_connected": 0, "tfl.conv_2d": 0, "tfl.depthwise_conv_2d": 3}  # op -> weight channel axis
FLOAT_SOFTMAX_MIN_CLASSES = 256  # an output softmax over more classes stays float
INT16_MAX = 32767
MASKED_SCORES_BELOW = -1e4  # a softmax input calibrated this low holds a mask's fill: it stays float
ARITHMETIC = {"tfl.add", "tfl.sub", "tfl.mul"}
FIXED_OUTPUT = {
    "tfl.logistic": QuantParams((f32(1 / 256),), (-128,)),
    "tfl.tanh": QuantParams((f32(1 / 128),), (0,)),
    "tfl.softmax": QuantParams((f32(1 / 256),), (-128,)),
}
SAME_SCALE = {"tfl.reshape", "tfl.transpose", "tfl.squeeze", "tfl.expand_dims", "tfl.max_pool_2d",
              "tfl.average_pool_2d", "tfl.gather", "tfl.strided_slice", "tfl.slice", "tfl.pad",
              "tfl.space_to_batch_nd", "tfl.batch_to_space_nd"}
CONCAT = "tfl.concatenation"
# Global average pooling (MEAN over height and width of a 4-D tensor): output params from calibration.
MEAN = "tfl.mean"
SPATIAL_AXES = (1, 2)
# Multi-output data movement: op -> index of the data operand; every output shares its params.
SPLITS = {"tfl.split": 1, "tfl.split_v": 0}
# Tables read by index: a constant float table is quantized per tensor (an embedding shrinks 4x).
TABLE_OPS = {"tfl.gather"}
QUANTIZED_ACTIVATIONS = {"NONE", "RELU", "RELU6", "RELU_N1_TO_1"}
INT8_OPS = set(WEIGHTED) | ARITHMETIC | set(FIXED_OUTPUT) | SAME_SCALE | {CONCAT, MEAN} | set(SPLITS)

Ranges = Dict[Value, Tuple[float, float]]


def quantize_int8(graph: Graph, ranges: Ranges, io_dtype: str, report: dict, integer_only: bool = False,
                  moments: Optional[Dict[Node, np.ndarray]] = None, float_layers: Optional[Set[str]] = None,
                  hybrid_layers: Optional[Set[str]] = None, per_tensor_fc: bool = False,
                  int16_layers: Optional[Set[str]] = None, float_requantize: bool = False) -> Graph:
    """``integer_only``: no float islands for accuracy (LM logits, large output softmax, LSTM cell
    state), and a UserError naming any op that still has no int8 kernel: for integer-only hardware.
    ``moments``: weighted node -> E[x x^T] of its input from calibration; those weights are rounded
    by GPTQ (gptq.py) instead of to nearest. ``float_layers``: names of nodes (first output) kept float
    (the accuracy budget's choice, budget.py); ``hybrid_layers``: FULLY_CONNECTED nodes made hybrid
    (int8 weights, float activations: no larger than int8; also the budget's choice). ``int16_layers``:
    FULLY_CONNECTED nodes made 16x8 islands (int16 input and output, int8 weights, int64 bias, between
    QUANTIZE from float and DEQUANTIZE to float; the budget's choice too). ``per_tensor_fc``:
    one scale for every FULLY_CONNECTED's weights (Arm NN 20.08 refuses per-channel ones: the armnn
    target's choice, targets.py). ``float_requantize``: no int8 -> int8 QUANTIZE (a CONCATENATION's
    inputs at other scales): a float input is quantized at the concatenation's scale directly, an
    int8 one goes through DEQUANTIZE + QUANTIZE (Arm NN 20.08 CpuAcc's int8 requantization is 1 LSB
    off CpuRef's in 7 of 10 values; its float QUANTIZE matches: the armnn target's choice)."""
    rewriter = Int8Rewriter(graph, ranges, io_dtype, integer_only, moments, float_layers, hybrid_layers, int16_layers)
    rewriter.per_tensor_fc = per_tensor_fc
    rewriter.float_requantize = float_requantize
    rewriter.run(report)
    if integer_only and report.get("float_ops"):
        from litesmith.ir.errors import UserError

        left = ", ".join(f"{op.removeprefix('tfl.').upper()} x{n}" for op, n in report["float_ops"].items())
        raise UserError(f"integer-only: no int8 kernel for {left}; drop --integer-only to keep them float")
    return graph


class Int8Rewriter:
    per_tensor_fc = False  # quantize_int8's options
    float_requantize = False
    """int8 activations; Int16x8Rewriter (int16x8.py) changes the class attributes and hooks below."""

    ACT = DType.INT8  # activation tensors' type
    BIAS = DType.INT32  # FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D bias type
    FIXED_OUTPUT = FIXED_OUTPUT
    OPS = INT8_OPS

    def __init__(self, graph: Graph, ranges: Ranges, io_dtype: str, integer_only: bool = False,
                 moments: Optional[Dict[Node, np.ndarray]] = None, float_layers: Optional[Set[str]] = None,
                 hybrid_layers: Optional[Set[str]] = None, int16_layers: Optional[Set[str]] = None):
        self.graph = graph
        self.moments = moments or {}
        self.io_int8 = io_dtype == "int8"
        self.integer_only = integer_only
        # An LSTM's cell state path stays float (recurrent.py); ranges are clipped where an int8
        # LOGISTIC/TANH saturates (saturation.py). With the hybrid logits (_logits_fc) they lift the
        # demo LM's top-1 vs float from 0.944 to 0.981 over 2000 held-out steps (docs/quantization.md).
        # A GRU's (and LSTM's) state update and the LOGISTIC gates weighing it stay float too.
        self.keep_float = set() if integer_only else accumulator_nodes(graph) | state_update_nodes(graph)
        self.float_layers = ({n for n in graph.nodes if n.outputs and n.outputs[0].name in float_layers}
                             if float_layers else set())  # kept float by choice: no hybrid form either
        self.keep_float |= self.float_layers
        self.hybrid_layers = {n for n in graph.nodes if n.op == "tfl.fully_connected" and n.outputs
                              and n.outputs[0].name in (hybrid_layers or ()) and n not in self.float_layers
                              and n.inputs[1].is_const() and all(v.is_const() for v in n.inputs[2:])}
        self.int16_layers = {n for n in graph.nodes if n.op == "tfl.fully_connected" and n.outputs
                             and n.outputs[0].name in (int16_layers or ()) and n not in self.float_layers
                             and n not in self.hybrid_layers}
        self.ranges = clip_to_saturation(graph, ranges, self.keep_float | self.int16_layers)
        self.q: Dict[Value, Value] = {}  # float value -> its int8 twin
        self.gone: Set[Value] = set()  # float values whose producer is replaced (read them via DEQUANTIZE)
        self.deq: Dict[Value, Value] = {}

    # -- the walk ------------------------------------------------------------------------------
    def run(self, report: dict) -> None:
        if self.io_int8:
            self._int8_inputs()
        kept: Dict[str, int] = {}
        done: Dict[str, int] = {}
        hybrid: Dict[str, int] = {}
        for node in self.graph.nodes:
            if node.op == "core.const":
                continue
            if node in self.int16_layers and self._int16_ok(node):
                self._rewrite_int16(node)
                done["tfl.fully_connected (int16)"] = done.get("tfl.fully_connected (int16)", 0) + 1
                continue
            if self._quantizable(node):
                self._rewrite(node)
                done[node.op] = done.get(node.op, 0) + 1
                continue
            if self._logits_fc(node):
                self._make_hybrid(node)
                hybrid[node.op] = hybrid.get(node.op, 0) + 1
            elif node.op not in ("tfl.quantize", "tfl.dequantize"):
                kept[node.op] = kept.get(node.op, 0) + 1
            for i, v in enumerate(node.inputs):
                if v in self.gone:
                    node.set_input(i, self._float_of(v))
        self._outputs()  # the bypassed float nodes stay for the caller's dce (passes.py)
        report["int8_ops"] = dict(sorted(done.items()))
        report["float_ops"] = dict(sorted(kept.items()))
        if hybrid:
            report["hybrid_ops"] = hybrid

    def _int8_inputs(self) -> None:
        g = self.graph
        for i, v in enumerate(list(g.inputs)):
            if v.dtype is not DType.FLOAT32 or v not in self.ranges:
                continue
            new = Value(TensorType(self.ACT, v.shape, self._act_params(*self.ranges[v])), v.name)
            new.graph = g
            g.inputs[i] = new
            self.q[v] = new
            self.gone.add(v)

    def _outputs(self) -> None:
        g = self.graph
        outs = []
        for o in g.outputs:
            name = o.name
            if self.io_int8 and o.dtype is DType.FLOAT32 and (o in self.q or o in self.ranges):
                qv = self._int8_of(o)
                if o not in self.gone:
                    o.name = name + "/float"
                qv.name = name
                outs.append(qv)
            elif o in self.gone:
                self.q[o].name = name + "/int8"
                f = self._float_of(o)
                f.name = name
                outs.append(f)
            else:
                outs.append(o)
        g.outputs = outs
        for v in list(g.inputs):
            if v in self.gone and not v.has_uses():
                g.remove_input(v)

    # -- legality ------------------------------------------------------------------------------
    def _has_q(self, v: Value) -> bool:
        return v in self.q or v in self.ranges or v.is_const()

    def _quantizable(self, node: Node) -> bool:
        op = node.op
        if node in self.keep_float or self._logits_fc(node):
            return False
        if op in SPLITS:
            data = node.inputs[SPLITS[op]]
            return (data.dtype is DType.FLOAT32 and not data.is_const() and self._has_q(data)
                    and all(o.dtype is DType.FLOAT32 for o in node.outputs))
        if op not in self.OPS or len(node.outputs) != 1 or node.outputs[0].dtype is not DType.FLOAT32:
            return False
        if op == "tfl.softmax" and not self.integer_only and (self._float_output(node.outputs[0])
                                                             or self._masked_scores(node.inputs[0])):
            return False
        if node.attrs.get("fused_activation_function", "NONE") not in QUANTIZED_ACTIVATIONS:
            return False
        out = node.outputs[0]
        if op in WEIGHTED:
            x, w = node.inputs[0], node.inputs[1]
            bias = node.inputs[2] if len(node.inputs) > 2 else None
            return (self._has_q(x) and not x.is_const() and w.is_const() and w.dtype is DType.FLOAT32
                    and (bias is None or bias.is_const()) and out in self.ranges)
        if op == MEAN:
            return self._spatial_mean(node) and out in self.ranges
        if op in ARITHMETIC or op == CONCAT:
            return all(v.dtype is DType.FLOAT32 and self._has_q(v) for v in node.inputs) and out in self.ranges
        x = node.inputs[0]
        if x.dtype is not DType.FLOAT32 or not self._has_q(x) or (x.is_const() and op not in TABLE_OPS):
            return False
        return all(not v.dtype.is_float for v in node.inputs[1:])

    def _spatial_mean(self, node: Node) -> bool:
        """A MEAN over axes 1, 2 of a 4-D float tensor: the case LiteRT's int8 MEAN kernels handle
        with a fixed-point multiplier (reference) and an optimized loop; other axes stay float."""
        x, axes = node.inputs[0], node.inputs[1].const_value()
        if x.dtype is not DType.FLOAT32 or x.is_const() or not self._has_q(x) or axes is None:
            return False
        rank = len(x.shape) if x.shape is not None else 0
        return rank == 4 and sorted({int(a) % 4 for a in np.asarray(axes).reshape(-1)}) == list(SPATIAL_AXES)

    def _logits_fc(self, node: Node) -> bool:
        """A FULLY_CONNECTED whose only reader is an output softmax kept float (the logits of a
        language model). int8 logits (step 0.17 over the demo LM's [-34, 10]) tie and reorder the
        top candidates: with the other two rules, top-1 vs float 0.949 int8 -> 0.981 hybrid over
        2000 held-out steps. Also any layer the accuracy budget made hybrid."""
        if node in self.hybrid_layers:
            return True
        if (self.integer_only or node.op != "tfl.fully_connected" or node.outputs[0].dtype is not DType.FLOAT32
                or node in self.float_layers):
            return False
        w, uses = node.inputs[1], node.outputs[0].uses()
        return (w.is_const() and w.dtype is DType.FLOAT32 and all(v.is_const() for v in node.inputs[2:])
                and len(uses) == 1 and not node.outputs[0].is_graph_output()
                and uses[0].node.op == "tfl.softmax" and self._float_output(uses[0].node.outputs[0]))

    def _make_hybrid(self, node: Node) -> None:
        """LiteRT's hybrid FULLY_CONNECTED: int8 weights (the file shrinks as in int8), float input
        quantized per call (asymmetric), int32 accumulation, float output. Its input usually is
        the last hidden state, whose DEQUANTIZE the state output already needs."""
        wv = node.inputs[1]
        qw, wqp = per_channel_weights(wv.const_value(), self._weight_axis(node.op, wv))
        if node in self.moments:
            rounded = gptq.quantize_weights(node.op, wv.const_value(), wqp.scale, self.moments[node])
            qw = qw if rounded is None else rounded
        node.set_input(1, const_with_quant(Builder(self.graph, before=node), qw, DType.INT8, wqp,
                                           wv.name or node.name + "/weights"))
        node.attrs["asymmetric_quantize_inputs"] = True

    def hybrid_by_default(self, node: Node) -> bool:
        """The logits rule below makes ``node`` hybrid without the budget's asking."""
        return node not in self.hybrid_layers and self._logits_fc(node)

    def _int16_ok(self, node: Node) -> bool:
        x, w, out = node.inputs[0], node.inputs[1], node.outputs[0]
        return (x.dtype is DType.FLOAT32 and not x.is_const() and x in self.ranges and out in self.ranges
                and w.is_const() and w.dtype is DType.FLOAT32 and all(v.is_const() for v in node.inputs[2:])
                and out.dtype is DType.FLOAT32 and len(node.outputs) == 1
                and node.attrs.get("fused_activation_function", "NONE") in QUANTIZED_ACTIVATIONS)

    def _rewrite_int16(self, node: Node) -> None:
        """A 16x8 FULLY_CONNECTED inside the int8 model: float input -> QUANTIZE int16 -> FULLY_CONNECTED
        (int8 weights per channel, int64 bias) -> int16 -> DEQUANTIZE -> float, which the walk then
        treats as any float value. The input comes through float because LiteRT's QUANTIZE takes
        no int8 -> int16, its MUL no int8 x int16, and an int8-in/int16-out FULLY_CONNECTED gave wrong
        values (LiteRT 2.3); int16 -> float is one DEQUANTIZE. Size: the int8 layer's, bias 4 bytes
        more per channel."""
        b = Builder(self.graph, before=node)
        x, wv, out = node.inputs[0], node.inputs[1], node.outputs[0]
        xf = self._float_of(x) if x in self.gone else x
        xp = symmetric_params(*self.ranges[x], INT16_MAX)
        x16 = b.op("tfl.quantize", [xf], output_types=[TensorType(DType.INT16, x.shape, xp)],
                   name=(x.name or "value") + "/int16")
        qw, wqp = per_channel_weights(wv.const_value(), self._weight_axis(node.op, wv))
        if node in self.moments:
            rounded = gptq.quantize_weights(node.op, wv.const_value(), wqp.scale, self.moments[node])
            qw = qw if rounded is None else rounded
        inputs = [x16, const_with_quant(b, qw, DType.INT8, wqp, wv.name or node.name + "/weights")]
        if len(node.inputs) > 2 and not self._zero_fc_bias(node):
            bv = node.inputs[2]
            qb, bqp = bias_int32(bv.const_value(), xp.scale[0], wqp, DType.INT64)
            inputs.append(const_with_quant(b, qb, DType.INT64, bqp, bv.name or node.name + "/bias"))
        name = out.name
        op = b.create(node.op, inputs, dict(node.attrs), meta=dict(node.meta), name=(name or "fc") + "/int16",
                      output_types=[TensorType(DType.INT16, out.shape, symmetric_params(*self.ranges[out], INT16_MAX))])
        f = b.op("tfl.dequantize", op.outputs, output_types=[TensorType(DType.FLOAT32, out.shape)])
        out.name = (name or "fc") + "/float"
        out.replace_all_uses_with(f)
        f.name = name
        self.ranges[f] = self.ranges[out]

    def _masked_scores(self, v: Value) -> bool:
        """Attention scores with a mask's large negative fill (-1e9): one int8 scale over [-1e9, max]
        turns every score into the same value, so that softmax stays float (decode-step's attention
        reads float caches through a float BATCH_MATMUL either side of it anyway)."""
        lo = self.ranges.get(v, (0.0, 0.0))[0]
        return lo <= MASKED_SCORES_BELOW

    def _float_output(self, v: Value) -> bool:
        """A float model output over many classes: a softmax there stays float, because int8
        probabilities (scale 1/256) round every class below 0.4% to one value and scramble the
        top-k of e.g. a language model's vocabulary."""
        classes = v.shape[-1] if v.shape else None
        return (not self.io_int8 and v in self.graph.outputs
                and (classes is None or classes > FLOAT_SOFTMAX_MIN_CLASSES))

    # -- rewriting -----------------------------------------------------------------------------
    def _rewrite(self, node: Node) -> None:
        b = Builder(self.graph, before=node)
        if node.op in SPLITS:
            return self._rewrite_split(b, node)
        if node.op == MEAN:
            return self._rewrite_mean(b, node)
        out = node.outputs[0]
        op = node.op
        if op in WEIGHTED:
            inputs = self._weighted_inputs(b, node)
            params = self._params(out)
        elif op in self.FIXED_OUTPUT:
            inputs = [self._int8_of(node.inputs[0])]
            params = self.FIXED_OUTPUT[op]
        elif op in SAME_SCALE:
            x = self._int8_of(node.inputs[0])
            inputs = [x] + node.inputs[1:]
            params = x.quant
        elif op == CONCAT:
            params = self._params(out)
            inputs = [self._concat_input(b, v, params) for v in node.inputs]
        else:
            inputs = [self._int8_of(v) for v in node.inputs]
            params = self._params(out)
        new = b.create(op, inputs, self._attrs(node), output_types=[TensorType(self.ACT, out.shape, params)],
                       name=out.name, meta=dict(node.meta))
        self.q[out] = new.outputs[0]
        self.gone.add(out)

    def _rewrite_split(self, b: Builder, node: Node) -> None:
        index = SPLITS[node.op]
        x = self._int8_of(node.inputs[index])
        inputs = list(node.inputs)
        inputs[index] = x
        types = [TensorType(self.ACT, o.shape, x.quant) for o in node.outputs]
        new = b.create(node.op, inputs, dict(node.attrs), output_types=types, meta=dict(node.meta), name=node.name)
        for old, qv in zip(node.outputs, new.outputs):
            qv.name = old.name
            self.q[old] = qv
            self.gone.add(old)

    def _rewrite_mean(self, b: Builder, node: Node) -> None:
        """MEAN with keep_dims (LiteRT's int8 fast path needs it), then a RESHAPE when the float
        MEAN dropped the reduced axes (Keras GlobalAveragePooling2D does)."""
        out = node.outputs[0]
        x = self._int8_of(node.inputs[0])
        params = self._params(out)
        kept_shape = (x.shape[0], 1, 1, x.shape[3])
        axes = b.const(np.array(SPATIAL_AXES, np.int32), name=(out.name or "mean") + "/axes")
        keep = b.create(MEAN, [x, axes], {"keep_dims": True}, output_types=[TensorType(self.ACT, kept_shape, params)],
                        name=out.name if tuple(out.shape) == kept_shape else (out.name or "mean") + "/keep_dims",
                        meta=dict(node.meta)).outputs[0]
        if tuple(out.shape) != kept_shape:
            shape = b.const(np.array(out.shape, np.int32), name=(out.name or "mean") + "/shape")
            keep = b.op("tfl.reshape", [keep, shape], output_types=[TensorType(self.ACT, out.shape, params)], name=out.name)
        self.q[out] = keep
        self.gone.add(out)

    def _weighted_inputs(self, b: Builder, node: Node):
        x = self._int8_of(node.inputs[0])
        wv = node.inputs[1]
        qw, wqp = per_channel_weights(wv.const_value(), self._weight_axis(node.op, wv), keep_sums=node.op in KEEP_SUM_OPS)
        if node in self.moments:  # rounded for the least output error on the calibration data
            rounded = gptq.quantize_weights(node.op, wv.const_value(), wqp.scale, self.moments[node])
            qw = qw if rounded is None else rounded
        w = const_with_quant(b, qw, DType.INT8, wqp, wv.name or node.name + "/weights")
        inputs = [x, w]
        if len(node.inputs) > 2 and not self._zero_fc_bias(node):
            bv = node.inputs[2]
            qb, bqp = bias_int32(bv.const_value(), x.quant.scale[0], wqp, self.BIAS)
            inputs.append(const_with_quant(b, qb, self.BIAS, bqp, bv.name or node.name + "/bias"))
        return inputs

    @staticmethod
    def _zero_fc_bias(node: Node) -> bool:
        """An all-zero FULLY_CONNECTED bias is left out (the operand is optional), as TF's converter
        does: its int32 values and per-channel scales would cost 16 bytes per output for nothing."""
        bias = node.inputs[2].const_value()
        return node.op == "tfl.fully_connected" and bias is not None and not np.any(bias)

    def _weight_axis(self, op: str, w: Value):
        """Per-channel axis, short FULLY_CONNECTED rows included: per-tensor weights for rows under
        256 (24 bytes of scale and zero point saved per channel) cost the zoo's LSTMs up to 2 points
        of top-1 (lstm128x2-stdlib 0.992 per channel vs 0.973; docs/quantization.md). ``per_tensor_fc``
        (the armnn target) gives every FULLY_CONNECTED one scale."""
        if op == "tfl.fully_connected" and self.per_tensor_fc:
            return None
        return WEIGHTED[op]

    def _params(self, v: Value) -> QuantParams:
        return self._act_params(*self.ranges[v])

    def _act_params(self, lo: float, hi: float) -> QuantParams:
        """int8 activations: asymmetric, the range widened to contain 0."""
        return activation_params(lo, hi)

    def _attrs(self, node: Node) -> dict:
        """The quantized node's attributes (int16 ADD/SUB change one)."""
        return dict(node.attrs)

    def _concat_input(self, b: Builder, v: Value, params: QuantParams) -> Value:
        """``v`` at the concatenation's ``params``: its int8 twin requantized, or with ``float_requantize``
        its float value quantized once (a value first quantized here gets the concatenation's params)."""
        if not self.float_requantize:
            return self._requantized(b, self._int8_of(v), params)
        if v not in self.q:
            return self._int8_of(v, params)
        if self.q[v].quant == params:
            return self.q[v]
        source = self._float_of(v) if v in self.gone else v
        return b.op("tfl.quantize", [source], output_types=[TensorType(self.ACT, v.shape, params)],
                    name=(v.name or "value") + "/requantized")

    def _requantized(self, b: Builder, qv: Value, params: QuantParams) -> Value:
        if qv.quant == params:
            return qv
        return b.op("tfl.quantize", [qv], output_types=[TensorType(self.ACT, qv.shape, params)],
                    name=(qv.name or "value") + "/requantized")

    def _int8_of(self, v: Value, params: Optional[QuantParams] = None) -> Value:
        """The int8 twin of float ``v``: a quantized constant, or a QUANTIZE right after ``v``; at
        ``params`` if given and ``v`` has no twin yet, else at its own range."""
        if v in self.q:
            return self.q[v]
        arr = v.const_value()
        if arr is not None:
            params = params or self._act_params(float(np.min(arr)), float(np.max(arr)))
            info = np.iinfo(self.ACT.np)
            qarr = quantize_array(arr, params, int(info.min), int(info.max))
            qv = const_with_quant(Builder(self.graph, after=v.producer), qarr, self.ACT, params,
                                  (v.name or "const") + "/" + self.ACT.np.name)
        else:
            params = params or self._act_params(*self.ranges[v])
            qv = insert_point(self.graph, v).op("tfl.quantize", [v], output_types=[TensorType(self.ACT, v.shape, params)],
                                                name=(v.name or "value") + "/quantized")
        self.q[v] = qv
        return qv

    def _float_of(self, v: Value) -> Value:
        """A float view of a replaced value, through one shared DEQUANTIZE."""
        if v not in self.deq:
            qv = self.q[v]
            self.deq[v] = insert_point(self.graph, qv).op(
                "tfl.dequantize", [qv], output_types=[TensorType(DType.FLOAT32, v.shape)], name=(v.name or "value") + "/dequantized")
        return self.deq[v]
