"""stub-custom-ops: ops TFLite has no builtin for become ``tfl.custom`` nodes plus C++ kernel stubs.

Which ops are illegal is the TFLite lowering's call (it runs on a copy, see
``backends/tflite/legality_check.py``); only "no builtin" and "unsupported
attribute" nodes are stubbed. Dynamic shapes, dtypes and control flow are not
fixed by a custom op and stay in the lowering's report.
"""
from __future__ import annotations

from dataclasses import dataclass

from litesmith.ir.graph import Graph, Node
from litesmith.passes.pass_base import Pass, PassContext
from litesmith.passes.registry import register_pass

from .legality_check import bare_op_name, illegal_nodes
from .legalize import NO_BUILTIN, UNSUPPORTED_ATTR
from .stubs import StubSpec, TensorSpec, custom_options, write_stubs


# The resource key of a list that collects (stubs_dir, specs) instead of writing them (see StubCustomOps).
DEFERRED_STUBS = "deferred_stubs"


@register_pass("stub-custom-ops")
@dataclass
class StubCustomOps(Pass):
    """Turn ops TFLite lacks into tfl.custom (attrs as flexbuffer custom_options) and write C++ kernel stubs.

    ``stubs_dir``: where ``<Op>.cc`` and ``README.md`` go; empty writes none. Whoever runs the
    pipeline may hand a list as the resource ``deferred_stubs``: the pass then appends
    ``(stubs_dir, specs)`` to it instead of writing, so ``litesmith convert --stubs-dir`` writes the
    stubs only once the model is written (a failed conversion leaves the directory untouched).
    """

    stubs_dir: str = ""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        pairs, _ = illegal_nodes(graph)
        specs, stubbed = [], {}
        for node, issue in pairs:
            if issue.kind not in (NO_BUILTIN, UNSUPPORTED_ATTR) or node.regions or _has_list_values(node):
                continue
            code = bare_op_name(node.op)
            specs.append(StubSpec(
                custom_code=code, source_op=node.op, node=node.name,
                inputs=[TensorSpec(v.name, v.dtype, v.shape) for v in node.inputs],
                outputs=[TensorSpec(v.name, v.dtype, v.shape) for v in node.outputs],
                attrs=_op_attrs(node),
            ))
            _replace_with_custom(node, code, custom_options(_op_attrs(node)))
            stubbed[code] = stubbed.get(code, 0) + 1
        deferred = ctx.resources.get(DEFERRED_STUBS)
        if isinstance(deferred, list) and specs:
            deferred.append((self.stubs_dir, specs))
        elif self.stubs_dir and specs:
            ctx.report["files"] = write_stubs(specs, self.stubs_dir)
        ctx.report["stubbed"] = stubbed
        return bool(stubbed)


def _op_attrs(node: Node) -> dict:
    """The op's own attributes: TF's bookkeeping ones (``_output_shapes``, ``_class``) are not the kernel's."""
    return {k: v for k, v in node.attrs.items() if not k.startswith("_")}


def _has_list_values(node: Node) -> bool:
    return any(v.type.is_list for v in list(node.inputs) + list(node.outputs))


def _replace_with_custom(node: Node, code: str, options: bytes) -> None:
    """Swap ``node`` for a ``tfl.custom`` with the same operands and result types (names kept)."""
    graph = node.graph
    custom = Node(
        "tfl.custom", node.inputs, {"custom_code": code, "custom_options": options},
        [v.type for v in node.outputs], meta=dict(node.meta),
        output_names=[v.name for v in node.outputs],
    )
    graph.insert_before(node, custom)
    for old, new in zip(node.outputs, custom.outputs):
        old.name = ""
        old.replace_all_uses_with(new)
    graph.remove(node)
