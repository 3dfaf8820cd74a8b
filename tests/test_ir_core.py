"""The IR core: values, uses, safe mutation while iterating, interpreter basics."""
import numpy as np
import pytest

from litesmith.ir import Builder, DType, Graph, IRError, TensorType, run


def _graph():
    g = Graph()
    x = g.add_input(TensorType(DType.FLOAT32, (2, 3)), "x")
    b = Builder(g)
    a = b.op("core.identity", [x], name="a")
    c = b.op("core.identity", [a], name="c")
    g.outputs = [c]
    return g, x, a, c


def test_uses_and_replace_all_uses_with():
    g, x, a, c = _graph()
    assert [u.node.op for u in x.uses()] == ["core.identity"]
    a.replace_all_uses_with(x)
    assert c.producer.inputs == [x]
    assert not a.has_uses()
    g.remove(a.producer)
    assert len(g) == 1
    c.replace_all_uses_with(x)
    assert g.outputs == [x]


def test_remove_with_uses_is_refused():
    g, x, a, c = _graph()
    with pytest.raises(IRError, match="still has uses"):
        g.remove(a.producer)


def test_mutation_while_iterating():
    g, x, a, c = _graph()
    seen = []
    for node in g:
        seen.append(node.outputs[0].name)
        if node is a.producer:
            a.replace_all_uses_with(x)
            g.remove(node)
            Builder(g, before=c.producer).op("core.identity", [x], name="new")
    assert seen == ["a", "c"]
    assert [n.outputs[0].name for n in g] == ["new", "c"]


def test_interpreter_runs_identity_chain():
    g, *_ = _graph()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run(g, {"x": x})["c"], x)


def test_import_does_not_pull_tensorflow():
    import subprocess
    import sys

    code = "import litesmith, litesmith.ir, sys; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_state_pairs_round_trip_through_one_encoding():
    from litesmith.ir.errors import UserError
    from litesmith.ir.state import STATE_META_KEY, StatePair, add_state, decode_state, encode_state, graph_state

    g, *_ = _graph()
    assert graph_state(g) == []
    add_state(g, [StatePair("state/0", "state/0_out", (8,), "zeros", "cell/add")])
    add_state(g, [StatePair("h", "h_out", (1, 4))])
    assert g.meta[STATE_META_KEY] == (b'[{"input": "state/0", "output": "state/0_out", "shape": [8], "initial": "zeros", '
                                      b'"source": "cell/add"}, {"input": "h", "output": "h_out", "shape": [1, 4]}]')
    assert decode_state(encode_state(graph_state(g))) == graph_state(g)
    with pytest.raises(UserError, match=r"m.tflite: malformed 'litesmith.state' metadata"):
        decode_state(b'[{"in": 1}]', "m.tflite")
