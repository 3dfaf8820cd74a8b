"""Helpers (no tests) for the TF frontend tests: build a small TF graph, run it in TF (the oracle),
freeze it to a .pb, lift it with litesmith and run the reference interpreter."""
from __future__ import annotations

import contextlib

import numpy as np
from litesmith.frontends.tf import load_graphdef
from litesmith.ir import run, verify


@contextlib.contextmanager
def control_flow_v1(tf, enabled: bool):
    """Build TF1-style (Switch/Merge/Enter/Exit) control flow inside the block."""
    if not enabled:
        yield
        return
    tf.compat.v1.disable_control_flow_v2()
    try:
        yield
    finally:
        tf.compat.v1.enable_control_flow_v2()


def freeze(tf, build, feeds, *, v1_control_flow=False, as_text=False, path=None):
    """Build ``build(tf) -> {name: tensor}`` in a fresh graph; return (.pb path, TF's outputs)."""
    g = tf.Graph()
    with control_flow_v1(tf, v1_control_flow), g.as_default():
        with tf.name_scope("net"):  # keeps the output names below free
            outs = build(tf)
        named = {name: tf.identity(t, name=name) for name, t in outs.items()}
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            want = sess.run(named, {f"{k}:0": v for k, v in feeds.items()})
            gd = tf.compat.v1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), list(named))
    if as_text:
        from google.protobuf import text_format

        with open(path, "w") as f:
            f.write(text_format.MessageToString(gd))
    else:
        with open(path, "wb") as f:
            f.write(gd.SerializeToString())
    return path, want


def check(tf, tmp_path, build, feeds, *, atol=1e-5, v1_control_flow=False, as_text=False, **load_kw):
    """Lift a TF graph and compare the interpreter's outputs with TF's; return the graph."""
    path = str(tmp_path / ("model.pbtxt" if as_text else "model.pb"))
    path, want = freeze(tf, build, feeds, v1_control_flow=v1_control_flow, as_text=as_text, path=path)
    graph = load_graphdef(path, outputs=list(want), **load_kw)
    verify(graph)
    got = run(graph, {k: v for k, v in feeds.items() if any(i.name == k for i in graph.inputs)})
    assert set(got) == set(want)
    for name, w in want.items():
        g = np.asarray(got[name])
        assert g.shape == np.shape(w), (name, g.shape, np.shape(w))
        if np.asarray(w).dtype.kind in "fc":
            np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(g, w, err_msg=name)
    return graph


def ops_of(graph):
    return sorted({n.op for n in graph.walk()})
