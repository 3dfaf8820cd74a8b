"""The ``gelu`` canonicalization: GELU written out in elementary ops becomes one core.gelu (TFLite GELU),
as TF's converter fuses it. IR text in / out (outputs within float rounding of the unfused graph), and
TF graphs frozen with library defaults (tf.nn.gelu both ways, Keras 3 Dense(activation="gelu"),
BERT's and GPT-2's hand-written forms) converted and run in LiteRT against TF."""
from __future__ import annotations

from textwrap import dedent

import numpy as np
import pytest
from tf_litert import assert_close, convert_and_run
from tf_models import freeze_function

from litesmith.ir import run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes import run_pipeline
from litesmith.passes.numerics import random_feeds

HEADER = """graph @main(%x: f32[2,3]) {
  %half = core.const() {value = dense<f32[]> 0.5} : f32[]
  %one = core.const() {value = dense<f32[]> 1.0} : f32[]
"""
FUSED = """graph @main(%x: f32[2,3]) {{
  %y = core.gelu(%x) {{approximate = {}}} : f32[2,3]
  return %y
}}
"""


def canonicalize(src: str):
    """Run canonicalize on ``src``: (printed result, the pass report); outputs stay within float rounding."""
    g = parse_ir(dedent(src))
    feeds = random_feeds(g)
    before = run(g, feeds)
    report = run_pipeline(g, "canonicalize", verify_each=True).passes[0].report
    after = run(g, feeds)
    for k in before:
        np.testing.assert_allclose(after[k], before[k], rtol=1e-5, atol=1e-6)
    return print_ir(g), report


FORMS = {
    "tf.nn.gelu: 0.5 * x * erfc(-x * 0.70710677)": ("false", """
      %c = core.const() {value = dense<f32[]> 0.70710677} : f32[]
      %m = core.mul(%half, %x) : f32[2,3]
      %n = core.neg(%x) : f32[2,3]
      %a = core.mul(%n, %c) : f32[2,3]
      %e = core.erfc(%a) : f32[2,3]
      %y = core.mul(%m, %e) : f32[2,3]
    """),
    "BERT: x * (0.5 * (1 + erf(x / 1.4142135)))": ("false", """
      %c = core.const() {value = dense<f32[]> 1.4142135} : f32[]
      %a = core.div(%x, %c) : f32[2,3]
      %e = core.erf(%a) : f32[2,3]
      %p = core.add(%one, %e) : f32[2,3]
      %cdf = core.mul(%half, %p) : f32[2,3]
      %y = core.mul(%x, %cdf) : f32[2,3]
    """),
    "(x * (erf(x * 0.70710677) + 1)) / 2": ("false", """
      %c = core.const() {value = dense<f32[]> 0.70710677} : f32[]
      %two = core.const() {value = dense<f32[1]> [2.0]} : f32[1]
      %a = core.mul(%x, %c) : f32[2,3]
      %e = core.erf(%a) : f32[2,3]
      %p = core.add(%e, %one) : f32[2,3]
      %q = core.mul(%x, %p) : f32[2,3]
      %y = core.div(%q, %two) : f32[2,3]
    """),
    "tf.nn.gelu(approximate=True): pow(x, 3)": ("true", """
      %k = core.const() {value = dense<f32[]> 0.044715} : f32[]
      %s = core.const() {value = dense<f32[]> 0.7978846} : f32[]
      %three = core.const() {value = dense<f32[]> 3.0} : f32[]
      %m = core.mul(%half, %x) : f32[2,3]
      %c3 = core.pow(%x, %three) : f32[2,3]
      %kc = core.mul(%k, %c3) : f32[2,3]
      %in = core.add(%x, %kc) : f32[2,3]
      %arg = core.mul(%s, %in) : f32[2,3]
      %t = core.tanh(%arg) : f32[2,3]
      %p = core.add(%one, %t) : f32[2,3]
      %y = core.mul(%m, %p) : f32[2,3]
    """),
    "GPT-2: x * x * x, the scale distributed": ("true", """
      %k = core.const() {value = dense<f32[]> 0.035677407} : f32[]
      %s = core.const() {value = dense<f32[]> 0.7978846} : f32[]
      %x2 = core.mul(%x, %x) : f32[2,3]
      %x3 = core.mul(%x2, %x) : f32[2,3]
      %kc = core.mul(%x3, %k) : f32[2,3]
      %sx = core.mul(%s, %x) : f32[2,3]
      %in = core.add(%kc, %sx) : f32[2,3]
      %t = core.tanh(%in) : f32[2,3]
      %p = core.add(%t, %one) : f32[2,3]
      %q = core.mul(%p, %half) : f32[2,3]
      %y = core.mul(%x, %q) : f32[2,3]
    """),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_gelu_forms_fuse(form):
    approximate, body = FORMS[form]
    text, report = canonicalize(HEADER + dedent(body).replace("\n", "\n  ").rstrip() + "\n  return %y\n}\n")
    assert text == FUSED.format(approximate)
    assert report["applied"]["gelu"] == 1


NOT_GELU = {
    "a constant off by 1e-4": """
      %c = core.const() {value = dense<f32[]> 0.7071} : f32[]
      %m = core.mul(%half, %x) : f32[2,3]
      %n = core.neg(%x) : f32[2,3]
      %a = core.mul(%n, %c) : f32[2,3]
      %e = core.erfc(%a) : f32[2,3]
      %y = core.mul(%m, %e) : f32[2,3]
      return %y
    """,
    "erfc of another value": """
      %c = core.const() {value = dense<f32[]> -0.70710677} : f32[]
      %m = core.mul(%half, %x) : f32[2,3]
      %z = core.exp(%x) : f32[2,3]
      %a = core.mul(%z, %c) : f32[2,3]
      %e = core.erfc(%a) : f32[2,3]
      %y = core.mul(%m, %e) : f32[2,3]
      return %y
    """,
    "an intermediate used elsewhere": """
      %c = core.const() {value = dense<f32[]> -0.70710677} : f32[]
      %m = core.mul(%half, %x) : f32[2,3]
      %a = core.mul(%x, %c) : f32[2,3]
      %e = core.erfc(%a) : f32[2,3]
      %y = core.mul(%m, %e) : f32[2,3]
      return %y, %e
    """,
    "a constant that broadcasts x": """
      %c = core.const() {value = dense<f32[]> -0.70710677} : f32[]
      %h = core.const() {value = dense<f32[4,1,1]> [0.5, 0.5, 0.5, 0.5]} : f32[4,1,1]
      %m = core.mul(%h, %x) : f32[4,2,3]
      %a = core.mul(%x, %c) : f32[2,3]
      %e = core.erfc(%a) : f32[2,3]
      %y = core.mul(%m, %e) : f32[4,2,3]
      return %y
    """,
}


@pytest.mark.parametrize("case", sorted(NOT_GELU))
def test_near_misses_stay(case):
    src = HEADER + dedent(NOT_GELU[case]).replace("\n", "\n  ").rstrip() + "\n}\n"
    text, report = canonicalize(src)
    assert "core.gelu" not in text and "gelu" not in report["applied"]


# -- TF graphs, frozen with library defaults, in LiteRT ----------------------------------------------


def _bert(tf, x):
    return x * (0.5 * (1.0 + tf.math.erf(x / tf.math.sqrt(2.0))))


def _gpt2(tf, x):
    return 0.5 * x * (1 + tf.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * tf.pow(x, 3))))


def test_tf_gelu_forms_become_one_gelu_op_each(tf, litert_interpreter, tmp_path):
    feeds = {"x": np.random.default_rng(3).uniform(-6, 6, (4, 64)).astype(np.float32)}

    def fn(x):
        return {"a_exact": tf.nn.gelu(x), "b_tanh": tf.nn.gelu(x, approximate=True), "c_bert": _bert(tf, x),
                "d_gpt2": _gpt2(tf, x)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert ops == ["GELU"] * 4
    # LiteRT's GELU is within an ulp of the exact maths (8e-7 at |x| <= 10) but computes 1 + erf in the
    # negative tail, where TF's erfc form keeps relative precision: absolute differences up to ~1.4e-6
    assert_close(got, want, atol=1.5e-6, rtol=1e-6)


def test_keras3_dense_gelu(tf, litert_interpreter, tmp_path):
    """Keras 3 (what ``pip install tensorflow`` gives) writes activation="gelu" as tf.nn.gelu: exact, erfc."""
    import keras

    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="gelu"), keras.layers.Dense(4)])
    feeds = {"x": np.random.default_rng(5).normal(size=(3, 12)).astype(np.float32)}
    want = freeze_function(tf, tmp_path / "m.pb", lambda x: model(x), feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert ops == ["FULLY_CONNECTED", "GELU", "FULLY_CONNECTED"]
    np.testing.assert_allclose(list(got.values())[0], model(feeds["x"]).numpy(), atol=1e-5, rtol=1e-5)
    assert_close(got, want, atol=1e-5, rtol=1e-5)
