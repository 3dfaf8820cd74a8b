"""The reducer: shrink a graph while a predicate still holds, within a test/time budget.

Phases, repeated while one of them makes progress:

1. cut halves: drop the last half of the (non-constant) nodes, then a quarter, ...;
   the same from the front. A fault at one place in a long graph is isolated in
   about 4 log2(n) tests.
2. ddmin over graph outputs (each success drops whole dead cones).
3. ddmin over nodes (constants follow their users).
4. constants: ddmin replacing them by graph inputs, then each one made a zero or
   first-value splat, then a scalar where broadcasting allows.
5. dims: every static dim of the inputs and constants halved or set to 1, first all
   dims of one size at once (they often must agree), then one at a time.

Every candidate is a clone of the current graph with one edit (``cuts.py``);
it must verify before the predicate sees it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np

from litesmith.ir.graph import Graph

from . import cuts
from .cuts import Base, Candidate
from .ddmin import cut_halves, ddmin
from .predicates import Predicate

__all__ = ["reduce_graph", "ReduceResult", "graph_size"]


@dataclass
class ReduceResult:
    graph: Graph
    description: str        # the failure, as the predicate saw it on the original
    nodes_before: int
    nodes_after: int
    tests: int
    seconds: float
    complete: bool          # False: the budget ran out before the phases converged


class _OutOfBudget(Exception):
    pass


def graph_size(graph: Graph) -> int:
    """Nodes at every level (regions included)."""
    return sum(1 for _ in graph.walk())


def reduce_graph(
    graph: Graph,
    predicate: Predicate,
    *,
    max_tests: Optional[int] = None,
    time_limit: Optional[float] = None,
    progress: Optional[Callable[[str], None]] = None,
) -> ReduceResult:
    """Shrink ``graph`` (not changed: the result is a new graph) while ``predicate`` holds.

    Raises ``NotInteresting`` if ``graph`` itself does not show the failure.
    """
    return _Reducer(predicate, max_tests, time_limit, progress).run(graph)


class _Reducer:
    def __init__(self, predicate, max_tests, time_limit, progress):
        self.predicate = predicate
        self.max_tests = max_tests
        self.time_limit = time_limit
        self.progress = progress
        self.tests = 0
        self.start = time.perf_counter()
        self.base: Optional[Base] = None
        self.phase = ""

    def run(self, graph: Graph) -> ReduceResult:
        from litesmith.ir.clone import clone_graph

        self.start = time.perf_counter()
        description = self.predicate.setup(graph)
        self.base = Base(clone_graph(graph))
        before = graph_size(graph)
        complete = True
        try:
            while True:
                size = self._size()
                for phase in (self._cut_halves, self._outputs, self._nodes, self._constants, self._dims):
                    self.phase = phase.__name__.strip("_").replace("_", " ")
                    phase()
                if self._size() >= size:
                    break
        except _OutOfBudget:
            complete = False
        g = self.base.graph
        return ReduceResult(g, description, before, graph_size(g), self.tests, time.perf_counter() - self.start, complete)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _size(self):
        """What the phases shrink: nodes, then graph inputs + outputs, then constant and input elements."""
        g = self.base.graph
        elements = sum(int(np.size(n.attrs.get("value", 0))) for n in self.base.constants())
        elements += sum(int(np.prod([d or 1 for d in (v.shape or ())])) for v in g.inputs)
        return (graph_size(g), len(g.inputs) + len(g.outputs), elements)

    def _test(self, candidate: Optional[Candidate]) -> bool:
        if candidate is None:
            return False
        if self.max_tests is not None and self.tests >= self.max_tests:
            raise _OutOfBudget()
        if self.time_limit is not None and time.perf_counter() - self.start >= self.time_limit:
            raise _OutOfBudget()
        self.tests += 1
        ok = bool(self.predicate(candidate.graph))
        if ok:
            self.base = Base(candidate.graph)
        if self.progress is not None:
            self.progress(f"{self.phase}: {len(self.base.graph)} nodes, {self.tests} tests, "
                          f"{time.perf_counter() - self.start:.1f} s")
        return ok

    def _try_remove(self, chunk) -> Optional[Callable]:
        candidate = cuts.remove_nodes(self.base, chunk)
        return candidate.node if self._test(candidate) else None

    # -- phases --------------------------------------------------------------------------------
    def _cut_halves(self) -> None:
        def cut(take):
            return lambda k: self._test(cuts.remove_nodes(self.base, take(self.base.movable(), k)))

        cut_halves(lambda: len(self.base.movable()), cut(lambda m, k: m[-k:]), cut(lambda m, k: m[:k]))

    def _outputs(self) -> None:
        def try_drop(chunk):
            candidate = cuts.drop_outputs(self.base, chunk)
            return candidate.outputs.get if self._test(candidate) else None

        if len(self.base.graph.outputs) > 1:
            ddmin(list(range(len(self.base.graph.outputs))), try_drop)

    def _nodes(self) -> None:
        ddmin(self.base.movable(), self._try_remove)

    def _constants(self) -> None:
        ddmin(self.base.constants(), self._try_remove)
        for i in range(len(self.base.constants())):
            consts = self.base.constants()
            if i >= len(consts):
                break
            value = consts[i].attrs.get("value")
            if not isinstance(value, np.ndarray) or value.dtype == object:
                continue
            for simpler in _simpler_values(value):
                const = self.base.constants()[i]
                if self._test(cuts.retype(self.base, constants={const: simpler})):
                    break

    def _dims(self) -> None:
        for size in sorted({d for *_, d in self._dim_slots()}, reverse=True):
            for new in _smaller(size):
                if self._test(self._shrink([slot for slot in self._dim_slots() if slot[3] == size], new)):
                    break
        for slot in self._dim_slots():
            kind, i, axis, _ = slot
            for new in _smaller(slot[3]):
                now = [s for s in self._dim_slots() if s[:3] == (kind, i, axis)]
                if now and self._test(self._shrink(now, new)):
                    break

    def _dim_slots(self):
        """(kind, index, axis, size) of every static dim > 1 of the graph inputs and constants."""
        slots = []
        for i, v in enumerate(self.base.graph.inputs):
            if not v.type.is_list and v.shape:
                slots += [("input", i, a, d) for a, d in enumerate(v.shape) if d is not None and d > 1]
        for i, n in enumerate(self.base.constants()):
            value = n.attrs.get("value")
            if isinstance(value, np.ndarray):
                slots += [("const", i, a, d) for a, d in enumerate(value.shape) if d > 1]
        return slots

    def _shrink(self, slots, new: int) -> Optional[Candidate]:
        """The dims at ``slots`` become ``new``, all in one candidate."""
        inputs, values = {}, {}
        consts = self.base.constants()
        for kind, i, axis, size in slots:
            if size <= new:
                continue
            if kind == "input":
                shape = list(inputs.get(i, self.base.graph.inputs[i].shape))
                shape[axis] = new
                inputs[i] = shape
            else:
                value = values.get(consts[i], consts[i].attrs["value"])
                values[consts[i]] = np.take(value, np.arange(new), axis=axis)
        return cuts.retype(self.base, inputs, values) if inputs or values else None


def _smaller(size: int) -> List[int]:
    return [1] + ([size // 2] if size // 2 > 1 else []) if size > 1 else []


def _simpler_values(value: np.ndarray) -> List[np.ndarray]:
    """Zero splat, first-value splat, scalar zero / first value: simplest first, skipping no-ops."""
    flat = value.reshape(-1)
    out = []
    if flat.size and np.any(flat != 0):
        out.append(np.zeros_like(value))
    if flat.size and np.any(flat != flat[0]):
        out.append(np.full_like(value, flat[0]))
    if value.ndim:
        out += [np.zeros((), value.dtype)] + ([np.asarray(flat[0], value.dtype)] if flat.size and flat[0] != 0 else [])
    return out
