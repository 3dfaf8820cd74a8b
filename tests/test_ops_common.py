"""Helpers for the op tests (single-op graphs checked against TensorFlow), plus
registry-wide checks that every core op is fully declared.

    got = check_op(tf, "core.add", [x, y], {}, tf.raw_ops.AddV2(x=x, y=y))

builds a one-node graph with ``Builder`` (so inference runs), verifies it,
runs it with the reference interpreter, and compares values, dtype and the
inferred shape with TF's result. Operands wrapped in ``C(...)`` become
constants (shape-like operands), the rest are graph inputs.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pytest

from litesmith.ir import Builder, DType, Graph, TensorType, all_ops, run, verify


class C:
    """Marks an operand that becomes a ``core.const`` (so inference sees its value)."""

    def __init__(self, value, dtype=None):
        self.value = np.asarray(value, dtype=dtype)


def build_op(op: str, operands: Sequence[Any], attrs: Optional[Dict[str, Any]] = None, input_shapes=None):
    """A graph holding one ``op`` node; returns (graph, feeds, node outputs).

    ``input_shapes`` (optional, per operand) overrides the declared shape of a
    graph input, e.g. with None dims, to test inference on unknown dims."""
    g = Graph("op_test")
    b = Builder(g)
    feeds, values = {}, []
    for i, x in enumerate(operands):
        if isinstance(x, C):
            values.append(b.const(x.value))
            continue
        if isinstance(x, TensorType):  # a typed input with no data (inference-only tests)
            values.append(g.add_input(x, f"in{i}"))
            continue
        arr = np.asarray(x)
        shape = arr.shape if input_shapes is None or input_shapes[i] is None else input_shapes[i]
        values.append(g.add_input(TensorType(DType.from_numpy(arr.dtype), shape), f"in{i}"))
        feeds[f"in{i}"] = arr
    outs = b.op(op, values, attrs or {}, name="out")
    outs = outs if isinstance(outs, list) else [outs]
    g.outputs = outs
    return g, feeds, outs


def run_op(op: str, operands: Sequence[Any], attrs: Optional[Dict[str, Any]] = None):
    """Run a single-op graph; returns (list of results, list of inferred types)."""
    g, feeds, outs = build_op(op, operands, attrs)
    verify(g)
    results = run(g, feeds)
    return [results[v.name] for v in outs], [v.type for v in outs]


def _np(x) -> np.ndarray:
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def check_op(tf, op, operands, attrs, expected, rtol=1e-5, atol=1e-6) -> List[np.ndarray]:
    """Assert ``op`` on ``operands`` matches TF's ``expected`` (a tensor or list): values, dtype, inferred shape."""
    want = expected if isinstance(expected, (list, tuple)) else [expected]
    got, types = run_op(op, [_feed(x) for x in operands], attrs)
    assert len(got) == len(want), f"{op}: {len(got)} results, TF gives {len(want)}"
    for i, (g, w, t) in enumerate(zip(got, want, types)):
        w = _np(w)
        assert t.dtype is DType.from_numpy(w.dtype), f"{op} result {i}: inferred {t.dtype}, TF gives {w.dtype}"
        assert t.shape == w.shape, f"{op} result {i}: inferred shape {t.shape}, TF gives {w.shape}"
        assert g.dtype == w.dtype and g.shape == w.shape, f"{op} result {i}: got {g.dtype}{g.shape}, TF {w.dtype}{w.shape}"
        if w.dtype.kind in "fc":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{op} result {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{op} result {i}")
    return got


def _feed(x):
    return x if isinstance(x, C) else _np(x)


def infer_shape(op: str, operands: Sequence[Any], attrs: Optional[Dict[str, Any]] = None):
    """Inferred result shape(s) of ``op`` on typed inputs (``TensorType``) and constants (``C``)."""
    _, _, outs = build_op(op, operands, attrs)
    shapes = [v.shape for v in outs]
    return shapes[0] if len(shapes) == 1 else shapes


def rng(seed=0):
    return np.random.default_rng(seed)


# -- registry-wide checks -------------------------------------------------------------------

CORE_OPS = [op for op in all_ops() if op.dialect == "core"]


@pytest.mark.parametrize("opdef", CORE_OPS, ids=lambda o: o.name)
def test_every_core_op_is_fully_declared(opdef):
    assert opdef.doc, f"{opdef.name} has no doc"
    assert opdef.category != "misc", f"{opdef.name} has no category"
    assert opdef.kernel is not None or opdef.execute is not None, f"{opdef.name} has no reference kernel"


def test_contract_and_registry_agree():
    """Every op named in the contract is declared, and every declared core op is in the contract."""
    import re
    from pathlib import Path

    contract = Path(__file__).resolve().parent.parent / "docs" / "design" / "core-ops-contract.md"
    named = set(re.findall(r"core\.[a-z_0-9]+", contract.read_text()))
    declared = {op.name for op in CORE_OPS}
    assert named - declared == set()
    assert declared - named == set()


def test_importing_the_registry_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, litesmith.ir as ir; ir.all_ops(); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
