"""``embedding-one-hot``: an embedding GATHER as a one-hot row times the table, for engines without GATHER.

Arm NN 20.08's TFLite parser has no GATHER (nor ONE_HOT, EQUAL or CAST), so a
language model's embedding lookup does not load there. It has SUB, MUL and
FULLY_CONNECTED: with the token ids given as float32 (exact below 2^24),

    one_hot = relu(1 - (ids - [0, 1, ..., V-1])^2)      # float: 1 at the id, 0 elsewhere
    rows    = FULLY_CONNECTED(one_hot, table^T)

picks the rows. On an int8 table (the pass runs after quantization) the
one-hot is quantized exactly (scale 1/255, zero point -128: 0 and 1 are -128 and
127), the weights are the table's own int8 values (per tensor, its scale) and a
bias of -255 * zero_point makes the accumulator 255 * (q - zero_point): the
output, at the table's scale and zero point, is the gathered int8 row exactly
(the multiplier 1/255 leaves no rounding tie), in fixed-point and float
requantization alike. The token-id input becomes float32; a GATHER whose ids
are not a graph input (or are read by anything else) stays.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from litesmith.backends.quantize.rewrite import const_with_quant
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.types import QuantParams, TensorType
from litesmith.passes.pass_base import Pass, PassContext
from litesmith.passes.registry import register_pass

__all__ = ["EmbeddingOneHot"]

ONE_HOT_INT8 = QuantParams((1 / 255,), (-128,))  # [0, 1] exactly: 0 -> -128, 1 -> 127


@register_pass("embedding-one-hot")
@dataclass
class EmbeddingOneHot(Pass):
    """rewrite tfl.gather(constant table [V, D], graph-input ids) as a one-hot FULLY_CONNECTED (float ids in).

    Report: ``rewritten`` (how many GATHER ops), ``float_ids`` (the inputs now float32)."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        by_ids: Dict[Value, List[Node]] = {}
        for node in graph:
            if node.op == "tfl.gather" and self._table_lookup(node):
                by_ids.setdefault(node.inputs[1], []).append(node)
        rewritten, inputs = 0, []
        for ids, gathers in by_ids.items():
            if len(ids.uses()) != len(gathers) or ids.is_graph_output():  # read elsewhere too: they stay int
                continue
            float_ids = self._float_input(graph, ids)
            for node in gathers:
                self._rewrite(graph, node, float_ids)
                rewritten += 1
            inputs.append(float_ids.name)
        ctx.report["rewritten"] = rewritten
        ctx.report["float_ids"] = inputs
        return bool(rewritten)

    @staticmethod
    def _table_lookup(node: Node) -> bool:
        table, ids = node.inputs[0], node.inputs[1]
        quant = table.type.quant
        return (node.attrs.get("axis", 0) == 0 and node.attrs.get("batch_dims", 0) == 0 and table.is_const()
                and node.outputs[0].dtype is table.dtype  # not a hybrid lookup (int8 table, float rows)
                and table.shape is not None and len(table.shape) == 2 and ids.shape is not None
                and ids.producer is None and ids.graph is not None and ids in ids.graph.inputs
                and ids.dtype in (DType.INT32, DType.INT64)
                and (table.dtype is DType.FLOAT32 or (table.dtype is DType.INT8 and quant is not None
                                                      and len(quant.scale) == 1)))

    @staticmethod
    def _float_input(graph: Graph, ids: Value) -> Value:
        new = Value(TensorType(DType.FLOAT32, ids.shape), ids.name)
        new.graph = graph
        graph.inputs[graph.inputs.index(ids)] = new
        ids.replace_all_uses_with(new)
        ids.graph = None
        return new

    @staticmethod
    def _rewrite(graph: Graph, node: Node, ids: Value) -> None:
        table, out = node.inputs[0], node.outputs[0]
        vocab, dim = table.shape
        n = int(np.prod(ids.shape, dtype=np.int64))
        b = Builder(graph, before=node)
        column = b.op("tfl.reshape", [ids, b.const(np.array([n, 1], np.int32))])
        positions = b.const(np.arange(vocab, dtype=np.float32).reshape(1, vocab), name=(out.name or "gather") + "/positions")
        distance = b.op("tfl.sub", [column, positions], {"fused_activation_function": "NONE", "pot_scale_int16": True})
        square = b.op("tfl.mul", [distance, distance], {"fused_activation_function": "NONE"})
        one_hot = b.op("tfl.sub", [b.const(np.ones((1, 1), np.float32)), square],
                       {"fused_activation_function": "RELU", "pot_scale_int16": True}, name=(out.name or "gather") + "/one_hot")
        attrs = {"fused_activation_function": "NONE", "keep_num_dims": False, "weights_format": "DEFAULT",
                 "asymmetric_quantize_inputs": False}
        values = table.const_value()
        if table.dtype is DType.FLOAT32:
            weights = b.const(np.ascontiguousarray(values.T), name=(table.name or "table") + "/transposed")
            rows = b.op("tfl.fully_connected", [one_hot, weights], attrs, output_types=[TensorType(DType.FLOAT32, (n, dim))])
        else:
            scale, zero = table.type.quant.scale[0], table.type.quant.zero_point[0]
            q = b.op("tfl.quantize", [one_hot], output_types=[TensorType(DType.INT8, (n, vocab), ONE_HOT_INT8)])
            weights = const_with_quant(b, np.ascontiguousarray(values.T), DType.INT8, QuantParams((scale,), (0,)),
                                       (table.name or "table") + "/transposed")
            bias_scale = float(np.float32(np.float32(ONE_HOT_INT8.scale[0]) * np.float32(scale)))
            bias = const_with_quant(b, np.full(dim, -255 * zero, np.int32), DType.INT32, QuantParams((bias_scale,), (0,)),
                                    (table.name or "table") + "/zero_point_bias")
            rows = b.op("tfl.fully_connected", [q, weights, bias], attrs,
                        output_types=[TensorType(DType.INT8, (n, dim), table.type.quant)])
        if tuple(out.shape) != (n, dim):
            rows = b.op("tfl.reshape", [rows, b.const(np.array(out.shape, np.int32))],
                        output_types=[TensorType(out.dtype, out.shape, out.type.quant)])
        out.replace_all_uses_with(rows)
        graph.remove(node)
        rows.name = out.name
        if not table.has_uses() and not table.is_graph_output():
            graph.remove(table.producer)
