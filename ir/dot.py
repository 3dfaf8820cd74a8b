"""Graphviz ``dot`` text for a graph: one box per node, edges labelled with types.

Regions (loop and branch bodies) become nested clusters. Pipe the text to
``dot -Tsvg`` to look at a model.
"""
from __future__ import annotations

import json
from typing import Dict, List

from .graph import Graph


def to_dot(graph: Graph) -> str:
    lines: List[str] = [f"digraph {json.dumps(graph.name)} {{", "  rankdir=TB;", "  node [shape=box, fontsize=10];"]
    ids: Dict[int, str] = {}
    _emit(graph, lines, ids, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _emit(graph: Graph, lines: List[str], ids: Dict[int, str], indent: str) -> None:
    for v in graph.inputs:
        vid = ids.setdefault(id(v), f"v{len(ids)}")
        lines.append(f"{indent}{vid} [shape=ellipse, label={json.dumps(f'{v.name}: {v.type}')}];")
    for node in graph:
        nid = f"n{len(ids)}"
        ids[id(node)] = nid
        label = node.op if node.op != "core.const" else f"const {node.output.type}"
        lines.append(f"{indent}{nid} [label={json.dumps(label + chr(10) + node.name)}];")
        for v in node.inputs:
            src = ids.get(id(v.producer)) if v.producer is not None else ids.get(id(v))
            if src is not None:
                lines.append(f"{indent}{src} -> {nid} [label={json.dumps(str(v.type))}, fontsize=8];")
        for v in node.outputs:
            ids[id(v)] = nid
        for r, region in enumerate(node.regions):
            lines.append(f"{indent}subgraph cluster_{nid}_{r} {{")
            lines.append(f"{indent}  label={json.dumps(f'{node.op} region {r}')};")
            _emit(region, lines, ids, indent + "  ")
            lines.append(f"{indent}}}")
    for i, v in enumerate(graph.outputs):
        oid = f"o{len(lines)}"  # lines only grow: a unique id
        lines.append(f"{indent}{oid} [shape=ellipse, style=dashed, label={json.dumps(f'{v.name}: {v.type}')}];")
        src = ids.get(id(v.producer)) if v.producer is not None else ids.get(id(v))
        if src is not None:
            lines.append(f"{indent}{src} -> {oid};")
