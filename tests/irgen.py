"""Hypothesis strategy for random valid IR graphs, for property tests of passes.

    from irgen import random_graphs

    @given(random_graphs())
    def test_my_pass_keeps_numerics(case):
        graph, feeds = case
        before = run(graph, feeds)
        ...

Graphs use only ops the registry declares at draw time (core.identity always;
elementwise and shape ops, ``core.if`` and ``core.while`` when declared). They
deliberately contain dead nodes, duplicate subexpressions, constant-only
subtrees and odd value names (TF-style ``a/b:0``, unnamed, repeated), so dce,
cse and fold-constants have something to do. Values are f32 in [-2, 2], so
``exp``-free ops stay finite. Graph outputs always have distinct names, so
``run(graph, feeds)`` returns one entry per output.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from litesmith.ir import Builder, DType, Graph, TensorType, Value, get_op

F32 = DType.FLOAT32
UNARY = ["core.identity", "core.tanh", "core.relu", "core.neg", "core.abs"]
BINARY = ["core.add", "core.sub", "core.mul", "core.maximum", "core.minimum"]
ACTIONS = ["const", "unary", "binary", "dup", "const_subtree", "reshape", "transpose", "concat", "if", "while"]

_elements = st.floats(-2, 2, width=32, allow_nan=False, allow_infinity=False)


def _declared(names: List[str]) -> List[str]:
    return [n for n in names if get_op(n) is not None]


def _tensor(draw, shape) -> np.ndarray:
    return draw(hnp.arrays(np.float32, shape, elements=_elements))


def _broadcastable(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


@st.composite
def _name(draw, used: List[str]) -> str:
    kind = draw(st.sampled_from(["none", "plain", "tf", "repeat"]))
    k = len(used)
    if kind == "none":
        return ""
    if kind == "plain":
        name = f"v{k}"
    elif kind == "tf" or not used:
        name = draw(st.sampled_from([f"block/op_{k}:0", f"rnn/while/Exit_{k}:0", f"a.b-{k}", f"x y{k}"]))
    else:
        name = draw(st.sampled_from(used))
    used.append(name)
    return name


def _region(name: str, arg_types, build) -> Graph:
    """A region graph with arguments of ``arg_types``; ``build(builder, args)`` returns its results."""
    g = Graph(name)
    args = [g.add_input(t, f"{name}_arg{i}") for i, t in enumerate(arg_types)]
    g.outputs = list(build(Builder(g), args))
    return g


@st.composite
def random_graphs(draw, max_nodes: int = 12, max_inputs: int = 3, control_flow: bool = True):
    """Strategy yielding ``(graph, feeds)``: a valid graph and numpy inputs by name."""
    unary = _declared(UNARY)
    binary = _declared(BINARY)
    rows = draw(st.integers(1, 3))
    cols = draw(st.integers(1, 4))
    base = (rows, cols)
    g = Graph("main")
    feeds: Dict[str, np.ndarray] = {}
    pool: List[Value] = []
    for i in range(draw(st.integers(1, max_inputs))):
        shape = draw(st.sampled_from([base, base, (cols,), ()]))
        x = g.add_input(TensorType(F32, shape), f"x{i}")
        feeds[x.name] = _tensor(draw, shape)
        pool.append(x)
    b = Builder(g)
    used_names: List[str] = []
    made = []  # (op, inputs, attrs) of nodes built, for duplicates

    def new_const(shape):
        return b.const(_tensor(draw, shape), name=draw(_name(used_names)))

    def pick(cond=lambda v: True):
        choices = [v for v in pool if cond(v)]
        return draw(st.sampled_from(choices)) if choices else None

    def emit(op, inputs, attrs=None, **kw):
        meta = {"source": f"src/{op}_{len(made)}"} if draw(st.booleans()) else None
        v = b.op(op, inputs, attrs, name=draw(_name(used_names)), meta=meta, **kw)
        if not kw.get("regions"):  # nodes with regions are not duplicated: regions cannot be shared
            made.append((op, list(inputs), dict(attrs or {})))
        pool.append(v)
        return v

    available = {"const", "dup", "unary"}
    if binary:
        available |= {"binary", "const_subtree"}
    if get_op("core.reshape"):
        available.add("reshape")
    if get_op("core.transpose"):
        available.add("transpose")
    if get_op("core.concat"):
        available.add("concat")
    if control_flow and get_op("core.if"):
        available.add("if")
    if control_flow and get_op("core.while") and _declared(["core.less", "core.add"]) == ["core.less", "core.add"]:
        available.add("while")
    actions = [a for a in ACTIONS if a in available]

    for _ in range(draw(st.integers(1, max_nodes))):
        action = draw(st.sampled_from(actions))
        if action == "const":
            pool.append(new_const(draw(st.sampled_from([base, (cols,), ()]))))
        elif action == "unary":
            emit(draw(st.sampled_from(unary)), [pick()])
        elif action == "binary":
            x = pick()
            y = pick(lambda v: _broadcastable(v.shape, x.shape))
            emit(draw(st.sampled_from(binary)), [x, y])
        elif action == "const_subtree":
            c1, c2 = new_const(base), new_const(draw(st.sampled_from([base, (cols,), ()])))
            emit(draw(st.sampled_from(binary)), [c1, c2])
        elif action == "dup" and made:
            op, inputs, attrs = draw(st.sampled_from(made))
            emit(op, inputs, attrs)
        elif action == "reshape":
            x = pick(lambda v: len(v.shape) >= 1)
            if x is not None:
                n = int(np.prod(x.shape))
                target = draw(st.sampled_from([[n], [1, n], [-1], list(reversed(x.shape))]))
                emit("core.reshape", [x, b.const(np.array(target, np.int32))])
        elif action == "transpose":
            x = pick(lambda v: len(v.shape) == 2)
            if x is not None:
                emit("core.transpose", [x, b.const(np.array([1, 0], np.int32))])
        elif action == "concat":
            x = pick(lambda v: len(v.shape) >= 1 and int(np.prod(v.shape)) <= 12)
            if x is not None:
                y = pick(lambda v: v.shape == x.shape)
                emit("core.concat", [x, y], {"axis": 0})
        elif action == "if":
            x = pick()
            flag = b.const(np.array(draw(st.booleans())))
            op_then, op_else = draw(st.sampled_from(unary)), draw(st.sampled_from(unary))
            then = _region("then", [x.type], lambda rb, a: [rb.op(op_then, [a[0]])])
            other = _region("else", [x.type], lambda rb, a: [rb.op(op_else, [a[0]])])
            emit("core.if", [flag, x], regions=[then, other])
        elif action == "while":
            x = pick()
            start = b.const(np.array(0, np.int32))
            trips = draw(st.integers(0, 3))
            op_body = draw(st.sampled_from(unary))

            def cond(rb, a):
                return [rb.op("core.less", [a[0], rb.const(np.array(trips, np.int32))])]

            def body(rb, a):
                return [rb.op("core.add", [a[0], rb.const(np.array(1, np.int32))]), rb.op(op_body, [a[1]])]

            types = [TensorType(DType.INT32, ()), x.type]
            node = b.create("core.while", [start, x], {"max_iterations": 8},
                            regions=[_region("cond", types, cond), _region("body", types, body)])
            pool.append(node.outputs[1])

    candidates = [v for v in pool if v.producer is not None] or pool
    outs = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique_by=id))
    seen = set(feeds)
    for i, v in enumerate(outs):
        if v.producer is not None and (not v.name or v.name in seen):
            v.name = f"out{i}"
        seen.add(v.name)
    g.outputs = outs
    return g, feeds
