"""The scaling benchmark's generators (benchmarks/scale_graphs.py) and stage split (scale_stages.py),
at tiny sizes: node counts as promised, and the graphs convert to models LiteRT runs like TF.
No timing here: the benchmark itself is run on demand (docs/benchmarks.md section 6)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from tf_models import run_tf_graphdef

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCHMARKS)
import scale_graphs  # noqa: E402
import scale_stages  # noqa: E402


@pytest.fixture(scope="module")
def tiny_graphs(tf, tmp_path_factory):
    """Each shape at about 150 nodes, built the way the benchmark builds its 1k-100k graphs."""
    cache = str(tmp_path_factory.mktemp("scale"))
    return {shape: scale_graphs.scale_graph(shape, "150", cache, tf=tf) for shape in scale_graphs.SHAPES}


def test_node_counts_land_nearest_the_target(tf, tiny_graphs):
    for shape, g in tiny_graphs.items():
        per_unit = (scale_graphs.node_count(tf, shape, g.count + 1) - g.nodes)
        assert abs(g.nodes - 150) <= per_unit / 2 + 1, (shape, g.nodes, per_unit)


def test_deep_mlp_matches_the_issue_graph(tf):
    """Issue #12's graph: 1,408 layers (352 blocks of 4) gave 10,210 nodes; the count is linear in blocks."""
    two, three = (scale_graphs.node_count(tf, "deep_mlp", n) for n in (2, 3))
    assert two + (352 - 2) * (three - two) == 10_210


@pytest.mark.parametrize("shape", scale_graphs.SHAPES)
def test_stage_split_converts_like_the_cli(tf, tiny_graphs, litert_interpreter, tmp_path, shape):
    """scale_stages' stages give the bytes `litesmith convert`'s path gives, and LiteRT matches TF."""
    from litesmith.api import DEFAULT_PIPELINE, load, optimize
    from litesmith.backends.tflite.compile import compile_to_tflite

    g = tiny_graphs[shape]
    out = str(tmp_path / f"{shape}.tflite")
    result = scale_stages.time_stages(g.pb, out, inputs=g.inputs, outputs=g.outputs, input_shapes=g.input_shapes)
    assert list(result["stages"]) == list(scale_stages.STAGES)
    graph = optimize(load(g.pb, inputs=g.inputs, outputs=g.outputs, input_shapes=g.input_shapes), DEFAULT_PIPELINE)
    with open(out, "rb") as f:
        assert f.read() == compile_to_tflite(graph)

    feeds = {name: np.random.default_rng(0).standard_normal(s).astype(np.float32)
             for name, s in g.input_shapes.items()}
    expected = run_tf_graphdef(tf, g.pb, feeds, g.outputs)
    interp = litert_interpreter(model_path=out)
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], feeds[d["name"]])
    interp.invoke()
    got = {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    for name in g.outputs:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-4)
