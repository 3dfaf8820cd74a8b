"""split-host-ops: cut the graph at ops that must run on the host (beam search, user-named ops).

The cut itself is ``host_plan.py``; ``host_split.py`` compiles the device
segments, writes the JSON manifest and runs it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph
from litesmith.passes.pass_base import Pass, PassContext
from litesmith.passes.registry import register_pass

from .host_ops import DEFAULT_HOST_OPS
from .host_plan import HostStep, plan_host_split
from .host_split import write_host_split

__all__ = ["SplitHostOps"]


@register_pass("split-host-ops")
@dataclass
class SplitHostOps(Pass):
    """Cut the graph at host ops (default: CTC decoders) into TFLite models plus a JSON manifest.

    ``ops``: host op names (``ops=CTCBeamSearchDecoder:MyOp``); ``out_dir``:
    where ``manifest.json`` and ``segment<N>.tflite`` go (required). The graph
    itself is left unchanged; run the result with
    ``litesmith.backends.tflite.host_split.run_manifest``.
    """

    ops: List[str] = field(default_factory=list)
    out_dir: str = ""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        if not self.out_dir:
            raise UserError("split-host-ops needs out_dir: split-host-ops{ops=CTCBeamSearchDecoder,out_dir=DIR}")
        plan = plan_host_split(graph, self.ops or tuple(DEFAULT_HOST_OPS))
        manifest = write_host_split(plan, self.out_dir)
        ctx.report["manifest"] = manifest
        ctx.report["steps"] = [f"{'host' if isinstance(s, HostStep) else 'tflite'}:{getattr(s, 'op', len(s.outputs))}" for s in plan.steps]
        return False
