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
from typing import Callable, Dict, List, Optional

from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node
from litesmith.ir.types import is_static

from .host_ops import DEFAULT_HOST_OPS

__all__ = [
    "NO_BUILTIN", "UNSUPPORTED_ATTR", "NON_CONSTANT", "DYNAMIC_SHAPE", "UNSUPPORTED_DTYPE", "CONTROL_FLOW",
    "HINTS", "HOST_OPS", "ConversionTarget", "NotLowerable", "LegalityIssue", "LegalityReport", "IllegalOpsError",
    "bare_op_name", "hint_for", "legality_report",
]

# Why a node stayed illegal (``LegalityIssue.kind``).
NO_BUILTIN = "no-builtin"            # the op has no TFLite builtin
UNSUPPORTED_ATTR = "unsupported-attribute"  # an attribute value TFLite cannot express
NON_CONSTANT = "non-constant-operand"  # TFLite needs this operand to be a constant
DYNAMIC_SHAPE = "dynamic-shape"      # an unknown dim the op's lowering cannot keep (or an unknown rank)
UNSUPPORTED_DTYPE = "unsupported-dtype"
CONTROL_FLOW = "control-flow"        # while/if/tensor lists: unroll or split first

# Default hint per kind; patterns may give a more specific one, and ``hint_for`` names the passes
# that can handle the op at hand (compose-ops only when it has a rule for it).
HINTS = {
    NO_BUILTIN: "run stub-custom-ops (a custom op + kernel stub) or split-host-ops (run it on the host)",
    UNSUPPORTED_ATTR: "change the model so the attribute has a supported value, or run stub-custom-ops",
    NON_CONSTANT: "run fold-constants (it is usually computed from shapes or constants)",
    DYNAMIC_SHAPE: "give static shapes: --input-shape NAME:1x28x28x3 (or override_io), then fold-constants",
    UNSUPPORTED_DTYPE: "cast to a supported dtype (f32/i32/i64/bool/i8/u8/i16) before lowering",
    CONTROL_FLOW: "run unroll-rnn / fold-constants to remove the loop, or split-host-ops",
}

# Ops that belong on the host (variable-size results, search): split-host-ops takes them by default.
HOST_OPS = tuple(DEFAULT_HOST_OPS)

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


def bare_op_name(op: str) -> str:
    """``tf.CTCBeamSearchDecoder`` -> ``CTCBeamSearchDecoder``."""
    return op.split(".", 1)[1] if "." in op else op


def hint_for(op: str, kind: str, hint: str) -> str:
    """What to run for an illegal ``op`` of this ``kind``: compose-ops when one of its rules rewrites
    the op, split-host-ops for host ops, stub-custom-ops otherwise; ``hint`` for the other kinds."""
    if kind not in (NO_BUILTIN, UNSUPPORTED_ATTR):
        return hint
    from litesmith.passes.compose_patterns import DEFAULT_RULES, rule_for_op

    rule = rule_for_op(op)
    if rule is not None:
        opt = "" if rule.name in DEFAULT_RULES else f"{{ops=[{rule.name}]}}"
        return f"run compose-ops{opt} (rewrite {rule.name}: {rule.bound})"
    name = bare_op_name(op)
    if name in HOST_OPS:
        return f"run split-host-ops{{ops={name}}} (run it on the host), or stub-custom-ops"
    if kind == NO_BUILTIN:
        return f"run stub-custom-ops{{stubs_dir=DIR}} (a custom op {name} plus a C++ kernel stub) or split-host-ops{{ops={name}}}"
    return hint


@dataclass
class LegalityIssue:
    """One node that stayed illegal after lowering.

    ``caused_by`` names the illegal node(s) or input(s) this one only waits on: a node whose operand
    shapes are unknown because they come from an unlowerable op (or a dynamic input) is not a
    problem of its own, and the summary does not count it."""

    node: str
    op: str
    kind: str
    reason: str
    hint: str
    caused_by: str = ""

    def line(self) -> str:
        return f"{self.op} {self.node!r}: {self.kind}: {self.reason} (hint: {self.hint})"


@dataclass
class LegalityReport:
    """What stayed illegal after lowering; empty when the graph is all ``tfl.*`` + constants."""

    issues: List[LegalityIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def roots(self) -> List[LegalityIssue]:
        """The issues that are problems of their own (not ``caused_by`` another)."""
        return [i for i in self.issues if not i.caused_by]

    def ops(self) -> Dict[str, int]:
        """Op name -> count of the root issues (``input`` for dynamic graph inputs)."""
        return dict(Counter(i.op for i in self.roots()))

    def summary(self) -> str:
        """One line: how many nodes, which ops (the causes, not what waits on them), the first reason."""
        if self.ok:
            return "all ops lowered to TFLite"
        roots = self.roots()
        ops = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(self.ops().items()))
        waiting = len(self.issues) - len(roots)
        after = f"; {waiting} node(s) after them have unknown shapes only because of them" if waiting else ""
        return f"cannot lower {len(roots)} node(s) to TFLite ({ops}){after}; first: {roots[0].line()}"

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
    """Graph inputs whose shape is not fully static: an issue when a node cannot lower with the
    unknown dims (``dynamic_dims.py``) or the rank is unknown."""
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


def legality_report(graph: Graph, target: ConversionTarget, issue_of: Callable[[Node], LegalityIssue]) -> LegalityReport:
    """The report on ``graph`` after lowering: dynamic inputs, then each illegal node (``issue_of``).

    Unknown shapes spread: every node after an op litesmith cannot lower (a foreign op whose result
    shape nobody knows) or after an input with unknown dims fails with ``dynamic-shape`` too. Those
    get ``caused_by`` (the roots' names) and a hint pointing at the roots, in one walk of the graph.
    A legal op that leaves its result shape unknown (a ``tfl.custom`` no shape was recorded for) is
    reported as a root, after the inputs, when some node waits on it."""
    report = LegalityReport()
    # an input with unknown dims is an issue only when a node cannot keep them (unknown rank always is)
    dynamic_inputs = {repr(i.node): i for i in dynamic_input_issues(graph)}
    # value id -> the roots its unknown shape comes from (repr'd names of inputs or nodes)
    sources: Dict[int, frozenset] = {id(v): frozenset([repr(v.name)]) for v in graph.inputs if _unknown(v)}
    shapeless: Dict[str, LegalityIssue] = {}  # legal nodes with unknown result shapes, by repr(name)
    waited_on: set = set()
    for node in graph.walk():
        unknown_results = [v for v in node.outputs if _unknown(v)]
        if target.is_legal(node):
            inherited = [sources[id(v)] for v in node.inputs if id(v) in sources]
            if unknown_results and inherited and all(v.shape is not None for v in unknown_results):
                # a lowered op that keeps its operands' unknown dims: they come from where those do
                sources.update({id(v): frozenset().union(*inherited) for v in unknown_results})
            elif unknown_results and node.op != "core.const":
                shapeless[repr(node.name)] = LegalityIssue(
                    node.name, node.op, DYNAMIC_SHAPE,
                    f"{node.op} leaves the shape of %{unknown_results[0].name} unknown and nothing infers it",
                    "declare it (--custom-shape OP:DIMS), freeze with TF's recorded shapes (as_graph_def(add_shapes=True)), "
                    "or map the op to core ops")
                sources.update({id(v): frozenset([repr(node.name)]) for v in unknown_results})
            continue
        issue = issue_of(node)
        unknown = [v for v in node.inputs if _unknown(v)]
        roots = frozenset([repr(node.name)])
        if issue.kind == DYNAMIC_SHAPE and unknown and all(id(v) in sources for v in unknown):
            roots = frozenset().union(*(sources[id(v)] for v in unknown))
            waited_on |= roots
            names = sorted(roots)
            issue.caused_by = ", ".join(names[:3] + (["..."] if len(names) > 3 else []))
            issue.hint = f"fix {issue.caused_by} first: these shapes come from there"
        sources.update({id(v): roots for v in unknown_results})
        report.issues.append(issue)
    unknown_rank = {repr(v.name) for v in graph.inputs if not v.type.is_list and v.shape is None}
    inputs = [i for name, i in dynamic_inputs.items() if name in waited_on or name in unknown_rank]
    report.issues[0:0] = inputs + [i for name, i in shapeless.items() if name in waited_on]
    return report


def _unknown(v) -> bool:
    return not v.type.is_list and not is_static(v.shape)
