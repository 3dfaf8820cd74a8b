"""The TF model zoo (tests/tf_models.py) lifted and run by the reference interpreter,
compared with TensorFlow's own outputs recorded when each model was built."""
from __future__ import annotations

import numpy as np
import pytest
from litesmith.frontends.tf import load_graphdef
from litesmith.ir import run, verify


def _check(model, atol=1e-5, path=None):
    graph = load_graphdef(path or model.pb_path, inputs=model.input_names, outputs=model.output_names)
    verify(graph)
    got = run(graph, model.inputs)
    for name in model.output_names:
        want = np.asarray(model.expected[name])
        assert got[name].shape == want.shape, name
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got[name], want, atol=atol, rtol=1e-4, err_msg=f"{model.name}: {name}")
        else:
            np.testing.assert_array_equal(got[name], want, err_msg=f"{model.name}: {name}")
    foreign = sorted({n.op for n in graph.walk() if not n.op.startswith("core.")})
    assert foreign == [], f"{model.name}: foreign ops {foreign}"
    return graph


def test_small_graphs(small_graphs):
    for model in small_graphs.values():
        _check(model)
        if model.pbtxt_path:
            _check(model, path=model.pbtxt_path)


def test_seed_lm(seed_lm):
    g = _check(seed_lm)
    assert any(n.op == "core.while" for n in g.walk())


def test_rnn_cells(rnn_cells):
    for model in rnn_cells.values():
        _check(model)


@pytest.mark.parametrize("kind", ["keras_lstm_v2", "keras_gru_v2"])
def test_keras_rnn(request, kind):
    _check(request.getfixturevalue(kind))


def test_keras_cnns(keras_cnns):
    _check(keras_cnns, atol=1e-4)
