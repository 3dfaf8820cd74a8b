"""Constant folding with the reference kernels, plus shape arithmetic.

With ``shapes=true`` (the default) the pass also folds shape queries of
statically shaped values, re-lifts foreign nodes whose operands became
constant, and re-infers types. It does all of this node by node in one sweep
in graph order (regions included): a node's types are re-inferred just
before it is looked at, so folding a transpose permutation makes its
result's shape static in time for the next ``core.shape`` to fold, and a
chain of N reshapes with computed shapes folds in one sweep, not N
(passes/shape_folding.py). Sweeps repeat until one changes nothing (a loop
body can need a second one).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Set

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node
from litesmith.ir.interpreter import Interpreter, InterpreterError
from litesmith.ir.registry import get_op
from litesmith.ir.reinfer import reinfer, reinfer_node
from litesmith.ir.types import TensorType, num_elements

from .effects import is_pure
from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value
from .shape_folding import fold_shape_query, relift_foreign_node

_MAX_ROUNDS = 16


@register_pass("fold-constants")
@dataclass
class FoldConstants(Pass):
    """Evaluate nodes whose inputs are all constants and replace them by core.const."""

    max_elements: int = 1 << 20  # results larger than this stay computed at run time
    shapes: bool = True  # also fold shape queries of static shapes, re-lift foreign nodes, re-infer

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        if not self.shapes:
            return self._fold_once(graph, ctx)
        any_change = False
        for _ in range(_MAX_ROUNDS):
            sweep = _Sweep(self.max_elements, Interpreter(graph))
            changed = sweep.graph(graph)
            for key in _REPORT_KEYS:
                items = sweep.report.get(key, [])
                if items or key == "folded":
                    ctx.report.setdefault(key, []).extend(items)
            if not changed:
                break
            any_change = True
            reinfer(graph)
        ctx.report.setdefault("folded", [])
        return any_change

    def _fold_once(self, graph: Graph, ctx: PassContext) -> bool:
        """Fold constant nodes only (no shape queries, no re-inference): ``shapes=false``."""
        sweep = _Sweep(self.max_elements, Interpreter(graph))
        changed = False
        for node in list(graph.walk()):
            if node.graph is not None:
                changed |= sweep.fold(node)
        ctx.report.update({k: sweep.report.get(k, []) for k in _REPORT_KEYS[2:] if sweep.report.get(k) or k == "folded"})
        return changed


class _Sweep:
    """One ordered pass: re-infer, fold shape queries, re-lift, fold constants, node by node."""

    def __init__(self, max_elements: int, interp: Interpreter):
        self.max_elements = max_elements
        self.interp = interp
        self.report: Dict[str, List[str]] = {"folded": [], "too_large": [], "failed": []}
        self.fresh: Set[int] = set()  # ids of values produced by nodes this sweep created

    def graph(self, graph: Graph) -> bool:
        changed = False
        retyped: Set[int] = set()  # values whose type changed in this sweep
        for node in graph:
            if node.graph is None:
                continue
            if any(id(v) in retyped or id(v) in self.fresh for v in node.inputs):
                reinfer_node(node, retyped)
            for region in node.regions:
                changed |= self.graph(region)
            changed |= self.node(node)
        return changed

    def _created(self, node: Node) -> None:
        self.fresh.update(id(v) for v in node.outputs)

    def node(self, node: Node) -> bool:
        const = fold_shape_query(node, self.report)
        if const is not None:
            self._created(const)
            return True
        created = relift_foreign_node(node, self.report)
        if created is not None:
            for n in created:
                self._created(n)
                if n.graph is not None:
                    self.node(n)
            return True
        return self.fold(node)

    def fold(self, node: Node) -> bool:
        if not _foldable(node):
            return False
        if any((num_elements(v.type.shape) or 0) > self.max_elements for v in node.outputs):
            self.report["too_large"].append(_describe(node))  # known before computing it
            return False
        try:
            values = self.interp.execute(node, [v.const_value() for v in node.inputs])
        except InterpreterError as e:  # e.g. a bad reshape: leave it for the verifier / run time to report
            self.report["failed"].append(f"{_describe(node)}: {e}")
            return False
        if not all(isinstance(x, np.ndarray) for x in values):
            return False  # tensor lists have no constant form
        if any(x.size > self.max_elements for x in values):
            self.report["too_large"].append(_describe(node))
            return False
        for const in _replace_by_consts(node, values):
            self._created(const)
        self.report["folded"].append(_describe(node))
        return True


_REPORT_KEYS = ("shape_queries", "relifted", "folded", "too_large", "failed")


def _foldable(node: Node) -> bool:
    if node.op == "core.const" or node.regions or not node.inputs:
        return False
    opdef = get_op(node.op)
    if opdef is None or opdef.kernel is None or opdef.execute is not None or opdef.num_regions:
        return False
    if any(v.type.is_list or v.dtype is DType.VARIANT for v in node.outputs):
        return False
    return is_pure(node) and all(v.const_value() is not None for v in node.inputs)


def _replace_by_consts(node: Node, values: List[np.ndarray]) -> List[Node]:
    b = Builder(node.graph, before=node)
    consts = []
    if node.meta.get("source"):
        b.meta = {"source": node.meta["source"]}
    for old, arr in zip(node.outputs, values):
        # Keep the declared dtype and quantization; the shape is now known exactly.
        t = TensorType(old.dtype, arr.shape, old.quant)
        const = b.create("core.const", [], {"value": arr}, output_types=[t], name=old.name)
        replace_value(old, const.output)
        consts.append(const)
    node.graph.remove(node)
    return consts


def _describe(node: Node) -> str:
    return f"{node.op} {node.name!r}"
