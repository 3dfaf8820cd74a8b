"""Constant folding with the reference kernels, plus shape arithmetic.

With ``shapes=true`` (the default) the pass also folds shape queries of
statically shaped values, re-lifts foreign nodes whose operands became
constant, and re-infers types, in a loop until nothing changes: folding a
transpose permutation makes its result's shape static, which lets the next
``core.shape`` fold (passes/shape_folding.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node
from litesmith.ir.interpreter import Interpreter, InterpreterError
from litesmith.ir.registry import get_op
from litesmith.ir.reinfer import reinfer
from litesmith.ir.types import TensorType

from .effects import is_pure
from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value
from .shape_folding import fold_shape_queries, relift_foreign_nodes

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
            report: Dict[str, List[str]] = {}
            changed = fold_shape_queries(graph, report)
            changed |= relift_foreign_nodes(graph, report)
            sub = PassContext()
            changed |= self._fold_once(graph, sub)
            for key, items in list(report.items()) + list(sub.report.items()):
                ctx.report.setdefault(key, []).extend(items)
            if not changed:
                break
            any_change = True
            reinfer(graph)
        ctx.report.setdefault("folded", [])
        return any_change

    def _fold_once(self, graph: Graph, ctx: PassContext) -> bool:
        report: Dict[str, List[str]] = {"folded": [], "too_large": [], "failed": []}
        interp = Interpreter(graph)
        for node in list(graph.walk()):
            if node.graph is None or not _foldable(node):
                continue
            try:
                values = interp.execute(node, [v.const_value() for v in node.inputs])
            except InterpreterError as e:  # e.g. a bad reshape: leave it for the verifier / run time to report
                report["failed"].append(f"{_describe(node)}: {e}")
                continue
            if not all(isinstance(x, np.ndarray) for x in values):
                continue  # tensor lists have no constant form
            if any(x.size > self.max_elements for x in values):
                report["too_large"].append(_describe(node))
                continue
            _replace_by_consts(node, values)
            report["folded"].append(_describe(node))
        ctx.report.update({k: v for k, v in report.items() if v or k == "folded"})
        return bool(report["folded"])


def _foldable(node: Node) -> bool:
    if node.op == "core.const" or node.regions or not node.inputs:
        return False
    opdef = get_op(node.op)
    if opdef is None or opdef.kernel is None or opdef.execute is not None or opdef.num_regions:
        return False
    if any(v.type.is_list or v.dtype is DType.VARIANT for v in node.outputs):
        return False
    return is_pure(node) and all(v.const_value() is not None for v in node.inputs)


def _replace_by_consts(node: Node, values: List[np.ndarray]) -> None:
    b = Builder(node.graph, before=node)
    if node.meta.get("source"):
        b.meta = {"source": node.meta["source"]}
    for old, arr in zip(node.outputs, values):
        # Keep the declared dtype and quantization; the shape is now known exactly.
        t = TensorType(old.dtype, arr.shape, old.quant)
        const = b.create("core.const", [], {"value": arr}, output_types=[t], name=old.name)
        replace_value(old, const.output)
    node.graph.remove(node)


def _describe(node: Node) -> str:
    return f"{node.op} {node.name!r}"
