"""Keras recurrent models frozen the way users freeze them (issue #13), Keras 3 and tf_keras,
both freezing forms (tests/keras_rnn_models.py): they lift, the reference interpreter
matches Keras, and the default freezing's unused variant placeholders are dropped with a note."""
from __future__ import annotations

import numpy as np
import pytest

import litesmith
from litesmith.cli import main
from litesmith.ir.interpreter import run
from litesmith.ir.notes import graph_notes

from keras_rnn_models import KERAS_RNN_FORMS, KERAS_RNN_VARIANTS, KERAS_VERSIONS

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
