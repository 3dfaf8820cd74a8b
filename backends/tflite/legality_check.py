"""What would stay illegal if this graph were lowered to TFLite now, and what to do about it.

Built on the lowering's own legality report (``lower.py`` / ``legalize.py``):
the lowering runs on a deep copy, so the graph is untouched and the reasons
are exactly the ones ``compile_to_tflite`` would give. Each finding gets a
stable reason code (for scripts and docs) and a fix hint naming the litesmith
pass that helps: compose-ops, stub-custom-ops, split-host-ops or a shape
override.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

from litesmith.ir.clone import clone_graph
from litesmith.ir.graph import Graph, Node

from .legalize import (
    CONTROL_FLOW, DYNAMIC_SHAPE, HOST_OPS, NO_BUILTIN, NON_CONSTANT, UNSUPPORTED_ATTR, UNSUPPORTED_DTYPE,
    ConversionTarget, LegalityIssue, bare_op_name,
)

__all__ = ["Finding", "CODES", "HOST_OPS", "bare_op_name", "check_graph", "illegal_nodes", "op_coverage", "format_findings"]

# Stable reason codes; never renumber (scripts and docs refer to them).
CODES: Dict[str, Tuple[str, str]] = {
    NO_BUILTIN: ("L001", "unknown-op"),
    UNSUPPORTED_ATTR: ("L002", "unsupported-attr"),
    DYNAMIC_SHAPE: ("L003", "dynamic-shape"),
    UNSUPPORTED_DTYPE: ("L004", "dtype"),
    NON_CONSTANT: ("L005", "non-constant-operand"),
    CONTROL_FLOW: ("L006", "control-flow"),
}
UNKNOWN_KIND = ("L099", "other")


@dataclass(frozen=True)
class Finding:
    """One node TFLite cannot take as it is: code, where, why (one sentence) and the fix."""

    code: str      # "L001"
    name: str      # "unknown-op"
    node: str
    op: str
    reason: str
    fix: str       # what to run: a pass, a pipeline option, a shape override

    def line(self) -> str:
        return f"{self.code} {self.name}: {self.op} {self.node!r}: {self.reason}. Fix: {self.fix}"

    def to_dict(self) -> dict:
        return asdict(self)


def illegal_nodes(graph: Graph) -> Tuple[List[Tuple[Node, LegalityIssue]], List[LegalityIssue]]:
    """Nodes of ``graph`` the TFLite lowering leaves illegal, with its issue, plus input-level issues.

    The lowering runs on a copy; nodes it cannot rewrite stay the very
    same (copied) objects, which map back to ``graph``'s nodes.
    """
    from .lower import lower_to_tflite

    from litesmith.passes.manager import run_pipeline

    from .compile import PRE_LOWERING_PIPELINE

    copies: dict = {}
    clone = clone_graph(graph, copies)
    original = {id(c): n for n, c in copies.items()}
    run_pipeline(clone, PRE_LOWERING_PIPELINE)  # tensor lists -> tensors, as the compile does first
    report = lower_to_tflite(clone).report
    target = ConversionTarget()
    stuck = [n for n in clone.walk() if not target.is_legal(n)]
    node_issues = report.issues[len(report.issues) - len(stuck):]
    input_issues = report.issues[: len(report.issues) - len(stuck)]
    pairs = []
    for node, issue in zip(stuck, node_issues):
        orig = original.get(id(node))
        if orig is not None and orig.op == issue.op:
            pairs.append((orig, issue))
    return pairs, input_issues


def check_graph(graph: Graph) -> List[Finding]:
    """Every reason ``graph`` cannot be written to TFLite yet; empty when it can. Leaves ``graph`` unchanged."""
    pairs, input_issues = illegal_nodes(graph)
    findings = []
    for issue in input_issues + [i for _, i in pairs]:
        code, name = CODES.get(issue.kind, UNKNOWN_KIND)
        findings.append(Finding(code, name, issue.node, issue.op, issue.reason.rstrip("."), issue.hint))
    return findings


def op_coverage(graph: Graph, findings: Optional[List[Finding]] = None) -> dict:
    """JSON-ready op-coverage report: per op, node count and how many stay illegal, plus the findings."""
    findings = check_graph(graph) if findings is None else findings
    counts: Dict[str, int] = {}
    for n in graph.walk():
        if n.op != "core.const":
            counts[n.op] = counts.get(n.op, 0) + 1
    illegal: Dict[str, int] = {}
    for f in findings:
        illegal[f.op] = illegal.get(f.op, 0) + 1
    ops = {op: {"count": c, "illegal": illegal.get(op, 0)} for op, c in sorted(counts.items())}
    return {"ok": not findings, "ops": ops, "findings": [f.to_dict() for f in findings]}


def format_findings(findings: List[Finding]) -> str:
    """The text report: one line per finding, or a line saying all is well."""
    if not findings:
        return "all ops convert to TFLite builtins"
    return "\n".join([f"{len(findings)} problem(s) for TFLite:"] + ["  " + f.line() for f in findings])
