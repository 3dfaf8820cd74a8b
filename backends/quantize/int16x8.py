"""16x8 mode: int16 activations, int8 weights, int64 biases.

What TFLite calls ``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``:
activations int16, symmetric (zero point 0, scale max|x| / 32767); weights int8
symmetric per channel, as in int8 mode; FULLY_CONNECTED / CONV_2D /
DEPTHWISE_CONV_2D biases int64 (scale input_scale * weight_scale); LOGISTIC,
TANH and SOFTMAX outputs at scale 1/32768, zero point 0; ADD and SUB with
``pot_scale_int16=false`` (general scales). The int8 rewriter does the walk
(int8.py); this class changes the types and drops the float islands int8 keeps
for recurrent LMs (float cell state, hybrid logits, float output softmax): a
cell state or a logit on 65,536 levels is what those islands stand in for.
Ops without an int16 kernel in LiteRT stay float between DEQUANTIZE/QUANTIZE.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node
from litesmith.ir.types import QuantParams

from .int8 import INT8_OPS, INT16_MAX, Int8Rewriter, Ranges
from .params import f32, symmetric_params

FIXED_OUTPUT_16 = {op: QuantParams((f32(1 / 32768),), (0,)) for op in ("tfl.logistic", "tfl.tanh", "tfl.softmax")}
POT_SCALE_OPS = ("tfl.add", "tfl.sub")  # their int16 kernels assume power-of-two scales unless told otherwise


def quantize_int16x8(graph: Graph, ranges: Ranges, report: dict,
                     moments: Optional[Dict[Node, np.ndarray]] = None) -> Graph:
    """Rewrite ``graph`` to 16x8 from calibrated ``ranges`` (model inputs/outputs stay float32)."""
    Int16x8Rewriter(graph, ranges, "float32", moments=moments).run(report)
    report["int16_ops"] = report.pop("int8_ops")
    return graph


class Int16x8Rewriter(Int8Rewriter):
    ACT = DType.INT16
    BIAS = DType.INT64
    FIXED_OUTPUT = FIXED_OUTPUT_16
    OPS = INT8_OPS

    def __init__(self, graph: Graph, ranges: Ranges, io_dtype: str, moments=None):
        super().__init__(graph, ranges, io_dtype, integer_only=True, moments=moments)
        self.ranges = dict(ranges)  # int8's saturation clipping is for int8 LOGISTIC/TANH steps

    def _act_params(self, lo: float, hi: float) -> QuantParams:
        return symmetric_params(lo, hi, INT16_MAX)

    def _attrs(self, node: Node) -> dict:
        attrs = dict(node.attrs)
        if node.op in POT_SCALE_OPS:
            attrs["pot_scale_int16"] = False
        return attrs
