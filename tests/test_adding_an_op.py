"""docs/adding-an-op.md holds: a new elementwise op is one declaration plus its lowering.

``core.softsign`` is the worked example: TF's Softsign (Keras ``activation="softsign"``) frozen with
library defaults runs in the reference interpreter, strips its batch, folds and runs in LiteRT like
TF. A throwaway elementwise op declared here, with nothing else registered, strips, folds, sinks
transposes and interprets."""
from __future__ import annotations

from textwrap import dedent

import numpy as np
import pytest
from tf_litert import assert_close, convert_and_run
from tf_models import freeze_function

import litesmith
from litesmith.ir import run
from litesmith.ir.ops._common import same_type
from litesmith.ir.registry import _REGISTRY, defop, get_op
from litesmith.ir.text import parse_ir, print_ir
from litesmith.ir.traits import ELEMENTWISE
from litesmith.passes import run_pipeline

RNG = np.random.default_rng(11)


@pytest.fixture(scope="module")
def softsign_model(tf, tmp_path_factory):
    """Keras 3 Dense(activation="softsign") on a batch of 3, then softsign of a frozen variable."""
    import keras

    keras.utils.set_random_seed(11)
    dense = keras.layers.Dense(5, activation="softsign")
    dense.build((None, 4))
    scale = tf.Variable(RNG.normal(0, 2, (5,)).astype(np.float32))

    def fn(x):
        return dense(x) * tf.nn.softsign(scale)

    feeds = {"x": RNG.normal(0, 3, (3, 4)).astype(np.float32)}
    pb = tmp_path_factory.mktemp("softsign") / "m.pb"
    want = freeze_function(tf, pb, fn, feeds)
    return pb, feeds, want


def test_tf_softsign_maps_to_the_op_and_interprets_like_tf(softsign_model):
    pb, feeds, want = softsign_model
    g = litesmith.load(str(pb))
    assert sum(n.op == "core.softsign" for n in g.walk()) == 2  # the activation and the variable's
    got = run(g, feeds)
    assert_close({k: got[k] for k in want}, want, atol=1e-6)


def test_softsign_strips_its_batch_and_folds(softsign_model):
    pb, feeds, want = softsign_model
    g = litesmith.load(str(pb))
    report = run_pipeline(g, "strip-batch,fold-constants", verify_each=True)
    assert report[0].report["batch_size"] == 3
    assert [str(v.type) for v in g.inputs] == ["f32[4]"]
    # softsign of the frozen variable became a constant; the activation's stayed
    assert sum(n.op == "core.softsign" for n in g.walk()) == 1
    (name,) = want
    for b in range(3):
        np.testing.assert_allclose(run(g, {"x": feeds["x"][b]})[name], want[name][b], rtol=1e-6, atol=1e-6)


def test_softsign_in_litert_matches_tf(softsign_model, litert_interpreter):
    pb, feeds, want = softsign_model
    got, ops = convert_and_run(litert_interpreter, pb, feeds)
    assert "ABS" in ops and "DIV" in ops
    assert_close(got, want, atol=1e-6)


# -- the doc's claim, with an op nobody else knows about ----------------------------------------------


@pytest.fixture(scope="module")
def clip01():
    """core.clip01_for_test: one defop with the elementwise trait and a kernel, removed afterwards."""
    name = "core.clip01_for_test"
    defop(name, doc="min(max(x, 0), 1).", operands=["x"], infer=same_type,
          kernel=lambda x: np.clip(x, 0, 1).astype(x.dtype), category="elementwise unary", traits=[ELEMENTWISE])
    yield name
    del _REGISTRY[name]


def test_a_new_elementwise_op_needs_nothing_else(clip01):
    g = parse_ir(dedent(f"""
    graph @main(%x: f32[2,3]) {{
      %c = core.const() {{value = dense<f32[3]> [-0.5, 0.25, 2.0]}} : f32[3]
      %k = {clip01}(%c) : f32[3]
      %y = core.add(%x, %k) : f32[2,3]
      %z = {clip01}(%y) : f32[2,3]
      return %z
    }}
    """))
    x = RNG.normal(0, 1, (2, 3)).astype(np.float32)
    want = np.clip(x + np.clip([-0.5, 0.25, 2.0], 0, 1), 0, 1)
    np.testing.assert_allclose(run(g, {"x": x})["z"], want, rtol=1e-6)  # interpreter: the kernel
    run_pipeline(g, "strip-batch,fold-constants", verify_each=True)  # batch rule from the trait, folding by the kernel
    text = print_ir(g)
    assert "%x: f32[3]" in text and text.count(clip01) == 1, text
    for b in range(2):
        np.testing.assert_allclose(run(g, {"x": x[b]})["z"], want[b], rtol=1e-6)


def test_a_new_elementwise_op_lets_transposes_sink_through_it(clip01):
    """nchw-to-nhwc's transpose sinking asks the trait too: transpose -> op -> inverse transpose vanishes."""
    g = parse_ir(dedent(f"""
    graph @main(%x: f32[1,3,4,4]) {{
      %p = core.const() {{value = dense<i32[4]> [0, 2, 3, 1]}} : i32[4]
      %q = core.const() {{value = dense<i32[4]> [0, 3, 1, 2]}} : i32[4]
      %t = core.transpose(%x, %p) : f32[1,4,4,3]
      %c = {clip01}(%t) : f32[1,4,4,3]
      %y = core.transpose(%c, %q) : f32[1,3,4,4]
      return %y
    }}
    """))
    x = RNG.normal(0, 1, (1, 3, 4, 4)).astype(np.float32)
    want = run(g, {"x": x})["y"]
    run_pipeline(g, "nchw-to-nhwc", verify_each=True)
    text = print_ir(g)
    assert "core.transpose" not in text and f"{clip01}(%x)" in text, text
    np.testing.assert_allclose(run(g, {"x": x})["y"], want)
    assert get_op(clip01).batch_axis == "elementwise"
