"""ONNX's own node tests, converted by litesmith and run in LiteRT: shared by the conformance
benchmark (benchmarks/onnx_conformance.py) and the replay test (tests/test_onnx_conformance.py).

Cases come from ``onnx.backend.test.case.node``: importing one of its modules
generates that op's cases (the pooling modules take seconds: their expected
outputs come from a pure-Python reference). ``load_cases`` imports the modules
asked for and records which module made each case, so a replay imports only
what it needs. A case is *float32-only* when every graph input and output is
a float32 tensor (751 of the 1,884 cases with onnx 1.23); the If/Loop/Scan
cases whose inputs and outputs are tensors of any type are measured too
(``is_measured``), each input fed with the type the .tflite declares.

``run_case`` classifies one case:

- ``pass``: converted, and LiteRT's outputs match the expected ones within
  the case's own tolerance (rtol 1e-3, atol 1e-7 unless the case says) and
  1e-4 relative, whichever is looser;
- ``unsupported``: litesmith refused it with a clean ``UserError`` (an op or
  mode it has no mapping or TFLite lowering for);
- ``mismatch``: converted, but LiteRT refused the file or its outputs differ;
- ``crash``: any other exception: a litesmith bug.
"""
from __future__ import annotations

import importlib
import pkgutil
import warnings
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

PACKAGE = "onnx.backend.test.case.node"
FLOAT = 1
STATUSES = ("pass", "unsupported", "mismatch", "crash")


@dataclass
class Case:
    name: str
    module: str
    model: object  # onnx.ModelProto
    data_sets: list
    rtol: float
    atol: float

    @property
    def op(self) -> str:
        return self.model.graph.node[0].op_type if len(self.model.graph.node) else "?"


def node_modules() -> List[str]:
    """Every case module, subpackages (ai_onnx_ml) included, as dotted names under the package."""
    out: List[str] = []

    def walk(pkg, prefix: str) -> None:
        for _, n, ispkg in pkgutil.iter_modules(pkg.__path__):
            if ispkg:
                walk(importlib.import_module(f"{pkg.__name__}.{n}"), f"{prefix}{n}.")
            elif not n.startswith("_"):
                out.append(prefix + n)

    walk(importlib.import_module(PACKAGE), "")
    return sorted(out)


def load_cases(modules: Optional[Iterable[str]] = None) -> List[Case]:
    """The node test cases the given modules (default: all) generate, in module order."""
    pkg = importlib.import_module(PACKAGE)
    out: List[Case] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np_err = np.seterr(all="ignore")
        try:
            for m in modules if modules is not None else node_modules():
                start = len(pkg._NodeTestCases)
                importlib.import_module(f"{PACKAGE}.{m}")
                for tc in pkg._NodeTestCases[start:]:
                    out.append(Case(tc.name, m, tc.model, tc.data_sets, tc.rtol, tc.atol))
        finally:
            np.seterr(**np_err)
    return out


def is_float32_io(case: Case) -> bool:
    g = case.model.graph
    return all(v.type.HasField("tensor_type") and v.type.tensor_type.elem_type == FLOAT
               for v in list(g.input) + list(g.output))


CONTROL_FLOW_MODULES = ("if_", "loop", "scan")


def is_control_flow_case(case: Case) -> bool:
    """A case of If/Loop/Scan whose inputs and outputs are tensors of any type (a bool condition, an
    int64 trip count): run too, though not float32-only, so the control-flow forms are measured."""
    g = case.model.graph
    return case.module in CONTROL_FLOW_MODULES and all(v.type.HasField("tensor_type")
                                                       for v in list(g.input) + list(g.output))


def is_measured(case: Case) -> bool:
    return is_float32_io(case) or is_control_flow_case(case)


def _close(got: np.ndarray, want: np.ndarray, case: Case) -> Optional[str]:
    if got.shape != want.shape:
        return f"shape {list(got.shape)} vs expected {list(want.shape)}"
    rtol, atol = max(case.rtol, 1e-4), case.atol
    if np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        return None
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return f"max abs err {np.nanmax(err):.3g} (rtol {rtol:g}, atol {atol:g})"


def run_case(case: Case, litert) -> Tuple[str, str]:
    """(status, one-line detail) of converting ``case`` and running it in LiteRT."""
    import litesmith
    from litesmith.frontends.onnx import load_onnx
    from litesmith.ir.errors import UserError

    from difftest import read_output  # a zero-size output by its declared shape

    try:
        graph = load_onnx(case.model.SerializeToString())
        blob = litesmith.compile(graph)
    except UserError as e:
        return "unsupported", " ".join(str(e).split())[:300]
    except Exception as e:  # noqa: BLE001  (a bug: reported, not raised, so the table is complete)
        return "crash", f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    input_names = [v.name for v in case.model.graph.input]
    output_names = [v.name for v in case.model.graph.output]
    for inputs, expected in case.data_sets:
        try:
            interp = litert(model_content=blob)
            interp.allocate_tensors()
            details = {d["name"]: d for d in interp.get_input_details()}
            for name, x in zip(input_names, inputs):
                if name in details:
                    interp.set_tensor(details[name]["index"], np.asarray(x, dtype=details[name]["dtype"]))
            interp.invoke()
            outs = {d["name"]: read_output(interp, d) for d in interp.get_output_details()}
        except Exception as e:  # noqa: BLE001  (LiteRT refused the file: our output is wrong)
            return "mismatch", f"LiteRT: {type(e).__name__}: {' '.join(str(e).split())[:200]}"
        for name, want in zip(output_names, expected):
            if name not in outs:
                return "mismatch", f"output {name!r} missing from the .tflite"
            problem = _close(np.asarray(outs[name]), np.asarray(want), case)
            if problem:
                return "mismatch", f"{name}: {problem}"
    return "pass", ""


def summarize(results: Sequence[Tuple[Case, str, str]]) -> Dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for _, status, _ in results:
        counts[status] += 1
    return counts
