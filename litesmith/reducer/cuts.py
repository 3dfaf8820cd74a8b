"""Candidate graphs for the reducer: each is a clone of the current graph with one edit applied.

The current graph is never touched; an edit changes a clone (``ir/clone.py``)
and visits only the nodes it changes and their neighbours (uses, producers),
never every node of the graph. A candidate that breaks an IR rule is dropped
(``None``): the reducer only ever tests valid graphs.

What an edit means:
- removing a node: uses of its outputs by remaining nodes read new graph
  inputs of the same type; graph outputs it produced are dropped; an operand
  that loses its last use becomes a graph output (so a failure upstream stays
  observable); constants that lose their last use are dead and go.
- dropping graph outputs: the cones only they kept alive go at once (dead
  code removal from the dropped values, pure nodes only).
- replacing a constant or shrinking an input's dims: types are re-inferred
  downstream (``ir/reinfer.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set

import numpy as np

from litesmith.ir.clone import clone_graph
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.reinfer import reinfer
from litesmith.ir.types import TensorType
from litesmith.ir.verify import verify
from litesmith.passes.effects import is_pure

__all__ = ["Base", "Candidate", "remove_nodes", "drop_outputs", "retype"]

CONST = "core.const"


class Base:
    """The graph the reducer currently holds, with node positions (computed once per graph, not per edit)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.nodes: List[Node] = list(graph)
        self.position: Dict[Node, int] = {n: i for i, n in enumerate(self.nodes)}

    def movable(self) -> List[Node]:
        """Nodes the node phases remove: everything but constants (those follow their users)."""
        return [n for n in self.nodes if n.op != CONST]

    def constants(self) -> List[Node]:
        return [n for n in self.nodes if n.op == CONST]


@dataclass
class Candidate:
    graph: Graph
    nodes: Dict[Node, Node]         # base node -> its copy in ``graph`` (copies that were removed included)
    outputs: Dict[int, int]         # base output index -> candidate output index, for outputs kept

    def node(self, base_node: Node) -> Optional[Node]:
        copy = self.nodes.get(base_node)
        return copy if copy is not None and copy.graph is self.graph else None


def _clone(base: Base) -> Candidate:
    graph = clone_graph(base.graph)  # copies nodes in order: positions line up
    return Candidate(graph, dict(zip(base.nodes, graph)), {i: i for i in range(len(graph.outputs))})


def _finish(c: Candidate) -> Optional[Candidate]:
    if not c.graph.outputs:
        return None
    try:
        verify(c.graph)
    except Exception:  # noqa: BLE001 - an invalid candidate is simply not tested
        return None
    return c


def remove_nodes(base: Base, doomed: Iterable[Node]) -> Optional[Candidate]:
    """Remove ``doomed`` (nodes of ``base``); see the module docstring for what that means."""
    c = _clone(base)
    g = c.graph
    order = sorted({base.position[n] for n in doomed})
    gone = [c.nodes[base.nodes[i]] for i in order]
    gone_set: Set[Node] = set(gone)
    taken = {v.name for v in g.inputs}
    operands: Dict[int, Value] = {}
    for node in gone:
        for v in node.outputs:
            kept = [u for u in v.uses() if u.node not in gone_set]
            if kept:
                fresh = g.add_input(v.type, _fresh_name(v.name or "cut", taken))
                for u in kept:
                    u.node.set_input(u.index, fresh)
        for v in node.inputs:
            if v.producer not in gone_set:
                operands[id(v)] = v
    gone_values = {id(v) for n in gone for v in n.outputs}
    kept_outputs = [(i, v) for i, v in enumerate(g.outputs) if id(v) not in gone_values]
    c.outputs = {i: j for j, (i, _) in enumerate(kept_outputs)}
    g.outputs = [v for _, v in kept_outputs]
    for node in reversed(gone):  # users before producers: nothing removed is still used
        g.remove(node)
    output_names = {v.name for v in g.outputs}
    dead: List[Node] = []
    promoted: List[Value] = []
    for v in operands.values():
        if v.has_uses():
            continue
        if v.producer is None:
            g.remove_input(v)
        elif v.producer.op == CONST:
            dead.append(v.producer)
        else:  # keep what fed the removed nodes observable, under a name of its own
            v.name = _fresh_name(v.name or "out", output_names)
            promoted.append(v)
    g.outputs.extend(promoted)
    _sweep(g, dead)
    return _finish(c)


def drop_outputs(base: Base, indices: Iterable[int]) -> Optional[Candidate]:
    """Drop the graph outputs at ``indices`` and the cones only they kept alive."""
    c = _clone(base)
    g = c.graph
    drop = set(indices)
    dropped = [v for i, v in enumerate(g.outputs) if i in drop]
    kept = [(i, v) for i, v in enumerate(g.outputs) if i not in drop]
    c.outputs = {i: j for j, (i, _) in enumerate(kept)}
    g.outputs = [v for _, v in kept]
    _sweep(g, [v.producer for v in dropped if v.producer is not None], inputs=[v for v in dropped if v.producer is None])
    return _finish(c)


def retype(
    base: Base, inputs: Optional[Dict[int, Sequence[Optional[int]]]] = None, constants: Optional[Dict[Node, np.ndarray]] = None
) -> Optional[Candidate]:
    """New shapes for graph inputs (by index) and new values for constants, in one candidate;
    types downstream are re-inferred once (dims that must agree shrink together)."""
    c = _clone(base)
    changed: List[Value] = []
    for index, shape in (inputs or {}).items():
        v = c.graph.inputs[index]
        v.set_type(v.type.with_shape(tuple(shape)))
        changed.append(v)
    for const, value in (constants or {}).items():
        node = c.nodes[const]
        out = node.outputs[0]
        value = np.asarray(value)
        node.attrs["value"] = value
        new_type = TensorType(out.type.dtype, tuple(value.shape), out.type.quant)
        if new_type != out.type:
            out.set_type(new_type)
            changed.append(out)
    if changed:
        try:
            reinfer(c.graph, changed)
        except Exception:  # noqa: BLE001 - the new shapes do not fit some op: not a candidate
            return None
    return _finish(c)


def _sweep(g: Graph, nodes: List[Node], inputs: Sequence[Value] = ()) -> None:
    """Dead code removal that starts at ``nodes`` and follows producers: only what the edit touched."""
    work = list(nodes)
    unused_inputs = list(inputs)
    while work:
        node = work.pop()
        if node.graph is not g or any(v.has_uses() for v in node.outputs) or not is_pure(node):
            continue
        operands = node.inputs
        g.remove(node)
        for v in operands:
            if v.producer is not None:
                work.append(v.producer)
            else:
                unused_inputs.append(v)
    for v in unused_inputs:
        if v.graph is g and not v.has_uses():
            g.remove_input(v)


def _fresh_name(name: str, taken: Set[str]) -> str:
    out, i = name, 1
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    taken.add(out)
    return out
