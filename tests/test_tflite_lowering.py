"""Lowering core ops to TFLite: every pattern compiles, runs in LiteRT and matches
the reference interpreter run on the same core graph (1e-5)."""
from __future__ import annotations

import numpy as np
import pytest

from litesmith.backends.tflite.compile import compile_to_tflite
from litesmith.ir import Builder, DType, Graph, TensorType, run

F32, I32, I64, BOOL = DType.FLOAT32, DType.INT32, DType.INT64, DType.BOOL
RNG = np.random.default_rng(0)


# -- helpers -------------------------------------------------------------------------------------


def graph_of(inputs, build):
    """A graph with ``inputs`` ({name: (dtype, shape)}) whose outputs ``build(b, *xs)`` returns."""
    g = Graph("t")
    xs = [g.add_input(TensorType(dt, shape), name) for name, (dt, shape) in inputs.items()]
    b = Builder(g)
    outs = build(b, *xs)
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    for i, v in enumerate(outs):
        v.name = v.name or f"out{i}"
    g.outputs = outs
    return g


def random_feed(dtype, shape, low=-2.0, high=2.0):
    if dtype is F32:
        return RNG.uniform(low, high, size=shape).astype(np.float32)
    if dtype is BOOL:
        return RNG.integers(0, 2, size=shape).astype(bool)
    return RNG.integers(int(low), int(high) + 1, size=shape).astype(dtype.np)


def run_litert(interpreter_cls, blob, graph_inputs, feeds):
    interp = interpreter_cls(model_content=blob)
    interp.allocate_tensors()
    details = interp.get_input_details()
    by_name = {d["name"]: d for d in details}
    for i, v in enumerate(graph_inputs):
        d = by_name.get(v.name, details[i])
        interp.set_tensor(d["index"], np.asarray(feeds[v.name], dtype=d["dtype"]))
    interp.invoke()
    return [interp.get_tensor(d["index"]) for d in interp.get_output_details()], interp


def check(litert, inputs, build, feeds=None, tol=1e-5, **feed_range):
    """Compile ``build``'s graph, run it in LiteRT and compare with the reference interpreter.

    Returns (report, LiteRT op names, lowered graph) for structure assertions."""
    g = graph_of(inputs, build)
    feeds = feeds or {n: random_feed(dt, s, **feed_range) for n, (dt, s) in inputs.items()}
    expected = run(g, feeds)
    out_names = g.output_names()
    graph_inputs = list(g.inputs)
    report = {}
    blob = compile_to_tflite(g, report=report)
    got, interp = run_litert(litert, blob, graph_inputs, feeds)
    assert len(got) == len(out_names)
    for name, y in zip(out_names, got):
        want = expected[name]
        assert y.shape == want.shape, f"{name}: LiteRT shape {y.shape}, reference {want.shape}"
        if want.dtype.kind in "f":
            np.testing.assert_allclose(y, want, rtol=tol, atol=tol, err_msg=name)
        else:
            np.testing.assert_array_equal(y, want, err_msg=name)
    ops = [d["op_name"] for d in interp._get_ops_details() if d["op_name"] != "DELEGATE"]  # XNNPACK
    return report, ops, g


def c(b, value, dtype=F32):
    return b.const(np.asarray(value, dtype=dtype.np))


# -- elementwise -----------------------------------------------------------------------------------

UNARY_CASES = {
    "core.neg": {}, "core.abs": {}, "core.sqrt": {"low": 0.1}, "core.rsqrt": {"low": 0.1},
    "core.exp": {}, "core.log": {"low": 0.1}, "core.sin": {}, "core.cos": {}, "core.tanh": {},
    "core.sigmoid": {}, "core.relu": {}, "core.relu6": {"low": -3, "high": 9}, "core.elu": {},
    "core.floor": {}, "core.ceil": {}, "core.square": {}, "core.sign": {},
    "core.hard_swish": {"low": -5, "high": 5}, "core.reciprocal": {"low": 0.5}, "core.softplus": {"low": -20, "high": 20},
    "core.selu": {}, "core.log1p": {"low": -0.5}, "core.expm1": {}, "core.atan": {"low": -30, "high": 30},
    "core.tan": {"low": -1.5, "high": 1.5}, "core.softsign": {"low": -20, "high": 20},
}


@pytest.mark.parametrize("op", sorted(UNARY_CASES))
def test_unary(litert_interpreter, op):
    check(litert_interpreter, {"x": (F32, (2, 3, 4))}, lambda b, x: b.op(op, [x]), **UNARY_CASES[op])


def test_round_half_to_even(litert_interpreter):
    feeds = {"x": np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3], np.float32)}
    check(litert_interpreter, {"x": (F32, (7,))}, lambda b, x: b.op("core.round", [x]), feeds=feeds)


def test_logical_not(litert_interpreter):
    check(litert_interpreter, {"x": (BOOL, (5,))}, lambda b, x: b.op("core.logical_not", [x]))


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu(litert_interpreter, approximate):
    check(litert_interpreter, {"x": (F32, (3, 4))}, lambda b, x: b.op("core.gelu", [x], {"approximate": approximate}))


def test_leaky_relu(litert_interpreter):
    check(litert_interpreter, {"x": (F32, (3, 4))}, lambda b, x: b.op("core.leaky_relu", [x], {"alpha": 0.3}))


ARITH = ["core.add", "core.sub", "core.mul", "core.div", "core.maximum", "core.minimum", "core.squared_difference"]
COMPARE = ["core.equal", "core.not_equal", "core.less", "core.less_equal", "core.greater", "core.greater_equal"]


@pytest.mark.parametrize("op", ARITH + COMPARE)
def test_binary_broadcasting(litert_interpreter, op):
    feeds = {"x": random_feed(F32, (2, 3, 4)), "y": random_feed(F32, (3, 1)) + 3.0}
    if op in COMPARE:
        feeds["y"] = np.round(feeds["y"] - 3.0)
        feeds["x"] = np.round(feeds["x"])
    check(litert_interpreter, {"x": (F32, (2, 3, 4)), "y": (F32, (3, 1))}, lambda b, x, y: b.op(op, [x, y]), feeds=feeds)


@pytest.mark.parametrize("op", ["core.floor_div", "core.floor_mod", "core.div"])
def test_integer_division(litert_interpreter, op):
    feeds = {"x": np.array([7, -7, 6, -6, 0, 5], np.int32), "y": np.array([2, 2, -4, -4, 3, -3], np.int32)}
    check(litert_interpreter, {"x": (I32, (6,)), "y": (I32, (6,))}, lambda b, x, y: b.op(op, [x, y]), feeds=feeds)


@pytest.mark.parametrize("sy,sx", [((2, 3), (2, 3)), ((2, 3), (3,)), ((), (2, 3))], ids=str)
def test_atan2_broadcasts_before_atan2(litert_interpreter, sy, sx):
    """TFLite's ATAN2 wants equal shapes: a broadcast operand gets a BROADCAST_TO."""
    _, ops, _ = check(litert_interpreter, {"y": (F32, sy), "x": (F32, sx)}, lambda b, y, x: b.op("core.atan2", [y, x]))
    assert ops.count("ATAN2") == 1 and ops.count("BROADCAST_TO") == (sy != sx)


def test_atan_is_atan2_of_ones_tan_is_sin_over_cos_after_range_reduction(litert_interpreter):
    _, ops, _ = check(litert_interpreter, {"x": (F32, (2, 3))}, lambda b, x: b.op("core.atan", [x]), low=-9, high=9)
    assert ops == ["FILL", "ATAN2"]
    _, ops, _ = check(litert_interpreter, {"x": (F32, (2, 3))}, lambda b, x: b.op("core.tan", [x]), low=-1.5, high=1.5)
    assert {"ROUND", "SIN", "COS", "DIV", "SELECT_V2"} <= set(ops)  # r = x - k pi/2, then sin/cos or -cos/sin


def test_pow(litert_interpreter):
    check(litert_interpreter, {"x": (F32, (2, 3)), "y": (F32, (2, 3))}, lambda b, x, y: b.op("core.pow", [x, y]), low=0.5)


@pytest.mark.parametrize("op", ["core.logical_and", "core.logical_or"])
def test_logical(litert_interpreter, op):
    check(litert_interpreter, {"x": (BOOL, (4,)), "y": (BOOL, (4,))}, lambda b, x, y: b.op(op, [x, y]))


def test_select_and_cast(litert_interpreter):
    def build(b, x, y):
        cond = b.op("core.greater", [x, y])
        s = b.op("core.select", [cond, x, y])
        return [s, b.op("core.cast", [s], {"dtype": I32}), b.op("core.cast", [cond], {"dtype": F32})]

    check(litert_interpreter, {"x": (F32, (2, 3)), "y": (F32, (2, 3))}, build, low=-9, high=9)


# -- linear algebra and NN -------------------------------------------------------------------------


def _conv(op, pad="SAME", strides=(1, 1), dilations=(1, 1), explicit=(), m=None, k=3):
    def build(b, x):
        cin = x.shape[3]
        shape = (k, k, cin, m) if op == "core.depthwise_conv2d" else (k, k, cin, 5)
        w = c(b, RNG.normal(size=shape))
        attrs = {"strides": list(strides), "dilations": list(dilations), "padding": pad}
        if explicit:
            attrs["explicit_paddings"] = list(explicit)
        return b.op(op, [x, w], attrs)

    return build


CONV_CASES = {
    "same": {}, "valid": {"pad": "VALID"}, "stride2": {"strides": (2, 2)}, "dilation2": {"dilations": (2, 2)},
    "stride2_valid": {"pad": "VALID", "strides": (2, 1)},
    "explicit_as_same": {"pad": "EXPLICIT", "explicit": (1, 1, 1, 1)},
    "explicit_other": {"pad": "EXPLICIT", "explicit": (0, 2, 1, 0)},
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv2d(litert_interpreter, case):
    report, ops, _ = check(litert_interpreter, {"x": (F32, (1, 9, 8, 3))}, _conv("core.conv2d", **CONV_CASES[case]), tol=1e-4)
    assert ops.count("CONV_2D") == 1
    assert ("PAD" in ops) == (case == "explicit_other")


@pytest.mark.parametrize("case", ["same", "valid", "stride2", "explicit_other"])
@pytest.mark.parametrize("m", [1, 2])
def test_depthwise_conv2d(litert_interpreter, case, m):
    _, ops, _ = check(litert_interpreter, {"x": (F32, (1, 9, 8, 3))}, _conv("core.depthwise_conv2d", m=m, **CONV_CASES[case]), tol=1e-4)
    assert ops.count("DEPTHWISE_CONV_2D") == 1


@pytest.mark.parametrize("op,tfl", [("core.max_pool", "MAX_POOL_2D"), ("core.avg_pool", "AVERAGE_POOL_2D")])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_pools(litert_interpreter, op, tfl, padding):
    build = lambda b, x: b.op(op, [x], {"ksize": [3, 2], "strides": [2, 2], "padding": padding})
    _, ops, _ = check(litert_interpreter, {"x": (F32, (1, 7, 6, 3))}, build)
    assert ops == [tfl]


@pytest.mark.parametrize("a_shape,w_shape,tb", [((4, 6), (6, 5), False), ((2, 3, 6), (6, 5), False), ((4, 6), (5, 6), True)])
def test_matmul_const_weights_is_fully_connected(litert_interpreter, a_shape, w_shape, tb):
    build = lambda b, a: b.op("core.matmul", [a, c(b, RNG.normal(size=w_shape))], {"transpose_b": tb})
    _, ops, _ = check(litert_interpreter, {"a": (F32, a_shape)}, build, tol=1e-4)
    assert ops == ["FULLY_CONNECTED"]


@pytest.mark.parametrize("a_shape,b_shape,ta,tb", [((4, 6), (6, 5), False, False), ((2, 3, 6), (1, 5, 6), False, True), ((2, 6, 3), (2, 6, 4), True, False)])
def test_matmul_dynamic_is_batch_matmul(litert_interpreter, a_shape, b_shape, ta, tb):
    build = lambda b, x, y: b.op("core.matmul", [x, y], {"transpose_a": ta, "transpose_b": tb})
    _, ops, _ = check(litert_interpreter, {"a": (F32, a_shape), "b": (F32, b_shape)}, build, tol=1e-4)
    assert ops == ["BATCH_MATMUL"]


@pytest.mark.parametrize("op", ["core.softmax", "core.log_softmax"])
@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax_any_axis(litert_interpreter, op, axis):
    attrs = {"axis": axis, **({"beta": 0.5} if op == "core.softmax" else {})}
    _, ops, _ = check(litert_interpreter, {"x": (F32, (2, 3, 4))}, lambda b, x: b.op(op, [x], attrs))
    assert ops.count("TRANSPOSE") == (0 if axis == -1 else 2)


@pytest.mark.parametrize("op", ["core.resize_bilinear", "core.resize_nearest"])
@pytest.mark.parametrize("align,half", [(False, False), (True, False), (False, True)])
def test_resize(litert_interpreter, op, align, half):
    build = lambda b, x: b.op(op, [x, c(b, [7, 5], I32)], {"align_corners": align, "half_pixel_centers": half})
    check(litert_interpreter, {"x": (F32, (1, 4, 3, 2))}, build)


# -- shapes and data movement ----------------------------------------------------------------------


def test_reshape_transpose_expand_squeeze(litert_interpreter):
    def build(b, x):
        r = b.op("core.reshape", [x, c(b, [4, -1], I64)])
        t = b.op("core.transpose", [r, c(b, [1, 0], I32)])
        e = b.op("core.expand_dims", [t], {"axis": -1})
        s = b.op("core.squeeze", [b.op("core.expand_dims", [x], {"axis": 0})], {"axes": []})
        return [e, s]

    check(litert_interpreter, {"x": (F32, (2, 2, 3))}, build)


def test_concat_pack_unpack(litert_interpreter):
    def build(b, x, y):
        cat = b.op("core.concat", [x, y, x], {"axis": -1})
        packed = b.op("core.pack", [x, y], {"axis": 1})
        u0, u1, u2 = b.op("core.unpack", [x], {"axis": 1, "num": 3})
        return [cat, packed, u1]

    check(litert_interpreter, {"x": (F32, (2, 3)), "y": (F32, (2, 3))}, build)


@pytest.mark.parametrize("sizes", [[2, 2, 2], [1, -1, 3]])
def test_split(litert_interpreter, sizes):
    _, ops, _ = check(litert_interpreter, {"x": (F32, (3, 6))}, lambda b, x: b.op("core.split", [x], {"axis": 1, "sizes": sizes}))
    assert ops == (["SPLIT"] if sizes == [2, 2, 2] else ["SPLIT_V"])


def test_slice_and_strided_slice(litert_interpreter):
    def build(b, x):
        s = b.op("core.slice", [x, c(b, [1, 0, 1], I32), c(b, [-1, 2, 2], I32)])
        ss = b.op("core.strided_slice", [x, c(b, [0, 1, 0], I32), c(b, [0, 3, 4], I32), c(b, [1, 1, 2], I32)],
                  {"begin_mask": 1, "end_mask": 1, "shrink_axis_mask": 0})
        shrink = b.op("core.strided_slice", [x, c(b, [1, 0, -1], I32), c(b, [2, 3, 0], I32), c(b, [1, 1, 1], I32)],
                      {"shrink_axis_mask": 5, "end_mask": 2})
        rev = b.op("core.strided_slice", [x, c(b, [0, -1], I32), c(b, [0, 0], I32), c(b, [1, -1], I32)],
                   {"begin_mask": 1, "end_mask": 3})
        return [s, ss, shrink, rev]

    check(litert_interpreter, {"x": (F32, (3, 4, 5))}, build)


def test_int64_indices_saturate_to_int32(litert_interpreter):
    """INT64_MAX / INT64_MIN ("to the end" forwards and backwards) become INT32_MAX / INT32_MIN, not -1 / 0."""
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min

    def build(b, x):
        fwd = b.op("core.strided_slice", [x, c(b, [0, 1, 2], I64), c(b, [big, big, big], I64), c(b, [1, 2, 1], I64)])
        back = b.op("core.strided_slice", [x, c(b, [big, 0, 4], I64), c(b, [small, big, 0], I64), c(b, [-1, 1, -2], I64)])
        return [fwd, back]

    _, _, g = check(litert_interpreter, {"x": (F32, (3, 4, 5))}, build)
    assert [v.shape for v in g.outputs] == [(3, 2, 3), (3, 4, 2)]


@pytest.mark.parametrize("mask", ["ellipsis", "new_axis"])
def test_strided_slice_ellipsis_and_new_axis(litert_interpreter, mask):
    def build(b, x):
        if mask == "ellipsis":
            return b.op("core.strided_slice", [x, c(b, [0, 1], I32), c(b, [0, 3], I32), c(b, [1, 1], I32)], {"ellipsis_mask": 1})
        return b.op("core.strided_slice", [x, c(b, [0, 0, 1], I32), c(b, [0, 0, 3], I32), c(b, [1, 1, 1], I32)],
                    {"new_axis_mask": 2, "begin_mask": 1, "end_mask": 1})

    check(litert_interpreter, {"x": (F32, (3, 4, 5))}, build)


def test_gather(litert_interpreter):
    def build(b, p, i):
        g0 = b.op("core.gather", [p, i], {"axis": 1})
        bi = c(b, [[0, 2], [1, 1], [3, 0]], I32)
        g1 = b.op("core.gather", [p, bi], {"axis": 1, "batch_dims": 1})
        nd = b.op("core.gather_nd", [p, c(b, [[0, 1], [2, 3]], I64)])
        return [g0, g1, nd]

    feeds = {"p": random_feed(F32, (3, 4, 2)), "i": np.array([3, 0, 1], np.int32)}
    check(litert_interpreter, {"p": (F32, (3, 4, 2)), "i": (I32, (3,))}, build, feeds=feeds)


@pytest.mark.parametrize("mode,value", [("CONSTANT", None), ("CONSTANT", 1.5), ("REFLECT", None), ("SYMMETRIC", None)])
def test_pad(litert_interpreter, mode, value):
    def build(b, x):
        ins = [x, c(b, [[1, 0], [2, 1]], I32)] + ([c(b, value)] if value is not None else [])
        return b.op("core.pad", ins, {"mode": mode})

    _, ops, _ = check(litert_interpreter, {"x": (F32, (3, 4))}, build)
    assert ops == [{"REFLECT": "MIRROR_PAD", "SYMMETRIC": "MIRROR_PAD"}.get(mode, "PAD" if value is None else "PADV2")]


def test_tile_broadcast_reverse_one_hot(litert_interpreter):
    def build(b, x, i):
        t = b.op("core.tile", [x, c(b, [2, 1, 3], I32)])
        bt = b.op("core.broadcast_to", [x, c(b, [2, 2, 3, 1], I64)])
        r = b.op("core.reverse", [x], {"axes": [0, -2]})
        oh = b.op("core.one_hot", [i, c(b, 4, I32), c(b, 2.0), c(b, -1.0)], {"axis": -1})
        return [t, bt, r, oh]

    feeds = {"x": random_feed(F32, (2, 3, 1)), "i": np.array([0, 3, 1, 5], np.int32)}
    check(litert_interpreter, {"x": (F32, (2, 3, 1)), "i": (I32, (4,))}, build, feeds=feeds)


REDUCE = ["core.reduce_sum", "core.reduce_mean", "core.reduce_max", "core.reduce_min", "core.reduce_prod"]


@pytest.mark.parametrize("op", REDUCE)
@pytest.mark.parametrize("axes,keep", [([1], False), ([-1, 0], True)])
def test_reductions(litert_interpreter, op, axes, keep):
    check(litert_interpreter, {"x": (F32, (2, 3, 4))}, lambda b, x: b.op(op, [x], {"axes": axes, "keepdims": keep}))


@pytest.mark.parametrize("op", ["core.reduce_any", "core.reduce_all"])
def test_bool_reductions(litert_interpreter, op):
    check(litert_interpreter, {"x": (BOOL, (3, 4))}, lambda b, x: b.op(op, [x], {"axes": [1]}))


def test_arg_top_k_cumsum(litert_interpreter):
    def build(b, x):
        am = b.op("core.argmax", [x], {"axis": -1, "output_type": I32})
        an = b.op("core.argmin", [x], {"axis": 0, "output_type": I64})
        vals, idx = b.op("core.top_k", [x, c(b, 2, I32)])
        cs = b.op("core.cumsum", [x], {"axis": 1, "exclusive": True, "reverse": True})
        return [am, an, vals, idx, cs]

    check(litert_interpreter, {"x": (F32, (3, 5))}, build)


def test_shape_ops_become_constants(litert_interpreter):
    def build(b, x):
        s = b.op("core.shape", [x], {"dtype": I32})
        filled = b.op("core.fill", [s, c(b, 1.5)])
        rng = b.op("core.range", [c(b, 0, I32), b.op("core.size", [x]), c(b, 2, I32)])
        return [b.op("core.add", [x, filled]), rng, b.op("core.rank", [x])]

    report, ops, _ = check(litert_interpreter, {"x": (F32, (2, 3))}, build)
    assert "SHAPE" not in ops and "RANK" not in ops


def test_every_lowering_is_documented():
    import os
    import re

    from litesmith.backends.tflite.lower import LOWERINGS, _load_lowerings

    _load_lowerings()
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "tflite-backend.md")).read()
    words = set(re.findall(r"[a-z_0-9]+", doc))
    missing = [op for op in LOWERINGS if op.split(".", 1)[1] not in words]
    assert not missing, f"add to docs/tflite-backend.md: {missing}"


def test_identity_is_removed_unless_it_names_an_input(litert_interpreter):
    build = lambda b, x: [b.op("core.identity", [x], name="same_as_x"), b.op("core.identity", [b.op("core.relu", [x])], name="r")]
    _, ops, g = check(litert_interpreter, {"x": (F32, (2, 3))}, build)
    assert sorted(ops) == ["RELU", "RESHAPE"] and g.output_names() == ["same_as_x", "r"]


# -- matrix structure ----------------------------------------------------------------------------


@pytest.mark.parametrize("lower,upper", [(-1, 0), (0, -1), (1, 2), (-1, -1)], ids=str)
def test_band_part_is_a_select_against_a_constant_mask(litert_interpreter, lower, upper):
    build = lambda b, x: b.op("core.matrix_band_part", [x, c(b, lower, I64), c(b, upper, I64)])  # noqa: E731
    _, ops, _ = check(litert_interpreter, {"x": (F32, (2, 4, 5))}, build)
    assert ops == (["RESHAPE"] if (lower, upper) == (-1, -1) else ["SELECT_V2"])  # (-1, -1) keeps all: a copy of the input


DIAG_CASES = [  # (diagonal shape, k, rows, cols, padding, align, TFLite ops)
    ((2, 4), 0, -1, -1, 0.0, "RIGHT_LEFT", ["MATRIX_DIAG"]),
    ((3,), -1, -1, -1, 2.5, "RIGHT_LEFT", ["GATHER", "SELECT_V2"]),
    ((3,), 0, 3, 5, 0.0, "LEFT_LEFT", ["GATHER", "SELECT_V2"]),
    ((2, 3, 4), [-1, 1], -1, -1, 0.0, "LEFT_RIGHT", ["RESHAPE", "GATHER", "SELECT_V2"]),
]


@pytest.mark.parametrize("shape,k,rows,cols,pad,align,want_ops", DIAG_CASES, ids=str)
def test_matrix_diag_of_an_input(litert_interpreter, shape, k, rows, cols, pad, align, want_ops):
    def build(b, d):
        consts = [c(b, k, I32), c(b, rows, I32), c(b, cols, I32), c(b, pad)]
        return b.op("core.matrix_diag", [d] + consts, {"align": align})

    _, ops, _ = check(litert_interpreter, {"d": (F32, shape)}, build)
    assert ops == want_ops


# -- what lowering records ----------------------------------------------------------------------------


def test_lowering_counts_what_each_lowering_produced_and_takes_activation_from_the_tfl_op():
    """The count comes from the lowering itself (not from pattern names); a builtin that declares
    a fused activation gets NONE, one that does not gets no attribute."""
    from litesmith.backends.tflite.lower import lower_to_tflite

    g = graph_of({"x": (F32, (2, 3))}, lambda b, x: b.op("core.maximum", [b.op("core.add", [x, x]), b.op("core.neg", [x])]))
    result = lower_to_tflite(g)
    assert result.report.ok
    assert result.lowered == {"core.add": 1, "core.neg": 1, "core.maximum": 1}
    attrs = {n.op: n.attrs for n in g.walk() if n.op.startswith("tfl.")}
    assert attrs["tfl.add"]["fused_activation_function"] == "NONE"
    assert "fused_activation_function" not in attrs["tfl.maximum"] and "fused_activation_function" not in attrs["tfl.neg"]
