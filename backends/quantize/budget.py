"""Accuracy budget for int8 (``--max-drop X``): which weighted layers leave int8 (16x8, hybrid or float).

One calibration run gives the ranges; then each trial quantizes a copy of the graph with some
FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D layers changed and measures it against the float graph
(``Reference``): the drop is 100 x (1 - top-1 agreement) of the first output with a class axis, else
100 x its mean relative error. A model with state is measured the way it runs on a device: the
calibration sequences played one after another with the state carried across them, ``steps`` steps
in all (``--budget-steps``), so the trials see the drift a long sequence accumulates, which windows
that each start from a zero state hide. If all-int8 is within the budget, nothing changes. Otherwise
the free choices (int8 weights: the file does not grow) are measured for each FULLY_CONNECTED alone:
int16 -- a 16x8 island, int16 input and output between QUANTIZE and DEQUANTIZE, LiteRT's int16
kernel -- and hybrid -- float activations, LiteRT's dynamic-range kernel. The better of the two per
layer is added in order of recovered drop, re-measuring after each; if that is not enough, each
layer kept float is measured alone and float layers are added by recovered drop per weight. A step
that does not lower the measured drop is not kept. If the budget cannot be met, the lowest drop
found is kept and ``met`` is false. Every trial is reported.
"""
from __future__ import annotations

import time
from typing import Dict, List

import numpy as np

from litesmith.ir.clone import clone_graph
from litesmith.ir.graph import Graph, Node, Value

from litesmith.ir.interpreter import Interpreter

from .accuracy import _as_float, _cast_feed
from .calibrate import feeds, state_pairs
from .int8 import WEIGHTED, Int8Rewriter, Ranges, quantize_int8
from .kernels import QuantizedInterpreter

DEFAULT_STEPS = 512  # the budget's evaluation length (--budget-steps)


def drop_of(accuracy: dict) -> tuple:
    """(drop in percent, metric name) from an accuracy report."""
    outputs = accuracy["outputs"]
    for name, entry in outputs.items():
        if "top1_agreement" in entry:
            return 100.0 * (1.0 - entry["top1_agreement"]), f"top-1 agreement of {name}"
    name, entry = next(iter(outputs.items()))
    return 100.0 * entry["mean_abs_error"] / max(entry["mean_abs_reference"], 1e-12), f"relative error of {name}"


class Reference:
    """The float graph's outputs on the budget's evaluation steps, computed once for every trial.

    A model with state: the calibration sequences played one after another with the state carried
    across them (as a keyboard carries it from sentence to sentence), repeated until ``steps`` steps.
    A quantized model's state drifts away from float's over a long sequence; windows that each start
    from a zero state do not show it (gru128x1 of the zoo: within 1 point on 32 windows of 16 steps,
    1.2 points off over 600 held-out steps). Without state: up to ``steps`` samples, each once."""

    def __init__(self, graph: Graph, data, steps: int):
        runs = list(feeds(graph, data)[1])
        self.pairs = state_pairs(graph)
        self.steps: List[dict] = []
        while runs and len(self.steps) < steps:
            for run in runs:
                self.steps.extend(run[:steps - len(self.steps)])
            if not self.pairs:
                break
        self.outputs = self._play(Interpreter(graph), graph, lambda out, v: out)
        self.names = [v.name for v in graph.outputs]

    def _play(self, interp, graph: Graph, as_float) -> Dict[str, list]:
        state = {p.input: np.zeros(p.shape, np.float32) for p in self.pairs}
        got: Dict[str, list] = {v.name: [] for v in graph.outputs}
        for step in self.steps:
            out = interp.run(_cast_feed(graph, {**step, **state}))
            state = {p.input: out[p.output] for p in self.pairs}
            for name in got:
                got[name].append(as_float(out[name], name))
        return got

    def measure(self, quant_graph: Graph) -> dict:
        """An accuracy report's ``outputs`` (top-1 agreement or mean errors) of ``quant_graph``."""
        got = self._play(QuantizedInterpreter(quant_graph), quant_graph,
                         lambda out, name: _as_float(quant_graph, name, out))
        outputs = {}
        for name in self.names:
            ref = np.stack([np.asarray(a, np.float64) for a in self.outputs[name]])
            q = np.stack([np.asarray(a, np.float64) for a in got[name]])
            entry = {"mean_abs_error": float(np.mean(np.abs(q - ref))), "mean_abs_reference": float(np.mean(np.abs(ref)))}
            if ref.ndim >= 2 and ref.shape[-1] >= 2:
                r, g = ref.reshape(-1, ref.shape[-1]), q.reshape(-1, ref.shape[-1])
                entry["top1_agreement"] = float(np.mean(np.argmax(r, -1) == np.argmax(g, -1)))
            outputs[name] = entry
        return {"outputs": outputs}


def choose_layers(graph: Graph, ranges: Ranges, moments: Dict[Node, np.ndarray], calibration, max_drop: float,
                  io_dtype: str, run_dce, report: dict, steps: int = DEFAULT_STEPS) -> Dict[str, str]:
    """Weighted layer name (first output) -> "int16", "hybrid" or "float" for the layers that leave
    int8, so the drop measured over ``steps`` steps is within ``max_drop``: int16 or hybrid
    FULLY_CONNECTED first (int8 weights: no size), then float layers by recovered drop per weight."""
    started = time.perf_counter()
    reference = Reference(graph, calibration, steps)
    report["steps"] = len(reference.steps)
    report["threaded"] = bool(reference.pairs)
    layers = [n for n in graph.nodes if n.op in WEIGHTED and n.inputs[1].is_const() and n.outputs[0].name]
    weights = {n.outputs[0].name: int(n.inputs[1].const_value().size) for n in layers}
    hybrid_ok = {n.outputs[0].name for n in layers if n.op == "tfl.fully_connected"}
    rules = Int8Rewriter(graph, ranges, io_dtype)
    already_hybrid = {n.outputs[0].name for n in layers if rules.hybrid_by_default(n)}  # no hybrid trial
    trials: List[dict] = []
    measured: Dict[tuple, float] = {}

    def trial(choice: Dict[str, str]) -> float:
        key = tuple(sorted(choice.items()))
        if key in measured:
            return measured[key]
        keep = {k for k, v in choice.items() if v == "float"}
        hybrid = {k for k, v in choice.items() if v == "hybrid"}
        int16 = {k for k, v in choice.items() if v == "int16"}
        node_map: Dict[Node, Node] = {}
        copy = clone_graph(graph, node_map)
        values = _value_map(graph, copy, node_map)
        quantize_int8(copy, {values[v]: r for v, r in ranges.items() if v in values}, io_dtype, {},
                      moments={node_map[n]: m for n, m in moments.items() if n in node_map}, float_layers=keep,
                      hybrid_layers=hybrid, int16_layers=int16)
        run_dce(copy)
        drop, metric = drop_of(reference.measure(copy))
        trials.append({"float_layers": sorted(keep), "hybrid_layers": sorted(hybrid), "int16_layers": sorted(int16),
                       "drop": round(drop, 3),
                       "float_weights": sum(weights[k] for k in keep)})
        report["metric"] = metric
        measured[key] = drop
        return drop

    chosen: Dict[str, str] = {}
    drop = trial(chosen)
    report.update({"max_drop": max_drop, "int8_drop": round(drop, 3), "trials": trials})
    sensitivity: Dict[str, dict] = {k: {"layer": k, "weights": weights[k]} for k in weights}

    def add_steps(order) -> float:
        """Add each step to the chosen set if it lowers the measured drop, until within budget."""
        nonlocal chosen
        best = measured[tuple(sorted(chosen.items()))]
        for name, how in order:
            if best <= max_drop:
                break
            candidate = {**chosen, name: how}
            d = trial(candidate)
            if d < best:
                best, chosen = d, candidate
        return best

    if drop > max_drop and layers:
        # free choices first (int8 weights: the file does not grow): int16 (a 16x8 island) or hybrid,
        # the better of the two per layer, by recovered drop
        free: Dict[str, tuple] = {}
        for name in sorted(hybrid_ok):
            options = ["int16"] + ([] if name in already_hybrid else ["hybrid"])
            for how in options:
                sensitivity[name][f"recovered_{how}"] = round(drop - trial({name: how}), 3)
            free[name] = max(((how, sensitivity[name][f"recovered_{how}"]) for how in options), key=lambda c: c[1])
        drop = add_steps([(k, free[k][0]) for k in sorted(free, key=lambda k: -free[k][1]) if free[k][1] > 0])
        if drop > max_drop:  # then float layers, by recovered drop per weight (measured only now)
            gain = {name: report["int8_drop"] - trial({name: "float"}) for name in weights}
            for name in weights:
                sensitivity[name]["recovered_alone"] = round(gain[name], 3)
            drop = add_steps([(k, "float") for k in sorted(weights, key=lambda k: -gain[k] / weights[k]) if gain[k] > 0])
        report["sensitivity"] = list(sensitivity.values())
    report["choices"] = {k: chosen.get(k, "int8") for k in weights}
    report["drop"] = round(drop, 3)
    report["met"] = drop <= max_drop
    report["seconds"] = round(time.perf_counter() - started, 1)
    return chosen


def _value_map(graph: Graph, copy: Graph, node_map: Dict[Node, Node]) -> Dict[Value, Value]:
    values = dict(zip(graph.inputs, copy.inputs))
    for node, twin in node_map.items():
        values.update(zip(node.outputs, twin.outputs))
    return values

