"""Small causal transformer decoders (and non-causal ones) built the ways users write them, frozen
with library defaults, for the decode-step tests and benchmarks/decode_step.py.

``build_decoder(tf, path, form)`` writes a frozen GraphDef of a language model over static [1, T]
token ids named ``ids`` and returns ``(ids, TF's output on them)``. ``form`` picks the API (Keras 3,
tf_keras, raw TF ops), pre- or post-LN blocks, learned or sinusoidal positions, exact or tanh GELU,
the head count and whether attention is causal (``mask``: "causal", "none", or "leaky": each
position also sees the next one). TensorFlow comes from the caller (the ``tf`` fixture).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tf_models import freeze_function

__all__ = ["DecoderForm", "FORMS", "build_decoder"]


@dataclass(frozen=True)
class DecoderForm:
    api: str = "keras3"  # keras3 | tf_keras | raw
    blocks: int = 1
    width: int = 16
    heads: int = 2
    length: int = 8
    vocab: int = 50
    norm: str = "pre"  # pre | post
    positions: str = "learned"  # learned | sinusoidal
    gelu: str = "exact"  # exact | tanh
    mask: str = "causal"  # causal | none | leaky
    seed: int = 0


FORMS = {
    "keras3": DecoderForm(),
    "keras3_2blocks_post_ln": DecoderForm(blocks=2, norm="post", width=32, heads=4),
    "keras3_sinusoidal_tanh_gelu": DecoderForm(positions="sinusoidal", gelu="tanh", heads=1),
    "keras3_8_heads": DecoderForm(heads=8, width=32),
    "tf_keras": DecoderForm(api="tf_keras", blocks=2),
    "raw_tf": DecoderForm(api="raw", blocks=2, heads=4, positions="sinusoidal"),
    "raw_tf_post_ln_tanh": DecoderForm(api="raw", norm="post", gelu="tanh", heads=1),
}


def sinusoids(length: int, width: int) -> np.ndarray:
    pos = np.arange(length, dtype=np.float32)[:, None]
    freq = 1.0 / (10000.0 ** (np.arange(0, width, 2, dtype=np.float32) / width))
    return np.concatenate([np.sin(pos * freq), np.cos(pos * freq)], axis=1).astype(np.float32)


def build_decoder(tf, path, form: DecoderForm):
    rng = np.random.default_rng(form.seed)
    ids = rng.integers(0, form.vocab, (1, form.length)).astype(np.int32)
    model = _raw_decoder(tf, form) if form.api == "raw" else _keras_decoder(tf, form)
    want = freeze_function(tf, path, lambda ids: model(ids), {"ids": ids})
    return ids, want


def _keras_decoder(tf, form: DecoderForm):
    if form.api == "keras3":
        import keras
        keras.utils.set_random_seed(form.seed)
        ops = keras.ops
    else:
        keras = tf.keras  # tf_keras (conftest sets TF_USE_LEGACY_KERAS=1)
        tf.random.set_seed(form.seed)
        ops = tf
    layers = keras.layers
    t, d = form.length, form.width
    inp = keras.Input((t,), dtype="int32")
    x = layers.Embedding(form.vocab, d)(inp)
    if form.positions == "learned":
        x = x + layers.Embedding(t, d)(ops.arange(t) if form.api == "keras3" else tf.range(t))
    else:
        pos = ops.cast(ops.arange(t) if form.api == "keras3" else tf.range(t), "float32")[:, None]
        freq = 1.0 / (10000.0 ** (np.arange(0, d, 2, dtype=np.float32) / d))
        x = x + ops.concatenate([ops.sin(pos * freq), ops.cos(pos * freq)], axis=1) if form.api == "keras3" \
            else x + tf.concat([tf.sin(pos * freq), tf.cos(pos * freq)], axis=1)
    approximate = form.gelu == "tanh"
    for _ in range(form.blocks):
        attention = layers.MultiHeadAttention(num_heads=form.heads, key_dim=d // form.heads)
        gelu = "gelu" if not approximate else (lambda v: tf.nn.gelu(v, approximate=True))
        mlp = keras.Sequential([layers.Dense(4 * d, activation=gelu),
                                layers.Dense(d)])
        causal = form.mask == "causal"
        if form.norm == "pre":
            h = layers.LayerNormalization()(x)
            x = x + attention(h, h, use_causal_mask=causal)
            x = x + mlp(layers.LayerNormalization()(x))
        else:
            x = layers.LayerNormalization()(x + attention(x, x, use_causal_mask=causal))
            x = layers.LayerNormalization()(x + mlp(x))
    if form.norm == "pre":
        x = layers.LayerNormalization()(x)
    return keras.Model(inp, layers.Dense(form.vocab)(x))


def _raw_decoder(tf, form: DecoderForm):
    """Attention written in TF ops: matmul, a band_part mask added as a large negative number, softmax."""
    rng = np.random.default_rng(form.seed + 1)
    t, d, n = form.length, form.width, form.heads
    dh = d // n

    def w(*shape):
        return tf.Variable(rng.normal(0, 0.3, shape).astype(np.float32))

    emb, out_w = w(form.vocab, d), w(d, form.vocab)
    pos_table = w(t, d) if form.positions == "learned" else tf.constant(sinusoids(t, d))
    blocks = [dict(wq=w(d, d), wk=w(d, d), wv=w(d, d), wo=w(d, d), w1=w(d, 4 * d), b1=w(4 * d), w2=w(4 * d, d),
                   g1=w(d), g2=w(d)) for _ in range(form.blocks)]
    lower = {"causal": (-1, 0), "leaky": (-1, 1), "none": (-1, -1)}[form.mask]

    def norm(x, g):
        mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + 1e-5) * (1.0 + g)

    def heads(x):
        return tf.transpose(tf.reshape(x, [1, t, n, dh]), [0, 2, 1, 3])

    def attend(h, b):
        q, k, v = heads(tf.matmul(h, b["wq"])), heads(tf.matmul(h, b["wk"])), heads(tf.matmul(h, b["wv"]))
        s = tf.matmul(q, k, transpose_b=True) / float(np.sqrt(dh))
        allowed = tf.linalg.band_part(tf.ones([t, t]), *lower)
        p = tf.nn.softmax(s + (1.0 - allowed) * -1e9)
        o = tf.reshape(tf.transpose(tf.matmul(p, v), [0, 2, 1, 3]), [1, t, d])
        return tf.matmul(o, b["wo"])

    def mlp(h, b):
        return tf.matmul(tf.nn.gelu(tf.matmul(h, b["w1"]) + b["b1"], approximate=form.gelu == "tanh"), b["w2"])

    def model(ids):
        x = tf.gather(emb, ids) + pos_table
        for b in blocks:
            if form.norm == "pre":
                x = x + attend(norm(x, b["g1"]), b)
                x = x + mlp(norm(x, b["g2"]), b)
            else:
                x = norm(x + attend(x, b), b["g1"])
                x = norm(x + mlp(x, b), b["g2"])
        return tf.matmul(x, out_w)

    return model


def with_mask(form: DecoderForm, mask: str) -> DecoderForm:
    return replace(form, mask=mask)
