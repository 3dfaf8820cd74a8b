"""The plan of split-host-ops: cut the graph at ops that must run on the host (beam search, user-named ops).

The top-level graph becomes an ordered plan of steps: device segments (plain
IR graphs, later compiled to one TFLite model each) and host ops (run by a
callback), with every tensor crossing a cut named. Host ops get a *level*:
a device node runs in the segment after the last host op it depends on, so
``segment 0, host ops of level 0, segment 1, ...`` respects every data edge
with as few models as the dependencies allow. Constants are copied into each
segment that uses them. ``host_split.py`` compiles the plan, writes the
JSON manifest and runs it; ``split_host_ops.py`` is the pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Union

import numpy as np

from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node, Value

from .host_ops import DEFAULT_HOST_OPS

__all__ = ["DeviceStep", "HostStep", "SplitPlan", "plan_host_split"]


@dataclass
class DeviceStep:
    graph: Graph          # inputs/outputs named after the plan's tensors
    inputs: List[str]
    outputs: List[str]


@dataclass
class HostStep:
    op: str               # bare op name, e.g. CTCBeamSearchDecoder
    node: str
    attrs: Dict[str, object]
    inputs: List[str]
    outputs: List[str]


@dataclass
class SplitPlan:
    inputs: Dict[str, Value]                     # graph input name -> value (types)
    outputs: Dict[str, str]                      # graph output name -> plan tensor
    steps: List[Union[DeviceStep, HostStep]]
    constants: Dict[str, np.ndarray] = field(default_factory=dict)  # consts read by host ops or outputs


def _bare(op: str) -> str:
    return op.split(".", 1)[1] if "." in op else op


def plan_host_split(graph: Graph, host_ops: Sequence[str] = tuple(DEFAULT_HOST_OPS)) -> SplitPlan:
    """The steps that run ``graph`` with nodes of ``host_ops`` (bare or dialect names) on the host."""
    wanted = {_bare(o) for o in host_ops} | set(host_ops)
    nodes = [n for n in graph if n.op != "core.const"]
    is_host = {id(n): (n.op in wanted or _bare(n.op) in wanted) for n in nodes}
    if not any(is_host.values()):
        raise UserError(f"split-host-ops: graph {graph.name!r} has no node of {', '.join(sorted(wanted))}; "
                        f"name the host ops with split-host-ops{{ops=A:B}}")
    level: Dict[int, int] = {}
    for n in nodes:
        avail = 0
        for v in n.inputs:
            p = v.producer
            if p is None or p.op == "core.const" or id(p) not in level:
                continue
            avail = max(avail, level[id(p)] + (1 if is_host[id(p)] else 0))
        level[id(n)] = avail
    names = _TensorNames(graph)
    steps: List[Union[DeviceStep, HostStep]] = []
    constants: Dict[str, np.ndarray] = {}
    by_level: List[List[Node]] = [[] for _ in range(max(level.values()) + 1)]
    for n in nodes:  # grouped once: one pass over the nodes, however many levels
        by_level[level[id(n)]].append(n)
    for lv, at_level in enumerate(by_level):
        segment = [n for n in at_level if not is_host[id(n)]]
        if segment:
            steps.append(_device_step(graph, segment, names, lv))
        for n in at_level:
            if is_host[id(n)]:
                for v in n.inputs:
                    if v.const_value() is not None:
                        constants[names[v]] = v.const_value()
                steps.append(HostStep(_bare(n.op), n.name, dict(n.attrs), [names[v] for v in n.inputs], [names[v] for v in n.outputs]))
    for v in graph.outputs:
        if v.const_value() is not None:
            constants[names[v]] = v.const_value()
    return SplitPlan({v.name: v for v in graph.inputs}, {v.name: names[v] for v in graph.outputs}, steps, constants)


class _TensorNames:
    """A unique, readable plan name per value: its own name when free, else ``t<n>``."""

    def __init__(self, graph: Graph):
        self._names: Dict[int, str] = {}
        self._taken: set = set()
        for v in graph.inputs:
            self[v]

    def __getitem__(self, v: Value) -> str:
        name = self._names.get(id(v))
        if name is None:
            name = v.name if v.name and v.name not in self._taken else f"t{len(self._taken)}"
            while name in self._taken:
                name += "_"
            self._taken.add(name)
            self._names[id(v)] = name
        return name


def _device_step(graph: Graph, segment: List[Node], names: _TensorNames, lv: int) -> DeviceStep:
    inside = {id(n) for n in segment}
    sub = Graph(f"{graph.name}_segment{lv}")
    mapping: Dict[int, Value] = {}
    inputs: List[str] = []

    def operand(v: Value) -> Value:
        if id(v) in mapping:
            return mapping[id(v)]
        if v.producer is not None and v.producer.op == "core.const":
            c = v.producer
            copy = Node("core.const", [], dict(c.attrs), [v.type], meta=dict(c.meta), output_names=[v.name])
            sub.append(copy)
            mapping[id(v)] = copy.outputs[0]
        else:  # crosses the cut: a graph input, a host result or an earlier segment's result
            mapping[id(v)] = sub.add_input(v.type, names[v])
            inputs.append(names[v])
        return mapping[id(v)]

    for n in segment:
        if n.regions:
            raise UserError(f"split-host-ops: node {n.name!r} ({n.op}) has regions; lower control flow before splitting")
        ins = [operand(v) for v in n.inputs]
        clone = Node(n.op, ins, dict(n.attrs), [v.type for v in n.outputs], meta=dict(n.meta),
                     output_names=[v.name for v in n.outputs])
        sub.append(clone)
        for old, new in zip(n.outputs, clone.outputs):
            mapping[id(old)] = new
    outputs: List[str] = []
    out_values: List[Value] = []
    for n in segment:
        for v in n.outputs:
            used_outside = any(id(u.node) not in inside for u in v.uses()) or v.is_graph_output()
            if used_outside:
                new = mapping[id(v)]
                new.name = names[v]
                outputs.append(names[v])
                out_values.append(new)
    sub.outputs = out_values
    return DeviceStep(sub, inputs, outputs)
