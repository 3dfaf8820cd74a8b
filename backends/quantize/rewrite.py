"""Helpers shared by the quantization rewrites: constants with quant params, insertion points."""
from __future__ import annotations

from typing import Optional

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Value
from litesmith.ir.types import QuantParams, TensorType


def const_with_quant(b: Builder, arr: np.ndarray, dtype: DType, quant: Optional[QuantParams], name: str) -> Value:
    """A ``core.const`` whose result type carries ``quant``."""
    arr = np.asarray(arr).astype(dtype.np, copy=False)
    node = b.create("core.const", [], {"value": arr}, output_types=[TensorType(dtype, arr.shape, quant)], name=name)
    return node.outputs[0]


def insert_point(graph: Graph, v: Value) -> Builder:
    """A builder placing nodes right after ``v`` is defined (graph start for inputs)."""
    if v.producer is not None:
        return Builder(graph, after=v.producer)
    first = next(iter(graph), None)
    return Builder(graph, before=first) if first is not None else Builder(graph)
