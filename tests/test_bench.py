"""``litesmith bench``: the happy path on the tiny seed LM step graph (-n 20) and bad inputs.

Timings are not asserted (shared, noisy machines); the outputs' shape and the top-1
agreement between TensorFlow and LiteRT on the same steps are."""
import dataclasses
import json
import struct

import numpy as np
import pytest
from tf_models import SEED_LM_SIZES

import litesmith
from litesmith.cli import main


@pytest.fixture(scope="session")
def tiny_step(seed_lm_step, tmp_path_factory):
    """(step.pb, step.tflite) of the zoo's small seed LM, compiled by litesmith with state metadata."""
    m = seed_lm_step
    inputs = [m.meta["ids_name"]] + [n for pair in m.meta["state_names"] for n in pair]
    outputs = [m.meta["probs_name"]] + [n for pair in m.meta["new_state_names"] for n in pair]
    hid = m.meta["sizes"]["hid"]
    pairs = [{"input": i, "output": o, "shape": [1, hid]} for i, o in zip(inputs[1:], outputs[1:])]
    graph = litesmith.load(m.pb_path, inputs=inputs, outputs=outputs)
    blob = litesmith.compile(graph, metadata={"litesmith.state": json.dumps(pairs).encode()})
    path = tmp_path_factory.mktemp("bench") / "step.tflite"
    litesmith.save(blob, path)
    return m.pb_path, str(path)


def test_bench_happy_path(tiny_step, tmp_path, capsys):
    pb, tflite = tiny_step
    out = tmp_path / "out"
    assert main(["bench", "--tf-graph", pb, "--tflite", tflite, "-n", "20", "--out", str(out), "--no-progress"]) == 0
    table = capsys.readouterr().out
    lines = table.strip().splitlines()
    assert lines[0].startswith("| side | threads |") and len(lines) == 4
    assert lines[2].startswith("| TensorFlow seed_lm_step |") and lines[3].startswith("| LiteRT step |")
    assert (out / "bench.md").read_text() == table

    record = json.loads((out / "bench.json").read_text())
    assert record["steps"] == 20 and record["threads"] == 1 and record["machine"]["cpus"] >= 1
    tf_side, lite = record["results"]
    assert [r["side"] for r in record["results"]] == ["tf", "litert"]
    for r in (tf_side, lite):
        assert r["steps"] == 20 and r["vocab"] == SEED_LM_SIZES["vocab"] and r["threads"] == 1
        assert r["per_step_ms"]["median"] > 0 and r["peak_rss_bytes"] > 0 and r["runtime_bytes"] > 0
    assert lite["top1_agreement"] >= 0.95  # LiteRT picks TensorFlow's most likely token

    png = (out / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 100 and height > 100


def test_bench_threads_reach_both_sides(tiny_step, tmp_path, capsys):
    pb, tflite = tiny_step
    out = tmp_path / "out"
    assert main(["bench", "--tf-graph", pb, "--tflite", tflite, "-n", "5", "--threads", "2", "--out", str(out),
                 "--no-progress"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    assert [row.split("|")[2].strip() for row in rows] == ["2", "2"]
    record = json.loads((out / "bench.json").read_text())
    assert record["threads"] == 2 and [r["threads"] for r in record["results"]] == [2, 2]


def test_litert_side_threads_state_like_tensorflow(tiny_step, tf):
    """The LiteRT side keeps the state in the interpreter's input tensors; step by step (a reset
    included) its probabilities must equal what the TF session computes with the state fed back."""
    from litesmith.benchmarking.child import open_litert, open_tf
    from litesmith.benchmarking.harness import step_roles

    pb, tflite = tiny_step
    roles = dataclasses.asdict(step_roles(tflite))
    tf_side = open_tf({**roles, "model": pb, "threads": 1})
    lite = open_litert({**roles, "model": tflite, "threads": 1})
    tokens = np.random.default_rng(3).integers(0, lite.vocab, 30).tolist()
    for k, token in enumerate(tokens):
        if k == 17:
            tf_side.reset()
            lite.reset()
        expected = np.asarray(tf_side.step(token))
        got = lite.step(token)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6, err_msg=f"step {k}")


def test_round_sizes_cover_every_step():
    from litesmith.benchmarking.harness import round_sizes

    assert round_sizes(10_000, 20) == [500] * 20
    assert round_sizes(7, 3) == [3, 2, 2] and round_sizes(3, 20) == [1, 1, 1] and round_sizes(5, 1) == [5]


def test_bench_side_that_fails_to_load_is_named(tiny_step, tmp_path, capsys):
    pb, tflite = tiny_step
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer at all")
    code = main(["bench", "--tf-graph", pb, "--tflite", tflite, "--tflite", str(broken), "-n", "4",
                 "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "the LiteRT broken side failed" in err and "Traceback" not in err


def test_bench_missing_model_is_a_user_error(tiny_step, tmp_path, capsys):
    pb, _ = tiny_step
    code = main(["bench", "--tf-graph", pb, "--tflite", str(tmp_path / "nope.tflite"), "-n", "20",
                 "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.tflite: no such file" in err and "Traceback" not in err


def test_bench_bad_state_pair_is_a_user_error(tiny_step, tmp_path, capsys):
    pb, tflite = tiny_step
    code = main(["bench", "--tf-graph", pb, "--tflite", tflite, "--state", "nothing:here", "--out", str(tmp_path)])
    assert code == 2
    assert "state pair nothing:here" in capsys.readouterr().err


def test_bench_without_tensorflow_says_how_to_install(tiny_step, tmp_path, capsys, monkeypatch):
    from litesmith.benchmarking import harness

    pb, tflite = tiny_step
    monkeypatch.setattr(harness, "tensorflow_available", lambda: False)
    assert main(["bench", "--tf-graph", pb, "--tflite", tflite, "--out", str(tmp_path)]) == 2
    assert "pip install litesmith[tf]" in capsys.readouterr().err
