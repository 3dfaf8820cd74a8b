"""The table of ONNX op -> core op mappings, one small function per ONNX op.

    @onnx_op("Relu", inputs=1)
    def _(ctx, node, inputs):
        return [ctx.op("core.relu", inputs[:1])]

``inputs`` is the number of inputs the op takes (an int, or ``(least, most)``
with None for variadic ops); optional inputs left out with an empty name are
``None`` in ``inputs``. A node fed another number is refused before its
mapping runs. Attributes are read through ``OnnxNode.attr_int`` and friends,
which refuse a wrongly typed attribute with a ``BadAttr`` naming it;
``node.opset`` is the model's opset, for the ops whose attributes became
inputs over the versions. A mapping returns the output values, or None to keep
the node as a foreign ``onnx.<Op>`` node (an axis input that is not constant,
a mode the core ops lack), which the legality report then names.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from litesmith.ir.builder import Builder, as_array
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Value

from ..op_table import OpTable, run_mapping

MapFn = Callable[["MapContext", "OnnxNode", List[Optional[Value]]], Optional[List[Value]]]
TABLE = OpTable("ONNX")
MAPPERS: Dict[str, MapFn] = TABLE.mappers
ARITY: Dict[str, Tuple[int, Optional[int]]] = TABLE.arity
onnx_op = TABLE.op  # @onnx_op("Relu", inputs=1): register the mapping of ONNX ops
arity_problem = TABLE.arity_problem


def missing_required(op: str, inputs) -> Optional[int]:
    """The first of the op's required inputs left empty (""), or None."""
    least = ARITY.get(op, (0, None))[0]
    return next((i for i, v in enumerate(inputs[:least]) if v is None), None)



class BadAttr(UserError):
    """An ONNX attribute of the wrong kind or value (the caller adds the node's name)."""


class BadNode(UserError):
    """A node the ONNX spec does not allow (a required input missing at this opset...); the caller adds its name."""


def need_input(inputs, i: int, what: str, op: str):
    """Input ``i`` (required at this opset), or ``BadNode``."""
    if i >= len(inputs) or inputs[i] is None:
        raise BadNode(f"{op} needs input {i} ({what}) at this opset")
    return inputs[i]


class Unsupported(Exception):
    """The mapping cannot express this node (a mode, a non-constant axis): it stays foreign."""


_REQUIRED = object()


@dataclass
class OnnxNode:
    """What a mapping sees of an ONNX node: name, op type, opset and converted attributes."""

    name: str
    op: str
    opset: int
    attrs: Dict[str, Any] = field(default_factory=dict)
    num_outputs: int = 1

    def has(self, key: str) -> bool:
        return key in self.attrs

    def _get(self, key: str, default: Any, kind: str, ok) -> Any:
        if key not in self.attrs:
            if default is _REQUIRED:
                raise BadAttr(f"attribute {key!r} is missing; {self.op} needs it")
            return default
        v = self.attrs[key]
        if not ok(v):
            text = repr(v)
            raise BadAttr(f"attribute {key!r} must be {kind}, got {text if len(text) <= 40 else text[:37] + '...'}")
        return v

    def attr_int(self, key: str, default: Any = _REQUIRED) -> int:
        return self._get(key, default, "an int", lambda v: isinstance(v, int))

    def attr_float(self, key: str, default: Any = _REQUIRED) -> float:
        return float(self._get(key, default, "a float", lambda v: isinstance(v, (int, float))))

    def attr_str(self, key: str, default: Any = _REQUIRED) -> str:
        return self._get(key, default, "a string", lambda v: isinstance(v, str))

    def attr_ints(self, key: str, default: Any = _REQUIRED) -> Optional[List[int]]:
        v = self._get(key, default, "a list of ints",
                      lambda v: isinstance(v, list) and all(isinstance(x, int) for x in v))
        return None if v is None else list(v)

    def attr_strs(self, key: str, default: Any = _REQUIRED) -> Optional[List[str]]:
        v = self._get(key, default, "a list of strings",
                      lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))
        return None if v is None else list(v)

    def attr_floats(self, key: str, default: Any = _REQUIRED) -> Optional[List[float]]:
        v = self._get(key, default, "a list of floats",
                      lambda v: isinstance(v, list) and all(isinstance(x, (int, float)) for x in v))
        return None if v is None else [float(x) for x in v]

    def attr_tensor(self, key: str, default: Any = _REQUIRED) -> Optional[np.ndarray]:
        return self._get(key, default, "a tensor", lambda v: isinstance(v, np.ndarray))


class MapContext:
    """Builds the core ops of one ONNX node at the builder's insertion point."""

    def __init__(self, builder: Builder):
        self.builder = builder

    def op(self, name: str, inputs: Sequence[Value], attrs: Optional[Dict[str, Any]] = None) -> Value:
        return self.ops(name, inputs, attrs)[0]

    def ops(self, name: str, inputs: Sequence[Value], attrs: Optional[Dict[str, Any]] = None) -> List[Value]:
        """Create ``name``; with constant inputs it is evaluated now (shape arithmetic such as
        Shape -> Gather -> Concat -> Reshape must be constant for the mappings that read it)."""
        node = self.builder.create(name, list(inputs), attrs)
        return _fold(node, self.builder) or list(node.outputs)

    def const(self, value, dtype: Optional[DType] = None) -> Value:
        return self.builder.const(as_array(value, dtype))

    def i32(self, values) -> Value:
        """An int32 constant (shapes, axes, indices: TFLite's type); values beyond int32 keep the node foreign."""
        arr = np.asarray(values, np.int64)
        if arr.size and (arr.max() > np.iinfo(np.int32).max or arr.min() < np.iinfo(np.int32).min):
            raise Unsupported("a shape or index does not fit in int32")
        return self.const(arr.astype(np.int32))

    def scalar_like(self, x: Value, value) -> Value:
        """A scalar constant of ``x``'s dtype."""
        if x.dtype in (DType.STRING, DType.VARIANT):
            raise Unsupported(f"arithmetic on {x.dtype} values")
        return self.const(np.asarray(value, dtype=x.dtype.np))

    @staticmethod
    def const_value(v: Optional[Value], what: str = "input") -> np.ndarray:
        """The constant value of an axis-like input; ``Unsupported`` (node stays foreign) otherwise."""
        c = None if v is None else v.const_value()
        if c is None:
            raise Unsupported(f"{what} is not a constant")
        return c

    def const_ints(self, v: Optional[Value], what: str = "input") -> List[int]:
        """An integer shape/axes input as ints (a float tensor there is a malformed file)."""
        c = np.asarray(self.const_value(v, what))
        if c.dtype.kind not in "iu":
            raise BadNode(f"{what} must be an integer tensor, got {v.dtype}")
        if c.size > 64:
            raise Unsupported(f"{what} has {c.size} entries")
        return [int(x) for x in c.reshape(-1)]

    def transpose(self, x: Value, perm: Sequence[int]) -> Value:
        """``x`` transposed; a constant is transposed now, so weights stay plain constants."""
        if x.rank is not None and sorted(int(p) % max(x.rank, 1) for p in perm) != list(range(x.rank)):
            raise BadNode(f"perm {list(perm)} is not a permutation of the {x.rank} dims of {x.name!r}")
        c = x.const_value()
        if c is not None:
            return self.const(np.ascontiguousarray(np.transpose(c, perm)))
        return self.op("core.transpose", [x, self.i32(list(perm))])

    def reshape(self, x: Value, shape: Sequence[int]) -> Value:
        c = x.const_value()
        if c is not None and list(shape).count(-1) <= 1:
            return self.const(np.reshape(c, shape))
        return self.op("core.reshape", [x, self.i32(list(shape))])


_FOLD_LIMIT = 1 << 20  # elements: larger results are left to fold-constants


def _fold(node, builder: Builder) -> Optional[List[Value]]:
    if not node.inputs or not all(v.const_value() is not None for v in node.inputs):
        return None
    from litesmith.ir.interpreter import Interpreter, InterpreterError
    from litesmith.ir.registry import get_op

    opdef = get_op(node.op)
    if opdef is None or opdef.kernel is None or opdef.num_regions or not opdef.pure:
        return None
    if any(v.type.is_list or v.shape is None or None in v.shape or int(np.prod(v.shape)) > _FOLD_LIMIT
           for v in node.outputs + node.inputs):
        return None
    try:
        values = Interpreter(builder.graph).execute(node, [v.const_value() for v in node.inputs])
    except InterpreterError:
        return None
    outs = [builder.const(np.asarray(x)) for x in values]
    node.graph.remove(node, force=True)
    return outs


# Ops whose mappings only move elements, so string tensors may pass through them.
STRING_OPS = {"Identity", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
              "Gather", "Expand", "Tile", "Constant", "Shape", "Size", "Equal", "Where", "Cast"}


def map_node(builder: Builder, node: OnnxNode, inputs: List[Optional[Value]]) -> Optional[List[Value]]:
    """Run the mapping of ``node``; None when there is none or it declines.

    Nodes a declining mapping already created are removed again, so a foreign
    node never leaves half a mapping behind."""
    fn = MAPPERS.get(node.op)
    if fn is None:
        return None
    if node.op not in STRING_OPS and any(v is not None and v.dtype is DType.STRING for v in inputs):
        return None
    return run_mapping(fn, MapContext, builder, node, inputs, declines=(Unsupported,))


def static_shape(v: Value, what: str = "input") -> Tuple[int, ...]:
    """``v``'s shape when every dim is known; ``Unsupported`` otherwise."""
    if v.shape is None or any(d is None for d in v.shape):
        raise Unsupported(f"{what} needs a static shape")
    return tuple(v.shape)


def need_rank(v: Value, what: str = "input") -> int:
    if v.rank is None:
        raise Unsupported(f"{what} has unknown rank")
    return v.rank


_loaded = False


def load_mappings() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import ops_attention, ops_elementwise, ops_nn, ops_reduce, ops_resize, ops_rnn, ops_shape  # noqa: F401  (they register themselves)
