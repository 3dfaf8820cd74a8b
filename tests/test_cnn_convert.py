"""End to end with TensorFlow as the oracle: frozen TF graphs -> litesmith -> .tflite -> LiteRT,
compared with TF's own outputs (tests/tf_models.py computes them while the model is live).

The Keras CNNs are built once per session (session fixtures); ResNet50 and EfficientNetB0
are marked ``slow`` (deselect with ``-m "not slow"``)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import litesmith


def _base(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def convert(model, **load_kw):
    """Load the model's .pb, compile it (default pipeline), return (flatbuffer, report)."""
    graph = litesmith.load(model.pb_path, **load_kw)
    report = {}
    blob = litesmith.compile(graph, report=report)
    return blob, report


def run_litert(litert, blob, feeds):
    """Run in LiteRT; inputs and outputs matched by tensor name (":0" ignored)."""
    interp = litert(model_content=blob)
    interp.allocate_tensors()
    feeds = {_base(k): v for k, v in feeds.items()}
    inputs = interp.get_input_details()
    assert sorted(_base(d["name"]) for d in inputs) == sorted(feeds), "the .tflite inputs are the TF placeholders"
    for d in inputs:
        interp.set_tensor(d["index"], np.asarray(feeds[_base(d["name"])], dtype=d["dtype"]))
    interp.invoke()
    outs = {_base(d["name"]): interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    ops = Counter(d["op_name"] for d in interp._get_ops_details() if d["op_name"] != "DELEGATE")
    return outs, ops


def assert_matches_tf(model, outs, tol):
    for name, want in model.expected.items():
        got = outs[_base(name)]
        assert got.shape == want.shape, f"{name}: {got.shape} vs TF {want.shape}"
        err = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
        assert err <= tol, f"{model.name} {name}: max abs err {err:.3g} > {tol}"


# -- the seed LM's hand-split single step -------------------------------------------------------------


def test_seed_lm_step_converts_and_matches_tf(seed_lm_step, litert_interpreter):
    blob, report = convert(seed_lm_step)
    outs, ops = run_litert(litert_interpreter, blob, seed_lm_step.inputs)
    assert_matches_tf(seed_lm_step, outs, 1e-5)
    assert report["legality"]["illegal"] == []
    # Two LSTM layers: one FULLY_CONNECTED each for the gates, one for the softmax projection.
    assert ops["FULLY_CONNECTED"] == 3 and ops["SOFTMAX"] == 1
    assert "WHILE" not in ops and "BATCH_MATMUL" not in ops


def test_seed_lm_step_dynamic_converts_as_is_and_with_a_shape(seed_lm_step_dynamic, litert_interpreter):
    """The seed writes ids as [None]: the unknown dim is kept (shape_signature -1) and LiteRT runs
    it at batch 1; with --input-shape it is static. Both match TF."""
    model = seed_lm_step_dynamic
    ids = model.meta["ids_name"]
    blob, _ = convert(model)
    outs, _ = run_litert(litert_interpreter, blob, model.inputs)
    assert_matches_tf(model, outs, 1e-5)
    blob, _ = convert(model, input_shapes={ids: [1]})
    outs, _ = run_litert(litert_interpreter, blob, model.inputs)
    assert_matches_tf(model, outs, 1e-5)


# -- tiny graphs ----------------------------------------------------------------------------------------


def test_small_mlp(small_graphs, litert_interpreter):
    model = small_graphs["mlp"]
    blob, _ = convert(model)
    outs, ops = run_litert(litert_interpreter, blob, model.inputs)
    assert_matches_tf(model, outs, 1e-5)
    assert ops == Counter({"FULLY_CONNECTED": 2, "TANH": 1})  # bias adds and the relu fused


def test_small_conv_bn_relu6_is_one_conv(small_graphs, litert_interpreter):
    model = small_graphs["conv_bn_relu6"]
    blob, report = convert(model)
    outs, ops = run_litert(litert_interpreter, blob, model.inputs)
    assert_matches_tf(model, outs, 1e-5)
    assert ops == Counter({"CONV_2D": 1}), report["ops_after"]


@pytest.mark.parametrize("name", ["while_sum_v1", "while_sum_v2", "cond_v1", "cond_v2"])
def test_loops_and_conditionals_are_written_as_while_and_if(small_graphs, litert_interpreter, name):
    """TF1 frames and TF2 functional ops alike: WHILE / IF with subgraphs, matching TF."""
    model = small_graphs[name]
    blob, _ = convert(model)
    outs, ops = run_litert(litert_interpreter, blob, model.inputs)
    assert_matches_tf(model, outs, 1e-6)
    assert ("WHILE" if name.startswith("while") else "IF") in ops


# -- Keras application CNNs -------------------------------------------------------------------------------

CNNS = [
    pytest.param("mobilenet_v2", id="mobilenet_v2"),
    pytest.param("resnet50", id="resnet50", marks=pytest.mark.slow),
    pytest.param("efficientnet_b0", id="efficientnet_b0", marks=pytest.mark.slow),
]


def tf_converter_ops(tf, litert, model):
    """Op counts of TF's own converter on the same frozen graph (a peer, never a pipeline step)."""
    conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        model.pb_path, model.input_names, model.output_names,
        input_shapes={n: list(v.shape) for n, v in model.inputs.items()},
    )
    interp = litert(model_content=conv.convert())
    interp.allocate_tensors()
    return Counter(d["op_name"] for d in interp._get_ops_details() if d["op_name"] != "DELEGATE")


@pytest.mark.parametrize("arch", CNNS)
def test_keras_cnn_converts_matches_tf_and_is_lean(arch, request, litert_interpreter, tf):
    model = request.getfixturevalue(f"keras_{arch}")
    blob, report = convert(model)
    outs, ours = run_litert(litert_interpreter, blob, model.inputs)
    assert_matches_tf(model, outs, 1e-4)
    assert report["fused"].get("fold-scale-mul", 0) > 0  # batch norm folded into the convs
    # As lean as TF's converter: no more ops in total, the same convolutions.
    theirs = tf_converter_ops(tf, litert_interpreter, model)
    assert sum(ours.values()) <= sum(theirs.values()), (ours, theirs)
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        assert ours[op] == theirs[op], (op, ours, theirs)
