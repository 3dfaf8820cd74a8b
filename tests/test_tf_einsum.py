"""tf.Einsum -> transposes, reshapes and one core.matmul (the TF frontend's decomposition), checked
against TF for each equation form, in the reference interpreter and in LiteRT; the attention of a
Keras 3 MultiHeadAttention (causal mask) converts and matches Keras."""
from __future__ import annotations

import numpy as np
import pytest
from tf_litert import assert_close, convert_and_run
from tf_models import freeze_function

import litesmith
from litesmith.ir import run

RNG = np.random.default_rng(13)

# equation -> (left shape, right shape or None, right is constant weights)
EQUATIONS = {
    "ij,jk->ik": ((3, 4), (4, 5), False),
    "ij,kj->ik": ((3, 4), (5, 4), False),  # transpose_b
    "ji,jk->ik": ((4, 3), (4, 5), False),  # transpose_a
    "bij,bjk->bik": ((2, 3, 4), (2, 4, 5), False),
    "BTNH,BSNH->BNTS": ((2, 5, 3, 4), (2, 6, 3, 4), False),  # attention scores (Keras MultiHeadAttention)
    "BNTS,BSNH->BTNH": ((2, 3, 5, 6), (2, 6, 3, 4), False),  # attention output
    "abc,cde->abde": ((2, 5, 6), (6, 3, 4), True),  # EinsumDense: query/key/value projections
    "abcd,cde->abe": ((2, 5, 3, 4), (3, 4, 6), True),  # EinsumDense: the output projection
    "bij,jk->bik": ((2, 3, 4), (4, 5), True),
    "ij,j->i": ((3, 4), (4,), False),
    "i,i->": ((5,), (5,), False),
    "i,j->ij": ((3,), (4,), False),
    "ijk,jil->kl": ((3, 4, 2), (4, 3, 5), False),  # two contracted labels, transposed
    "bik,bkj->bji": ((2, 3, 4), (2, 4, 5), False),  # the output transposed
    "...ab,...bc->...ac": ((2, 1, 3, 4), (5, 4, 6), False),  # ellipsis dims broadcast
    "...ij,...jk->...ik": ((2, 3, 4, 5), (3, 5, 6), False),
    "ij->ji": ((3, 4), None, False),
    "ijk->ik": ((3, 4, 5), None, False),
    "ij,jk->i": ((3, 4), (4, 5), False),  # k summed before the matmul
}


@pytest.mark.parametrize("equation", list(EQUATIONS))
def test_einsum_matches_tf(tf, litert_interpreter, tmp_path, equation):
    sa, sb, const_b = EQUATIONS[equation]
    feeds = {"a": RNG.normal(size=sa).astype(np.float32)}
    weights = RNG.normal(size=sb).astype(np.float32) if sb else None
    if sb and not const_b:
        feeds["b"] = weights

    def fn(a, b=None):
        operands = [a] + ([] if sb is None else [tf.constant(weights) if const_b else b])
        return tf.raw_ops.Einsum(inputs=operands, equation=equation)

    pb = tmp_path / "m.pb"
    want = freeze_function(tf, pb, fn, feeds)
    graph = litesmith.load(str(pb))
    assert not [n.op for n in graph if n.op.startswith("tf.")]
    assert_close(run(graph, feeds), want, atol=1e-5, rtol=1e-5)
    got, ops = convert_and_run(litert_interpreter, pb, feeds)
    assert_close(got, want, atol=1e-5, rtol=1e-5)
    if const_b:
        assert "FULLY_CONNECTED" in ops and "BATCH_MATMUL" not in ops


def test_einsum_with_unknown_dims_waits_for_shapes(tf, tmp_path):
    """Two unknown dims merged by one reshape: the node stays tf.Einsum, and maps once the input
    shapes are given (fold-constants re-lifts it)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec([None, None, 6], tf.float32, name="a")
    w = tf.constant(RNG.normal(size=(6, 3, 4)).astype(np.float32))
    concrete = tf.function(lambda a: tf.einsum("abc,cde->abde", a, w)).get_concrete_function(spec)
    (tmp_path / "m.pb").write_bytes(convert_variables_to_constants_v2(concrete).graph.as_graph_def().SerializeToString())
    assert "tf.Einsum" in {n.op for n in litesmith.load(str(tmp_path / "m.pb"))}
    graph = litesmith.load(str(tmp_path / "m.pb"), input_shapes={"a": [2, 5, 6]})
    x = RNG.normal(size=(2, 5, 6)).astype(np.float32)
    (got,) = run(litesmith.optimize(graph, "fold-constants"), {"a": x}).values()
    np.testing.assert_allclose(got, tf.einsum("abc,cde->abde", x, w).numpy(), rtol=1e-5, atol=1e-5)


def test_keras3_causal_multi_head_attention(tf, litert_interpreter, tmp_path):
    """Keras 3 (pip install tensorflow): projections as BatchMatMul, attention as two Einsums, the causal
    mask a MatrixBandPart of constants; frozen with library defaults."""
    import keras

    keras.utils.set_random_seed(2)
    inp = keras.Input((8, 16))
    model = keras.Model(inp, keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(inp, inp, use_causal_mask=True))
    feeds = {"x": RNG.normal(size=(1, 8, 16)).astype(np.float32)}
    pb = tmp_path / "mha.pb"
    want = freeze_function(tf, pb, lambda x: model(x), feeds)
    got, ops = convert_and_run(litert_interpreter, pb, feeds)
    assert_close(got, want, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(list(got.values())[0], model(feeds["x"]).numpy(), atol=1e-5, rtol=1e-5)
    assert ops.count("BATCH_MATMUL") == 2 and "MATRIX_BAND_PART" not in ops


def test_keras3_causal_transformer_lm_as_tf_converter_does(tf, litert_interpreter, tmp_path):
    """Issue #13's model, small: token + position embeddings, two pre-norm blocks of causal
    MultiHeadAttention and a GELU MLP, static [1, 16] ids. Matches Keras in LiteRT, with no more
    ops than TF's converter writes for the same frozen graph (and the same two GELUs)."""
    import keras
    from collections import Counter

    keras.utils.set_random_seed(3)
    vocab, length, width = 50, 16, 32
    ids = keras.Input((length,), dtype="int32")
    x = keras.layers.Embedding(vocab, width)(ids) + keras.layers.Embedding(length, width)(keras.ops.arange(length))
    for _ in range(2):
        h = keras.layers.LayerNormalization()(x)
        x = x + keras.layers.MultiHeadAttention(num_heads=2, key_dim=16)(h, h, use_causal_mask=True)
        h = keras.layers.LayerNormalization()(x)
        x = x + keras.layers.Dense(width)(keras.layers.Dense(4 * width, activation="gelu")(h))
    model = keras.Model(ids, keras.layers.Dense(vocab)(keras.layers.LayerNormalization()(x)))
    feeds = {"ids": RNG.integers(0, vocab, (1, length)).astype(np.int32)}
    pb = tmp_path / "lm.pb"
    want = freeze_function(tf, pb, lambda ids: model(ids), feeds)
    got, ops = convert_and_run(litert_interpreter, pb, feeds)
    assert_close(got, want, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(list(got.values())[0], model(feeds["ids"]).numpy(), atol=1e-5, rtol=1e-5)

    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(str(pb), ["ids"], list(want), {"ids": [1, length]})
    theirs = litert_interpreter(model_content=converter.convert())
    their_ops = [d["op_name"] for d in theirs._get_ops_details() if d["op_name"] != "DELEGATE"]
    assert len(ops) <= len(their_ops), (Counter(ops), Counter(their_ops))
    assert ops.count("GELU") == their_ops.count("GELU") == 2
