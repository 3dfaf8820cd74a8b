"""The op registry: every op is declared once, here or in ``ir/ops/*``.

A declaration (``OpDef``) holds the operands, typed attributes with defaults,
shape/dtype inference, a numpy reference kernel, canonicalization patterns and
a docstring. The printer, parser, verifier, interpreter, passes and the
generated ``docs/ops.md`` all read the same declaration.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from . import traits as _traits
from .dtypes import DType
from .types import ElidedTensor, TensorType

REQUIRED = object()  # sentinel: attribute has no default

# Attribute kinds, for validation and for docs.
ATTR_KINDS = ("int", "float", "bool", "str", "ints", "floats", "strs", "dtype", "shape", "tensor", "any")


@dataclass(frozen=True)
class Attr:
    kind: str
    default: Any = REQUIRED
    doc: str = ""

    def __post_init__(self):
        if self.kind not in ATTR_KINDS:
            raise ValueError(f"unknown attribute kind {self.kind!r}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def problem(self, value: Any) -> Optional[str]:
        """Why ``value`` is not of this attribute's kind (None if it is): a bad file must
        not reach inference or a kernel as a list where an int belongs."""
        if value is None and self.default is None or self.kind == "any":
            return None
        if _KIND_CHECKS[self.kind](value):
            return None
        text = repr(value)
        return f"must be {_KIND_NAMES[self.kind]}, got {type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer))


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating))


def _all(check):
    return lambda v: isinstance(v, (list, tuple, np.ndarray)) and all(check(x) for x in v)


_KIND_CHECKS = {
    "int": _is_int, "float": _is_number, "bool": lambda v: isinstance(v, (bool, np.bool_)) or (_is_int(v) and v in (0, 1)),
    "str": lambda v: isinstance(v, str), "ints": _all(_is_int), "floats": _all(_is_number),
    "strs": _all(lambda x: isinstance(x, str)), "dtype": lambda v: isinstance(v, DType),
    "shape": lambda v: v is None or _all(lambda d: d is None or (_is_int(d) and d >= 0))(v),
    "tensor": lambda v: isinstance(v, (np.ndarray, ElidedTensor)),
}
_KIND_CONVERT = {
    "int": int, "float": float, "bool": bool, "str": str,
    "ints": lambda v: [int(x) for x in v], "floats": lambda v: [float(x) for x in v], "strs": lambda v: [str(x) for x in v],
}
_KIND_NAMES = {"int": "an int", "float": "a number", "bool": "a bool", "str": "a string", "ints": "a list of ints",
               "floats": "a list of numbers", "strs": "a list of strings", "dtype": "an element type",
               "shape": "a shape", "tensor": "a tensor"}


@dataclass(frozen=True)
class Operand:
    """``name``; ``variadic`` takes any number (at most one per op); ``optional`` may be absent (trailing)."""

    name: str
    variadic: bool = False
    optional: bool = False

    @classmethod
    def parse(cls, spec: str) -> "Operand":
        if spec.startswith("*"):
            return cls(spec[1:], variadic=True)
        if spec.startswith("?"):
            return cls(spec[1:], optional=True)
        return cls(spec)


class InferContext:
    """What inference sees: input types, constant input values (or None), attrs."""

    def __init__(self, op: str, types: Sequence[TensorType], consts: Sequence[Optional[np.ndarray]], attrs: Dict[str, Any], regions=()):
        self.op = op
        self.types = list(types)
        self.consts = list(consts)
        self.attrs = attrs
        self.regions = list(regions)

    def fail(self, msg: str):
        raise InferError(f"{self.op}: {msg}")


class InferError(ValueError):
    """Inputs or attributes that the op's semantics reject."""


InferFn = Callable[[InferContext], List[TensorType]]


@dataclass
class OpDef:
    name: str
    doc: str
    operands: Tuple[Operand, ...]
    attrs: Dict[str, Attr]
    # None: the node's creator gives the output types (custom ops, quantize),
    # and the verifier takes them as declared.
    infer: Optional[InferFn]
    kernel: Optional[Callable[..., Any]] = None
    # ``execute(node, inputs, interpreter)`` for ops whose semantics need the
    # node itself (regions); takes precedence over ``kernel``.
    execute: Optional[Callable[..., Any]] = None
    num_regions: int = 0
    canonicalize: List[Any] = field(default_factory=list)
    # A heading for the generated catalogue only; passes ask ``traits``/``batch_axis``.
    category: str = "misc"
    # Side-effect-free ops may be removed when unused and merged by CSE.
    pure: bool = True
    # What passes may assume about the op (``ir/traits.py``: elementwise, commutative...).
    traits: FrozenSet[str] = frozenset()
    # How a tracked batch/time axis goes through the op (a rule of ``ir/traits.py``); None: no rule.
    batch_axis: Optional[str] = None

    def has(self, trait: str) -> bool:
        return trait in self.traits

    # -- typed accessors: ``node.attr("axis")``, ``node.operand("perm")`` ----------------------------
    def attr_value(self, attrs: Dict[str, Any], name: str) -> Any:
        """``attrs[name]`` (the default if absent) as its declared kind: an int for ``int``,
        a list of ints for ``ints``... A name the op does not declare is a KeyError naming the op."""
        attr = self.attrs.get(name)
        if attr is None:
            raise KeyError(f"{self.name} declares no attribute {name!r} (it has {sorted(self.attrs) or 'none'})")
        value = attrs.get(name, attr.default)
        if value is REQUIRED:
            raise KeyError(f"{self.name}: required attribute {name!r} is missing")
        convert = _KIND_CONVERT.get(attr.kind)
        return value if value is None or convert is None else convert(value)

    def operand_index(self, name: str, count: int):
        """Where operand ``name`` sits among ``count`` inputs: an int, a slice (variadic), or None
        (an optional operand that is absent). An undeclared name is a KeyError naming the op."""
        names = [o.name for o in self.operands]
        if name not in names:
            raise KeyError(f"{self.name} declares no operand {name!r} (it has {names or 'none'})")
        k = names.index(name)
        variadic = next((i for i, o in enumerate(self.operands) if o.variadic), None)
        if variadic is None or k < variadic:
            return k if k < count else None
        tail = len(self.operands) - 1 - k  # operands after the variadic one are counted from the end
        if k == variadic:
            return slice(k, count - (len(self.operands) - 1 - k))
        return count - 1 - tail

    @property
    def dialect(self) -> str:
        return self.name.split(".", 1)[0]

    def attrs_with_defaults(self, attrs: Dict[str, Any]) -> Dict[str, Any]:
        out = dict(self._attr_rules()[0])
        out.update(attrs)
        return out

    def required_attrs(self) -> Tuple[str, ...]:
        """The names of the attributes a node must carry (declared without a default)."""
        return self._attr_rules()[1]

    def _attr_rules(self) -> Tuple[Dict[str, Any], Tuple[str, ...]]:
        """(defaults of the optional attributes, required names); computed once, asked for every
        node built or verified. Attributes are declared once by ``defop`` and never change."""
        cached = self.__dict__.get("_attr_rules_cache")
        if cached is None:
            defaults = {k: a.default for k, a in self.attrs.items() if not a.required}
            required = tuple(k for k, a in self.attrs.items() if a.required)
            cached = self.__dict__["_attr_rules_cache"] = (defaults, required)
        return cached

    def check_arity(self, n: int) -> Optional[str]:
        low, high = self._arity()
        if n < low:
            return f"expects at least {low} operands, got {n}"
        if high is not None and n > high:
            return f"expects at most {high} operands, got {n}"
        return None

    def _arity(self) -> Tuple[int, Optional[int]]:
        """(fewest, most or None) operands; computed once (asked for every node built or verified)."""
        cached = self.__dict__.get("_arity_cache")
        if cached is None:
            fixed = sum(1 for o in self.operands if not o.variadic and not o.optional)
            optional = sum(1 for o in self.operands if o.optional)
            variadic = any(o.variadic for o in self.operands)
            cached = self.__dict__["_arity_cache"] = (fixed, None if variadic else fixed + optional)
        return cached


_REGISTRY: Dict[str, OpDef] = {}


def defop(
    name: str,
    *,
    doc: str,
    operands: Sequence[str] = (),
    attrs: Optional[Dict[str, Attr]] = None,
    infer: Optional[InferFn],
    kernel: Optional[Callable[..., Any]] = None,
    execute: Optional[Callable[..., Any]] = None,
    num_regions: int = 0,
    category: str = "misc",
    pure: bool = True,
    traits: Sequence[str] = (),
    batch_axis: Optional[str] = None,
) -> OpDef:
    """Declare an op. Declaring the same name twice is an error.

    ``traits`` and ``batch_axis`` come from the vocabulary in ``ir/traits.py``; an
    elementwise op's batch-axis rule defaults to ``"elementwise"``."""
    if name in _REGISTRY:
        raise ValueError(f"op {name} declared twice")
    if batch_axis is None and _traits.ELEMENTWISE in traits:
        batch_axis = "elementwise"
    _traits.check(name, traits, batch_axis)
    opdef = OpDef(
        name=name,
        doc=" ".join(doc.split()),
        operands=tuple(Operand.parse(s) for s in operands),
        attrs=dict(attrs or {}),
        infer=infer,
        kernel=kernel,
        execute=execute,
        num_regions=num_regions,
        category=category,
        pure=pure,
        traits=frozenset(traits),
        batch_axis=batch_axis,
    )
    _REGISTRY[name] = opdef
    return opdef


def get_op(name: str) -> Optional[OpDef]:
    """The declaration of ``name``, or None for a foreign (undeclared) op."""
    if _loaded:  # asked for every node built, verified or rewritten: a hit is one lookup
        opdef = _REGISTRY.get(name)
        if opdef is not None:
            return opdef
    _ensure_loaded()
    opdef = _REGISTRY.get(name)
    if opdef is None and "." in name:
        dialect = name.split(".", 1)[0]
        if dialect not in _dialects_tried:
            _load_dialect(dialect)
            opdef = _REGISTRY.get(name)
    return opdef


_dialects_tried: set = {"core"}


def _load_dialect(dialect: str) -> None:
    """Import the module that declares ``dialect``'s ops, found through the
    ``litesmith.dialects`` entry-point group (e.g. ``tfl`` -> the TFLite backend).

    This keeps ir/ free of imports from other layers while ``get_op("tfl.add")``
    still works for a graph read from a .tflite file."""
    _dialects_tried.add(dialect)
    from importlib.metadata import entry_points

    for ep in entry_points(group="litesmith.dialects"):
        if ep.name == dialect:
            ep.load()


def ensure_dialect(dialect: str) -> None:
    """Load ``dialect``'s module (once) if an entry point declares it."""
    _ensure_loaded()
    if dialect not in _dialects_tried:
        _load_dialect(dialect)


def check_op_name(op_name: str) -> None:
    """Raise ValueError for an undeclared op of a declared dialect (``core.nge``: a typo);
    foreign dialects (``tf.X``, ``onnx.X``) have no declarations and pass."""
    dialect = op_name.split(".", 1)[0]
    ensure_dialect(dialect)
    if op_name in _REGISTRY:
        return
    prefix = dialect + "."
    if any(name.startswith(prefix) for name in _REGISTRY):
        raise ValueError(f"{op_name!r} is not a declared op of dialect {dialect!r}")


# dialect -> fn(node, builder) -> new values or None: how a frontend maps its foreign
# ``dialect.X`` nodes into core ops once their axis-like operands became constants.
_FOREIGN_LIFTERS: Dict[str, Callable[..., Any]] = {}


def register_foreign_lifter(dialect: str, fn: Callable[..., Any]) -> None:
    """Called by a frontend's dialect module (loaded through ``litesmith.dialects``)."""
    _FOREIGN_LIFTERS[dialect] = fn


def foreign_lifter(op_name: str) -> Optional[Callable[..., Any]]:
    """The lifter registered for ``op_name``'s dialect, loading the dialect on first use."""
    dialect = op_name.split(".", 1)[0]
    ensure_dialect(dialect)
    return _FOREIGN_LIFTERS.get(dialect)


def all_ops() -> List[OpDef]:
    """Every declared op, dialects from entry points included."""
    _ensure_loaded()
    from importlib.metadata import entry_points

    for ep in entry_points(group="litesmith.dialects"):
        if ep.name not in _dialects_tried:
            _load_dialect(ep.name)
    return sorted(_REGISTRY.values(), key=lambda o: o.name)


def canonicalization_pattern(op_name: str):
    """Decorator: register ``fn(node, rewriter) -> bool`` as a canonicalization of ``op_name``."""

    def wrap(fn):
        _ensure_loaded()
        _REGISTRY[op_name].canonicalize.append(fn)
        return fn

    return wrap


_loaded = False


def _ensure_loaded() -> None:
    """Import the op declaration modules once (they register themselves), then the core
    canonicalization patterns (``ir/canonical/``), which attach to those declarations."""
    global _loaded
    if not _loaded:
        _loaded = True
        from . import ops  # noqa: F401  (the declarations first,)
        from . import canonical  # noqa: F401, I001  (then the patterns that attach to them)
