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
