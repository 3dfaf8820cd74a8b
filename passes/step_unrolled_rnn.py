"""step-unrolled-rnn: turn a recurrent layer that Keras wrote out step by step (``unroll=True``) into one step.

With ``unroll=True`` (a static time axis) there is no loop for unroll-rnn to
step: Keras unstacks the sequence (``unpack`` over the time axis) and applies
the cell T times, the state of step t feeding step t+1. This pass finds that
chain and proves it is one cell repeated: every node gets the step it depends
on (the latest time slice it reads), and the cells of steps 1..T-1 must be the
same nodes in the same order (ops, attributes, constants), each reading its own
slice, the previous cell's values in the same places and nothing else. Step 0
is not a template (the zero initial state has been folded into it), so the
cell of step 1 is kept: the values it reads from step 0 become state inputs
``state/<k>``, the ones step 2 reads from it at the same places become
``state/<k>_out``, the sequence gets one step, and what read the steps (the
``pack`` of every step's output, the last step's output or state) reads the
kept cell. The pairs are recorded like unroll-rnn's. A chain that cannot be
proven is refused, naming the layer. Fewer than 3 steps are left alone (step 1
would be the last, its cell not told apart from what reads every step); run
after strip-batch (unroll-rnn runs it first).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.registry import get_op
from litesmith.ir.reinfer import reinfer
from litesmith.ir.state import StatePair, add_state, graph_state
from litesmith.ir.traits import ELEMENTWISE

from .batch_analysis import AxisAnalysis, strip_axis
from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value

__all__ = ["StepUnrolledRnn"]


@register_pass("step-unrolled-rnn")
@dataclass
class StepUnrolledRnn(Pass):
    """Keep one cell of an RNN written out step by step (unroll=True); its state becomes inputs/outputs."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        found = _sequence_unpacks(graph)
        if found:
            ctx.run_pipeline("canonicalize,dce", graph)  # stacked layers: unpack(pack(steps)) -> the steps
            found = _sequence_unpacks(graph)
        if not found:
            ctx.report["chains"] = 0
            return False
        pairs: List[dict] = []
        for (seq, axis), unpacks in found.items():
            chain = _Chain(graph, unpacks)
            if not chain.state:
                continue  # steps that carry nothing: not a recurrent chain, leave it
            pairs += chain.step(len(graph_state(graph)) + len(pairs))
            reinfer(graph)  # what read every step (pack) now reads one; the other steps are dead
            ctx.run_pipeline("dce", graph)
            for u in unpacks:
                read = [o.name for j, o in enumerate(u.outputs) if j != 1 and (o.has_uses() or o.is_graph_output())]
                if read:
                    chain._refuse(f"step values other than the last are still read ({', '.join(read)} and after)")
            slices = [_one_step_unpack(u) for u in unpacks]
            shape = list(seq.shape)
            shape[axis] = 1
            seq.set_type(seq.type.with_shape(shape))
            reinfer(graph, [seq])
            strip_axis(graph, AxisAnalysis(graph, {seq: axis}, 1, "time"))
            for node in slices:  # the squeeze of the stripped axis is now an identity
                if node.op == "core.identity" and not node.output.is_graph_output():
                    replace_value(node.output, node.inputs[0])
                    graph.remove(node)
            ctx.run_pipeline("fold-constants,dce", graph)
        if not pairs:
            ctx.report["chains"] = 0
            return False
        for p in pairs:
            p["shape"] = list(graph.input_by_name(p["input"]).shape)
        add_state(graph, [StatePair(p["input"], p["output"], tuple(p["shape"]), p["initial"], p["source"]) for p in pairs])
        ctx.report["chains"] = len(found)
        ctx.report["state"] = pairs
        return bool(pairs)


def _sequence_unpacks(graph: Graph) -> Dict[Tuple[Value, int], List[Node]]:
    """(graph input, time axis) -> the unpacks (num >= 2) that split that axis into steps."""
    unpacks = [n for n in graph if n.op == "core.unpack" and n.attr("num") >= 2]
    found: Dict[Tuple[Value, int], List[Node]] = {}
    if not unpacks:
        return found
    for value in graph.inputs:
        if not value.rank or value.type.is_list:
            continue
        for axis, size in enumerate(value.shape):
            if size is None or size < 2:
                continue
            an = AxisAnalysis(graph, {value: axis}, size, "time", allow_mixing=True)
            hits = [u for u in unpacks if u.attr("num") == size and (an.get(u.inputs[0]) is not None)
                    and an.get(u.inputs[0]).axis == _axis(u) and not an.get(u.inputs[0]).merged]
            if hits:
                found[(value, axis)] = hits
                break
    return found


def _axis(unpack: Node) -> int:
    a = unpack.attr("axis")
    return a + unpack.inputs[0].rank if a < 0 else a


def _layer(node: Node) -> str:
    parts = (node.meta.get("source") or node.name or node.op).split("/")[:-1]
    while parts and parts[-1] in ("PartitionedCall", "StatefulPartitionedCall"):
        parts.pop()
    return "/".join(parts) or node.name


def _one_step_unpack(u: Node) -> Node:
    """The unpack now takes the one step: its step-1 result (the kept cell's slice) is the squeezed sequence
    (typed once the sequence has one step)."""
    g = u.graph
    new = Node("core.squeeze", [u.inputs[0]], {"axes": [_axis(u)]}, [u.outputs[1].type],
               meta=dict(u.meta), output_names=[u.outputs[1].name])
    g.insert_before(u, new)
    replace_value(u.outputs[1], new.outputs[0])
    g.remove(u, force=True)
    return new


def _projects(node: Node, step) -> bool:
    """Reads one step value and transforms it without an activation: a shape op, a matmul or split,
    or an elementwise op with a constant (a bias); not tanh/sigmoid (those compute the state)."""
    if sum(step(v) >= 0 for v in node.inputs) != 1:
        return False
    opdef = get_op(node.op)
    elementwise = opdef is not None and ELEMENTWISE in opdef.traits
    return not elementwise or any(v.const_value() is not None for v in node.inputs)


def _same_attrs(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not np.array_equal(np.asarray(x), np.asarray(y)):
                return False
        elif x != y:
            return False
    return True


class _Chain:
    """The cells of one unrolled layer (or stack of layers over the same sequence), proven alike."""

    def __init__(self, graph: Graph, unpacks: List[Node]):
        self.graph = graph
        self.unpacks = {id(u) for u in unpacks}
        self.T = unpacks[0].attr("num")
        self.layer = _layer(unpacks[0])
        self.step_of: Dict[int, int] = {}  # id(value) -> the step whose cell computes it
        fwd: Dict[int, int] = {}  # id(node) -> the latest step it depends on
        nodes = list(graph)
        for node in nodes:
            if id(node) in self.unpacks:
                if self._step(node.inputs[0]) >= 0:
                    self._refuse("its steps read a whole earlier sequence")
                for t, out in enumerate(node.outputs):
                    self.step_of[id(out)] = t
                continue
            s = fwd[id(node)] = max((self._step(v) for v in node.inputs), default=-1)
            for out in node.outputs:
                self.step_of[id(out)] = s
        # A projection of the state that only the next step reads (h @ U: expand_dims, matmul, squeeze,
        # bias, split) belongs to that step's cell; the state itself (h, c, an activation) stays.
        cell_of: Dict[int, int] = {}
        for node in reversed(nodes):
            if id(node) in self.unpacks:
                continue
            s = cell_of[id(node)] = fwd[id(node)]
            users = [u.node for out in node.outputs for u in out.uses()]
            if (s >= 0 and users and _projects(node, self._step)
                    and not any(out.is_graph_output() for out in node.outputs)
                    and all(cell_of.get(id(u)) == s + 1 and not self._collects(u) for u in users)):
                cell_of[id(node)] = s + 1
        cells: List[List[Node]] = [[] for _ in range(self.T)]
        for node in nodes:
            s = cell_of.get(id(node), -1)
            if s >= 0:
                cells[s].append(node)
                for out in node.outputs:
                    self.step_of[id(out)] = s
        if self.T < 3:  # step 1 would be the last: its cell cannot be told from what reads every step
            self.state = []
            return
        self.cell = cells[1]
        self.first = cells[0]
        self.corr: Dict[int, Dict[int, Node]] = {}  # step -> id(cell-1 node) -> its twin at that step
        self.recurrent: Dict[Tuple[int, int], Value] = {}  # (id(cell-1 node), operand) -> cell-1 value step 2 reads
        for t in range(2, self.T):
            self.downstream = self._match(t, cells[t], last=(t == self.T - 1))
        self.state = self._state_pairs()

    def _collects(self, node: Node) -> bool:
        """Reads the values of three or more steps (the pack of the layer's outputs)."""
        return len({self.step_of.get(id(v), -1) for v in node.inputs} - {-1}) >= 3

    def _step(self, v: Value) -> int:
        return self.step_of.get(id(v), -1)

    def _refuse(self, why: str):
        raise UserError(f"unroll-rnn: layer {self.layer!r} is written out step by step (unroll=True) but {why}, "
                        f"so it cannot be single-stepped; export it with unroll=False")

    # -- proving the cells alike ----------------------------------------------------------------
    def _match(self, t: int, nodes: List[Node], last: bool) -> List[Node]:
        """Map cell 1 onto the nodes of step ``t`` in order; the last step may have others (readers of
        the steps: pack, dense...), returned as downstream."""
        corr = self.corr[t] = {}
        j, rest = 0, []
        for node in nodes:
            if j < len(self.cell) and self._alike(self.cell[j], node, t):
                corr[id(self.cell[j])] = node
                j += 1
            elif last:
                rest.append(node)
            else:
                self._refuse(f"step {t} differs from step 1 at node {node.name!r} ({node.op})")
        if j < len(self.cell):
            self._refuse(f"step {t} lacks step 1's node {self.cell[j].name!r} ({self.cell[j].op})")
        return rest

    def _alike(self, n1: Node, nt: Node, t: int) -> bool:
        if (n1.op != nt.op or len(n1.inputs) != len(nt.inputs) or n1.regions or nt.regions
                or [o.type for o in n1.outputs] != [o.type for o in nt.outputs] or not _same_attrs(n1.attrs, nt.attrs)):
            return False
        for k, (a, b) in enumerate(zip(n1.inputs, nt.inputs)):
            if a is b:
                if self._step(a) >= 0:
                    return False
                continue
            ca, cb = a.const_value(), b.const_value()
            if ca is not None or cb is not None:
                if ca is None or cb is None or ca.dtype != cb.dtype or not np.array_equal(ca, cb):
                    return False
                continue
            sa, sb = self._step(a), self._step(b)
            if sa < 0 or sb - sa != t - 1:
                return False
            pa, pb = a.producer, b.producer
            if id(pa) in self.unpacks:
                if pb is not pa or a.index != 1 or b.index != t:
                    return False
            elif sa == 1:  # a value of the same cell
                twin = self.corr[t].get(id(pa))
                if twin is None or twin.outputs[a.index] is not b:
                    return False
            else:  # the state from the step before
                key = (id(n1), k)
                if t == 2:
                    if self.recurrent.setdefault(key, b) is not b:
                        return False
                else:
                    w = self.recurrent.get(key)
                    twin = None if w is None else self.corr[t - 1].get(id(w.producer))
                    if twin is None or twin.outputs[w.index] is not b:
                        return False
        return True

    def _state_pairs(self) -> List[Tuple[Value, Value]]:
        """(step-0 value cell 1 reads, the cell-1 value step 2 reads in its place), one per state."""
        pairs: Dict[int, Tuple[Value, Value]] = {}
        for (node_id, k), w in self.recurrent.items():
            node = next(n for n in self.cell if id(n) == node_id)
            v = node.inputs[k]
            if pairs.setdefault(id(v), (v, w))[1] is not w:
                self._refuse(f"the step-0 value {v.name!r} feeds step 1 in places step 2 takes from different values")
        return list(pairs.values())

    # -- the rewrite ----------------------------------------------------------------------------
    def step(self, first_index: int) -> List[dict]:
        g = self.graph
        back: Dict[int, Value] = {}  # id(value of the last step) -> the cell-1 value it stands for
        for n1 in self.cell:
            for o1, ot in zip(n1.outputs, self.corr[self.T - 1][id(n1)].outputs):
                back[id(ot)] = o1
        steps_of = [{} for _ in range(self.T)]  # per step: id(value) -> cell-1 value
        for t in range(2, self.T):
            for n1 in self.cell:
                for o1, ot in zip(n1.outputs, self.corr[t][id(n1)].outputs):
                    steps_of[t][id(ot)] = o1
        for n1 in self.cell:
            for o1 in n1.outputs:
                steps_of[1][id(o1)] = o1
        downstream = {id(n) for n in self.downstream}
        for node in self.downstream:
            if node.op == "core.pack" and len(node.inputs) == self.T and self._packs_steps(node, steps_of):
                node.set_inputs([steps_of[1][id(node.inputs[1])]])
                continue
            for k, v in enumerate(node.inputs):
                if self._step(v) < 0 or id(v.producer) in downstream:
                    continue
                if id(v) not in back:
                    self._refuse(f"node {node.name!r} ({node.op}) reads step {self._step(v)} on its own")
                node.set_input(k, back[id(v)])
        for k, v in enumerate(g.outputs):  # the last step's state or output returned as is
            if id(v) in back:
                new = back[id(v)]
                ident = Node("core.identity", [new], {}, [new.type], output_names=[v.name])
                v.name = ""
                g.insert_after(new.producer, ident)
                g.outputs[k] = ident.outputs[0]
        cell_ids = {id(n) for n in self.cell}
        initial = self._initial()
        pairs = []
        for j, (v, w) in enumerate(self.state):
            name = f"state/{first_index + j}"
            inp = g.add_input(v.type, name)
            for use in list(v.uses()):
                if id(use.node) in cell_ids:
                    use.node.set_input(use.index, inp)
            ident = Node("core.identity", [w], {}, [w.type], output_names=[name + "_out"])
            g.insert_after(w.producer, ident)
            g.outputs.append(ident.outputs[0])
            pairs.append({"input": name, "output": name + "_out", "shape": list(v.shape or []), "initial": initial,
                          "source": w.producer.name})
        return pairs

    def _packs_steps(self, node: Node, steps_of) -> bool:
        """``pack`` of every step's copy of one cell-1 value, in order (step 0's from step 0)."""
        ins = node.inputs
        if self._step(ins[0]) != 0 or ins[0].producer is None or id(ins[0].producer) in self.unpacks:
            return False
        x = steps_of[1].get(id(ins[1]))
        return x is not None and all(steps_of[t].get(id(ins[t])) is x for t in range(2, self.T))

    def _initial(self) -> str:
        """What step 0 starts from: a graph input it reads, or (all constants) zeros."""
        for node in self.first:
            for v in node.inputs:
                if self._step(v) < 0 and v.producer is None and not v.type.is_list and v.dtype.is_float:
                    return "graph input " + v.name
        return "zeros"
