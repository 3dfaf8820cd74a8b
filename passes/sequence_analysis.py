"""Which values of a decoder carry the sequence axis, and where attention mixes positions causally.

The sequence axis (axis 0 of the token ids after strip-batch) is followed with
the batch-axis rules (``passes/axis_rules.py``): an op whose rule lets the axis
through is position-wise. Three rules may also mix positions, in the roles
``ir/traits.py`` ``SEQUENCE_ROLES`` names, and only causally:

- ``matmul`` of two sequence-carrying values (queries x keys): the scores get
  a *key axis* (the keys' sequence axis); the key operand is what a K cache holds;
- ``elementwise`` with a constant over (query, key) that removes every key after
  its query (select, or adding a large negative number): a causal mask;
- ``along_axis`` over the key axis (softmax), only once the scores are masked;
- ``matmul`` of probabilities x values contracting the key axis: the values are
  what a V cache holds.

A constant operand with the full sequence length on the query axis (a learned
or sinusoidal position table, a mask) is recorded as a lookup at ``position``.
Anything else that mixes positions raises ``NotCausal`` naming the node.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.registry import get_op

from .axis_rules import AxisInfo, AxisMixingError, norm, rule_for
from .batch_analysis import AxisAnalysis

__all__ = ["Attention", "KeyAxis", "NotCausal", "SequenceAnalysis", "MASKED_BELOW"]

MASKED_BELOW = -1e4  # an additive mask or select fill at or below this removes a key after softmax


class NotCausal(AxisMixingError):
    """A node lets a position see later positions (or mixes them in a way decode-step cannot step)."""


@dataclass(frozen=True)
class KeyAxis:
    """Attention scores: the key axis sits at ``axis``; ``masked``: keys after the query are removed."""

    axis: int
    attention: int
    masked: bool
    oriented: bool = True  # False: queries x keys or keys x queries is not known yet (a mask or softmax tells)


@dataclass
class Attention:
    """One causal attention: ``scores`` (queries x keys) and ``values`` (probabilities x values)."""

    scores: Node
    values: Optional[Node] = None
    key_operand: int = 1  # which operand of ``scores`` holds the keys


def _rule_name(op: str) -> Optional[str]:
    opdef = get_op(op)
    return opdef.batch_axis if opdef is not None else None


def _aligned(v: Value, pos: int, rank: int) -> Optional[int]:
    """The dim of ``v`` (broadcast numpy-style to ``rank``) at result dim ``pos``; None: broadcast."""
    local = pos - (rank - v.rank)
    return local if 0 <= local < v.rank else None


class SequenceAnalysis(AxisAnalysis):
    """Forward analysis of the sequence axis of ``seeds``; see the module docstring."""

    def __init__(self, graph: Graph, seeds: Dict[Value, int], length: int):
        self.keys: Dict[int, KeyAxis] = {}
        self.attentions: List[Attention] = []
        self.lookups: List[Tuple[Node, int, int]] = []  # (node, operand, dim of the operand): at `position`
        super().__init__(graph, seeds, length, "sequence")

    def mixing(self, node, why, hint="", error=NotCausal):
        raise NotCausal(f"decode-step: {node.op} node {node.name!r} {why} along the sequence axis, so a position "
                        "would see later ones; only a causal decoder has a one-token step")

    def key(self, v: Value) -> Optional[KeyAxis]:
        return self.keys.get(id(v))

    # -- walking ----------------------------------------------------------------------------------
    def _graph(self, g: Graph) -> None:
        for node in g:
            if node.regions:
                raise NotCausal(f"decode-step: {node.op} node {node.name!r} has regions (a loop or conditional); "
                                "decode-step handles straight-line decoders (unroll or fold it first)")
            ins = [self.get(v) for v in node.inputs]
            keys = [self.key(v) for v in node.inputs]
            rule = _rule_name(node.op)
            outs_key: Optional[KeyAxis] = None
            if any(keys):
                outs, outs_key = self._on_scores(node, ins, keys, rule)
            elif all(i is None for i in ins):
                outs = self._source(node)
            elif rule == "matmul" and ins[0] is not None and ins[1] is not None:
                outs, outs_key = self._queries_keys(node, ins)
            elif rule == "elementwise":
                outs = [self._elementwise(node, ins)]
            else:
                first = next(i for i in ins if i is not None)
                outs = rule_for(node.op).forward(self, node, ins, first)
            self._record(node, outs)
            if outs_key is not None:
                self.keys[id(node.outputs[0])] = outs_key

    def _elementwise(self, node: Node, ins) -> AxisInfo:
        """Position-wise; a constant with the full length on the sequence axis is looked up at ``position``."""
        rank = node.outputs[0].rank
        positions = {i.axis + rank - v.rank for v, i in zip(node.inputs, ins) if i is not None}
        if len(positions) != 1 or any(i is not None and i.merged for i in ins):
            return self.mixing(node, "combines values whose sequence axes disagree")
        pos = positions.pop()
        for k, (v, i) in enumerate(zip(node.inputs, ins)):
            if i is None:
                self._plain_operand(node, k, v, pos, rank)
        return AxisInfo(pos)

    def _plain_operand(self, node: Node, k: int, v: Value, pos: int, rank: int) -> None:
        local = _aligned(v, pos, rank)
        if local is None or v.shape[local] == 1:
            return
        if v.shape[local] == self.size and v.const_value() is not None:
            self.lookups.append((node, k, local))
            return
        self.mixing(node, f"broadcasts operand {v.name!r} (dim {v.shape[local]}, computed at run time)")

    def _queries_keys(self, node: Node, ins):
        """queries [.., T, d] x keys [.., d, T] (or transpose_b): the scores' last axis is the key axis."""
        a, b = ins
        ra, rb, rank = node.inputs[0].rank, node.inputs[1].rank, node.outputs[0].rank
        q_row = a.axis == (ra - 1 if node.attr("transpose_a") else ra - 2)
        k_col = b.axis == (rb - 2 if node.attr("transpose_b") else rb - 1)
        if not (q_row and k_col) or a.merged or b.merged:
            return [self.mixing(node, "multiplies two sequence-carrying values (not as queries x keys)")], None
        self.attentions.append(Attention(node))  # keys x queries (tf_keras's einsum) is told by the mask or softmax
        return [AxisInfo(rank - 2)], KeyAxis(rank - 1, len(self.attentions) - 1, masked=False, oriented=False)

    # -- attention scores (values with a key axis) --------------------------------------------------
    def _on_scores(self, node: Node, ins, keys, rule):
        key = next(k for k in keys if k is not None)
        if rule == "elementwise":
            return self._mask(node, ins, keys)
        if rule == "passthrough" and keys[0] is not None:
            return [ins[0]], keys[0]
        if rule == "transpose" and keys[0] is not None:
            perm = [int(p) for p in node.inputs[1].const_value()]
            q = rule_for(node.op).forward(self, node, ins, ins[0])[0]
            return [q], KeyAxis(perm.index(key.axis), key.attention, key.masked, key.oriented)
        if rule == "along_axis" and keys[0] is not None and ins[0] is not None and not key.oriented \
                and norm(node.attr("axis"), node.inputs[0].rank) == ins[0].axis:
            ins, key = self._swap(ins, 0, key)  # softmax runs over keys: the other axis is the queries'
        if rule == "along_axis" and keys[0] is not None and norm(node.attr("axis"), node.inputs[0].rank) == key.axis:
            if not key.masked:
                self.mixing(node, "normalizes over all key positions with no causal mask before it")
            q = ins[0]
            if q is None or norm(node.attr("axis"), node.inputs[0].rank) == q.axis:
                self.mixing(node, "normalizes")
            return [q], key
        if rule == "matmul" and keys[0] is not None and keys[1] is None:
            return self._probs_values(node, ins, key)
        self.mixing(node, "uses attention scores in a way decode-step has no rule for")
        return None

    def _probs_values(self, node: Node, ins, key: KeyAxis):
        a, v = ins
        ra, rb, rank = node.inputs[0].rank, node.inputs[1].rank, node.outputs[0].rank
        contracts_keys = key.axis == (ra - 2 if node.attr("transpose_a") else ra - 1)
        v_rows = v is not None and not v.merged and v.axis == (rb - 1 if node.attr("transpose_b") else rb - 2)
        q_row = a is not None and a.axis == (ra - 1 if node.attr("transpose_a") else ra - 2)
        if not (contracts_keys and v_rows and q_row):
            self.mixing(node, "multiplies attention scores with values other than over the key axis")
        if not key.masked:
            self.mixing(node, "adds up values of all positions with no causal mask before it")
        self.attentions[key.attention].values = node
        return [AxisInfo(rank - 2)], None

    def _swap(self, ins, at: int, key: KeyAxis):
        """The scores were keys x queries: operand ``at``'s query and key axes trade places."""
        att = self.attentions[key.attention]
        att.key_operand = 1 - att.key_operand
        ins = list(ins)
        ins[at], key = AxisInfo(key.axis), KeyAxis(ins[at].axis, key.attention, key.masked, True)
        return ins, key

    def _mask(self, node: Node, ins, keys):
        rank = node.outputs[0].rank
        kpos = {k.axis + rank - v.rank for v, k in zip(node.inputs, keys) if k is not None}
        qpos = {i.axis + rank - v.rank for v, i in zip(node.inputs, ins) if i is not None}
        if len(kpos) != 1 or len(qpos) != 1:
            self.mixing(node, "combines attention scores whose axes disagree")
        kp, qp = kpos.pop(), qpos.pop()
        key = next(k for k in keys if k is not None)
        masked = any(k is not None and k.masked for k in keys)
        oriented = key.oriented
        grids = []  # (operand, constant, its query dim, its key dim): constants over both axes
        for k, (v, i, ky) in enumerate(zip(node.inputs, ins, keys)):
            if ky is not None or i is not None:
                continue
            kl, ql = _aligned(v, kp, rank), _aligned(v, qp, rank)
            over_keys = kl is not None and v.shape[kl] == self.size and self.size > 1
            over_queries = ql is not None and v.shape[ql] == self.size and self.size > 1
            if not over_keys and not over_queries:
                continue
            c = v.const_value()
            if c is None:
                self.mixing(node, f"combines the scores with {v.name!r}, computed at run time over positions")
            if over_keys and over_queries:
                grids.append((k, c, ql, kl))
            elif over_queries:
                self.lookups.append((node, k, ql))
        for k, c, ql, kl in grids:
            leaks = self._leaks(node, k, c, ql, kl)
            if leaks is not None and leaks.any() and not oriented:
                swapped = self._leaks(node, k, c, kl, ql)
                if swapped is not None and not swapped.any():  # keys x queries: the mask says so
                    att = self.attentions[key.attention]
                    att.key_operand = 1 - att.key_operand
                    kp, qp, ql, kl, leaks = qp, kp, kl, ql, swapped
            oriented = oriented or leaks is not None
            if leaks is not None and leaks.any():
                q, s = np.argwhere(leaks.reshape(-1, self.size, self.size).any(0))[0]
                raise NotCausal(f"decode-step: {node.op} node {node.name!r} is not a causal mask: it lets position {q} "
                                f"see the later position {s}; only a causal decoder has a one-token step")
            masked = masked or leaks is not None
            self.lookups.append((node, k, ql))
        return [AxisInfo(qp)], KeyAxis(kp, key.attention, masked, oriented)

    def _leaks(self, node: Node, k: int, c: np.ndarray, ql: int, kl: int) -> Optional[np.ndarray]:
        """Where constant operand ``k`` keeps a key after its query ([..., query, key]); None: not a mask
        (an op other than select / add of a large negative number)."""
        later = np.triu(np.ones((self.size, self.size), bool), 1)  # [query, key]: key after query
        grid = np.moveaxis(c, (ql, kl), (-2, -1))
        if node.op == "core.select":
            scores_at = next(j for j, v in enumerate(node.inputs) if self.key(v) is not None)
            if k != 0 or scores_at == 0:
                return None
            fill = node.inputs[3 - scores_at].const_value()
            if fill is None or not np.all(fill <= MASKED_BELOW):
                return None
            keeps = grid.astype(bool) if scores_at == 1 else ~grid.astype(bool)
        elif node.op == "core.add":
            keeps = grid > MASKED_BELOW
        else:
            return None
        return keeps & later
