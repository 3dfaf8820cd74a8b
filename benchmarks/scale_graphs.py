"""Large frozen GraphDefs of three shapes for the scaling benchmark (benchmarks/scale.py).

    .venv/bin/python benchmarks/scale_graphs.py [--shapes deep_mlp,wide,rnn] [--sizes 1k,10k,100k]

Each shape is built with TF1 ops in graph mode, the way a TF1 user writes such a model, so the
compiler sees what it would see from a user (weights as constants, or variables frozen with
``convert_variables_to_constants``). A shape's size is set by one count (blocks, groups or time
steps); the node count is linear in it, so ``units_for`` measures two tiny builds and solves for
the count that lands nearest the wanted node count. The exact node count is what gets reported.

* ``deep_mlp``: the graph of issue #12. ``x`` [None, 16] float32; blocks of 4 layers of
  ``relu(h @ W + b)``, then a residual add and ``reshape(h, stack([shape(h)[0], 16]))``
  (1,408 layers gave 10,210 nodes there). Weights are constants, scaled so that 25k residual
  blocks neither overflow nor collapse.
* ``wide``: one input ``x`` [1, 16] feeding many small parallel branches, each
  ``act(x @ W_i + b_i) * s_i`` with its own constants (act cycles through tanh, sigmoid, relu);
  groups of 8 branches are concatenated and projected back to 16 wide by a matmul, and the groups
  are summed by a balanced tree of adds.
* ``rnn``: an LSTM applied step by step over T steps, statically unrolled:
  ``tf.compat.v1.nn.static_rnn(LSTMCell(16), tf.unstack(x, axis=1))`` on ``x`` [1, T, 8], weights
  as variables (random, biases included) frozen with ``convert_variables_to_constants``; outputs
  the final ``c`` and ``h`` and the mean of the per-step outputs.

Built graphs are cached as binary .pb next to a .json of their facts (node count, count, inputs,
outputs, shapes, sha256) in ``benchmarks/.cache/scale/`` (gitignored) and reused when present.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before TensorFlow is imported (LSTMCell needs tf-keras)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, ".cache", "scale")
GENERATOR_VERSION = 1  # bump when a builder changes, so cached .pb files are rebuilt
SHAPES = ("deep_mlp", "wide", "rnn")
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
WIDTH = 16  # feature width of every shape
RNN_FEATURES = 8
SEED = 12


@dataclass
class ScaleGraph:
    """A built (or cached) graph and what a converter needs to know about it."""

    shape: str
    size: str  # "1k", "10k", ... or a plain number for tiny test builds
    count: int  # blocks (deep_mlp), groups of branches (wide) or time steps (rnn)
    nodes: int  # len(graph_def.node)
    pb: str
    sha256: str
    inputs: list
    outputs: list
    input_shapes: dict  # static shapes both converters are given
    build_seconds: float
    version: int = GENERATOR_VERSION


# -- builders: each returns (graph_def, inputs, outputs, input_shapes) ---------------------------


def _rng(count: int) -> np.random.Generator:
    return np.random.default_rng(SEED + count)


def build_deep_mlp(tf, blocks: int):
    """``blocks`` x (4 x relu(h @ W + b), residual add, reshape to [shape(h)[0], 16])."""
    v1 = tf.compat.v1
    rng = _rng(blocks)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, WIDTH], name="x")
        h = x
        for _ in range(blocks):
            skip = h
            for _ in range(4):
                # 0.3 x He: a block's branch adds little, so 25k blocks stay finite (h grows ~linearly via b)
                w = (rng.standard_normal((WIDTH, WIDTH)) * 0.3 * np.sqrt(2 / WIDTH)).astype(np.float32)
                b = rng.normal(0, 0.05, WIDTH).astype(np.float32)
                h = tf.nn.relu(tf.matmul(h, tf.constant(w)) + tf.constant(b))
            h = h + skip
            h = tf.reshape(h, tf.stack([tf.shape(h)[0], WIDTH]))
        tf.identity(h, name="y")
    return graph.as_graph_def(), ["x"], ["y"], {"x": [1, WIDTH]}


_ACTIVATIONS = ("tanh", "sigmoid", "relu")


def build_wide(tf, groups: int):
    """``groups`` x 8 parallel branches of x, each group concatenated and projected; groups summed in a tree."""
    rng = _rng(groups)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, WIDTH], name="x")
        sums = []
        for g in range(groups):
            branches = []
            for k in range(8):
                w = (rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)).astype(np.float32)
                b = rng.normal(0, 0.3, WIDTH).astype(np.float32)
                s = rng.normal(0, 0.5, WIDTH).astype(np.float32)
                act = getattr(tf.nn, _ACTIVATIONS[(8 * g + k) % len(_ACTIVATIONS)])
                branches.append(act(tf.matmul(x, tf.constant(w)) + tf.constant(b)) * tf.constant(s))
            proj = (rng.standard_normal((8 * WIDTH, WIDTH)) / np.sqrt(8 * WIDTH)).astype(np.float32)
            sums.append(tf.matmul(tf.concat(branches, axis=1), tf.constant(proj)))
        while len(sums) > 1:  # balanced add tree
            sums = [a + b for a, b in zip(sums[0::2], sums[1::2])] + ([sums[-1]] if len(sums) % 2 else [])
        tf.identity(sums[0] / np.float32(np.sqrt(groups)), name="y")
    return graph.as_graph_def(), ["x"], ["y"], {"x": [1, WIDTH]}


def build_rnn(tf, steps: int):
    """``static_rnn(LSTMCell(16))`` over ``steps`` steps of x [1, steps, 8]; variables frozen."""
    v1 = tf.compat.v1
    rng = _rng(steps)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [1, steps, RNN_FEATURES], name="x")
        cell = v1.nn.rnn_cell.LSTMCell(WIDTH)
        outputs, state = v1.nn.static_rnn(cell, tf.unstack(x, axis=1), dtype=tf.float32)
        tf.identity(state.c, name="final_c")
        tf.identity(state.h, name="final_h")
        tf.identity(tf.reduce_mean(tf.stack(outputs, axis=1), axis=1), name="mean_h")
        names = ["final_c", "final_h", "mean_h"]
        with v1.Session(graph=graph) as sess:
            for var in v1.global_variables():  # random weights and biases: nothing hides behind a zero bias
                value = rng.normal(0, 0.4, var.shape.as_list()).astype(np.float32)
                var.load(value, sess)
            frozen = v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), names)
    return frozen, ["x"], names, {"x": [1, steps, RNN_FEATURES]}


BUILDERS = {"deep_mlp": build_deep_mlp, "wide": build_wide, "rnn": build_rnn}


# -- sizing and caching ---------------------------------------------------------------------------


def node_count(tf, shape: str, count: int) -> int:
    return len(BUILDERS[shape](tf, count)[0].node)


def units_for(tf, shape: str, target_nodes: int) -> int:
    """The count whose graph has the node count nearest ``target_nodes`` (node count is linear in it)."""
    n1, n2 = node_count(tf, shape, 2), node_count(tf, shape, 4)
    per_unit = (n2 - n1) / 2
    base = n1 - 2 * per_unit
    return max(1, round((target_nodes - base) / per_unit))


def parse_size(size: str) -> int:
    """``"10k"`` -> 10000 (also plain numbers)."""
    if size in SIZES:
        return SIZES[size]
    text = size.lower().replace("_", "")
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _import_tf():
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def scale_graph(shape: str, size: str, cache: str = CACHE, tf=None) -> ScaleGraph:
    """The graph of ``shape`` at ``size`` nodes (about), from the cache or built (TF imported only then)."""
    meta_path = os.path.join(cache, f"{shape}_{size}.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("version") == GENERATOR_VERSION and os.path.exists(meta["pb"]):
            return ScaleGraph(**meta)
    tf = tf or _import_tf()
    os.makedirs(cache, exist_ok=True)
    count = units_for(tf, shape, parse_size(size))
    start = time.perf_counter()
    graph_def, inputs, outputs, input_shapes = BUILDERS[shape](tf, count)
    seconds = time.perf_counter() - start
    pb = os.path.join(cache, f"{shape}_{size}.pb")
    tmp = f"{pb}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(graph_def.SerializeToString())
    os.replace(tmp, pb)
    graph = ScaleGraph(shape, size, count, len(graph_def.node), pb, sha256_file(pb), inputs, outputs,
                       input_shapes, round(seconds, 1))
    with open(meta_path, "w") as f:
        json.dump(asdict(graph), f, indent=1)
    return graph


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--sizes", default="1k,10k,100k")
    parser.add_argument("--cache", default=CACHE)
    args = parser.parse_args(argv)
    for shape in args.shapes.split(","):
        for size in args.sizes.split(","):
            g = scale_graph(shape, size, args.cache)
            print(f"{shape:>9} {size:>5}: {g.nodes:>7,} nodes (count {g.count}), "
                  f"{os.path.getsize(g.pb) / 1e6:.1f} MB, built in {g.build_seconds} s  {g.pb}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
