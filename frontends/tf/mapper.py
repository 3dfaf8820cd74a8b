"""The table of TF op -> core op mappings, one small function per TF op.

    @tf_op("Relu", inputs=1)
    def _(ctx, node, inputs):
        return [ctx.op("core.relu", inputs[:1])]

``inputs`` is the number of data inputs TF's op takes (an int, or ``(least,
None)`` for variadic ops): a node fed another number is a corrupt file and is
refused before its mapping runs, so mappings may index their inputs freely.
Attributes are read through ``TfNode.attr_int`` and friends, which refuse a
missing or wrongly typed attribute with a ``BadAttr`` naming it. A mapping gets the node (name, op, converted attrs) and its data inputs as IR
values and returns the output values, or None to keep the node as a foreign
``tf.<Op>`` node (for instance when an axis input is not constant yet).
``relift`` runs the same table on a foreign node later, once passes have
folded its axis inputs to constants.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from litesmith.ir.builder import Builder, as_array
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Node, Value

from ..op_table import OpTable, run_mapping

MapFn = Callable[["MapContext", "TfNode", List[Value]], Optional[List[Value]]]
# TF op -> (least, most or None) data inputs: the mapped ops' (from ``tf_op``) and the control-flow ops'.
TABLE = OpTable("TF", "data input(s)", fixed_arity={
    "Enter": (1, 1), "RefEnter": (1, 1), "Exit": (1, 1), "RefExit": (1, 1), "NextIteration": (1, 1),
    "RefNextIteration": (1, 1), "LoopCond": (1, 1), "Switch": (2, 2), "RefSwitch": (2, 2),
    "Merge": (1, None), "RefMerge": (1, None), "Const": (0, 0), "Placeholder": (0, 0), "PlaceholderV2": (0, 0),
})
MAPPERS: Dict[str, MapFn] = TABLE.mappers
ARITY: Dict[str, Tuple[int, Optional[int]]] = TABLE.arity
tf_op = TABLE.op  # @tf_op("Relu", inputs=1): register the mapping of TF ops
arity_problem = TABLE.arity_problem


class BadAttr(UserError):
    """A TF attribute that is missing or of the wrong kind (the caller adds the node's name)."""


_REQUIRED = object()
_KINDS = {"an int": (int,), "a float": (int, float), "a string": (str,)}


@dataclass
class TfNode:
    """What a mapping sees of a TF node: name, op type and converted attributes."""

    name: str
    op: str
    attrs: Dict[str, Any] = field(default_factory=dict)

    def attr(self, key: str, default: Any = None) -> Any:
        v = self.attrs.get(key)
        return default if v is None else v

    def _typed(self, key: str, default: Any, kind: str) -> Any:
        v = self.attrs.get(key)
        if v is None:
            if default is _REQUIRED:
                raise BadAttr(f"attribute {key!r} is missing; {self.op} needs it")
            return default
        if isinstance(v, bool) or not isinstance(v, _KINDS[kind]):
            raise BadAttr(f"attribute {key!r} must be {kind}, got {_describe(v)}")
        return v

    def attr_int(self, key: str, default: Any = _REQUIRED) -> int:
        return int(self._typed(key, default, "an int"))

    def attr_float(self, key: str, default: Any = _REQUIRED) -> float:
        return float(self._typed(key, default, "a float"))

    def attr_str(self, key: str, default: Any = _REQUIRED) -> str:
        return str(self._typed(key, default, "a string"))

    def attr_ints(self, key: str, default: Any = _REQUIRED) -> List[int]:
        """A list-of-ints attribute (an empty list reads as ``[]`` whatever its declared kind)."""
        v = self.attrs.get(key)
        if v is None and default is not _REQUIRED:
            return list(default)
        if v is None:
            raise BadAttr(f"attribute {key!r} is missing; {self.op} needs it")
        if not isinstance(v, list) or any(isinstance(x, bool) or not isinstance(x, int) for x in v):
            raise BadAttr(f"attribute {key!r} must be a list of ints, got {_describe(v)}")
        return list(v)


def _describe(v: Any) -> str:
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


class NotConstant(Exception):
    """An axis-like input is not constant: the node stays foreign."""


class MapContext:
    """Builds the core ops of one TF node at the builder's insertion point."""

    def __init__(self, builder: Builder):
        self.builder = builder

    def op(self, name: str, inputs: Sequence[Value], attrs: Optional[Dict[str, Any]] = None) -> Value:
        return self.builder.op(name, list(inputs), attrs)

    def ops(self, name: str, inputs: Sequence[Value], attrs: Optional[Dict[str, Any]] = None) -> List[Value]:
        return list(self.builder.create(name, list(inputs), attrs).outputs)

    def const(self, value, dtype: Optional[DType] = None) -> Value:
        return self.builder.const(as_array(value, dtype))

    def const_value(self, v: Value) -> np.ndarray:
        """The constant value of an axis-like input; raises NotConstant otherwise."""
        c = v.const_value()
        if c is None:
            c = _computed_constant(v)
        if c is None:
            raise NotConstant(v.name)
        return c

    def const_ints(self, v: Value) -> List[int]:
        """An integer-valued constant input (axes, sizes, perms) as ints; BadAttr for any other dtype."""
        arr = np.asarray(self.const_value(v))
        if arr.dtype.kind not in "iub":
            raise BadAttr(f"input {v.name!r} must hold integers (an axis, size or index), got {arr.dtype}")
        return [int(x) for x in arr.reshape(-1)]

    def const_int(self, v: Value) -> int:
        values = self.const_ints(v)
        if len(values) != 1:
            raise BadAttr(f"input {v.name!r} must hold one integer, got {len(values)}")
        return values[0]


def _computed_constant(v: Value) -> Optional[np.ndarray]:
    """``range`` of constants (pfor's ``Max(x, Range(0, Rank, 1))``: a reduction over all dims),
    evaluated now so the reduction maps instead of staying foreign. Other computed axes stay foreign
    until fold-constants re-lifts them."""
    p = v.producer
    if p is None or p.op != "core.range":
        return None
    ins = [x.const_value() for x in p.inputs]
    if any(c is None or c.size != 1 for c in ins):
        return None
    start, limit, delta = (c.reshape(-1)[0] for c in ins)
    if delta == 0 or abs((limit - start) / delta) > 64:
        return None
    return np.arange(start, limit, delta, dtype=ins[0].dtype)


def map_node(builder: Builder, node: TfNode, inputs: List[Value]) -> Optional[List[Value]]:
    """Run the mapping of ``node``; None when there is none or it declines.

    Nodes a declining mapping already created are removed again, so a foreign
    node never leaves half a lowering behind."""
    fn = MAPPERS.get(node.op)
    if fn is None or arity_problem(node.op, len(inputs)):
        return None
    return run_mapping(fn, MapContext, builder, node, inputs, declines=(NotConstant,))


def relift(node: Node, builder: Builder) -> Optional[List[Value]]:
    """Try the TF mapping again on a foreign ``tf.X`` IR node.

    Returns the replacement values (created at ``builder``'s insertion point),
    or None when the op still cannot be lifted. The caller replaces the
    node's uses and erases it."""
    if not node.op.startswith("tf.") or node.regions:
        return None
    _load_mappings()
    tf_node = TfNode(node.meta.get("source") or node.name, node.op[3:], dict(node.attrs))
    saved = dict(builder.meta)
    builder.meta = {**saved, **({"source": node.meta["source"]} if "source" in node.meta else {})}
    try:
        values = map_node(builder, tf_node, node.inputs)
    finally:
        builder.meta = saved
    if values is None or len(values) < len(node.outputs):
        return None
    values = values[:len(node.outputs)]  # a foreign node keeps its outputs up to the last one used
    for old, new in zip(node.outputs, values):
        if old.name and not new.name:
            new.name = old.name
    return values


_loaded = False


def _load_mappings() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import ops_index, ops_linalg, ops_lists, ops_math, ops_nn, ops_shape  # noqa: F401  (they register themselves)
