"""TF op families lifted into core ops, checked against TensorFlow's own results."""
from __future__ import annotations

import numpy as np
import pytest
from test_frontend_tf_util import check, ops_of

rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def ph(tf, name, x):
    """A placeholder named ``name`` at the top level (outside the helper's name scope)."""
    with tf.compat.v1.get_default_graph().name_scope(""):
        return tf.compat.v1.placeholder(tf.as_dtype(x.dtype), x.shape, name=name)


def test_elementwise_and_compare(tf, tmp_path):
    feeds = {"a": f32(2, 3), "b": np.abs(f32(2, 3)) + 0.5}

    def build(tf):
        a, b = ph(tf, "a", feeds["a"]), ph(tf, "b", feeds["b"])
        return {
            "arith": (a + b) * a - a / b + tf.math.squared_difference(a, b) + tf.maximum(a, b) - tf.minimum(a, b),
            "floors": tf.math.floordiv(a, b) + tf.math.floormod(a, b) + tf.pow(b, 1.5),
            "unary": tf.exp(a) + tf.math.log(b) + tf.abs(a) + tf.sqrt(b) + tf.math.rsqrt(b) + tf.tanh(a)
            + tf.sigmoid(a) + tf.math.erf(a) + tf.square(a) - tf.negative(a) + tf.nn.softplus(a),
            "acts": tf.nn.relu6(a * 4) + tf.nn.elu(a) + tf.nn.selu(a) + tf.nn.leaky_relu(a, 0.1),
            "cmp": tf.cast(tf.logical_and(a < b, tf.logical_not(tf.equal(a, b))), tf.int32)
            + tf.cast(tf.logical_or(a >= b, a > 0.5), tf.int32),
            "select": tf.where(a > 0, a, b),
            "addn": tf.add_n([a, b, a]),
            "zeros": tf.zeros_like(a) + tf.ones_like(b),
        }

    g = check(tf, tmp_path, build, feeds)
    assert not [op for op in ops_of(g) if op.startswith("tf.")]


def test_v1_select_with_vector_condition(tf, tmp_path):
    feeds = {"c": np.array([True, False]), "x": f32(2, 3), "y": f32(2, 3)}

    def build(tf):
        return {"out": tf.compat.v1.where(ph(tf, "c", feeds["c"]), ph(tf, "x", feeds["x"]), ph(tf, "y", feeds["y"]))}

    check(tf, tmp_path, build, feeds)


_SLICES = {  # begin/end masks, ellipsis, new axis, shrink, negative strides
    "range_step": lambda x: x[1:3, ::2], "ellipsis_shrink": lambda x: x[..., 1],
    "new_axis": lambda x: x[:, None, 1:], "negative_index": lambda x: x[-1],
    "reverse": lambda x: x[::-1, 1::-1], "all_masks": lambda x: x[1, ..., None, :2],
    "stride3": lambda x: x[:, :, 0:4:3],
}


@pytest.mark.parametrize("spec", sorted(_SLICES))
def test_strided_slice_masks(tf, tmp_path, spec):
    feeds = {"x": f32(4, 3, 5)}

    def build(tf):
        return {"out": _SLICES[spec](ph(tf, "x", feeds["x"]))}

    g = check(tf, tmp_path, build, feeds)
    assert "core.strided_slice" in ops_of(g)


@pytest.mark.parametrize("padding", ["SAME", "VALID", "EXPLICIT"])
@pytest.mark.parametrize("kind", ["conv", "depthwise"])
def test_convolutions(tf, tmp_path, padding, kind):
    """NHWC here; TF's CPU kernels cannot run NCHW, see the transposes test below."""
    x = f32(1, 7, 8, 3)
    feeds = {"x": x}
    w = f32(3, 3, 3, 2)

    def build(tf):
        xi = ph(tf, "x", x)
        pad = [[0, 0], [1, 2], [0, 1], [0, 0]] if padding == "EXPLICIT" else padding
        if kind == "conv":
            y = tf.nn.conv2d(xi, w, strides=[1, 2, 1, 1], padding=pad, dilations=[1, 1, 1, 1])
            y2 = tf.nn.conv2d(xi, w, strides=1, padding="SAME" if padding == "EXPLICIT" else padding, dilations=2)
        else:
            y = tf.nn.depthwise_conv2d(xi, w, strides=[1, 2, 2, 1], padding=pad)
            # TF's CPU kernel has no dilated depthwise convolution: stride 1 SAME instead.
            y2 = tf.raw_ops.DepthwiseConv2dNative(input=xi, filter=w, strides=[1, 1, 1, 1], padding="SAME")
        return {"y": y, "y2": y2}

    g = check(tf, tmp_path, build, feeds, atol=1e-4)
    assert ("core.conv2d" if kind == "conv" else "core.depthwise_conv2d") in ops_of(g)


def test_nchw_conv_bias_pool_batchnorm_via_transposes(tf, tmp_path):
    """NCHW nodes lift through transposes; the oracle runs the same maths in NHWC."""
    from litesmith.frontends.tf import load_graphdef
    from litesmith.ir import run

    x = f32(1, 3, 6, 6)
    w = f32(3, 3, 3, 4)
    bias = f32(4)
    scale, offset, mean, var = f32(4), f32(4), f32(4), np.abs(f32(4)) + 0.1
    g = tf.Graph()
    with g.as_default():
        xi = tf.compat.v1.placeholder(tf.float32, x.shape, name="x")
        y = tf.raw_ops.Conv2D(input=xi, filter=w, strides=[1, 1, 1, 1], padding="SAME", data_format="NCHW")
        y = tf.raw_ops.BiasAdd(value=y, bias=bias, data_format="NCHW")
        y = tf.raw_ops.FusedBatchNormV3(x=y, scale=scale, offset=offset, mean=mean, variance=var, epsilon=1e-3,
                                        data_format="NCHW", is_training=False)[0]
        y = tf.raw_ops.MaxPool(input=y, ksize=[1, 1, 2, 2], strides=[1, 1, 2, 2], padding="VALID",
                               data_format="NCHW")
        tf.identity(y, name="out")
    path = tmp_path / "nchw.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:  # the oracle in NHWC
        t = tf.transpose(x, [0, 2, 3, 1])
        t = tf.nn.conv2d(t, w, 1, "SAME") + bias
        t = (t - mean) / np.sqrt(var + 1e-3) * scale + offset
        t = tf.nn.max_pool2d(t, 2, 2, "VALID")
        want = sess.run(tf.transpose(t, [0, 3, 1, 2]))
    graph = load_graphdef(str(path))
    np.testing.assert_allclose(run(graph, {"x": x})["out"], want, atol=1e-4)


def test_matmul_batchnorm_bias_softmax(tf, tmp_path):
    feeds = {"x": f32(2, 4), "img": f32(1, 4, 4, 3), "bx": f32(2, 3, 4)}
    w = f32(5, 4)

    def build(tf):
        x, img, bx = ph(tf, "x", feeds["x"]), ph(tf, "img", feeds["img"]), ph(tf, "bx", feeds["bx"])
        bn = tf.compat.v1.nn.fused_batch_norm(img, f32(3), f32(3), f32(3), np.abs(f32(3)) + 0.5, is_training=False)[0]
        return {
            "mm": tf.nn.softmax(tf.nn.bias_add(tf.matmul(x, w, transpose_b=True), f32(5))),
            "mm2": tf.nn.log_softmax(tf.matmul(w, x, transpose_a=False, transpose_b=True)),
            "bmm": tf.matmul(bx, bx, adjoint_b=True),
            "bn": bn,
            "pool": tf.nn.avg_pool2d(bn, 3, 1, "SAME") + tf.nn.max_pool2d(bn, 2, 1, "SAME"),
        }

    check(tf, tmp_path, build, feeds)


def test_shapes_and_data_movement(tf, tmp_path):
    feeds = {"x": f32(2, 6, 4), "i": np.array([[1, 0], [0, 3]], np.int32)}

    def build(tf):
        x, i = ph(tf, "x", feeds["x"]), ph(tf, "i", feeds["i"])
        a, b = tf.split(x, 2, axis=1)
        c, d, e = tf.split(x, [1, 2, -1], axis=1)
        parts = tf.unstack(x, axis=2)
        return {
            "reshape": tf.reshape(tf.transpose(x, [2, 0, 1]), [4, -1]),
            "concat": tf.concat([a, b, c, d, e], axis=1),
            "stack": tf.stack(parts, axis=1),
            "gather": tf.gather(x, i, axis=1, batch_dims=1),
            "gather0": tf.gather(x, [1, 0]),
            "gather_nd": tf.gather_nd(x, i),
            "pad": tf.pad(x, [[0, 1], [2, 0], [1, 1]], constant_values=3.0),
            "mirror": tf.pad(x, [[0, 1], [2, 1], [1, 1]], mode="REFLECT"),
            "tile": tf.tile(x, [1, 2, 1]),
            "squeeze": tf.squeeze(tf.expand_dims(x, 0), [0]),
            "expand": tf.expand_dims(x, -1),
            "bcast": tf.broadcast_to(x[:, :1], [2, 3, 4]),
            "fill": tf.fill([2, 3], 1.5),
            "range": tf.range(1, 10, 3),
            "shape": tf.shape(x) + tf.size(x) + tf.rank(x),
            "slice": tf.slice(x, [0, 1, 0], [1, -1, 2]),
            "onehot": tf.one_hot(i, 4, on_value=2.0, off_value=-1.0),
            "reverse": tf.reverse(x, [1]),
            "cast": tf.cast(x * 10, tf.int32),
        }

    g = check(tf, tmp_path, build, feeds)
    assert not [op for op in ops_of(g) if op.startswith("tf.")]


def test_reductions_and_scans(tf, tmp_path):
    feeds = {"x": f32(3, 4, 5)}

    def build(tf):
        x = ph(tf, "x", feeds["x"])
        return {
            "mean": tf.reduce_mean(x, axis=[0, 2], keepdims=True),
            "sum": tf.reduce_sum(x, axis=1),
            "max": tf.reduce_max(x, axis=-1), "min": tf.reduce_min(x, axis=0),
            "prod": tf.reduce_prod(x, axis=2),
            "any": tf.reduce_any(x > 1, axis=1), "all": tf.reduce_all(x > -2, axis=[1, 2]),
            "argmax": tf.argmax(x, axis=2), "argmin": tf.argmin(x, axis=1, output_type=tf.int32),
            "topv": tf.math.top_k(x, 2).values, "topi": tf.math.top_k(x, 2).indices,
            "cumsum": tf.cumsum(x, axis=1, exclusive=True, reverse=True),
            "cumprod": tf.math.cumprod(x, axis=2),
        }

    check(tf, tmp_path, build, feeds)


def test_resize(tf, tmp_path):
    feeds = {"x": f32(1, 4, 5, 2)}

    def build(tf):
        x = ph(tf, "x", feeds["x"])
        return {
            "bilinear": tf.compat.v1.image.resize_bilinear(x, [8, 7], half_pixel_centers=True),
            "bilinear_ac": tf.compat.v1.image.resize_bilinear(x, [7, 9], align_corners=True),
            "nearest": tf.compat.v1.image.resize_nearest_neighbor(x, [8, 10]),
        }

    check(tf, tmp_path, build, feeds)


def test_text_graphdef_and_constants(tf, tmp_path):
    """A .pbtxt with splat, scalar, bool, int64 and half constants."""
    feeds = {"x": f32(2, 3)}

    def build(tf):
        x = ph(tf, "x", feeds["x"])
        splat = tf.constant(2.5, shape=[2, 3])
        half = tf.cast(tf.constant(np.array([1.5, -2.0, 0.25], np.float16)), tf.float32)
        big = tf.cast(tf.constant(np.array([1 << 40, 3], np.int64)), tf.float32)
        flag = tf.constant([True, False, True])
        return {"out": tf.where(flag, x * splat + half, x) + big[1], "i64": tf.constant(np.int64(7))}

    check(tf, tmp_path, build, feeds, as_text=True)


def test_unmapped_op_stays_foreign_with_attrs(tf, tmp_path):
    from litesmith.frontends.tf import load_graphdef

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [3], name="x")
        y = tf.math.bessel_i0e(x, name="bessel")
        tf.identity(tf.nn.relu(y), name="out")
    path = tmp_path / "foreign.pb"
    path.write_bytes(g.as_graph_def(add_shapes=True).SerializeToString())
    graph = load_graphdef(str(path))
    (node,) = [n for n in graph.walk() if n.op.startswith("tf.")]
    assert node.op == "tf.BesselI0e" and node.meta["source"].startswith("bessel")
    assert node.attrs["T"].value == "f32" and node.outputs[0].shape == (3,)
    assert graph.output_names() == ["out"]


def test_non_constant_axis_stays_foreign_then_relifts(tf, tmp_path):
    from litesmith.frontends.tf import load_graphdef
    from litesmith.frontends.tf.mapper import relift
    from litesmith.ir import Builder, run

    x = f32(2, 3)
    g = tf.Graph()
    with g.as_default():
        xi = tf.compat.v1.placeholder(tf.float32, [2, 3], name="x")
        axis = tf.rank(xi) - 1  # computed: not a constant until fold-constants runs
        tf.identity(tf.concat([xi, xi], axis=axis), name="out")
        with tf.compat.v1.Session() as sess:
            want = sess.run("out:0", {"x:0": x})
    path = tmp_path / "axis.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    graph = load_graphdef(str(path))
    (node,) = [n for n in graph if n.op == "tf.ConcatV2"]
    b = Builder(graph, before=node)
    assert relift(node, b) is None  # the axis is still a computed value
    axis_in = node.inputs[-1]
    const = b.const(np.int32(1))
    node.set_input(len(node.inputs) - 1, const)
    new = relift(node, Builder(graph, before=node))
    assert new is not None and new[0].producer.op == "core.concat"
    node.outputs[0].replace_all_uses_with(new[0])
    graph.remove(node)
    del axis_in
    np.testing.assert_allclose(run(graph, {"x": x})["out"], want)


@pytest.mark.parametrize("data_format", ["NCHW", "NHWC"])
def test_training_mode_fused_batch_norm_uses_the_batch_statistics(tf, tmp_path, data_format):
    """is_training=True (tf_keras's LayerNormalization is one): y, batch_mean and the Bessel-corrected
    batch_variance match TF's own outputs."""
    from tf_models import freeze_function

    from litesmith.ir import run
    from litesmith.frontends.tf import load_graphdef

    channels = 5 if data_format == "NCHW" else 3
    scale, offset, x = f32(channels), f32(channels), f32(2, 5, 4, 3)

    def fn(x):
        y, mean, var = tf.raw_ops.FusedBatchNormV3(x=x, scale=scale, offset=offset, mean=[], variance=[],
                                                   epsilon=1e-3, data_format=data_format, is_training=True)[:3]
        return {"y": y, "mean": mean, "var": var}

    path = tmp_path / "bn.pb"
    want = freeze_function(tf, path, fn, {"x": x})
    graph = load_graphdef(str(path))
    assert not [n.op for n in graph if n.op.startswith("tf.")]
    got = run(graph, {"x": x})
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=1e-4)


def test_reduction_axes_computed_from_constants_map_at_lift(tf, tmp_path):
    """pfor's ``Max(x, Range(0, Rank, 1))`` (Rank a Const): the axes are evaluated at lift, so the
    reduction is a core op the interpreter runs, not a foreign ``tf.Max``."""
    import litesmith
    from litesmith.frontends.tf import proto
    from litesmith.ir.interpreter import run
    from tf_models import run_tf_graphdef

    gd = proto.GraphDef()
    x = gd.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 3  # DT_INT32
    x.attr["shape"].shape.dim.add(size=4)
    for name, value in (("start", 0), ("rank", 1), ("delta", 1)):
        c = gd.node.add(name=name, op="Const")
        c.attr["dtype"].type = 3
        c.attr["value"].tensor.dtype = 3
        c.attr["value"].tensor.int_val.append(value)
    gd.node.add(name="axes", op="Range", input=["start", "rank", "delta"]).attr["Tidx"].type = 3
    m = gd.node.add(name="m", op="Max", input=["x", "axes"])
    m.attr["T"].type = 3
    m.attr["Tidx"].type = 3
    path = tmp_path / "max.pb"
    path.write_bytes(gd.SerializeToString())
    graph = litesmith.load(str(path))
    assert "core.reduce_max" in {n.op for n in graph} and not any(n.op.startswith("tf.") for n in graph)
    feeds = {"x": np.array([3, -1, 7, 2], np.int32)}
    assert run(graph, feeds)["m"] == run_tf_graphdef(tf, str(path), feeds, ["m"])["m"]
