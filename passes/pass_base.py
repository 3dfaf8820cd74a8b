"""The ``Pass`` base class: a dataclass whose fields are its pipeline options.

    @register_pass("drop-identity")
    @dataclass
    class DropIdentity(Pass):
        '''Remove core.identity nodes.'''
        keep_outputs: bool = True

        def run(self, graph, ctx) -> bool:
            ...

Options are typed by the field annotations (int, float, bool, str, list[str],
list[int], list[float]); ``from_options`` converts the strings of a pipeline
(``drop-identity{keep_outputs=false}``) and names the pass and option in the
error when a value does not fit.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional

from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph

__all__ = ["Pass", "PassContext", "OptionError"]


class OptionError(UserError):
    """A pipeline option that the pass does not have, or whose value does not fit its type."""


@dataclass
class PassContext:
    """What a running pass sees besides the graph.

    ``report``: a dict the pass may fill (what it folded, removed...); it ends
    up in the manager's ``PassRunReport``. ``options``: the manager's options
    (verify_each, ...), for passes that want to adapt to them. ``resources``:
    objects a pipeline string cannot carry, handed in by whoever runs the
    pipeline (``PassManager(..., resources={"calibration": data})``); each pass
    documents the keys it reads. ``children``: the records of the sub-pipelines
    the pass ran with ``run_pipeline``.
    """

    report: Dict[str, Any] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)
    resources: Dict[str, Any] = field(default_factory=dict)
    children: List[Any] = field(default_factory=list)
    # Set by the pass manager: runs a sub-pipeline under the enclosing run's instruments.
    sub_runner: Optional[Callable[[str, Graph, "PassContext"], Any]] = field(default=None, repr=False)

    def run_pipeline(self, pipeline: str, graph: Graph):
        """Run ``pipeline`` (e.g. ``"fold-constants,dce"``) on ``graph`` as part of this pass.

        Use it instead of calling another pass's ``run`` by hand: under a pass
        manager the instruments (verify, print, numerics, timing) see each
        sub-pass, and the records are kept in ``children`` (and in the
        enclosing ``PassRecord``). Returns the sub-run's ``PassRunReport``.
        """
        if self.sub_runner is not None:
            return self.sub_runner(pipeline, graph, self)
        from .manager import PassManager

        report = PassManager.parse(pipeline, resources=self.resources).run(graph)
        self.children.extend(report.passes)
        return report


class Pass:
    """Base class of all passes; subclasses are dataclasses (fields = options)."""

    name: ClassVar[str] = ""
    # A pass that changes outputs by design (quantization rounds them) sets ``approximate``:
    # the numerics check then measures its error instead of failing, and compares later
    # passes with its result. ``interpreter``: the ``Interpreter`` subclass that executes the
    # graphs it produces (quantized kernels), used by numerics checks from then on.
    approximate: ClassVar[bool] = False
    interpreter: ClassVar[Optional[type]] = None

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        """Transform ``graph`` in place; return whether it changed."""
        raise NotImplementedError

    # -- description -----------------------------------------------------------
    @classmethod
    def summary(cls) -> str:
        """The first line of the docstring: the one-line help of ``litesmith passes``."""
        doc = cls.__doc__ or ""
        if cls.__doc__ is not None and dataclasses.is_dataclass(cls) and doc.startswith(cls.__name__ + "("):
            doc = ""  # the dataclass-generated signature is not help
        return doc.strip().split("\n", 1)[0].strip()

    @classmethod
    def option_types(cls) -> Dict[str, Any]:
        """Option name -> annotated type (resolved), in declaration order."""
        if not dataclasses.is_dataclass(cls):
            return {}
        hints = typing.get_type_hints(cls)
        return {f.name: hints.get(f.name, str) for f in dataclasses.fields(cls) if f.init}

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "Pass":
        """An instance from pipeline options (strings or already-typed values)."""
        types = cls.option_types()
        kwargs = {}
        for key, raw in options.items():
            if key not in types:
                known = ", ".join(types) or "none"
                raise OptionError(f"pass {cls.name!r} has no option {key!r} (its options: {known})")
            kwargs[key] = convert_option(cls.name, key, types[key], raw)
        return cls(**kwargs)

    def options(self) -> Dict[str, Any]:
        """Current option values."""
        return {k: getattr(self, k) for k in type(self).option_types()}

    def changed_options(self) -> Dict[str, Any]:
        """Options whose values differ from their defaults (what a pipeline string must say)."""
        out = {}
        if not dataclasses.is_dataclass(self):
            return out
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            else:
                default = dataclasses.MISSING
            value = getattr(self, f.name)
            if default is dataclasses.MISSING or value != default:
                out[f.name] = value
        return out

    def pipeline_text(self) -> str:
        """This pass as a pipeline element, e.g. ``fold-constants{max_elements=64}``."""
        opts = self.changed_options()
        if not opts:
            return self.name
        return self.name + "{" + ",".join(f"{k}={format_option(v)}" for k, v in opts.items()) + "}"


# -- option values ------------------------------------------------------------------


def format_option(value: Any) -> str:
    """The pipeline spelling of a typed option value (inverse of ``convert_option``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_option(v) for v in value) + "]"
    text = str(value)
    if any(c in text for c in ",{}[]=:\" ") or text == "":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def convert_option(pass_name: str, key: str, typ: Any, raw: Any) -> Any:
    """Convert ``raw`` (a pipeline string, a list of strings, or a typed value) to ``typ``."""

    def bad(why: str) -> OptionError:
        return OptionError(f"pass {pass_name!r}: option {key}={raw!r} {why}")

    origin = typing.get_origin(typ)
    if origin in (list, List, tuple):
        (elem,) = typing.get_args(typ)[:1] or (str,)
        if isinstance(raw, str):
            items = split_list(raw)
        elif isinstance(raw, (list, tuple)):
            items = list(raw)
        else:
            raise bad("is not a list (write a:b or [a,b])")
        return [convert_option(pass_name, key, elem, x) for x in items]
    if origin is typing.Union:  # Optional[X]
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.lower() == "none"):
            return None
        return convert_option(pass_name, key, args[0], raw)
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise bad("is not a bool (write true or false)")
    if typ is int:
        if isinstance(raw, bool):
            raise bad("is not an int")
        if isinstance(raw, int):
            return raw
        try:
            return int(str(raw).replace("_", ""), 0)
        except ValueError:
            raise bad("is not an int") from None
    if typ is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        try:
            return float(str(raw))
        except ValueError:
            raise bad("is not a number") from None
    if typ is str:
        if isinstance(raw, str):
            return raw
        raise bad("is not a string")
    if isinstance(raw, typ if isinstance(typ, type) else object):
        return raw
    raise bad(f"cannot be converted to {getattr(typ, '__name__', typ)}")


def split_list(text: str) -> List[str]:
    """``"a:b"`` or ``"[a,b]"`` -> ``["a", "b"]``; ``""`` and ``"[]"`` -> ``[]``."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [s.strip() for s in inner.split(",")] if inner else []
    return [s.strip() for s in text.split(":")] if text else []
