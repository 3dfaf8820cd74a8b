"""check_graph and the done-when flow: a frozen graph with ops TFLite lacks is
diagnosed, composed and stubbed, and the result loads in LiteRT and compiles in g++."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from litesmith.backends.tflite import compile_to_tflite
from litesmith.backends.tflite.legality_check import check_graph, format_findings, op_coverage
from litesmith.frontends.tf import load_graphdef
from litesmith.passes import run_pipeline

HEADERS = Path(__file__).parent / "stub_headers"
DONE_WHEN_OUTPUTS = ["score", "vals", "cp", "ei", "det"]


def build_done_when_model(tf, path):
    """CTCBeamSearchDecoder + Cumprod + Erfinv + 4x4 MatrixDeterminant; returns (feeds, TF results)."""
    rng = np.random.default_rng(3)
    g = tf.Graph()
    with g.as_default():
        logits = tf.compat.v1.placeholder(tf.float32, [6, 2, 5], name="logits")
        m = tf.compat.v1.placeholder(tf.float32, [4, 4], name="m")
        u = tf.compat.v1.placeholder(tf.float32, [3, 5], name="u")
        w = tf.constant(rng.normal(size=(5, 5)).astype(np.float32))
        proj = tf.reshape(tf.matmul(tf.reshape(logits, [12, 5]), w), [6, 2, 5])
        lsm = tf.nn.log_softmax(proj, axis=-1, name="lsm")
        decoded, log_prob = tf.nn.ctc_beam_search_decoder(lsm, tf.constant([6, 6], tf.int32), beam_width=4, top_paths=1)
        tf.identity(log_prob * 2.0, name="score")
        tf.identity(decoded[0].values, name="vals")
        tf.identity(tf.math.cumprod(u, axis=1), name="cp")
        tf.identity(tf.math.erfinv(u * 0.9), name="ei")
        tf.identity(tf.linalg.det(m), name="det")
    feeds = {
        "logits": rng.normal(size=(6, 2, 5)).astype(np.float32),
        "m": rng.normal(size=(4, 4)).astype(np.float32),
        "u": rng.uniform(-1, 1, size=(3, 5)).astype(np.float32),
    }
    with tf.compat.v1.Session(graph=g) as sess:
        got = sess.run([o + ":0" for o in DONE_WHEN_OUTPUTS], {k + ":0": v for k, v in feeds.items()})
    Path(path).write_bytes(g.as_graph_def(add_shapes=True).SerializeToString())
    return feeds, dict(zip(DONE_WHEN_OUTPUTS, got))


@pytest.fixture(scope="session")
def done_when_model(tf, tmp_path_factory):
    path = tmp_path_factory.mktemp("done_when") / "model.pb"
    feeds, expected = build_done_when_model(tf, path)
    return str(path), feeds, expected


def test_check_graph_lists_each_unsupported_op_with_reason_and_fix(done_when_model):
    graph = load_graphdef(done_when_model[0], outputs=DONE_WHEN_OUTPUTS)
    before = len(graph.nodes)
    findings = check_graph(graph)
    assert len(graph.nodes) == before and {n.op for n in graph}  # the graph is untouched
    by_op = {f.op: f for f in findings}
    assert set(by_op) == {"tf.CTCBeamSearchDecoder", "core.cumprod", "tf.Erfinv", "tf.MatrixDeterminant"}, format_findings(findings)
    assert all(f.code == "L001" and f.name == "unknown-op" for f in findings)
    assert "split-host-ops{ops=CTCBeamSearchDecoder}" in by_op["tf.CTCBeamSearchDecoder"].fix
    for op in ("core.cumprod", "tf.Erfinv", "tf.MatrixDeterminant"):
        assert by_op[op].fix.startswith("run compose-ops"), by_op[op].fix
    text = format_findings(findings)
    assert text.splitlines()[0] == "4 problem(s) for TFLite:" and "L001 unknown-op: tf.Erfinv" in text
    report = json.loads(json.dumps(op_coverage(graph, findings)))
    assert report["ok"] is False and report["ops"]["tf.Erfinv"] == {"count": 1, "illegal": 1}
    assert report["ops"]["core.matmul"]["illegal"] == 0


def test_check_graph_codes_dynamic_shapes_and_stubbable_ops():
    from litesmith.ir import DType, Graph, Node, TensorType

    g = Graph()
    x = g.add_input(TensorType(DType.FLOAT32, (None, 3)), "x")
    t = g.append(Node("core.atan", [x], {}, [x.type], output_names=["t"])).outputs[0]
    y = g.append(Node("tf.MyOp", [t], {}, [x.type], output_names=["y"])).outputs[0]
    g.outputs = [y]
    findings = check_graph(g)
    assert [(f.code, f.name, f.node) for f in findings] == [
        ("L003", "dynamic-shape", "x"), ("L003", "dynamic-shape", "t"), ("L001", "unknown-op", "y")]
    assert "--input-shape x:1x3" in findings[0].fix
    assert "stub-custom-ops" in findings[2].fix


def test_compose_and_stub_give_a_model_litert_loads_and_a_stub_g_plus_plus_compiles(
        done_when_model, litert_interpreter, tmp_path):
    graph = load_graphdef(done_when_model[0], outputs=DONE_WHEN_OUTPUTS)
    stubs = tmp_path / "stubs"
    report = run_pipeline(graph, f"compose-ops,stub-custom-ops{{stubs_dir={stubs}}}", verify_each=True)
    assert report.passes[0].report["composed"] == {"Cumprod": 1, "Erfinv": 1, "MatrixDeterminant": 1}
    assert report.passes[1].report["stubbed"] == {"CTCBeamSearchDecoder": 1}
    assert check_graph(graph) == []
    model = tmp_path / "model.tflite"
    model.write_bytes(compile_to_tflite(graph))
    it = litert_interpreter(model_path=str(model))
    with pytest.raises(RuntimeError, match="CTCBeamSearchDecoder"):
        it.allocate_tensors()
    assert sorted(p.name for p in stubs.iterdir()) == ["CTCBeamSearchDecoder.cc", "README.md"]
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    done = subprocess.run(["g++", "-fsyntax-only", "-Wall", "-Werror", "-I", str(HEADERS), str(stubs / "CTCBeamSearchDecoder.cc")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
