"""Shape arithmetic that folds although its operand is not constant.

``core.shape``/``core.size``/``core.rank`` only read the operand's type, so
they fold as soon as inference knows the shape. Foreign ``tf.*`` nodes that
stayed foreign because an axis-like operand was computed (the seed's
``softmax`` without ``axis`` computes ``rank - 1`` at run time) are re-lifted
once those operands are constants. fold-constants drives these rules in a
loop with ordinary constant folding and type re-inference until nothing
changes.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.graph import Graph, Node
from litesmith.ir.types import is_static

from .rewrite import replace_value

__all__ = ["fold_shape_queries", "relift_foreign_nodes"]

_QUERIES = ("core.shape", "core.size", "core.rank")


def _query_value(node: Node):
    """The constant result of a shape query, or None when the operand's shape is not known enough."""
    shape = node.inputs[0].shape
    if node.op == "core.rank":
        return None if shape is None else np.array(len(shape), np.int32)
    if not is_static(shape):
        return None
    dtype = node.attrs.get("dtype")
    np_dtype = dtype.np if dtype is not None else np.int32
    if node.op == "core.shape":
        return np.array(shape, np_dtype)
    return np.array(int(np.prod(shape, dtype=np.int64)), np_dtype)


def fold_shape_queries(graph: Graph, report: Dict[str, List[str]]) -> bool:
    """Replace shape/size/rank of statically shaped values by constants (regions included)."""
    changed = False
    for node in list(graph.walk()):
        if node.graph is None or node.op not in _QUERIES or len(node.inputs) != 1:
            continue
        value = _query_value(node)
        if value is None:
            continue
        b = Builder(node.graph, before=node)
        if node.meta.get("source"):
            b.meta = {"source": node.meta["source"]}
        const = b.const(value, name=node.output.name)
        replace_value(node.output, const)
        node.graph.remove(node)
        report.setdefault("shape_queries", []).append(f"{node.op} {node.name!r}")
        changed = True
    return changed


def relift_foreign_nodes(graph: Graph, report: Dict[str, List[str]]) -> bool:
    """Map foreign ``tf.*`` nodes whose operands are now all constant-or-known into core ops."""
    candidates = [n for n in graph.walk() if n.op.startswith("tf.") and not n.regions]
    if not candidates:
        return False
    try:  # the TF frontend is optional: without it foreign nodes simply stay
        from litesmith.frontends.tf.mapper import relift
    except ImportError:  # pragma: no cover
        return False
    changed = False
    for node in candidates:
        if node.graph is None:
            continue
        b = Builder(node.graph, before=node)
        values = relift(node, b)
        if values is None:
            continue
        for old, new in zip(node.outputs, values):
            replace_value(old, new)
        node.graph.remove(node)
        report.setdefault("relifted", []).append(f"{node.op} {node.name!r}")
        changed = True
    return changed
