"""The TensorFlow test-model zoo: small frozen graphs that tests compare against.

Every model is built once per pytest session (session-scoped fixtures), frozen to a
GraphDef, written under a pytest tmp dir and returned as a :class:`TFModel` whose
``expected`` outputs are TensorFlow's own results on ``inputs``, computed while the
model was still live (before freezing). tests/test_tf_models.py re-runs every frozen
.pb and checks it reproduces ``expected``, so the files are trustworthy oracles.

TensorFlow is never imported here at module level: builders take the ``tf`` module
from the ``tf`` fixture (conftest.py sets ``TF_USE_LEGACY_KERAS=1`` first, so
``tf.compat.v1.nn.rnn_cell`` and ``tf.keras`` are tf-keras). The builders are plain
functions so benchmarks/models.py can build the same graphs outside pytest.
See docs/testing.md for the catalogue and build times.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import warnings
from typing import Any

import numpy as np
import pytest

__all__ = [
    "CNN_INPUT_SIZES",
    "KERAS_RNN_SIZES",
    "RNN_SIZES",
    "RNN_VARIANTS",
    "SEED_LM_SIZES",
    "TFModel",
    "DYNAMIC_CNN_SIZES",
    "build_dynamic_batch_cnn",
    "build_keras_cnn",
    "build_keras_rnn",
    "build_rnn_cells",
    "build_seed_lm",
    "build_small_graphs",
    "freeze_function",
    "freeze_one_input",
    "graphdef_op_types",
    "keras_cnns",
    "keras_efficientnet_b0",
    "keras_gru_v2",
    "keras_lstm_v2",
    "keras_mobilenet_v2",
    "keras_resnet50",
    "load_graphdef",
    "rnn_cells",
    "rnn_cells_v1",
    "rnn_cells_v2",
    "rnn_cells_dyn_v1",
    "rnn_cells_dyn_v2",
    "dynamic_batch_cnn",
    "run_tf_graphdef",
    "seed_lm",
    "seed_lm_step",
    "seed_lm_step_dynamic",
    "seed_lm_v1",
    "seed_lm_v1_models",
    "seed_lm_v2",
    "small_graphs",
    # fixtures
    "tf_models_dir",
    "write_pbtxt",
]

SEED = 1234

# The seed's language model, shrunk for tests (BATCH is the seed's own value).
SEED_LM_SIZES = {"batch": 8, "vocab": 50, "emb": 16, "hid": 32, "layers": 2, "seq_len": 5}

# Input side length per Keras application; all three at 224 build + run in a few seconds each.
CNN_INPUT_SIZES = {"mobilenet_v2": 224, "resnet50": 224, "efficientnet_b0": 224}


@dataclasses.dataclass(frozen=True)
class TFModel:
    """A frozen TF graph plus TensorFlow's own answer on one set of feeds.

    ``inputs`` and ``input_names`` use placeholder (node) names; ``output_names`` are
    tensor names without ``:0`` (every zoo output is output 0 of a named node).
    ``control_flow`` is ``"v1"`` (Enter/Exit/Merge/Switch/TensorArrayV3), ``"v2"``
    (While/StatelessWhile/If with function-library bodies) or ``None``.
    """

    name: str
    pb_path: str
    pbtxt_path: str | None
    inputs: dict[str, np.ndarray]
    input_names: list[str]
    output_names: list[str]
    expected: dict[str, np.ndarray]
    control_flow: str | None
    meta: dict[str, Any]


# -- helpers usable from any test ------------------------------------------------------------


def load_graphdef(tf, pb_path):
    """Parse a binary (.pb) or text (.pbtxt) GraphDef file."""
    graph_def = tf.compat.v1.GraphDef()
    with open(pb_path, "rb") as f:
        data = f.read()
    if str(pb_path).endswith(".pbtxt"):
        from google.protobuf import text_format

        text_format.Parse(data.decode("utf-8"), graph_def)
    else:
        graph_def.ParseFromString(data)
    return graph_def


def _tensor_name(name):
    return name if ":" in name else name + ":0"


def run_tf_graphdef(tf, pb_path, feeds, output_names):
    """Load a frozen .pb/.pbtxt into a fresh graph and run it: {output_name: ndarray}.

    ``feeds`` maps placeholder names (``":0"`` optional) to arrays; for tests that run a
    zoo model on their own feeds.
    """
    graph_def = load_graphdef(tf, pb_path)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        fetched = sess.run(
            [_tensor_name(n) for n in output_names],
            {_tensor_name(k): v for k, v in feeds.items()},
        )
    return dict(zip(output_names, fetched))


def graphdef_op_types(graph_def, include_functions=True):
    """The set of op types in a GraphDef, including function-library bodies (v2 control flow)."""
    ops = {node.op for node in graph_def.node}
    if include_functions:
        for fn in graph_def.library.function:
            ops.update(node.op for node in fn.node_def)
    return ops


def write_pbtxt(tf, graph_def, path):
    """Write ``graph_def`` as text next to its .pb (readable in diffs and bug reports)."""
    tf.io.write_graph(graph_def, os.path.dirname(path), os.path.basename(path), as_text=True)
    return path


# -- internals --------------------------------------------------------------------------------


@contextlib.contextmanager
def _control_flow(tf, form):
    """Build under TF1 (``"v1"``) or TF2 (``"v2"``) control flow, restoring the global flag."""
    from tensorflow.python.ops import control_flow_util

    previous = control_flow_util.ENABLE_CONTROL_FLOW_V2
    if form == "v1":
        tf.compat.v1.disable_control_flow_v2()
    elif form == "v2":
        tf.compat.v1.enable_control_flow_v2()
    elif form is not None:
        raise ValueError(f"control-flow form must be 'v1', 'v2' or None, not {form!r}")
    try:
        yield
    finally:
        control_flow_util.ENABLE_CONTROL_FLOW_V2 = previous


def _randomize_variables(tf, sess, rng, scale=0.3):
    """Give every variable (biases too) random non-zero values, so no weight hides a bug."""
    for var in sorted(tf.compat.v1.global_variables(), key=lambda v: v.name):
        shape = var.shape.as_list()
        var.load(rng.normal(0.0, scale, size=shape).astype(var.dtype.as_numpy_dtype), sess)


def freeze_one_input(tf, out_dir, name, build, shape, feed, seed, dtype="float32"):
    """y = build(tf, x) on one placeholder ``x`` (variables seeded), run by TF on ``feed`` and frozen
    to ``out_dir/name.pb``: (pb path, TF's y)."""
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.set_random_seed(seed)
        x = tf.compat.v1.placeholder(getattr(tf, dtype), shape, name="x")
        y = tf.identity(build(tf, x), name="y")
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            want = sess.run(y, {x: feed})
            gd = _freeze_session(tf, sess, ["y"])
    pb = os.path.join(str(out_dir), f"{name}.pb")
    with open(pb, "wb") as f:
        f.write(gd.SerializeToString())
    return pb, want


def freeze_function(tf, path, fn, feeds):
    """Freeze ``fn(*inputs)`` the way users do: a ``tf.function`` traced on ``feeds``' shapes and dtypes
    (input names = ``feeds``' keys) and ``convert_variables_to_constants_v2`` with its defaults.

    Writes the GraphDef to ``path``; returns ``{output node name: TF's eager result on feeds}``
    (a dict result keeps its keys' order in the output names ``Identity``, ``Identity_1``...)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec(np.shape(v), tf.as_dtype(np.asarray(v).dtype), name=k) for k, v in feeds.items()]
    concrete = tf.function(fn).get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete)
    with open(path, "wb") as f:
        f.write(frozen.graph.as_graph_def().SerializeToString())
    results = tf.nest.flatten(concrete(*[tf.constant(v) for v in feeds.values()]))
    names = [t.op.name for t in frozen.outputs]
    return {n: np.asarray(r) for n, r in zip(names, results)}


def _freeze_session(tf, sess, output_names):
    return tf.compat.v1.graph_util.convert_variables_to_constants(
        sess, sess.graph.as_graph_def(), list(output_names)
    )


def _save(tf, graph_def, out_dir, name, pbtxt=True):
    pb_path = os.path.join(out_dir, name + ".pb")
    with open(pb_path, "wb") as f:
        f.write(graph_def.SerializeToString())
    pbtxt_path = write_pbtxt(tf, graph_def, os.path.join(out_dir, name + ".pbtxt")) if pbtxt else None
    return pb_path, pbtxt_path


def _tf1_model(tf, sess, out_dir, name, feeds, outputs, control_flow, meta, pbtxt=True):
    """Run a live TF1 session on ``feeds`` (placeholder tensors -> arrays), freeze and save.

    ``outputs`` maps output node names to the tensors to fetch.
    """
    fetched = sess.run(list(outputs.values()), {t: v for t, v in feeds.items()})
    expected = {n: np.asarray(v) for n, v in zip(outputs, fetched)}
    frozen = _freeze_session(tf, sess, list(outputs))
    pb_path, pbtxt_path = _save(tf, frozen, out_dir, name, pbtxt)
    return TFModel(
        name=name,
        pb_path=pb_path,
        pbtxt_path=pbtxt_path,
        inputs={t.op.name: np.asarray(v) for t, v in feeds.items()},
        input_names=[t.op.name for t in feeds],
        output_names=list(outputs),
        expected=expected,
        control_flow=control_flow,
        meta=dict(meta),
    )


def _timed(build):
    """Run ``build()`` and store its wall time in each returned model's ``meta``."""
    start = time.perf_counter()
    with warnings.catch_warnings():  # the TF1 cells' deprecation notices are expected here
        warnings.filterwarnings("ignore", message=r".*is deprecated", category=UserWarning)
        result = build()
    seconds = round(time.perf_counter() - start, 2)
    models = result.values() if isinstance(result, dict) else result if isinstance(result, tuple) else [result]
    for model in models:
        if model is not None:
            model.meta.setdefault("build_seconds", seconds)
    return result


# -- 1. the seed's language model ---------------------------------------------------------------


def build_seed_lm(tf, out_dir, form):
    """The seed's training graph (inputids [BATCH, None] -> embedding -> 2 LSTMCell dynamic_rnn ->
    reshape -> matmul + bias -> softmax "probs") and its hand-split single-step graphs sharing
    the same variables. Returns ``(full, step, step_dynamic)``.

    ``step`` feeds ``prod_inputids`` of shape [1] (batch 1 everywhere: all shapes static);
    ``step_dynamic`` feeds ``prod_inputids`` of shape [None] exactly as the seed writes it.
    Both take explicit per-layer state placeholders ``state_{i}_c``/``state_{i}_h`` [1, HID]
    and output ``prod_probs`` [1, VOCAB] plus ``prod_state_{i}_c``/``prod_state_{i}_h``
    (``dyn_``-prefixed names in ``step_dynamic``). The step graphs are built only for
    ``form="v1"`` (``None`` for v2): under v2 control flow a legacy cell called again after
    dynamic_rnn re-enters the while body's FuncGraph, so the seed's trick fails there.
    """
    s = SEED_LM_SIZES
    batch, vocab, emb_dim, hid, layers, seq_len = (
        s["batch"], s["vocab"], s["emb"], s["hid"], s["layers"], s["seq_len"]
    )
    rng = np.random.default_rng(SEED)
    rnn = tf.compat.v1.nn.rnn_cell
    graph = tf.Graph()
    with graph.as_default(), _control_flow(tf, form):
        tf.compat.v1.set_random_seed(SEED)
        # -- training graph, as the seed writes it
        ids = tf.compat.v1.placeholder(tf.int32, [batch, None], name="inputids")
        embedding = tf.compat.v1.get_variable("embedding", [vocab, emb_dim], dtype=tf.float32)
        embs = tf.nn.embedding_lookup(embedding, ids)
        cells = rnn.MultiRNNCell([rnn.LSTMCell(hid) for _ in range(layers)])
        output, _state = tf.compat.v1.nn.dynamic_rnn(cells, embs, dtype=tf.float32)
        flat = tf.reshape(output, [-1, hid])
        softmax_w = tf.compat.v1.get_variable("softmax_w", [hid, vocab], dtype=tf.float32)
        softmax_b = tf.compat.v1.get_variable("softmax_b", [vocab], dtype=tf.float32)
        probs = tf.nn.softmax(tf.matmul(flat, softmax_w) + softmax_b, name="probs")
        n_vars = len(tf.compat.v1.global_variables())

        # -- hand-split single-step graphs: the cell is callable, variables are reused
        def step_graph(prefix, ids_shape):
            prod_ids = tf.compat.v1.placeholder(tf.int32, ids_shape, name=prefix + "prod_inputids")
            state_in = tuple(
                rnn.LSTMStateTuple(
                    tf.compat.v1.placeholder(tf.float32, [1, hid], name=f"{prefix}state_{i}_c"),
                    tf.compat.v1.placeholder(tf.float32, [1, hid], name=f"{prefix}state_{i}_h"),
                )
                for i in range(layers)
            )
            prod_embs = tf.nn.embedding_lookup(embedding, prod_ids)
            prod_output, prod_state = cells(prod_embs, state_in)
            outs = {
                prefix + "prod_probs": tf.nn.softmax(
                    tf.matmul(prod_output, softmax_w) + softmax_b, name=prefix + "prod_probs"
                )
            }
            for i, layer_state in enumerate(prod_state):
                for part, tensor in (("c", layer_state.c), ("h", layer_state.h)):
                    name = f"{prefix}prod_state_{i}_{part}"
                    outs[name] = tf.identity(tensor, name=name)
            return prod_ids, state_in, outs

        with_step = form == "v1"
        step_parts = step_graph("", [1]) if with_step else None
        dyn_parts = step_graph("dyn_", [None]) if with_step else None
        if len(tf.compat.v1.global_variables()) != n_vars:
            raise AssertionError("the single-step graph created new variables instead of sharing them")

        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            _randomize_variables(tf, sess, rng)
            variables = {v.op.name: sess.run(v) for v in tf.compat.v1.global_variables()}
            ids_value = rng.integers(0, vocab, size=(batch, seq_len)).astype(np.int32)
            meta = {
                "sizes": dict(s),
                "variables": variables,
                "cells": cells,
                "graph": graph,
                "form_note": "training graph as the seed writes it; probs rows are batch-major (b * T + t)",
            }
            full = _tf1_model(
                tf, sess, out_dir, f"seed_lm_{form}", {ids: ids_value}, {"probs": probs}, form, meta
            )

            def step_model(name, parts, prefix):
                prod_ids, state_in, outs = parts
                feeds = {prod_ids: ids_value[0, :1]}
                for layer_state in state_in:  # a non-zero state: zero state would hide h-weight bugs
                    feeds[layer_state.c] = rng.normal(0, 0.5, size=(1, hid)).astype(np.float32)
                    feeds[layer_state.h] = rng.normal(0, 0.5, size=(1, hid)).astype(np.float32)
                step_meta = dict(
                    meta,
                    ids_name=prefix + "prod_inputids",
                    probs_name=prefix + "prod_probs",
                    state_names=[(f"{prefix}state_{i}_c", f"{prefix}state_{i}_h") for i in range(layers)],
                    new_state_names=[
                        (f"{prefix}prod_state_{i}_c", f"{prefix}prod_state_{i}_h") for i in range(layers)
                    ],
                    ids_shape=[1] if prefix == "" else [None],
                )
                return _tf1_model(tf, sess, out_dir, name, feeds, outs, None, step_meta)

            if not with_step:
                return full, None, None
            step = step_model("seed_lm_step", step_parts, "")
            step_dynamic = step_model("seed_lm_step_dynamic", dyn_parts, "dyn_")
    return full, step, step_dynamic


# -- 2. TF1 RNN cells under dynamic_rnn ---------------------------------------------------------

RNN_SIZES = {"batch": 2, "time": 4, "feat": 3, "hid": 5, "proj": 3}
RNN_VARIANTS = (
    "gru",
    "basic_rnn",
    "lstm_peephole_proj",
    "stacked_basic_lstm",
    "time_major",
    "sequence_length",
    "final_state",
)


def _build_one_rnn(tf, out_dir, form, variant, rng, dynamic_time=False):
    s = RNN_SIZES
    rnn = tf.compat.v1.nn.rnn_cell
    graph = tf.Graph()
    with graph.as_default(), _control_flow(tf, form):
        tf.compat.v1.set_random_seed(SEED)
        time_major = variant == "time_major"
        shape = [s["time"], s["batch"], s["feat"]] if time_major else [s["batch"], s["time"], s["feat"]]
        placeholder_shape = list(shape)
        if dynamic_time:
            placeholder_shape[0 if time_major else 1] = None
        x = tf.compat.v1.placeholder(tf.float32, placeholder_shape, name="inputs")
        feeds = {x: rng.normal(0, 1, size=shape).astype(np.float32)}
        if variant == "gru":
            cell = rnn.GRUCell(s["hid"])
        elif variant == "basic_rnn":
            cell = rnn.BasicRNNCell(s["hid"])
        elif variant == "lstm_peephole_proj":
            cell = rnn.LSTMCell(s["hid"], use_peepholes=True, num_proj=s["proj"])
        elif variant == "stacked_basic_lstm":
            cell = rnn.MultiRNNCell([rnn.BasicLSTMCell(s["hid"]) for _ in range(3)])
        else:
            cell = rnn.LSTMCell(s["hid"])
        kwargs = {"dtype": tf.float32, "time_major": time_major}
        if variant == "sequence_length":
            seq = tf.compat.v1.placeholder(tf.int32, [s["batch"]], name="sequence_length")
            feeds[seq] = np.array([s["time"], s["time"] - 2], np.int32)
            kwargs["sequence_length"] = seq
        output, state = tf.compat.v1.nn.dynamic_rnn(cell, x, **kwargs)
        outputs = {"output": tf.identity(output, name="output")}
        if variant == "final_state":
            outputs["final_c"] = tf.identity(state.c, name="final_c")
            outputs["final_h"] = tf.identity(state.h, name="final_h")
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            _randomize_variables(tf, sess, rng, scale=0.5)
            meta = {"sizes": dict(s), "variant": variant, "time_major": time_major, "dynamic_time": dynamic_time}
            name = f"rnn_{variant}_{form}" + ("_dyn" if dynamic_time else "")
            return _tf1_model(tf, sess, out_dir, name, feeds, outputs, form, meta)


def build_rnn_cells(tf, out_dir, form, dynamic_time=False):
    """One dynamic_rnn graph per variant in :data:`RNN_VARIANTS`: {variant: TFModel}.

    All inputs are static ([batch, time, feat], or [time, batch, feat] when time-major);
    with ``dynamic_time`` the time axis is None (names end in ``_dyn``; fed at time 4, and
    ``run_tf_graphdef`` runs the frozen graph at any length). Every graph outputs ``output``;
    ``final_state`` also outputs ``final_c``/``final_h``; ``sequence_length`` feeds lengths
    [4, 2] so the second row is padded.
    """
    rng = np.random.default_rng(SEED)
    return {v: _timed(lambda v=v: _build_one_rnn(tf, out_dir, form, v, rng, dynamic_time)) for v in RNN_VARIANTS}


# -- 3./4. Keras models frozen the TF2 way ------------------------------------------------------


def _freeze_tf2(tf, out_dir, name, fn, feeds_in_order, control_flow, meta, pbtxt=True):
    """Freeze a tf.function's concrete function (convert_variables_to_constants_v2), keeping
    v2 control flow (lower_control_flow=False), and record TF's eager result as expected."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    concrete = fn.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False)
    graph_def = frozen.graph.as_graph_def()
    input_names = [t.op.name for t in frozen.inputs]
    output_names = [t.op.name for t in frozen.outputs]
    if any(t.value_index != 0 for t in frozen.outputs):
        raise AssertionError(f"{name}: a frozen output is not output 0 of its node")
    results = concrete(*[tf.constant(v) for v in feeds_in_order])
    if isinstance(results, dict):  # flattened in sorted-key order, like frozen.outputs
        meta = dict(meta, output_aliases=dict(zip(sorted(results), output_names)))
    results = tf.nest.flatten(results)
    pb_path, pbtxt_path = _save(tf, graph_def, out_dir, name, pbtxt)
    return TFModel(
        name=name,
        pb_path=pb_path,
        pbtxt_path=pbtxt_path,
        inputs=dict(zip(input_names, feeds_in_order)),
        input_names=input_names,
        output_names=output_names,
        expected={n: np.asarray(r) for n, r in zip(output_names, results)},
        control_flow=control_flow,
        meta=dict(meta),
    )


KERAS_RNN_SIZES = {"batch": 2, "time": 4, "feat": 3, "hid": 5}


def build_keras_rnn(tf, out_dir, kind):
    """A tf_keras LSTM or GRU layer (return_sequences=True) in a tf.function with a fixed
    [batch, time, feat] signature, frozen the TF2 way with its StatelessWhile kept."""
    s = KERAS_RNN_SIZES
    tf.keras.utils.set_random_seed(SEED)
    layer_cls = {"lstm": tf.keras.layers.LSTM, "gru": tf.keras.layers.GRU}[kind]
    layer = layer_cls(s["hid"], return_sequences=True)
    shape = [s["batch"], s["time"], s["feat"]]
    layer(tf.zeros(shape))  # builds the weights
    rng = np.random.default_rng(SEED)
    layer.set_weights([rng.normal(0, 0.5, size=w.shape).astype(np.float32) for w in layer.get_weights()])

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="inputs")])
    def forward(inputs):
        return layer(inputs)

    x = rng.normal(0, 1, size=shape).astype(np.float32)
    meta = {"sizes": dict(s), "kind": kind, "frozen_with": "convert_variables_to_constants_v2(lower_control_flow=False)"}
    return _freeze_tf2(tf, out_dir, f"keras_{kind}_v2", forward, [x], "v2", meta)


def _randomize_batchnorm(tf, model, rng):
    """Non-trivial BN statistics (defaults are mean 0 / var 1, which would hide folding bugs)."""
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                rng.normal(0, 0.1, beta.shape).astype(np.float32),
                rng.normal(0, 0.1, mean.shape).astype(np.float32),
                rng.uniform(0.5, 1.5, var.shape).astype(np.float32),
            ])


def build_keras_cnn(tf, out_dir, arch):
    """A tf.keras.applications CNN (weights=None, random BN statistics) frozen the TF2 way.

    Outputs logits (classifier_activation=None) and probs (their softmax); the frozen node
    names are ``meta["output_aliases"]`` = {"logits": "Identity", "probs": "Identity_1"}.
    With random weights the softmax is nearly uniform, so compare logits first.
    """
    size = CNN_INPUT_SIZES[arch]
    apps = tf.keras.applications
    ctor = {"mobilenet_v2": apps.MobileNetV2, "resnet50": apps.ResNet50, "efficientnet_b0": apps.EfficientNetB0}[arch]
    tf.keras.utils.set_random_seed(SEED)
    tf.keras.backend.clear_session()
    model = ctor(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    rng = np.random.default_rng(SEED)
    _randomize_batchnorm(tf, model, rng)

    @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="images")])
    def forward(images):
        logits = model(images, training=False)
        return {"logits": tf.identity(logits, name="logits"), "probs": tf.nn.softmax(logits, axis=-1)}

    x = rng.uniform(0, 255 if arch == "efficientnet_b0" else 1, size=(1, size, size, 3)).astype(np.float32)
    meta = {"arch": arch, "input_size": size, "weights": "random (weights=None), BN stats randomized"}
    return _freeze_tf2(tf, out_dir, f"keras_{arch}", forward, [x], None, meta, pbtxt=False)


DYNAMIC_CNN_SIZES = {"batch": 2, "side": 12, "channels": 3, "classes": 10}


def build_dynamic_batch_cnn(tf, out_dir):
    """A small CNN (conv + batch norm + relu, max pool, conv + relu, Flatten, Dense, softmax) in a
    tf.function whose signature is [None, 12, 12, 3], frozen with convert_variables_to_constants_v2
    and its defaults: the batch stays unknown, and Flatten computes its target shape at run time
    (Shape, StridedSlice, Pack, Reshape). Fed at batch 2; run_tf_graphdef runs any batch."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    s = DYNAMIC_CNN_SIZES
    tf.keras.utils.set_random_seed(SEED)
    layers = tf.keras.layers
    model = tf.keras.Sequential([
        layers.Conv2D(8, 3, padding="same", input_shape=(s["side"], s["side"], s["channels"])),
        layers.BatchNormalization(), layers.ReLU(), layers.MaxPooling2D(2),
        layers.Conv2D(16, 3, activation="relu"), layers.Flatten(), layers.Dense(s["classes"]),
    ])
    rng = np.random.default_rng(SEED)
    _randomize_batchnorm(tf, model, rng)

    @tf.function(input_signature=[tf.TensorSpec([None, s["side"], s["side"], s["channels"]], tf.float32, name="images")])
    def forward(images):
        return tf.nn.softmax(model(images, training=False))

    concrete = forward.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    x = rng.uniform(-1, 1, size=(s["batch"], s["side"], s["side"], s["channels"])).astype(np.float32)
    pb_path, pbtxt_path = _save(tf, frozen.graph.as_graph_def(), out_dir, "dynamic_batch_cnn")
    output_names = [t.op.name for t in frozen.outputs]
    return TFModel(
        name="dynamic_batch_cnn", pb_path=pb_path, pbtxt_path=pbtxt_path,
        inputs={"images": x}, input_names=[t.op.name for t in frozen.inputs], output_names=output_names,
        expected={output_names[0]: np.asarray(concrete(tf.constant(x)))}, control_flow=None,
        meta={"sizes": dict(s), "frozen_with": "convert_variables_to_constants_v2 (defaults)"},
    )


# -- 5. tiny TF1 graphs -------------------------------------------------------------------------


def _small_mlp(tf, rng):
    x = tf.compat.v1.placeholder(tf.float32, [2, 8], name="x")
    w1 = tf.compat.v1.get_variable("w1", [8, 16])
    b1 = tf.compat.v1.get_variable("b1", [16])
    w2 = tf.compat.v1.get_variable("w2", [16, 4])
    b2 = tf.compat.v1.get_variable("b2", [4])
    hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
    y = tf.tanh(tf.matmul(hidden, w2) + b2, name="y")
    return {x: rng.normal(0, 1, (2, 8)).astype(np.float32)}, {"y": y}, None


def _small_conv_bn_relu6(tf, rng):
    x = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3], name="x")
    kernel = tf.compat.v1.get_variable("kernel", [3, 3, 3, 4])
    bias = tf.compat.v1.get_variable("bias", [4])
    conv = tf.nn.bias_add(tf.nn.conv2d(x, kernel, strides=1, padding="SAME"), bias)
    gamma = tf.compat.v1.get_variable("gamma", [4])
    beta = tf.compat.v1.get_variable("beta", [4])
    mean = tf.constant(rng.normal(0, 0.2, 4).astype(np.float32), name="moving_mean")
    variance = tf.constant(rng.uniform(0.5, 1.5, 4).astype(np.float32), name="moving_variance")
    normed, _, _ = tf.compat.v1.nn.fused_batch_norm(
        conv, gamma, beta, mean=mean, variance=variance, is_training=False
    )
    y = tf.nn.relu6(normed, name="y")
    return {x: rng.normal(0, 1, (1, 8, 8, 3)).astype(np.float32)}, {"y": y}, None


def _small_cond(tf, rng, form):
    x = tf.compat.v1.placeholder(tf.float32, [3], name="x")
    pred = tf.compat.v1.placeholder(tf.bool, [], name="pred")
    y = tf.compat.v1.cond(pred, lambda: x * 2.0 + 1.0, lambda: tf.square(x) - 1.0)
    y = tf.identity(y, name="y")
    return {x: rng.normal(0, 1, (3,)).astype(np.float32), pred: np.array(True)}, {"y": y}, form


def _small_while_sum(tf, rng, form):
    x = tf.compat.v1.placeholder(tf.float32, [3], name="x")
    n = tf.compat.v1.placeholder(tf.int32, [], name="n")
    _, total = tf.compat.v1.while_loop(
        lambda i, acc: i < n,
        lambda i, acc: (i + 1, acc + x * tf.cast(i, tf.float32)),
        [tf.constant(0), tf.zeros([3])],
    )
    total = tf.identity(total, name="total")
    return {x: rng.normal(0, 1, (3,)).astype(np.float32), n: np.array(4, np.int32)}, {"total": total}, form


SMALL_GRAPHS = {
    "mlp": (_small_mlp, None),
    "conv_bn_relu6": (_small_conv_bn_relu6, None),
    "cond_v1": (_small_cond, "v1"),
    "cond_v2": (_small_cond, "v2"),
    "while_sum_v1": (_small_while_sum, "v1"),
    "while_sum_v2": (_small_while_sum, "v2"),
}


def build_small_graphs(tf, out_dir):
    """Tiny TF1 graphs: {name: TFModel} for the names in :data:`SMALL_GRAPHS`.

    cond_*: y = pred ? 2x+1 : x^2-1 (fed pred=True); while_sum_*: total = sum_{i<n} x*i (n=4).
    """
    rng = np.random.default_rng(SEED)
    models = {}
    for name, (build, form) in SMALL_GRAPHS.items():
        def one(name=name, build=build, form=form):
            graph = tf.Graph()
            with graph.as_default(), _control_flow(tf, form):
                tf.compat.v1.set_random_seed(SEED)
                feeds, outputs, cf = build(tf, rng, form) if form else build(tf, rng)
                with tf.compat.v1.Session(graph=graph) as sess:
                    sess.run(tf.compat.v1.global_variables_initializer())
                    _randomize_variables(tf, sess, rng, scale=0.5)
                    return _tf1_model(tf, sess, out_dir, f"small_{name}", feeds, outputs, cf, {})
        models[name] = _timed(one)
    return models


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tf_models_dir(tmp_path_factory):
    """Where the zoo writes its .pb/.pbtxt files (one dir per test session)."""
    return str(tmp_path_factory.mktemp("tf_models"))


@pytest.fixture(scope="session")
def seed_lm_v1_models(tf, tf_models_dir):
    """(seed_lm_v1, seed_lm_step, seed_lm_step_dynamic): built together, sharing variables."""
    return _timed(lambda: build_seed_lm(tf, tf_models_dir, "v1"))


@pytest.fixture(scope="session")
def seed_lm_v1(seed_lm_v1_models):
    """The seed's dynamic_rnn language model, TF1 control flow (Enter/TensorArrayV3)."""
    return seed_lm_v1_models[0]


@pytest.fixture(scope="session")
def seed_lm_v2(tf, tf_models_dir):
    """The seed's dynamic_rnn language model, TF2 control flow (StatelessWhile + functions)."""
    return _timed(lambda: build_seed_lm(tf, tf_models_dir, "v2"))[0]


@pytest.fixture(scope="session", params=["v1", "v2"])
def seed_lm(request):
    """``seed_lm_v1`` and ``seed_lm_v2`` in turn."""
    return request.getfixturevalue(f"seed_lm_{request.param}")


@pytest.fixture(scope="session")
def seed_lm_step(seed_lm_v1_models):
    """The seed's hand-split single step (ids [1], state [1, HID]) sharing seed_lm_v1's variables."""
    return seed_lm_v1_models[1]


@pytest.fixture(scope="session")
def seed_lm_step_dynamic(seed_lm_v1_models):
    """As ``seed_lm_step`` but ids placeholder shape [None], exactly as the seed writes it."""
    return seed_lm_v1_models[2]


@pytest.fixture(scope="session")
def rnn_cells_v1(tf, tf_models_dir):
    """{variant: TFModel} of TF1 RNN cells under dynamic_rnn, TF1 control flow."""
    return _timed(lambda: build_rnn_cells(tf, tf_models_dir, "v1"))


@pytest.fixture(scope="session")
def rnn_cells_v2(tf, tf_models_dir):
    """{variant: TFModel} of TF1 RNN cells under dynamic_rnn, TF2 control flow."""
    return _timed(lambda: build_rnn_cells(tf, tf_models_dir, "v2"))


@pytest.fixture(scope="session", params=["v1", "v2"])
def rnn_cells(request):
    """``rnn_cells_v1`` and ``rnn_cells_v2`` in turn."""
    return request.getfixturevalue(f"rnn_cells_{request.param}")


@pytest.fixture(scope="session")
def rnn_cells_dyn_v1(tf, tf_models_dir):
    """``rnn_cells_v1`` with the time axis None (``rnn_<variant>_v1_dyn``)."""
    return _timed(lambda: build_rnn_cells(tf, tf_models_dir, "v1", dynamic_time=True))


@pytest.fixture(scope="session")
def rnn_cells_dyn_v2(tf, tf_models_dir):
    """``rnn_cells_v2`` with the time axis None (``rnn_<variant>_v2_dyn``)."""
    return _timed(lambda: build_rnn_cells(tf, tf_models_dir, "v2", dynamic_time=True))


@pytest.fixture(scope="session")
def dynamic_batch_cnn(tf, tf_models_dir):
    """A small CNN over [None, 12, 12, 3], frozen with convert_variables_to_constants_v2 defaults."""
    return _timed(lambda: build_dynamic_batch_cnn(tf, tf_models_dir))


@pytest.fixture(scope="session")
def keras_lstm_v2(tf, tf_models_dir):
    """tf_keras LSTM(return_sequences=True) frozen with convert_variables_to_constants_v2."""
    return _timed(lambda: build_keras_rnn(tf, tf_models_dir, "lstm"))


@pytest.fixture(scope="session")
def keras_gru_v2(tf, tf_models_dir):
    """tf_keras GRU(return_sequences=True) frozen with convert_variables_to_constants_v2."""
    return _timed(lambda: build_keras_rnn(tf, tf_models_dir, "gru"))


@pytest.fixture(scope="session")
def keras_mobilenet_v2(tf, tf_models_dir):
    """MobileNetV2 (weights=None) at 224x224, frozen the TF2 way."""
    return _timed(lambda: build_keras_cnn(tf, tf_models_dir, "mobilenet_v2"))


@pytest.fixture(scope="session")
def keras_resnet50(tf, tf_models_dir):
    """ResNet50 (weights=None), frozen the TF2 way; input size in CNN_INPUT_SIZES."""
    return _timed(lambda: build_keras_cnn(tf, tf_models_dir, "resnet50"))


@pytest.fixture(scope="session")
def keras_efficientnet_b0(tf, tf_models_dir):
    """EfficientNetB0 (weights=None), frozen the TF2 way; input size in CNN_INPUT_SIZES."""
    return _timed(lambda: build_keras_cnn(tf, tf_models_dir, "efficientnet_b0"))


@pytest.fixture(
    scope="session",
    params=[
        "mobilenet_v2",
        pytest.param("resnet50", marks=pytest.mark.slow),
        pytest.param("efficientnet_b0", marks=pytest.mark.slow),
    ],
)
def keras_cnns(request):
    """Each Keras application CNN in turn (each built only when first requested);
    ResNet50 and EfficientNetB0 are marked ``slow`` (deselect with ``-m "not slow"``)."""
    return request.getfixturevalue(f"keras_{request.param}")


@pytest.fixture(scope="session")
def small_graphs(tf, tf_models_dir):
    """{name: TFModel}: mlp, conv_bn_relu6, cond_v1, cond_v2, while_sum_v1, while_sum_v2."""
    return _timed(lambda: build_small_graphs(tf, tf_models_dir))
