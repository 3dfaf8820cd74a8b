"""Helpers shared by the quantization rewrites: cloning, constants with quant params."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.types import QuantParams, TensorType


def clone_graph(graph: Graph) -> Graph:
    """A deep copy (constants share their numpy arrays, which passes never mutate)."""
    mapping: Dict[int, Value] = {}
    return _clone_region(graph, mapping)


def _clone_region(graph: Graph, mapping: Dict[int, Value]) -> Graph:
    g = Graph(graph.name)
    g.meta = dict(graph.meta)
    for v in graph.inputs:
        mapping[id(v)] = g.add_input(v.type, v.name)
    for n in graph:
        regions = [_clone_region(r, mapping) for r in n.regions]
        node = Node(n.op, [mapping[id(v)] for v in n.inputs], dict(n.attrs), [v.type for v in n.outputs],
                    regions=regions, meta=dict(n.meta), output_names=[v.name for v in n.outputs])
        g.append(node)
        for old, new in zip(n.outputs, node.outputs):
            mapping[id(old)] = new
    g.outputs = [mapping[id(v)] for v in graph.outputs]
    return g


def const_with_quant(b: Builder, arr: np.ndarray, dtype: DType, quant: Optional[QuantParams], name: str) -> Value:
    """A ``core.const`` whose result type carries ``quant``."""
    arr = np.asarray(arr).astype(dtype.np)
    node = b.create("core.const", [], {"value": arr}, output_types=[TensorType(dtype, arr.shape, quant)], name=name)
    return node.outputs[0]


def remove_dead(graph: Graph) -> None:
    for node in reversed(graph.nodes):
        if node.graph is graph and not node.regions and not any(v.has_uses() for v in node.outputs):
            graph.remove(node)


def insert_point(graph: Graph, v: Value) -> Builder:
    """A builder placing nodes right after ``v`` is defined (graph start for inputs)."""
    if v.producer is not None:
        return Builder(graph, after=v.producer)
    first = next(iter(graph), None)
    return Builder(graph, before=first) if first is not None else Builder(graph)
