"""O(1) IR edits, checked structurally on 20k-node graphs (never by wall-clock time).

Each test counts the work an edit does: node comparisons (``Node.__eq__``,
what ``list.remove``/``list.index`` call) and full walks of a node list
(``Graph.nodes``). With a linked node list both stay constant however many
edits are made; with a Python list they grow with the graph.
"""
import numpy as np
import pytest

from litesmith.ir import Builder, DType, Graph, TensorType, run
from litesmith.ir.graph import Node
from litesmith.passes.fold_constants import FoldConstants
from litesmith.passes.pass_base import PassContext
from litesmith.passes.rewrite import apply_patterns_greedily, pattern

N = 20_000
F32 = DType.FLOAT32


class Counters:
    def __init__(self):
        self.node_eq = 0
        self.walks = 0


@pytest.fixture
def counted(monkeypatch):
    """Count Node.__eq__ calls and Graph.nodes walks while a test edits."""
    c = Counters()
    eq, nodes = Node.__eq__, Graph.nodes.fget

    def counting_eq(self, other):
        c.node_eq += 1
        return eq(self, other)

    def counting_nodes(self):
        c.walks += 1
        return nodes(self)

    monkeypatch.setattr(Node, "__eq__", counting_eq)
    monkeypatch.setattr(Graph, "nodes", property(counting_nodes))
    return c


def identity_chain(n):
    g = Graph()
    x = g.add_input(TensorType(F32, (2,)), "x")
    b = Builder(g)
    v = x
    for i in range(n):
        v = b.op("core.identity", [v], name=f"i{i}")
    g.outputs = [b.op("core.neg", [v], name="y")]
    return g


def test_erasing_20k_nodes_through_the_rewriter_compares_no_nodes(counted):
    g = identity_chain(N)

    @pattern("core.identity")
    def bypass(node, rw):
        rw.replace_node(node, [node.inputs[0]])
        return True

    result = apply_patterns_greedily(g, [bypass])
    assert result.converged and result.applied["bypass"] == N
    assert len(g) == 1 and [n.op for n in g] == ["core.neg"]
    assert counted.node_eq == 0
    assert counted.walks <= 2 * result.iterations + 2  # the seeding walks, never one per rewrite
    np.testing.assert_array_equal(run(g, {"x": np.array([1, -2], np.float32)})["y"], [-1, 2])


def test_inserting_before_and_after_every_node_is_constant_work(counted):
    g = identity_chain(N)
    originals = g.nodes
    counted.walks = 0
    scalar = TensorType(F32, ())
    for node in originals:
        g.insert_before(node, Node("core.const", attrs={"value": np.float32(0)}, output_types=[scalar]))
        g.insert_after(node, Node("core.const", attrs={"value": np.float32(1)}, output_types=[scalar]))
    assert len(g) == 3 * (N + 1)
    assert counted.node_eq == 0 and counted.walks == 0
    ops = [n.op for n in g]
    assert ops[:4] == ["core.const", "core.identity", "core.const", "core.const"]
    assert g.is_before(originals[0], originals[-1]) and not g.is_before(originals[5], originals[4])


def test_position_renumbers_once_after_many_edits():
    g = identity_chain(N)
    nodes = g.nodes
    last = nodes[-1]
    assert g.position(last) == N
    for node in nodes[: N // 2]:
        node.output.replace_all_uses_with(node.inputs[0])
        g.remove(node)
    assert g.position(last) == N - N // 2  # renumbered lazily, correct after 10k removals


def test_wide_fanout_replace_is_linear(counted):
    """One value used by 20k nodes: replacing it and dropping each use touch each use once."""
    g = Graph()
    x = g.add_input(TensorType(F32, (2,)), "x")
    y = g.add_input(TensorType(F32, (2,)), "y")
    b = Builder(g)
    outs = [b.op("core.neg", [x]) for _ in range(N)]
    g.outputs = outs
    x.replace_all_uses_with(y)
    assert x.num_uses() == 0 and y.num_uses() == N
    for node in [v.producer for v in outs[: N // 2]]:
        node.drop_inputs()
    assert y.num_uses() == N - N // 2
    assert counted.node_eq == 0


def test_fold_constants_folds_a_deep_shape_chain_in_one_sweep(counted):
    """reshape(h, stack([shape(h)[0], 2])) N times, with a dynamic batch made static:
    every shape query folds in one ordered sweep, not one per link of the chain."""
    links = 1000
    g = Graph()
    x = g.add_input(TensorType(F32, (1, 2)), "x")
    b = Builder(g)
    h = x
    for i in range(links):
        h = b.op("core.relu", [h])
        dims = b.op("core.shape", [h])
        first = b.op("core.strided_slice", [dims, b.const([0]), b.const([1]), b.const([1])], {"shrink_axis_mask": 1})
        target = b.op("core.pack", [first, b.const(np.int32(2))], {"axis": 0})
        h = b.op("core.reshape", [h, target])
        h.set_type(TensorType(F32, (None, None)))  # as a frontend without shape knowledge leaves it
    g.outputs = [h]
    counted.walks = 0
    ctx = PassContext()
    FoldConstants().run(g, ctx)
    assert len(ctx.report["shape_queries"]) == links
    assert g.outputs[0].shape == (1, 2)
    assert sum(1 for n in g if n.op == "core.shape") == 0
    assert counted.walks < 40  # a few sweeps in all, not one per link
