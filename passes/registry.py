"""Where pass names come from.

Built-in passes are rows of ``BUILTIN_PASSES`` (name -> module path); a module
is imported only when its pass is asked for, so ``litesmith passes`` stays fast:
it reads one-line help from the module source without importing it.
Third-party passes come from the ``litesmith.passes`` entry-point group
(``my-pass = "my_pkg.passes:MyPass"``), so research code needs no fork. The
backends contribute theirs the same way (pyproject.toml: ``lower-tflite``,
``fuse-tflite``, ``fuse-lstm-loops``, ``stub-custom-ops``, ``split-host-ops``, ``quantize-*``), so this module names no backend; their help
is read from source too, and ``litesmith passes`` lists them as built in.

To add a built-in pass: write ``passes/<module>.py`` with a ``@register_pass``
class and add its row below.
"""
from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
from dataclasses import dataclass
from typing import Dict, List, Optional, Type

from litesmith.ir.errors import UserError

from .pass_base import Pass

__all__ = ["BUILTIN_PASSES", "PassInfo", "UnknownPassError", "register_pass", "get_pass", "list_passes", "clear_caches"]

ENTRY_POINT_GROUP = "litesmith.passes"

# name -> module that defines (and registers) the pass. Keep sorted.
BUILTIN_PASSES: Dict[str, str] = {
    "canonicalize": "litesmith.passes.canonicalize",
    "compose-ops": "litesmith.passes.compose_ops",
    "cse": "litesmith.passes.cse",
    "dce": "litesmith.passes.dce",
    "decode-step": "litesmith.passes.decode_step",
    "demote-float64": "litesmith.passes.demote_float64",
    "fold-constants": "litesmith.passes.fold_constants",
    "fold-empty-tensors": "litesmith.passes.fold_empty_tensors",
    "if-to-select": "litesmith.passes.if_to_select",
    "lower-tensor-lists": "litesmith.passes.lower_tensor_lists",
    "nchw-to-nhwc": "litesmith.passes.layout",
    "sink-loop-constants": "litesmith.passes.sink_loop_constants",
    "strip-batch": "litesmith.passes.strip_batch",
    "unroll-loops": "litesmith.passes.unroll_loops",
    "unroll-rnn": "litesmith.passes.unroll_rnn",
    "step-unrolled-rnn": "litesmith.passes.step_unrolled_rnn",
    "pfor-gather-loops": "litesmith.passes.pfor_gather",
}

_REGISTERED: Dict[str, Type[Pass]] = {}
_FROM_ENTRY_POINTS: set = set()  # names registered by loading an entry point (forgotten by clear_caches)


class UnknownPassError(UserError):
    """A pipeline names a pass that no built-in table row or entry point provides."""


@dataclass(frozen=True)
class PassInfo:
    name: str
    summary: str
    origin: str  # "builtin", the entry point's value, or "registered"


def register_pass(name: str):
    """Class decorator: give a ``Pass`` subclass its pipeline name."""

    def wrap(cls):
        if not (isinstance(cls, type) and issubclass(cls, Pass)):
            raise TypeError(f"register_pass({name!r}) decorates a Pass subclass, got {cls!r}")
        old = _REGISTERED.get(name)
        if old is not None and old.__qualname__ != cls.__qualname__:
            raise ValueError(f"pass name {name!r} is taken by {old.__module__}.{old.__qualname__}")
        cls.name = name
        _REGISTERED[name] = cls
        return cls

    return wrap


def get_pass(name: str) -> Type[Pass]:
    """The pass class called ``name``; UserError listing the known names if there is none."""
    cls = _REGISTERED.get(name)
    if cls is not None:
        return cls
    module = BUILTIN_PASSES.get(name)
    if module is not None:
        importlib.import_module(module)
        cls = _REGISTERED.get(name)
        if cls is None:
            raise RuntimeError(f"module {module} does not register pass {name!r} (fix BUILTIN_PASSES)")
        return cls
    ep = _entry_points().get(name)
    if ep is not None:
        try:
            obj = ep.load()
        except Exception as e:
            raise UserError(f"pass {name!r}: cannot load entry point {ep.value!r}: {type(e).__name__}: {e}") from e
        if not (isinstance(obj, type) and issubclass(obj, Pass)):
            raise UserError(f"pass {name!r}: entry point {ep.value!r} is not a litesmith Pass subclass")
        if _REGISTERED.get(name) is not obj:
            register_pass(name)(obj)
            _FROM_ENTRY_POINTS.add(name)
        return obj
    raise UnknownPassError(f"unknown pass {name!r}; known passes: {', '.join(known_names())}")


def known_names() -> List[str]:
    return sorted(set(BUILTIN_PASSES) | set(_entry_points()) | set(_REGISTERED))


def list_passes() -> List[PassInfo]:
    """Every known pass with its one-line help, sorted by name; imports no pass module that is a .py file."""
    out = []
    for name in known_names():
        if name in BUILTIN_PASSES:
            out.append(PassInfo(name, _builtin_summary(name), "builtin"))
        elif name in _entry_points():
            ep = _entry_points()[name]
            origin = "builtin" if _ships_with_litesmith(ep) else ep.value
            out.append(PassInfo(name, _entry_point_summary(name), origin))
        else:
            out.append(PassInfo(name, _REGISTERED[name].summary(), "registered"))
    return out


def clear_caches() -> None:
    """Forget discovered entry points (tests that change sys.path call this)."""
    _entry_points.cache_clear()
    _builtin_summary.cache_clear()
    _entry_point_summary.cache_clear()
    for name in _FROM_ENTRY_POINTS:
        _REGISTERED.pop(name, None)
    _FROM_ENTRY_POINTS.clear()


@functools.lru_cache(maxsize=None)
def _entry_points() -> Dict[str, "importlib.metadata.EntryPoint"]:
    from importlib.metadata import entry_points

    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)  # the first on sys.path wins, as for imports
    return found


def _ships_with_litesmith(ep) -> bool:
    """An entry point of litesmith's own distribution (the backends' passes)."""
    dist = getattr(ep, "dist", None)
    return dist is not None and dist.name == "litesmith"


@functools.lru_cache(maxsize=None)
def _entry_point_summary(name: str) -> str:
    """The docstring's first line of an entry point's class, read from source (else by loading it)."""
    module, _, attr = _entry_points()[name].value.partition(":")
    summary = _summary_from_source(module, name, class_name=attr.strip()) if attr else None
    if summary is None:
        try:
            summary = get_pass(name).summary()
        except UserError as e:
            summary = f"(cannot load: {e})"
    return summary


@functools.lru_cache(maxsize=None)
def _builtin_summary(name: str) -> str:
    """The docstring's first line of the class registered as ``name``, read from source."""
    cls = _REGISTERED.get(name)
    if cls is not None:
        return cls.summary()
    summary = _summary_from_source(BUILTIN_PASSES[name], name)
    if summary is None:  # unusual source layout: fall back to importing
        summary = get_pass(name).summary()
    return summary


def _summary_from_source(module: str, name: str, class_name: Optional[str] = None) -> Optional[str]:
    """The summary of the class registered as ``name`` (or called ``class_name``) in ``module``'s source."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read(), spec.origin)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        if class_name is not None:
            if node.name == class_name:
                doc = ast.get_docstring(node) or ""
                return doc.strip().split("\n", 1)[0].strip() or None
            continue
        for dec in node.decorator_list:
            if (
                isinstance(dec, ast.Call)
                and getattr(dec.func, "id", getattr(dec.func, "attr", None)) == "register_pass"
                and dec.args
                and isinstance(dec.args[0], ast.Constant)
                and dec.args[0].value == name
            ):
                doc = ast.get_docstring(node) or ""
                return doc.strip().split("\n", 1)[0].strip()
    return None
