"""A stepped model's recurrent state: which input carries each state and which output returns it.

unroll-rnn records the pairs in ``graph.meta[STATE_META_KEY]``; the writer
copies graph meta into the .tflite's metadata of the same name and the reader
brings it back, so calibration, the accuracy report, ``inspect``, ``bench``
and the demo read the same pairs from either. This module is the one place
that knows the encoding (a JSON list of ``{"input", "output", "shape"}``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Tuple

from .errors import UserError

__all__ = ["STATE_META_KEY", "StatePair", "encode_state", "decode_state", "graph_state", "add_state"]

STATE_META_KEY = "litesmith.state"


@dataclass(frozen=True)
class StatePair:
    input: str                           # the graph input that takes the state
    output: str                          # the graph output that returns the next state
    shape: Optional[Tuple[int, ...]] = None  # the state's shape (the input's, after stripping)
    initial: Optional[str] = None        # unroll-rnn: "zeros" or "graph input NAME" (what step 0 feeds)
    source: Optional[str] = None         # unroll-rnn: the loop-body node that computes the next state


def encode_state(pairs: Iterable[StatePair]) -> bytes:
    """The metadata bytes for ``pairs``."""
    entries = []
    for p in pairs:
        entry: dict = {"input": p.input, "output": p.output}
        if p.shape is not None:
            entry["shape"] = list(p.shape)
        for key in ("initial", "source"):
            if getattr(p, key) is not None:
                entry[key] = getattr(p, key)
        entries.append(entry)
    return json.dumps(entries).encode()


def decode_state(raw: Any, source: str = "the model") -> List[StatePair]:
    """Pairs from metadata bytes (or str, or an already decoded list); a UserError naming
    ``source`` when they are malformed."""
    if raw is None or raw == b"" or raw == "":
        return []
    try:
        entries = json.loads(bytes(raw).decode("utf-8") if isinstance(raw, (bytes, bytearray, memoryview)) else raw) \
            if isinstance(raw, (bytes, bytearray, memoryview, str)) else raw
        pairs = []
        for e in entries:
            shape = e.get("shape")
            pairs.append(StatePair(str(e["input"]), str(e["output"]),
                                   None if shape is None else tuple(None if d is None else int(d) for d in shape),
                                   e.get("initial"), e.get("source")))
        return pairs
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{source}: malformed '{STATE_META_KEY}' metadata ({e}); expected a JSON list of "
                        '{"input": NAME, "output": NAME, "shape": [...]}') from None


def graph_state(graph, source: Optional[str] = None) -> List[StatePair]:
    """The state pairs a graph carries (none for a stateless model)."""
    return decode_state(graph.meta.get(STATE_META_KEY), source or f"graph {graph.name}")


def add_state(graph, pairs: Iterable[StatePair]) -> None:
    """Append ``pairs`` to the graph's state metadata."""
    graph.meta[STATE_META_KEY] = encode_state(graph_state(graph) + list(pairs))
