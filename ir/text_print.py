"""Printing the IR text form (the grammar is described in ``ir/text.py``)."""
from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from .dtypes import DType
from .graph import Graph, IRError, Node, Value
from .registry import get_op
from .types import ElidedTensor, TensorType

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.$-]+\Z")
_PLAIN_OP = re.compile(r"[A-Za-z_][A-Za-z0-9_.$]*\Z")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.$]*\Z")
_KEYWORDS = {"true", "false", "none", "inf", "nan"}
_DTYPE_NAMES = {d.value for d in DType}

# Printing
# ---------------------------------------------------------------------------


def _quote(s: str) -> str:
    """A double-quoted string literal with C-like escapes (round-trips any str)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F or (0xD800 <= o <= 0xDFFF):
            out.append(f"\\u{{{o:x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _quote_bytes(b: bytes) -> str:
    out = ['b"']
    for byte in b:
        ch = chr(byte)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    out.append('"')
    return "".join(out)


def _name(sigil: str, name: str) -> str:
    return sigil + (name if _PLAIN_NAME.match(name) else _quote(name))


def _key(key: str) -> str:
    return key if _PLAIN_KEY.match(key) and key not in _KEYWORDS else _quote(key)


def _shape_text(shape) -> str:
    if shape is None:
        return "*"
    return ",".join("?" if d is None else str(d) for d in shape)


def format_type(t: TensorType) -> str:
    """``f32[8,?]``, ``f32[*]``, ``list<f32[2]>``, ``i8[4] q(scale=0.5, zp=0)``."""
    if t.is_list:
        return f"list<{format_type(t.element)}>"
    s = f"{t.dtype.value}[{_shape_text(t.shape)}]"
    q = t.quant
    if q is not None:
        if q.axis is None and len(q.scale) == 1:
            s += f" q(scale={_float(q.scale[0])}, zp={q.zero_point[0]})"
        else:
            scales = ", ".join(_float(x) for x in q.scale)
            zps = ", ".join(str(z) for z in q.zero_point)
            axis = "" if q.axis is None else f", axis={q.axis}"
            s += f" q(scale=[{scales}], zp=[{zps}]{axis})"
    return s


def _float(x: float) -> str:
    """Exact text for a Python float; always distinguishable from an int."""
    return repr(float(x))


def _float_elem(x, np_type) -> str:
    """The shortest text that parses back to the same ``np_type`` value."""
    s = str(np_type(x))
    if math.isnan(float(x)):
        return "nan"
    if np_type(float(s)).tobytes() == np_type(x).tobytes() and not s.lstrip("-").isdigit():
        return s
    return repr(float(x))


def _elem_text(x, dtype: DType) -> str:
    if dtype is DType.BOOL:
        return "true" if bool(x) else "false"
    if dtype.is_int:
        return str(int(x))
    if dtype.is_float:
        return _float_elem(x, dtype.np.type)
    if dtype is DType.STRING:
        if isinstance(x, bytes):
            return _quote_bytes(x)
        if isinstance(x, str):
            return _quote(x)
        raise IRError(f"string tensor holds a {type(x).__name__}, not str or bytes")
    raise IRError(f"cannot print tensor elements of dtype {dtype}")


def _nested(arr: np.ndarray, dtype: DType) -> str:
    if arr.ndim == 0:
        return _elem_text(arr.item() if dtype is not DType.STRING else arr[()], dtype)
    return "[" + ", ".join(_nested(arr[i, ...], dtype) for i in range(arr.shape[0])) + "]"


_SPLAT_CHUNK = 1 << 16  # elements compared at a time: no array-sized temporary for a 100 MB constant


def _is_splat(arr: np.ndarray) -> bool:
    if arr.size < 2 or arr.dtype == object:
        return False
    flat = np.ascontiguousarray(arr).reshape(-1)
    raw = flat.view(np.uint8).reshape(flat.size, -1)
    return all((raw[i : i + _SPLAT_CHUNK] == raw[0]).all() for i in range(0, len(raw), _SPLAT_CHUNK))


class _Printer:
    def __init__(self, elide_above: int, constants_out: Optional[dict]):
        self.elide_above = elide_above
        self.constants_out = constants_out
        self.lines: List[str] = []

    # -- names ---------------------------------------------------------------
    @staticmethod
    def region_names(graph: Graph) -> Dict[int, str]:
        """Deterministic unique names for the values a graph defines.

        Inputs, then outputs, keep their names first: they are the graph's
        interface. Other clashes get a ``_1``, ``_2``... suffix; unnamed values
        get numbers."""
        taken: set = set()
        names: Dict[int, str] = {}
        defined = {id(v) for v in graph.values()}
        for v in list(graph.inputs) + list(graph.outputs):
            if v.name and v.name not in taken and id(v) in defined and id(v) not in names:
                taken.add(v.name)
                names[id(v)] = v.name
        counter = 0
        for v in graph.values():
            if id(v) in names:
                continue
            base = v.name
            if not base:
                while str(counter) in taken:
                    counter += 1
                base = str(counter)
            name, k = base, 0
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            taken.add(name)
            names[id(v)] = name
        return names

    def ref(self, v: Value, names: Dict[int, str]) -> str:
        n = names.get(id(v))
        if n is None:  # a dangling or captured value: print it, but unparseable on purpose
            return "%!" + _quote(v.name)
        return _name("%", n)

    # -- attributes ----------------------------------------------------------
    def attr(self, value: Any, key_hint: str, kind: Optional[str] = None) -> str:
        value = _coerce(kind, value)
        if value is None:
            return "none"
        if isinstance(value, (bool, np.bool_)):
            return "true" if value else "false"
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if isinstance(value, (float, np.floating)):
            return _float(value)
        if isinstance(value, str):
            return _quote(value)
        if isinstance(value, bytes):
            return _quote_bytes(value)
        if isinstance(value, DType):
            return value.value
        if isinstance(value, TensorType):
            return f"type<{format_type(value)}>"
        if isinstance(value, ElidedTensor):
            if value.key is not None:
                return f"ref<{format_type(value.type)}> {_quote(value.key)}"
            return f"elided<{format_type(value.type)}>"
        if isinstance(value, np.ndarray):
            return self.tensor(value, key_hint)
        if isinstance(value, tuple) and kind not in ("ints", "floats", "strs") and all(
            d is None or isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) for d in value
        ):
            return f"shape<{_shape_text(value)}>"
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(self.attr(x, f"{key_hint}.{i}") for i, x in enumerate(value)) + "]"
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return self.attr_dict(value, key_hint, None)
        raise IRError(f"cannot print attribute {key_hint!r} of type {type(value).__name__}")

    def attr_dict(self, attrs: Mapping[str, Any], key_hint: str, opdef) -> str:
        items = []
        for k in sorted(attrs):
            kind = opdef.attrs[k].kind if opdef is not None and k in opdef.attrs else None
            items.append(f"{_key(k)} = {self.attr(attrs[k], f'{key_hint}.{k}' if key_hint else k, kind)}")
        return "{" + ", ".join(items) + "}"

    def tensor(self, arr: np.ndarray, key_hint: str) -> str:
        dtype = DType.from_numpy(arr.dtype)
        head = f"dense<{format_type(TensorType(dtype, arr.shape))}>"
        if arr.size <= self.elide_above:
            return f"{head} {_nested(arr, dtype)}"
        if _is_splat(arr):
            return f"{head} {_elem_text(arr.reshape(-1)[0], dtype)}"
        t = format_type(TensorType(dtype, arr.shape))
        if self.constants_out is None:
            return f"elided<{t}>"
        if dtype is DType.STRING:  # .npz cannot hold object arrays without pickle
            return f"{head} {_nested(arr, dtype)}"
        key, k = key_hint, 0
        while key in self.constants_out and self.constants_out[key] is not arr:
            k += 1
            key = f"{key_hint}_{k}"
        self.constants_out[key] = arr
        return f"ref<{t}> {_quote(key)}"

    # -- graphs and nodes ----------------------------------------------------
    def graph(self, g: Graph, indent: str, header: str) -> Dict[int, str]:
        names = self.region_names(g)
        args = ", ".join(f"{self.ref(v, names)}: {format_type(v.type)}" for v in g.inputs)
        meta = self.meta_suffix(g.meta, "graph")
        self.lines.append(f"{indent}{header}({args}){meta} {{")
        for node in g:
            self.node(node, names, indent + "  ")
        outs = ", ".join(self.ref(v, names) for v in g.outputs)
        self.lines.append(f"{indent}  return{' ' if outs else ''}{outs}")
        return names

    def meta_suffix(self, meta: Mapping[str, Any], key_hint: str) -> str:
        s = ""
        source = meta.get("source")
        rest = {}
        saved, self.constants_out = self.constants_out, None  # meta is small: keep it inline
        try:
            for k, v in meta.items():
                if k == "source" and isinstance(v, str):
                    continue
                try:  # meta that has no text form (arbitrary objects) is not printed
                    self.attr(v, key_hint)
                except (IRError, ValueError):
                    continue
                rest[k] = v
            if isinstance(source, str):
                s += f" loc({_quote(source)})"
            if rest:
                s += f" #{self.attr_dict(rest, key_hint + '#', None)}"
        finally:
            self.constants_out = saved
        return s

    def node(self, node: Node, names: Dict[int, str], indent: str) -> None:
        outs = ", ".join(self.ref(v, names) for v in node.outputs)
        op = node.op if _PLAIN_OP.match(node.op) else _quote(node.op)
        ins = ", ".join(self.ref(v, names) for v in node.inputs)
        line = f"{indent}{outs + ' = ' if outs else ''}{op}({ins})"
        opdef = get_op(node.op)
        first = names.get(id(node.outputs[0])) if node.outputs else None
        hint = first if first is not None else node.op
        # Defaults are printed too, so text is canonical whether or not a builder filled them.
        attrs = opdef.attrs_with_defaults(node.attrs) if opdef is not None else node.attrs
        if attrs:
            if node.op == "core.const" and set(attrs) == {"value"}:  # key the side-file entry by the value name
                line += " {value = " + self.attr(attrs["value"], hint, "tensor") + "}"
            else:
                line += " " + self.attr_dict(attrs, hint, opdef)
        types = ", ".join(format_type(v.type) for v in node.outputs) or "()"
        tail = f" : {types}{self.meta_suffix(node.meta, hint)}"
        if not node.regions:
            self.lines.append(line + tail)
            return
        self.lines.append(line + " (")
        for i, r in enumerate(node.regions):
            self.graph(r, indent + "  ", "^" + (r.name if _PLAIN_NAME.match(r.name) else _quote(r.name)))
            self.lines.append(indent + "  }" + ("," if i + 1 < len(node.regions) else ""))
        self.lines.append(indent + ")" + tail)


def _coerce(kind: Optional[str], value: Any) -> Any:
    """Bring an attribute value to its declared kind's canonical Python form."""
    if kind == "float" and isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    if kind == "floats" and isinstance(value, (list, tuple)):
        return [float(x) if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) else x for x in value]
    if kind in ("ints", "strs") and isinstance(value, tuple):
        return list(value)
    if kind == "shape" and isinstance(value, list):
        return tuple(value)
    return value


def print_ir(graph: Graph, *, elide_above: int = 16, constants_out: Optional[dict] = None) -> str:
    """The text form of ``graph``.

    Tensors with more than ``elide_above`` elements print as ``elided<T>``; if
    ``constants_out`` is a dict they are stored there instead (keyed by the
    printed value name) and printed as ``ref<T> "key"``. Uniform tensors print
    as a splat and keep their data either way.
    """
    p = _Printer(elide_above, constants_out)
    p.graph(graph, "", "graph " + _name("@", graph.name))
    p.lines.append("}")
    return "\n".join(p.lines) + "\n"
