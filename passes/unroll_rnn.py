"""unroll-rnn: replace each recurrent loop by one step (or a fixed number of steps) of its body.

A dynamic_rnn / Keras RNN lifts to a ``core.while`` that reads the step's
input from a tensor list (``tensor_list_from_tensor`` + ``get_item``),
writes the step's output to another (``set_item`` ... ``stack``), counts
time and carries the recurrent state. On the device the caller runs the
loop: the pass sets the sequence input's time axis to ``steps``, inlines
``steps`` copies of the body, turns every carried float tensor (LSTM c and
h per layer, GRU h...) into a new graph input ``state/<k>`` and its updated
value into a new output ``state/<k>_out``, and resolves the tensor lists to
plain tensors. With ``steps=1`` the time axis is then removed from the
sequence input (ids [T] -> one token []). The state pairs are recorded as
``ir/state.py`` pairs in the graph meta. Initial state: the caller feeds
zeros at the first step (what dynamic_rnn's zero_state does); a graph whose
loop started from its own initial-state input documents that value instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
from litesmith.ir.builder import Builder
from litesmith.ir.clone import clone_graph
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.reinfer import reinfer
from litesmith.ir.state import StatePair, add_state, graph_state

from .batch_analysis import AxisAnalysis, strip_axis
from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import replace_value


@register_pass("unroll-rnn")
@dataclass
class UnrollRnn(Pass):
    """Replace each recurrent while loop by one step of its body; loop state becomes inputs/outputs."""

    steps: int = 1  # how many steps to unroll; 1 also removes the sequence input's time axis

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        if self.steps < 1:
            raise UserError(f"unroll-rnn: steps={self.steps} must be at least 1")
        stepped = False
        if self.steps == 1 and any(n.op == "core.unpack" for n in graph):  # unroll=True: Keras wrote the steps out
            stepped = bool(ctx.run_pipeline("step-unrolled-rnn", graph).changed)
        loops = [n for n in graph if n.op == "core.while"]
        if not loops:
            ctx.report["loops"] = 0
            return stepped
        ctx.run_pipeline("fold-constants", graph)
        sequences = _set_time_axes(graph, [n for n in graph if n.op == "core.while"], self.steps)
        ctx.run_pipeline("fold-constants", graph)
        pairs: List[dict] = []
        for loop in [n for n in graph if n.op == "core.while"]:
            pairs += _unroll(graph, loop, self.steps, len(graph_state(graph)) + len(pairs))
            # A later loop's initial state may be shaped from this one's outputs (stacked Keras
            # layers: zeros([shape(y)[0], units])): make those static before it is unrolled.
            _resolve_lists(graph)
            ctx.run_pipeline("fold-constants", graph)
        _resolve_lists(graph)
        ctx.run_pipeline("dce", graph)
        if self.steps == 1:
            for value, axis in sequences:
                if value.graph is graph and value.shape is not None and value.shape[axis] == 1:
                    strip_axis(graph, AxisAnalysis(graph, {value: axis}, 1, "time"))
            ctx.run_pipeline("fold-constants,dce", graph)
        skip = {id(v) for v, _ in sequences} | {id(graph.input_by_name(p["input"])) for p in pairs}
        dropped = _drop_sequence_lengths(graph, skip, ctx)
        for p in pairs:  # shapes after stripping
            p["shape"] = list(graph.input_by_name(p["input"]).shape)
        add_state(graph, [StatePair(p["input"], p["output"], tuple(p["shape"]), p["initial"], p["source"]) for p in pairs])
        ctx.report["loops"] = len(loops)
        ctx.report["state"] = pairs
        ctx.report["sequence_inputs"] = [f"{v.name} (time axis {a})" for v, a in sequences]
        if dropped:
            ctx.report["sequence_length_inputs_dropped"] = dropped
        return True


# -- the sequence input -------------------------------------------------------------------------


def _set_time_axes(graph: Graph, loops: List[Node], steps: int) -> List[Tuple[Value, int]]:
    """Find each graph input whose axis is unstacked into a loop's input list; give it ``steps`` entries."""
    targets = [v for loop in loops for v in loop.inputs
               if v.producer is not None and v.producer.op == "core.tensor_list_from_tensor"]
    found: List[Tuple[Value, int]] = []
    for value in graph.inputs:
        if not value.rank or value.type.is_list:
            continue
        for axis in range(value.rank):
            an = AxisAnalysis(graph, {value: axis}, value.shape[axis], "time", allow_mixing=True)
            _refuse_reversed(an, targets)
            if any((an.get(t.producer.inputs[0]) or _NO).axis == 0 and not an.get(t.producer.inputs[0]).merged
                   for t in targets):
                found.append((value, axis))
                break
    if targets and not found:
        raise UserError("unroll-rnn: cannot tell which graph input holds the sequence the loop steps over; "
                        "the loop's input list does not come from a graph input's axis")
    changed = []
    for value, axis in found:
        shape = list(value.shape)
        shape[axis] = steps
        value.set_type(value.type.with_shape(shape))
        changed.append(value)
    reinfer(graph, changed)
    return found


def _refuse_reversed(an: AxisAnalysis, targets: List[Value]) -> None:
    """A loop that reads the sequence reversed (Keras go_backwards, a Bidirectional layer's backward
    half) needs the whole sequence before its first step: refuse it, naming the layer."""
    lists = {id(t) for t in targets}
    for node in an.reversed:
        todo, seen = [node.outputs[0]], set()
        while todo:
            v = todo.pop()
            if id(v) in lists:
                layer = _layer_scope(node)
                raise UserError(f"unroll-rnn: layer {layer!r} reads its sequence backwards ({node.op} over the time "
                                f"axis: go_backwards=True or the backward half of a Bidirectional layer), so it needs "
                                f"the whole sequence before its first step and cannot be single-stepped; export it "
                                f"without go_backwards/Bidirectional")
            for use in v.uses():
                for out in use.node.outputs:
                    if id(out) not in seen and not use.node.regions:
                        seen.add(id(out))
                        todo.append(out)


def _layer_scope(node: Node) -> str:
    """The name scope of the layer a node belongs to (``model/lstm/PartitionedCall/ReverseV2`` -> ``model/lstm``)."""
    parts = (node.meta.get("source") or node.name or node.op).split("/")[:-1]
    while parts and parts[-1] in ("PartitionedCall", "StatefulPartitionedCall"):
        parts.pop()
    return "/".join(parts) or node.name


class _NoInfo:
    axis = -1
    merged = False


_NO = _NoInfo()


# -- sequence_length masking ---------------------------------------------------------------------

_SHAPE_ONLY = ("core.identity", "core.squeeze", "core.reshape", "core.expand_dims")


def _drop_sequence_lengths(graph: Graph, skip: set, ctx: PassContext) -> List[str]:
    """Fold dynamic_rnn's ``time >= sequence_length`` mask to false and drop the lengths input.

    Every step the caller feeds is inside its sequence (padding is not fed), so
    the selects that copy the old state / zeros through collapse to the cell's
    values. A length input is an integer graph input whose every use (through
    shape-only ops) is such a comparison against a constant step index.
    """
    dropped = []
    for value in list(graph.inputs):
        if id(value) in skip or value.dtype not in (DType.INT32, DType.INT64):
            continue
        compares = _mask_compares(value)
        if not compares:
            continue
        for node in compares:
            out = node.output
            b = Builder(graph, before=node)
            replace_value(out, b.const(np.zeros(out.shape, np.bool_)))
            graph.remove(node)
        ctx.run_pipeline("fold-constants", graph)  # the condition's reshapes become constants
        _collapse_const_selects(graph)
        ctx.run_pipeline("dce", graph)
        if not value.has_uses():
            graph.remove_input(value)
            dropped.append(value.name)
    return dropped


def _mask_compares(value: Value) -> Optional[List[Node]]:
    """The ``greater_equal(step, length)`` nodes ``value`` feeds, or None if it has any other use."""
    found: List[Node] = []
    todo = [value]
    while todo:
        v = todo.pop()
        if v.is_graph_output():
            return None
        for use in v.uses():
            n = use.node
            if n.op in _SHAPE_ONLY and use.index == 0:
                todo.append(n.output)
            elif (n.op == "core.greater_equal" and use.index == 1 and n.inputs[0].const_value() is not None
                  and n.output.shape is not None and None not in n.output.shape):
                found.append(n)
            else:
                return None
    return found or None


def _collapse_const_selects(graph: Graph) -> None:
    """``select(c, a, b)`` with a constant all-true / all-false condition is ``a`` / ``b`` (same type only)."""
    changed = True
    while changed:
        changed = False
        for node in list(graph):
            if node.graph is None or node.op != "core.select":
                continue
            cond = node.inputs[0].const_value()
            if cond is None or cond.size == 0 or not (cond.all() or not cond.any()):
                continue
            pick = node.inputs[1] if cond.flat[0] else node.inputs[2]
            if pick.type != node.output.type:
                continue
            replace_value(node.output, pick)
            graph.remove(node)
            changed = True


# -- inlining -------------------------------------------------------------------------------------


def _clone_region_into(region: Graph, args: List[Value], builder: Builder, suffix: str) -> List[Value]:
    """Copy ``region``'s nodes at ``builder``'s insertion point with its arguments bound to ``args``."""
    mapping: Dict[int, Value] = {id(a): v for a, v in zip(region.inputs, args)}
    for node in region:
        regions = [clone_graph(r) for r in node.regions]
        new = Node(node.op, [mapping[id(v)] for v in node.inputs], dict(node.attrs), [o.type for o in node.outputs],
                   regions=regions, meta=dict(node.meta),
                   output_names=[(o.name + suffix) if o.name else "" for o in node.outputs])
        builder.insert(new)
        for o, n in zip(node.outputs, new.outputs):
            mapping[id(o)] = n
    return [mapping[id(v)] for v in region.outputs]


def _is_state(arg: Value, result: Value, init: Value) -> bool:
    return (result is not arg and not arg.type.is_list and arg.dtype in (DType.FLOAT32, DType.FLOAT16, DType.FLOAT64))


def _unroll(graph: Graph, loop: Node, steps: int, first_index: int) -> List[dict]:
    cond, body = loop.regions
    inits = loop.inputs
    states = [k for k, (a, r, i) in enumerate(zip(body.inputs, body.outputs, inits)) if _is_state(a, r, i)]
    current: List[Value] = list(inits)
    pairs = []
    for j, k in enumerate(states):
        name = f"state/{first_index + j}"
        init = inits[k]
        inp = graph.add_input(init.type, name)
        current[k] = inp
        pairs.append({"input": name, "output": name + "_out", "shape": list(init.shape or []),
                      "initial": "graph input " + init.name if init.producer is None else "zeros",
                      "source": body.outputs[k].producer.name if body.outputs[k].producer else ""})
    b = Builder(graph, before=loop)
    for step in range(steps):
        current = _clone_region_into(body, current, b, "" if steps == 1 else f"/step{step}")
    for out, new in zip(loop.outputs, current):
        replace_value(out, new)
    for j, k in enumerate(states):
        ident = b.op("core.identity", [current[k]], name=pairs[j]["output"])
        graph.outputs.append(ident)
    graph.remove(loop, force=True)
    return pairs


# -- tensor lists of a known length become tensors -----------------------------------------------


def _resolve_lists(graph: Graph) -> None:
    for node in list(graph):
        if node.graph is None:
            continue
        if node.op == "core.tensor_list_get_item":
            _get_item(node)
        elif node.op == "core.tensor_list_stack":
            _stack(node)
        elif node.op == "core.tensor_list_length":
            n = _list_length(node.inputs[0])
            if n is not None:
                b = Builder(graph, before=node)
                replace_value(node.output, b.const(np.array(n, np.int32)))
                graph.remove(node)
    reinfer(graph)


def _list_length(lst: Value) -> Optional[int]:
    p = lst.producer
    while p is not None and p.op == "core.tensor_list_set_item":
        p = p.inputs[0].producer
    if p is None:
        return None
    if p.op == "core.tensor_list_reserve":
        n = p.inputs[0].const_value()
        return None if n is None else int(n)
    if p.op == "core.tensor_list_from_tensor":
        shape = p.inputs[0].shape
        return None if shape is None or shape[0] is None else shape[0]
    return None


def _get_item(node: Node) -> None:
    src = node.inputs[0].producer
    idx = node.inputs[1].const_value()
    if src is None or src.op != "core.tensor_list_from_tensor" or idx is None:
        return
    x = src.inputs[0]
    b = Builder(node.graph, before=node)
    if x.shape is not None and x.shape[0] == 1 and int(idx) == 0:
        y = b.op("core.squeeze", [x], {"axes": [0]}, name=node.output.name)
    else:
        y = b.op("core.gather", [x, b.const(np.array(int(idx), np.int32))], {"axis": 0}, name=node.output.name)
    replace_value(node.output, y)
    node.graph.remove(node)


def _stack(node: Node) -> None:
    items: Dict[int, Value] = {}
    p = node.inputs[0].producer
    while p is not None and p.op == "core.tensor_list_set_item":
        idx = p.inputs[1].const_value()
        if idx is None:
            return
        items.setdefault(int(idx), p.inputs[2])
        p = p.inputs[0].producer
    # The loop now runs exactly len(items) steps; a reserve size baked from the
    # trained sequence length (a folded constant) no longer applies.
    n = len(items)
    if p is None or p.op != "core.tensor_list_reserve" or sorted(items) != list(range(n)) or n == 0:
        return
    b = Builder(node.graph, before=node)
    if n == 1:
        y = b.op("core.expand_dims", [items[0]], {"axis": 0}, name=node.output.name)
    else:
        y = b.op("core.pack", [items[i] for i in range(n)], {"axis": 0}, name=node.output.name)
    replace_value(node.output, y)
    node.graph.remove(node)
