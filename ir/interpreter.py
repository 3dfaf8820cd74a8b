"""Reference interpreter: executes any graph on numpy inputs.

Every op's numpy kernel comes from its declaration in the registry; ops with
regions (``core.while``, ``core.if``) get the interpreter itself. This is the
oracle for every pass: run a graph before and after, compare.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .graph import Graph, Node, Value
from .registry import get_op

# Kernels for foreign ops (``tf.Erfinv`` ...), added by frontends or users.
_FOREIGN_KERNELS: Dict[str, Callable[..., Any]] = {}


def register_foreign_kernel(op: str, fn: Callable[..., Any]) -> None:
    """Give the interpreter a numpy kernel ``fn(*inputs, **attrs)`` for an undeclared op."""
    _FOREIGN_KERNELS[op] = fn


class InterpreterError(RuntimeError):
    """A graph the interpreter cannot execute; names the node."""


class Interpreter:
    def __init__(self, graph: Graph, observer: Optional[Callable[[Node, List[Any]], None]] = None):
        self.graph = graph
        # ``observer(node, outputs)`` sees every executed node (calibration, per-layer error).
        self.observer = observer

    def run(self, feeds: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        """Feed graph inputs by name; return outputs by name."""
        g = self.graph
        args = []
        for v in g.inputs:
            if v.name not in feeds:
                raise InterpreterError(f"missing input {v.name!r} (graph inputs: {', '.join(x.name for x in g.inputs)})")
            args.append(_coerce_input(v, feeds[v.name]))
        extra = set(feeds) - {v.name for v in g.inputs}
        if extra:
            raise InterpreterError(f"unknown input(s) {', '.join(sorted(extra))}")
        outs = self.run_region(g, args)
        return {v.name: o for v, o in zip(g.outputs, outs)}

    def run_region(self, graph: Graph, args: Sequence[Any]) -> List[Any]:
        """Execute ``graph`` with its inputs bound to ``args``; return its outputs."""
        if len(args) != len(graph.inputs):
            raise InterpreterError(f"region {graph.name} takes {len(graph.inputs)} arguments, got {len(args)}")
        env: Dict[int, Any] = {id(v): a for v, a in zip(graph.inputs, args)}
        for node in graph:
            ins = []
            for v in node.inputs:
                try:
                    ins.append(env[id(v)])
                except KeyError:
                    raise InterpreterError(f"{node.op} {node.name!r}: input %{v.name} is not defined before use") from None
            outs = self.execute(node, ins)
            for v, o in zip(node.outputs, outs):
                env[id(v)] = o
            if self.observer is not None:
                self.observer(node, outs)
        try:
            return [env[id(v)] for v in graph.outputs]
        except KeyError:
            raise InterpreterError(f"graph {graph.name}: an output is never computed") from None

    def execute(self, node: Node, inputs: List[Any]) -> List[Any]:
        opdef = get_op(node.op)
        try:
            if opdef is not None and opdef.execute is not None:
                outs = list(opdef.execute(node, inputs, self))  # always a list of outputs
            else:
                kernel = opdef.kernel if opdef is not None else _FOREIGN_KERNELS.get(node.op)
                if kernel is None:
                    raise InterpreterError(f"no reference kernel for op {node.op} (node {node.name!r})")
                result = kernel(*inputs, **node.attrs)
                # A single-output kernel returns the value; a multi-output one a tuple or list.
                outs = [result] if len(node.outputs) == 1 else list(result)
        except InterpreterError:
            raise
        except Exception as e:  # a kernel rejected its inputs: say where
            raise InterpreterError(f"{node.op} {node.name!r}: {type(e).__name__}: {e}") from e
        if len(outs) != len(node.outputs):
            raise InterpreterError(f"{node.op} {node.name!r}: kernel returned {len(outs)} values for {len(node.outputs)} outputs")
        return [_conform(v, o) for v, o in zip(node.outputs, outs)]


def _coerce_input(v: Value, x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype != v.dtype.np:
        arr = arr.astype(v.dtype.np)
    return arr


def _conform(v: Value, out: Any) -> Any:
    """Cast kernel results to the declared dtype (numpy promotes eagerly)."""
    if v.type.is_list:
        return out
    arr = np.asarray(out)
    want = v.dtype.np
    if arr.dtype != want:
        arr = arr.astype(want)
    return arr


def run(graph: Graph, feeds: Mapping[str, Any], **kw) -> Dict[str, np.ndarray]:
    """Shorthand for ``Interpreter(graph).run(feeds)``."""
    return Interpreter(graph, **kw).run(feeds)
