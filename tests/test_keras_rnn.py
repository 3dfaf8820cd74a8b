"""Keras recurrent models frozen the way users freeze them (issue #13), Keras 3 and tf_keras,
both freezing forms (tests/keras_rnn_models.py): they lift, the reference interpreter
matches Keras, the default freezing's unused variant placeholders are dropped with a note;
strip-batch,unroll-rnn,fold-constants gives a batch-free single-step model with state I/O that
matches Keras on the growing prefix at every step in LiteRT; go_backwards / Bidirectional are
refused in one line naming the layer; with no passes every model with a loop converts as a WHILE
model that matches TF at batch 1 and 3 and sequence lengths 1, 5 and 17 (issue #14)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import litesmith
from litesmith.cli import main
from litesmith.ir.interpreter import run
from litesmith.ir.notes import graph_notes

from keras_rnn_models import KERAS_RNN_FORMS, KERAS_RNN_REFUSED, KERAS_RNN_VARIANTS, KERAS_VERSIONS

MATRIX = [(k, v, f) for k in KERAS_VERSIONS for v in KERAS_RNN_VARIANTS for f in KERAS_RNN_FORMS]


def _model(request, version, variant, form):
    return request.getfixturevalue(f"keras_rnn_models_{version}")[(variant, form)]


@pytest.mark.parametrize("version,variant,form", MATRIX, ids=["-".join(c) for c in MATRIX])
def test_lifts_and_interpreter_matches_keras(request, version, variant, form):
    model = _model(request, version, variant, form)
    graph = litesmith.load(model.pb_path)
    assert [v.name for v in graph.inputs] == ["ids"]
    assert [v.name for v in graph.outputs] == model.output_names
    got = run(graph, model.inputs)
    for name in model.output_names:
        np.testing.assert_allclose(got[name], model.expected[name], atol=1e-5, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("version", KERAS_VERSIONS)
def test_default_freezing_unused_variant_placeholders_dropped_with_a_note(request, version, capsys):
    model = _model(request, version, "lstm", "default")
    notes = graph_notes(litesmith.load(model.pb_path))
    assert len(notes) == 1 and "unused_control_flow_input" in notes[0], notes
    assert main(["inspect", model.pb_path]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"litesmith: note: {model.pb_path}: dropped ") and "placeholder" in err[0]


def test_unused_plain_placeholder_dropped_with_a_note(tmp_path, capsys):
    """Not only variants: any placeholder nothing reads is dropped (a named one is kept)."""
    from litesmith.frontends.tf import proto

    gd = proto.GraphDef()
    for name in ("x", "spare"):
        n = gd.node.add(name=name, op="Placeholder")
        n.attr["dtype"].type = 1  # DT_FLOAT
        n.attr["shape"].shape.dim.add(size=3)
    gd.node.add(name="y", op="Relu", input=["x"]).attr["T"].type = 1
    path = tmp_path / "spare.pb"
    path.write_bytes(gd.SerializeToString())
    graph = litesmith.load(str(path))
    assert [v.name for v in graph.inputs] == ["x"]
    assert graph_notes(graph) == ["dropped 1 placeholder(s) that nothing reads: spare"]
    assert [v.name for v in litesmith.load(str(path), inputs=["x", "spare"]).inputs] == ["x", "spare"]
    assert main(["convert", str(path), "-o", str(tmp_path / "spare.tflite")]) == 0
    assert capsys.readouterr().err.strip() == f"litesmith: note: {path}: dropped 1 placeholder(s) that nothing reads: spare"


# -- single-step models: strip-batch,unroll-rnn,fold-constants, every step in LiteRT ----------------

PASSES = "strip-batch,unroll-rnn,fold-constants"
STEPPED = MATRIX  # unroll=True too: step-unrolled-rnn keeps one of the cells Keras wrote out
STATE_SHAPES = {"lstm": [[6], [6]], "gru": [[6]], "stacked_gru": [[6], [4]], "time_distributed": [[6], [4]],
                "last_state": [[6], [6]],
                "masked_simple_rnn": [[6], [6]],  # masking also carries the last output
                "unroll": [[6], [4], [4], [6]]}


def _compile(model, passes, tmp_path):
    from litesmith.backends.tflite import read_tflite

    path = tmp_path / f"{model.name}.tflite"
    path.write_bytes(bytes(litesmith.compile(litesmith.load(model.pb_path), passes)))
    return str(path), json.loads(read_tflite(str(path)).meta.get("litesmith.state", "[]"))


def _litert(litert_interpreter, path):
    it = litert_interpreter(model_path=path)
    it.allocate_tensors()
    return it, {d["name"]: d for d in it.get_input_details() + it.get_output_details()}


def _steps_worst_error(it, details, model, pairs, pinned=False):
    """Feed each row one id at a time from zero state; compare every output with Keras on the prefix."""
    ids = model.inputs["ids"]
    worst = 0.0
    for b in range(ids.shape[0]):
        state = {p["input"]: np.zeros(p["shape"], np.float32) for p in pairs}
        for t in range(ids.shape[1]):
            it.set_tensor(details["ids"]["index"], ids[b, t].reshape(details["ids"]["shape"]))
            for name, value in state.items():
                it.set_tensor(details[name]["index"], value)
            it.invoke()
            for name, want in zip(model.output_names, model.meta["prefix"][t]):
                seq = want.ndim == 3  # a sequence output keeps a time axis of one step
                want = want[b, -1] if seq else want[b]  # the last step of the prefix's sequence
                got = it.get_tensor(details[name]["index"])
                assert got.shape == (1,) * (pinned + seq) + want.shape, (name, got.shape)
                got = got.reshape(want.shape)
                np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5, err_msg=f"{name} row {b} step {t}")
                worst = max(worst, float(np.max(np.abs(got - want))))
            state = {p["input"]: it.get_tensor(details[p["output"]]["index"]).copy() for p in pairs}
    return worst


@pytest.mark.parametrize("version,variant,form", STEPPED, ids=["-".join(c) for c in STEPPED])
def test_single_step_model_matches_keras_every_step(request, version, variant, form, tmp_path, litert_interpreter):
    model = _model(request, version, variant, form)
    path, pairs = _compile(model, PASSES, tmp_path)
    assert [p["shape"] for p in pairs] == STATE_SHAPES[variant]
    it, details = _litert(litert_interpreter, path)
    assert list(details["ids"]["shape"]) == []  # one token, no batch
    ops = {d["op_name"] for d in it._get_ops_details()}
    assert not ops & {"WHILE", "SHAPE", "FILL", "RANGE"}, ops
    _steps_worst_error(it, details, model, pairs)


@pytest.mark.parametrize("form", KERAS_RNN_FORMS)
def test_stacked_gru_pinned_batch_single_step(request, form, tmp_path, litert_interpreter):
    """strip-batch{mode=pin}: the second layer's zero state is shaped from the first's output."""
    model = _model(request, "keras3", "stacked_gru", form)
    path, pairs = _compile(model, "strip-batch{mode=pin},unroll-rnn,fold-constants", tmp_path)
    assert [p["shape"] for p in pairs] == [[1, 6], [1, 4]]
    it, details = _litert(litert_interpreter, path)
    _steps_worst_error(it, details, model, pairs, pinned=True)


# -- what cannot be single-stepped: one line naming the layer ------------------------------------------

REFUSED = [(k, v, f) for k in KERAS_VERSIONS for v in KERAS_RNN_REFUSED for f in KERAS_RNN_FORMS]


@pytest.mark.parametrize("version,variant,form", REFUSED, ids=["-".join(c) for c in REFUSED])
def test_backwards_layers_refused_naming_the_layer(request, version, variant, form, tmp_path, capsys):
    model = _model(request, version, variant, form)
    got = run(litesmith.load(model.pb_path), model.inputs)  # it lifts and runs as a whole sequence
    for name in model.output_names:
        np.testing.assert_allclose(got[name], model.expected[name], atol=1e-5, rtol=1e-5)
    code = main(["convert", model.pb_path, "-o", str(tmp_path / "x.tflite"), "--passes", PASSES])
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("litesmith: note:")]
    assert code == 2 and len(errors) == 1, errors
    (layer,) = model.meta["rnn_layers"]
    assert "unroll-rnn: layer '" in errors[0] and layer in errors[0] and "backwards" in errors[0], errors[0]
    assert ("backward" in errors[0].split("'")[1]) == (variant == "bidirectional")
    assert not (tmp_path / "x.tflite").exists()


# -- whole-sequence models with no passes: any length and batch (issue #14) ---------------------------

# Keras reserves its output lists with elements of unknown shape (the batch is dynamic):
# lower-tensor-lists refines them from what the loop body writes, and the first write gives the
# list its batch at run time. Every recurrent variant with a loop, backwards ones included.
# The LSTMs (both directions) become UNIDIRECTIONAL_SEQUENCE_LSTM (fuse-lstm-loops), the rest WHILE.
WHOLE = [(k, v, f) for k, v, f in MATRIX + REFUSED if v != "unroll"]
FUSED_LSTM = ("lstm", "go_backwards", "bidirectional")
# batch 1 and 3, lengths 1, 5 and 17; (3, 1) is also the Keras 3 TimeDistributed bug case below
SIZES = [(3, 1), (1, 5), (3, 17)]


def _run_frozen(tf, pb_path, output_names, feeds):
    """TensorFlow running the frozen graph itself on each ids array: the oracle at any shape."""
    gd = tf.compat.v1.GraphDef()
    with open(pb_path, "rb") as f:
        gd.ParseFromString(f.read())
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(gd, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            fetches = [f"{n}:0" for n in output_names]
            return [dict(zip(output_names, sess.run(fetches, {"ids:0": ids}))) for ids in feeds]


@pytest.mark.parametrize("version,variant,form", WHOLE, ids=["-".join(c) for c in WHOLE])
def test_whole_sequence_model_converts_as_is_at_any_length(request, tf, version, variant, form, litert_interpreter):
    """No passes: an LSTM loop becomes UNIDIRECTIONAL_SEQUENCE_LSTM, any other loop stays a WHILE,
    batch and time stay -1, and LiteRT resized to batch 1 and 3 and sequence lengths 1, 5 and 17
    (three of their pairs) matches TensorFlow running the same frozen graph."""
    from litesmith.backends.tflite import read_tflite

    from tf_litert import run_litert_resized

    model = _model(request, version, variant, form)
    blob = litesmith.compile(litesmith.load(model.pb_path))
    (ids_in,) = read_tflite(bytes(blob)).inputs
    assert ids_in.shape == (None, None), ids_in.type  # -1, -1 in shape_signature
    rng = np.random.default_rng(3)
    feeds = [rng.integers(0, 20, size=size).astype(np.int32) for size in SIZES]
    if (version, variant) == ("keras3", "time_distributed"):
        # Keras 3's TimeDistributed traced with a dynamic time axis steps over the batch size
        # (keras_rnn_models.py): TF's own graph slices past the time axis when batch > length.
        bad = [ids for ids in feeds if ids.shape[0] > ids.shape[1]]
        assert bad
        for ids in bad:
            with pytest.raises(tf.errors.InvalidArgumentError, match="out of bounds"):
                _run_frozen(tf, model.pb_path, model.output_names, [ids])
        feeds = [ids for ids in feeds if ids.shape[0] <= ids.shape[1]]
    for ids, want in zip(feeds, _run_frozen(tf, model.pb_path, model.output_names, feeds)):
        got, ops = run_litert_resized(litert_interpreter, blob, {"ids": ids}, invokes=2)  # no state kept
        if variant in FUSED_LSTM:
            assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops and "WHILE" not in ops, ops
        else:
            assert "WHILE" in ops and "UNIDIRECTIONAL_SEQUENCE_LSTM" not in ops, ops
        for name in model.output_names:
            assert got[name].shape == want[name].shape, (name, ids.shape)
            np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=1e-5, err_msg=f"{name} ids {ids.shape}")
