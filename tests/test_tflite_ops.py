"""Every tfl op that LiteRT runs: build a one-op graph, write it, run it in
LiteRT (the oracle) and in the reference interpreter, compare."""
from __future__ import annotations

import numpy as np
import pytest

from litesmith.backends.tflite import opcodes, ops as _tfl_ops, schema_generated as schema  # noqa: F401
from litesmith.backends.tflite.writer import write_tflite
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph
from litesmith.ir.interpreter import run
from litesmith.ir.registry import get_op
from litesmith.ir.types import QuantParams, TensorType

RNG = np.random.default_rng(0)
F32, I32 = np.float32, np.int32


def f(*shape, lo=-2.0, hi=2.0):
    return RNG.uniform(lo, hi, shape).astype(F32)


def i(*shape, lo=-5, hi=6):
    return RNG.integers(lo, hi, shape).astype(I32)


def c(b, value, dtype=None):
    arr = np.asarray(value, dtype=dtype) if dtype else np.asarray(value)
    if arr.dtype == np.float64:
        arr = arr.astype(F32)
    if arr.dtype == np.int64:
        arr = arr.astype(I32)
    return b.const(arr)


CASES = {}


def case(name, inputs, fn, atol=1e-5):
    CASES[name] = (inputs, fn, atol)


# -- elementwise --------------------------------------------------------------------------------
for _op in ["abs", "neg", "exp", "sin", "cos", "tanh", "logistic", "relu", "relu6", "relu_n1_to_1",
            "relu_0_to_1", "elu", "hard_swish", "floor", "ceil", "round", "sign", "square", "zeros_like", "log_softmax"]:
    case(_op, {"x": f(2, 5)}, lambda b, x, _op=_op: b.op("tfl." + _op, [x]))
for _op in ["sqrt", "rsqrt", "log"]:
    case(_op, {"x": f(2, 5, lo=0.1, hi=3)}, lambda b, x, _op=_op: b.op("tfl." + _op, [x]))
case("logical_not", {"x": f(6) > 0}, lambda b, x: b.op("tfl.logical_not", [x]))
case("leaky_relu", {"x": f(7)}, lambda b, x: b.op("tfl.leaky_relu", [x], {"alpha": 0.3}))
case("matrix_diag", {"x": f(2, 4)}, lambda b, x: b.op("tfl.matrix_diag", [x]))
case("gelu", {"x": f(7)}, lambda b, x: b.op("tfl.gelu", [x]), atol=1e-4)
case("gelu_approx", {"x": f(7)}, lambda b, x: b.op("tfl.gelu", [x], {"approximate": True}), atol=1e-4)
case("prelu", {"x": f(2, 3)}, lambda b, x: b.op("tfl.prelu", [x, c(b, [0.1, 0.2, 0.3])]))
case("softmax", {"x": f(3, 6)}, lambda b, x: b.op("tfl.softmax", [x], {"beta": 0.5}))
case("l2_normalization", {"x": f(3, 6)}, lambda b, x: b.op("tfl.l2_normalization", [x]))
case("local_response_normalization", {"x": f(2, 3, 3, 7)},
     lambda b, x: b.op("tfl.local_response_normalization", [x], {"radius": 2, "bias": 1.5, "alpha": 0.3, "beta": 0.6}))
case("cast_f2i", {"x": f(8, lo=-9, hi=9)},
     lambda b, x: b.op("tfl.cast", [x], {"in_data_type": DType.FLOAT32, "out_data_type": DType.INT32}))
case("cast_i2f", {"x": i(8)}, lambda b, x: b.op("tfl.cast", [x], {"in_data_type": DType.INT32, "out_data_type": DType.FLOAT32}))
case("cast_f2b", {"x": np.array([0, 1.5, -2, 0], F32)},
     lambda b, x: b.op("tfl.cast", [x], {"in_data_type": DType.FLOAT32, "out_data_type": DType.BOOL}))

for _op in ["add", "sub", "mul", "div"]:
    case(_op, {"x": f(2, 3), "y": f(3, lo=0.5, hi=2)},
         lambda b, x, y, _op=_op: b.op("tfl." + _op, [x, y], {"fused_activation_function": "RELU6"}))
case("add_int", {"x": i(4), "y": i(4)}, lambda b, x, y: b.op("tfl.add", [x, y]))
case("div_int", {"x": i(6, lo=-9, hi=9), "y": np.array([2, -3, 4, 5, -2, 3], I32)}, lambda b, x, y: b.op("tfl.div", [x, y]))
for _op in ["maximum", "minimum", "squared_difference"]:
    case(_op, {"x": f(2, 3), "y": f(2, 3)}, lambda b, x, y, _op=_op: b.op("tfl." + _op, [x, y]))
case("pow", {"x": f(5, lo=0.5, hi=2), "y": f(5)}, lambda b, x, y: b.op("tfl.pow", [x, y]), atol=1e-4)
case("atan2", {"x": f(2, 3), "y": f(2, 3)}, lambda b, x, y: b.op("tfl.atan2", [x, y]))
case("floor_div", {"x": f(6, lo=-5, hi=5), "y": f(6, lo=0.5, hi=2)}, lambda b, x, y: b.op("tfl.floor_div", [x, y]))
case("floor_div_int", {"x": i(6, lo=-9, hi=9), "y": np.array([2, -3, 4, 5, -2, 3], I32)},
     lambda b, x, y: b.op("tfl.floor_div", [x, y]))
case("floor_mod", {"x": f(6, lo=-5, hi=5), "y": np.array([2, -3, 1.5, 2, -2, 3], F32)},
     lambda b, x, y: b.op("tfl.floor_mod", [x, y]))
case("floor_mod_int", {"x": i(6, lo=-9, hi=9), "y": np.array([2, -3, 4, 5, -2, 3], I32)},
     lambda b, x, y: b.op("tfl.floor_mod", [x, y]))
for _op in ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]:
    case(_op, {"x": i(8, lo=0, hi=3), "y": i(8, lo=0, hi=3)}, lambda b, x, y, _op=_op: b.op("tfl." + _op, [x, y]))
for _op in ["logical_and", "logical_or"]:
    case(_op, {"x": f(8) > 0, "y": f(8) > 0}, lambda b, x, y, _op=_op: b.op("tfl." + _op, [x, y]))
case("select_v2", {"c": f(3, 1) > 0, "x": f(3, 4), "y": f(4)}, lambda b, cond, x, y: b.op("tfl.select_v2", [cond, x, y]))
case("select", {"c": f(3, 4) > 0, "x": f(3, 4), "y": f(3, 4)}, lambda b, cond, x, y: b.op("tfl.select", [cond, x, y]))
case("add_n", {"x": f(2, 3), "y": f(2, 3)}, lambda b, x, y: b.op("tfl.add_n", [x, y, x]))

# -- linear algebra and NN -----------------------------------------------------------------------
case("fully_connected", {"x": f(2, 6)},
     lambda b, x: b.op("tfl.fully_connected", [x, c(b, f(4, 6)), c(b, f(4))], {"fused_activation_function": "RELU"}))
case("fully_connected_no_bias_flatten", {"x": f(2, 3, 6)}, lambda b, x: b.op("tfl.fully_connected", [x, c(b, f(4, 6))]))
case("fully_connected_keep_dims", {"x": f(2, 3, 6)},
     lambda b, x: b.op("tfl.fully_connected", [x, c(b, f(4, 6)), c(b, f(4))], {"keep_num_dims": True}))
case("batch_matmul", {"x": f(2, 3, 4), "y": f(5, 4)}, lambda b, x, y: b.op("tfl.batch_matmul", [x, y], {"adj_y": True}))
case("batch_matmul_adj_x", {"x": f(2, 4, 3), "y": f(2, 4, 5)}, lambda b, x, y: b.op("tfl.batch_matmul", [x, y], {"adj_x": True}))
case("conv_2d_same_stride", {"x": f(1, 7, 6, 3)},
     lambda b, x: b.op("tfl.conv_2d", [x, c(b, f(4, 3, 3, 3)), c(b, f(4))],
                       {"padding": "SAME", "stride_h": 2, "stride_w": 2, "fused_activation_function": "RELU"}), atol=1e-4)
case("conv_2d_valid_dilated", {"x": f(2, 8, 8, 2)},
     lambda b, x: b.op("tfl.conv_2d", [x, c(b, f(3, 3, 2, 2)), c(b, f(3))],
                       {"padding": "VALID", "dilation_h_factor": 2, "dilation_w_factor": 1}), atol=1e-4)
case("depthwise_conv_2d", {"x": f(1, 6, 6, 3)},
     lambda b, x: b.op("tfl.depthwise_conv_2d", [x, c(b, f(1, 3, 3, 6)), c(b, f(6))],
                       {"padding": "SAME", "depth_multiplier": 2, "stride_w": 2, "stride_h": 1}), atol=1e-4)
case("depthwise_conv_2d_dilated", {"x": f(1, 7, 7, 2)},
     lambda b, x: b.op("tfl.depthwise_conv_2d", [x, c(b, f(1, 3, 3, 2)), c(b, f(2))],
                       {"padding": "VALID", "dilation_w_factor": 2, "dilation_h_factor": 2}), atol=1e-4)
for _op in ["max_pool_2d", "average_pool_2d"]:
    for _pad in ["SAME", "VALID"]:
        case(f"{_op}_{_pad}", {"x": f(1, 7, 5, 2)},
             lambda b, x, _op=_op, _pad=_pad: b.op("tfl." + _op, [x], {"padding": _pad, "stride_w": 2, "stride_h": 2,
                                                                       "filter_width": 3, "filter_height": 2}))
for _op in ["resize_bilinear", "resize_nearest_neighbor"]:
    for _ac, _hp in [(False, False), (True, False), (False, True)]:
        case(f"{_op}_{int(_ac)}{int(_hp)}", {"x": f(1, 3, 4, 2)},
             lambda b, x, _op=_op, _ac=_ac, _hp=_hp: b.op("tfl." + _op, [x, c(b, [5, 7])],
                                                          {"align_corners": _ac, "half_pixel_centers": _hp}))
case("depth_to_space", {"x": f(1, 2, 3, 8)}, lambda b, x: b.op("tfl.depth_to_space", [x], {"block_size": 2}))
case("space_to_depth", {"x": f(1, 4, 6, 2)}, lambda b, x: b.op("tfl.space_to_depth", [x], {"block_size": 2}))
case("space_to_batch_nd", {"x": f(2, 5, 4, 3)},
     lambda b, x: b.op("tfl.space_to_batch_nd", [x, c(b, [2, 3]), c(b, [[1, 0], [0, 2]])]))
case("batch_to_space_nd", {"x": f(12, 3, 2, 3)},
     lambda b, x: b.op("tfl.batch_to_space_nd", [x, c(b, [2, 3]), c(b, [[1, 0], [0, 2]])]))
case("space_to_batch_nd_rank3", {"x": f(2, 7, 3)}, lambda b, x: b.op("tfl.space_to_batch_nd", [x, c(b, [3]), c(b, [[0, 2]])]))

# -- reductions -------------------------------------------------------------------------------
for _op in ["mean", "sum", "reduce_max", "reduce_min", "reduce_prod"]:
    case(_op, {"x": f(2, 3, 4)}, lambda b, x, _op=_op: b.op("tfl." + _op, [x, c(b, [0, -1])], {"keep_dims": True}))
case("reduce_any", {"x": f(2, 3) > 1}, lambda b, x: b.op("tfl.reduce_any", [x, c(b, [1])]))
case("arg_max", {"x": f(3, 5)}, lambda b, x: b.op("tfl.arg_max", [x, c(b, [1])], {"output_type": DType.INT32}))
case("arg_min", {"x": f(3, 5)}, lambda b, x: b.op("tfl.arg_min", [x, c(b, [0])]))
case("topk_v2", {"x": f(3, 6)}, lambda b, x: b.op("tfl.topk_v2", [x, c(b, 2)]))
case("cumsum", {"x": f(3, 4)}, lambda b, x: b.op("tfl.cumsum", [x, c(b, 1)], {"exclusive": True, "reverse": True}))

# -- shapes and data movement -------------------------------------------------------------------
case("reshape", {"x": f(2, 6)}, lambda b, x: b.op("tfl.reshape", [x, c(b, [3, -1])]))
case("transpose", {"x": f(2, 3, 4)}, lambda b, x: b.op("tfl.transpose", [x, c(b, [2, 0, 1])]))
case("concatenation", {"x": f(2, 3), "y": f(2, 2)},
     lambda b, x, y: b.op("tfl.concatenation", [x, y, x], {"axis": -1, "fused_activation_function": "RELU"}))
case("gather", {"x": f(4, 3)}, lambda b, x: b.op("tfl.gather", [x, c(b, [[2, 0], [1, 1]])], {"axis": 0}))
case("gather_axis_batch", {"x": f(2, 4, 3)}, lambda b, x: b.op("tfl.gather", [x, c(b, [[3, 0], [1, 2]])],
                                                              {"axis": 1, "batch_dims": 1}))
case("gather_nd", {"x": f(3, 4, 2)}, lambda b, x: b.op("tfl.gather_nd", [x, c(b, [[0, 1], [2, 3]])]))
case("strided_slice", {"x": f(4, 5, 6)},
     lambda b, x: b.op("tfl.strided_slice", [x, c(b, [1, 0, -1]), c(b, [3, 0, 0]), c(b, [1, 2, -2])],
                       {"end_mask": 2, "shrink_axis_mask": 0}))
case("strided_slice_shrink_newaxis", {"x": f(4, 5)},
     lambda b, x: b.op("tfl.strided_slice", [x, c(b, [1, 0, 0]), c(b, [2, 0, 4]), c(b, [1, 1, 1])],
                       {"shrink_axis_mask": 1, "new_axis_mask": 2}))
case("slice", {"x": f(4, 5)}, lambda b, x: b.op("tfl.slice", [x, c(b, [1, 2]), c(b, [-1, 2])]))
case("pad", {"x": f(2, 3)}, lambda b, x: b.op("tfl.pad", [x, c(b, [[1, 0], [2, 1]])]))
case("padv2", {"x": f(2, 3)}, lambda b, x: b.op("tfl.padv2", [x, c(b, [[1, 0], [2, 1]]), c(b, np.float32(-3))]))
for _mode in ["REFLECT", "SYMMETRIC"]:
    case(f"mirror_pad_{_mode}", {"x": f(3, 4)},
         lambda b, x, _mode=_mode: b.op("tfl.mirror_pad", [x, c(b, [[1, 2], [2, 1]])], {"mode": _mode}))
case("split", {"x": f(4, 6)}, lambda b, x: b.op("tfl.split", [c(b, 1), x], {"num_splits": 3}))
case("split_v", {"x": f(4, 6)}, lambda b, x: b.op("tfl.split_v", [x, c(b, [1, -1, 2]), c(b, 1)], {"num_splits": 3}))
case("pack", {"x": f(2, 3), "y": f(2, 3)}, lambda b, x, y: b.op("tfl.pack", [x, y], {"axis": 1}))
case("unpack", {"x": f(2, 3)}, lambda b, x: b.op("tfl.unpack", [x], {"num": 3, "axis": 1}))
case("squeeze", {"x": f(1, 3, 1, 2)}, lambda b, x: b.op("tfl.squeeze", [x], {"squeeze_dims": [2]}))
case("squeeze_all", {"x": f(1, 3, 1, 2)}, lambda b, x: b.op("tfl.squeeze", [x]))
case("expand_dims", {"x": f(3, 2)}, lambda b, x: b.op("tfl.expand_dims", [x, c(b, -1)]))
case("tile", {"x": f(2, 3)}, lambda b, x: b.op("tfl.tile", [x, c(b, [2, 1])]))
case("broadcast_to", {"x": f(1, 3)}, lambda b, x: b.op("tfl.broadcast_to", [x, c(b, [2, 4, 3])]))
case("reverse_v2", {"x": f(3, 4)}, lambda b, x: b.op("tfl.reverse_v2", [x, c(b, [1])]))
case("fill", {"v": np.float32(2.5)}, lambda b, v: b.op("tfl.fill", [c(b, [2, 3]), v]))
case("range", {"d": np.int32(2)}, lambda b, d: b.op("tfl.add", [b.op("tfl.range", [c(b, 1), c(b, 9), c(b, 2)]), d]))
case("shape", {"x": f(2, 5)}, lambda b, x: b.op("tfl.shape", [x]))
case("rank", {"x": f(2, 5, 1)}, lambda b, x: b.op("tfl.rank", [x]))
case("one_hot", {"x": np.array([0, 2, 1], I32)},
     lambda b, x: b.op("tfl.one_hot", [x, c(b, 4), c(b, np.float32(5)), c(b, np.float32(-1))], {"axis": -1}))


def _quant_roundtrip(b, x):
    qt = TensorType(DType.INT8, x.shape, QuantParams([0.02], [3]))
    q = b.op("tfl.quantize", [x], output_types=[qt])
    return b.op("tfl.dequantize", [q])


case("quantize_dequantize", {"x": f(10)}, _quant_roundtrip)


def _graph(inputs, fn):
    g = Graph("main")
    b = Builder(g)
    args = [g.add_input(TensorType(DType.from_numpy(np.asarray(v).dtype), np.shape(v)), k) for k, v in inputs.items()]
    out = fn(b, *args)
    outs = out if isinstance(out, list) else [out]
    for k, v in enumerate(outs):
        v.name = f"out{k}"
    g.outputs = outs
    return g


def run_litert(interp_cls, model: bytes, feeds):
    it = interp_cls(model_content=model)
    runner = it.get_signature_runner("serving_default")
    return runner(**{k: np.asarray(v) for k, v in feeds.items()})


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_litert(name, litert_interpreter):
    inputs, fn, atol = CASES[name]
    g = _graph(inputs, fn)
    want = run_litert(litert_interpreter, write_tflite(g), inputs)
    got = run(g, inputs)
    assert set(got) == set(want)
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert got[k].shape == want[k].shape, k
        np.testing.assert_allclose(got[k], want[k], atol=atol, rtol=1e-5, err_msg=f"{name}: {k}")
    # inferred output types agree with the runtime's shapes
    for v in g.outputs:
        assert v.shape == want[v.name].shape


def _cond_graph():
    cond = Graph("cond")
    i0, _ = cond.add_input(TensorType(DType.INT32, ()), "i"), cond.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    cb = Builder(cond)
    cond.outputs = [cb.op("tfl.less", [i0, cb.const(np.int32(4))])]
    body = Graph("body")
    i1, x1 = body.add_input(TensorType(DType.INT32, ()), "i"), body.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    bb = Builder(body)
    body.outputs = [bb.op("tfl.add", [i1, bb.const(np.int32(1))]), bb.op("tfl.mul", [x1, bb.const(np.float32(1.5))])]
    return cond, body


def test_while_matches_litert(litert_interpreter):
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    b = Builder(g)
    cond, body = _cond_graph()
    i, y = b.op("tfl.while", [b.const(np.int32(0)), x], regions=[cond, body])
    y.name = "y"
    g.outputs = [y]
    feeds = {"x": f(3)}
    want = run_litert(litert_interpreter, write_tflite(g), feeds)
    np.testing.assert_allclose(run(g, feeds)["y"], want["y"], rtol=1e-6)
    np.testing.assert_allclose(want["y"], feeds["x"] * 1.5**4, rtol=1e-5)


def test_if_matches_litert(litert_interpreter):
    g = Graph("main")
    p = g.add_input(TensorType(DType.BOOL, ()), "p")
    x = g.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    then, other = Graph("then"), Graph("else")
    for region, op in [(then, "tfl.exp"), (other, "tfl.neg")]:
        a = region.add_input(TensorType(DType.FLOAT32, (3,)), "a")
        region.outputs = [Builder(region).op(op, [a])]
    y = Builder(g).op("tfl.if", [p, x], regions=[then, other])
    y.name = "y"
    g.outputs = [y]
    model = write_tflite(g)
    for pred in (True, False):
        feeds = {"p": np.array(pred), "x": f(3)}
        want = run_litert(litert_interpreter, model, feeds)
        np.testing.assert_allclose(run(g, feeds)["y"], want["y"], rtol=1e-6)


# -- declarations agree with the schema --------------------------------------------------------------


@pytest.mark.parametrize("op", sorted(opcodes.OPCODES))
def test_declared_attrs_are_schema_option_fields(op):
    entry = opcodes.OPCODES[op]
    assert hasattr(schema.BuiltinOperator, entry.builtin), entry.builtin
    attrs = set(get_op(op).attrs)
    if op == "tfl.custom":
        assert attrs == {"custom_code", "custom_options"}
        return
    fields = set()
    if entry.options is not None:
        assert hasattr(schema.BuiltinOptions, entry.options)
        fields = {opcodes.snake_case(k) for k in vars(getattr(schema, entry.options + "T")())}
    # every attr is a field; every field is an attr, derived, or deliberately ignored
    assert attrs <= fields, attrs - fields
    assert fields - attrs - set(entry.derived) <= {"quantized_bias_type", "quant_spec"}


def test_versions():
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (2, 3, 6)), "x")
    b = Builder(g)
    w, bias = b.const(f(4, 6)), b.const(f(4))
    cases = [
        (b.create("tfl.fully_connected", [x, w, bias]), 1),
        (b.create("tfl.fully_connected", [x, w]), 6),
        (b.create("tfl.fully_connected", [x, w, bias], {"keep_num_dims": True}), 5),
    ]
    for node, want in cases:
        assert opcodes.OPCODES[node.op].version(node) == want
