"""Accuracy budget for int8 (``--max-drop X``): which weighted layers leave int8 (hybrid or float).

One calibration run gives the ranges; then each trial quantizes a copy of the graph with some
FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D layers kept float and measures it against the float
graph on the calibration data (accuracy.py): the drop is 100 x (1 - top-1 agreement) of the first
output with a class axis, else 100 x its mean relative error. If all-int8 is within the budget,
nothing changes. Otherwise each layer's sensitivity is measured alone (the drop recovered by making
only it hybrid -- FULLY_CONNECTED with int8 weights and float activations, as LiteRT's dynamic-range
kernel runs it: no larger than int8 -- or float). Hybrid layers that recover any are added first,
in order of recovered drop (they cost no size), then float layers in order of recovered drop per
weight, re-measuring after each, until the drop is within the budget; a step that does not lower the
measured drop is not kept. If the budget cannot be met, the lowest drop found is kept and ``met`` is
false. Every trial is reported. int16 inside an int8 model needs int8 <-> int16 requantization at
each edge and is not offered yet.
"""
from __future__ import annotations

from typing import Dict, List

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


def choose_layers(graph: Graph, ranges: Ranges, moments: Dict[Node, np.ndarray], calibration, max_drop: float,
                  io_dtype: str, run_dce, report: dict) -> Dict[str, str]:
    """Weighted layer name (first output) -> "hybrid" or "float" for the layers that leave int8, so the
    drop is within ``max_drop``: hybrid FULLY_CONNECTED first (int8 weights: no size), then float
    layers by recovered drop per weight."""
    from .accuracy import accuracy_report

    layers = [n for n in graph.nodes if n.op in WEIGHTED and n.inputs[1].is_const() and n.outputs[0].name]
    weights = {n.outputs[0].name: int(n.inputs[1].const_value().size) for n in layers}
    hybrid_ok = {n.outputs[0].name for n in layers if n.op == "tfl.fully_connected"}
    trials: List[dict] = []
    measured: Dict[tuple, float] = {}

    def trial(choice: Dict[str, str]) -> float:
        key = tuple(sorted(choice.items()))
        if key in measured:
            return measured[key]
        keep = {k for k, v in choice.items() if v == "float"}
        hybrid = {k for k, v in choice.items() if v == "hybrid"}
        node_map: Dict[Node, Node] = {}
        copy = clone_graph(graph, node_map)
        values = _value_map(graph, copy, node_map)
        quantize_int8(copy, {values[v]: r for v, r in ranges.items() if v in values}, io_dtype, {},
                      moments={node_map[n]: m for n, m in moments.items() if n in node_map}, float_layers=keep,
                      hybrid_layers=hybrid)
        run_dce(copy)
        drop, metric = drop_of(accuracy_report(graph, copy, calibration))
        trials.append({"float_layers": sorted(keep), "hybrid_layers": sorted(hybrid), "drop": round(drop, 3),
                       "float_weights": sum(weights[k] for k in keep)})
        report["metric"] = metric
        measured[key] = drop
        return drop

    chosen: Dict[str, str] = {}
    drop = trial(chosen)
    report.update({"max_drop": max_drop, "int8_drop": round(drop, 3), "trials": trials})
    if drop > max_drop and layers:
        gain = {name: drop - trial({name: "float"}) for name in weights}
        hybrid_gain = {name: drop - trial({name: "hybrid"}) for name in hybrid_ok}
        # free choices first (hybrid: the file does not grow), then float by recovered drop per weight
        steps = [(k, "hybrid") for k in sorted(hybrid_gain, key=lambda k: -hybrid_gain[k]) if hybrid_gain[k] > 0]
        steps += [(k, "float") for k in sorted(weights, key=lambda k: -gain[k] / weights[k]) if gain[k] > 0]
        best = drop
        for name, how in steps:  # keep a step only if it lowers the measured drop
            if best <= max_drop:
                break
            candidate = {**chosen, name: how}
            d = trial(candidate)
            if d < best:
                best, chosen = d, candidate
        drop = best
        report["sensitivity"] = [{"layer": k, "weights": weights[k], "recovered_alone": round(gain[k], 3),
                                  **({"recovered_hybrid": round(hybrid_gain[k], 3)} if k in hybrid_gain else {})}
                                 for k in sorted(weights, key=lambda k: -gain[k] / weights[k])]
    report["choices"] = {k: chosen.get(k, "int8") for k in weights}
    report["drop"] = round(drop, 3)
    report["met"] = drop <= max_drop
    return chosen


def _value_map(graph: Graph, copy: Graph, node_map: Dict[Node, Node]) -> Dict[Value, Value]:
    values = dict(zip(graph.inputs, copy.inputs))
    for node, twin in node_map.items():
        values.update(zip(node.outputs, twin.outputs))
    return values

