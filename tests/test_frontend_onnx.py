"""The ONNX frontend against onnxruntime: helper-built models, opset forms, IO choices, foreign ops."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from onnx import TensorProto, helper

import litesmith
from litesmith.cli import main
from litesmith.ir import run
from litesmith.ir.errors import UserError
from onnx_models import check_against_ort, init, make_model, mlp, node_model, run_ort, save, small_cnn, vinfo


def _x(seed=0, shape=(1, 3, 16, 16)):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("opset", [9, 13, 17])
def test_small_cnn_matches_onnxruntime(opset, litert_interpreter):
    graph, ops = check_against_ort(small_cnn(opset), {"x": _x()}, litert_interpreter)
    assert ops["TRANSPOSE"] == 1  # only the input's NCHW -> NHWC
    assert ops["CONV_2D"] == 2 and ops["DEPTHWISE_CONV_2D"] == 1 and ops["FULLY_CONNECTED"] == 1


def test_small_cnn_channel_last_io_has_no_transpose(litert_interpreter):
    _, ops = check_against_ort(small_cnn(), {"x": _x()}, litert_interpreter, io_layout="nhwc")
    assert "TRANSPOSE" not in ops


def test_mlp_matches_onnxruntime(litert_interpreter):
    x = np.random.default_rng(3).normal(size=(2, 8)).astype(np.float32)
    _, ops = check_against_ort(mlp(), {"x": x}, litert_interpreter)
    assert ops["FULLY_CONNECTED"] == 2 and ops["SOFTMAX"] == 1


def test_initializers_listed_as_inputs_are_constants(tmp_path):
    """IR v3 exporters list every initializer as a graph input too: those are weights, not model inputs."""
    model = mlp()
    for t in model.graph.initializer:
        model.graph.input.append(vinfo(t.name, list(t.dims)))
    graph = litesmith.load(save(model, str(tmp_path)))
    assert [v.name for v in graph.inputs] == ["x"]


def test_load_from_bytes_and_symbolic_batch():
    from litesmith.frontends.onnx import load_onnx

    model = mlp(batch=None)
    graph = load_onnx(model.SerializeToString())
    assert graph.inputs[0].shape == (None, 8)
    x = np.random.default_rng(4).normal(size=(3, 8)).astype(np.float32)
    np.testing.assert_allclose(run(graph, {"x": x})["probs"], run_ort(model, {"x": x})["probs"], atol=1e-5)
    fixed = load_onnx(model.SerializeToString(), input_shapes={"x": [3, 8]})
    assert fixed.outputs[0].shape == (3, 4)


def test_io_override_by_name(tmp_path):
    path = save(mlp(), str(tmp_path))
    graph = litesmith.load(path, inputs=["h"], outputs=["logits"])
    assert [v.name for v in graph.inputs] == ["h"] and [v.name for v in graph.outputs] == ["logits"]
    assert graph.inputs[0].shape == (2, 16)
    with pytest.raises(UserError, match="did you mean"):
        litesmith.load(path, outputs=["logit"])


def test_external_data(tmp_path, litert_interpreter):
    import onnx

    model = small_cnn()
    path = str(tmp_path / "ext.onnx")
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="ext.data",
              size_threshold=0)
    assert os.path.exists(tmp_path / "ext.data")
    graph = litesmith.load(path)
    x = _x(5)
    np.testing.assert_allclose(run(graph, {"x": x})["y"], run_ort(small_cnn(), {"x": x})["y"], atol=1e-4)
    os.rename(tmp_path / "ext.data", tmp_path / "moved.data")
    with pytest.raises(UserError, match="external data file 'ext.data' not found"):
        litesmith.load(path)


def _opset_forms():
    """(name, opset, node builder) pairs that differ between opsets: attribute vs input forms."""
    i64 = lambda name, vals: init(name, np.asarray(vals, np.int64))  # noqa: E731
    f = lambda name, v: init(name, np.asarray(v, np.float32))  # noqa: E731
    return [
        ("Reshape", 13, [i64("shape", [0, -1])], {}),
        ("Squeeze", 11, [], {"axes": [1]}),
        ("Squeeze", 13, [i64("axes", [1])], {}),
        ("Unsqueeze", 11, [], {"axes": [0, 3]}),
        ("Unsqueeze", 13, [i64("axes", [0, -1])], {}),
        ("Clip", 9, [], {"min": -0.5, "max": 0.7}),
        ("Clip", 13, [f("lo", -0.5), f("hi", 0.7)], {}),
        ("Pad", 9, [], {"pads": [0, 1, 0, 2, 0, 1], "mode": "constant", "value": 1.5}),
        ("Pad", 13, [i64("pads", [0, 1, 0, 2, 0, 1]), f("cv", 1.5)], {}),
        ("Pad", 13, [i64("pads", [0, 1, 2, 0, 2, 1])], {"mode": "reflect"}),
        ("Pad", 13, [i64("pads", [0, 1, 2, 0, 2, 1])], {"mode": "edge"}),
        ("Pad", 18, [i64("pads", [1, -1]), f("cv", 0.0), i64("axes", [2])], {}),
        ("Slice", 9, [], {"starts": [1, -3], "ends": [100, -1], "axes": [1, 2]}),
        ("Slice", 13, [i64("st", [3, -1]), i64("en", [0, -100]), i64("ax", [1, 2]), i64("sp", [-2, -1])], {}),
        ("ReduceSum", 11, [], {"axes": [1], "keepdims": 0}),
        ("ReduceSum", 13, [i64("axes", [1, 2])], {}),
        ("ReduceMean", 18, [i64("axes", [-1])], {"keepdims": 0}),
        ("ReduceMax", 13, [], {"axes": [0, 2]}),
        ("ReduceL2", 13, [], {"axes": [2]}),
        ("ReduceLogSumExp", 13, [], {"axes": [1]}),
        ("Split", 11, [], {"axis": 1, "split": [1, 3]}),
        ("Split", 13, [i64("split", [3, 1])], {"axis": 1}),
        ("Split", 18, [], {"axis": 2, "num_outputs": 2}),
        ("Softmax", 11, [], {"axis": 1}),
        ("Softmax", 13, [], {"axis": 1}),
        ("LogSoftmax", 9, [], {}),
        ("Transpose", 13, [], {"perm": [2, 0, 1]}),
        ("Flatten", 13, [], {"axis": 2}),
        ("ArgMax", 13, [], {"axis": 1, "select_last_index": 1}),
        ("TopK", 13, [i64("k", [2])], {"axis": 1, "largest": 0}),
        ("CumSum", 13, [i64("axis", 2)], {"exclusive": 1, "reverse": 1}),
    ]


@pytest.mark.parametrize("op,opset,inits,attrs", _opset_forms(),
                         ids=[f"{o}-{v}-{i}" for i, (o, v, _, _) in enumerate(_opset_forms())])
def test_opset_forms_match_onnxruntime(op, opset, inits, attrs, litert_interpreter):
    x = np.random.default_rng(7).normal(size=(2, 4, 5)).astype(np.float32)
    if op == "Squeeze":
        x = x[:, :1]
    n_out = 2 if op in ("Split", "TopK") else 1
    model, feeds = node_model(op, [x], n_out=n_out, opset=opset, extra_inits=inits, **attrs)
    check_against_ort(model, feeds, litert_interpreter)


def test_unknown_op_stays_foreign_and_is_reported(tmp_path, capsys):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Det", ["r"], ["y"])]
    model = make_model(nodes, [vinfo("x", [3, 3])], [vinfo("y", [])])
    path = save(model, str(tmp_path))
    graph = litesmith.load(path)
    assert [n.op for n in graph.nodes] == ["core.relu", "onnx.Det"]
    assert graph.outputs[0].type.shape == ()
    assert main(["convert", path, "-o", str(tmp_path / "m.tflite")]) == 2
    err = capsys.readouterr().err
    assert "onnx.Det" in err and len(err.strip().splitlines()) == 1
    assert main(["inspect", path, "--check"]) == 1
    assert "onnx.Det" in capsys.readouterr().out
    assert main(["inspect", path]) == 0
    assert "foreign ops: onnx.Det x1" in capsys.readouterr().out


def test_cli_convert_and_inspect(tmp_path, capsys):
    path = save(small_cnn(), str(tmp_path))
    out = tmp_path / "m.tflite"
    assert main(["convert", path, "-o", str(out), "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["transposes"]["before"] == 8 and report["transposes"]["after"] == 1
    capsys.readouterr()
    assert main(["inspect", path, "--json", "--input-shape", "x:2x3x16x16"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["inputs"] == [{"name": "x", "dtype": "f32", "shape": [2, 3, 16, 16]}]
    assert summary["outputs"] == [{"name": "y", "dtype": "f32", "shape": [2, 10]}]


@pytest.mark.parametrize("data,message", [
    (b"", "empty file"),
    (b"\x08\x07\x12\x05hello\x3a\xff\xff", "not a valid ONNX model"),
    (b"garbage that is not a protobuf at all \xff\xfe", "not a valid ONNX model"),
])
def test_malformed_files_are_clean_errors(tmp_path, capsys, data, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_truncated_model_is_a_clean_error(tmp_path):
    data = small_cnn().SerializeToString()
    for cut in (len(data) // 3, len(data) - 7):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        with pytest.raises(UserError):
            litesmith.load(str(path))


def test_cycle_is_a_clean_error(tmp_path):
    nodes = [helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Add", ["x", "b"], ["y"])]
    model = make_model(nodes, [vinfo("x", [2])], [vinfo("y", [2])])
    path = save(model, str(tmp_path))
    with pytest.raises(UserError, match="cycle"):
        litesmith.load(path)


def test_unsupported_dtype_input_is_a_clean_error(tmp_path):
    model = make_model([helper.make_node("Identity", ["x"], ["y"])], [vinfo("x", [2], TensorProto.BFLOAT16)],
                       [vinfo("y", [2], TensorProto.BFLOAT16)])
    with pytest.raises(UserError, match="BFLOAT16"):
        litesmith.load(save(model, str(tmp_path)))


def _resize_cases():
    f = lambda name, v: init(name, np.asarray(v, np.float32))  # noqa: E731
    i64 = lambda name, v: init(name, np.asarray(v, np.int64))  # noqa: E731
    up = [f("roi", []), f("scales", [1, 1, 2, 2])]
    down = [f("roi", []), f("scales", [1, 1, 0.6, 0.75])]
    sizes = [f("roi", []), f("scales", []), i64("sizes", [1, 3, 7, 5])]
    return [
        ("nearest-asymmetric-floor", up, {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                          "nearest_mode": "floor"}, "RESIZE_NEAREST_NEIGHBOR"),
        ("nearest-half-pixel", up, {"mode": "nearest"}, None),
        ("linear-half-pixel", up, {"mode": "linear"}, "RESIZE_BILINEAR"),
        ("linear-align-corners", up, {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
         "RESIZE_BILINEAR"),
        ("linear-pytorch-down", down, {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
         None),
        ("cubic", up, {"mode": "cubic"}, None),
        ("cubic-sizes-exclude-outside", sizes, {"mode": "cubic", "exclude_outside": 1, "cubic_coeff_a": -0.5}, None),
        ("linear-antialias-down", down, {"mode": "linear", "antialias": 1}, None),
        ("nearest-sizes-ceil", sizes, {"mode": "nearest", "nearest_mode": "ceil"}, None),
    ]


@pytest.mark.parametrize("name,inits,attrs,tfl_op", _resize_cases(), ids=[c[0] for c in _resize_cases()])
def test_resize_with_constant_scales_matches_onnxruntime(name, inits, attrs, tfl_op, litert_interpreter):
    x = _x(8, (1, 3, 4, 4))
    model, feeds = node_model("Resize", [x], opset=19, extra_inits=inits, **attrs)
    _, ops = check_against_ort(model, feeds, litert_interpreter)
    if tfl_op:
        assert ops[tfl_op] == 1 and "TRANSPOSE" in ops


def test_upsample_opset9(litert_interpreter):
    x = _x(9, (1, 2, 3, 3))
    model, feeds = node_model("Upsample", [x], opset=9, extra_inits=[init("s", np.asarray([1, 1, 2, 3], np.float32))],
                              mode="nearest")
    check_against_ort(model, feeds, litert_interpreter)


@pytest.mark.parametrize("attrs,wshape,xshape", [
    ({"strides": [2, 2]}, (3, 2, 3, 3), (1, 3, 4, 5)),
    ({"strides": [2, 2], "pads": [1, 0, 1, 2], "output_padding": [1, 0]}, (3, 2, 3, 3), (1, 3, 4, 5)),
    ({"group": 3, "dilations": [2, 1]}, (3, 1, 2, 3), (1, 3, 4, 4)),
    ({"strides": [3], "auto_pad": "SAME_UPPER"}, (2, 4, 3), (1, 2, 6)),
    ({"strides": [2, 2], "output_shape": [9, 11]}, (3, 2, 3, 3), (1, 3, 4, 5)),
], ids=["stride2", "pads-output-padding", "group-dilation", "1d-same-upper", "output-shape"])
def test_conv_transpose_matches_onnxruntime(attrs, wshape, xshape, litert_interpreter):
    rng = np.random.default_rng(11)
    model, feeds = node_model("ConvTranspose", [_x(10, xshape)], opset=17,
                              extra_inits=[init("W", rng.normal(size=wshape).astype(np.float32))], **attrs)
    _, ops = check_against_ort(model, feeds, litert_interpreter)
    assert ops["CONV_2D"] >= 1


def test_conv_weights_fed_as_an_input(litert_interpreter):
    """ONNX lets a conv's weights be a graph input: the .tflite transposes them at run time."""
    x, w = _x(12, (1, 2, 6, 6)), _x(13, (4, 2, 3, 3))
    model, feeds = node_model("Conv", [x, w], opset=13, pads=[1, 1, 1, 1], strides=[2, 2])
    _, ops = check_against_ort(model, feeds, litert_interpreter)
    assert ops["CONV_2D"] == 1
    dw = _x(14, (2, 1, 3, 3))
    model, feeds = node_model("Conv", [x, dw], opset=13, group=2)
    _, ops = check_against_ort(model, feeds, litert_interpreter)
    assert ops["DEPTHWISE_CONV_2D"] == 1


@pytest.mark.parametrize("op,attrs", [
    ("LpPool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ("LpPool", {"kernel_shape": [2, 2], "p": 3}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 0, 2, 1], "strides": [2, 2], "ceil_mode": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER"}),
    ("MaxPool", {"kernel_shape": [2, 3], "dilations": [2, 2], "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [2, 2, 2], "strides": [2, 1, 2], "pads": [1, 0, 0, 1, 1, 1]}),
    ("LpPool", {"kernel_shape": [2, 2], "dilations": [2, 1], "p": 2}),
])
def test_pools_match_onnxruntime(op, attrs, litert_interpreter):
    shape = (1, 2, 5, 7, 8) if len(attrs["kernel_shape"]) == 3 else (1, 2, 7, 8)
    model, feeds = node_model(op, [_x(15, shape)], opset=19, **attrs)
    check_against_ort(model, feeds, litert_interpreter)


@pytest.mark.parametrize("op,attrs,extra", [
    ("Attention", {"q_num_heads": 4, "kv_num_heads": 2, "is_causal": 1}, None),
    ("Erf", {}, None), ("Atan", {}, None), ("Softplus", {}, None), ("Mish", {}, None),
    ("RMSNormalization", {"axis": -1}, "scale"), ("LRN", {"size": 3}, None), ("DepthToSpace", {"blocksize": 2}, None),
    ("RotaryEmbedding", {"interleaved": 1, "rotary_embedding_dim": 4}, None),
])
def test_composed_ops_match_onnxruntime(op, attrs, extra, litert_interpreter):
    rng = np.random.default_rng(16)
    if op == "Attention":
        q, k, v = (rng.normal(size=s).astype(np.float32) for s in ((2, 5, 16), (2, 5, 8), (2, 5, 8)))
        model, feeds = node_model(op, [q, k, v], opset=23, **attrs)
    elif op == "RotaryEmbedding":
        x = rng.normal(size=(2, 3, 5, 6)).astype(np.float32)  # [B, H, S, D]
        cos, sin = (rng.normal(size=(2, 5, 2)).astype(np.float32) for _ in range(2))
        model, feeds = node_model(op, [x, cos, sin], opset=23, **attrs)
    else:
        x = (rng.normal(size=(1, 4, 3, 5)) * 3).astype(np.float32)
        inits = [init("scale", rng.normal(size=(5,)).astype(np.float32))] if extra else []
        model, feeds = node_model(op, [x], opset=23, extra_inits=inits, **attrs)
    check_against_ort(model, feeds, litert_interpreter)


@pytest.mark.parametrize("name", ["squeezenet", "inception_v1", "resnet50", "shufflenet"])
def test_light_models_in_the_onnx_wheel_match_onnxruntime(name, litert_interpreter):
    """Four of the wheel's nine light CNNs (benchmarks/onnx_light_models.py runs all nine)."""
    from onnx_models import check_light_model, light_models

    (path,) = [p for p in light_models() if p.endswith(f"light_{name}.onnx")]
    err, ops, _ = check_light_model(path, litert_interpreter)
    assert err <= 1e-4 and ops["CONV_2D"] >= 1


def test_minus_one_dims_are_unknown_as_paddle2onnx_writes_them():
    from litesmith.frontends.onnx import load_onnx
    from onnx_models import mlp

    model = mlp(batch=None)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -1
    g = load_onnx(model.SerializeToString())
    assert g.inputs[0].shape == (None, 8)
    g = load_onnx(model.SerializeToString(), input_shapes={"x": [3, 8]})
    assert g.inputs[0].shape == (3, 8)
