"""Accuracy report: how far the quantized graph is from the float one, and where it is lost.

Both graphs run on the same feeds (the quantized one with TFLite integer
arithmetic). Per output: max/mean absolute error and, for outputs whose last
axis looks like classes (>= 2), top-1 agreement and top-5 overlap. Per layer:
every quantized tensor is dequantized and compared with the float tensor of
the same name, in graph order, so the first layer whose error jumps is where
accuracy goes. The result is a JSON-serializable dict.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from litesmith.ir.graph import Graph
from litesmith.ir.interpreter import Interpreter

from .calibrate import feeds, state_pairs
from .kernels import QuantizedInterpreter
from .params import dequantize_array

MAX_SAMPLES = 64


class _Stats:
    def __init__(self):
        self.max_abs = 0.0
        self.sum_abs = 0.0
        self.sum_ref = 0.0
        self.count = 0

    def add(self, ref: np.ndarray, got: np.ndarray) -> None:
        err = np.abs(np.asarray(got, np.float64) - np.asarray(ref, np.float64))
        if err.size:
            self.max_abs = max(self.max_abs, float(err.max()))
            self.sum_abs += float(err.sum())
            self.sum_ref += float(np.abs(np.asarray(ref, np.float64)).sum())
            self.count += err.size

    def to_dict(self) -> Dict[str, float]:
        n = max(self.count, 1)
        return {"max_abs_error": self.max_abs, "mean_abs_error": self.sum_abs / n,
                "mean_abs_reference": self.sum_ref / n}


def _by_name_observer(store: Dict[str, np.ndarray], quantized: bool):
    def observe(node, outs):
        for v, o in zip(node.outputs, outs):
            if not v.name or node.op == "core.const":
                continue
            if quantized:
                if v.quant is None or not v.dtype.is_int:
                    continue
                store[v.name[:-5] if v.name.endswith("/int8") else v.name] = dequantize_array(o, v.quant)
            elif np.asarray(o).dtype.kind == "f":
                store[v.name] = o

    return observe


def accuracy_report(float_graph: Graph, quant_graph: Graph, data, max_samples: int = MAX_SAMPLES) -> dict:
    float_layers: Dict[str, np.ndarray] = {}
    quant_layers: Dict[str, np.ndarray] = {}
    fi = Interpreter(float_graph, observer=_by_name_observer(float_layers, False))
    qi = QuantizedInterpreter(quant_graph, observer=_by_name_observer(quant_layers, True))
    pairs = state_pairs(float_graph)
    outputs = {v.name: _Stats() for v in float_graph.outputs}
    top1 = {name: [] for name in outputs}
    top5 = {name: [] for name in outputs}
    layers: Dict[str, _Stats] = {}
    order: List[str] = []
    _, runs = feeds(float_graph, data)
    samples = 0
    for run in runs:
        if samples >= max_samples:
            break
        samples += 1
        fstate = {p.input: np.zeros(p.shape, np.float32) for p in pairs}
        qstate = dict(fstate)
        for step in run:
            float_layers.clear()
            quant_layers.clear()
            fout = fi.run({**step, **fstate})
            qout = qi.run(_cast_feed(quant_graph, {**step, **qstate}))
            fstate = {p.input: fout[p.output] for p in pairs}
            qstate = {p.input: qout[p.output] for p in pairs}
            for name, stats in outputs.items():
                got = _as_float(quant_graph, name, qout[name])
                ref = fout[name]
                stats.add(ref, got)
                if ref.ndim >= 1 and ref.shape[-1] >= 2:
                    r, g_ = ref.reshape(-1, ref.shape[-1]), got.reshape(-1, ref.shape[-1])
                    top1[name].extend((np.argmax(r, -1) == np.argmax(g_, -1)).tolist())
                    k = min(5, r.shape[-1])
                    rt, gt = np.argsort(-r, -1)[:, :k], np.argsort(-g_, -1)[:, :k]
                    top5[name].extend(len(set(a) & set(b)) / k for a, b in zip(rt.tolist(), gt.tolist()))
            for name, arr in quant_layers.items():
                if name in float_layers and np.shape(float_layers[name]) == np.shape(arr):
                    if name not in layers:
                        layers[name] = _Stats()
                        order.append(name)
                    layers[name].add(float_layers[name], arr)
    report = {"samples": samples, "outputs": {}}
    for name, stats in outputs.items():
        entry = stats.to_dict()
        if top1[name]:
            entry["top1_agreement"] = float(np.mean(top1[name]))
            entry["top5_overlap"] = float(np.mean(top5[name]))
        report["outputs"][name] = entry
    report["layers"] = [{"tensor": name, **layers[name].to_dict()} for name in order]
    return report


def _cast_feed(graph: Graph, feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Float feeds for int8 model inputs are quantized with the input's parameters."""
    from .params import quantize_array

    out = dict(feed)
    for v in graph.inputs:
        if v.name in out and v.quant is not None and v.dtype.is_int and np.asarray(out[v.name]).dtype.kind == "f":
            info = np.iinfo(v.dtype.np)
            out[v.name] = quantize_array(out[v.name], v.quant, info.min, info.max).astype(v.dtype.np)
    return out


def _as_float(graph: Graph, name: str, arr: np.ndarray) -> np.ndarray:
    for v in graph.outputs:
        if v.name == name and v.quant is not None and v.dtype.is_int:
            return dequantize_array(arr, v.quant)
    return np.asarray(arr, np.float32)
