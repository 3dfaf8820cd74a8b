"""The numpy CTC decoders (backends/tflite/host_ops.py) against TensorFlow's own kernels, and split models
that run through run_manifest with no callback at all."""
from __future__ import annotations

import json

import numpy as np
import pytest

from litesmith.backends.tflite.host_ops import ctc_beam_search_decoder, ctc_greedy_decoder
from litesmith.backends.tflite.host_split import run_manifest
from litesmith.frontends.tf import load_graphdef
from litesmith.ir import UserError
from litesmith.passes import run_pipeline

from test_inspect_check import DONE_WHEN_OUTPUTS, build_done_when_model

MAX_TIME, BATCH = 12, 4
LENGTHS = np.array([12, 7, 1, 10], np.int32)   # batch entries of different lengths, one a single step


def _logits(seed: int, kind: str, num_classes: int = 7, dtype=np.float32) -> np.ndarray:
    """peaked: confident steps; flat: nearly uniform ones; tied: small integers, so many paths score exactly alike."""
    rng = np.random.default_rng(seed)
    shape = (MAX_TIME, BATCH, num_classes)
    if kind == "peaked":
        x = rng.normal(size=shape) * 6.0
    elif kind == "flat":
        x = rng.normal(size=shape) * 0.05
    else:
        x = rng.integers(0, 3, size=shape).astype(np.float64)
    return x.astype(dtype)


def _tf_outputs(out) -> list:
    return [t.numpy() for t in (*out.decoded_indices, *out.decoded_values, *out.decoded_shape, out.log_probability)] \
        if isinstance(out.decoded_indices, list) else [t.numpy() for t in out]


def _tf_beam(tf, x, lengths, **attrs):
    # tf.constant keeps float64: a bare numpy float64 argument is fed as float32 after the op's first call.
    return _tf_outputs(tf.raw_ops.CTCBeamSearchDecoder(inputs=tf.constant(x), sequence_length=lengths, **attrs))


def _tf_greedy(tf, x, lengths, **attrs):
    return _tf_outputs(tf.raw_ops.CTCGreedyDecoder(inputs=tf.constant(x), sequence_length=lengths, **attrs))


def _assert_same(got, want, what):
    assert len(got) == len(want), what
    for i, (g, w) in enumerate(zip(got[:-1], want[:-1])):
        assert g.dtype == w.dtype == np.int64, (what, i)
        np.testing.assert_array_equal(g, w, err_msg=f"{what}: output {i}")
    assert got[-1].dtype == want[-1].dtype and got[-1].shape == want[-1].shape, what
    np.testing.assert_allclose(got[-1], want[-1], rtol=1e-5, atol=0, err_msg=f"{what}: log_probability")


@pytest.mark.parametrize("kind", ["peaked", "flat", "tied"])
@pytest.mark.parametrize("seed", range(4))
def test_beam_search_matches_tensorflow(tf, seed, kind):
    x = _logits(seed, kind)
    for beam_width, top_paths in [(1, 1), (4, 1), (4, 3), (10, 3)]:
        for merge_repeated in (True, False):
            attrs = dict(beam_width=beam_width, top_paths=top_paths, merge_repeated=merge_repeated)
            _assert_same(ctc_beam_search_decoder(x, LENGTHS, **attrs), _tf_beam(tf, x, LENGTHS, **attrs), attrs)


@pytest.mark.parametrize("kind", ["peaked", "flat", "tied"])
@pytest.mark.parametrize("seed", range(4))
def test_greedy_matches_tensorflow(tf, seed, kind):
    x = _logits(seed, kind)
    for merge_repeated in (True, False):
        _assert_same(ctc_greedy_decoder(x, LENGTHS, merge_repeated=merge_repeated),
                     _tf_greedy(tf, x, LENGTHS, merge_repeated=merge_repeated), merge_repeated)
    _assert_same(ctc_greedy_decoder(x, LENGTHS, merge_repeated=True, blank_index=0),
                 _tf_greedy(tf, x, LENGTHS, merge_repeated=True, blank_index=0), "blank_index=0")


@pytest.mark.parametrize("kind", ["peaked", "tied"])
def test_wide_beam_float64_and_many_classes_match_tensorflow(tf, kind):
    """A beam over 16 wide (TF's sort switches to introsort there), double logits, more classes."""
    x = _logits(7, kind, num_classes=12, dtype=np.float64)
    attrs = dict(beam_width=20, top_paths=5, merge_repeated=False)
    _assert_same(ctc_beam_search_decoder(x, LENGTHS, **attrs), _tf_beam(tf, x, LENGTHS, **attrs), attrs)
    _assert_same(ctc_greedy_decoder(x, LENGTHS), _tf_greedy(tf, x, LENGTHS), "greedy float64")


def test_bad_arguments_are_user_errors_where_tensorflow_fails(tf):
    x = _logits(0, "peaked")
    bad = [
        (np.array([12, 7, 0, 10], np.int32), dict(beam_width=4, top_paths=3), "Less leaves"),  # an empty sequence
        (LENGTHS, dict(beam_width=2, top_paths=3), "more paths than the beam width"),
        (np.array([13, 7, 1, 10], np.int32), dict(beam_width=4, top_paths=1), "sequence_length"),
    ]
    for lengths, attrs, message in bad:
        with pytest.raises(tf.errors.OpError):
            _tf_beam(tf, x, lengths, merge_repeated=True, **attrs)
        with pytest.raises(UserError, match=message):
            ctc_beam_search_decoder(x, lengths, merge_repeated=True, **attrs)
    with pytest.raises(UserError, match="sequence_length"):
        ctc_greedy_decoder(x, LENGTHS[:3])


def test_empty_sequences_decode_to_nothing_as_in_tensorflow(tf):
    x = _logits(1, "flat")
    lengths = np.array([0, 3, 0, 12], np.int32)
    _assert_same(ctc_greedy_decoder(x, lengths, merge_repeated=True), _tf_greedy(tf, x, lengths, merge_repeated=True), "greedy")
    attrs = dict(beam_width=3, top_paths=1, merge_repeated=True)
    _assert_same(ctc_beam_search_decoder(x, lengths, **attrs), _tf_beam(tf, x, lengths, **attrs), attrs)


# --- end to end: split models run by run_manifest with no host_ops at all -----------------------------------------


@pytest.fixture(scope="module")
def done_when_split(tf, tmp_path_factory):
    """The done-when model (a CTCBeamSearchDecoder between two device parts) split; with TF's results."""
    tmp = tmp_path_factory.mktemp("host_ctc")
    feeds, expected = build_done_when_model(tf, tmp / "model.pb")
    graph = load_graphdef(str(tmp / "model.pb"), outputs=DONE_WHEN_OUTPUTS)
    run_pipeline(graph, f"compose-ops,split-host-ops{{out_dir={tmp / 'split'}}}", verify_each=True)
    return str(tmp / "split" / "manifest.json"), feeds, expected


def test_split_model_runs_without_callbacks(done_when_split):
    manifest, feeds, expected = done_when_split
    assert [s["kind"] for s in json.loads(open(manifest).read())["steps"]] == ["tflite", "host", "tflite"]
    got = run_manifest(manifest, feeds)
    np.testing.assert_array_equal(got["vals"], expected["vals"])
    np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-5)
    np.testing.assert_allclose(got["det"], expected["det"], rtol=1e-5, atol=1e-5)


def test_a_given_callback_still_overrides_the_builtin(done_when_split):
    manifest, feeds, expected = done_when_split
    calls = []

    def spy(*args, **attrs):
        calls.append(sorted(attrs))
        return ctc_beam_search_decoder(*args, **attrs)

    got = run_manifest(manifest, feeds, host_ops={"CTCBeamSearchDecoder": spy})
    assert len(calls) == 1 and "beam_width" in calls[0]
    np.testing.assert_array_equal(got["vals"], expected["vals"])


def test_a_host_op_without_implementation_or_callback_is_a_user_error(tmp_path):
    from test_split_host_ops import _chain_graph

    run_pipeline(_chain_graph(), f"split-host-ops{{ops=HostA:HostB,out_dir={tmp_path}}}")
    with pytest.raises(UserError, match="no host callback for HostA"):
        run_manifest(str(tmp_path / "manifest.json"), {"x": np.zeros((2, 3), np.float32)})


def build_decoders_model(tf, path):
    """Logits and lengths in; a greedy and a 3-path beam search decoder out, every output of each."""
    rng = np.random.default_rng(5)
    g = tf.Graph()
    with g.as_default():
        logits = tf.compat.v1.placeholder(tf.float32, [MAX_TIME, BATCH, 6], name="logits")
        lengths = tf.compat.v1.placeholder(tf.int32, [BATCH], name="lengths")
        w = tf.constant(rng.normal(size=(6, 6)).astype(np.float32))
        proj = tf.reshape(tf.matmul(tf.reshape(logits, [MAX_TIME * BATCH, 6]), w), [MAX_TIME, BATCH, 6])
        greedy = tf.raw_ops.CTCGreedyDecoder(inputs=proj, sequence_length=lengths, merge_repeated=True)
        beam = tf.raw_ops.CTCBeamSearchDecoder(inputs=proj * 0.5, sequence_length=lengths, beam_width=5, top_paths=3,
                                               merge_repeated=False)
        outputs = {"g_idx": greedy.decoded_indices, "g_val": greedy.decoded_values, "g_shape": greedy.decoded_shape,
                   "g_lp": greedy.log_probability, "b_lp": beam.log_probability}
        for p in range(3):
            outputs.update({f"b_idx{p}": beam.decoded_indices[p], f"b_val{p}": beam.decoded_values[p],
                            f"b_shape{p}": beam.decoded_shape[p]})
        for name, t in outputs.items():
            tf.identity(t, name=name)
    feeds = {"logits": rng.normal(size=(MAX_TIME, BATCH, 6)).astype(np.float32), "lengths": LENGTHS}
    with tf.compat.v1.Session(graph=g) as sess:
        got = sess.run([n + ":0" for n in outputs], {k + ":0": v for k, v in feeds.items()})
    path.write_bytes(g.as_graph_def(add_shapes=True).SerializeToString())
    return list(outputs), feeds, dict(zip(outputs, got))


def test_greedy_and_beam_search_split_model_runs_without_callbacks(tf, tmp_path):
    names, feeds, expected = build_decoders_model(tf, tmp_path / "model.pb")
    graph = load_graphdef(str(tmp_path / "model.pb"), outputs=names)
    run_pipeline(graph, f"split-host-ops{{out_dir={tmp_path / 'split'}}}", verify_each=True)
    steps = json.loads((tmp_path / "split" / "manifest.json").read_text())["steps"]
    assert sorted(s["op"] for s in steps if s["kind"] == "host") == ["CTCBeamSearchDecoder", "CTCGreedyDecoder"]
    got = run_manifest(str(tmp_path / "split" / "manifest.json"), feeds)
    for name in names:
        if name.endswith("lp"):
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
