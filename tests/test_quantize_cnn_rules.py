"""Quantization rules found on MobileNetV2 (docs/benchmarks.md section 5), each pinned on a small CNN
that LiteRT runs: the quantized model against LiteRT running the float one."""
from __future__ import annotations

import numpy as np

from litesmith.backends.quantize import dynamic, quantize_graph
from litesmith.backends.quantize.dynamic import MIN_ELEMENTS
from litesmith.backends.quantize.fixedpoint import round_away
from litesmith.backends.quantize.params import KEEP_SUM_OPS, per_channel_weights
from litesmith.backends.tflite import write_tflite
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph
from litesmith.ir.types import TensorType


def stem_cnn() -> Graph:
    """A MobileNet-like start: a small stem conv and depthwise (under MIN_ELEMENTS weights), then a
    pointwise conv and a depthwise conv with MIN_ELEMENTS weights or more."""
    rng = np.random.default_rng(0)
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (1, 16, 16, 3)), "image")
    b = Builder(g)

    def const(shape, name, scale=0.3):
        return b.const((rng.standard_normal(shape) * scale).astype(np.float32), name=name)

    relu6 = {"fused_activation_function": "RELU6"}
    y = b.op("tfl.conv_2d", [x, const((16, 3, 3, 3), "stem/w"), const(16, "stem/b", 0.1)],
             {"padding": "SAME", "stride_w": 2, "stride_h": 2, **relu6}, name="stem")
    y = b.op("tfl.depthwise_conv_2d", [y, const((1, 3, 3, 16), "dw1/w"), const(16, "dw1/b", 0.1)],
             {"padding": "SAME", **relu6}, name="dw1")
    y = b.op("tfl.conv_2d", [y, const((128, 1, 1, 16), "expand/w"), const(128, "expand/b", 0.1)], relu6, name="expand")
    y = b.op("tfl.depthwise_conv_2d", [y, const((1, 3, 3, 128), "dw2/w"), const(128, "dw2/b", 0.1)],
             {"padding": "SAME", **relu6}, name="dw2")
    g.outputs = [y]
    return g


def _litert(interp_cls, blob, x):
    runner = interp_cls(model_content=blob).get_signature_runner("serving_default")
    (out,) = runner(image=x).values()
    return out


def _weights(graph, op):
    """{node name: dtype of its weight operand as the op reads it (int8, or float through DEQUANTIZE)}."""
    out = {}
    for n in graph:
        if n.op == op:
            w = n.inputs[1]
            widened = w.producer is not None and w.producer.op == "tfl.dequantize"
            out[n.outputs[0].name] = "int8 + dequantize" if widened else w.dtype.name.lower()
    return out


def test_dynamic_keeps_small_weight_tensors_float(litert_interpreter):
    """Stem conv (432 weights) and first depthwise (144) stay float; 2048- and 1152-element weights are int8."""
    g = quantize_graph(stem_cnn(), "dynamic", progress=False)
    assert 16 * 27 < MIN_ELEMENTS <= 128 * 9
    assert _weights(g, "tfl.conv_2d") == {"stem": "float32", "expand": "int8"}
    assert _weights(g, "tfl.depthwise_conv_2d") == {"dw1": "float32", "dw2": "int8 + dequantize"}
    x = np.random.default_rng(1).uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)
    want = _litert(litert_interpreter, write_tflite(stem_cnn()), x)
    got = _litert(litert_interpreter, write_tflite(g), x)
    assert np.max(np.abs(got - want)) <= 0.02 * np.max(np.abs(want))


def test_keep_channel_sums_moves_fewest_weights_one_step():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((1, 3, 3, 64)).astype(np.float32)
    plain, qp = per_channel_weights(w, 3)
    kept, same_qp = per_channel_weights(w, 3, keep_sums=True)
    assert same_qp == qp
    exact = w / np.asarray(qp.scale, np.float32)

    def sums(a):
        return a.astype(np.float64).reshape(9, 64).sum(0)

    assert np.all(sums(kept) == round_away(sums(exact)))
    assert np.all(np.abs(kept - exact) < 1) and kept.min() >= -127
    moved = np.abs(kept.astype(int) - plain).reshape(9, 64).sum(0)
    assert np.all(moved == np.abs(round_away(sums(exact)) - sums(plain)))


def smooth_depthwise() -> Graph:
    """A depthwise conv over a smooth, positive (post-ReLU6-like) input, trained-like kernels."""
    rng = np.random.default_rng(3)
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (1, 24, 24, 128)), "image")
    b = Builder(g)
    w = b.const(((1 + 0.5 * rng.standard_normal((1, 3, 3, 128))) / 9).astype(np.float32), name="dw/w")
    bias = b.const(np.zeros(128, np.float32), name="dw/b")
    g.outputs = [b.op("tfl.depthwise_conv_2d", [x, w, bias], {"padding": "SAME"}, name="dw")]
    return g


def smooth_image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, 24), np.linspace(0, 1, 24), indexing="ij")
    f, phase = rng.uniform(0.5, 2, (2, 128)), rng.uniform(0, 2 * np.pi, 128)
    wave = np.cos(2 * np.pi * (f[0] * yy[..., None] + f[1] * xx[..., None]) + phase)
    return (3 + 2 * wave)[None].astype(np.float32)


def test_kept_channel_sums_cut_the_error_on_smooth_inputs(litert_interpreter, monkeypatch):
    """Dynamic mode widens depthwise int8 weights at load, so the error is the rounding alone: keeping
    each channel's sum removes its part that every position of a smooth input sees."""
    float_blob = write_tflite(smooth_depthwise())
    errors = {}
    for keep in (True, False):
        monkeypatch.setattr(dynamic, "KEEP_SUM_OPS", KEEP_SUM_OPS if keep else frozenset())
        blob = write_tflite(quantize_graph(smooth_depthwise(), "dynamic", progress=False))
        diffs = [_litert(litert_interpreter, blob, x) - _litert(litert_interpreter, float_blob, x)
                 for x in map(smooth_image, range(4))]
        errors[keep] = float(np.sqrt(np.mean(np.square(diffs))))
    assert errors[True] < 0.7 * errors[False], errors  # measured 0.0018 vs 0.0041


def test_int8_conv_weights_keep_channel_sums(litert_interpreter):
    """The rule in int8 mode (there on both convolutions, whatever their size), LiteRT near the float model."""
    float_graph = stem_cnn()
    weights = {n.inputs[1].name: n.inputs[1].const_value() for n in float_graph if n.op in KEEP_SUM_OPS}
    calibration = {"image": np.random.default_rng(4).uniform(-1, 1, (8, 1, 16, 16, 3)).astype(np.float32)}
    g = quantize_graph(stem_cnn(), "int8", calibration=calibration, progress=False)
    convs = [n for n in g if n.op in KEEP_SUM_OPS]
    assert len(convs) == len(weights) == 4
    for n in convs:
        w, qp = n.inputs[1], n.inputs[1].quant
        axes = tuple(i for i in range(4) if i != qp.axis)
        exact = weights[w.name] / np.expand_dims(np.asarray(qp.scale, np.float32), axes)
        assert np.all(w.const_value().astype(np.int64).sum(axes) == round_away(exact.astype(np.float64).sum(axes)))
    x = calibration["image"][0]
    want = _litert(litert_interpreter, write_tflite(stem_cnn()), x)
    got = _litert(litert_interpreter, write_tflite(g), x)
    assert np.max(np.abs(got - want)) <= 0.05 * np.max(np.abs(want))
