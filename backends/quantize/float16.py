"""float16 mode: float32 weights stored as float16, widened once by DEQUANTIZE (as TF's converter does)."""
from __future__ import annotations

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph
from litesmith.ir.types import TensorType

from .rewrite import const_with_quant

# Constants smaller than this stay float32: scalars and tiny vectors gain nothing.
MIN_ELEMENTS = 16


def quantize_float16(graph: Graph, report: dict) -> Graph:
    converted = 0
    for node in graph.nodes:
        if node.op != "core.const":
            continue
        v = node.outputs[0]
        arr = node.attrs["value"]
        if not isinstance(arr, np.ndarray) or arr.dtype != np.float32 or arr.size < MIN_ELEMENTS or not v.num_uses():
            continue
        b = Builder(graph, after=node)
        half = const_with_quant(b, arr.astype(np.float16), DType.FLOAT16, None, v.name + "/f16" if v.name else "")
        widened = b.op("tfl.dequantize", [half], output_types=[TensorType(DType.FLOAT32, arr.shape)],
                       name=v.name + "/dequantize" if v.name else "")
        for use in v.uses():
            use.node.set_input(use.index, widened)
        converted += 1
    report["float16_constants"] = converted
    return graph
