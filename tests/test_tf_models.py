"""The TF model zoo (tests/tf_models.py) is itself tested: every fixture builds, holds the op
types its consumers rely on, and its frozen .pb re-run in a fresh TF graph reproduces the
``expected`` outputs TF computed on the live (unfrozen) model."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from tf_models import (
    RNN_VARIANTS,
    SEED_LM_SIZES,
    graphdef_op_types,
    load_graphdef,
    run_tf_graphdef,
)

SINGLE_FIXTURES = [
    "seed_lm_v1",
    "seed_lm_v2",
    "seed_lm_step",
    "seed_lm_step_dynamic",
    "keras_lstm_v2",
    "keras_gru_v2",
]
CNN_FIXTURES = [
    "keras_mobilenet_v2",
    pytest.param("keras_resnet50", marks=pytest.mark.slow),
    pytest.param("keras_efficientnet_b0", marks=pytest.mark.slow),
]
DICT_FIXTURES = ["rnn_cells_v1", "rnn_cells_v2", "small_graphs"]
V1_LOOP_OPS = {"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond"}
VARIABLE_OPS = {"VarHandleOp", "ReadVariableOp", "VariableV2", "Variable", "AssignVariableOp"}


def models_of(request, fixture_name):
    value = request.getfixturevalue(fixture_name)
    return list(value.values()) if isinstance(value, dict) else [value]


def op_types(tf, model):
    return graphdef_op_types(load_graphdef(tf, model.pb_path))


def assert_reproduces(tf, model):
    got = run_tf_graphdef(tf, model.pb_path, model.inputs, model.output_names)
    for name in model.output_names:
        np.testing.assert_allclose(
            got[name], model.expected[name], rtol=1e-5, atol=1e-6, err_msg=f"{model.name}:{name}"
        )


# -- every model: well formed, frozen, reproduces TF ---------------------------------------------


@pytest.mark.parametrize("fixture_name", SINGLE_FIXTURES + DICT_FIXTURES + CNN_FIXTURES)
def test_frozen_graph_reproduces_tf(tf, request, fixture_name):
    for model in models_of(request, fixture_name):
        assert os.path.getsize(model.pb_path) > 0
        assert model.input_names == list(model.inputs)
        assert sorted(model.expected) == sorted(model.output_names)
        assert all(":" not in n for n in model.output_names)
        assert model.meta["build_seconds"] >= 0
        ops = op_types(tf, model)
        assert not ops & VARIABLE_OPS, f"{model.name} still holds variables: {ops & VARIABLE_OPS}"
        assert all(np.isfinite(v).all() for v in model.expected.values())
        assert_reproduces(tf, model)


@pytest.mark.parametrize("fixture_name", SINGLE_FIXTURES + DICT_FIXTURES)
def test_pbtxt_matches_pb(tf, request, fixture_name):
    for model in models_of(request, fixture_name):
        assert model.pbtxt_path is not None
        assert load_graphdef(tf, model.pbtxt_path) == load_graphdef(tf, model.pb_path)


# -- control-flow forms ---------------------------------------------------------------------------


def assert_v1_loop(tf, model, tensor_array=True):
    ops = op_types(tf, model)
    assert model.control_flow == "v1"
    assert V1_LOOP_OPS <= ops, f"{model.name} lacks {V1_LOOP_OPS - ops}"
    if tensor_array:
        assert "TensorArrayV3" in ops
    assert not ops & {"While", "StatelessWhile"}


def assert_v2_loop(tf, model):
    graph_def = load_graphdef(tf, model.pb_path)
    ops = graphdef_op_types(graph_def)
    assert model.control_flow == "v2"
    assert {node.op for node in graph_def.node} & {"While", "StatelessWhile"}, model.name
    assert len(graph_def.library.function) >= 2, "expected cond and body functions"
    assert not ops & (V1_LOOP_OPS | {"TensorArrayV3"}), f"{model.name} has v1 ops {ops & V1_LOOP_OPS}"


def test_v1_forms_have_tf1_control_flow(tf, seed_lm_v1, rnn_cells_v1, small_graphs):
    for model in [seed_lm_v1, *rnn_cells_v1.values()]:
        assert_v1_loop(tf, model)
    assert_v1_loop(tf, small_graphs["while_sum_v1"], tensor_array=False)
    cond_ops = op_types(tf, small_graphs["cond_v1"])
    assert {"Switch", "Merge"} <= cond_ops and not cond_ops & {"If", "StatelessIf"}


def test_v2_forms_have_function_library_control_flow(
    tf, seed_lm_v2, rnn_cells_v2, small_graphs, keras_lstm_v2, keras_gru_v2
):
    for model in [seed_lm_v2, *rnn_cells_v2.values(), small_graphs["while_sum_v2"], keras_lstm_v2, keras_gru_v2]:
        assert_v2_loop(tf, model)
    for model in [seed_lm_v2, *rnn_cells_v2.values(), keras_lstm_v2]:
        assert "TensorListReserve" in op_types(tf, model)
    graph_def = load_graphdef(tf, small_graphs["cond_v2"].pb_path)
    assert {node.op for node in graph_def.node} & {"If", "StatelessIf"}
    assert not graphdef_op_types(graph_def) & {"Switch", "Merge"}


def test_building_restores_the_control_flow_flag(tf, seed_lm_v1, small_graphs):
    from tensorflow.python.ops import control_flow_util

    assert control_flow_util.ENABLE_CONTROL_FLOW_V2 is True  # TF2's default, as before the zoo


def test_graphs_without_control_flow_have_none(tf, seed_lm_step, small_graphs):
    for model in [seed_lm_step, small_graphs["mlp"], small_graphs["conv_bn_relu6"]]:
        assert model.control_flow is None
        assert not op_types(tf, model) & (V1_LOOP_OPS | {"While", "StatelessWhile", "If", "StatelessIf"})


# -- op types consumers rely on ---------------------------------------------------------------------


def test_seed_lm_op_types(tf, seed_lm):
    ops = op_types(tf, seed_lm)
    assert {"Placeholder", "GatherV2", "MatMul", "Reshape", "Softmax", "Sigmoid", "Tanh"} <= ops
    assert seed_lm.inputs["inputids"].shape == (SEED_LM_SIZES["batch"], SEED_LM_SIZES["seq_len"])
    assert seed_lm.output_names == ["probs"]


def test_rnn_cell_variants(tf, rnn_cells):
    assert sorted(rnn_cells) == sorted(RNN_VARIANTS)
    gru_ops = op_types(tf, rnn_cells["gru"])
    assert {"Sigmoid", "Tanh", "MatMul"} <= gru_ops
    assert rnn_cells["time_major"].expected["output"].shape[:2] == (4, 2)
    assert rnn_cells["lstm_peephole_proj"].expected["output"].shape[-1] == 3
    assert rnn_cells["final_state"].output_names == ["output", "final_c", "final_h"]
    # dynamic_rnn's final h is the last valid output; past sequence_length outputs are zero.
    final = rnn_cells["final_state"].expected
    np.testing.assert_allclose(final["final_h"], final["output"][:, -1])
    seq = rnn_cells["sequence_length"]
    assert not seq.expected["output"][1, 2:].any() and seq.expected["output"][1, :2].any()


def test_keras_cnn_op_types(tf, keras_cnns):
    ops = op_types(tf, keras_cnns)
    assert {"Conv2D", "FusedBatchNormV3", "MatMul", "Softmax"} <= ops
    arch = keras_cnns.meta["arch"]
    assert ("DepthwiseConv2dNative" in ops) == (arch != "resnet50")
    assert {"mobilenet_v2": "Relu6", "resnet50": "Relu", "efficientnet_b0": "Sigmoid"}[arch] in ops
    size = keras_cnns.meta["input_size"]
    assert keras_cnns.inputs["images"].shape == (1, size, size, 3)
    aliases = keras_cnns.meta["output_aliases"]
    logits, probs = (keras_cnns.expected[aliases[k]] for k in ("logits", "probs"))
    e = np.exp(logits - logits.max())
    np.testing.assert_allclose(probs, e / e.sum(), rtol=1e-5, atol=1e-7)


def test_small_graph_op_types(tf, small_graphs):
    assert {"MatMul", "Relu", "Tanh"} <= op_types(tf, small_graphs["mlp"])
    assert {"Conv2D", "BiasAdd", "FusedBatchNormV3", "Relu6"} <= op_types(tf, small_graphs["conv_bn_relu6"])


# -- semantics against independent formulas -----------------------------------------------------------


@pytest.mark.parametrize("form", ["v1", "v2"])
def test_cond_takes_both_branches(tf, small_graphs, form):
    model = small_graphs[f"cond_{form}"]
    x = model.inputs["x"]
    for pred, want in ((True, 2 * x + 1), (False, x * x - 1)):
        got = run_tf_graphdef(tf, model.pb_path, {"x": x, "pred": np.array(pred)}, ["y"])["y"]
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("form", ["v1", "v2"])
def test_while_sum_runs_n_iterations(tf, small_graphs, form):
    model = small_graphs[f"while_sum_{form}"]
    x = model.inputs["x"]
    for n in (0, 1, 4, 7):
        got = run_tf_graphdef(tf, model.pb_path, {"x": x, "n": np.array(n, np.int32)}, ["total"])["total"]
        np.testing.assert_allclose(got, x * sum(range(n)), rtol=1e-6)


def test_seed_lm_forms_share_weights_and_results(seed_lm_v1, seed_lm_v2):
    v1, v2 = seed_lm_v1.meta["variables"], seed_lm_v2.meta["variables"]
    assert sorted(v1) == sorted(v2)
    for name in v1:
        np.testing.assert_array_equal(v1[name], v2[name])
    np.testing.assert_array_equal(seed_lm_v1.inputs["inputids"], seed_lm_v2.inputs["inputids"])
    np.testing.assert_allclose(seed_lm_v1.expected["probs"], seed_lm_v2.expected["probs"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("step_fixture", ["seed_lm_step", "seed_lm_step_dynamic"])
def test_seed_lm_step_threaded_equals_full_sequence(tf, request, seed_lm_v1, step_fixture):
    """The oracle for single-step work: the hand-split step graph, threaded from zero state,
    gives the full dynamic_rnn model's per-step softmax (probs rows are b * T + t)."""
    step = request.getfixturevalue(step_fixture)
    hid, seq_len = SEED_LM_SIZES["hid"], SEED_LM_SIZES["seq_len"]
    ids = seed_lm_v1.inputs["inputids"]
    full_probs = seed_lm_v1.expected["probs"]
    np.testing.assert_array_equal(step.meta["variables"]["embedding"], seed_lm_v1.meta["variables"]["embedding"])
    new_state_names = [name for pair in step.meta["new_state_names"] for name in pair]
    for row in (0, ids.shape[0] - 1):
        state = {name: np.zeros((1, hid), np.float32) for pair in step.meta["state_names"] for name in pair}
        for t in range(seq_len):
            feeds = {step.meta["ids_name"]: ids[row, t : t + 1], **state}
            out = run_tf_graphdef(tf, step.pb_path, feeds, [step.meta["probs_name"], *new_state_names])
            np.testing.assert_allclose(
                out[step.meta["probs_name"]][0], full_probs[row * seq_len + t], rtol=1e-5, atol=1e-6,
                err_msg=f"row {row} step {t}",
            )
            state = {
                old: out[new]
                for old_pair, new_pair in zip(step.meta["state_names"], step.meta["new_state_names"])
                for old, new in zip(old_pair, new_pair)
            }


def test_seed_lm_step_shapes(tf, seed_lm_step, seed_lm_step_dynamic):
    def placeholder_dims(model, name):
        node = next(n for n in load_graphdef(tf, model.pb_path).node if n.name == name)
        return [d.size for d in node.attr["shape"].shape.dim]

    assert placeholder_dims(seed_lm_step, "prod_inputids") == [1]
    assert placeholder_dims(seed_lm_step_dynamic, "dyn_prod_inputids") == [-1]
    assert placeholder_dims(seed_lm_step, "state_0_c") == [1, SEED_LM_SIZES["hid"]]


# -- hygiene -----------------------------------------------------------------------------------------


def test_importing_the_zoo_does_not_import_tensorflow():
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    code = f"import sys; sys.path.insert(0, {tests_dir!r}); import tf_models; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
