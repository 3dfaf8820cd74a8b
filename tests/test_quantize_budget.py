"""The int8 accuracy budget (``max_drop``, budget.py): sensitivity per weighted layer, the smallest
choice within the budget, every trial reported; the chosen model checked in LiteRT."""
from __future__ import annotations

import numpy as np
import pytest

from litesmith.backends.quantize import quantize_graph
from litesmith.backends.tflite import write_tflite
from litesmith.ir.errors import UserError

from test_quantize_lstm import calibration, lstm_lm_step, run_steps, tokens


def top1(a, b):
    return float(np.mean(np.argmax(a, 1) == np.argmax(b, 1)))


@pytest.fixture(scope="module")
def budgets():
    """{max_drop: (quantized graph, report)} on the synthetic LSTM LM step."""
    out = {}
    for max_drop in (100.0, 0.0):
        report = {}
        g = quantize_graph(lstm_lm_step(), "int8", calibration=calibration(), report=report, progress=False,
                           max_drop=max_drop)
        out[max_drop] = (g, report)
    return out


def test_a_loose_budget_changes_nothing(budgets):
    _, report = budgets[100.0]
    budget = report["budget"]
    assert budget["choices"] == {"gates": "int8", "logits": "int8"} and budget["met"]
    assert len(budget["trials"]) == 1 and budget["drop"] == budget["int8_drop"] > 0
    assert budget["metric"] == "top-1 agreement of probs"


def test_a_tight_budget_keeps_the_sensitive_layers_float(budgets, litert_interpreter):
    g, report = budgets[0.0]
    budget = report["budget"]
    assert {s["layer"] for s in budget["sensitivity"]} == {"gates", "logits"}
    assert len(budget["trials"]) == len({(tuple(t["float_layers"]), tuple(t["hybrid_layers"])) for t in budget["trials"]})
    chosen = {k: v for k, v in budget["choices"].items() if v != "int8"}
    assert chosen and budget["drop"] < budget["int8_drop"] and budget["met"] == (budget["drop"] <= 0.0)
    assert budget["drop"] == min(t["drop"] for t in budget["trials"])  # the best set measured is kept
    # each FULLY_CONNECTED was tried hybrid alone (int8 weights, float activations: no size)
    assert {t["hybrid_layers"][0] for t in budget["trials"] if len(t["hybrid_layers"]) == 1 and not t["float_layers"]} \
        == {"gates", "logits"}
    for node in g.nodes:  # float layers read float weights; hybrid ones int8 weights and float activations
        if node.op == "tfl.fully_connected":
            how = chosen.get(node.outputs[0].name, "int8")
            assert (str(node.inputs[1].dtype) == "f32") == (how == "float"), node.name
            if how == "hybrid":
                assert str(node.inputs[0].dtype) == "f32" and node.attrs["asymmetric_quantize_inputs"], node.name
    # LiteRT: the budgeted model agrees with float at least as often as plain int8, on held-out tokens
    ids = tokens(200, 9)
    want = run_steps(litert_interpreter, write_tflite(lstm_lm_step()), ids)[0]
    plain = run_steps(litert_interpreter, write_tflite(budgets[100.0][0]), ids)[0]
    kept = run_steps(litert_interpreter, write_tflite(g), ids)[0]
    assert top1(want, kept) >= top1(want, plain), (top1(want, kept), top1(want, plain))


def test_max_drop_needs_int8():
    with pytest.raises(UserError, match="max-drop needs mode int8"):
        quantize_graph(lstm_lm_step(), "int16x8", calibration=calibration(), max_drop=1.0, progress=False)
    with pytest.raises(UserError, match="max-drop -1.0"):
        quantize_graph(lstm_lm_step(), "int8", calibration=calibration(), max_drop=-1.0, progress=False)
