"""Parsing the IR text form (the grammar is described in ``ir/text.py``)."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from .builder import normalize_attrs
from .dtypes import DType
from .errors import ParseError
from .graph import Graph, IRError, Node, Value
from .registry import get_op
from .text_print import _DTYPE_NAMES, _coerce, format_type
from .types import ElidedTensor, QuantParams, TensorType

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
# Deepest nesting of brackets, braces, list types and regions: deeper text is refused, not a RecursionError.
MAX_NESTING = 100
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


_MAX_DIM = 2 ** 31 - 1

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
        self.depth = 0

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

    def nested(self, parse, *args):
        """``parse(*args)`` one nesting level deeper; ParseError past ``MAX_NESTING``."""
        if self.depth >= MAX_NESTING:
            raise self.error(f"nesting deeper than {MAX_NESTING} levels")
        self.depth += 1
        try:
            return parse(*args)
        finally:
            self.depth -= 1

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
                regions.append(self.nested(self.parse_region_body, label.value))
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
            element = self.nested(self.parse_type)
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
                if int(tok.text) > _MAX_DIM:  # numpy's size arithmetic overflows beyond int64 (a fuzzing finding)
                    raise self.error(f"dimension {tok.text} is beyond {_MAX_DIM} (int32, as TFLite and TF store dims)", tok)
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
                items.append(self.nested(self.parse_attr_value, key))
                if self.accept("]"):
                    return items
                self.expect(",", "',' or ']'")
        if tok.kind == "{":
            return self.nested(self.parse_attr_dict, None)
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
                self.nested(self.parse_literal, out, dtype)
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
