"""Quantization on many small models, not one: litesmith int8 / int16x8 / dynamic vs TF's converter.

    .venv/bin/python benchmarks/quant_zoo.py [--only NAME ...] [--steps 600] [--images 500] [--json OUT.json]
    .venv/bin/python benchmarks/quant_zoo.py --merge A.json B.json     # one table from runs split over processes
    .venv/bin/python benchmarks/quant_zoo.py --max-drop 1 --only NAME ...   # adds "litesmith int8 max-drop 1" (LMs)
    .venv/bin/python benchmarks/quant_zoo.py --max-drop 1 --calibration-text train --budget-only   # the old calibration

Trains (cached under benchmarks/.cache/quant_zoo, keyed by the spec and the text) eight LMs that differ
in cell (LSTM, GRU), hidden size (64/128/256), vocabulary (1k-5k), layers (1, 2), training length (short,
long) and text (Python's stdlib docstrings; the METADATA and license files of the installed packages),
and two small CNNs trained to classify synthetic patterns (their outputs depend on the input).

Every LM is the seed's hand-split single-step graph (``prod_inputids`` [1] and the state in, ``prod_probs``
and the new state out), frozen once; both converters get that same .pb. litesmith is told the state pairs
(``add_state``, as the demo's step route does), so its calibration threads the state and its recurrent-LM
rules apply; TF's converter gets, as its representative dataset, the same calibration windows with the
state of TF's float model at each step. Calibration (and so the accuracy budget's measurement): 32 windows
x 16 steps (512 steps) of validation text: the held-out text after the ``--steps`` evaluated tokens, which
neither training nor the evaluation sees (``--calibration-text train``: training text, as before).
Evaluation: ``--steps`` tokens from the start of the held-out text as one sequence, each model threading its
own state; the reference is TF's float step graph on the same tokens (threading its own state). CNNs:
calibration 64 images, evaluation 500 others.

Columns: top-1 agreement with float, top-5 overlap (mean fraction of float's top-5 in the model's top-5),
KL(float || model) of the output distribution (mean, nats), size / float .tflite (litesmith's float
file), LiteRT latency / float (median per step, one thread, all models of a row interleaved step by step).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _common  # noqa: E402,F401  (TF environment variables before any TensorFlow import)

CACHE = os.path.join(HERE, ".cache", "quant_zoo")
CAL_SEQUENCES, CAL_STEPS = 32, 16
ZOO_VERSION = "quant-zoo-v1"


@dataclasses.dataclass(frozen=True)
class LMSpec:
    name: str
    cell: str  # lstm | gru
    hidden: int
    layers: int
    vocab: int  # words besides <unk>/<eos>
    steps: int  # training steps (batch 32 x 20 tokens)
    text: str  # stdlib | packages
    embedding: int = 64
    learning_rate: float = 0.01


LMS = [  # short: 120 training steps, long: 400 (300 at hidden 256); each trains in well under a minute
    LMSpec("lstm64x1-v1k-stdlib-short", "lstm", 64, 1, 1000, 120, "stdlib"),
    LMSpec("lstm128x2-v2k-packages-long", "lstm", 128, 2, 2000, 400, "packages"),
    LMSpec("lstm256x1-v5k-stdlib-long", "lstm", 256, 1, 5000, 300, "stdlib", 128, 0.005),
    LMSpec("lstm128x2-v2k-stdlib-long", "lstm", 128, 2, 2000, 400, "stdlib"),
    LMSpec("gru64x2-v1k-packages-short", "gru", 64, 2, 1000, 120, "packages"),
    LMSpec("gru128x1-v3k-stdlib-long", "gru", 128, 1, 3000, 400, "stdlib"),
    LMSpec("gru256x2-v2k-packages-short", "gru", 256, 2, 2000, 120, "packages", 128, 0.005),
    LMSpec("gru128x2-v5k-packages-long", "gru", 128, 2, 5000, 400, "packages"),
]
CNNS = ["cnn-plain", "cnn-separable"]
VARIANTS = ("litesmith int8", "litesmith int16x8", "litesmith dynamic", "TF int8", "TF dynamic")
BUDGET = "litesmith int8 max-drop"  # with --max-drop X: the accuracy budget's choice (LMs only)


# -- text ----------------------------------------------------------------------------------------------


def package_texts():
    """METADATA descriptions and license files of the installed distributions, sorted by name."""
    dists = sorted(importlib.metadata.distributions(), key=lambda d: (d.metadata["Name"] or "").lower())
    for dist in dists:
        meta = dist.read_text("METADATA") or ""
        body = meta.split("\n\n", 1)[1] if "\n\n" in meta else ""
        if body:
            yield body
        for f in sorted(dist.files or [], key=str):
            if os.path.basename(str(f)).upper().startswith(("LICENSE", "COPYING", "NOTICE")):
                try:
                    with open(dist.locate_file(f), encoding="utf-8", errors="ignore") as text:
                        yield text.read()
                except OSError:
                    continue


def corpus(text: str, vocab: int):
    from litesmith.demo.corpus import Corpus, build_vocab, docstrings, sentences

    docs = docstrings() if text == "stdlib" else package_texts()
    digest = hashlib.sha256(text.encode())
    sents = []
    for doc in docs:
        for s in sentences(doc):
            sents.append(s)
            digest.update(" ".join(s).encode() + b"\n")
    train = [s for i, s in enumerate(sents) if i % 10 != 9]
    heldout = [s for i, s in enumerate(sents) if i % 10 == 9]
    return Corpus(train, heldout, build_vocab(train, vocab), digest.hexdigest()[:16])


# -- LMs -----------------------------------------------------------------------------------------------


def cell_factory(tf, spec):
    rnn = tf.compat.v1.nn.rnn_cell
    make = (lambda: rnn.LSTMCell(spec.hidden)) if spec.cell == "lstm" else (lambda: rnn.GRUCell(spec.hidden))
    return rnn.MultiRNNCell([make() for _ in range(spec.layers)])


def state_names(spec):
    parts = ("c", "h") if spec.cell == "lstm" else ("h",)
    return [(f"state_{p}{i}", f"new_state_{p}{i}") for i in range(spec.layers) for p in parts]


def build_graph(tf, spec, batch):
    """The seed's LM (embedding, MultiRNNCell under dynamic_rnn, logits, softmax) and its step graph."""
    v = spec.vocab + 2
    inputs = tf.compat.v1.placeholder(tf.int32, [batch, None], name="inputids")
    with tf.compat.v1.variable_scope("lm"):
        emb = tf.compat.v1.get_variable("embedding", [v, spec.embedding])
        cells = cell_factory(tf, spec)
        out, _ = tf.compat.v1.nn.dynamic_rnn(cells, tf.nn.embedding_lookup(emb, inputs), dtype=tf.float32)
        w = tf.compat.v1.get_variable("softmax_w", [spec.hidden, v])
        b = tf.compat.v1.get_variable("softmax_b", [v], initializer=tf.compat.v1.zeros_initializer())
        logits = tf.matmul(tf.reshape(out, [-1, spec.hidden]), w) + b
    ids = tf.compat.v1.placeholder(tf.int32, [1], name="prod_inputids")
    flat = [tf.compat.v1.placeholder(tf.float32, [1, spec.hidden], name=n) for n, _ in state_names(spec)]
    if spec.cell == "lstm":
        state = tuple(tf.compat.v1.nn.rnn_cell.LSTMStateTuple(flat[2 * i], flat[2 * i + 1]) for i in range(spec.layers))
    else:
        state = tuple(flat)
    with tf.compat.v1.variable_scope("lm", reuse=True):
        step_out, new_state = cells(tf.nn.embedding_lookup(tf.compat.v1.get_variable("embedding"), ids), state)
        step_logits = tf.matmul(step_out, tf.compat.v1.get_variable("softmax_w")) + tf.compat.v1.get_variable("softmax_b")
    tf.nn.softmax(step_logits, axis=1, name="prod_probs")
    new_flat = [t for s in new_state for t in ((s.c, s.h) if spec.cell == "lstm" else (s,))]
    for (_, out_name), t in zip(state_names(spec), new_flat):
        tf.identity(t, name=out_name)
    return inputs, logits


def train_lm(tf, spec, folder):
    from litesmith.demo.train import _control_flow_v1, batches

    text = corpus(spec.text, spec.vocab)
    train_ids, heldout_ids = text.ids("train"), text.ids("heldout")
    rng = np.random.default_rng(7)
    start = time.time()
    with _control_flow_v1(tf), tf.Graph().as_default() as graph:
        tf.compat.v1.set_random_seed(7)
        inputs, logits = build_graph(tf, spec, 32)
        targets = tf.compat.v1.placeholder(tf.int32, [32, None])
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.reshape(targets, [-1]), logits=logits))
        train = tf.compat.v1.train.AdamOptimizer(spec.learning_rate).minimize(loss)
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=1)
        with tf.compat.v1.Session(graph=graph, config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for _ in range(spec.steps):
                x, y = batches(train_ids, 32, 20, rng)
                value, _ = sess.run([loss, train], {inputs: x, targets: y})
            outputs = ["prod_probs"] + [o for _, o in state_names(spec)]
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), outputs)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "step.pb"), "wb") as f:
        f.write(frozen.SerializeToString())
    np.save(os.path.join(folder, "train_ids.npy"), train_ids)
    np.save(os.path.join(folder, "heldout_ids.npy"), heldout_ids)
    return {"train_seconds": round(time.time() - start, 1), "final_loss": float(value),
            "train_tokens": int(len(train_ids)), "corpus": text.digest}


def cached(name, key, build):
    """``build(folder)`` once per key; returns (folder, info)."""
    folder = os.path.join(CACHE, f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}")
    info_path = os.path.join(folder, "info.json")
    if not os.path.exists(info_path):
        info = build(folder)
        with open(info_path, "w") as f:
            json.dump(info, f, indent=2)
    with open(info_path) as f:
        return folder, json.load(f)


class TFStep:
    """TF's float step graph in one session."""

    def __init__(self, tf, pb, spec):
        graph_def = tf.compat.v1.GraphDef()
        with open(pb, "rb") as f:
            graph_def.ParseFromString(f.read())
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        self.sess = tf.compat.v1.Session(graph=self.graph)
        self.pairs = state_names(spec)
        self.hidden = spec.hidden

    def zero(self):
        return {i: np.zeros((1, self.hidden), np.float32) for i, _ in self.pairs}

    def __call__(self, token, state):
        fetches = ["prod_probs:0"] + [o + ":0" for _, o in self.pairs]
        feed = {"prod_inputids:0": np.array([token], np.int32), **{k + ":0": v for k, v in state.items()}}
        probs, *new = self.sess.run(fetches, feed)
        return probs[0], {i: v for (i, _), v in zip(self.pairs, new)}


class LiteStep:
    """A .tflite step model in LiteRT (one thread), addressed by tensor names."""

    def __init__(self, blob, spec):
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_content=blob, num_threads=1)
        self.interp.allocate_tensors()
        names = {d["name"].split(":")[0]: d for d in self.interp.get_input_details()}
        outs = {d["name"].split(":")[0]: d for d in self.interp.get_output_details()}
        self.pairs = [(names[i]["index"], outs[o]["index"], i) for i, o in state_names(spec)]
        self.ids = names["prod_inputids"]["index"]
        self.probs = outs["prod_probs"]["index"]
        self.hidden = spec.hidden
        self.state = None

    def reset(self):
        self.state = {i: np.zeros((1, self.hidden), np.float32) for i, _, _ in self.pairs}

    def __call__(self, token):
        it = self.interp
        it.set_tensor(self.ids, np.array([token], np.int32))
        for i, _, _ in self.pairs:
            it.set_tensor(i, self.state[i])
        t0 = time.perf_counter()
        it.invoke()
        dt = time.perf_counter() - t0
        self.state = {i: it.get_tensor(o).copy() for i, o, _ in self.pairs}
        return it.get_tensor(self.probs)[0].copy(), dt


def calibration_windows(train_ids, heldout_ids, eval_steps, text="validation"):
    """[32, 16] token windows to calibrate on: from the validation text -- the held-out text after the
    evaluation's first ``eval_steps`` tokens, disjoint from both -- or from the training text. A model
    agrees with its int8 twin more often on text it was trained on, so the budget measured there
    under-reads the drop on new text."""
    if text == "train":
        source = train_ids
    else:
        if eval_steps > len(heldout_ids) // 2:
            raise SystemExit(f"--steps {eval_steps}: leave at least half of the {len(heldout_ids)} held-out tokens "
                             "for validation")
        source = heldout_ids[eval_steps:]
    starts = np.random.default_rng(0).integers(0, len(source) - CAL_STEPS, CAL_SEQUENCES)
    return np.stack([source[s:s + CAL_STEPS] for s in starts]).astype(np.int32)  # [seq, steps]


def lm_rows(tf, spec, eval_steps, max_drop=None, calibration_text="validation", budget_only=False):
    import litesmith
    from litesmith.ir.state import StatePair, add_state

    key = json.dumps(dataclasses.asdict(spec), sort_keys=True) + ZOO_VERSION
    folder, info = cached(spec.name, key, lambda f: train_lm(tf, spec, f))
    pb = os.path.join(folder, "step.pb")
    train_ids = np.load(os.path.join(folder, "train_ids.npy"))
    heldout_ids = np.load(os.path.join(folder, "heldout_ids.npy"))
    heldout = heldout_ids[:eval_steps]
    ref = TFStep(tf, pb, spec)

    windows = calibration_windows(train_ids, heldout_ids, eval_steps, calibration_text)
    samples = []  # TF's representative dataset: per step (ids, states of TF's float model)
    for w in windows:
        state = ref.zero()
        for token in w:
            samples.append([np.array([token], np.int32)] + [state[i] for i, _ in state_names(spec)])
            _, state = ref(int(token), state)

    seconds = {}

    def ours(mode, report=None, **options):
        g = litesmith.load(pb, inputs=["prod_inputids"] + [i for i, _ in state_names(spec)],
                           outputs=["prod_probs"] + [o for _, o in state_names(spec)])
        add_state(g, [StatePair(i, o, (1, spec.hidden)) for i, o in state_names(spec)])
        calib = {"prod_inputids": windows[:, :, None]} if mode in ("int8", "int16x8") else None
        start = time.perf_counter()
        blob = litesmith.compile(g, quantize=mode, calibration=calib, progress=False, report=report, **options)
        seconds[f"{mode} max-drop" if options.get("max_drop") is not None else str(mode)] = round(time.perf_counter() - start, 1)
        return blob

    def theirs(mode):
        names = ["prod_inputids"] + [i for i, _ in state_names(spec)]
        conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
            pb, names, ["prod_probs"] + [o for _, o in state_names(spec)],
            input_shapes={n: [1] if n == "prod_inputids" else [1, spec.hidden] for n in names})
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "int8":
            conv.representative_dataset = lambda: iter(samples)
        return conv.convert()

    if budget_only:  # the budget and the all-int8 model it starts from
        blobs, variants = {"float": ours(None), "litesmith int8": ours("int8")}, ("litesmith int8",)
    else:
        blobs = {"float": ours(None), "litesmith int8": ours("int8"), "litesmith int16x8": ours("int16x8"),
                 "litesmith dynamic": ours("dynamic"), "TF int8": theirs("int8"), "TF dynamic": theirs("dynamic")}
        variants = VARIANTS
    budget = {}
    if max_drop is not None:
        report = {}
        blobs[BUDGET] = ours("int8", report, max_drop=max_drop)
        variants = variants + (BUDGET,)
        b = report["quantization"]["budget"]
        budget = {"budget": {k: b.get(k) for k in ("steps", "int8_drop", "drop", "met", "seconds", "choices")}
                  | {"trials": len(b["trials"]), "calibration_text": calibration_text}}
    models = {k: LiteStep(b, spec) for k, b in blobs.items()}
    for m in models.values():
        m.reset()
    state = ref.zero()
    want, got, times = [], {k: [] for k in models}, {k: [] for k in models}
    for t, token in enumerate(heldout):
        p, state = ref(int(token), state)
        want.append(p)
        order = list(models)
        order = order[t % len(order):] + order[:t % len(order)]  # rotate who goes first
        for k in order:
            q, dt = models[k](int(token))
            got[k].append(q)
            times[k].append(dt)
    want = np.array(want)
    rows = []
    for k in variants:
        rows.append(dict(model=spec.name, variant=k if k != BUDGET else f"{BUDGET} {max_drop:g}", **agreement(want, np.array(got[k])),
                         size=len(blobs[k]) / len(blobs["float"]),
                         latency=float(np.median(times[k]) / np.median(times["float"]))))
    float_check = float(np.abs(np.array(got["float"]) - want).max())
    return rows, {**info, "float_tflite_vs_tf_max_abs": float_check, "float_bytes": len(blobs["float"]),
                  "compile_seconds": seconds, **budget}


def agreement(want, got):
    top1 = float(np.mean(np.argmax(want, 1) == np.argmax(got, 1)))
    k = min(5, want.shape[1])
    tw, tg = np.argsort(-want, 1)[:, :k], np.argsort(-got, 1)[:, :k]
    top5 = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(tw, tg)]))
    p, q = np.clip(want, 1e-12, 1), np.clip(got, 1e-12, 1)
    kl = float(np.mean(np.sum(p * (np.log(p) - np.log(q)), 1)))
    return {"top1": top1, "top5": top5, "kl": kl}


# -- CNNs ----------------------------------------------------------------------------------------------


def pattern_images(n, seed):
    """[n, 32, 32, 3] in [-1, 1] and labels 0..9: gratings at 5 angles x 2 colour pairs, random phase,
    frequency and noise (the class decides the picture, so a trained model's output depends on it)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    colours = np.array([[1, 0.2, -0.5], [-0.4, 0.6, 1.0]], np.float32)
    out = np.empty((n, 32, 32, 3), np.float32)
    for i, c in enumerate(labels):
        angle = np.pi * (c % 5) / 5 + rng.normal(0, 0.08)
        freq = rng.uniform(0.25, 0.6)
        wave = np.sin(freq * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 2 * np.pi))
        out[i] = wave[..., None] * colours[c // 5] + rng.normal(0, 0.35, (32, 32, 3))
    return np.clip(out, -1, 1), labels


def cnn_layers(tf, name):
    L = tf.keras.layers
    if name == "cnn-plain":
        return [L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                L.Dense(64, activation="relu"), L.Dense(10), L.Softmax()]
    return [L.Conv2D(16, 3, strides=2, padding="same"), L.BatchNormalization(), L.ReLU(6.0),
            L.DepthwiseConv2D(3, padding="same"), L.BatchNormalization(), L.ReLU(6.0),
            L.Conv2D(32, 1), L.BatchNormalization(), L.ReLU(6.0), L.GlobalAveragePooling2D(), L.Dense(10), L.Softmax()]


def train_cnn(tf, name, folder):
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    x, y = pattern_images(3000, 1)
    tf.keras.utils.set_random_seed(3)
    model = tf.keras.Sequential([tf.keras.Input((32, 32, 3))] + cnn_layers(tf, name))
    model.compile(tf.keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.time()
    model.fit(x, y, epochs=4, batch_size=64, verbose=0)
    seconds = time.time() - start
    fn = tf.function(lambda images: model(images, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec([1, 32, 32, 3], tf.float32, "images")))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.pb"), "wb") as f:
        f.write(frozen.graph.as_graph_def().SerializeToString())
    xt, yt = pattern_images(500, 2)
    acc = float(np.mean(np.argmax(model.predict(xt, verbose=0), 1) == yt))
    return {"train_seconds": round(seconds, 1), "heldout_accuracy": acc, "output": frozen.outputs[0].op.name}


def cnn_rows(tf, name, eval_images):
    import litesmith
    from ai_edge_litert.interpreter import Interpreter

    folder, info = cached(name, name + ZOO_VERSION, lambda f: train_cnn(tf, name, f))
    pb, out = os.path.join(folder, "model.pb"), info["output"]
    calib, _ = pattern_images(64, 5)
    test, _ = pattern_images(eval_images, 6)
    graph_def = tf.compat.v1.GraphDef()
    with open(pb, "rb") as f:
        graph_def.ParseFromString(f.read())
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            want = np.concatenate([sess.run(out + ":0", {"images:0": t[None]}) for t in test])

    def ours(mode):
        return litesmith.compile(litesmith.load(pb), quantize=mode, progress=False,
                                 calibration={"images": calib[:, None]} if mode in ("int8", "int16x8") else None)

    def theirs(mode):
        conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(pb, ["images"], [out], {"images": [1, 32, 32, 3]})
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "int8":
            conv.representative_dataset = lambda: ([c[None]] for c in calib)
        return conv.convert()

    blobs = {"float": ours(None), "litesmith int8": ours("int8"), "litesmith int16x8": ours("int16x8"),
             "litesmith dynamic": ours("dynamic"), "TF int8": theirs("int8"), "TF dynamic": theirs("dynamic")}
    interps = {}
    for k, b in blobs.items():
        it = Interpreter(model_content=b, num_threads=1)
        it.allocate_tensors()
        interps[k] = (it, it.get_input_details()[0]["index"], it.get_output_details()[0]["index"])
    got, times = {k: [] for k in blobs}, {k: [] for k in blobs}
    for t, image in enumerate(test):
        order = list(blobs)
        for k in order[t % len(order):] + order[:t % len(order)]:
            it, i, o = interps[k]
            it.set_tensor(i, image[None])
            t0 = time.perf_counter()
            it.invoke()
            times[k].append(time.perf_counter() - t0)
            got[k].append(it.get_tensor(o)[0].copy())
    rows = [dict(model=name, variant=k, **agreement(want, np.array(got[k])), size=len(blobs[k]) / len(blobs["float"]),
                 latency=float(np.median(times[k]) / np.median(times["float"]))) for k in VARIANTS]
    return rows, {**info, "float_tflite_vs_tf_max_abs": float(np.abs(np.array(got["float"]) - want).max()),
                  "float_bytes": len(blobs["float"])}


# -- report --------------------------------------------------------------------------------------------


def markdown(rows, infos):
    lines = ["| model | variant | top-1 | top-5 | KL | size / float | latency / float |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['variant']} | {r['top1']:.3f} | {r['top5']:.3f} | {r['kl']:.4f} | "
                     f"{r['size']:.3f} | {r['latency']:.2f} |")
    lines += ["", "| model | trained in | float .tflite | float .tflite vs TF (max abs) | notes |", "| --- | --- | --- | --- | --- |"]
    for name, info in infos.items():
        note = (f"final loss {info['final_loss']:.2f}, {info['train_tokens']} training tokens" if "final_loss" in info
                else f"held-out accuracy {info['heldout_accuracy']:.3f}")
        lines.append(f"| {name} | {info['train_seconds']} s | {info['float_bytes']} B | "
                     f"{info['float_tflite_vs_tf_max_abs']:.1e} | {note} |")
    return "\n".join(lines + budget_lines(rows, infos))


def budget_lines(rows, infos):
    """The budget's measured drop (calibration steps) against the held-out drop, all-int8 and chosen."""
    top1 = {(r["model"], BUDGET if r["variant"].startswith(BUDGET) else r["variant"]): r["top1"] for r in rows}
    lines = ["", "| model | calibration text | all-int8 drop: budget / held-out | chosen drop: budget / held-out "
             "| met | choices (else int8) | trials | budget time |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, info in infos.items():
        b = info.get("budget")
        if not b:
            continue
        held = [100 * (1 - top1[(name, v)]) for v in ("litesmith int8", BUDGET)]
        choices = ", ".join(f"{k.split('multi_rnn_cell/')[-1]} {v}" for k, v in b["choices"].items() if v != "int8") or "-"
        lines.append(f"| {name} | {b.get('calibration_text', 'train')} | {b['int8_drop']:.2f} / {held[0]:.2f} | "
                     f"{b['drop']:.2f} / {held[1]:.2f} | {b['met']} | {choices} | {b['trials']} | {b['seconds']} s |")
    return lines if len(lines) > 3 else []


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="*", help="model names (default: all)")
    p.add_argument("--steps", type=int, default=600, help="held-out LM steps (default 600)")
    p.add_argument("--images", type=int, default=500, help="held-out CNN images (default 500)")
    p.add_argument("--json", help="write rows and model facts here")
    p.add_argument("--merge", nargs="*", help="print the table of these --json files (runs split over processes)")
    p.add_argument("--max-drop", type=float, help="also litesmith int8 with this accuracy budget (percent; LMs)")
    p.add_argument("--calibration-text", choices=("validation", "train"), default="validation",
                   help="LM calibration windows from the held-out text after the evaluated steps (default) or training text")
    p.add_argument("--budget-only", action="store_true", help="LMs: only litesmith int8 and the budget's model")
    args = p.parse_args(argv)
    if args.merge:
        rows, infos = [], {}
        for path in args.merge:
            with open(path) as f:
                data = json.load(f)
            rows += data["rows"]
            infos.update(data["models"])
        order = [s.name for s in LMS] + CNNS
        rank = {v: i for i, v in enumerate(VARIANTS)}
        rows.sort(key=lambda r: (order.index(r["model"]), rank.get(r["variant"], len(rank))))
        print(markdown(rows, {k: infos[k] for k in order if k in infos}))
        return 0
    from litesmith.demo.train import import_tf

    tf = import_tf()
    tf.get_logger().setLevel("ERROR")
    rows, infos = [], {}
    for spec in LMS:
        if args.only and spec.name not in args.only:
            continue
        print(f"== {spec.name}", file=sys.stderr, flush=True)
        r, infos[spec.name] = lm_rows(tf, spec, args.steps, args.max_drop, args.calibration_text, args.budget_only)
        rows += r
        _save(args.json, rows, infos)
    for name in CNNS:
        if (args.only and name not in args.only) or args.budget_only:
            continue
        print(f"== {name}", file=sys.stderr, flush=True)
        r, infos[name] = cnn_rows(tf, name, args.images)
        rows += r
        _save(args.json, rows, infos)
    print(markdown(rows, infos))
    return 0


def _save(path, rows, infos):
    """After every model, so a long run split over processes loses nothing when stopped."""
    if path:
        with open(path, "w") as f:
            json.dump({"rows": rows, "models": infos}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
