"""Lowerings of loops and conditionals to TFLite WHILE / IF, and of dynamic_update_slice.

``core.while`` and ``core.if`` keep their regions: the node is rebuilt as
``tfl.while`` / ``tfl.if`` holding the same region graphs (moved, not copied),
and the greedy driver lowers the ops inside them like any others. The writer
emits each region as a subgraph (WhileOptions / IfOptions name them) and the
reader lifts them back. Tensor lists must be gone by then: ``lower-tensor-lists``
turns them into tensors first, as TF's converter does (LowerStaticTensorList).
"""
from __future__ import annotations

from .lower import lowers


def _move_regions(node, lw, op, inputs):
    regions = list(node.regions)
    node.regions = []
    created = lw.b.create(op, list(inputs), {}, output_types=[v.type for v in node.outputs], regions=regions)
    lw.created.append(created)
    return list(created.outputs)


@lowers("core.while")
def lower_while(node, lw):
    """WHILE(init...) with cond and body subgraphs; ``max_iterations`` is a hint TFLite has no field for."""
    return _move_regions(node, lw, "tfl.while", node.inputs)


@lowers("core.if")
def lower_if(node, lw):
    """IF(cond, args...) with then and else subgraphs."""
    return _move_regions(node, lw, "tfl.if", node.inputs)


@lowers("core.dynamic_update_slice")
def lower_dynamic_update_slice(node, lw):
    x, update, start = node.inputs
    return [lw.op("tfl.dynamic_update_slice", [x, update, lw.as_i32(start)])]
