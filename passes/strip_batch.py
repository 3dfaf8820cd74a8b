"""strip-batch: remove the batch axis from a graph's interface and every tensor inside.

Training graphs carry a batch axis the device does not want. The pass
folds shape arithmetic first (so shapes are static), follows axis 0 of the
batch inputs through the graph (passes/batch_analysis.py), then deletes it:
inputs and outputs lose the dim, axis attributes, permutations, reshape
targets, slice masks and zero-state fills are rewritten. Ops that need their
rank (matmul with a [K] row, conv2d) keep a size-1 axis around them via
expand_dims/squeeze. TF's dilated convs (SpaceToBatchND -> conv ->
BatchToSpaceND, which mixes the batch with spatial blocks) are first folded
into the one dilated conv they stand for. An op that mixes batch elements is
a UserError naming it; ``mode=pin`` keeps the axis with size 1 instead.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import List, Optional

from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Value
from litesmith.ir.reinfer import reinfer

from .batch_analysis import AxisAnalysis, AxisMixingError, LoopStepsOverAxis, pin_axis, strip_axis
from litesmith.ir.canonical.dilated_conv import dilated_conv
from .pass_base import Pass, PassContext
from .registry import register_pass
from .rewrite import apply_patterns_greedily, as_pattern


@register_pass("strip-batch")
@dataclass
class StripBatch(Pass):
    """Remove the batch axis (axis 0 of the inputs) from inputs, outputs and every tensor."""

    inputs: List[str] = field(default_factory=list)  # batch inputs by name; [] = auto-detect
    mode: str = "strip"  # strip: remove the axis; pin: keep it with size 1
    axis: int = -1  # the batch axis of the inputs; -1: 0, or 1 for a time-major sequence

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        if self.mode not in ("strip", "pin"):
            raise UserError(f"strip-batch: mode={self.mode!r} is not strip or pin")
        if self.axis < 0:
            axis = self._detect_axis(graph)
            ctx.report["axis"] = axis
            return replace(self, axis=axis).run(graph, ctx)
        batch_inputs = self._batch_inputs(graph)
        if not batch_inputs:
            ctx.report["batch_inputs"] = []
            return False
        size = _batch_size(batch_inputs, self.axis)
        if size is None:  # an unknown batch: pin it to 1 first so shapes can become static
            for v in batch_inputs:
                shape = list(v.shape)
                shape[self.axis] = 1
                v.set_type(v.type.with_shape(shape))
            reinfer(graph, batch_inputs)  # loop regions too: their carried types follow the pinned batch
            size = 1
        ctx.run_pipeline("fold-constants", graph)
        if any(n.op == "core.while" for n in graph):  # Keras 3 TimeDistributed: pfor's x[i] loop is a gather
            ctx.run_pipeline("pfor-gather-loops", graph)
        _fold_dilated_convs(graph)
        seeds = {v: self.axis for v in batch_inputs}
        mode = self.mode
        try:
            analysis = AxisAnalysis(graph, seeds, size, "batch", allow_mixing=(mode == "pin"))
        except AxisMixingError:
            raise
        if mode == "pin":
            pin_axis(graph, analysis)
        else:
            strip_axis(graph, analysis)
        ctx.run_pipeline("fold-constants", graph)
        ctx.report["batch_inputs"] = [v.name for v in batch_inputs]
        ctx.report["batch_size"] = size
        ctx.report["mode"] = mode
        ctx.report["outputs_without_batch"] = [v.name for v in graph.outputs]
        ctx.report["ops_rewritten"] = dict(Counter(n.op for n in graph.walk() if n.op != "core.const"))
        graph.meta["litesmith.batch"] = mode
        return True

    def _detect_axis(self, graph: Graph) -> int:
        """Axis 0, unless a loop steps over the inputs' axis 0 (a time-major sequence): then 1."""
        inputs = replace(self, axis=0)._batch_inputs(graph)
        if inputs and all((v.rank or 0) > 1 for v in inputs) and _loop_steps_over_axis_0(graph, inputs):
            return 1
        return 0

    def _batch_inputs(self, graph: Graph) -> List[Value]:
        if self.inputs:
            names = {v.name: v for v in graph.inputs}
            out = []
            for name in self.inputs:
                v = names.get(name) or names.get(name.split(":")[0])
                if v is None:
                    raise UserError(f"strip-batch: no graph input {name!r} (inputs: {', '.join(names)})")
                if (v.rank or 0) <= self.axis:
                    raise UserError(f"strip-batch: input {name!r} has no axis {self.axis} to strip (type {v.type})")
                out.append(v)
            return out
        a = self.axis
        ranked = [v for v in graph.inputs if (v.rank or 0) > a and not v.type.is_list]
        dims = Counter(v.shape[a] for v in ranked if v.shape[a] is not None)
        if not dims:
            return ranked
        size = dims.most_common(1)[0][0]
        return [v for v in ranked if v.shape[a] == size]


def _fold_dilated_convs(graph: Graph) -> None:
    """TF's SpaceToBatchND -> conv -> BatchToSpaceND mixes the batch with spatial blocks; as the
    one dilated conv it stands for (exact), the batch axis goes straight through."""
    if any(n.op == "core.space_to_batch_nd" for n in graph.walk()):
        apply_patterns_greedily(graph, [as_pattern(dilated_conv, "core.batch_to_space_nd")])


def _loop_steps_over_axis_0(graph: Graph, inputs: List[Value]) -> bool:
    """Does a loop unstack the inputs' axis 0 (``time_major=True`` dynamic_rnn)? Analysis only."""
    try:
        AxisAnalysis(graph, {v: 0 for v in inputs}, None, "batch", allow_mixing=False)
    except LoopStepsOverAxis:
        return True
    except AxisMixingError:
        return False
    return False


def _batch_size(inputs: List[Value], axis: int) -> Optional[int]:
    sizes = {v.shape[axis] for v in inputs}
    if len(sizes) > 1 and None not in sizes:
        names = ", ".join(f"{v.name} ({v.shape[axis]})" for v in inputs)
        raise UserError(f"strip-batch: the batch inputs disagree on the batch size: {names}; name them with strip-batch{{inputs=...}}")
    sizes.discard(None)
    return sizes.pop() if sizes else None
