"""IR text form: print, parse, save and load graphs.

In the spirit of MLIR's generic syntax, so tests can be written as IR text in,
IR text out, and ``print_ir(parse_ir(print_ir(g))) == print_ir(g)`` always:

    graph @main(%x: f32[8,16], %"ids:0": i32[8,?]) {
      %w = core.const() {value = dense<f32[2,2]> [[1.0, 2.0], [3.0, 4.0]]} : f32[2,2]
      %y = core.matmul(%x, %w) {transpose_a = false, transpose_b = false} : f32[8,2] loc("dense/MatMul")
      %a, %b = core.split(%x) {axis = 1, sizes = [8, 8]} : f32[8,8], f32[8,8]
      %r = core.while(%i) {max_iterations = 0} (
        ^cond(%i0: i32[]) {
          ...
          return %p
        },
        ^body(%i1: i32[]) {
          ...
          return %i2
        }) : i32[]
      return %y, %a
    }

Value names are kept (quoted when they are not plain identifiers) and made
unique per graph; each region is its own namespace because regions are
isolated from above. Types: ``f32[8,?,16]``, scalar ``f32[]``, unknown rank
``f32[*]``, tensor list ``list<f32[8,16]>``, quantized
``i8[1,16] q(scale=0.5, zp=-3)``. Attribute values: ``none``, ``true``,
``1``, ``1.5``, ``inf``, ``nan``, ``"str"``, ``b"bytes"``, ``[list]``, a dtype
(``f32``), ``shape<8,?>`` / ``shape<*>``, ``type<f32[2]>``, ``{dict}``,
tensors ``dense<f32[2]> [1.0, 2.0]`` (a scalar literal on a larger shape is a
splat), ``elided<f32[64,64]>`` (data left out) and ``ref<f32[64,64]> "key"``
(data in a side table, e.g. the ``.npz`` written by ``save_ir``). ``//``
starts a comment.
"""
from __future__ import annotations

import math
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from .builder import normalize_attrs
from .dtypes import DType
from .fileio import write_atomic, write_npz
from .errors import ParseError, UserError
from .graph import Graph, IRError, Node, Value
from .registry import get_op
from .types import ElidedTensor, QuantParams, TensorType

__all__ = ["print_ir", "parse_ir", "save_ir", "load_ir", "format_type"]

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.$-]+\Z")
_PLAIN_OP = re.compile(r"[A-Za-z_][A-Za-z0-9_.$]*\Z")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.$]*\Z")
_KEYWORDS = {"true", "false", "none", "inf", "nan"}
_DTYPE_NAMES = {d.value for d in DType}

# ---------------------------------------------------------------------------
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


def _is_splat(arr: np.ndarray) -> bool:
    if arr.size < 2 or arr.dtype == object:
        return False
    flat = np.ascontiguousarray(arr).reshape(-1)
    raw = flat.view(np.uint8).reshape(flat.size, -1)
    return bool((raw == raw[0]).all())


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


# ---------------------------------------------------------------------------
# Lexing
# ---------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+|//[^\n]*)
  | (?P<number>-?(?:inf(?![\w.$])|nan(?![\w.$])|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))
  | (?P<bytes>b")
  | (?P<string>")
  | (?P<sigil>[%^@])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.$]*)
  | (?P<punct>[()\[\]{}<>,:=*?\#!])
    """,
    re.VERBOSE,
)
_NAME_BODY = re.compile(r"[A-Za-z0-9_.$-]+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


class _Tok:
    __slots__ = ("kind", "text", "value", "line", "col")

    def __init__(self, kind, text, value, line, col):
        self.kind, self.text, self.value, self.line, self.col = kind, text, value, line, col

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of input"
        return repr(self.text if len(self.text) <= 30 else self.text[:27] + "...")


class _Lexer:
    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename
        self.pos = 0
        self.line = 1
        self.line_start = 0

    def error(self, pos: int, msg: str) -> ParseError:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return ParseError(f"{self.filename}:{line}:{col}: {msg}")

    def tokens(self) -> List[_Tok]:
        toks: List[_Tok] = []
        text, n = self.text, len(self.text)
        pos = 0
        line, line_start = 1, 0
        while pos < n:
            m = _TOKEN.match(text, pos)
            if m is None:
                raise self.error(pos, f"unexpected character {text[pos]!r}")
            kind = m.lastgroup
            col = pos - line_start + 1
            if kind == "ws":
                chunk = m.group()
                nl = chunk.count("\n")
                if nl:
                    line += nl
                    line_start = pos + chunk.rfind("\n") + 1
                pos = m.end()
                continue
            if kind in ("string", "bytes"):
                value, end = self.read_string(m.end(), kind == "bytes")
                toks.append(_Tok(kind, text[pos:end], value, line, col))
                pos = end
                continue
            if kind == "sigil":
                start = m.end()
                if start < n and text[start] == '"':
                    value, end = self.read_string(start + 1, False)
                else:
                    nm = _NAME_BODY.match(text, start)
                    if nm is None:
                        raise self.error(start, f"expected a name after {m.group()!r}")
                    value, end = nm.group(), nm.end()
                toks.append(_Tok(m.group(), text[pos:end], value, line, col))
                pos = end
                continue
            toks.append(_Tok(kind if kind != "punct" else m.group(), m.group(), m.group(), line, col))
            pos = m.end()
        toks.append(_Tok("eof", "", None, line, pos - line_start + 1))
        return toks

    def read_string(self, pos: int, as_bytes: bool) -> Tuple[Any, int]:
        """Read a string body starting after the opening quote; return (value, end)."""
        text, out = self.text, []
        start = pos
        while True:
            if pos >= len(text) or text[pos] == "\n":
                raise self.error(start - 1, "unterminated string literal")
            ch = text[pos]
            if ch == '"':
                break
            if ch != "\\":
                if as_bytes and ord(ch) > 0x7F:
                    raise self.error(pos, "non-ASCII character in a bytes literal; use \\xHH")
                out.append(ch)
                pos += 1
                continue
            esc = text[pos + 1: pos + 2]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                pos += 2
            elif esc == "x" and re.match(r"[0-9a-fA-F]{2}", text[pos + 2: pos + 4]):
                out.append(chr(int(text[pos + 2: pos + 4], 16)))
                pos += 4
            elif esc == "u" and not as_bytes and (m := re.match(r"\{([0-9a-fA-F]{1,6})\}", text[pos + 2:])):
                out.append(chr(int(m.group(1), 16)))
                pos += 2 + m.end()
            else:
                raise self.error(pos, f"unknown escape sequence \\{esc}")
        s = "".join(out)
        return (s.encode("latin-1") if as_bytes else s), pos + 1


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, filename: str, constants: Optional[Mapping[str, Any]]):
        self.lexer = _Lexer(text, filename)
        self.filename = filename
        self.toks = self.lexer.tokens()
        self.i = 0
        self.constants = constants

    # -- token helpers -------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def error(self, msg: str, tok: Optional[_Tok] = None) -> ParseError:
        tok = tok or self.tok
        return ParseError(f"{self.filename}:{tok.line}:{tok.col}: {msg}")

    def expected(self, what: str) -> ParseError:
        return self.error(f"expected {what}, got {self.tok.describe()}")

    def next(self) -> _Tok:
        t = self.tok
        self.i += 1
        return t

    def at(self, kind: str, text: Optional[str] = None) -> bool:
        t = self.tok
        return t.kind == kind and (text is None or t.text == text)

    def accept(self, kind: str, text: Optional[str] = None) -> Optional[_Tok]:
        if self.at(kind, text):
            return self.next()
        return None

    def expect(self, kind: str, what: Optional[str] = None, text: Optional[str] = None) -> _Tok:
        if self.at(kind, text):
            return self.next()
        raise self.expected(what or repr(text or kind))

    def expect_ident(self, word: str) -> _Tok:
        return self.expect("ident", f"'{word}'", word)

    # -- entry ---------------------------------------------------------------
    def parse_file(self) -> Graph:
        self.expect_ident("graph")
        name = self.expect("@", "graph name like @main").value
        g = self.parse_region_body(name)
        if not self.at("eof"):
            raise self.expected("end of input after the graph")
        return g

    def parse_region_body(self, name: str) -> Graph:
        """``(%args: T, ...) [loc/meta] { statements return ... }`` -> Graph."""
        g = Graph(name)
        scope: Dict[str, Value] = {}
        self.expect("(", "'(' to start the argument list")
        if not self.accept(")"):
            while True:
                tok = self.expect("%", "argument like %x")
                self.expect(":", "':' and the argument's type")
                v = g.add_input(self.parse_type(), tok.value)
                self.define(scope, tok, v)
                if self.accept(")"):
                    break
                self.expect(",", "',' or ')'")
        g.meta.update(self.parse_meta_suffix())
        self.expect("{", "'{' to start the graph body")
        while not (self.at("ident", "return") and self.peek().kind != "("):
            if self.at("eof") or self.at("}"):
                raise self.expected("'return'")
            self.parse_statement(g, scope)
        self.next()
        outs = []
        if not self.at("}"):
            outs.append(self.use(scope))
            while self.accept(","):
                outs.append(self.use(scope))
        self.expect("}", "'}' after the return statement")
        g.outputs = outs
        return g

    def define(self, scope: Dict[str, Value], tok: _Tok, v: Value) -> None:
        if tok.value in scope:
            raise self.error(f"value %{tok.value} is defined twice in this graph", tok)
        scope[tok.value] = v

    def use(self, scope: Dict[str, Value]) -> Value:
        tok = self.expect("%", "a value like %x")
        try:
            return scope[tok.value]
        except KeyError:
            raise self.error(
                f"undefined value %{tok.value} (define it before use; regions see only their own arguments)", tok
            ) from None

    def parse_statement(self, g: Graph, scope: Dict[str, Value]) -> None:
        defs: List[_Tok] = []
        if self.at("%"):
            defs.append(self.next())
            while self.accept(","):
                defs.append(self.expect("%", "a result name like %y"))
            self.expect("=", "'='")
        op_tok = self.tok
        if self.at("ident") or self.at("string"):
            op = self.next().value
        else:
            raise self.expected("an op name like core.add")
        self.expect("(", "'(' to start the operand list")
        inputs: List[Value] = []
        if not self.accept(")"):
            while True:
                inputs.append(self.use(scope))
                if self.accept(")"):
                    break
                self.expect(",", "',' or ')'")
        opdef = get_op(op)
        attrs: Dict[str, Any] = {}
        if self.at("{"):
            attrs = self.parse_attr_dict(opdef)
        regions: List[Graph] = []
        if self.accept("("):
            while True:
                label = self.expect("^", "a region like ^body(...)")
                regions.append(self.parse_region_body(label.value))
                if self.accept(")"):
                    break
                self.expect(",", "',' or ')' after a region")
        self.expect(":", "':' and the result types")
        types: List[TensorType] = []
        if self.at("(") and self.peek().kind == ")":
            self.i += 2
        else:
            types.append(self.parse_type())
            while self.accept(","):
                types.append(self.parse_type())
        if len(types) != len(defs):
            raise self.error(f"{op} has {len(defs)} result name(s) but {len(types)} result type(s)", op_tok)
        meta = self.parse_meta_suffix()
        if opdef is not None:
            try:
                attrs = normalize_attrs(op, attrs)
            except IRError as e:
                raise self.error(str(e), op_tok) from None
        node = Node(op, inputs, attrs, types, regions=regions, meta=meta, output_names=[t.value for t in defs])
        g.append(node)
        for tok, v in zip(defs, node.outputs):
            self.define(scope, tok, v)

    def parse_meta_suffix(self) -> Dict[str, Any]:
        meta: Dict[str, Any] = {}
        if self.at("ident", "loc") and self.peek().kind == "(":
            self.i += 2
            meta["source"] = self.expect("string", "a quoted source name").value
            self.expect(")", "')'")
        if self.accept("#"):
            if not self.at("{"):
                raise self.expected("'{' after '#'")
            meta.update(self.parse_attr_dict(None))
        return meta

    # -- types ---------------------------------------------------------------
    def parse_type(self) -> TensorType:
        tok = self.tok
        if not self.at("ident"):
            raise self.expected("a type like f32[2,3]")
        if tok.text == "list":
            self.next()
            self.expect("<", "'<'")
            element = self.parse_type()
            self.expect(">", "'>'")
            return TensorType.list_of(element)
        dtype = self.parse_dtype()
        self.expect("[", "'[' and a shape")
        shape = self.parse_dims("]")
        quant = None
        if self.at("ident", "q") and self.peek().kind == "(":
            quant = self.parse_quant()
        return TensorType(dtype, shape, quant)

    def parse_dtype(self) -> DType:
        tok = self.tok
        if tok.kind != "ident" or tok.text not in _DTYPE_NAMES:
            raise self.expected(f"an element type ({', '.join(sorted(_DTYPE_NAMES))})")
        self.next()
        return DType.parse(tok.text)

    def parse_dims(self, close: str):
        """Dims up to ``close``: ``*`` (unknown rank), or ints and ``?`` separated by commas."""
        if self.accept("*"):
            self.expect(close, repr(close))
            return None
        dims: List[Optional[int]] = []
        if self.accept(close):
            return ()
        while True:
            if self.accept("?"):
                dims.append(None)
            else:
                tok = self.expect("number", "a dimension (an integer or ?)")
                if not re.fullmatch(r"\d+", tok.text):
                    raise self.error(f"expected a dimension (an integer or ?), got {tok.describe()}", tok)
                dims.append(int(tok.text))
            if self.accept(close):
                return tuple(dims)
            self.expect(",", f"',' or {close!r}")

    def parse_quant(self) -> QuantParams:
        q_tok = self.tok
        self.i += 2  # q (
        fields: Dict[str, Any] = {}
        while True:
            key = self.expect("ident", "scale, zp or axis")
            if key.text not in ("scale", "zp", "axis") or key.text in fields:
                raise self.error(f"expected scale, zp or axis, got {key.describe()}", key)
            self.expect("=", "'='")
            fields[key.text] = self.parse_attr_value(None)
            if self.accept(")"):
                break
            self.expect(",", "',' or ')'")
        if "scale" not in fields or "zp" not in fields:
            raise self.error("quantization needs scale and zp", q_tok)
        try:
            return QuantParams(fields["scale"], fields["zp"], fields.get("axis"))
        except (ValueError, TypeError) as e:
            raise self.error(f"bad quantization parameters: {e}", q_tok) from None

    # -- attributes ----------------------------------------------------------
    def parse_attr_dict(self, opdef) -> Dict[str, Any]:
        self.expect("{", "'{'")
        attrs: Dict[str, Any] = {}
        if self.accept("}"):
            return attrs
        while True:
            tok = self.tok
            if tok.kind not in ("ident", "string"):
                raise self.expected("an attribute name")
            self.next()
            if tok.value in attrs:
                raise self.error(f"attribute {tok.value!r} given twice", tok)
            self.expect("=", "'='")
            kind = opdef.attrs[tok.value].kind if opdef is not None and tok.value in opdef.attrs else None
            attrs[tok.value] = _coerce(kind, self.parse_attr_value(tok.value))
            if self.accept("}"):
                return attrs
            self.expect(",", "',' or '}'")

    def parse_attr_value(self, key: Optional[str]) -> Any:
        tok = self.tok
        if tok.kind == "number":
            self.next()
            return _number(tok.text)
        if tok.kind in ("string", "bytes"):
            return self.next().value
        if tok.kind == "[":
            self.next()
            items = []
            if self.accept("]"):
                return items
            while True:
                items.append(self.parse_attr_value(key))
                if self.accept("]"):
                    return items
                self.expect(",", "',' or ']'")
        if tok.kind == "{":
            return self.parse_attr_dict(None)
        if tok.kind == "ident":
            word = tok.text
            if word in ("true", "false"):
                self.next()
                return word == "true"
            if word == "none":
                self.next()
                return None
            if word in ("inf", "nan"):
                self.next()
                return float(word)
            if word in _DTYPE_NAMES:
                self.next()
                return DType.parse(word)
            if word == "shape" and self.peek().kind == "<":
                self.i += 2
                return self.parse_dims(">")
            if word == "type" and self.peek().kind == "<":
                self.i += 2
                t = self.parse_type()
                self.expect(">", "'>'")
                return t
            if word in ("dense", "elided", "ref") and self.peek().kind == "<":
                return self.parse_tensor()
        raise self.expected("an attribute value")

    def parse_tensor(self):
        word_tok = self.next()
        self.next()  # <
        type_tok = self.tok
        t = self.parse_type()
        self.expect(">", "'>'")
        if t.is_list or t.quant is not None or t.shape is None or None in t.shape:
            raise self.error(f"a tensor literal needs a static plain type, got {format_type(t)}", type_tok)
        if word_tok.text == "elided":
            return ElidedTensor(t)
        if word_tok.text == "ref":
            key_tok = self.expect("string", "a quoted constant key")
            data = None if self.constants is None else self.constants.get(key_tok.value)
            if data is None:
                return ElidedTensor(t, key_tok.value)
            arr = np.asarray(data)
            try:
                got = TensorType(DType.from_numpy(arr.dtype), arr.shape)
            except ValueError as e:
                raise self.error(f"constant {key_tok.value!r}: {e}", key_tok) from None
            if got != t:
                raise self.error(f"constant {key_tok.value!r} has type {format_type(got)}, but the text says {format_type(t)}", key_tok)
            return arr
        lit_tok = self.tok
        flat: List[Any] = []
        nested = self.at("[")
        self.parse_literal(flat, t.dtype)
        count = int(np.prod(t.shape, dtype=np.int64))
        if not nested and t.shape != () and len(flat) == 1:
            flat = flat * count  # splat
        if len(flat) != count:
            raise self.error(f"tensor literal has {len(flat)} elements but {format_type(t)} needs {count}", lit_tok)
        try:
            if t.dtype is DType.STRING:
                arr = np.empty(len(flat), dtype=object)
                arr[:] = flat
            else:
                arr = np.array(flat, dtype=t.dtype.np)
        except (OverflowError, ValueError) as e:
            raise self.error(f"tensor literal does not fit {t.dtype}: {e}", lit_tok) from None
        return arr.reshape(t.shape)

    def parse_literal(self, out: List[Any], dtype: DType) -> None:
        if self.accept("["):
            if self.accept("]"):
                return
            while True:
                self.parse_literal(out, dtype)
                if self.accept("]"):
                    return
                self.expect(",", "',' or ']'")
        tok = self.tok
        if dtype is DType.STRING:
            if tok.kind not in ("string", "bytes"):
                raise self.expected("a string element")
            out.append(self.next().value)
        elif dtype is DType.BOOL:
            if not (tok.kind == "ident" and tok.text in ("true", "false")):
                raise self.expected("true or false")
            out.append(self.next().text == "true")
        elif dtype.is_int:
            if tok.kind != "number" or not re.fullmatch(r"-?\d+", tok.text):
                raise self.expected(f"an integer element of {dtype}")
            out.append(int(self.next().text))
        else:
            if tok.kind == "number" or (tok.kind == "ident" and tok.text in ("inf", "nan")):
                out.append(float(self.next().text))
            else:
                raise self.expected(f"a number element of {dtype}")


def _number(text: str):
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return float(text)


def parse_ir(text: str, *, filename: str = "<string>", constants: Optional[Mapping[str, Any]] = None) -> Graph:
    """Parse IR text into a Graph; ``ref<T> "key"`` tensors are looked up in ``constants``.

    A reference not found there, and every ``elided<T>``, becomes an ``ElidedTensor``.
    Output types come from the text (not re-inferred) so printing is exact.
    """
    return _Parser(text, filename, constants).parse_file()


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def save_ir(graph: Graph, path) -> None:
    """Write the text form to ``path``; large constants go to ``path + ".npz"``."""
    path = os.fspath(path)
    consts: Dict[str, np.ndarray] = {}
    text = print_ir(graph, constants_out=consts)
    side = path + ".npz"
    try:
        if consts:
            write_atomic(side, lambda f: write_npz(f, consts))
        elif os.path.exists(side):
            os.unlink(side)  # a stale side file from an earlier save
        write_atomic(path, text.encode("utf-8"))
    except OSError as e:
        raise UserError(f"cannot write IR file {path}: {e.strerror or e}") from None


def load_ir(path) -> Graph:
    """Read IR text from ``path`` (and its ``.npz`` side file, if present)."""
    path = os.fspath(path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read IR file {path}: {getattr(e, 'strerror', None) or e}") from None
    constants = None
    side = path + ".npz"
    if os.path.exists(side):
        try:
            with np.load(side, allow_pickle=False) as z:
                constants = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read constants file {side}: {e}") from None
    return parse_ir(text, filename=path, constants=constants)
