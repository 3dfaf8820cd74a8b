"""Helpers (no tests): convert a frozen TF graph with litesmith, run the .tflite in LiteRT, compare with TF.

    want = freeze_function(tf, path, fn, feeds)          # tf_models.py: library-default freezing
    got, ops = convert_and_run(litert_interpreter, path, feeds)
    assert_close(got, want, atol=1e-6)
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

import litesmith


def convert_and_run(litert, pb_path, feeds: Dict[str, np.ndarray], passes: Optional[str] = None,
                    report: Optional[dict] = None) -> Tuple[Dict[str, np.ndarray], List[str]]:
    """``litesmith.compile`` the model (``passes`` before the default pipeline), run it in LiteRT on
    ``feeds``: (outputs by name, the LiteRT op names in execution order)."""
    blob = litesmith.compile(litesmith.load(str(pb_path)), passes, report={} if report is None else report)
    interp = litert(model_content=blob)
    runner = interp.get_signature_runner("serving_default")
    got = runner(**{k: np.asarray(v) for k, v in feeds.items()})
    ops = [d["op_name"] for d in interp._get_ops_details() if d["op_name"] != "DELEGATE"]
    return {k: np.asarray(v) for k, v in got.items()}, ops


def assert_close(got: Dict[str, np.ndarray], want: Dict[str, np.ndarray], atol: float, rtol: float = 1e-5) -> float:
    """Same names, shapes and dtypes; values within tolerance. Returns the largest absolute error."""
    assert set(got) == set(want), (sorted(got), sorted(want))
    worst = 0.0
    for name, w in want.items():
        g = got[name]
        assert g.shape == w.shape and g.dtype == w.dtype, (name, g.dtype, g.shape, w.dtype, w.shape)
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, atol=atol, rtol=rtol, err_msg=name)
            finite = np.isfinite(w)
            if finite.any():
                worst = max(worst, float(np.max(np.abs(g[finite].astype(np.float64) - w[finite]))))
        else:
            np.testing.assert_array_equal(g, w, err_msg=name)
    return worst


def run_litert_resized(litert, blob, feeds: Dict[str, np.ndarray], invokes: int = 1) -> Tuple[Dict[str, np.ndarray], List[str]]:
    """Run ``blob`` in LiteRT on ``feeds`` (signature input names) after ``resize_tensor_input`` of each
    input to its feed's shape, as a user of a model with unknown dims does: (outputs by signature
    name, the op names in execution order). ``invokes`` > 1: the outputs of the last invoke on the
    same inputs (a model that keeps state from one invoke to the next differs there)."""
    interp = litert(model_content=bytes(blob))
    signature = interp._get_full_signature_list()["serving_default"]
    for name, value in feeds.items():
        interp.resize_tensor_input(signature["inputs"][name], list(np.shape(value)))
    interp.allocate_tensors()
    for name, value in feeds.items():
        interp.set_tensor(signature["inputs"][name], np.asarray(value))
    for _ in range(invokes):
        interp.invoke()
    ops = [d["op_name"] for d in interp._get_ops_details() if d["op_name"] != "DELEGATE"]
    return {name: interp.get_tensor(i).copy() for name, i in signature["outputs"].items()}, ops
