"""TF1 and TF2 control flow lifted to the same core.while / core.if form, checked against TF."""
from __future__ import annotations

import numpy as np
import pytest
from test_frontend_tf_util import check, ops_of

rng = np.random.default_rng(1)


def ph(tf, name, x):
    with tf.compat.v1.get_default_graph().name_scope(""):
        return tf.compat.v1.placeholder(tf.as_dtype(x.dtype), x.shape, name=name)


def _no_tf1_control_nodes(graph):
    for op in ops_of(graph):
        assert not op.startswith("tf."), op


@pytest.mark.parametrize("v1", [False, True], ids=["tf2", "tf1"])
def test_while_loop_with_invariant_and_max_iterations(tf, tmp_path, v1):
    feeds = {"x": rng.standard_normal((2, 3)).astype(np.float32), "n": np.int32(5)}

    def build(tf):
        x, n = ph(tf, "x", feeds["x"]), ph(tf, "n", feeds["n"])
        w = tf.constant(rng.standard_normal((3, 3)).astype(np.float32) * 0.5)

        def body(i, acc):
            return i + 1, tf.tanh(tf.matmul(acc, w) + x)

        i, acc = tf.while_loop(lambda i, acc: i < n, body, (tf.constant(0), x), maximum_iterations=4)
        return {"i": i, "acc": acc}

    g = check(tf, tmp_path, build, feeds, v1_control_flow=v1)
    assert "core.while" in ops_of(g)
    _no_tf1_control_nodes(g)


@pytest.mark.parametrize("v1", [False, True], ids=["tf2", "tf1"])
def test_cond(tf, tmp_path, v1):
    feeds = {"x": rng.standard_normal((3,)).astype(np.float32), "p": np.array(True)}

    def build(tf):
        x, p = ph(tf, "x", feeds["x"]), ph(tf, "p", feeds["p"])
        y = tf.cond(p, lambda: tf.nn.relu(x) * 2.0 + 1.0, lambda: x - 3.0)
        z = tf.cond(tf.reduce_sum(x) > 100.0, lambda: x, lambda: tf.exp(x))
        return {"y": y, "z": z}

    g = check(tf, tmp_path, build, feeds, v1_control_flow=v1)
    assert "core.if" in ops_of(g)
    _no_tf1_control_nodes(g)


@pytest.mark.parametrize("v1", [False, True], ids=["tf2", "tf1"])
def test_nested_while(tf, tmp_path, v1):
    feeds = {"x": rng.standard_normal((2,)).astype(np.float32)}

    def build(tf):
        x = ph(tf, "x", feeds["x"])

        def outer(i, acc):
            _, inner_acc = tf.while_loop(lambda j, a: j < i, lambda j, a: (j + 1, a * 0.5 + 1.0), [0, acc])
            return i + 1, inner_acc

        return {"out": tf.while_loop(lambda i, a: i < 3, outer, [0, x])[1]}

    g = check(tf, tmp_path, build, feeds, v1_control_flow=v1)
    _no_tf1_control_nodes(g)


@pytest.mark.parametrize("v1", [False, True], ids=["tf2", "tf1"])
@pytest.mark.parametrize("variant", ["lstm_seq_len", "gru_time_major", "multi_cell"])
def test_dynamic_rnn(tf, tmp_path, v1, variant):
    batch, steps, depth = 2, 4, 3
    x = rng.standard_normal((steps, batch, depth) if variant == "gru_time_major" else (batch, steps, depth))
    feeds = {"x": x.astype(np.float32), "seq": np.array([4, 2], np.int32)}

    def build(tf):
        xi, seq = ph(tf, "x", feeds["x"]), ph(tf, "seq", feeds["seq"])
        cells = tf.compat.v1.nn.rnn_cell
        tf.compat.v1.set_random_seed(0)
        if variant == "lstm_seq_len":
            out, state = tf.compat.v1.nn.dynamic_rnn(cells.LSTMCell(5), xi, sequence_length=seq, dtype=tf.float32)
            last = state.h
        elif variant == "gru_time_major":
            out, last = tf.compat.v1.nn.dynamic_rnn(cells.GRUCell(4), xi, time_major=True, dtype=tf.float32)
        else:
            cell = cells.MultiRNNCell([cells.LSTMCell(4), cells.GRUCell(3)])
            out, state = tf.compat.v1.nn.dynamic_rnn(cell, xi, dtype=tf.float32)
            last = state[1]
        return {"out": out, "last": last}

    g = check(tf, tmp_path, build, feeds, v1_control_flow=v1)
    loops = [n for n in g.walk() if n.op == "core.while"]
    assert len(loops) == 1
    body = loops[0].regions[1]
    assert any(n.op == "core.tensor_list_set_item" for n in body.walk())
    _no_tf1_control_nodes(g)
