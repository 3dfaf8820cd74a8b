"""decode-step: a causal decoder over a static sequence becomes one step per token, K/V caches as state.

A transformer LM frozen for ``[T]`` token ids (after strip-batch) re-runs all
T positions per keystroke. The step runs one: the sequence axis is followed
through the graph (passes/sequence_analysis.py; each op's role comes from its
declared batch-axis rule, ir/traits.py ``SEQUENCE_ROLES``) and pinned to one
row, so every position-wise op (projections, MLP, layer norms) works on the
current token alone. Constants indexed by position (position tables, causal
mask rows) are looked up at a new int32 scalar input ``position``. Each causal
attention's keys and values are written into caches (new inputs
``cache/<k>/key``, ``cache/<k>/value``, the full length T on the sequence axis,
in the layout the graph multiplies them in) at ``position`` with
dynamic_update_slice; the products read the whole cache and the mask row
removes the slots after ``position``. Each cache is laid out so its product reads it as the
right operand, transposed (``transpose_b``: LiteRT's BATCH_MATMUL with ``adj_y``, which multiplies
a run-time right operand without repacking it; the other layout costs several times more per step),
whatever layout the graph multiplied in. The updated caches are new outputs
``cache/<k>/key_out`` / ``value_out``, recorded as state pairs (ir/state.py):
the caller feeds zeros at position 0 and each step's outputs to the next.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.state import StatePair, add_state
from litesmith.ir.types import TensorType

from .axis_rules import AxisInfo
from .batch_analysis import pin_axis
from .pass_base import Pass, PassContext
from .registry import register_pass
from .sequence_analysis import SequenceAnalysis

POSITION = "position"


@register_pass("decode-step")
@dataclass
class DecodeStep(Pass):
    """Turn a causal decoder over [T] tokens into a one-token step with K/V caches as state I/O."""

    inputs: List[str] = field(default_factory=list)  # the token inputs by name; [] = every input of rank >= 1

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        taken = [v.name for v in graph.inputs if v.name == POSITION or v.name.startswith("cache/")]
        if taken:
            raise UserError(f"decode-step: the graph already has an input named {taken[0]!r}; the step adds "
                            f"'{POSITION}' and 'cache/<k>/key|value' inputs (rename it, or the graph is a step already)")
        tokens = self._token_inputs(graph)
        length = _length(tokens)
        ctx.run_pipeline("fold-constants", graph)
        an = SequenceAnalysis(graph, {v: 0 for v in tokens}, length)
        if not an.attentions:
            raise UserError("decode-step: the graph has no attention (queries x keys over the sequence); "
                            "nothing to cache (a position-wise model needs no decode step)")
        for k, att in enumerate(an.attentions):
            if att.values is None:
                raise UserError(f"decode-step: attention scores of {att.scores.op} node {att.scores.name!r} never "
                                "multiply values; decode-step has no rule for that attention")
        position = graph.add_input(TensorType(DType.INT32, ()), POSITION)
        first = graph.first
        at = Builder(graph, before=first).op("core.reshape", [position, Builder(graph, before=first).const(
            np.array([1], np.int32))], name=POSITION + "/index")
        _look_up(graph, an, at)
        pairs = []
        for k, att in enumerate(an.attentions):
            for role, node, operand in (("key", att.scores, att.key_operand), ("value", att.values, 1)):
                pairs.append(_cache(graph, an, node, operand, f"cache/{k}/{role}", position))
        pin_axis(graph, an)
        ctx.run_pipeline("fold-constants,dce", graph)
        add_state(graph, pairs)
        ctx.report["length"] = length
        ctx.report["attentions"] = len(an.attentions)
        ctx.report["lookups"] = len(an.lookups)
        ctx.report["state"] = [{"input": p.input, "output": p.output, "shape": list(p.shape)} for p in pairs]
        return True

    def _token_inputs(self, graph: Graph) -> List[Value]:
        if not self.inputs:
            found = [v for v in graph.inputs if (v.rank or 0) >= 1 and not v.type.is_list]
            if not found:
                raise UserError("decode-step: the graph has no input with a sequence axis (run strip-batch first?)")
            return found
        names = {v.name: v for v in graph.inputs}
        missing = [n for n in self.inputs if n not in names]
        if missing:
            raise UserError(f"decode-step: no graph input {missing[0]!r} (inputs: {', '.join(names)})")
        return [names[n] for n in self.inputs]


def _length(tokens: List[Value]) -> int:
    lengths = {v.shape[0] for v in tokens}
    if None in lengths or len(lengths) != 1:
        names = ", ".join(f"{v.name} {v.type}" for v in tokens)
        raise UserError(f"decode-step: the token inputs need one static sequence length on axis 0 (got {names}); "
                        "give the input shapes (--input-shape) and run strip-batch first")
    length = lengths.pop()
    if length < 2:
        raise UserError(f"decode-step: the sequence length is {length}; the graph is already one step")
    return length


def _table_key(table: np.ndarray, dim: int) -> tuple:
    """Equal tables looked up along the same dim share one row: each block's copy of the causal mask."""
    return table.dtype.str, table.shape, dim, hashlib.blake2b(np.ascontiguousarray(table).tobytes()).digest()


def _look_up(graph: Graph, an: SequenceAnalysis, index: Value) -> None:
    """Replace each position-indexed constant operand by its row at ``position`` (one gather per
    distinct table; the lookups come in graph order, so the first one's row dominates the others)."""
    done: Dict[tuple, Value] = {}
    for node, k, dim in an.lookups:
        c = node.inputs[k]
        table = c.const_value()
        key = _table_key(table, dim)
        row = done.get(key)
        if row is None:
            b = Builder(graph, before=node)
            first = np.take(table, [0], axis=dim)
            if np.array_equal(np.broadcast_to(first, table.shape), table):  # the same at every position
                row = b.const(first, name=f"{c.name}/row")
            else:
                row = b.op("core.gather", [c, index], {"axis": dim, "batch_dims": 0}, name=f"{c.name}/at_position")
            done[key] = row
        node.set_input(k, row)


def _swap_last(rank: int) -> np.ndarray:
    perm = np.arange(rank, dtype=np.int32)
    perm[-2:] = perm[-1], perm[-2]
    return perm


def _transposed(graph: Graph, an: SequenceAnalysis, v: Value, before: Node) -> Value:
    """``v`` with its last two axes swapped (its sequence axis, if any, follows)."""
    b = Builder(graph, before=before)
    perm = _swap_last(v.rank)
    t = b.op("core.transpose", [v, b.const(perm)], name=f"{v.name}/transposed")
    info = an.get(v)
    if info is not None:
        an.info[id(t)] = AxisInfo(int(np.flatnonzero(perm == info.axis)[0]))
    return t


def _cache_read_transposed(graph: Graph, an: SequenceAnalysis, product: Node, operand: int) -> Node:
    """The product with its cache operand on the right, read transposed (``transpose_b``): keys
    ``[.., T, d]`` and values ``[.., d, T]``, whatever layout the graph multiplied in. A cache on the
    left (tf_keras: keys x queries) moves right: ``A @ B = (B^T @ A^T)^T``."""
    if operand == 0:
        a, b = product.inputs
        ta, tb = product.attr("transpose_a"), product.attr("transpose_b")
        left = b if tb else _transposed(graph, an, b, product)
        swapped = Builder(graph, before=product).create(
            "core.matmul", [left, a], {"transpose_a": False, "transpose_b": not ta}, name=f"{product.name}/cache_right")
        out = _transposed(graph, an, swapped.outputs[0], product)
        info = an.get(product.outputs[0])
        if info is not None:
            an.info[id(out)] = info
        product.outputs[0].replace_all_uses_with(out)
        graph.remove(product)
        product = swapped
    if not product.attr("transpose_b"):
        product.set_input(1, _transposed(graph, an, product.inputs[1], product))
        product.attrs["transpose_b"] = True
    return product


def _cache(graph: Graph, an: SequenceAnalysis, product: Node, operand: int, name: str, position: Value) -> StatePair:
    """``operand`` of ``product`` (keys or values, one row per step) is written into a cache at ``position``."""
    source = product.name
    product = _cache_read_transposed(graph, an, product, operand)
    operand = 1
    rows = product.inputs[operand]
    axis = an.get(rows).axis
    cache = graph.add_input(rows.type, name)
    b = Builder(graph, before=product)
    onehot = b.const(np.eye(rows.rank, dtype=np.int32)[axis], name=f"{name}/axis")
    start = b.op("core.mul", [onehot, position], name=f"{name}/start")
    updated = b.op("core.dynamic_update_slice", [cache, rows, start], name=f"{name}/write")
    product.set_input(operand, updated)
    out = Builder(graph).op("core.identity", [updated], name=name + "_out")
    graph.outputs.append(out)
    return StatePair(name, name + "_out", tuple(rows.shape), "zeros", source)
