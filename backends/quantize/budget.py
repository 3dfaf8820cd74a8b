"""Accuracy budget for int8 (``--max-drop X``): which weighted layers to keep float.

One calibration run gives the ranges; then each trial quantizes a copy of the graph with some
FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D layers kept float and measures it against the float
graph on the calibration data (accuracy.py): the drop is 100 x (1 - top-1 agreement) of the first
output with a class axis, else 100 x its mean relative error. If all-int8 is within the budget,
nothing changes. Otherwise each layer's sensitivity is measured alone (the drop recovered by keeping
only it float), and the layers that recover any are added in order of recovered drop per weight,
re-measuring after each, until the drop is within the budget (the smallest model found this way);
a layer whose addition does not lower the measured drop is not kept. If the budget cannot be met by
these layers, the lowest drop found is kept and ``met`` is false. Every trial is reported. Choices are int8 or float: int16 inside an int8 model needs int8
<-> int16 requantization at each edge and is not offered yet.
"""
from __future__ import annotations

from typing import Dict, List, Set

import numpy as np

from litesmith.ir.clone import clone_graph
from litesmith.ir.graph import Graph, Node, Value

from .int8 import WEIGHTED, Ranges, quantize_int8


def drop_of(accuracy: dict) -> tuple:
    """(drop in percent, metric name) from an accuracy report."""
    outputs = accuracy["outputs"]
    for name, entry in outputs.items():
        if "top1_agreement" in entry:
            return 100.0 * (1.0 - entry["top1_agreement"]), f"top-1 agreement of {name}"
    name, entry = next(iter(outputs.items()))
    return 100.0 * entry["mean_abs_error"] / max(entry["mean_abs_reference"], 1e-12), f"relative error of {name}"


def choose_float_layers(graph: Graph, ranges: Ranges, moments: Dict[Node, np.ndarray], calibration, max_drop: float,
                        io_dtype: str, run_dce, report: dict) -> Set[str]:
    """Names (first output) of the weighted layers to keep float so the drop is within ``max_drop``."""
    from .accuracy import accuracy_report

    layers = [n for n in graph.nodes if n.op in WEIGHTED and n.inputs[1].is_const() and n.outputs[0].name]
    weights = {n.outputs[0].name: int(n.inputs[1].const_value().size) for n in layers}
    trials: List[dict] = []
    measured: Dict[frozenset, float] = {}

    def trial(keep: Set[str]) -> float:
        key = frozenset(keep)
        if key in measured:
            return measured[key]
        node_map: Dict[Node, Node] = {}
        copy = clone_graph(graph, node_map)
        values = _value_map(graph, copy, node_map)
        quantize_int8(copy, {values[v]: r for v, r in ranges.items() if v in values}, io_dtype, {},
                      moments={node_map[n]: m for n, m in moments.items() if n in node_map}, float_layers=keep)
        run_dce(copy)
        drop, metric = drop_of(accuracy_report(graph, copy, calibration))
        trials.append({"float_layers": sorted(keep), "drop": round(drop, 3),
                       "float_weights": sum(weights[k] for k in keep)})
        report["metric"] = metric
        measured[key] = drop
        return drop

    chosen: Set[str] = set()
    drop = trial(chosen)
    report.update({"max_drop": max_drop, "int8_drop": round(drop, 3), "trials": trials})
    if drop > max_drop and layers:
        gain = {name: drop - trial({name}) for name in weights}
        order = sorted((k for k in weights if gain[k] > 0), key=lambda k: -gain[k] / weights[k])
        best = (drop, chosen)
        for name in order:  # add layers by recovered drop per weight; keep the best set seen
            candidate = chosen | {name}
            d = trial(candidate)
            if d < best[0]:
                best, chosen = (d, candidate), candidate
            if d <= max_drop:
                break
        drop, chosen = best
        report["sensitivity"] = [{"layer": k, "weights": weights[k], "recovered_alone": round(gain[k], 3)}
                                 for k in sorted(weights, key=lambda k: -gain[k] / weights[k])]
    report["choices"] = {k: ("float" if k in chosen else "int8") for k in weights}
    report["drop"] = round(drop, 3)
    report["met"] = drop <= max_drop
    return chosen


def _value_map(graph: Graph, copy: Graph, node_map: Dict[Node, Node]) -> Dict[Value, Value]:
    values = dict(zip(graph.inputs, copy.inputs))
    for node, twin in node_map.items():
        values.update(zip(node.outputs, twin.outputs))
    return values

