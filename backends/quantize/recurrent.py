"""The additive recurrent state of a single-step model (an LSTM's cell state) stays float.

An LSTM carries its cell state c from step to step through elementwise ops
only (c' = f * c + i * g): nothing renormalizes it, so int8 rounding error
(step ~0.12 for the +-15 range of a trained 2x256 LM) is added again at every
step and accumulates; the hidden state h instead passes a FULLY_CONNECTED
and saturating gates each step, which bound its error. TFLite's own LSTM
kernels give the cell state 16 bits for this reason. Here the few ops on
that path (the MUL, the ADD, and the TANH reading the new state) run in
float: on 256-wide vectors they cost nothing measurable in LiteRT, the
state input and output need no QUANTIZE/DEQUANTIZE, and the weights (the
file size) are untouched. Measured on the demo LM, with the other two int8
rules: next-token top-1 vs the float model 0.966 -> 0.981 over 2000 held-out
steps (docs/quantization.md).

A GRU's state h is its own accumulator, h' = u * h + (1 - u) * c, and so is an
LSTM's c; the weights of that interpolation come from a LOGISTIC gate. In int8
the gate u is a LOGISTIC output on the 1/256 grid, at most 255/256, and 1 - u
is rounded again on the SUB's own grid: a unit that should keep its state
(u = 0.9995) loses 0.4% of it per step, and u + (1 - u) is not 1, so the
state is scaled by up to 1.002 each step. Both compound over the sequence.
So the whole state update stays float (``state_update_nodes``): every
elementwise op from which a state output is reached through elementwise ops
only, the LOGISTIC gates feeding them and the SPLIT that cuts the gates from
one FULLY_CONNECTED; the FULLY_CONNECTED layers stay int8 (the file's size is
unchanged). Measured on the zoo (benchmarks/quant_zoo.py): gru128x1 top-1 vs
float 0.927 -> 0.975 (TF's int8 0.962).
"""
from __future__ import annotations

from typing import Dict, List, Set

from litesmith.ir.graph import Graph, Node, Value

from .calibrate import state_pairs

ELEMENTWISE = {"tfl.add", "tfl.sub", "tfl.mul"}
READERS = {"tfl.tanh", "tfl.logistic"}  # activations of the state itself (an LSTM's tanh(c))
GATES = {"tfl.logistic"}  # the weights of a state update (GRU u, LSTM f, i, o)
GATE_MOVES = {"tfl.split", "tfl.split_v", "tfl.reshape"}  # between the gates' FULLY_CONNECTED and a gate


def accumulator_nodes(graph: Graph) -> Set[Node]:
    """Nodes on an elementwise-only path from a state input to its state output, plus the
    TANH/LOGISTIC reading a value on that path."""
    inputs: Dict[str, Value] = {v.name: v for v in graph.inputs}
    outputs: Dict[str, Value] = {v.name: v for v in graph.outputs}
    keep: Set[Node] = set()
    for pair in state_pairs(graph):
        start, end = inputs.get(pair.input), outputs.get(pair.output)
        if start is None or end is None or end.producer is None:
            continue
        path = _forward(start) & _backward(end)
        keep |= path
        for node in path:
            for v in node.outputs:
                keep.update(u.node for u in v.uses() if u.node.op in READERS)
    return keep


def state_update_nodes(graph: Graph) -> Set[Node]:
    """Nodes from which a state output is reached through elementwise ops, LOGISTIC gates and the
    data movement that cuts the gates apart (backwards from each state output; the walk stops at
    anything else, e.g. the gates' FULLY_CONNECTED)."""
    outputs: Dict[str, Value] = {v.name: v for v in graph.outputs}
    keep: Set[Node] = set()
    todo: List[Node] = []
    for pair in state_pairs(graph):
        end = outputs.get(pair.output)
        if end is not None and end.producer is not None:
            todo.append(end.producer)
    while todo:
        node = todo.pop()
        if node is None or node in keep or node.op not in ELEMENTWISE | GATES | GATE_MOVES:
            continue
        keep.add(node)
        todo.extend(v.producer for v in node.inputs if not v.is_const())
    return keep


def feeding_state(graph: Graph) -> Set[Node]:
    """Every node a state output depends on (the recurrence, its input side included): the
    FULLY_CONNECTED layers outside it (an LM's logits) are the ones GPTQ rounds (gptq.py)."""
    outputs: Dict[str, Value] = {v.name: v for v in graph.outputs}
    seen: Set[Node] = set()
    todo: List[Node] = [outputs[p.output].producer for p in state_pairs(graph) if p.output in outputs]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        todo.extend(v.producer for v in node.inputs)
    return seen


def _forward(start: Value) -> Set[Node]:
    seen: Set[Node] = set()
    todo: List[Value] = [start]
    while todo:
        for use in todo.pop().uses():
            if use.node.op in ELEMENTWISE and use.node not in seen:
                seen.add(use.node)
                todo.extend(use.node.outputs)
    return seen


def _backward(end: Value) -> Set[Node]:
    seen: Set[Node] = set()
    todo: List[Node] = [end.producer]
    while todo:
        node = todo.pop()
        if node is None or node.op not in ELEMENTWISE or node in seen:
            continue
        seen.add(node)
        todo.extend(v.producer for v in node.inputs)
    return seen
