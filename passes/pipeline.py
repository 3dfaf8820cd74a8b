"""Pipeline strings: ``"strip-batch,fold-constants{max_elements=64},dce"``.

Grammar (whitespace allowed between tokens)::

    pipeline := element (',' element)*
    element  := NAME ('{' [option (',' option)*] '}')?
    option   := KEY '=' VALUE
    VALUE    := a "quoted string", a [bracketed, list], or text up to ',' or '}'

Syntax errors are ``ParseError`` with the column; an unknown pass or option,
or a value that does not fit the option's type, is a ``UserError``.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Tuple

from litesmith.ir.errors import ParseError

from .registry import get_pass

__all__ = ["parse_pipeline", "parse_pipeline_syntax"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def parse_pipeline(text: str) -> List[Tuple[str, Dict[str, Any]]]:
    """``[(pass name, {option: typed value})]``; passes and options are checked against the registry."""
    out = []
    for name, raw in parse_pipeline_syntax(text):
        cls = get_pass(name)
        typed = cls.from_options(raw).options()
        out.append((name, {k: typed[k] for k in raw}))
    return out


def parse_pipeline_syntax(text: str) -> List[Tuple[str, Dict[str, str]]]:
    """Only the syntax: ``[(name, {option: raw string})]``; nothing is looked up."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def error(self, msg: str, pos: int = -1) -> ParseError:
        pos = self.pos if pos < 0 else pos
        return ParseError(f"pipeline:1:{pos + 1}: {msg} in {self.text!r}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str, what: str) -> None:
        if self.peek() != ch:
            got = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of pipeline"
            raise self.error(f"expected {what}, got {got}")
        self.pos += 1

    def name(self, what: str) -> str:
        self.skip_ws()
        m = _NAME.match(self.text, self.pos)
        if m is None:
            got = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of pipeline"
            raise self.error(f"expected {what}, got {got}")
        self.pos = m.end()
        return m.group()

    def parse(self) -> List[Tuple[str, Dict[str, str]]]:
        if not self.text.strip():
            return []
        out = []
        while True:
            out.append(self.element())
            ch = self.peek()
            if ch == "":
                return out
            self.expect(",", "',' between passes")

    def element(self) -> Tuple[str, Dict[str, str]]:
        name = self.name("a pass name")
        opts: Dict[str, str] = {}
        if self.peek() == "{":
            self.pos += 1
            if self.peek() == "}":
                self.pos += 1
                return name, opts
            while True:
                key_pos = self.pos
                key = self.name("an option name")
                if key in opts:
                    raise self.error(f"option {key!r} given twice", key_pos)
                self.expect("=", f"'=' after option {key!r}")
                opts[key] = self.value()
                if self.peek() == "}":
                    self.pos += 1
                    return name, opts
                self.expect(",", "',' or '}' after an option")
        return name, opts

    def value(self) -> str:
        self.skip_ws()
        text, start = self.text, self.pos
        if start < len(text) and text[start] == '"':
            out, pos = [], start + 1
            while pos < len(text) and text[pos] != '"':
                if text[pos] == "\\" and pos + 1 < len(text):
                    pos += 1
                out.append(text[pos])
                pos += 1
            if pos >= len(text):
                raise self.error("unterminated string", start)
            self.pos = pos + 1
            return "".join(out)
        if start < len(text) and text[start] == "[":
            end = text.find("]", start)
            if end < 0:
                raise self.error("unterminated '['", start)
            self.pos = end + 1
            return text[start:end + 1]
        pos = start
        while pos < len(text) and text[pos] not in ",}{":
            pos += 1
        if pos < len(text) and text[pos] == "{":
            raise self.error("unexpected '{' in an option value (quote the value)", pos)
        value = text[start:pos].strip()
        if not value:
            raise self.error("expected an option value", start)
        self.pos = pos
        return value
