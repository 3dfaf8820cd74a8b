"""The TFLite backend's passes: ``lower-tflite`` and ``fuse-tflite``.

They reach the pass registry through the ``litesmith.passes`` entry-point
group in pyproject.toml, as a third-party pass would, so ``passes/`` never
names a backend. ``compile_to_tflite`` runs them in its pipeline
(``lower-tflite,fuse-tflite,dce``, then a quantization pass), and
``litesmith opt`` can run any prefix of it.
"""
from __future__ import annotations

from dataclasses import dataclass

from litesmith.ir.graph import Graph
from litesmith.ir.verify import verify
from litesmith.passes.pass_base import Pass, PassContext
from litesmith.passes.registry import register_pass

from .fusions import fuse_tflite
from .legalize import IllegalOpsError
from .lower import lower_to_tflite
from .compile import op_counts

__all__ = ["LowerToTflite", "FuseTflite"]


@register_pass("lower-tflite")
@dataclass
class LowerToTflite(Pass):
    """Lower core ops to tfl.* ops (a dialect conversion); ops that stay illegal raise IllegalOpsError.

    Verifies its input first (lowering assumes a valid graph). Report:
    ``ops_before`` (op -> count), ``lowered`` (core op -> nodes lowered) and
    ``legality`` (the legality report: each illegal node with a reason and a
    hint). With ``partial=true`` illegal nodes stay in the graph and only the
    report lists them, to see how far lowering gets (``litesmith opt``).
    """

    partial: bool = False  # leave illegal nodes in place instead of raising IllegalOpsError

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        verify(graph, trust_inferred=True)  # re-infers only nodes changed since inference ran
        ctx.report["ops_before"] = op_counts(graph)
        lowered = lower_to_tflite(graph)
        ctx.report["lowered"] = lowered.lowered
        ctx.report["legality"] = lowered.report.to_dict()
        if not lowered.report.ok and not self.partial:
            raise IllegalOpsError(lowered.report, where=graph.name)
        return bool(lowered.lowered)


@register_pass("fuse-tflite")
@dataclass
class FuseTflite(Pass):
    """Fold biases, batch norms, activations, pads and reshape/transpose chains into tfl ops.

    The patterns are ``fusions.FUSION_PATTERNS``, applied greedily. Report:
    ``applied`` (fusion name -> times applied; ``dead``: nodes erased).
    """

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        result = fuse_tflite(graph)
        ctx.report["applied"] = dict(result.applied)
        return result.changed
