"""The IR: ``Graph`` of ``Node``s producing and consuming SSA ``Value``s.

Design points:
- A ``Value`` is defined once (by a node output or as a graph input) and
  knows its uses, so ``replace_all_uses_with`` is O(uses).
- A ``Graph`` is also a region: ``while``/``if`` nodes own nested graphs whose
  inputs are block arguments. Regions are isolated from above: everything a
  body needs is passed in explicitly, which keeps the interpreter, the
  verifier and every pass simple.
- A graph's nodes form an intrusive doubly linked list (as MLIR's op lists
  and torch.fx's node list): inserting before/after a node, erasing and
  moving one cost O(1), so no edit ever scans the block. A value's uses are
  an insertion-ordered dict, so dropping one use is O(1) too, and graph
  output membership is counted, so ``is_graph_output`` is O(1).
- Iterating ``graph.nodes`` walks a snapshot, so passes may insert or remove
  nodes while they iterate; removed nodes are skipped.
- ``graph.position(node)`` is a graph-order index, renumbered lazily after
  edits (one O(n) walk after any number of edits).
"""
from __future__ import annotations

import itertools
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .dtypes import DType
from .registry import get_op
from .types import QuantParams, Shape, TensorType

_ids = itertools.count()


class IRError(Exception):
    """A malformed graph or an illegal IR operation."""


class Use:
    """``node.inputs[index]`` is the used value. Immutable by convention; a plain slotted class
    rather than a frozen dataclass because one is built per operand of every node."""

    __slots__ = ("node", "index")

    def __init__(self, node: "Node", index: int):
        self.node = node
        self.index = index

    def __eq__(self, other):
        return isinstance(other, Use) and self.node is other.node and self.index == other.index

    def __hash__(self):
        return hash((self.node, self.index))

    def __repr__(self) -> str:
        return f"Use(node={self.node!r}, index={self.index})"


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
        self._uses: Dict[Tuple[int, int], Use] = {}  # (node id, operand index) -> Use, in insertion order
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
        return list(self._uses.values())

    def num_uses(self) -> int:
        return len(self._uses)

    def _add_use(self, node: "Node", index: int) -> None:
        self._uses[(node._id, index)] = Use(node, index)

    def _drop_use(self, node: "Node", index: int) -> None:
        del self._uses[(node._id, index)]

    @property
    def owner_graph(self) -> Optional["Graph"]:
        return self.producer.graph if self.producer is not None else self.graph

    def is_graph_output(self) -> bool:
        g = self.owner_graph
        return g is not None and g._output_counts.get(self._id, 0) > 0

    def has_uses(self) -> bool:
        return bool(self._uses) or self.is_graph_output()

    def replace_all_uses_with(self, other: "Value") -> None:
        """Point every user (and graph outputs) of this value at ``other``."""
        if other is self:
            return
        for use in list(self._uses.values()):
            use.node.set_input(use.index, other)
        g = self.owner_graph
        if g is not None and self.is_graph_output():
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

    __slots__ = ("op", "_inputs", "attrs", "outputs", "regions", "meta", "graph", "_id", "_prev", "_next", "_position",
                 "_inferred")

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
        self._prev: Optional[Node] = None  # neighbours in the owning graph's node list
        self._next: Optional[Node] = None
        self._position = 0  # graph-order index, valid while the graph's numbering is
        self._inferred = None  # what inference last confirmed these result types from (ir/builder.py inference_stamp)
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
        old._drop_use(self, index)
        self._inputs[index] = value
        value._add_use(self, index)

    def add_input(self, value: Value) -> None:
        if not isinstance(value, Value):
            raise TypeError(f"node {self.op}: input must be a Value, got {type(value).__name__}")
        self._inputs.append(value)
        value._add_use(self, len(self._inputs) - 1)

    def set_inputs(self, values: Sequence[Value]) -> None:
        self.drop_inputs()
        for v in values:
            self.add_input(v)

    def drop_inputs(self) -> None:
        for i, v in enumerate(self._inputs):
            v._drop_use(self, i)
        self._inputs = []

    # -- typed access by declared name ----------------------------------------------
    def attr(self, name: str) -> Any:
        """Attribute ``name`` as the op declares it (default applied, converted to its kind):
        ``node.attr("axis")`` is an int, ``node.attr("axes")`` a list of ints. A name the op
        does not declare is a KeyError naming the op; foreign ops give the raw value."""
        opdef = get_op(self.op)
        return self.attrs[name] if opdef is None else opdef.attr_value(self.attrs, name)

    def operand(self, name: str):
        """Input ``name`` as the op declares its operands: a Value, a list for a variadic one,
        None for an absent optional one. A name the op does not declare is a KeyError."""
        opdef = get_op(self.op)
        if opdef is None:
            raise KeyError(f"{self.op} is not declared: its operands have no names")
        where = opdef.operand_index(name, len(self._inputs))
        if where is None:
            return None
        return self._inputs[where] if isinstance(where, int) else list(self._inputs[where])

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


def _recounting(name: str):
    """A list method that, after it runs, refreshes the owning graph's output counts."""
    base = getattr(list, name)

    def method(self, *args):
        result = base(self, *args)
        self._graph._recount_outputs(self)
        return self if name == "__iadd__" else result

    method.__name__ = name
    return method


class _Outputs(list):
    """A graph's output list; every change refreshes the graph's membership counts."""

    __slots__ = ("_graph",)

    def __init__(self, graph: "Graph", values: Iterable[Value] = ()):
        super().__init__(values)
        self._graph = graph
        graph._recount_outputs(self)

    __setitem__ = _recounting("__setitem__")
    __delitem__ = _recounting("__delitem__")
    __iadd__ = _recounting("__iadd__")
    append = _recounting("append")
    extend = _recounting("extend")
    insert = _recounting("insert")
    pop = _recounting("pop")
    remove = _recounting("remove")
    clear = _recounting("clear")
    sort = _recounting("sort")
    reverse = _recounting("reverse")

    def __reduce__(self):
        return (list, (list(self),))


class Graph:
    """An ordered node list with named inputs and outputs; also a region.

    The nodes form an intrusive doubly linked list (``Node._prev``/``_next``),
    so every edit is O(1); ``position`` numbers nodes lazily for order queries.
    """

    def __init__(self, name: str = "main", inputs: Sequence[Value] = (), outputs: Sequence[Value] = ()):
        self.name = name
        self.inputs: List[Value] = []
        self._head: Optional[Node] = None
        self._tail: Optional[Node] = None
        self._count = 0
        self._numbered = False  # are the nodes' ``_position`` fields current?
        self.parent: Optional[Node] = None
        self.meta: Dict[str, Any] = {}
        self._output_counts: Dict[int, int] = {}
        for v in inputs:
            self.add_input(v)
        self.outputs = list(outputs)

    # -- outputs ------------------------------------------------------------------
    @property
    def outputs(self) -> List[Value]:
        return self._outputs

    @outputs.setter
    def outputs(self, values: Iterable[Value]) -> None:
        self._outputs = _Outputs(self, values)

    def _recount_outputs(self, values: Iterable[Value]) -> None:
        counts: Dict[int, int] = {}
        for v in values:
            counts[v._id] = counts.get(v._id, 0) + 1
        self._output_counts = counts

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
        out: List[Node] = []
        n = self._head
        while n is not None:
            out.append(n)
            n = n._next
        return out

    def __iter__(self) -> Iterator[Node]:
        for n in self.nodes:
            if n.graph is self:
                yield n

    def __len__(self) -> int:
        return self._count

    @property
    def first(self) -> Optional[Node]:
        return self._head

    @property
    def last(self) -> Optional[Node]:
        return self._tail

    def append(self, node: Node) -> Node:
        self._adopt(node)
        self._link(node, self._tail, None)
        return node

    def prepend(self, node: Node) -> Node:
        self._adopt(node)
        self._link(node, None, self._head)
        return node

    def insert_before(self, anchor: Node, node: Node) -> Node:
        self._check_member(anchor)
        self._adopt(node)
        self._link(node, anchor._prev, anchor)
        return node

    def insert_after(self, anchor: Node, node: Node) -> Node:
        self._check_member(anchor)
        self._adopt(node)
        self._link(node, anchor, anchor._next)
        return node

    def remove(self, node: Node, force: bool = False) -> None:
        """Unlink ``node``; its outputs must be unused unless ``force``."""
        self._check_member(node)
        if not force:
            for v in node.outputs:
                if v.has_uses():
                    raise IRError(f"cannot remove {node!r}: output %{v.name} still has uses")
        node.drop_inputs()
        self._unlink(node)
        node.graph = None

    def move_before(self, anchor: Node, node: Node) -> None:
        """Move ``node`` (of this graph) to just before ``anchor``; uses are untouched."""
        self._check_member(anchor)
        self._check_member(node)
        if node is anchor:
            return
        self._unlink(node)
        self._link(node, anchor._prev, anchor)

    def position(self, node: Node) -> int:
        """``node``'s index in graph order; renumbers lazily (O(n) once after any edits)."""
        self._check_member(node)
        if not self._numbered:
            i, n = 0, self._head
            while n is not None:
                n._position = i
                i, n = i + 1, n._next
            self._numbered = True
        return node._position

    def is_before(self, a: Node, b: Node) -> bool:
        """True when ``a`` comes before ``b`` in this graph."""
        return self.position(a) < self.position(b)

    def _adopt(self, node: Node) -> None:
        if node.graph is not None:
            raise IRError(f"{node!r} already belongs to a graph")
        node.graph = self

    def _check_member(self, node: Node) -> None:
        if node.graph is not self:
            raise IRError(f"{node!r} is not in graph {self.name}")

    def _link(self, node: Node, prev: Optional[Node], nxt: Optional[Node]) -> None:
        node._prev, node._next = prev, nxt
        if prev is None:
            self._head = node
        else:
            prev._next = node
        if nxt is None:
            self._tail = node
        else:
            nxt._prev = node
        self._count += 1
        self._numbered = False

    def _unlink(self, node: Node) -> None:
        prev, nxt = node._prev, node._next
        if prev is None:
            self._head = nxt
        else:
            prev._next = nxt
        if nxt is None:
            self._tail = prev
        else:
            nxt._prev = prev
        node._prev = node._next = None
        self._count -= 1
        self._numbered = False

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
        nodes = self.nodes
        for root in nodes:
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
        assert len(order) == len(nodes)
        self._head = self._tail = None
        self._count = 0
        for n in order:
            self._link(n, self._tail, None)

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.inputs)} inputs, {self._count} nodes, {len(self.outputs)} outputs>"
