"""unroll-loops: replace a while loop whose trip count is known at compile time by copies of its body.

TFLite has no lowering of ``core.while`` here; a loop over a static number of
steps (an ONNX LSTM over a fixed-length sequence, a counted loop) becomes
straight-line code instead. Unlike ``unroll-rnn`` the interface does not
change: the initial state stays what the graph computes, and every step is
inlined. The trip count is found by running the loop's counter arithmetic on
constants: the carried values that start constant and whose update only reads
such values (and the lengths of tensor lists of known length) are evaluated
step by step with the reference kernels until the condition is false.
Afterwards the tensor-list reads and writes at constant indices become plain
tensors (``get_item(from_tensor(x), 3)`` -> ``x[3]``, ``stack(set_item(...))``
-> ``pack``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.interpreter import Interpreter, InterpreterError
from litesmith.ir.registry import get_op

from .dce import DeadCodeElimination
from .fold_constants import FoldConstants
from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value
from .unroll_rnn import _clone_region_into, _list_length, _resolve_lists


@register_pass("unroll-loops")
@dataclass
class UnrollLoops(Pass):
    """Inline every top-level while loop with a compile-time trip count (at most max_trips) as straight-line code."""

    max_trips: int = 256  # loops with more iterations (or an unknown count) are left alone

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        FoldConstants().run(graph, PassContext())
        unrolled, skipped = [], []
        for loop in [n for n in graph if n.op == "core.while"]:
            trips = trip_count(loop, self.max_trips)
            if trips is None:
                skipped.append(loop.name)
                continue
            _inline(graph, loop, trips)
            unrolled.append((loop.name, trips))
        if unrolled:
            _resolve_lists(graph)
            FoldConstants().run(graph, PassContext())
            _resolve_lists(graph)
            DeadCodeElimination().run(graph, PassContext())
        ctx.report["unrolled"] = {name: n for name, n in unrolled}
        if skipped:
            ctx.report["skipped"] = skipped
        return bool(unrolled)


def _inline(graph: Graph, loop: Node, trips: int) -> None:
    _, body = loop.regions
    current: List[Value] = list(loop.inputs)
    b = Builder(graph, before=loop)
    for step in range(trips):
        current = _clone_region_into(body, current, b, f"/t{step}")
    for out, new in zip(loop.outputs, current):
        replace_value(out, new)
    graph.remove(loop, force=True)


def trip_count(loop: Node, limit: int) -> Optional[int]:
    """How many times the body runs, if the counter arithmetic is constant; None otherwise or above ``limit``."""
    cond, body = loop.regions
    known: Dict[int, object] = {}
    for k, v in enumerate(loop.inputs):
        c = v.const_value()
        if c is not None:
            known[k] = c
        elif v.type.is_list and _is_invariant(body, k):
            n = _list_length(v)
            if n is not None:
                known[k] = _Length(n)
    interp = Interpreter(body)
    for trips in range(limit + 1):
        go = _evaluate(cond, known, interp)
        if go is None or go[0] is None:
            return None
        if not bool(np.asarray(go[0]).reshape(-1)[0]):
            return trips
        step = _evaluate(body, known, interp)
        if step is None:
            return None
        known = {k: (known[k] if isinstance(known.get(k), _Length) else step[k])
                 for k in range(len(step)) if step[k] is not None or isinstance(known.get(k), _Length)}
    return None


class _Length:
    """A tensor list of known length (its elements are not needed to count iterations)."""

    def __init__(self, n: int):
        self.n = n


def _is_invariant(body: Graph, k: int) -> bool:
    return body.outputs[k] is body.inputs[k]


def _evaluate(region: Graph, known: Dict[int, object], interp: Interpreter) -> Optional[List[object]]:
    """The region's outputs where they follow from the known arguments (None where they do not)."""
    env: Dict[int, object] = {id(a): known[k] for k, a in enumerate(region.inputs) if k in known}
    for node in region:
        ins = [env.get(id(v)) for v in node.inputs]
        if node.op == "core.tensor_list_length" and isinstance(ins[0], _Length):
            env[id(node.output)] = np.asarray(ins[0].n, np.int32)
            continue
        if any(x is None or isinstance(x, _Length) for x in ins) and (node.inputs or node.op != "core.const"):
            continue
        opdef = get_op(node.op)
        if opdef is None or opdef.kernel is None or node.regions or not opdef.pure or \
                any(v.type.is_list for v in node.outputs):
            continue
        try:
            outs = interp.execute(node, list(ins))
        except InterpreterError:
            continue
        for v, o in zip(node.outputs, outs):
            env[id(v)] = o
    return [env.get(id(v)) for v in region.outputs]
