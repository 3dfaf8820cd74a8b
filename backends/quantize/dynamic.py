"""dynamic mode: int8 weights, float activations.

FULLY_CONNECTED and CONV_2D get LiteRT's hybrid kernels (int8 weights read
directly; FULLY_CONNECTED quantizes its input per row with
asymmetric_quantize_inputs). DEPTHWISE_CONV_2D, BATCH_MATMUL and GATHER (embedding tables) have no
hybrid kernel we rely on, so their int8 weights are widened by a DEQUANTIZE
that LiteRT evaluates once at load (constant input): the file shrinks, the
math stays float.
"""
from __future__ import annotations

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node
from litesmith.ir.types import TensorType

from .params import KEEP_SUM_OPS, per_channel_weights
from .rewrite import const_with_quant

# Weight tensors with fewer elements stay float, as in TF's converter. In a CNN these are the first
# layers (MobileNetV2: the stem conv, 864 weights, and the first depthwise/pointwise pair): every later
# layer carries their rounding error, and they are a few KB. MobileNetV2 (docs/benchmarks.md section 5)
# with 256: top-1 agreement with float 92.1%, logit error 3.8% of a row's spread; with 1024: 95.1%, 2.6%.
MIN_ELEMENTS = 1024

# op -> (weight operand index, per-channel axis or None, hybrid kernel?)
_WEIGHTS = {
    "tfl.fully_connected": (1, 0, True),
    "tfl.conv_2d": (1, 0, True),
    "tfl.depthwise_conv_2d": (1, 3, False),
    "tfl.batch_matmul": (1, None, False),
    "tfl.gather": (0, None, False),  # an embedding table: int8 in the file, widened once at load
}


def quantize_dynamic(graph: Graph, report: dict) -> Graph:
    done = {"hybrid": 0, "dequantized_weights": 0}
    for node in graph.nodes:
        spec = _WEIGHTS.get(node.op)
        if spec is None or node.inputs[0].dtype is not DType.FLOAT32:
            continue
        index, axis, hybrid = spec
        if node.op == "tfl.batch_matmul" and not node.attrs.get("adj_y"):
            axis = (node.inputs[index].rank or 1) - 1  # output channels are the last axis of y
        w = node.inputs[index].const_value()
        if w is None or w.dtype.kind != "f" or w.size < MIN_ELEMENTS:
            continue
        _quantize_weight(graph, node, index, axis, hybrid)
        done["hybrid" if hybrid else "dequantized_weights"] += 1
    report["dynamic"] = done
    return graph


def _quantize_weight(graph: Graph, node: Node, index: int, axis, hybrid: bool) -> None:
    wv = node.inputs[index]
    q, qp = per_channel_weights(wv.const_value(), axis, keep_sums=node.op in KEEP_SUM_OPS)
    b = Builder(graph, before=node)
    qw = const_with_quant(b, q, DType.INT8, qp, (wv.name or node.name) + "/int8")
    if hybrid:
        node.set_input(index, qw)
        if node.op == "tfl.fully_connected":
            node.attrs["asymmetric_quantize_inputs"] = True
        return
    widened = b.op("tfl.dequantize", [qw], output_types=[TensorType(DType.FLOAT32, q.shape)],
                   name=(wv.name or node.name) + "/dequantize")
    node.set_input(index, widened)
