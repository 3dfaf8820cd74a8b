"""Per-op: our integer reference kernels vs LiteRT on single-op int8 models (int8 I/O, so integers compare).

Against LiteRT's reference kernels (BUILTIN_REF) every op listed in EXACT is bit-exact; against the default
(optimized, XNNPACK) kernels every op is within 1 LSB. docs/quantization.md carries the same table."""
from __future__ import annotations

import numpy as np
import pytest

from litesmith.backends.quantize import quantize_graph
from litesmith.backends.quantize.kernels import QuantizedInterpreter
from litesmith.backends.tflite import write_tflite
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph
from litesmith.ir.types import TensorType


def _single(op, shapes, attrs=None, consts=()):
    def build():
        g = Graph("main")
        ins = [g.add_input(TensorType(DType.FLOAT32, s), f"in{i}") for i, s in enumerate(shapes)]
        b = Builder(g)
        args = list(ins) + [b.const(c, name=f"c{i}") for i, c in enumerate(consts)]
        y = b.op(op, args, attrs or {}, name="y")
        g.outputs = [y]
        return g
    return build


R = np.random.default_rng(1)
CASES = {
    "fully_connected": _single("tfl.fully_connected", [(2, 16)], {"fused_activation_function": "RELU"},
                               [R.standard_normal((8, 16)).astype(np.float32), R.standard_normal(8).astype(np.float32)]),
    "conv_2d": _single("tfl.conv_2d", [(1, 6, 6, 3)], {"padding": "SAME", "stride_w": 2, "stride_h": 2},
                       [R.standard_normal((4, 3, 3, 3)).astype(np.float32), R.standard_normal(4).astype(np.float32)]),
    "depthwise_conv_2d": _single("tfl.depthwise_conv_2d", [(1, 5, 5, 4)], {"padding": "SAME", "fused_activation_function": "RELU6"},
                                 [R.standard_normal((1, 3, 3, 4)).astype(np.float32), R.standard_normal(4).astype(np.float32)]),
    "add": _single("tfl.add", [(2, 8), (2, 8)]),
    "sub": _single("tfl.sub", [(2, 8), (2, 8)]),
    "mul": _single("tfl.mul", [(2, 8), (2, 8)]),
    "logistic": _single("tfl.logistic", [(4, 16)]),
    "tanh": _single("tfl.tanh", [(4, 16)]),
    "softmax": _single("tfl.softmax", [(4, 16)]),
    "reshape": _single("tfl.reshape", [(2, 8)], consts=[np.array([4, 4], np.int32)]),
    "concatenation": _single("tfl.concatenation", [(2, 3), (2, 5)], {"axis": 1}),
    "max_pool_2d": _single("tfl.max_pool_2d", [(1, 4, 4, 2)], {"filter_width": 2, "filter_height": 2, "stride_w": 2, "stride_h": 2}),
    "pad": _single("tfl.pad", [(1, 3, 3, 2)], consts=[np.array([[0, 0], [1, 2], [2, 1], [0, 0]], np.int32)]),
    "transpose": _single("tfl.transpose", [(2, 3, 4)], consts=[np.array([2, 0, 1], np.int32)]),
    "slice": _single("tfl.slice", [(3, 5)], consts=[np.array([1, 1], np.int32), np.array([2, 3], np.int32)]),
    "squeeze": _single("tfl.squeeze", [(2, 1, 4)], {"squeeze_dims": [1]}),
    "expand_dims": _single("tfl.expand_dims", [(2, 4)], consts=[np.array(1, np.int32)]),
    "average_pool_2d": _single("tfl.average_pool_2d", [(1, 5, 5, 3)],
                               {"filter_width": 3, "filter_height": 3, "stride_w": 2, "stride_h": 2, "padding": "SAME"}),
    "strided_slice": _single("tfl.strided_slice", [(4, 6)], consts=[np.array([0, 1], np.int32), np.array([4, 6], np.int32),
                                                                   np.array([2, 2], np.int32)]),
    "space_to_batch_nd": _single("tfl.space_to_batch_nd", [(1, 4, 3, 2)],
                                 consts=[np.array([2, 2], np.int32), np.array([[1, 1], [0, 1]], np.int32)]),
    "batch_to_space_nd": _single("tfl.batch_to_space_nd", [(4, 3, 2, 2)],
                                 consts=[np.array([2, 2], np.int32), np.array([[1, 0], [0, 1]], np.int32)]),
}
# Bit-exact against BUILTIN_REF; everything is within 1 LSB of the default kernels.
EXACT = set(CASES)


def _calib(g, n=16, seed=2):
    rng = np.random.default_rng(seed)
    return {v.name: (rng.standard_normal((n,) + v.shape) * 2).astype(np.float32) for v in g.inputs}


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_litert(name, litert_interpreter):
    from ai_edge_litert.interpreter import OpResolverType

    build = CASES[name]
    g = quantize_graph(build(), "int8", calibration=_calib(build()), io_dtype="int8", progress=False)
    assert any(n.op == "tfl." + name and n.inputs[0].dtype is DType.INT8 for n in g), "op was not quantized"
    blob = write_tflite(g)
    ref_runner = litert_interpreter(model_content=blob, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    opt_runner = litert_interpreter(model_content=blob)
    rng = np.random.default_rng(3)
    worst_ref = worst_opt = 0
    for _ in range(5):
        feed = {v.name: rng.integers(-128, 128, v.shape).astype(np.int8) for v in g.inputs}
        ours = QuantizedInterpreter(g).run(feed)["y"].astype(np.int32)
        ref = ref_runner.get_signature_runner("serving_default")(**feed)["y"].astype(np.int32)
        opt = opt_runner.get_signature_runner("serving_default")(**feed)["y"].astype(np.int32)
        worst_ref = max(worst_ref, int(np.max(np.abs(ours - ref))))
        worst_opt = max(worst_opt, int(np.max(np.abs(ours - opt))))
    assert worst_ref <= (0 if name in EXACT else 1), f"{name}: {worst_ref} LSB from LiteRT reference kernels"
    assert worst_opt <= 1, f"{name}: {worst_opt} LSB from LiteRT default kernels"


def test_quantize_dequantize_ops_match_litert(litert_interpreter):
    """QUANTIZE (float->int8), requantize (int8->int8) and DEQUANTIZE, through a concat with unequal input ranges."""
    from ai_edge_litert.interpreter import OpResolverType

    build = _single("tfl.concatenation", [(2, 3), (2, 5)], {"axis": 1})
    calib = {"in0": np.random.default_rng(0).standard_normal((8, 2, 3)).astype(np.float32) * 0.2,
             "in1": np.random.default_rng(1).standard_normal((8, 2, 5)).astype(np.float32) * 5}
    g = quantize_graph(build(), "int8", calibration=calib, progress=False)
    ops = [n.op for n in g if n.op != "core.const"]
    assert ops.count("tfl.quantize") == 3 and ops.count("tfl.dequantize") == 1  # 2 float->int8, 1 requantize
    blob = write_tflite(g)
    runner = litert_interpreter(model_content=blob, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    rng = np.random.default_rng(5)
    for _ in range(5):
        feed = {"in0": rng.standard_normal((2, 3)).astype(np.float32) * 0.3,
                "in1": rng.standard_normal((2, 5)).astype(np.float32) * 6}
        ours = QuantizedInterpreter(g).run(feed)["y"]
        theirs = runner.get_signature_runner("serving_default")(**feed)["y"]
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("keep_dims", [True, False])
def test_int8_mean_matches_litert(keep_dims, litert_interpreter):
    """Global average pooling: bit-exact vs LiteRT's reference int8 MEAN, within 1 LSB of the optimized one.

    Without keep_dims (Keras GlobalAveragePooling2D) the quantizer emits MEAN(keep_dims) + RESHAPE."""
    from ai_edge_litert.interpreter import OpResolverType

    build = _single("tfl.mean", [(2, 7, 7, 16)], {"keep_dims": keep_dims}, [np.array([1, 2], np.int32)])
    g = quantize_graph(build(), "int8", calibration=_calib(build()), io_dtype="int8", progress=False)
    means = [n for n in g if n.op == "tfl.mean"]
    assert len(means) == 1 and means[0].inputs[0].dtype is DType.INT8 and means[0].attrs["keep_dims"]
    assert g.outputs[0].shape == ((2, 1, 1, 16) if keep_dims else (2, 16))
    blob = write_tflite(g)
    ref_runner = litert_interpreter(model_content=blob, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    opt_runner = litert_interpreter(model_content=blob)
    rng = np.random.default_rng(4)
    worst_ref = worst_opt = 0
    for _ in range(5):
        feed = {"in0": rng.integers(-128, 128, (2, 7, 7, 16)).astype(np.int8)}
        ours = QuantizedInterpreter(g).run(feed)["y"].astype(np.int32)
        ref = ref_runner.get_signature_runner("serving_default")(**feed)["y"].astype(np.int32)
        opt = opt_runner.get_signature_runner("serving_default")(**feed)["y"].astype(np.int32)
        worst_ref = max(worst_ref, int(np.max(np.abs(ours - ref))))
        worst_opt = max(worst_opt, int(np.max(np.abs(ours - opt))))
    assert worst_ref == 0, f"{worst_ref} LSB from LiteRT's reference MEAN"
    assert worst_opt <= 1, f"{worst_opt} LSB from LiteRT's optimized MEAN"


def test_int8_mean_other_axes_stay_float():
    build = _single("tfl.mean", [(2, 6, 8)], {"keep_dims": False}, [np.array([1], np.int32)])
    g = quantize_graph(build(), "int8", calibration=_calib(build()), progress=False)
    (mean,) = [n for n in g if n.op == "tfl.mean"]
    assert mean.inputs[0].dtype is DType.FLOAT32


def test_zero_fc_bias_is_dropped_and_matches_litert(litert_interpreter):
    """An all-zero FULLY_CONNECTED bias (random-weight Keras heads) is left out, as TF's converter does."""
    rng = np.random.default_rng(6)
    build = _single("tfl.fully_connected", [(2, 16)], {}, [rng.standard_normal((8, 16)).astype(np.float32), np.zeros(8, np.float32)])
    g = quantize_graph(build(), "int8", calibration=_calib(build()), io_dtype="int8", progress=False)
    (fc,) = [n for n in g if n.op == "tfl.fully_connected"]
    assert len(fc.inputs) == 2 and fc.inputs[0].dtype is DType.INT8
    runner = litert_interpreter(model_content=write_tflite(g)).get_signature_runner("serving_default")
    feed = {"in0": rng.integers(-128, 128, (2, 16)).astype(np.int8)}
    np.testing.assert_array_equal(QuantizedInterpreter(g).run(feed)["y"], runner(**feed)["y"])


def test_per_channel_fully_connected_rounds_once_as_litert_does(litert_interpreter, monkeypatch):
    """LiteRT's per-channel int8 FULLY_CONNECTED rounds the requantization once; the doubling
    high-mul of the other kernels rounds twice, which is 1 LSB off at near-ties (an accumulator at
    12.497 became 12.5 and then 13). 100 random inputs: ours bit-exact, the twice-rounded form not."""
    from ai_edge_litert.interpreter import OpResolverType

    from litesmith.backends.quantize import fixedpoint, kernels

    rng = np.random.default_rng(0)
    build = _single("tfl.fully_connected", [(4, 32)], {},
                    [rng.standard_normal((24, 32)).astype(np.float32), rng.standard_normal(24).astype(np.float32)])
    g = quantize_graph(build(), "int8", calibration=_calib(build()), io_dtype="int8", progress=False)
    ref = litert_interpreter(model_content=write_tflite(g), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    feeds = [{"in0": rng.integers(-128, 128, (4, 32)).astype(np.int8)} for _ in range(100)]
    want = np.stack([ref.get_signature_runner("serving_default")(**f)["y"] for f in feeds]).astype(np.int32)
    ours = np.stack([QuantizedInterpreter(g).run(f)["y"] for f in feeds]).astype(np.int32)
    np.testing.assert_array_equal(ours, want)
    monkeypatch.setattr(kernels, "multiply_by_quantized_multiplier_once", fixedpoint.multiply_by_quantized_multiplier)
    twice = np.stack([QuantizedInterpreter(g).run(f)["y"] for f in feeds]).astype(np.int32)
    assert 0 < np.count_nonzero(twice != want) and np.max(np.abs(twice - want)) == 1
