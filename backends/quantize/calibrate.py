"""Calibration: run the float graph on sample inputs and record activation ranges.

Data comes as a mapping (or .npz) of input name -> [samples, *input_shape],
or a callable / iterable yielding feed dicts. Models with state pairs
(``ir/state.py``: the graph's state pairs)
take [sequences, steps, *input_shape] arrays without the state inputs: each
sequence starts from zero state and threads each step's state output into the
next step's state input, so state tensors get real ranges.
"""
from __future__ import annotations

import os
import zipfile
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)

import numpy as np
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Value
from litesmith.ir.progress import ProgressBar
from litesmith.ir.interpreter import Interpreter
from litesmith.ir.state import StatePair, graph_state

CalibrationData = Union[str, os.PathLike, Mapping[str, np.ndarray], Callable[[], Iterable[Dict[str, Any]]], Iterable[Dict[str, Any]]]

# Per tensor, at most this many values are kept for percentile ranges.
PERCENTILE_SAMPLE_CAP = 1 << 20


def state_pairs(graph: Graph) -> List[StatePair]:
    return graph_state(graph)


def load_calibration(data: CalibrationData) -> Union[Mapping[str, np.ndarray], Callable, Iterable]:
    """A path becomes its arrays; anything else passes through."""
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        hint = "give an .npz (np.savez) with one array per model input, keyed by input name"
        if not os.path.isfile(path):
            raise UserError(f"{path}: no such calibration file; {hint}")
        if not zipfile.is_zipfile(path):  # np.load would take a .npy or try to unpickle text
            raise UserError(f"{path}: not an .npz archive; {hint}")
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise UserError(f"{path}: cannot read calibration data ({e}); {hint}") from None
    return data


def feeds(graph: Graph, data: CalibrationData) -> Tuple[int, Iterator[List[Dict[str, np.ndarray]]]]:
    """(count, iterator of runs); a run is a list of feed dicts (one step each; several for stateful models)."""
    data = load_calibration(data)
    pairs = state_pairs(graph)
    state_inputs = {p.input for p in pairs}
    needed = [v.name for v in graph.inputs if v.name not in state_inputs]
    if isinstance(data, Mapping):
        missing = [n for n in needed if n not in data]
        if missing:
            raise UserError(f"calibration data lacks model input(s) {', '.join(missing)} "
                            f"(has: {', '.join(data) or 'nothing'}); key arrays by input name")
        for v in graph.inputs:
            if v.name not in state_inputs:
                _check_array(v, np.asarray(data[v.name]), stateful=bool(pairs))
        counts = {len(np.asarray(data[n])) for n in needed}
        if len(counts) != 1:
            raise UserError(f"calibration arrays differ in sample count ({sorted(counts)}); give each input the same first dimension")
        count = counts.pop() if needed else 0

        def runs():
            for i in range(count):
                sample = {n: np.asarray(data[n][i]) for n in needed}
                if pairs:
                    steps = len(next(iter(sample.values())))
                    yield [{n: a[t] for n, a in sample.items()} for t in range(steps)]
                else:
                    yield [sample]

        return count, runs()
    source = data() if callable(data) else data
    items = list(source)

    def runs_from_items():
        for item in items:
            if pairs:
                steps = len(next(iter(item.values())))
                yield [{n: np.asarray(a)[t] for n, a in item.items()} for t in range(steps)]
            else:
                yield [dict(item)]

    return len(items), runs_from_items()


def _check_array(v: Value, arr: np.ndarray, stateful: bool) -> None:
    """Calibration arrays are [samples, *input] (stateful models: [sequences, steps, *input])."""
    shape = v.shape
    lead = ["sequences", "steps"] if stateful else ["samples"]
    want = "[" + ", ".join(lead + ["?" if d is None else str(d) for d in (shape or ())]) + "]"
    layout = f"input {v.name!r} is {v.dtype}{list(shape) if shape is not None else '[...]'}" + (
        "; the model carries state, so calibration arrays are whole sequences" if stateful else "")
    if shape is not None and (arr.ndim != len(lead) + len(shape) or any(
            d is not None and d != s for d, s in zip(shape, arr.shape[len(lead):]))):
        raise UserError(f"calibration array {v.name!r} has shape {list(arr.shape)}, expected {want} ({layout})")
    if not np.can_cast(arr.dtype, v.dtype.np, casting="same_kind"):
        raise UserError(f"calibration array {v.name!r} has dtype {arr.dtype}, the model input is {v.dtype} ({layout})")


class RangeObserver:
    """Records min/max (and, for percentiles, a sample) of every float value the interpreter computes."""

    def __init__(self, keep_samples: bool = False):
        self.lo: Dict[Value, float] = {}
        self.hi: Dict[Value, float] = {}
        self.samples: Dict[Value, List[np.ndarray]] = {}
        self.kept: Dict[Value, int] = {}
        self.keep_samples = keep_samples
        self.rng = np.random.default_rng(0)

    def record(self, v: Value, arr) -> None:
        arr = np.asarray(arr)
        if arr.dtype.kind != "f" or arr.size == 0:
            return
        lo, hi = float(np.min(arr)), float(np.max(arr))
        self.lo[v] = min(lo, self.lo.get(v, lo))
        self.hi[v] = max(hi, self.hi.get(v, hi))
        if self.keep_samples:
            flat = arr.reshape(-1).astype(np.float32)
            room = PERCENTILE_SAMPLE_CAP - self.kept.get(v, 0)
            if room <= 0:
                return
            if flat.size > room:
                flat = self.rng.choice(flat, room, replace=False)
            self.samples.setdefault(v, []).append(flat)
            self.kept[v] = self.kept.get(v, 0) + flat.size

    def __call__(self, node, outs) -> None:
        for v, o in zip(node.outputs, outs):
            self.record(v, o)

    def ranges(self, percentile: Optional[float] = None) -> Dict[Value, Tuple[float, float]]:
        out = {}
        for v in self.lo:
            lo, hi = self.lo[v], self.hi[v]
            if percentile is not None and v in self.samples:
                s = np.concatenate(self.samples[v])
                lo, hi = float(np.percentile(s, 100.0 - percentile)), float(np.percentile(s, percentile))
            out[v] = (lo, hi)
        return out


def calibrate(graph: Graph, data: CalibrationData, percentile: Optional[float] = None,
              progress: bool = True, stream=None, also=None) -> Dict[Value, Tuple[float, float]]:
    """Value -> (min, max) over the calibration data (percentile P clips to [100-P, P]).
    ``also``: another observer (``record(value, array)``, ``__call__(node, outputs)``) fed the same
    run, e.g. gptq.InputMoments."""
    if percentile is not None and not 50.0 < float(percentile) <= 100.0:
        raise UserError(f"percentile {percentile} is out of range; give a number in (50, 100], e.g. 99.99")
    count, runs = feeds(graph, data)
    if count == 0:
        raise UserError("calibration data holds no samples; give at least one")
    obs = RangeObserver(keep_samples=percentile is not None)
    interp = Interpreter(graph, observer=obs if also is None else _Both(obs, also))
    pairs = state_pairs(graph)
    bar = ProgressBar(count, "calibrating", stream, enabled=progress)
    for run in runs:
        state = {p.input: np.zeros(p.shape, graph.input_by_name(p.input).dtype.np) for p in pairs}
        for step in run:
            feed = {**step, **state}
            for v in graph.inputs:
                if v.name in feed:
                    obs.record(v, feed[v.name])
                    if also is not None:
                        also.record(v, feed[v.name])
            try:
                out = interp.run(feed)
            except Exception as e:  # the data does not fit the model: say which input
                raise UserError(f"calibration run failed: {e}; check the calibration arrays' shapes "
                                f"against the model inputs ({', '.join(f'{v.name}:{v.type}' for v in graph.inputs)})") from None
            state = {p.input: out[p.output] for p in pairs}
        bar.step()
    bar.close()
    return obs.ranges(percentile)


class _Both:
    def __init__(self, first, second):
        self.first, self.second = first, second

    def __call__(self, node, outs) -> None:
        self.first(node, outs)
        self.second(node, outs)
