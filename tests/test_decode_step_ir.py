"""decode-step on IR text: a one-head causal attention over [4] tokens becomes a one-token step (the
rewrite checked in the printed IR, the step checked against the whole-sequence graph in the reference
interpreter token by token), and graphs that mix later positions into earlier ones are refused."""
from textwrap import dedent

import numpy as np
import pytest

from litesmith.ir import UserError, run
from litesmith.ir.state import graph_state
from litesmith.ir.text import parse_ir, print_ir
from litesmith.ir.verify import verify
from litesmith.passes import run_pipeline

DECODER = """
graph @decoder(%ids: i32[4]) {
      %emb = core.const() {value = dense<f32[5,4]> [[0.2, 0.4, 0.2, -0.7], [0.5, 0.2, -0.3, 0.3], [0.2, 0.1, 0.0, 0.3], [-0.4, -0.1, -0.2, 0.3], [0.0, -0.1, -0.4, -0.1]]} : f32[5,4]
      %pos_table = core.const() {value = dense<f32[4,4]> [[0.0, -0.1, 0.6, 0.5], [-1.4, -0.9, -0.1, -0.2], [0.1, 0.1, 1.1, -0.6], [-0.2, 1.0, 0.3, 0.3]]} : f32[4,4]
      %tok = core.gather(%emb, %ids) {axis = 0, batch_dims = 0} : f32[4,4]
      %x = core.add(%tok, %pos_table) : f32[4,4]
      %wq = core.const() {value = dense<f32[4,4]> [[-0.3, -0.8, 0.1, 0.1], [-0.6, -0.3, -0.0, -0.5], [-0.0, 0.0, 0.0, -0.3], [0.3, 0.4, 0.2, -0.4]]} : f32[4,4]
      %q = core.matmul(%x, %wq) {transpose_a = false, transpose_b = false} : f32[4,4]
      %wk = core.const() {value = dense<f32[4,4]> [[0.4, -0.3, 0.4, -0.5], [0.5, -0.0, -0.6, -0.2], [0.0, 0.1, -0.5, -0.6], [0.1, -0.2, 0.1, 0.4]]} : f32[4,4]
      %k = core.matmul(%x, %wk) {transpose_a = false, transpose_b = false} : f32[4,4]
      %wv = core.const() {value = dense<f32[4,4]> [[-0.8, 0.1, 0.6, -0.1], [-0.4, 0.4, 0.1, 0.4], [-0.2, -0.7, -0.1, -0.2], [0.4, 0.1, -0.8, -0.6]]} : f32[4,4]
      %v = core.matmul(%x, %wv) {transpose_a = false, transpose_b = false} : f32[4,4]
      %scores = core.matmul(%q, %k) {transpose_a = false, transpose_b = true} : f32[4,4]
      %causal = core.const() {value = dense<bool[4,4]> [[true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]} : bool[4,4]
      %neg = core.const() {value = dense<f32[]> -1e+09} : f32[]
      %masked = core.select(%causal, %scores, %neg) : f32[4,4]
      %probs = core.softmax(%masked) {axis = -1, beta = 1.0} : f32[4,4]
      %attended = core.matmul(%probs, %v) {transpose_a = false, transpose_b = false} : f32[4,4]
      %y = core.add(%x, %attended) : f32[4,4]
      return %y
}
    
"""


def step_through(step, ids):
    """Run ``step`` token by token, caches threaded from zeros: the output row at each position."""
    caches = {v.name: np.zeros(v.shape, np.float32) for v in step.inputs if v.name.startswith("cache/")}
    rows = []
    for t, token in enumerate(ids):
        out = run(step, {"ids": np.array([token], np.int32), "position": np.array(t, np.int32), **caches})
        caches = {p.input: out[p.output] for p in graph_state(step)}
        rows.append(out["y"][0])
    return np.stack(rows)


def test_attention_becomes_a_step_with_caches():
    graph = parse_ir(dedent(DECODER))
    ids = np.array([3, 0, 4, 1], np.int32)
    whole = run(graph, {"ids": ids})["y"]
    run_pipeline(graph, "decode-step", verify_each=True)
    verify(graph)
    text = print_ir(graph, elide_above=4)
    assert 'graph @decoder(%ids: i32[1], %position: i32[], %"cache/0/key": f32[4,4], %"cache/0/value": f32[4,4])' in text
    assert 'core.gather(%pos_table, %"position/index") {axis = 0, batch_dims = 0} : f32[1,4]' in text
    assert 'core.gather(%causal, %"position/index") {axis = 0, batch_dims = 0} : bool[1,4]' in text
    assert 'core.dynamic_update_slice(%"cache/0/key", %k, %"cache/0/key/start") : f32[4,4]' in text
    assert "%q = core.matmul(%x, %wq) {transpose_a = false, transpose_b = false} : f32[1,4]" in text
    assert '%scores = core.matmul(%q, %"cache/0/key/write") {transpose_a = false, transpose_b = true} : f32[1,4]' in text
    # each cache is read as the right operand, transposed (LiteRT's BATCH_MATMUL adj_y): keys [T, d] as
    # the graph had them; values [d, T], written as a column at position
    assert '%"v/transposed" = core.transpose(%v, %1) : f32[4,1]' in text
    assert 'core.const() {value = dense<i32[2]> [0, 1]} : i32[2]' in text  # the value cache's start axis
    assert ('%"cache/0/value/write" = core.dynamic_update_slice(%"cache/0/value", %"v/transposed", '
            '%"cache/0/value/start") : f32[4,4]') in text
    assert ('%attended = core.matmul(%probs, %"cache/0/value/write") {transpose_a = false, transpose_b = true} '
            ': f32[1,4]') in text
    assert text.rstrip().endswith('return %y, %"cache/0/key_out", %"cache/0/value_out"\n}')
    assert [(p.input, p.output, p.shape) for p in graph_state(graph)] == [
        ("cache/0/key", "cache/0/key_out", (4, 4)), ("cache/0/value", "cache/0/value_out", (4, 4))]
    np.testing.assert_allclose(step_through(graph, ids), whole, rtol=1e-6, atol=1e-6)


def test_keys_on_the_left_move_to_the_right_of_the_product():
    """Scores computed keys x queries and transposed (tf_keras's einsum): the step computes
    (q @ K^T)^T with the key cache on the right, read transposed, and the transposes cancel."""
    text = dedent(DECODER).replace(
        "%scores = core.matmul(%q, %k) {transpose_a = false, transpose_b = true} : f32[4,4]",
        "%kq = core.matmul(%k, %q) {transpose_a = false, transpose_b = true} : f32[4,4]\n"
        "  %perm = core.const() {value = dense<i32[2]> [1, 0]} : i32[2]\n"
        "  %scores = core.transpose(%kq, %perm) : f32[4,4]")
    graph = parse_ir(text)
    ids = np.array([2, 4, 4, 0], np.int32)
    whole = run(graph, {"ids": ids})["y"]
    run_pipeline(graph, "decode-step,canonicalize", verify_each=True)
    printed = print_ir(graph, elide_above=4)
    assert ('%"kq/cache_right" = core.matmul(%q, %"cache/0/key_out") {transpose_a = false, transpose_b = true} '
            ': f32[1,4]') in printed
    assert '%masked = core.select(%"causal/at_position", %"kq/cache_right", %neg) : f32[1,4]' in printed
    assert printed.count("core.transpose(") == 1  # only the value column: ((q K^T)^T)^T is q K^T
    assert [p.input for p in graph_state(graph)] == ["cache/0/key", "cache/0/value"]
    np.testing.assert_allclose(step_through(graph, ids), whole, rtol=1e-6, atol=1e-6)


def test_equal_mask_tables_are_looked_up_once():
    """Two attention layers with their own copies of the same causal mask (each Keras block folds
    its own): one gather of the mask row at position serves both."""
    text = dedent(DECODER)
    body = text[text.index("      %scores ="):text.index("      %y = ")]
    second = body.replace("%scores", "%scores2").replace("%causal", "%causal2").replace("%neg", "%neg2") \
        .replace("%masked", "%masked2").replace("%probs", "%probs2").replace("%attended", "%attended2") \
        .replace("(%q, %k)", "(%y, %y)").replace("(%probs2, %v)", "(%probs2, %y)")
    text = text.replace("      return %y", second + "      %z = core.add(%y, %attended2) : f32[4,4]\n      return %z")
    graph = parse_ir(text)
    ids = np.array([1, 3, 0, 2], np.int32)
    whole = run(graph, {"ids": ids})["z"]
    run_pipeline(graph, "decode-step", verify_each=True)
    printed = print_ir(graph, elide_above=4)
    assert printed.count("core.gather(%causal") == 1 and "core.gather(%causal2" not in printed
    assert '%masked2 = core.select(%"causal/at_position", %scores2, %neg2) : f32[1,4]' in printed
    assert len(graph_state(graph)) == 4
    caches = {v.name: np.zeros(v.shape, np.float32) for v in graph.inputs if v.name.startswith("cache/")}
    for t, token in enumerate(ids):
        out = run(graph, {"ids": np.array([token], np.int32), "position": np.array(t, np.int32), **caches})
        caches = {p.input: out[p.output] for p in graph_state(graph)}
        np.testing.assert_allclose(out["z"][0], whole[t], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("edit, message", [
    (("%causal, %scores, %neg", "%everything, %scores, %neg"),
     r"core.select node 'masked' is not a causal mask: it lets position 0 see the later position 1"),
    (("%masked = core.select(%causal, %scores, %neg) : f32[4,4]", "%masked = core.identity(%scores) : f32[4,4]"),
     r"core.softmax node 'probs' normalizes over all key positions with no causal mask before it"),
    (("%y = core.add(%x, %attended) : f32[4,4]", "%y = core.cumsum(%attended) {axis = 0} : f32[4,4]"),
     r"core.cumsum node 'y' .* along the sequence axis"),
])
def test_mixing_later_positions_is_refused_naming_the_node(edit, message):
    text = dedent(DECODER).replace(*edit).replace(
        "  %neg =", "  %everything = core.const() {value = dense<bool[4,4]> true} : bool[4,4]\n  %neg =")
    with pytest.raises(UserError, match=message):
        run_pipeline(parse_ir(text), "decode-step")


def test_a_step_is_not_stepped_again():
    graph = parse_ir(dedent(DECODER))
    run_pipeline(graph, "decode-step")
    with pytest.raises(UserError, match=r"already has an input named 'position'"):
        run_pipeline(graph, "decode-step")
