"""compose-ops: each rewrite matches TensorFlow, in the reference interpreter and in LiteRT."""
from __future__ import annotations

import numpy as np
import pytest

from litesmith.backends.tflite import compile_to_tflite
from litesmith.frontends.tf import load_graphdef
from litesmith.ir import UserError, run
from litesmith.passes import run_pipeline

OUTPUTS = ["cp", "cp_excl", "cp_rev", "cp_both", "ei", "erfc_w", "erf_w", "det1", "det2", "det3", "det4", "det_batch", "tiled", "ranged"]


@pytest.fixture(scope="session")
def compose_model(tf, tmp_path_factory):
    """A frozen graph using every composed op; TF's own results on feeds with zeros and negatives."""
    rng = np.random.default_rng(7)
    g = tf.Graph()
    with g.as_default():
        u = tf.compat.v1.placeholder(tf.float32, [3, 7], name="u")
        x = tf.compat.v1.placeholder(tf.float32, [3, 7], name="x")
        w = tf.compat.v1.placeholder(tf.float32, [4, 50], name="w")
        mats = {n: tf.compat.v1.placeholder(tf.float32, [n, n], name=f"m{n}") for n in (1, 2, 3, 4)}
        mb = tf.compat.v1.placeholder(tf.float32, [2, 3, 4, 4], name="mb")
        tf.identity(tf.math.cumprod(x, axis=1), name="cp")
        tf.identity(tf.math.cumprod(x, axis=1, exclusive=True), name="cp_excl")
        tf.identity(tf.math.cumprod(x, axis=0, reverse=True), name="cp_rev")
        tf.identity(tf.math.cumprod(x, axis=-1, exclusive=True, reverse=True), name="cp_both")
        tf.identity(tf.math.erfinv(u), name="ei")
        tf.identity(tf.math.erfc(w), name="erfc_w")
        tf.identity(tf.math.erf(w), name="erf_w")
        for n, m in mats.items():
            tf.identity(tf.linalg.det(m), name=f"det{n}")
        tf.identity(tf.linalg.det(mb), name="det_batch")
        tf.identity(tf.tile(x, [2, 3]), name="tiled")
        tf.identity(tf.range(2, 20, 3, dtype=tf.int32) * 1, name="ranged")
    xv = rng.normal(size=(3, 7)).astype(np.float32)
    xv[1, 3] = 0.0  # a zero in the middle: log/exp compositions would break here
    uv = rng.uniform(-0.999, 0.999, size=(3, 7)).astype(np.float32)
    uv[0, :3] = [0.0, 0.999, -0.999]
    wv = np.concatenate([np.linspace(-10, 10, 101), np.linspace(-1, 1, 99)]).astype(np.float32).reshape(4, 50)
    feeds = {"u": uv, "x": xv, "w": wv, "mb": rng.normal(size=(2, 3, 4, 4)).astype(np.float32)}
    feeds.update({f"m{n}": rng.normal(size=(n, n)).astype(np.float32) for n in (1, 2, 3, 4)})
    with tf.compat.v1.Session(graph=g) as sess:
        got = sess.run([o + ":0" for o in OUTPUTS], {k + ":0": v for k, v in feeds.items()})
    path = tmp_path_factory.mktemp("compose") / "compose.pb"
    path.write_bytes(g.as_graph_def(add_shapes=True).SerializeToString())
    return str(path), feeds, dict(zip(OUTPUTS, got))


def _lift(model):
    return load_graphdef(model[0], outputs=OUTPUTS)


def _check(name, got, want):
    if name == "ei":  # Giles' approximation: documented bound
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=name)
    elif name in ("erfc_w", "erf_w"):  # Numerical Recipes' erfcc (+ a Taylor series): documented bounds
        np.testing.assert_allclose(got, want, rtol=1e-5 if name == "erfc_w" else 5e-7, atol=5e-7, err_msg=name)
    elif name.startswith("det"):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, err_msg=name)


@pytest.fixture(scope="session")
def composed(compose_model):
    graph = _lift(compose_model)
    report = run_pipeline(graph, "compose-ops,compose-ops{ops=[Tile,Range]}", verify_each=True)
    return graph, report


def test_composed_graph_has_only_lowerable_core_ops(composed):
    graph, report = composed
    ops = {n.op for n in graph.walk()}
    assert not {o for o in ops if o.startswith("tf.")}, ops
    assert not ops & {"core.cumprod", "core.tile", "core.range"}
    assert report.passes[0].report["composed"] == {"Cumprod": 4, "Erfinv": 1, "Erfc": 1, "Erf": 1, "MatrixDeterminant": 5}
    assert report.passes[1].report["composed"] == {"Tile": 1, "Range": 1}


def test_composed_graph_matches_tensorflow_in_interpreter(composed, compose_model):
    graph, _ = composed
    _, feeds, expected = compose_model
    got = run(graph, feeds)
    for name in OUTPUTS:
        _check(name, got[name], expected[name])


def test_composed_graph_matches_tensorflow_in_litert(compose_model, litert_interpreter, tmp_path):
    graph = _lift(compose_model)
    run_pipeline(graph, "compose-ops,compose-ops{ops=[Tile,Range]}")
    path = tmp_path / "composed.tflite"
    path.write_bytes(compile_to_tflite(graph))
    _, feeds, expected = compose_model
    it = litert_interpreter(model_path=str(path))
    it.allocate_tensors()
    runner = it.get_signature_runner()
    got = runner(**feeds)
    for name in OUTPUTS:
        _check(name, got[name], expected[name])


def test_erfinv_poles_are_infinite(compose_model, tf):
    graph = _lift(compose_model)
    run_pipeline(graph, "compose-ops")
    feeds = dict(compose_model[1])
    feeds["u"] = np.zeros((3, 7), np.float32)
    feeds["u"][0, :2] = [1.0, -1.0]
    got = run(graph, feeds)["ei"][0, :2]
    want = tf.math.erfinv(tf.constant([1.0, -1.0])).numpy()
    np.testing.assert_array_equal(got, want)


def test_tile_and_range_are_opt_in(compose_model):
    graph = _lift(compose_model)
    run_pipeline(graph, "compose-ops")
    ops = {n.op for n in graph.walk()}
    assert {"core.tile", "core.range"} <= ops


def test_unknown_rule_is_a_user_error(compose_model):
    graph = _lift(compose_model)
    with pytest.raises(UserError, match="no rewrite for Nope"):
        run_pipeline(graph, "compose-ops{ops=[Nope]}")


def test_dynamic_shape_is_left_alone_with_a_reason():
    from litesmith.ir import DType, Graph, Node, TensorType
    from litesmith.passes import run_pipeline as rp

    g = Graph()
    x = g.add_input(TensorType(DType.FLOAT32, (None, 3, 3)), "x")
    det = g.append(Node("tf.MatrixDeterminant", [x], {"T": DType.FLOAT32}, [TensorType(DType.FLOAT32, (None,))], output_names=["d"]))
    g.outputs = [det.outputs[0]]
    report = rp(g, "compose-ops")
    assert [n.op for n in g] == ["tf.MatrixDeterminant"]
    assert any("static shape" in s for s in report.passes[0].report["skipped"])


def test_erfc_and_erf_compose_to_lowerable_ops_within_their_bounds():
    """IR text in: compose-ops leaves only ops with TFLite lowerings, and the documented error bounds
    hold against the exact function (math.erfc / math.erf in float64) over [-9, 9]."""
    import math

    from litesmith.backends.tflite.lower import LOWERINGS, _load_lowerings
    from litesmith.ir.text import parse_ir

    g = parse_ir("""
        graph @main(%x: f32[181]) {
          %c = core.erfc(%x) : f32[181]
          %e = core.erf(%x) : f32[181]
          return %c, %e
        }
        """)
    report = run_pipeline(g, "compose-ops", verify_each=True).passes[0].report
    assert report["composed"] == {"Erfc": 1, "Erf": 1}
    _load_lowerings()
    assert {n.op for n in g} - {"core.const"} <= set(LOWERINGS)
    x = np.linspace(-9, 9, 181).astype(np.float32)
    got = run(g, {"x": x})
    erfc = np.array([math.erfc(v) for v in x.astype(np.float64)])
    erf = np.array([math.erf(v) for v in x.astype(np.float64)])
    np.testing.assert_allclose(got["c"], erfc, rtol=1.2e-5, atol=4e-7)
    np.testing.assert_allclose(got["e"], erf, rtol=4e-7, atol=4e-7)
