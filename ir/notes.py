"""Notes a frontend or pass leaves for the user: things it did that are not errors.

They live in ``graph.meta["litesmith.notes"]`` (a list of one-line strings), so
they survive IR text round trips; the CLI prints them on stderr after loading.
"""
from __future__ import annotations

from typing import List

from .graph import Graph

NOTES_META = "litesmith.notes"


def add_note(graph: Graph, text: str) -> None:
    """Record a one-line note on ``graph``."""
    graph.meta.setdefault(NOTES_META, []).append(text)


def graph_notes(graph: Graph) -> List[str]:
    """The notes recorded on ``graph``, oldest first."""
    return list(graph.meta.get(NOTES_META, ()))
