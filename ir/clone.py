"""Deep copy of a graph that shares constant tensors.

``litesmith.compile`` lowers and quantizes a copy, so the caller's graph stays
as it was: a failed compile leaves nothing half-lowered, and one loaded graph
can be compiled in several modes. Numpy arrays (constant values) are shared,
not copied, so a copy of a 100 MB model costs node objects, not weights; the
shared arrays are made read-only so no pass can change both graphs at once.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

import numpy as np

from .graph import Graph, Node, Value


def clone_graph(graph: Graph, node_map: Optional[Dict[Node, Node]] = None) -> Graph:
    """A structurally independent copy of ``graph`` (regions included).

    ``node_map``, when given, is filled with original node -> its copy."""
    return _clone(graph, {}, node_map if node_map is not None else {})


def _clone(graph: Graph, values: Dict[Value, Value], nodes: Dict[Node, Node]) -> Graph:
    # Regions are isolated from above, but a shared ``values`` map costs nothing and
    # keeps the copy correct even for a region that (wrongly) reaches out.
    out = Graph(graph.name)
    out.meta = _copy_attr(graph.meta)
    for v in graph.inputs:
        values[v] = out.add_input(v.type, v.name)
    for node in graph:
        copied = Node(
            node.op,
            [values[v] for v in node.inputs],
            attrs={k: _copy_attr(a) for k, a in node.attrs.items()},
            output_types=[v.type for v in node.outputs],
            regions=[_clone(r, values, nodes) for r in node.regions],
            meta=_copy_attr(node.meta),
            output_names=[v.name for v in node.outputs],
        )
        for old, new in zip(node.outputs, copied.outputs):
            values[old] = new
        nodes[node] = copied
        out.append(copied)
    out.outputs = [values[v] for v in graph.outputs]
    return out


def _copy_attr(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
        return value
    if isinstance(value, dict):
        return {k: _copy_attr(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_attr(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy_attr(v) for v in value)
    return copy.deepcopy(value)
