"""Build nodes with inferred output types at an insertion point.

    b = Builder(graph)                 # append at the end
    b = Builder(graph, before=node)    # insert before ``node``
    y = b.op("core.add", [x, c])
    w = b.const(np.ones((4, 4), np.float32))
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .dtypes import DType
from .graph import Graph, IRError, Node, Value
from .registry import InferContext, get_op
from .types import TensorType


def infer_types(op: str, inputs: Sequence[Value], attrs: Dict[str, Any], regions=()) -> List[TensorType]:
    """Run the registered inference of ``op`` (attrs must include defaults)."""
    opdef = get_op(op)
    if opdef is None:
        raise IRError(f"cannot infer types of foreign op {op}: give output_types")
    if opdef.infer is None:
        raise IRError(f"{op} has no type inference: give output_types")
    problem = opdef.check_arity(len(inputs))
    if problem:
        raise IRError(f"{op} {problem}")
    ctx = InferContext(op, [v.type for v in inputs], [v.const_value() for v in inputs], attrs, regions)
    return list(opdef.infer(ctx))


def inference_stamp(node: Node) -> Optional[tuple]:
    """What ``node``'s result types were inferred from: its operand types and constant data (the
    array's identity), its attributes (names, and values by identity) and its result types.
    Recorded where inference ran (``Builder.create``, ``reinfer``, ``verify``), so a verifier that
    trusts inferred types re-infers only nodes changed since; an operand replaced by another value
    of the same type (and no constant) changes nothing inference reads. None for nodes with
    regions (their inference reads the regions) and constants (cheap, and a stamp would hold
    their data)."""
    if node.regions or node.op == "core.const":
        return None
    types, consts = [], []
    for v in node._inputs:
        types.append(v.type)
        p = v.producer
        consts.append(id(p.attrs.get("value")) if p is not None and p.op == "core.const" else 0)
    return (tuple(types), tuple(consts), tuple(node.attrs), tuple(node.attrs.values()),
            tuple([v.type for v in node.outputs]))


def stamp_matches(node: Node) -> bool:
    """Whether ``node`` is unchanged since inference confirmed its result types (``inference_stamp``)."""
    old = node._inferred
    if old is None:
        return False
    new = inference_stamp(node)
    return (new is not None and old[0] == new[0] and old[1] == new[1] and old[2] == new[2]
            and all(a is b for a, b in zip(old[3], new[3])) and old[4] == new[4])


def normalize_attrs(op: str, attrs: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Apply defaults and reject unknown or missing attributes of declared ops (a new dict; the
    caller's is not changed)."""
    attrs = attrs or {}
    opdef = get_op(op)
    if opdef is None:
        return dict(attrs)
    if not attrs.keys() <= opdef.attrs.keys():
        unknown = set(attrs) - set(opdef.attrs)
        raise IRError(f"{op}: unknown attribute(s) {', '.join(sorted(unknown))}")
    missing = [k for k in opdef.required_attrs() if k not in attrs]
    if missing:
        raise IRError(f"{op}: missing attribute(s) {', '.join(missing)}")
    for key, value in attrs.items():
        problem = opdef.attrs[key].problem(value)
        if problem:
            raise IRError(f"{op}: attribute {key!r} {problem}")
    return opdef.attrs_with_defaults(attrs)


class Builder:
    """Creates nodes at an insertion point: end of ``graph``, or before/after a node."""

    def __init__(self, graph: Graph, before: Optional[Node] = None, after: Optional[Node] = None):
        self.graph = graph
        self.before = before
        self.after = after
        self.meta: Dict[str, Any] = {}  # merged into every new node's meta (provenance)

    def insert(self, node: Node) -> Node:
        if self.before is not None:
            self.graph.insert_before(self.before, node)
        elif self.after is not None:
            self.graph.insert_after(self.after, node)
            self.after = node
        else:
            self.graph.append(node)
        return node

    def create(
        self,
        op: str,
        inputs: Sequence[Value] = (),
        attrs: Optional[Dict[str, Any]] = None,
        *,
        output_types: Optional[Sequence[TensorType]] = None,
        regions=(),
        name: str = "",
        meta: Optional[Dict[str, Any]] = None,
    ) -> Node:
        """Insert a node and return it; output types are inferred unless given."""
        attrs = normalize_attrs(op, attrs)
        inferred = output_types is None
        if inferred:
            output_types = infer_types(op, inputs, attrs, regions)
        names = [name] if len(output_types) == 1 else [f"{name}:{i}" if name else "" for i in range(len(output_types))]
        node = Node(op, inputs, None, output_types, regions=regions, output_names=names)
        node.attrs = attrs  # normalize_attrs made it: no second copy
        node.meta = {**self.meta, **meta} if meta else dict(self.meta)
        if inferred:
            node._inferred = inference_stamp(node)
        return self.insert(node)

    def op(self, op: str, inputs: Sequence[Value] = (), attrs: Optional[Dict[str, Any]] = None, **kw) -> Union[Value, List[Value]]:
        """Insert a node; return its single output, or the list of outputs."""
        node = self.create(op, inputs, attrs, **kw)
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def const(self, value, dtype: Optional[DType] = None, name: str = "") -> Value:
        arr = as_array(value, dtype)
        return self.op("core.const", [], {"value": arr}, name=name)


class RecordingBuilder(Builder):
    """Inserts through another builder and remembers the nodes it inserted, in order.

    Lets a caller undo or revisit exactly what a mapping or rewrite created,
    without comparing the graph before and after (which would scan it)."""

    def __init__(self, inner: Builder):
        super().__init__(inner.graph, before=inner.before, after=inner.after)
        self.inner = inner
        self.meta = inner.meta
        self.created: List[Node] = []

    def insert(self, node: Node) -> Node:
        self.inner.insert(node)
        self.created.append(node)
        return node


def as_array(value, dtype: Optional[DType] = None) -> np.ndarray:
    """A numpy array for a constant, in the IR's numpy representation of its dtype."""
    if dtype is not None:
        arr = np.asarray(value, dtype=dtype.np)
    else:
        arr = np.asarray(value)
        if arr.dtype.kind in "US":
            arr = arr.astype(object)
        elif arr.dtype == np.float64 and not isinstance(value, np.ndarray):
            arr = arr.astype(np.float32)
        elif arr.dtype == np.int64 and not isinstance(value, np.ndarray):
            arr = arr.astype(np.int32)
    DType.from_numpy(arr.dtype)  # reject dtypes the IR does not have
    return arr
