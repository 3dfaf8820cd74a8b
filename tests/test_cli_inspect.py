"""``litesmith inspect``: text and JSON summaries of a lifted model, and its error exit codes."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from litesmith.cli import main


@pytest.fixture(scope="session")
def loop_model(tf, tmp_path_factory):
    """A frozen batch-4 graph with a TF2 while loop and one op litesmith does not map."""
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [4, 3], name="x")
        w = tf.constant(np.eye(3, dtype=np.float32))
        _, y = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, tf.matmul(a, w) + 1.0), (0, x))
        tf.identity(tf.math.bessel_i0e(y), name="out")
    path = tmp_path_factory.mktemp("inspect") / "loop.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    return str(path)


def test_json_summary(loop_model, capsys):
    assert main(["inspect", loop_model, "--json", "--input-shape", "x:1x3"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert set(s) >= {"inputs", "outputs", "ops", "loops", "foreign_ops", "constant_bytes", "nodes"}
    assert s["inputs"] == [{"name": "x", "dtype": "f32", "shape": [1, 3]}]
    assert [(o["name"], o["dtype"]) for o in s["outputs"]] == [("out", "f32")]  # a foreign op: shape unknown
    assert s["ops"]["core.while"] == 1 and s["ops"]["core.matmul"] == 1
    assert s["foreign_ops"] == {"tf.BesselI0e": 1}
    (loop,) = s["loops"]
    assert loop["kind"] == "while" and len(loop["carried"]) >= 2
    assert s["constant_bytes"] >= 36 and s["nodes"] == sum(s["ops"].values())


def test_text_summary_and_ir(loop_model, capsys):
    assert main(["inspect", loop_model, "--outputs", "out"]) == 0
    text = capsys.readouterr().out
    assert "x: f32[4,3]" in text and "out: f32[" in text
    assert "while" in text and "tf.BesselI0e x1" in text
    assert main(["inspect", loop_model, "--ir"]) == 0
    ir = capsys.readouterr().out
    assert "core.while" in ir and "^body" in ir


def test_bad_inputs_exit_2(tmp_path, loop_model):
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\x00garbage" * 10)
    for argv in (["inspect", str(junk)], ["inspect", loop_model, "--input-shape", "x:1xq"],
                 ["inspect", loop_model, "--outputs", "nope"]):
        proc = subprocess.run([sys.executable, "-m", "litesmith", *argv], capture_output=True, text=True, check=False)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert proc.stderr.startswith("litesmith: error:") and "Traceback" not in proc.stderr
        assert proc.stdout == ""


def test_run_verb_on_a_pb(tf, tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [2, 3], name="x")
        tf.nn.relu(x - 0.5, name="out")
    model = tmp_path / "relu.pb"
    model.write_bytes(g.as_graph_def().SerializeToString())
    feeds, out = tmp_path / "in.npz", tmp_path / "out.npz"
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    np.savez(feeds, x=x)
    assert main(["run", str(model), "--inputs", str(feeds), "-o", str(out)]) == 0
    with tf.compat.v1.Session(graph=g) as sess:
        want = sess.run("out:0", {"x:0": x})
    np.testing.assert_allclose(np.load(out)["out"], want)


def test_dot_output_is_a_digraph(loop_model, capsys):
    assert main(["inspect", loop_model, "--dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith('digraph "loop" {') and dot.rstrip().endswith("}")
    assert "core.while" in dot and "subgraph cluster_" in dot and "->" in dot


def test_check_lists_what_tflite_lacks(loop_model, capsys):
    assert main(["inspect", loop_model, "--check"]) == 1
    text = capsys.readouterr().out
    assert "BesselI0e" in text and "L001" in text
    assert main(["inspect", loop_model, "--check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "BesselI0e" in json.dumps(report)


def test_json_has_no_state_for_a_plain_graph(loop_model, capsys):
    assert main(["inspect", loop_model, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == []
