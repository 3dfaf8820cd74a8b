"""Choose, reorder and reshape a graph's inputs and outputs by value name.

The device graph often differs from the trained one at its edges: batch 1
instead of 8, a state tensor fed from outside, only some outputs wanted.
"""
from __future__ import annotations

import difflib
from typing import Dict, List, Mapping, Optional, Sequence

from .errors import UserError
from .graph import Graph, Value
from .reinfer import reinfer
from .types import make_shape

__all__ = ["override_io"]


def _values_by_name(graph: Graph) -> Dict[str, List[Value]]:
    table: Dict[str, List[Value]] = {}
    for v in graph.values():
        if v.name:
            table.setdefault(v.name, []).append(v)
    return table


def _lookup(table: Dict[str, List[Value]], name: str, what: str, known: Sequence[str]) -> Value:
    """The value called ``name`` (``x`` also finds ``x:0`` and vice versa)."""
    candidates = [name]
    if name.endswith(":0"):
        candidates.append(name[:-2])
    else:
        candidates.append(name + ":0")
    for c in candidates:
        found = table.get(c)
        if found:
            if len(found) > 1:
                raise UserError(f"{what} {name!r} is ambiguous: {len(found)} values have that name")
            return found[0]
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    shown = ", ".join(list(known)[:20]) + (", ..." if len(known) > 20 else "")
    raise UserError(f"unknown {what} {name!r}{hint} (known: {shown})")


def override_io(
    graph: Graph,
    inputs: Optional[Sequence[str]] = None,
    outputs: Optional[Sequence[str]] = None,
    input_shapes: Optional[Mapping[str, Sequence[Optional[int]]]] = None,
) -> Graph:
    """Change ``graph``'s inputs/outputs in place and return it.

    ``inputs``: names of the graph inputs, in the wanted order. A name of an
    inner value cuts the graph there: the value becomes an input (its
    producer is left for dead-code elimination). Unused inputs that are not
    named are dropped. ``outputs``: names of values to return, in order.
    ``input_shapes``: name -> dims (None or -1 = unknown); types downstream
    are re-inferred.
    """
    table = _values_by_name(graph)
    all_names = list(table)
    if inputs is not None:
        new_inputs: List[Value] = []
        for name in inputs:
            v = _lookup(table, name, "input", all_names)
            if v.producer is not None:
                v = _cut(graph, v)
            if any(x is v for x in new_inputs):
                raise UserError(f"input {name!r} is listed twice")
            new_inputs.append(v)
        for v in list(graph.inputs):
            if any(x is v for x in new_inputs):
                continue
            if v.num_uses():
                user = v.uses()[0].node
                raise UserError(f"graph input {v.name!r} is still used by {user.op} node "
                                f"{user.name!r}; keep it in the input list")
            v.graph = None
        graph.inputs = []
        for v in new_inputs:
            v.graph = graph
            graph.inputs.append(v)
        table = _values_by_name(graph)
    if outputs is not None:
        graph.outputs = [_lookup(table, name, "output", list(table)) for name in outputs]
    kept = {id(v) for v in graph.inputs}
    for v in graph.outputs:
        if v.producer is None and id(v) not in kept:
            raise UserError(f"graph input {v.name!r} is still returned as an output; keep it in the input list")
    changed: List[Value] = []
    if input_shapes:
        input_names = [v.name for v in graph.inputs]
        by_name = {v.name: [v] for v in graph.inputs}
        for name, dims in input_shapes.items():
            v = _lookup(by_name, name, "input (for input_shapes)", input_names)
            v.set_type(v.type.with_shape(make_shape(dims)))
            changed.append(v)
    if changed:
        reinfer(graph, changed)
    return graph


def _cut(graph: Graph, inner: Value) -> Value:
    """Replace an inner value by a new graph input of the same type and name."""
    if inner.producer.graph is not graph:
        raise UserError(f"value {inner.name!r} is inside a loop or branch region; only top-level values can become inputs")
    fresh = Value(inner.type, inner.name)
    inner.replace_all_uses_with(fresh)
    inner.name = ""  # the old producer is now dead; the name belongs to the input
    return fresh
