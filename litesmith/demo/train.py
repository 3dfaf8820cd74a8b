"""Train the seed's LSTM language model the TF1 way and freeze it twice.

The graphs are written EXACTLY as the seed's trainer writes them (placeholder
``inputids`` of shape [BATCH, None], ``get_variable`` embedding, MultiRNNCell of
LSTMCells under ``dynamic_rnn``, reshape + matmul + softmax), because those are
the graphs litesmith has to compile. Two frozen GraphDefs come out:

* ``lm.pb``   -- the full-sequence model (TF1 control flow, batch 1): ``inputids`` -> ``probs``.
* ``step.pb`` -- the seed's hand-split single step, sharing the trained
  variables (``reuse=True``): ``prod_inputids`` [1] + state ``c``/``h`` per layer
  -> ``prod_probs`` + new states.

TensorFlow is imported inside functions only: importing this module is cheap.
Artifacts are cached per (config, corpus) hash, so a second run skips training.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional

from litesmith.demo.corpus import CORPUS_VERSION, Corpus, load_corpus
from litesmith.ir.progress import ProgressBar

SCOPE = "my_network"
INPUT_NAME = "inputids"
PROBS_NAME = "probs"
STEP_INPUT_NAME = "prod_inputids"
STEP_PROBS_NAME = "prod_probs"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that changes the trained weights (and so the cache key)."""

    name: str
    vocab_size: int  # words besides <unk>/<eos>
    layers: int
    hidden: int
    embedding: int
    batch: int
    seq_len: int
    steps: int
    learning_rate: float = 0.005
    seed: int = 1234

    def digest(self, corpus_digest: str) -> str:
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True) + CORPUS_VERSION + corpus_digest
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


# The seed's size. 1500 steps of 32 x 20 tokens take a few minutes on two CPU cores.
DEMO_CONFIG = TrainConfig(name="demo", vocab_size=3000, layers=2, hidden=256, embedding=128,
                          batch=32, seq_len=20, steps=1500)
# Small enough to train inside the test suite (well under a minute).
TEST_CONFIG = TrainConfig(name="test", vocab_size=800, layers=2, hidden=64, embedding=32,
                          batch=32, seq_len=10, steps=1200, learning_rate=0.01)
CONFIGS = {c.name: c for c in (DEMO_CONFIG, TEST_CONFIG)}


@dataclasses.dataclass
class Artifacts:
    """Paths of a trained model's files plus what the engine needs to drive ``step.pb``."""

    folder: Path
    config: TrainConfig
    vocab: List[str]
    trained_now: bool  # False when loaded from the cache

    @property
    def lm_pb(self) -> Path:
        return self.folder / "lm.pb"

    @property
    def step_pb(self) -> Path:
        return self.folder / "step.pb"

    @property
    def vocab_json(self) -> Path:
        return self.folder / "vocab.json"

    def state_pairs(self) -> Dict[str, str]:
        """Step-graph state placeholder -> the tensor holding the cell's new state."""
        return {state_input_name(layer, part): state_output_name(layer, part)
                for layer in range(self.config.layers) for part in ("c", "h")}

    def step_inputs(self) -> List[str]:
        return [STEP_INPUT_NAME] + list(self.state_pairs())

    def step_outputs(self) -> List[str]:
        return [STEP_PROBS_NAME] + list(self.state_pairs().values())


def state_input_name(layer: int, part: str) -> str:
    return f"state_{part}{layer}"


def state_output_name(layer: int, part: str) -> str:
    return f"new_state_{part}{layer}"


def default_cache_dir() -> Path:
    """``$LITESMITH_CACHE`` if set, else ``.cache/demo/`` at the repository root."""
    env = os.environ.get("LITESMITH_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".cache" / "demo"


def load_or_train(config: TrainConfig = DEMO_CONFIG, cache_dir: Optional[os.PathLike] = None,
                  retrain: bool = False, progress=sys.stderr) -> Artifacts:
    """Return cached artifacts for ``config`` on this corpus, training (and caching) them if absent."""
    corpus = load_corpus(config.vocab_size)
    key = config.digest(corpus.digest)
    folder = Path(cache_dir or default_cache_dir()) / f"{config.name}-{key}"
    meta_path = folder / "config.json"
    if not retrain and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        files_ok = all((folder / f).exists() for f in ("lm.pb", "step.pb", "vocab.json"))
        if meta.get("hash") == key and files_ok:
            vocab = json.loads((folder / "vocab.json").read_text())
            return Artifacts(folder, config, vocab, trained_now=False)
    folder.mkdir(parents=True, exist_ok=True)
    lm_bytes, step_bytes, stats = train_and_freeze(config, corpus, progress=progress)
    (folder / "lm.pb").write_bytes(lm_bytes)
    (folder / "step.pb").write_bytes(step_bytes)
    (folder / "vocab.json").write_text(json.dumps(corpus.vocab))
    artifacts = Artifacts(folder, config, corpus.vocab, trained_now=True)
    meta = {"hash": key, "corpus_version": CORPUS_VERSION, "corpus_digest": corpus.digest,
            "config": dataclasses.asdict(config), "train": stats,
            "step_inputs": artifacts.step_inputs(), "step_outputs": artifacts.step_outputs(),
            "state_pairs": artifacts.state_pairs()}
    meta_path.write_text(json.dumps(meta, indent=2))  # written last: its presence means "complete"
    return artifacts


def import_tf():
    """TensorFlow with the legacy Keras the TF1 RNN cells need (must be set before the first import)."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def build_lm(tf, config: TrainConfig, batch: int):
    """The seed's training graph, in the current default graph. Returns (inputs, logits, probs, cells)."""
    vocab = config.vocab_size + 2
    inputs = tf.compat.v1.placeholder(tf.int32, [batch, None], name=INPUT_NAME)
    with tf.compat.v1.variable_scope(SCOPE):
        embedding = tf.compat.v1.get_variable("embedding", [vocab, config.embedding], dtype=tf.float32)
        embs = tf.nn.embedding_lookup(embedding, inputs)
        cells = tf.compat.v1.nn.rnn_cell.MultiRNNCell(
            [tf.compat.v1.nn.rnn_cell.LSTMCell(config.hidden) for _ in range(config.layers)])
        output, _state = tf.compat.v1.nn.dynamic_rnn(cells, embs, dtype=tf.float32)
        flat = tf.reshape(output, [-1, config.hidden])
        softmax_w = tf.compat.v1.get_variable("softmax_w", [config.hidden, vocab], dtype=tf.float32)
        softmax_b = tf.compat.v1.get_variable("softmax_b", [vocab], dtype=tf.float32,
                                              initializer=tf.compat.v1.zeros_initializer())
        logits = tf.matmul(flat, softmax_w) + softmax_b
    probs = tf.nn.softmax(logits, axis=1, name=PROBS_NAME)  # axis=1: no hidden tf.shape ops (seed)
    return inputs, logits, probs, cells


def build_step(tf, config: TrainConfig, cells):
    """The seed's hand-split single step: same cells and variables, explicit state in and out."""
    prod_inputs = tf.compat.v1.placeholder(tf.int32, [1], name=STEP_INPUT_NAME)
    state = tuple(
        tf.compat.v1.nn.rnn_cell.LSTMStateTuple(
            tf.compat.v1.placeholder(tf.float32, [1, config.hidden], name=state_input_name(i, "c")),
            tf.compat.v1.placeholder(tf.float32, [1, config.hidden], name=state_input_name(i, "h")))
        for i in range(config.layers))
    with tf.compat.v1.variable_scope(SCOPE, reuse=True):
        embedding = tf.compat.v1.get_variable("embedding")
        prod_embs = tf.nn.embedding_lookup(embedding, prod_inputs)
        prod_output, prod_state = cells(prod_embs, state)
        softmax_w = tf.compat.v1.get_variable("softmax_w")
        softmax_b = tf.compat.v1.get_variable("softmax_b")
        logits = tf.matmul(prod_output, softmax_w) + softmax_b
    tf.nn.softmax(logits, axis=1, name=STEP_PROBS_NAME)
    for i, layer_state in enumerate(prod_state):
        tf.identity(layer_state.c, name=state_output_name(i, "c"))
        tf.identity(layer_state.h, name=state_output_name(i, "h"))


def batches(ids, batch: int, seq_len: int, rng):
    """Random windows of the training stream: (inputs, targets) of shape [batch, seq_len]."""
    import numpy as np

    starts = rng.integers(0, len(ids) - seq_len - 1, size=batch)
    x = np.stack([ids[s:s + seq_len] for s in starts])
    y = np.stack([ids[s + 1:s + seq_len + 1] for s in starts])
    return x, y


def train_and_freeze(config: TrainConfig, corpus: Corpus, progress=sys.stderr):
    """Train with Adam, then rebuild the graphs at batch 1 over the trained values and freeze both."""
    import numpy as np

    tf = import_tf()
    rng = np.random.default_rng(config.seed)
    train_ids = corpus.ids("train")
    with _control_flow_v1(tf), tf.Graph().as_default() as graph:
        tf.compat.v1.set_random_seed(config.seed)
        inputs, logits, _probs, _cells = build_lm(tf, config, config.batch)
        targets = tf.compat.v1.placeholder(tf.int32, [config.batch, None], name="targets")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.reshape(targets, [-1]), logits=logits))
        train_op = tf.compat.v1.train.AdamOptimizer(config.learning_rate).minimize(loss)
        with tf.compat.v1.Session(graph=graph, config=_session_config(tf)) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            bar = ProgressBar(config.steps, f"training {config.name} LM", progress, enabled=progress is not None,
                              interval=0.2)
            smoothed = None
            for step in range(config.steps):
                x, y = batches(train_ids, config.batch, config.seq_len, rng)
                value, _ = sess.run([loss, train_op], {inputs: x, targets: y})
                smoothed = value if smoothed is None else 0.95 * smoothed + 0.05 * value
                bar.update(step + 1, f"loss {smoothed:.3f}")
            bar.close()
            values = {v.op.name: sess.run(v) for v in tf.compat.v1.trainable_variables()}
    lm_bytes, step_bytes = freeze(tf, config, values)
    return lm_bytes, step_bytes, {"final_loss": float(smoothed), "seconds": round(bar.elapsed, 1)}


def freeze(tf, config: TrainConfig, values: Dict[str, "object"]):
    """Serialized frozen GraphDefs of the batch-1 LM and of the single-step graph."""
    with _control_flow_v1(tf), tf.Graph().as_default() as graph:
        _inputs, _logits, _probs, cells = build_lm(tf, config, batch=1)
        build_step(tf, config, cells)
        with tf.compat.v1.Session(graph=graph, config=_session_config(tf)) as sess:
            for var in tf.compat.v1.global_variables():
                var.load(values[var.op.name], sess)
            graph_def = graph.as_graph_def()
            step_outputs = [STEP_PROBS_NAME] + [state_output_name(i, p)
                                                for i in range(config.layers) for p in ("c", "h")]
            lm = tf.compat.v1.graph_util.convert_variables_to_constants(sess, graph_def, [PROBS_NAME])
            step = tf.compat.v1.graph_util.convert_variables_to_constants(sess, graph_def, step_outputs)
    return lm.SerializeToString(), step.SerializeToString()


class _control_flow_v1:
    """Build with TF1 control flow (the seed's form), restoring the global switch afterwards."""

    def __init__(self, tf):
        self.tf = tf

    def __enter__(self):
        from tensorflow.python.ops import control_flow_util

        self.util = control_flow_util
        self.previous = control_flow_util.ENABLE_CONTROL_FLOW_V2
        self.tf.compat.v1.disable_control_flow_v2()
        return self

    def __exit__(self, *exc):
        self.util.ENABLE_CONTROL_FLOW_V2 = self.previous
        return False


def _session_config(tf):
    return tf.compat.v1.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=1)
