"""Where a chosen axis (the batch axis, a time axis) goes through a graph, and removing it.

``AxisAnalysis`` walks the graph forward from seed values (graph inputs and
the axis to follow) and records, for every value that carries the axis, its
position (``AxisInfo``); for tensor lists, the position in the element. Each
op has a rule; an op that mixes elements along the tracked axis (a reduction,
softmax, concat, gather... over it) raises ``AxisMixingError`` naming the
node. Loops are analysed to a fixpoint over their carried values.

What each op does to the axis is the op's declared batch-axis rule
(``defop(..., batch_axis=...)``, implemented in ``passes/axis_rules.py``).

``strip_axis`` then removes the axis everywhere: graph inputs lose the dim,
axis attributes and constant shape operands are renumbered, and types are
re-inferred. ``pin_axis`` instead sets the dim to 1 and keeps it. Both are
used by strip-batch (batch axis of the inputs) and unroll-rnn (time axis of
the sequence input).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.reinfer import reinfer

from .axis_rules import RULES, AxisInfo, AxisMixingError, LoopStepsOverAxis, drop, rule_for, set_const_operand

__all__ = ["AxisInfo", "AxisAnalysis", "AxisMixingError", "LoopStepsOverAxis", "strip_axis", "pin_axis"]


class AxisAnalysis:
    """Forward analysis: value -> ``AxisInfo`` of the tracked axis (absent: the value does not carry it)."""

    def __init__(self, graph: Graph, seeds: Dict[Value, int], size: Optional[int], what: str = "batch",
                 allow_mixing: bool = False):
        self.graph = graph
        self.size = size  # the axis's static size when known (fills/lists created at that size carry it)
        self.what = what
        self.allow_mixing = allow_mixing
        self.info: Dict[int, AxisInfo] = {}
        self.loop_inits: List[tuple] = []  # (while node, operand index): init lacks the axis the loop carries
        self.reversed: List[Node] = []  # nodes that reverse the tracked axis (go_backwards)
        self.sizes: Dict[int, frozenset] = {}  # integer value -> its elements holding the axis size (axis_sizes.py)
        self.squeezed: Dict[int, int] = {}  # value -> dim before which a squeeze took out the size-1 axis
        for v, a in seeds.items():
            self.info[id(v)] = AxisInfo(a)
        self._graph(graph)

    # -- public -----------------------------------------------------------------------
    def get(self, v: Value) -> Optional[AxisInfo]:
        return self.info.get(id(v))

    def mixing(self, node: Node, why: str, hint: str = "", error=AxisMixingError):
        if self.allow_mixing:
            return None
        raise error(f"{node.op} node {node.name!r} {why} across the {self.what} axis; "
                              f"strip-{self.what} cannot remove it ({hint}use strip-batch{{mode=pin}} to keep a {self.what} of 1)")

    # -- walking --------------------------------------------------------------------------
    def _graph(self, g: Graph) -> None:
        for node in g:
            ins = [self.get(v) for v in node.inputs]
            if node.op == "core.while":
                outs = self._while(node, ins)
            elif all(i is None for i in ins):
                outs = self._source(node)
            else:
                first = next(i for i in ins if i is not None)
                outs = rule_for(node.op).forward(self, node, ins, first)
            for v, i in zip(node.outputs, outs):
                if i is None:
                    self.info.pop(id(v), None)
                else:
                    self.info[id(v)] = i
            if len(node.outputs) == 1 and node.outputs[0].dtype is not None and node.outputs[0].dtype.is_int:
                pos = rule_for(node.op).sizes(self, node)  # shape arithmetic reading the axis size
                if pos:
                    self.sizes[id(node.outputs[0])] = pos
            elif len(node.outputs) > 1 and node.inputs and node.inputs[0].dtype is not None and node.inputs[0].dtype.is_int:
                for v, pos in zip(node.outputs, rule_for(node.op).result_sizes(self, node) or ()):
                    if pos:  # a shape vector split in pieces (pfor: split(shape(x)) -> [B], [T], [D])
                        self.sizes[id(v)] = pos

    def _source(self, node: Node) -> List[Optional[AxisInfo]]:
        """Values created at the axis size (an RNN's zero state, its output list) carry the axis; so do
        fills whose dims read that size at run time (Keras 3's ``zeros([shape(x)[0], units])``)."""
        return rule_for(node.op).source(self, node) or [None] * len(node.outputs)

    def _uniform_state(self, v: Value) -> bool:
        """A constant filled with one value and the axis size as dim 0: a folded zero state."""
        c = v.const_value()
        return (c is not None and self.size is not None and self.size > 1 and c.ndim >= 1
                and c.shape[0] == self.size and c.dtype.kind == "f" and c.size and bool(np.all(c == c.flat[0])))

    def _while(self, node: Node, ins) -> List[Optional[AxisInfo]]:
        if not any(ins) and not any(self._uniform_state(v) for v in node.inputs):
            has_source = any(self._source(n) != [None] * len(n.outputs) for r in node.regions for n in r.walk())
            if not has_source:
                return [None] * len(node.outputs)
        cond, body = node.regions
        carried = [i if i is not None or not self._uniform_state(v) else AxisInfo(0) for v, i in zip(node.inputs, ins)]
        for _ in range(8):
            for region in (cond, body):
                for a, i in zip(region.inputs, carried):
                    if i is None:
                        self.info.pop(id(a), None)
                    else:
                        self.info[id(a)] = i
                self._graph(region)
            results = [self.get(v) for v in body.outputs]
            joined = []
            for k, (c, r) in enumerate(zip(carried, results)):
                if c is not None and r is not None and c != r:
                    raise AxisMixingError(f"core.while node {node.name!r}: carried value {k} moves the {self.what} "
                                          f"axis from {c.axis} to {r.axis} between iterations")
                joined.append(c or r)
            if joined == carried:
                break
            carried = joined
        self.loop_inits = [(n, k) for n, k in self.loop_inits if n is not node]
        self.loop_inits += [(node, k) for k, (i, c) in enumerate(zip(ins, carried)) if i is None and c is not None]
        return carried


# -- removing or pinning the axis ------------------------------------------------------------


def strip_axis(graph: Graph, an: AxisAnalysis) -> None:
    """Remove the analysed axis from every value that carries it; re-infer types."""
    for node, k in an.loop_inits:
        _fix_loop_init(node, k, an)
    for node in list(graph.walk()):
        if node.graph is None:
            continue
        ins = [an.get(v) for v in node.inputs]
        strip_ins = [i if i is not None and not i.merged else None for i in ins]
        if any(strip_ins):
            a = next(i for i in strip_ins if i is not None).axis
            rule_for(node.op).strip(an, node, strip_ins, a, node.inputs[0].rank)
        elif node.outputs:
            out = an.get(node.outputs[0])
            if out is not None and not out.merged:
                rule_for(node.op).strip_source(node, out.axis)
    _retype_inputs(graph, an, lambda shape, a: drop(shape, a))
    _reinfer_all(graph)


def pin_axis(graph: Graph, an: AxisAnalysis) -> None:
    """Keep the analysed axis but give it size 1 (inputs, fills, lists, reshape targets); re-infer."""
    for node, k in an.loop_inits:
        _fix_loop_init(node, k, an, keep=True)
    for node in list(graph.walk()):
        if node.graph is None:
            continue
        out = an.get(node.outputs[0]) if node.outputs else None
        if out is not None:
            rule_for(node.op).pin(an, node, out)

    def one(shape, a):
        shape[a] = 1
        return shape

    _retype_inputs(graph, an, one)
    _reinfer_all(graph)


def _reinfer_all(graph: Graph) -> None:
    reinfer(graph, changed=[v for v in _all_values(graph)])


def _all_values(graph: Graph):
    yield from graph.inputs
    for n in graph.walk():
        yield from n.outputs
        for r in n.regions:
            yield from r.inputs


def _retype_inputs(graph: Graph, an: AxisAnalysis, fix) -> None:
    for v in graph.inputs:
        i = an.get(v)
        if i is not None and v.shape is not None:
            v.set_type(v.type.with_shape(fix(list(v.shape), i.axis)))


def _fix_loop_init(node: Node, k: int, an: AxisAnalysis, keep: bool = False) -> None:
    init = node.inputs[k]
    axis = an.get(node.outputs[k]).axis
    c = init.const_value()
    if c is not None and an._uniform_state(init) and axis == 0:
        set_const_operand(node, k, c[:1] if keep else c[0])
        return
    if keep:
        return
    p = init.producer
    if init.type.is_list and p is not None and rule_for(p.op) is RULES["list_reserve"]:
        # An empty list reserved with the axis at size 1 (batch 1): its elements lose the axis.
        shape = p.attrs.get("element_shape")
        if shape is not None and len(shape) > axis and shape[axis] in (1, None):
            RULES["list_reserve"].strip_source(p, axis)
            return
    if init.shape is not None and len(init.shape) > axis and init.shape[axis] == 1:
        b = Builder(node.graph, before=node)
        node.set_input(k, b.op("core.squeeze", [init], {"axes": [axis]}))
        return
    raise AxisMixingError(f"core.while node {node.name!r}: the initial value of carried value {k} ({init.name!r}) "
                          f"has no {an.what} axis but the loop gives it one")
