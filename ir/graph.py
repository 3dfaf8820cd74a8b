"""The IR: ``Graph`` of ``Node``s producing and consuming SSA ``Value``s.

Design points:
- A ``Value`` is defined once (by a node output or as a graph input) and
  knows its uses, so ``replace_all_uses_with`` is O(uses).
- A ``Graph`` is also a region: ``while``/``if`` nodes own nested graphs whose
  inputs are block arguments. Regions are isolated from above: everything a
  body needs is passed in explicitly, which keeps the interpreter, the
  verifier and every pass simple.
- Iterating ``graph.nodes`` walks a snapshot, so passes may insert or remove
  nodes while they iterate; removed nodes are skipped.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

from .dtypes import DType
from .types import QuantParams, Shape, TensorType

_ids = itertools.count()


class IRError(Exception):
    """A malformed graph or an illegal IR operation."""


@dataclass(frozen=True)
class Use:
    """``node.inputs[index]`` is the used value."""

    node: "Node"
    index: int


class Value:
    """An SSA value: a typed tensor produced by a node or a graph input."""

    __slots__ = ("name", "type", "producer", "index", "graph", "_uses", "_id")

    def __init__(self, type: TensorType, name: str = "", producer: Optional["Node"] = None, index: int = 0):
        if not isinstance(type, TensorType):
            raise TypeError(f"Value type must be a TensorType, got {type!r}")
        self.type = type
        self.name = name
        self.producer = producer
        self.index = index
        self.graph: Optional[Graph] = None  # set for graph inputs; outputs use producer.graph
        self._uses: List[Use] = []
        self._id = next(_ids)

    # -- type shortcuts -----------------------------------------------------
    @property
    def dtype(self) -> DType:
        return self.type.dtype

    @property
    def shape(self) -> Shape:
        return self.type.shape

    @property
    def rank(self) -> Optional[int]:
        return self.type.rank

    @property
    def quant(self) -> Optional[QuantParams]:
        return self.type.quant

    def set_type(self, type: TensorType) -> None:
        self.type = type

    # -- def/use -------------------------------------------------------------
    def uses(self) -> List[Use]:
        return list(self._uses)

    @property
    def owner_graph(self) -> Optional["Graph"]:
        return self.producer.graph if self.producer is not None else self.graph

    def is_graph_output(self) -> bool:
        g = self.owner_graph
        return g is not None and any(o is self for o in g.outputs)

    def has_uses(self) -> bool:
        return bool(self._uses) or self.is_graph_output()

    def replace_all_uses_with(self, other: "Value") -> None:
        """Point every user (and graph outputs) of this value at ``other``."""
        if other is self:
            return
        for use in list(self._uses):
            use.node.set_input(use.index, other)
        g = self.owner_graph
        if g is not None:
            g.outputs = [other if o is self else o for o in g.outputs]

    def const_value(self) -> Optional[np.ndarray]:
        """The numpy value if this is produced by a constant node, else None."""
        p = self.producer
        if p is not None and p.op == "core.const":
            v = p.attrs["value"]
            return v if isinstance(v, np.ndarray) else None
        return None

    def is_const(self) -> bool:
        return self.const_value() is not None

    def __repr__(self) -> str:
        return f"%{self.name or self._id}: {self.type}"


class Node:
    """One operation: op name, input values, attributes, outputs, regions."""

    __slots__ = ("op", "_inputs", "attrs", "outputs", "regions", "meta", "graph", "_id")

    def __init__(
        self,
        op: str,
        inputs: Sequence[Value] = (),
        attrs: Optional[Dict[str, Any]] = None,
        output_types: Sequence[TensorType] = (),
        regions: Sequence["Graph"] = (),
        meta: Optional[Dict[str, Any]] = None,
        output_names: Optional[Sequence[str]] = None,
    ):
        self.op = op
        self._inputs: List[Value] = []
        self.attrs: Dict[str, Any] = dict(attrs or {})
        self.meta: Dict[str, Any] = dict(meta or {})
        self.graph: Optional[Graph] = None
        self._id = next(_ids)
        names = list(output_names) if output_names is not None else [""] * len(output_types)
        self.outputs: List[Value] = [Value(t, n, self, i) for i, (t, n) in enumerate(zip(output_types, names))]
        self.regions: List[Graph] = []
        for r in regions:
            self.add_region(r)
        for v in inputs:
            self.add_input(v)

    # -- inputs ----------------------------------------------------------------
    @property
    def inputs(self) -> List[Value]:
        """A copy: change inputs with ``set_input``/``add_input``/``set_inputs``."""
        return list(self._inputs)

    def set_input(self, index: int, value: Value) -> None:
        old = self._inputs[index]
        old._uses.remove(Use(self, index))
        self._inputs[index] = value
        value._uses.append(Use(self, index))

    def add_input(self, value: Value) -> None:
        if not isinstance(value, Value):
            raise TypeError(f"node {self.op}: input must be a Value, got {type(value).__name__}")
        self._inputs.append(value)
        value._uses.append(Use(self, len(self._inputs) - 1))

    def set_inputs(self, values: Sequence[Value]) -> None:
        self.drop_inputs()
        for v in values:
            self.add_input(v)

    def drop_inputs(self) -> None:
        for i, v in enumerate(self._inputs):
            v._uses.remove(Use(self, i))
        self._inputs = []

    # -- regions -----------------------------------------------------------------
    def add_region(self, region: "Graph") -> None:
        region.parent = self
        self.regions.append(region)

    # -- misc --------------------------------------------------------------------
    @property
    def output(self) -> Value:
        if len(self.outputs) != 1:
            raise IRError(f"{self.op} has {len(self.outputs)} outputs, not one")
        return self.outputs[0]

    @property
    def name(self) -> str:
        """Provenance name: the source node name if known, else the first output's."""
        return self.meta.get("source") or (self.outputs[0].name if self.outputs else self.op)

    def __repr__(self) -> str:
        return f"<Node {self.op} {self.name!r}>"

    def __hash__(self):
        return self._id

    def __eq__(self, other):
        return self is other


class Graph:
    """An ordered list of nodes with named inputs and outputs; also a region."""

    def __init__(self, name: str = "main", inputs: Sequence[Value] = (), outputs: Sequence[Value] = ()):
        self.name = name
        self.inputs: List[Value] = []
        self._nodes: List[Node] = []
        self.parent: Optional[Node] = None
        self.meta: Dict[str, Any] = {}
        for v in inputs:
            self.add_input(v)
        self.outputs: List[Value] = list(outputs)

    # -- inputs -------------------------------------------------------------------
    def add_input(self, value_or_type, name: str = "") -> Value:
        v = value_or_type if isinstance(value_or_type, Value) else Value(value_or_type, name)
        if v.producer is not None:
            raise IRError(f"graph input %{v.name} already has a producer")
        v.graph = self
        self.inputs.append(v)
        return v

    def remove_input(self, value: Value) -> None:
        if value.has_uses():
            raise IRError(f"cannot remove graph input %{value.name}: it still has uses")
        self.inputs = [v for v in self.inputs if v is not value]
        value.graph = None

    # -- nodes --------------------------------------------------------------------
    @property
    def nodes(self) -> List[Node]:
        """A snapshot of the nodes in order; safe to mutate the graph while iterating."""
        return list(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        for n in list(self._nodes):
            if n.graph is self:
                yield n

    def __len__(self) -> int:
        return len(self._nodes)

    def append(self, node: Node) -> Node:
        self._adopt(node)
        self._nodes.append(node)
        return node

    def insert_before(self, anchor: Node, node: Node) -> Node:
        self._adopt(node)
        self._nodes.insert(self._index(anchor), node)
        return node

    def insert_after(self, anchor: Node, node: Node) -> Node:
        self._adopt(node)
        self._nodes.insert(self._index(anchor) + 1, node)
        return node

    def remove(self, node: Node, force: bool = False) -> None:
        """Unlink ``node``; its outputs must be unused unless ``force``."""
        if not force:
            for v in node.outputs:
                if v.has_uses():
                    raise IRError(f"cannot remove {node!r}: output %{v.name} still has uses")
        node.drop_inputs()
        self._nodes.remove(node)
        node.graph = None

    def _adopt(self, node: Node) -> None:
        if node.graph is not None:
            raise IRError(f"{node!r} already belongs to a graph")
        node.graph = self

    def _index(self, anchor: Node) -> int:
        for i, n in enumerate(self._nodes):
            if n is anchor:
                return i
        raise IRError(f"{anchor!r} is not in graph {self.name}")

    # -- walking --------------------------------------------------------------------
    def walk(self) -> Iterator[Node]:
        """Every node, nested regions included (pre-order)."""
        for n in self:
            yield n
            for r in n.regions:
                yield from r.walk()

    def values(self) -> Iterator[Value]:
        yield from self.inputs
        for n in self:
            yield from n.outputs

    def input_by_name(self, name: str) -> Value:
        for v in self.inputs:
            if v.name == name:
                return v
        raise KeyError(name)

    def output_names(self) -> List[str]:
        return [v.name for v in self.outputs]

    def sort_topologically(self) -> None:
        """Reorder nodes so every node follows its producers (stable)."""
        order: List[Node] = []
        state: Dict[int, int] = {}
        position = {n._id: i for i, n in enumerate(self._nodes)}
        for root in self._nodes:
            if root._id in state:
                continue
            stack = [(root, 0)]
            state[root._id] = 1
            while stack:
                node, i = stack[-1]
                preds = [v.producer for v in node._inputs if v.producer is not None and v.producer.graph is self]
                if i < len(preds):
                    stack[-1] = (node, i + 1)
                    p = preds[i]
                    s = state.get(p._id)
                    if s is None:
                        state[p._id] = 1
                        stack.append((p, 0))
                    elif s == 1:
                        raise IRError(f"cycle through {p!r} in graph {self.name}")
                    continue
                stack.pop()
                state[node._id] = 2
                order.append(node)
        assert len(order) == len(self._nodes) and all(n._id in position for n in order)
        self._nodes = order

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self._nodes)} nodes, {len(self.outputs)} outputs>"
