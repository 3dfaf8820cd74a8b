"""Keras recurrent models as users write and freeze them (issue #13): the variant matrix.

Every variant is an ``Embedding -> recurrent layer(s) -> Dense`` model over int ids with the
batch and time axes dynamic (``unroll=True`` needs a static time axis), tiny sizes, random
seeded weights (biases included). Each is built with Keras 3 (``import keras``, what
``pip install tensorflow`` gives) and with tf_keras (``tf.keras`` here: conftest.py sets
``TF_USE_LEGACY_KERAS=1``), traced once as a ``tf.function`` and frozen both ways from the
same concrete function:

- ``default``: ``convert_variables_to_constants_v2(fn)`` with its defaults (the While is
  lowered to TF1 frames with TensorList ops; unused variant placeholders are left behind);
- ``functional``: ``lower_control_flow=False`` (StatelessWhile + function library).

The oracle for single-step work is Keras itself on the growing prefix: ``meta["prefix"][t]``
holds the model's outputs on ``ids[:, :t + 1]`` (for ``CAUSAL_ORACLE`` variants, the eager full
run's sequence outputs up to ``t``, the layers being causal: ``unroll=True`` fixes the time axis,
and Keras 3's TimeDistributed traced with a dynamic time axis is wrong: it steps over the batch
size, so its frozen graph maps ``[2, 4]`` ids to ``[2, 2, 20]``; ``expected`` is that graph's). TensorFlow is not imported here at module
level (the builders take ``tf``); the fixtures are session-scoped, one per Keras version.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from tf_models import SEED, TFModel, _timed

__all__ = [
    "KERAS_RNN_FORMS",
    "KERAS_RNN_REFUSED",
    "KERAS_RNN_VARIANTS",
    "KERAS_LSTM_LAST_OUTPUT",
    "KERAS_VERSIONS",
    "build_keras_rnn_variants",
    "keras_lstm_last_output",
    "keras_rnn_models",
    "keras_rnn_models_keras3",
    "keras_rnn_models_tf_keras",
]

VOCAB, EMB, UNITS, TIME = 20, 5, 6, 4
KERAS_VERSIONS = ("keras3", "tf_keras")
KERAS_RNN_FORMS = ("default", "functional")


def _seq(layers, layer):
    return lambda x: [layers.Dense(VOCAB)(layer(x))]


# variant -> (embedding mask_zero, builder(layers) -> (x -> list of outputs)). Each model covers
# several features of the list, so the matrix stays small enough to build in the suite.
KERAS_RNN_VARIANTS = {
    # LSTM, return_sequences=True: the textbook next-word model
    "lstm": (False, lambda L: _seq(L, L.LSTM(UNITS, return_sequences=True))),
    # GRU with reset_after=True (the default)
    "gru": (False, lambda L: _seq(L, L.GRU(UNITS, return_sequences=True))),
    # stacked: GRU(reset_after=False) -> GRU -> Dense
    "stacked_gru": (False, lambda L: _seq(L, lambda x: L.GRU(4, return_sequences=True)(
        L.GRU(UNITS, return_sequences=True, reset_after=False)(x)))),
    # the model: two stacked GRUs -> TimeDistributed(Dense) (the others end in a plain Dense
    # on the 3-D sequence output)
    "time_distributed": (False, lambda L: lambda x: [L.TimeDistributed(L.Dense(VOCAB))(
        L.GRU(4, return_sequences=True)(L.GRU(UNITS, return_sequences=True)(x)))]),
    # return_sequences=False with return_state=True: [Dense(last output), h, c]
    "last_state": (False, lambda L: lambda x: (lambda o: [L.Dense(VOCAB)(o[0]), o[1], o[2]])(
        L.LSTM(UNITS, return_state=True)(x))),
    # SimpleRNN over a mask_zero=True embedding
    "masked_simple_rnn": (True, lambda L: _seq(L, L.SimpleRNN(UNITS, return_sequences=True))),
    # unroll=True (static time axis): Keras writes the steps out itself, there is no loop; all three
    # cells, stacked: SimpleRNN -> LSTM -> GRU -> Dense
    "unroll": (False, lambda L: _seq(L, lambda x: L.GRU(UNITS, return_sequences=True, unroll=True)(
        L.LSTM(4, return_sequences=True, unroll=True)(L.SimpleRNN(UNITS, return_sequences=True, unroll=True)(x))))),
}

# Sequence-only variants whose single-step oracle is the full run's outputs up to each step.
CAUSAL_ORACLE = ("unroll", "time_distributed")

# Variants a single-step model cannot express: unroll-rnn refuses them, naming the layer.
KERAS_RNN_REFUSED = {
    "go_backwards": (False, lambda L: _seq(L, L.LSTM(UNITS, return_sequences=True, go_backwards=True))),
    "bidirectional": (False, lambda L: _seq(L, L.Bidirectional(L.LSTM(4, return_sequences=True)))),
}

# LSTM(return_sequences=False) -> Dense: only the last output leaves the loop (whole-sequence
# models only: fuse-lstm-loops; no prefix oracle is built).
KERAS_LSTM_LAST_OUTPUT = (False, lambda L: lambda x: [L.Dense(VOCAB)(L.LSTM(UNITS)(x))])


def _ids(variant):
    ids = np.random.default_rng(SEED).integers(1, VOCAB, size=(2, TIME)).astype(np.int32)
    if KERAS_RNN_VARIANTS.get(variant, (False,))[0]:
        ids[0, 1] = 0  # a masked step inside the sequence
        ids[1, -1] = 0  # and a padded tail
    return ids


def _keras(tf, version):
    if version == "tf_keras":
        return tf.keras
    import keras

    return keras


def _build_one(tf, K, out_dir, version, variant, spec, prefix=True):
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    mask_zero, make = spec
    K.utils.set_random_seed(SEED)
    time = TIME if variant == "unroll" else None
    ids_in = K.Input((time,), dtype="int32", name="ids")
    x = K.layers.Embedding(VOCAB, EMB, mask_zero=mask_zero)(ids_in)
    model = K.Model(ids_in, make(K.layers)(x))
    rng = np.random.default_rng(SEED)
    model.set_weights([rng.normal(0, 0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    ids = _ids(variant)
    concrete = tf.function(lambda ids: model(ids)).get_concrete_function(
        tf.TensorSpec([None, time], tf.int32, name="ids"))
    want = [np.asarray(r) for r in tf.nest.flatten(concrete(tf.constant(ids)))]
    if not prefix:
        steps = []
    elif time is None and variant not in CAUSAL_ORACLE:
        steps = [[np.asarray(r) for r in tf.nest.flatten(concrete(tf.constant(ids[:, :t + 1])))]
                 for t in range(TIME)]
    else:  # a static time axis takes no prefix; the outputs are all sequences, and causal: the full
        # run's up to t, run eagerly (traced with a dynamic time axis, Keras 3's TimeDistributed
        # steps over the batch size instead: [2, 4] ids give [2, 2, 20])
        full = [np.asarray(r) for r in tf.nest.flatten(model(tf.constant(ids)))]
        steps = [[w[:, :t + 1] for w in full] for t in range(TIME)]
    models = {}
    for form, kwargs in (("default", {}), ("functional", {"lower_control_flow": False})):
        frozen = convert_variables_to_constants_v2(concrete, **kwargs)
        name = f"keras_rnn_{version}_{variant}_{form}"
        pb = os.path.join(out_dir, name + ".pb")
        with open(pb, "wb") as f:
            f.write(frozen.graph.as_graph_def().SerializeToString())
        outs = [t.op.name for t in frozen.outputs]
        models[form] = TFModel(
            name=name, pb_path=pb, pbtxt_path=None, inputs={"ids": ids}, input_names=["ids"],
            output_names=outs, expected=dict(zip(outs, want)), control_flow="v1" if form == "default" else "v2",
            meta={"keras": version, "variant": variant, "form": form, "prefix": steps,
                  "rnn_layers": [layer.name for layer in model.layers
                                 if type(layer).__name__ in ("LSTM", "GRU", "SimpleRNN", "Bidirectional")]})
    return models


def build_keras_rnn_variants(tf, out_dir, version):
    """{(variant, form): TFModel} for every variant in KERAS_RNN_VARIANTS and KERAS_RNN_REFUSED."""
    K = _keras(tf, version)
    models = {}
    for variant, spec in {**KERAS_RNN_VARIANTS, **KERAS_RNN_REFUSED}.items():
        built = _build_one(tf, K, out_dir, version, variant, spec, prefix=variant in KERAS_RNN_VARIANTS)
        for form, model in built.items():
            models[(variant, form)] = model
    return models


@pytest.fixture(scope="session")
def keras_rnn_models_keras3(tf, tf_models_dir):
    """Every Keras 3 recurrent variant, both freezing forms: {(variant, form): TFModel}."""
    return _timed(lambda: build_keras_rnn_variants(tf, tf_models_dir, "keras3"))


@pytest.fixture(scope="session")
def keras_rnn_models_tf_keras(tf, tf_models_dir):
    """Every tf_keras recurrent variant, both freezing forms: {(variant, form): TFModel}."""
    return _timed(lambda: build_keras_rnn_variants(tf, tf_models_dir, "tf_keras"))


@pytest.fixture(scope="session")
def keras_lstm_last_output(tf, tf_models_dir):
    """KERAS_LSTM_LAST_OUTPUT with Keras 3 and tf_keras, both freezing forms: {(version, form): TFModel}."""
    def build():
        return {(version, form): model for version in KERAS_VERSIONS
                for form, model in _build_one(tf, _keras(tf, version), tf_models_dir, version, "last_output",
                                              KERAS_LSTM_LAST_OUTPUT, prefix=False).items()}
    return _timed(build)


@pytest.fixture(scope="session", params=KERAS_VERSIONS)
def keras_rnn_models(request):
    """``keras_rnn_models_keras3`` and ``keras_rnn_models_tf_keras`` in turn."""
    return request.getfixturevalue(f"keras_rnn_models_{request.param}")
