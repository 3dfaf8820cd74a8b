"""The seed's hidden default argument: an axis computed at run time from the input's rank
(``rank - 1`` through Shape/Size/Sub). fold-constants folds the arithmetic, re-lifts the ops
that needed a constant axis, and the model lowers with no SHAPE op; TF is the oracle."""
import numpy as np
import pytest

import litesmith
from litesmith.backends.tflite import read_tflite


@pytest.fixture(scope="module")
def computed_axis_model(tf, tmp_path_factory):
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [8, 5, 7], name="x")
        last = tf.size(tf.shape(x)) - 1  # what `softmax(logits)` without axis once computed at run time
        y = tf.nn.softmax(x, axis=last - 1)  # a non-last tensor axis: TF swaps axes with Shape/Range ops
        tf.identity(tf.reduce_max(y, axis=last) + tf.concat([y, y], axis=last)[..., 0], name="out")
    feeds = {"x": np.random.default_rng(0).normal(size=(8, 5, 7)).astype(np.float32)}
    with tf.compat.v1.Session(graph=g) as sess:
        want = sess.run("out:0", {"x:0": feeds["x"]})
    path = tmp_path_factory.mktemp("hidden_axis") / "m.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    return str(path), feeds, want


def test_computed_axis_folds_and_relifts(computed_axis_model):
    path, feeds, want = computed_axis_model
    graph = litesmith.load(path)
    before = {n.op for n in graph.walk()}
    # the run-time axis arithmetic is there, and the ops whose axis it feeds could not be lifted
    assert {"core.sub", "core.range", "tf.Max", "tf.ConcatV2"} <= before
    litesmith.optimize(graph, "fold-constants,dce")
    ops = {n.op for n in graph.walk()}
    assert not {"core.shape", "core.size", "core.rank", "core.sub", "core.range"} & ops
    assert not [op for op in ops if op.startswith("tf.")]  # ops that needed a constant axis were re-lifted
    np.testing.assert_allclose(litesmith.ir.run(graph, feeds)["out"], want, atol=1e-6)


def test_computed_axis_model_lowers_without_shape_ops(computed_axis_model, litert_interpreter):
    path, feeds, want = computed_axis_model
    blob = litesmith.compile(litesmith.load(path))
    assert not {"tfl.shape", "tfl.size", "tfl.rank"} & {n.op for n in read_tflite(blob)}
    it = litert_interpreter(model_content=blob)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], feeds["x"])
    it.invoke()
    np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), want, atol=1e-6)
