"""Static result shapes the user declares for foreign ops (``--custom-shape OP:1x3``).

An op litesmith does not map (``tf.Lgamma``) has no inference: its result
shape is what the frontend recorded (TF's ``_output_shapes``) or unknown, and
an unknown shape stops the TFLite lowering even once the op is stubbed as a
custom op. The user knows the shape; this module writes it in and re-infers
what follows.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

from .errors import UserError
from .graph import Graph, Value
from .registry import get_op
from .reinfer import reinfer
from .types import make_shape

__all__ = ["declare_shapes"]


def declare_shapes(graph: Graph, shapes: Mapping[str, Sequence[Optional[int]]]) -> Graph:
    """Give foreign results the static shapes of ``shapes`` and re-infer downstream; return ``graph``.

    A key names a foreign result (``lg`` or ``node:1``), a foreign node (its
    first result) or a foreign op type (``Lgamma`` or ``tf.Lgamma``: the first
    result of every node of that op). A key that matches no foreign node is a
    UserError listing the foreign ops there are."""
    if not shapes:
        return graph
    foreign = [n for n in graph.walk() if get_op(n.op) is None and n.outputs]
    by_value: Dict[str, Value] = {v.name: v for n in foreign for v in n.outputs if v.name}
    by_node: Dict[str, List[Value]] = {}
    by_op: Dict[str, List[Value]] = {}
    for n in foreign:
        by_node.setdefault(n.name, []).append(n.outputs[0])
        source = n.meta.get("source")
        if source and source != n.name:
            by_node.setdefault(source, []).append(n.outputs[0])
        by_op.setdefault(n.op, []).append(n.outputs[0])
        by_op.setdefault(_bare(n.op), []).append(n.outputs[0])
    changed: List[Value] = []
    for key, dims in shapes.items():
        targets = _targets(key, by_value, by_node, by_op)
        if not targets:
            known = sorted({n.op for n in foreign})
            raise UserError(f"--custom-shape {key!r}: no foreign (unmapped) op, node or result has that name; "
                            + (f"the foreign ops are {', '.join(known)}" if known else "the graph has no foreign ops"))
        shape = make_shape(dims)
        for v in targets:
            if v.type.is_list:
                raise UserError(f"--custom-shape {key!r}: %{v.name} is a tensor list, not a tensor")
            if v.shape is not None and len(v.shape) != len(shape) or v.shape is not None and any(
                    a is not None and b is not None and a != b for a, b in zip(v.shape, shape)):
                raise UserError(f"--custom-shape {key!r}: %{v.name} already has shape {_text(v.shape)}, "
                                f"which {_text(shape)} contradicts")
            v.set_type(v.type.with_shape(shape))
            changed.append(v)
    reinfer(graph, changed)
    return graph


def _targets(key: str, by_value, by_node, by_op) -> List[Value]:
    if key in by_value:
        return [by_value[key]]
    base = key[:-2] if key.endswith(":0") else key
    if base in by_value:
        return [by_value[base]]
    return by_node.get(base) or by_op.get(base) or []


def _bare(op: str) -> str:
    return op.split(".", 1)[1] if "." in op else op


def _text(shape) -> str:
    return "?" if shape is None else "x".join("?" if d is None else str(d) for d in shape) or "scalar"

