"""step-unrolled-rnn (run by unroll-rnn): a recurrent chain written out step by step (Keras unroll=True)
becomes one step with state I/O; a chain whose steps differ is refused naming the layer. Keras models:
tests/test_keras_rnn.py (the ``unroll`` variant)."""
import json
from textwrap import dedent

import numpy as np
import pytest

from litesmith.ir import UserError, run
from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes import run_pipeline

# y_t = tanh(x_t * w + (y_{t-1} * u)) over 3 steps from a zero state, as Keras writes it once the zero
# state has been folded into step 0 (which reads no state); the outputs are stacked.
UNROLLED = """
graph @main(%x: f32[3,2]) {
  %w = core.const() {value = dense<f32[2]> [0.5, -1.0]} : f32[2]
  %u = core.const() {value = dense<f32[2]> [0.25, 0.75]} : f32[2]
  %u2 = core.const() {value = dense<f32[2]> [U2]} : f32[2]
  %x0, %x1, %x2 = core.unpack(%x) {axis = 0, num = 3} : f32[2], f32[2], f32[2] loc("rnn/unstack")
  %a0 = core.mul(%x0, %w) : f32[2]
  %y0 = core.tanh(%a0) : f32[2]
  %a1 = core.mul(%x1, %w) : f32[2]
  %r1 = core.mul(%y0, %u) : f32[2]
  %s1 = core.add(%a1, %r1) : f32[2]
  %y1 = core.tanh(%s1) : f32[2]
  %a2 = core.mul(%x2, %w) : f32[2]
  %r2 = core.mul(%y1, %u2) : f32[2]
  %s2 = core.add(%a2, %r2) : f32[2]
  %y2 = core.tanh(%s2) : f32[2]
  %ys = core.pack(%y0, %y1, %y2) {axis = 0} : f32[3,2]
  return %ys
}
"""

STEPPED = """
graph @main(%x: f32[2], %"state/0": f32[2]) #{litesmith.state = b"[{\\"input\\": \\"state/0\\", \\"output\\": \\"state/0_out\\", \\"shape\\": [2], \\"initial\\": \\"zeros\\", \\"source\\": \\"y1\\"}]"} {
  %w = core.const() {value = dense<f32[2]> [0.5, -1.0]} : f32[2]
  %u = core.const() {value = dense<f32[2]> [0.25, 0.75]} : f32[2]
  %a1 = core.mul(%x, %w) : f32[2]
  %r1 = core.mul(%"state/0", %u) : f32[2]
  %s1 = core.add(%a1, %r1) : f32[2]
  %y1 = core.tanh(%s1) : f32[2]
  %"state/0_out" = core.identity(%y1) : f32[2]
  %ys = core.pack(%y1) {axis = 0} : f32[1,2]
  return %ys, %"state/0_out"
}
"""


def test_unrolled_chain_becomes_one_step_with_state():
    g = parse_ir(dedent(UNROLLED.replace("U2", "0.25, 0.75")))
    x = np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32)
    (want,) = run(g, {"x": x}).values()
    run_pipeline(g, "unroll-rnn", verify_each=True)
    assert print_ir(g) == dedent(STEPPED).lstrip("\n")
    assert [p["input"] for p in json.loads(g.meta["litesmith.state"])] == ["state/0"]
    state = np.zeros(2, np.float32)
    for t in range(3):  # every step matches the whole sequence's output at that step
        got = run(g, {"x": x[t], "state/0": state})
        np.testing.assert_allclose(got[g.outputs[0].name][0], want[t], rtol=1e-6)
        state = got["state/0_out"]


def test_steps_that_differ_are_refused_naming_the_layer():
    g = parse_ir(dedent(UNROLLED.replace("U2", "0.5, 0.75")))  # step 2's recurrent weight is not step 1's
    with pytest.raises(UserError, match=r"unroll-rnn: layer 'rnn' is written out step by step \(unroll=True\) but "
                                        r"step 2 lacks step 1's node 'r1' \(core.mul\).*export it with unroll=False$"):
        run_pipeline(g, "unroll-rnn")


@pytest.mark.parametrize("recurrent", [True, False])
def test_two_steps_are_left_alone(recurrent):
    """Step 1 would be the last: a cell (y1 = x1 + y0 * u) cannot be told from a reader of both steps
    (no recurrence: y1 = x1 * u); unroll=True over 2 steps keeps its whole fixed sequence."""
    y1 = "%r1 = core.mul(%y0, %u) : f32[2]\n  %y1 = core.add(%x1, %r1) : f32[2]" if recurrent else "%y1 = core.mul(%x1, %u) : f32[2]"
    g = parse_ir(dedent(f"""
graph @main(%x: f32[2,2]) {{
  %u = core.const() {{value = dense<f32[2]> [0.25, 0.75]}} : f32[2]
  %x0, %x1 = core.unpack(%x) {{axis = 0, num = 2}} : f32[2], f32[2] loc("rnn/unstack")
  %y0 = core.tanh(%x0) : f32[2]
  {y1}
  %ys = core.pack(%y0, %y1) {{axis = 0}} : f32[2,2]
  return %ys
}}
"""))
    before = print_ir(g)
    assert not run_pipeline(g, "unroll-rnn")[0].changed
    assert print_ir(g) == before


def test_middle_step_that_differs_is_refused():
    """Four steps; step 2 adds where the others multiply: the cells are not one cell repeated."""
    step = "  %a{t} = core.mul(%x{t}, %w) : f32[2]\n  %r{t} = core.{op}(%y{p}, %u) : f32[2]\n" \
           "  %s{t} = core.add(%a{t}, %r{t}) : f32[2]\n  %y{t} = core.tanh(%s{t}) : f32[2]\n"
    body = "".join(step.format(t=t, p=t - 1, op="add" if t == 2 else "mul") for t in (1, 2, 3))
    g = parse_ir(dedent(
        "graph @main(%x: f32[4,2]) {\n"
        "  %w = core.const() {value = dense<f32[2]> [0.5, -1.0]} : f32[2]\n"
        "  %u = core.const() {value = dense<f32[2]> [0.25, 0.75]} : f32[2]\n"
        '  %x0, %x1, %x2, %x3 = core.unpack(%x) {axis = 0, num = 4} : f32[2], f32[2], f32[2], f32[2] loc("enc/rnn/unstack")\n'
        "  %a0 = core.mul(%x0, %w) : f32[2]\n  %y0 = core.tanh(%a0) : f32[2]\n" + body +
        "  %ys = core.pack(%y0, %y1, %y2, %y3) {axis = 0} : f32[4,2]\n  return %ys\n}\n"))
    with pytest.raises(UserError, match=r"unroll-rnn: layer 'enc/rnn' is written out step by step \(unroll=True\) "
                                        r"but step 2 differs from step 1 at node 'r2' \(core.add\)"):
        run_pipeline(g, "unroll-rnn")


def test_last_step_returned_as_is_becomes_the_kept_cells_value():
    """return_state: the graph returns the last step's state itself; it keeps its name, now the kept
    cell's value (and stays the same as state/0_out at every step)."""
    g = parse_ir(dedent(UNROLLED.replace("U2", "0.25, 0.75").replace("return %ys", "return %ys, %y2")))
    x = np.random.default_rng(2).normal(size=(3, 2)).astype(np.float32)
    want = run(g, {"x": x})
    run_pipeline(g, "unroll-rnn", verify_each=True)
    assert [v.name for v in g.outputs] == ["ys", "y2", "state/0_out"]
    state = np.zeros(2, np.float32)
    for t in range(3):
        got = run(g, {"x": x[t], "state/0": state})
        np.testing.assert_allclose(got["y2"], got["state/0_out"])
        state = got["state/0_out"]
    np.testing.assert_allclose(state, want["y2"], rtol=1e-6)
