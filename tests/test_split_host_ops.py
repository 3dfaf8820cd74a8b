"""split-host-ops: TFLite segments + a manifest whose runner (LiteRT + host callback) matches TF."""
from __future__ import annotations

import json

import numpy as np
import pytest

from litesmith.frontends.tf import load_graphdef
from litesmith.ir import DType, Graph, Node, TensorType, UserError
from litesmith.passes import run_pipeline
from litesmith.backends.tflite.host_split import run_manifest

from test_inspect_check import DONE_WHEN_OUTPUTS, build_done_when_model


@pytest.fixture(scope="session")
def split_model(tf, tmp_path_factory):
    path = tmp_path_factory.mktemp("split") / "model.pb"
    feeds, expected = build_done_when_model(tf, path)
    return str(path), feeds, expected


def tf_ctc_beam_search(tf):
    """TensorFlow's own decoder as an explicit callback (run_manifest's default is the numpy one, tests/test_host_ctc.py)."""

    def decode(inputs, sequence_length, *, beam_width, top_paths, merge_repeated, **_):
        out = tf.raw_ops.CTCBeamSearchDecoder(inputs=inputs, sequence_length=sequence_length, beam_width=beam_width,
                                              top_paths=top_paths, merge_repeated=merge_repeated)
        return [t.numpy() for t in (*out.decoded_indices, *out.decoded_values, *out.decoded_shape, out.log_probability)]

    return decode


def test_split_runner_matches_tensorflow(split_model, tmp_path, tf):
    path, feeds, expected = split_model
    graph = load_graphdef(path, outputs=DONE_WHEN_OUTPUTS)
    out_dir = tmp_path / "split"
    report = run_pipeline(graph, f"compose-ops,split-host-ops{{ops=CTCBeamSearchDecoder,out_dir={out_dir}}}", verify_each=True)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    kinds = [s["kind"] for s in manifest["steps"]]
    assert kinds == ["tflite", "host", "tflite"], report.passes[-1].report
    assert manifest["steps"][1]["op"] == "CTCBeamSearchDecoder" and manifest["steps"][1]["attrs"]["beam_width"] == 4
    got = run_manifest(str(out_dir / "manifest.json"), feeds, host_ops={"CTCBeamSearchDecoder": tf_ctc_beam_search(tf)})
    np.testing.assert_array_equal(got["vals"], expected["vals"])
    np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-5)
    np.testing.assert_allclose(got["cp"], expected["cp"], rtol=1e-6)
    np.testing.assert_allclose(got["ei"], expected["ei"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got["det"], expected["det"], rtol=1e-5, atol=1e-5)


def _chain_graph():
    """x -> exp -> tf.HostA -> neg -> tf.HostB -> add(x) : two host ops in a row, x crossing both cuts."""
    g = Graph("chain")
    x = g.add_input(TensorType(DType.FLOAT32, (2, 3)), "x")
    from litesmith.ir import Builder

    b = Builder(g)
    e = b.op("core.exp", [x], name="e")
    a = g.append(Node("tf.HostA", [e], {"k": 2}, [e.type], output_names=["a"])).outputs[0]
    n = Builder(g).op("core.neg", [a], name="n")
    h = g.append(Node("tf.HostB", [n], {}, [n.type], output_names=["h"])).outputs[0]
    y = Builder(g).op("core.add", [h, x], name="y")
    g.outputs = [y, e]
    return g


def test_user_named_host_ops_and_values_crossing_several_cuts(tmp_path):
    g = _chain_graph()
    run_pipeline(g, f"split-host-ops{{ops=HostA:HostB,out_dir={tmp_path}}}", verify_each=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [s["kind"] for s in manifest["steps"]] == ["tflite", "host", "tflite", "host", "tflite"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 6
    got = run_manifest(str(tmp_path / "manifest.json"), {"x": x},
                       host_ops={"HostA": lambda v, k: v * k, "HostB": lambda v: np.square(v)})
    np.testing.assert_allclose(got["y"], np.square(-(np.exp(x) * 2)) + x, rtol=1e-6)
    np.testing.assert_allclose(got["e"], np.exp(x), rtol=1e-6)


def test_no_host_op_is_a_user_error(tmp_path):
    g = _chain_graph()
    with pytest.raises(UserError, match="no node of"):
        run_pipeline(g, f"split-host-ops{{ops=Nothing,out_dir={tmp_path}}}")
