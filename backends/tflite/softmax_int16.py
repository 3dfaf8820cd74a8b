"""``softmax-int16``: a wide int8 SOFTMAX computed in int16, for TFLite Micro.

TFLM's reference int8 SOFTMAX divides by the row's sum of ``exp(x - max)`` with
``gemmlowp::RoundingDivideByPOT(x, floor(log2(sum)) + 31 - 8)``, whose exponent
gemmlowp asserts is at most 31: the process aborts (SIGABRT, no message) once
the sum reaches 512, which a row of 512 classes or more reaches when its
scores are flat (MobileNetV2's 1000 classes with random weights, a trained
classifier on an image it is unsure of). Its int16 SOFTMAX accumulates in
Q16.15 (up to 65,536 classes) and has no such limit. So an int8 SOFTMAX over
``min_classes`` or more becomes QUANTIZE to int16 (the input's own scale,
zero point 0: every int8 value exactly), SOFTMAX int16 (output 1/32768, zero
point 0, as TFLM and LiteRT require) and QUANTIZE back to the int8 output's
scale and zero point.
"""
from __future__ import annotations

from dataclasses import dataclass

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph
from litesmith.ir.types import QuantParams, TensorType
from litesmith.passes.pass_base import Pass, PassContext
from litesmith.passes.registry import register_pass

__all__ = ["SoftmaxInt16", "TFLM_INT8_SOFTMAX_MAX_CLASSES"]

TFLM_INT8_SOFTMAX_MAX_CLASSES = 511  # each exp(x - max) is at most 1: 511 of them sum below 512
INT16_PROBS = QuantParams((1 / 32768,), (0,))


@register_pass("softmax-int16")
@dataclass
class SoftmaxInt16(Pass):
    """compute each int8 tfl.softmax over more than ``max_classes`` classes in int16, between two QUANTIZEs.

    Report: ``rewritten`` (how many SOFTMAX ops)."""

    max_classes: int = TFLM_INT8_SOFTMAX_MAX_CLASSES  # wider int8 rows than this are rewritten

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        rewritten = 0
        for node in graph:
            if node.op != "tfl.softmax":
                continue
            x, out = node.inputs[0], node.outputs[0]
            if (x.dtype is not DType.INT8 or out.dtype is not DType.INT8 or not x.shape
                    or x.shape[-1] is None or x.shape[-1] <= self.max_classes):
                continue
            name = out.name or "softmax"
            b = Builder(graph, before=node)
            wide = b.op("tfl.quantize", [x], name=name + "/int16_in",
                        output_types=[TensorType(DType.INT16, x.shape, QuantParams(x.type.quant.scale, (0,)))])
            probs = b.op("tfl.softmax", [wide], dict(node.attrs), name=name + "/int16",
                         output_types=[TensorType(DType.INT16, out.shape, INT16_PROBS)])
            narrow = b.op("tfl.quantize", [probs], output_types=[out.type])
            out.replace_all_uses_with(narrow)
            graph.remove(node)
            narrow.name = out.name
            rewritten += 1
        ctx.report["rewritten"] = rewritten
        return bool(rewritten)
