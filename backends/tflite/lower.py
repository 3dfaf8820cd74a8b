"""Lower core ops to ``tfl.*`` ops: a dialect conversion with a legality report.

Each core op has one lowering function, registered with ``@lowers``; the
functions live in ``lower_elementwise.py``, ``lower_nn.py`` and
``lower_shape.py``. A lowering builds the TFLite ops through the rewriter and
returns the values that replace the node's outputs, or raises
``NotLowerable`` saying why it cannot (that reason ends up in the report).

    result = lower_to_tflite(graph)        # rewrites in place
    if not result.report.ok:
        print(result.report.summary())

Fusions (bias, activations, batch norm, pads) run afterwards on the ``tfl``
ops, see ``fusions.py``; keeping them out of the 1:1 lowerings keeps both small.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.reinfer import reinfer
from litesmith.ir.types import TensorType, is_static
from litesmith.passes.rewrite import RewritePattern, Rewriter, apply_patterns_greedily

from .dynamic_dims import accepts_unknown_dims
from .legalize import (
    CONTROL_FLOW, DYNAMIC_SHAPE, HINTS, NO_BUILTIN, NON_CONSTANT, SUPPORTED_DTYPES, UNSUPPORTED_DTYPE,
    ConversionTarget, LegalityIssue, LegalityReport, NotLowerable, hint_for, legality_report,
)

__all__ = ["lowers", "LOWERINGS", "lower_to_tflite", "LowerResult", "Lowering", "lowering_patterns"]

# core op -> fn(node, lw) -> list of replacement values
LowerFn = Callable[[Node, "Lowering"], Sequence[Value]]
LOWERINGS: Dict[str, LowerFn] = {}
# core op -> dtypes its lowering handles beyond SUPPORTED_DTYPES (TFLite's CAST converts f64 both ways)
EXTRA_DTYPES: Dict[str, frozenset] = {}
SHAPE_QUERIES = ("core.shape", "core.size", "core.rank")


def lowers(*ops: str, dtypes: Sequence[str] = ()):
    """Decorator: ``fn(node, lw)`` lowers nodes of ``ops``; each op has one lowering. ``dtypes``: the
    dtypes beyond SUPPORTED_DTYPES that these ops' builtin takes (few builtins take f64)."""

    def wrap(fn):
        for op in ops:
            if op in LOWERINGS:
                raise ValueError(f"{op} has two TFLite lowerings")
            LOWERINGS[op] = fn
            if dtypes:
                EXTRA_DTYPES[op] = frozenset(dtypes)
        return fn

    return wrap


# -- what a lowering function is handed ---------------------------------------------------


class Lowering:
    """Builds ``tfl`` ops before the node being lowered; small helpers for common operands."""

    def __init__(self, node: Node, rw: Rewriter):
        self.node = node
        self.rw = rw
        self.b: Builder = rw.builder(before=node)
        self.created: List[Node] = []  # undone if the lowering gives up half-way

    # building ------------------------------------------------------------------------
    def op(self, op: str, inputs: Sequence[Value], attrs: Optional[dict] = None, types: Optional[Sequence[TensorType]] = None):
        """Create ``op``; output types default to the lowered node's (same count)."""
        if types is None:
            types = [v.type for v in self.node.outputs]
        node = self.b.create(op, list(inputs), attrs or {}, output_types=list(types))
        self.created.append(node)
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def ops(self, op: str, inputs: Sequence[Value], attrs: Optional[dict] = None, types=None) -> List[Value]:
        """Like ``op`` but always the list of outputs (multi-output ops)."""
        out = self.op(op, inputs, attrs, types)
        return out if isinstance(out, list) else [out]

    def const(self, value, dtype: Optional[DType] = None) -> Value:
        arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype.np)
        v = self.b.op("core.const", [], {"value": arr})
        self.created.append(v.producer)
        return v

    def i32(self, values) -> Value:
        """An int32 constant (axes, shapes, perms: TFLite wants int32)."""
        return self.const(np.asarray(values, dtype=np.int32))

    def as_i32(self, v: Value) -> Value:
        """``v`` as int32: constants are converted, saturating (an int64 slice end of INT64_MAX means
        "to the end", and so does INT32_MAX); other int64 values get a CAST."""
        c = v.const_value()
        if c is not None:
            if c.dtype == np.int32:
                return v
            if c.dtype.kind in "iu":
                c = np.clip(c, np.iinfo(np.int32).min, np.iinfo(np.int32).max)
            return self.i32(c.astype(np.int32))
        if v.dtype is DType.INT32:
            return v
        return self.op("tfl.cast", [v], cast_attrs(v.dtype, DType.INT32), [v.type.with_dtype(DType.INT32)])

    def transpose(self, x: Value, perm: Sequence[int]) -> Value:
        shape = None if x.shape is None else tuple(x.shape[p] for p in perm)
        return self.op("tfl.transpose", [x, self.i32(list(perm))], {}, [x.type.with_shape(shape)])

    def reshape(self, x: Value, shape: Sequence[int]) -> Value:
        return self.op("tfl.reshape", [x, self.i32(list(shape))], {}, [x.type.with_shape(tuple(shape))])

    # checks -----------------------------------------------------------------------------
    def fail(self, kind: str, message: str, hint: Optional[str] = None):
        raise NotLowerable(kind, message, hint)

    def need_const(self, v: Value, what: str) -> np.ndarray:
        c = v.const_value()
        if c is None:
            self.fail(NON_CONSTANT, f"{what} must be a constant for TFLite")
        return c

    def rank(self, v: Value) -> int:
        if v.rank is None:
            self.fail(DYNAMIC_SHAPE, f"operand %{v.name} has unknown rank")
        return v.rank


def cast_attrs(src: DType, dst: DType) -> dict:
    return {"in_data_type": src, "out_data_type": dst}


def normalize_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


# -- the conversion ---------------------------------------------------------------------------


class _LowerPattern(RewritePattern):
    """Runs the registered lowering of ``op``; records why a node could not be lowered, and
    counts the nodes it lowered in ``lowered`` (core op -> nodes)."""

    def __init__(self, op: str, fn: LowerFn, failures: Dict[int, NotLowerable], lowered: Counter):
        self.op = op
        self.fn = fn
        self.failures = failures
        self.lowered = lowered

    @property
    def name(self) -> str:
        return f"lower {self.op}"

    def match_and_rewrite(self, node: Node, rw: Rewriter) -> bool:
        lw = None
        try:
            _precheck(node)
            lw = Lowering(node, rw)
            new_values = list(self.fn(node, lw))
        except NotLowerable as e:
            for n in reversed(lw.created if lw else []):
                n.graph.remove(n)
            self.failures[id(node)] = e
            return rw.why_not(e.message)
        rw.replace_node(node, new_values)
        self.lowered[self.op] += 1
        return True


def _precheck(node: Node) -> None:
    """Reasons that hold for any op: unknown dims its lowering cannot keep (``dynamic_dims.py``) and
    dtypes TFLite lacks."""
    extra = EXTRA_DTYPES.get(node.op, ())
    for v in list(node.inputs) + list(node.outputs):
        if v.type.is_list:
            raise NotLowerable(CONTROL_FLOW, f"tensor list value %{v.name} has no TFLite form")
        if str(v.dtype) not in SUPPORTED_DTYPES and str(v.dtype) not in extra:
            raise NotLowerable(UNSUPPORTED_DTYPE, f"value %{v.name} has dtype {v.dtype}")
        if not is_static(v.shape) and not accepts_unknown_dims(node, v):
            raise NotLowerable(DYNAMIC_SHAPE, f"value %{v.name} has unknown dims ({v.type})")


def lowering_patterns(failures: Dict[int, NotLowerable], lowered: Optional[Counter] = None) -> List[RewritePattern]:
    """One pattern per registered lowering; ``lowered`` (if given) counts what each one lowered."""
    _load_lowerings()
    lowered = Counter() if lowered is None else lowered
    return [_LowerPattern(op, fn, failures, lowered) for op, fn in LOWERINGS.items()]


def _load_lowerings() -> None:
    from . import lower_control, lower_elementwise, lower_index, lower_linalg, lower_nn, lower_shape  # noqa: F401  (they register themselves)


@dataclass
class LowerResult:
    report: LegalityReport
    lowered: Dict[str, int] = field(default_factory=dict)  # core op -> nodes lowered


def lower_to_tflite(graph: Graph, target: Optional[ConversionTarget] = None) -> LowerResult:
    """Rewrite core ops of ``graph`` into ``tfl`` ops in place; report what stayed illegal."""
    target = target or ConversionTarget()
    failures: Dict[int, NotLowerable] = {}
    lowered: Counter = Counter()
    patterns = lowering_patterns(failures, lowered)
    # Static shapes first: shape/size/rank become constants, and re-inference then
    # makes the shapes computed from them (fill, reshape targets...) static too.
    first = apply_patterns_greedily(graph, [p for p in patterns if p.op in SHAPE_QUERIES], max_iterations=2)
    if first.changed:
        reinfer(graph)
    failures.clear()
    apply_patterns_greedily(graph, patterns, max_iterations=4)
    report = legality_report(graph, target, lambda node: _issue(node, failures.get(id(node))))
    return LowerResult(report, dict(lowered))


def _issue(node: Node, failure: Optional[NotLowerable]) -> LegalityIssue:
    if failure is not None:
        return LegalityIssue(node.name, node.op, failure.kind, failure.message, hint_for(node.op, failure.kind, failure.hint))
    if node.op in ("core.while", "core.if") or node.op.startswith("core.tensor_list"):
        return LegalityIssue(node.name, node.op, CONTROL_FLOW, f"{node.op} has no TFLite lowering here", HINTS[CONTROL_FLOW])
    what = node.op if node.op.startswith("core.") else f"foreign op {node.op}"
    return LegalityIssue(node.name, node.op, NO_BUILTIN, f"{what} has no TFLite builtin", hint_for(node.op, NO_BUILTIN, HINTS[NO_BUILTIN]))
