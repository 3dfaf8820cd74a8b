"""The conversion target of TFLite lowering and the report of what stayed illegal.

Lowering is a dialect conversion: ``tfl.*`` ops and ``core.const`` are legal,
everything else must be rewritten. What cannot be rewritten is listed in a
``LegalityReport``: one ``LegalityIssue`` per node saying why (``kind``) and
which pass or option could help (``hint``), so the user knows what to do next
instead of getting a malformed file.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node
from litesmith.ir.types import is_static

__all__ = [
    "NO_BUILTIN", "UNSUPPORTED_ATTR", "NON_CONSTANT", "DYNAMIC_SHAPE", "UNSUPPORTED_DTYPE", "CONTROL_FLOW",
    "HINTS", "ConversionTarget", "NotLowerable", "LegalityIssue", "LegalityReport", "IllegalOpsError",
]

# Why a node stayed illegal (``LegalityIssue.kind``).
NO_BUILTIN = "no-builtin"            # the op has no TFLite builtin
UNSUPPORTED_ATTR = "unsupported-attribute"  # an attribute value TFLite cannot express
NON_CONSTANT = "non-constant-operand"  # TFLite needs this operand to be a constant
DYNAMIC_SHAPE = "dynamic-shape"      # an unknown dim; TFLite models here are fully static
UNSUPPORTED_DTYPE = "unsupported-dtype"
CONTROL_FLOW = "control-flow"        # while/if/tensor lists: unroll or split first

# Default hint per kind; patterns may give a more specific one.
HINTS = {
    NO_BUILTIN: "run compose-ops (rewrite it from builtins), stub-custom-ops (a custom op + kernel stub) "
                "or split-host-ops (run it on the host)",
    UNSUPPORTED_ATTR: "run compose-ops, or change the model so the attribute has a supported value",
    NON_CONSTANT: "run fold-constants (it is usually computed from shapes or constants)",
    DYNAMIC_SHAPE: "give static shapes: --input-shape NAME:1x28x28x3 (or override_io), then fold-constants",
    UNSUPPORTED_DTYPE: "cast to a supported dtype (f32/i32/i64/bool/i8/u8/i16) before lowering",
    CONTROL_FLOW: "run unroll-rnn / fold-constants to remove the loop, or split-host-ops",
}

# The dtypes TFLite kernels handle in this backend.
SUPPORTED_DTYPES = {"f32", "f16", "i32", "i64", "i16", "i8", "u8", "bool", "str"}


class ConversionTarget:
    """Which ops are legal after lowering: the ``tfl`` dialect and constants."""

    legal_dialects = ("tfl",)
    legal_ops = ("core.const",)

    def is_legal(self, node: Node) -> bool:
        return node.op in self.legal_ops or node.op.split(".", 1)[0] in self.legal_dialects


class NotLowerable(Exception):
    """Raised by a lowering pattern: this node cannot become TFLite ops (kind + message + hint)."""

    def __init__(self, kind: str, message: str, hint: Optional[str] = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint or HINTS.get(kind, "")


@dataclass
class LegalityIssue:
    """One node that stayed illegal after lowering."""

    node: str
    op: str
    kind: str
    reason: str
    hint: str

    def line(self) -> str:
        return f"{self.op} {self.node!r}: {self.kind}: {self.reason} (hint: {self.hint})"


@dataclass
class LegalityReport:
    """What stayed illegal after lowering; empty when the graph is all ``tfl.*`` + constants."""

    issues: List[LegalityIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def ops(self) -> Dict[str, int]:
        """Illegal op name -> count."""
        return dict(Counter(i.op for i in self.issues))

    def summary(self) -> str:
        """One line: how many nodes, which ops, the first reason."""
        if self.ok:
            return "all ops lowered to TFLite"
        ops = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(self.ops().items()))
        first = self.issues[0]
        return f"cannot lower {len(self.issues)} node(s) to TFLite ({ops}); first: {first.line()}"

    def to_dict(self) -> Dict:
        return {"illegal": [asdict(i) for i in self.issues], "ops": self.ops()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


class IllegalOpsError(UserError):
    """Lowering left illegal ops; ``report`` lists them (the message is its one-line summary)."""

    def __init__(self, report: LegalityReport, where: str = ""):
        super().__init__((f"{where}: " if where else "") + report.summary())
        self.report = report


def dynamic_input_issues(graph: Graph) -> List[LegalityIssue]:
    """Graph inputs whose shape is not fully static (TFLite models we emit are static)."""
    out = []
    for v in graph.inputs:
        if not v.type.is_list and not is_static(v.shape):
            dims = "*" if v.shape is None else "x".join("?" if d is None else str(d) for d in v.shape)
            out.append(LegalityIssue(
                node=v.name, op="input", kind=DYNAMIC_SHAPE,
                reason=f"input {v.name!r} has shape {dims}",
                hint=f"--input-shape {v.name}:" + ("x".join("1" if d is None else str(d) for d in v.shape) if v.shape else "1x..."),
            ))
    return out
