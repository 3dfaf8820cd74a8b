"""Shape arithmetic that folds although its operand is not constant.

``core.shape``/``core.size``/``core.rank`` only read the operand's type, so
they fold as soon as inference knows the shape. Foreign nodes (``tf.*``) that
stayed foreign because an axis-like operand was computed (the seed's
``softmax`` without ``axis`` computes ``rank - 1`` at run time) are re-lifted
once those operands are constants. fold-constants applies these rules node
by node in one ordered sweep, with ordinary constant folding and type
re-inference, so a chain of shape computations folds in one pass.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from litesmith.ir.builder import Builder, RecordingBuilder
from litesmith.ir.graph import Node
from litesmith.ir.registry import foreign_lifter, get_op
from litesmith.ir.types import is_static

from .rewrite import replace_value

__all__ = ["fold_shape_query", "relift_foreign_node"]

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


def _picked_dims(node: Node):
    """``gather(shape(x), indices)`` when every picked dim of ``x`` is known although others are not."""
    source, indices = node.inputs[0].producer, node.inputs[1].const_value()
    if source is None or source.op != "core.shape" or indices is None or node.attrs.get("axis", 0) != 0:
        return None
    shape = source.inputs[0].shape
    idx = np.asarray(indices)
    if shape is None or idx.dtype.kind not in "iu" or np.any(idx >= len(shape)) or np.any(idx < -len(shape)):
        return None
    dims = np.array([shape[int(i)] for i in idx.reshape(-1)], dtype=object)
    if any(d is None for d in dims):
        return None
    dtype = source.attrs.get("dtype")
    return dims.astype(dtype.np if dtype is not None else np.int32).reshape(idx.shape)


def fold_shape_query(node: Node, report: Dict[str, List[str]]) -> Optional[Node]:
    """Replace a shape/size/rank of a statically shaped value (or a gather of the known dims of a
    partly known shape) by a constant; return the constant's node."""
    if node.op == "core.gather" and len(node.inputs) == 2:
        value = _picked_dims(node)
    elif node.op not in _QUERIES or len(node.inputs) != 1:
        return None
    else:
        value = _query_value(node)
    if value is None:
        return None
    b = Builder(node.graph, before=node)
    if node.meta.get("source"):
        b.meta = {"source": node.meta["source"]}
    const = b.const(value, name=node.output.name)
    replace_value(node.output, const)
    node.graph.remove(node)
    report.setdefault("shape_queries", []).append(f"{node.op} {node.name!r}")
    return const.producer


def relift_foreign_node(node: Node, report: Dict[str, List[str]]) -> Optional[List[Node]]:
    """Map a foreign node whose operands are now constant-or-known into core ops.

    The mapping comes from the frontend that owns the node's dialect (the TF
    frontend registers ``tf``; see ``ir.registry.register_foreign_lifter``).
    Returns the new nodes (in graph order), or None when it stays foreign."""
    if node.regions or get_op(node.op) is not None:
        return None
    lifter = foreign_lifter(node.op)
    if lifter is None:
        return None
    b = RecordingBuilder(Builder(node.graph, before=node))
    values = lifter(node, b)
    if values is None:
        return None
    for old, new in zip(node.outputs, values):
        replace_value(old, new)
    node.graph.remove(node)
    report.setdefault("relifted", []).append(f"{node.op} {node.name!r}")
    return [n for n in b.created if n.graph is not None]
