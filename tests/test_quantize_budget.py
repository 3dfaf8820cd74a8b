"""The int8 accuracy budget (``max_drop``, budget.py): sensitivity per weighted layer, the smallest
choice within the budget, every trial reported; the chosen model checked in LiteRT."""
from __future__ import annotations

import numpy as np
import pytest

from litesmith.backends.quantize import quantize_graph
from litesmith.backends.tflite import write_tflite
from litesmith.ir.errors import UserError

from test_quantize_lstm import HIDDEN, calibration, lstm_lm_step, run_steps, tokens


def top1(a, b):
    return float(np.mean(np.argmax(a, 1) == np.argmax(b, 1)))


@pytest.fixture(scope="module")
def budgets():
    """{max_drop: (quantized graph, report)} on the synthetic LSTM LM step."""
    out = {}
    for max_drop in (100.0, 0.0):
        report = {}
        g = quantize_graph(lstm_lm_step(), "int8", calibration=calibration(), report=report, progress=False,
                           max_drop=max_drop, budget_steps=300 if max_drop == 0.0 else None)
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
    # the 16 calibration sequences of 16 steps played one after another, state carried, until 300 steps
    assert budget["steps"] == 300 and budget["threaded"]
    assert len(budget["trials"]) == len({(tuple(t["float_layers"]), tuple(t["hybrid_layers"]), tuple(t["int16_layers"]))
                                         for t in budget["trials"]})
    chosen = {k: v for k, v in budget["choices"].items() if v != "int8"}
    assert chosen and budget["drop"] < budget["int8_drop"] and budget["met"] == (budget["drop"] <= 0.0)
    assert budget["drop"] == min(t["drop"] for t in budget["trials"])  # the best set measured is kept
    # each FULLY_CONNECTED was tried int16 alone (int8 weights: no size), and hybrid unless it is by default
    alone = [t for t in budget["trials"] if len(t["hybrid_layers"] + t["int16_layers"] + t["float_layers"]) == 1]
    assert {t["int16_layers"][0] for t in alone if t["int16_layers"]} == {"gates", "logits"}
    assert {t["hybrid_layers"][0] for t in alone if t["hybrid_layers"]} == {"gates"}  # logits: hybrid by default
    for node in g.nodes:  # float layers read float weights; hybrid ones int8 weights and float activations
        if node.op == "tfl.fully_connected":
            how = chosen.get(node.outputs[0].name, "int8")
            assert (str(node.inputs[1].dtype) == "f32") == (how == "float"), node.name
            if how == "hybrid":
                assert str(node.inputs[0].dtype) == "f32" and node.attrs["asymmetric_quantize_inputs"], node.name
            if how == "int16":
                assert [str(v.dtype) for v in node.inputs] == ["i16", "i8", "i64"], node.name
    # LiteRT: the budgeted model agrees with float at least as often as plain int8, on held-out tokens
    ids = tokens(200, 9)
    want = run_steps(litert_interpreter, write_tflite(lstm_lm_step()), ids)[0]
    plain = run_steps(litert_interpreter, write_tflite(budgets[100.0][0]), ids)[0]
    kept = run_steps(litert_interpreter, write_tflite(g), ids)[0]
    assert top1(want, kept) >= top1(want, plain), (top1(want, kept), top1(want, plain))


def test_budget_steps_needs_a_budget():
    with pytest.raises(UserError, match="give --max-drop too"):
        quantize_graph(lstm_lm_step(), "int8", calibration=calibration(), budget_steps=100, progress=False)
    with pytest.raises(UserError, match="budget-steps 0"):
        quantize_graph(lstm_lm_step(), "int8", calibration=calibration(), max_drop=1.0, budget_steps=0, progress=False)


def test_max_drop_needs_int8():
    with pytest.raises(UserError, match="max-drop needs mode int8"):
        quantize_graph(lstm_lm_step(), "int16x8", calibration=calibration(), max_drop=1.0, progress=False)
    with pytest.raises(UserError, match="max-drop -1.0"):
        quantize_graph(lstm_lm_step(), "int8", calibration=calibration(), max_drop=-1.0, progress=False)


def _int8_with(int16_layers):
    """The synthetic LM step quantized to int8 with ``int16_layers`` as 16x8 islands (the budget's choice)."""
    from litesmith.backends.quantize.calibrate import calibrate
    from litesmith.backends.quantize.int8 import quantize_int8
    from litesmith.passes.manager import PassManager

    g = lstm_lm_step()
    quantize_int8(g, calibrate(g, calibration(), progress=False), "float32", {}, int16_layers=int16_layers)
    PassManager.parse("dce").run(g)
    return g


def test_an_int16_layer_is_a_16x8_island_in_litert(litert_interpreter):
    """int16 FULLY_CONNECTED inside int8: QUANTIZE float -> int16, int8 weights, int64 bias, int16 out,
    DEQUANTIZE. LiteRT runs it; the gates closer to float than int8's (LiteRT's float model the
    reference), and the integer interpreter the budget measures with is nearer LiteRT than LiteRT is
    to float."""
    from litesmith.backends.quantize.kernels import QuantizedInterpreter

    island = _int8_with({"gates"})
    fc = {n.outputs[0].name: n for n in island.nodes if n.op == "tfl.fully_connected"}
    gates = next(n for name, n in fc.items() if name.startswith("gates"))
    assert [str(v.dtype) for v in gates.inputs] == ["i16", "i8", "i64"] and str(gates.outputs[0].dtype) == "i16"
    assert gates.inputs[0].producer.op == "tfl.quantize" and str(gates.inputs[0].producer.inputs[0].dtype) == "f32"
    assert [u.node.op for u in gates.outputs[0].uses()] == ["tfl.dequantize"]
    ids = tokens(200, 9)
    want, want_c = run_steps(litert_interpreter, write_tflite(lstm_lm_step()), ids)
    got, got_c = run_steps(litert_interpreter, write_tflite(island), ids)
    plain, plain_c = run_steps(litert_interpreter, write_tflite(_int8_with(set())), ids)
    assert np.abs(got - want).mean() < np.abs(plain - want).mean()
    assert np.abs(got_c - want_c).mean() < np.abs(plain_c - want_c).mean()
    qi = QuantizedInterpreter(island)
    state = {"state/0": np.zeros(HIDDEN, np.float32), "state/1": np.zeros(HIDDEN, np.float32)}
    ours = []
    for t in ids:
        out = qi.run({"token": np.array(t, np.int32), **state})
        state = {n: out[n + "_out"] for n in state}
        ours.append(np.asarray(out["probs"]).reshape(-1))
    ours = np.array(ours)
    # 0.30 measured: the interpreter's hybrid logits are approximate (docs/quantization.md)
    assert np.abs(ours - got).mean() < 0.5 * np.abs(got - want).mean()
