"""Calibrated ranges clipped to what saturating consumers can still tell apart.

An int8 LOGISTIC or TANH has fixed output parameters (1/256 and 1/128), so
its output saturates: every input above ~5.1 (LOGISTIC) or ~2.6 (TANH) gives
the same int8 value. A trained LSTM's gate pre-activations span about +-45,
so a min/max range spends almost all 256 steps where the gate is already
saturated and resolves the useful part (|x| < 6) in steps of 0.35. Clipping
the range to the saturation points gives steps of ~0.05 at no loss: the
clipped inputs map to the values their consumer would output anyway.

The useful interval of a value is the union of what each of its consumers
can use; it is propagated backwards through data movement (SPLIT, RESHAPE,
...) and through ADD/SUB of a constant (the LSTM forget-gate bias). A value
with any other consumer (a LOGISTIC/TANH kept float counts as one), or that is
a graph output, keeps its range.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, Optional, Set, Tuple

import numpy as np

from litesmith.ir.graph import Graph, Node, Value

Interval = Tuple[float, float]

INT8_MIN, INT8_MAX = -128, 127
# Consumers with fixed int8 output params: op -> (inverse function, output scale, output zero point).
SATURATING = {
    "tfl.logistic": (lambda y: math.log(y / (1.0 - y)), 1 / 256, -128),
    "tfl.tanh": (math.atanh, 1 / 128, 0),
}
# Consumers whose output holds the same numbers as the input (only moved or selected).
PASS_THROUGH = {"tfl.split", "tfl.split_v", "tfl.reshape", "tfl.squeeze", "tfl.expand_dims", "tfl.transpose",
                "tfl.strided_slice", "tfl.slice", "tfl.concatenation"}
SHIFT = {"tfl.add": 1.0, "tfl.sub": -1.0}  # x + c (or x - c) with a constant c
# The clipped range is widened by two of its int8 steps on each side: the zero point's rounding
# moves the int8 grid by up to half a step, and the edges must still reach the saturated outputs.
MARGIN_STEPS = 2


def saturation_interval(op: str) -> Interval:
    """Inputs outside this interval give the saturated int8 output (qmin or qmax) of ``op``."""
    inverse, scale, zp = SATURATING[op]
    return inverse((INT8_MIN + 0.5 - zp) * scale), inverse((INT8_MAX - 0.5 - zp) * scale)


def clip_to_saturation(graph: Graph, ranges: Dict[Value, Tuple[float, float]],
                       float_nodes: Iterable[Node] = ()) -> Dict[Value, Tuple[float, float]]:
    """``ranges`` with each value's range intersected with its useful interval (new dict).
    ``float_nodes`` stay float: they saturate nothing, so they count as unbounded consumers."""
    keep_float: Set[Node] = set(float_nodes)
    useful: Dict[Value, Optional[Interval]] = {}
    outputs = set(graph.outputs)

    def interval(v: Value) -> Optional[Interval]:
        if v in outputs:
            return None
        return _union(_need(use.node, use.index, useful, keep_float) for use in v.uses())

    for node in reversed(graph.nodes):
        for v in node.outputs:
            useful[v] = interval(v)
    for v in graph.inputs:
        useful[v] = interval(v)
    out = dict(ranges)
    for v, (lo, hi) in ranges.items():
        u = useful.get(v)
        if u is not None:
            pad = (u[1] - u[0]) * MARGIN_STEPS / (INT8_MAX - INT8_MIN)
            out[v] = _intersect((lo, hi), (u[0] - pad, u[1] + pad))
    return out


def _need(node: Node, index: int, useful: Dict[Value, Optional[Interval]], keep_float: Set[Node]) -> Optional[Interval]:
    """The interval of ``node.inputs[index]`` that ``node`` can use, or None (all of it)."""
    if node in keep_float:
        return None
    if node.op in SATURATING:
        return saturation_interval(node.op)
    if node.op in PASS_THROUGH:
        return _union(useful.get(o) for o in node.outputs)
    if node.op in SHIFT and len(node.inputs) == 2 and node.attrs.get("fused_activation_function", "NONE") == "NONE":
        other = node.inputs[1 - index]
        c = other.const_value()
        u = useful.get(node.outputs[0])
        if c is None or u is None or (node.op == "tfl.sub" and index != 0):
            return None
        c = np.asarray(c, np.float64) * SHIFT[node.op]
        return u[0] - float(c.max()), u[1] - float(c.min())
    return None


def _union(intervals: Iterable[Optional[Interval]]) -> Optional[Interval]:
    lo, hi, seen = math.inf, -math.inf, False
    for i in intervals:
        if i is None:
            return None
        lo, hi, seen = min(lo, i[0]), max(hi, i[1]), True
    return (lo, hi) if seen else None


def _intersect(r: Tuple[float, float], u: Interval) -> Tuple[float, float]:
    lo, hi = max(r[0], u[0]), min(r[1], u[1])
    if lo > hi:  # every calibrated value saturates: any point of the overlap's edge will do
        lo = hi = min(max(r[0], u[0]), u[1])
    return lo, hi
