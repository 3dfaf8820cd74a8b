"""``dense-rank2``: every FULLY_CONNECTED on a vector gets a [1, K] input and a [1, N] output.

A single-step model's state is rank 1 after ``strip-batch``, and the
``vector-fully-connected`` fusion feeds such vectors to FULLY_CONNECTED
directly (``keep_num_dims``): LiteRT and TFLM take that, Arm NN 20.08 does not
("TensorShape set on OutputSlot[0] does not match the inferred shape"). For
``--target armnn`` (targets.py) this pass puts the batch of one back with a
RESHAPE on either side, which Arm NN has.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.graph import Graph
from litesmith.passes.pass_base import Pass, PassContext
from litesmith.passes.registry import register_pass

__all__ = ["DenseRank2"]


@register_pass("dense-rank2")
@dataclass
class DenseRank2(Pass):
    """reshape the rank-1 input of each tfl.fully_connected to [1, K] and its [N] result back from [1, N].

    Report: ``rewritten`` (how many FULLY_CONNECTED ops)."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        rewritten = 0
        for node in graph:
            if node.op != "tfl.fully_connected":
                continue
            x, out = node.inputs[0], node.outputs[0]
            if x.shape is None or len(x.shape) != 1 or out.shape is None or len(out.shape) > 2:
                continue
            b = Builder(graph, before=node)
            lifted = b.op("tfl.reshape", [x, b.const(np.array([1, x.shape[0]], np.int32))])
            dense = b.op("tfl.fully_connected", [lifted] + list(node.inputs[1:]), {**node.attrs, "keep_num_dims": False})
            flat = dense if len(out.shape) == 2 else b.op(  # [1, N] already (no keep_num_dims): as it was
                "tfl.reshape", [dense, b.const(np.array([out.shape[0]], np.int32))])
            if flat is dense:
                dense.type = out.type  # keeps the quantization and the name's place
            out.replace_all_uses_with(flat)
            graph.remove(node)
            flat.name = out.name
            rewritten += 1
        ctx.report["rewritten"] = rewritten
        return bool(rewritten)
