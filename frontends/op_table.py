"""One table per frontend: which function maps each source op, and how many inputs it takes.

The TF and ONNX frontends register their mappings the same way (``@tf_op`` /
``@onnx_op`` are an ``OpTable``'s ``op`` decorator), so the checks live here once.
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional, Tuple, Union

Arity = Union[int, Tuple[int, Optional[int]]]


class OpTable:
    """Mappings of one frontend's ops (``mappers``) and their input counts (``arity``: (least, most or None))."""

    def __init__(self, source: str, inputs_word: str = "input(s)",
                 fixed_arity: Optional[Mapping[str, Tuple[int, Optional[int]]]] = None):
        self.source = source          # "TF", "ONNX": for messages
        self.inputs_word = inputs_word
        self.mappers: Dict[str, Callable] = {}
        self.arity: Dict[str, Tuple[int, Optional[int]]] = dict(fixed_arity or {})

    def op(self, *names: str, inputs: Arity):
        """Register the decorated function as the mapping of ops ``names``, which take ``inputs`` inputs."""
        arity = (inputs, inputs) if isinstance(inputs, int) else tuple(inputs)

        def wrap(fn):
            for n in names:
                if n in self.mappers:
                    raise ValueError(f"{self.source} op {n} mapped twice")
                self.mappers[n] = fn
                self.arity[n] = arity
            return fn

        return wrap

    def arity_problem(self, op: str, n: int) -> Optional[str]:
        """Why ``n`` inputs are wrong for ``op`` (None if they are right or the op is unknown)."""
        least, most = self.arity.get(op, (0, None))
        if least <= n and (most is None or n <= most):
            return None
        want = str(least) if least == most else f"at least {least}" if most is None else f"{least} to {most}"
        return f"has {n} {self.inputs_word}, {op} takes {want}"


def run_mapping(fn, make_context, builder, node, inputs, declines: tuple = ()):
    """Run mapping ``fn``; None when it declines (returns None or raises one of ``declines``).

    Nodes a declining mapping already created are removed again (through a
    ``RecordingBuilder``, no graph scan), so a foreign node never leaves half a
    lowering behind."""
    from litesmith.ir.builder import RecordingBuilder

    graph = builder.graph
    recording = RecordingBuilder(builder)
    try:
        result = fn(make_context(recording), node, inputs)
    except declines:
        result = None
    if result is None:
        for n in reversed(recording.created):
            if n.graph is graph:
                graph.remove(n, force=True)
    return result
