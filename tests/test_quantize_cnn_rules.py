"""Quantization rules found on MobileNetV2 (docs/benchmarks.md section 5), each pinned on a small CNN
that LiteRT runs: the quantized model against LiteRT running the float one."""
from __future__ import annotations

import numpy as np

from litesmith.backends.quantize import dynamic, gptq, quantize_graph
from litesmith.backends.quantize.dynamic import MIN_ELEMENTS
from litesmith.backends.quantize.fixedpoint import round_away
from litesmith.backends.quantize.params import KEEP_SUM_OPS, per_channel_weights
from litesmith.backends.tflite import write_tflite
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph
from litesmith.ir.ops.nn import window_patches
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


def test_int8_conv_weights_keep_channel_sums_without_moments(litert_interpreter, monkeypatch):
    """Without calibration moments (GPTQ off) the int8 convolutions keep each channel's sum, whatever
    their size; LiteRT stays near the float model."""
    monkeypatch.setattr(gptq, "OPS", frozenset())
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


def single_conv(op: str, stride: int, padding: str) -> Graph:
    rng = np.random.default_rng(5)
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (1, 9, 10, 4)), "image")
    b = Builder(g)
    shape = (6, 3, 3, 4) if op == "tfl.conv_2d" else (1, 3, 3, 4)
    w = b.const(rng.standard_normal(shape).astype(np.float32), name="w")
    bias = b.const(np.zeros(shape[0] if op == "tfl.conv_2d" else 4, np.float32), name="b")
    g.outputs = [b.op(op, [x, w, bias], {"padding": padding, "stride_h": stride, "stride_w": stride}, name="y")]
    return g


def test_gptq_patches_are_what_litert_convolves(litert_interpreter):
    """The input patches GPTQ's moments are built from, times the weights, give LiteRT's float
    CONV_2D / DEPTHWISE_CONV_2D (SAME and VALID, stride 1 and 2): H = E[x x^T] is over the right x."""
    x = np.random.default_rng(6).standard_normal((1, 9, 10, 4)).astype(np.float32)
    for op in ("tfl.conv_2d", "tfl.depthwise_conv_2d"):
        for stride in (1, 2):
            for padding in ("SAME", "VALID"):
                g = single_conv(op, stride, padding)
                w = next(n for n in g if n.op == op).inputs[1].const_value()
                want = _litert(litert_interpreter, write_tflite(g), x)[0]
                p = window_patches(x, (3, 3), (stride, stride), (1, 1), padding, ())[0]  # [OH, OW, 3, 3, C]
                if op == "tfl.conv_2d":
                    got = np.einsum("yxhwc,ohwc->yxo", p, w)
                else:
                    got = np.einsum("yxhwc,hwc->yxc", p, w[0])
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{op} {stride} {padding}")


def test_gptq_rounding_cuts_the_output_error():
    """On correlated inputs, GPTQ's integer weights give a smaller mean square output error
    dW^T H dW than round-to-nearest, every weight stays within [-127, 127] and scales are unchanged."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4096, 8)) @ rng.standard_normal((8, 48)) + 0.3 * rng.standard_normal((4096, 48)) + 1.0
    h = x.T @ x / len(x)
    w = rng.standard_normal((32, 48))
    scales = np.abs(w).max(1) / 127
    nearest = round_away(w / scales[:, None])
    rounded = gptq.round_rows(w, scales, h)

    def output_mse(q):
        dw = q * scales[:, None] - w
        return float(np.mean(np.einsum("oi,ij,oj->o", dw, h, dw)))

    assert np.abs(rounded).max() <= 127 and np.all(rounded == np.round(rounded))
    assert output_mse(rounded) < 0.5 * output_mse(nearest), (output_mse(rounded), output_mse(nearest))


def wide_conv() -> Graph:
    """A 3x3 CONV_2D over 32 channels whose weights have one large entry per output channel (the
    int8 step is coarse for the rest): weight rounding is most of its int8 error."""
    rng = np.random.default_rng(9)
    w = rng.standard_normal((16, 3, 3, 32))
    w[np.arange(16), 1, 1, rng.integers(0, 32, 16)] *= 12
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (1, 12, 12, 32)), "image")
    b = Builder(g)
    g.outputs = [b.op("tfl.conv_2d", [x, b.const(w.astype(np.float32), name="w"), b.const(np.zeros(16, np.float32), name="b")],
                      {"padding": "SAME"}, name="y")]
    return g


def correlated_images(n: int, seed: int) -> np.ndarray:
    """[n, 1, 12, 12, 32]: 32 channels mixed from 4 smooth fields plus a shared offset (as post-ReLU
    features are), a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, 12), np.linspace(0, 1, 12), indexing="ij")
    out = []
    for _ in range(n):
        f, phase = rng.uniform(0.5, 2, (2, 4)), rng.uniform(0, 2 * np.pi, 4)
        fields = np.cos(2 * np.pi * (f[0] * yy[..., None] + f[1] * xx[..., None]) + phase)  # [12, 12, 4]
        mix = np.random.default_rng(99).standard_normal((4, 32))  # the same mixing for every image
        out.append(1.0 + fields @ mix * 0.5 + 0.05 * rng.standard_normal((12, 12, 32)))
    return np.asarray(out, np.float32)[:, None]


def test_int8_gptq_cuts_the_error_in_litert(litert_interpreter, monkeypatch):
    """int8 with GPTQ-rounded convolution weights (the default when calibrating) against without
    (nearest rounding, kept channel sums): LiteRT's error vs LiteRT running the float model, on
    held-out inputs from the calibration distribution."""
    calibration, heldout = {"image": correlated_images(16, 10)}, correlated_images(8, 11)
    float_blob = write_tflite(wide_conv())
    want = [_litert(litert_interpreter, float_blob, x) for x in heldout]
    errors = {}
    for on in (True, False):
        monkeypatch.setattr(gptq, "OPS", frozenset({"tfl.conv_2d", "tfl.depthwise_conv_2d"}) if on else frozenset())
        blob = write_tflite(quantize_graph(wide_conv(), "int8", calibration=calibration, progress=False))
        got = [_litert(litert_interpreter, blob, x) for x in heldout]
        errors[on] = float(np.sqrt(np.mean(np.square(np.subtract(got, want)))))
    assert errors[True] < 0.7 * errors[False], errors  # measured 0.21 vs 0.41
