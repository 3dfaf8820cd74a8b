"""Delta-debugging reducer: shrink a graph on which litesmith fails to a minimal IR file.

    from litesmith.reducer import CrashPredicate, Job, reduce_graph
    result = reduce_graph(graph, CrashPredicate(Job(pipeline="my-pass")))
    result.graph                      # a new, small graph that still crashes my-pass

``litesmith reduce`` (litesmith/cli/reduce.py) is the command-line front; the
phases are in ``engine.py``, the graph edits in ``cuts.py``, the failures it
looks for in ``predicates.py``.
"""
from .engine import ReduceResult, graph_size, reduce_graph
from .predicates import (
    CommandPredicate, CrashPredicate, IllegalPredicate, Job, MismatchPredicate, NotInteresting, Predicate,
    crash_signature,
)

__all__ = [
    "CommandPredicate", "CrashPredicate", "IllegalPredicate", "Job", "MismatchPredicate", "NotInteresting",
    "Predicate", "ReduceResult", "crash_signature", "graph_size", "reduce_graph",
]
