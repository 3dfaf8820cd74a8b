"""A third-party pass, found through the ``litesmith.passes`` entry point group."""
from dataclasses import dataclass

from litesmith.passes import Pass


@dataclass
class TagNodes(Pass):
    """Write a tag into every node's meta (an example plugin pass)."""

    tag: str = "seen"

    def run(self, graph, ctx):
        for node in graph.walk():
            node.meta["plugin_tag"] = self.tag
        ctx.report["tagged"] = len(list(graph.walk()))
        return True
