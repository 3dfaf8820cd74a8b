"""The backends' passes (lower-tflite, fuse-tflite, quantize-*): IR text in and out, numerics, and
compile_to_tflite as one pass-manager run of them."""
from __future__ import annotations

import io
import subprocess
import sys
from textwrap import dedent

import numpy as np
import pytest

from litesmith.backends.quantize.kernels import QuantizedInterpreter
from litesmith.backends.tflite import read_tflite
from litesmith.backends.tflite.compile import compile_to_tflite, tflite_pipeline
from litesmith.backends.tflite.legalize import IllegalOpsError
from litesmith.ir import run
from litesmith.ir.errors import UserError
from litesmith.ir.text import parse_ir, print_ir
from litesmith.passes import get_pass, list_passes, run_pipeline
from litesmith.passes.manager import PassUserError

CONV = dedent("""
    graph @main(%x: f32[1,2,2,2]) {
      %w = core.const() {value = dense<f32[1,1,2,2]> [1.0, -2.0, 0.5, 1.5]} : f32[1,1,2,2]
      %b = core.const() {value = dense<f32[2]> [0.25, -0.5]} : f32[2]
      %c = core.conv2d(%x, %w) {padding = "VALID"} : f32[1,2,2,2]
      %a = core.add(%c, %b) : f32[1,2,2,2]
      %y = core.relu(%a) : f32[1,2,2,2]
      return %y
    }
""")
CONV_ATTRS = 'dilation_h_factor = 1, dilation_w_factor = 1, fused_activation_function = "{act}", padding = "VALID", stride_h = 1, stride_w = 1'
RNG = np.random.default_rng(7)
BACKEND_PASSES = {"lower-tflite", "fuse-tflite", "dense-rank2", "embedding-one-hot", "softmax-int16", "fuse-lstm-loops", "quantize-float16", "quantize-dynamic", "quantize-int8", "quantize-int16x8",
                  "stub-custom-ops", "split-host-ops"}


def feeds():
    return {"x": RNG.normal(size=(1, 2, 2, 2)).astype(np.float32)}


def test_lower_tflite_text_and_numerics():
    g = parse_ir(CONV)
    x = feeds()
    before = run(g, x)["y"]
    report = run_pipeline(g, "lower-tflite", verify_each=True, check_numerics=True)
    assert print_ir(g) == dedent(f"""\
        graph @main(%x: f32[1,2,2,2]) {{
          %b = core.const() {{value = dense<f32[2]> [0.25, -0.5]}} : f32[2]
          %0 = core.const() {{value = dense<f32[2,1,1,2]> [[[[1.0, 0.5]]], [[[-2.0, 1.5]]]]}} : f32[2,1,1,2]
          %1 = core.const() {{value = dense<f32[2]> [0.0, 0.0]}} : f32[2]
          %c = tfl.conv_2d(%x, %0, %1) {{{CONV_ATTRS.format(act="NONE")}}} : f32[1,2,2,2]
          %a = tfl.add(%c, %b) {{fused_activation_function = "NONE", pot_scale_int16 = true}} : f32[1,2,2,2]
          %y = tfl.relu(%a) : f32[1,2,2,2]
          return %y
        }}
    """)
    assert report["lower-tflite"].report == {
        "ops_before": {"core.add": 1, "core.conv2d": 1, "core.relu": 1},
        "lowered": {"core.conv2d": 1, "core.add": 1, "core.relu": 1},
        "legality": {"illegal": [], "ops": {}},
    }
    np.testing.assert_allclose(run(g, x)["y"], before, rtol=1e-6)  # the tfl kernels, in the reference interpreter


def test_fuse_tflite_text_and_numerics():
    g = parse_ir(CONV)
    x = feeds()
    before = run(g, x)["y"]
    report = run_pipeline(g, "lower-tflite,fuse-tflite,dce", verify_each=True, check_numerics=True)
    assert print_ir(g) == dedent(f"""\
        graph @main(%x: f32[1,2,2,2]) {{
          %0 = core.const() {{value = dense<f32[2,1,1,2]> [[[[1.0, 0.5]]], [[[-2.0, 1.5]]]]}} : f32[2,1,1,2]
          %1 = core.const() {{value = dense<f32[2]> [0.25, -0.5]}} : f32[2]
          %y = tfl.conv_2d(%x, %0, %1) {{{CONV_ATTRS.format(act="RELU")}}} : f32[1,2,2,2]
          return %y
        }}
    """)
    assert report["fuse-tflite"].report["applied"] == {"fold-bias-add": 1, "fuse-relu": 1, "dead": 2}
    np.testing.assert_allclose(run(g, x)["y"], before, rtol=1e-6)


ERF = dedent("""
    graph @main(%x: f32[3]) {
      %r = core.relu(%x) : f32[3]
      %y = core.erf(%r) : f32[3]
      return %y
    }
""")


def test_lower_tflite_refuses_illegal_ops_unless_partial():
    with pytest.raises(PassUserError, match=r"pass lower-tflite \(#1\) failed, as the first pass: main: cannot lower 1 node") as e:
        run_pipeline(parse_ir(ERF), "lower-tflite")
    assert isinstance(e.value.__cause__, IllegalOpsError) and e.value.__cause__.report.ops() == {"core.erf": 1}
    g = parse_ir(ERF)
    report = run_pipeline(g, "lower-tflite{partial=true}", verify_each=True)
    assert [n.op for n in g] == ["tfl.relu", "core.erf"]
    (issue,) = report[0].report["legality"]["illegal"]
    assert issue["op"] == "core.erf" and issue["kind"] == "no-builtin"


def test_compile_raises_the_backend_error_itself_with_the_report():
    report = {}
    with pytest.raises(IllegalOpsError) as e:
        compile_to_tflite(parse_ir(ERF), report=report)
    assert type(e.value) is IllegalOpsError and str(e.value).startswith("main: cannot lower 1 node(s) to TFLite (core.erf)")
    assert report["ops_before"] == {"core.erf": 1, "core.relu": 1} and report["legality"]["ops"] == {"core.erf": 1}
    with pytest.raises(UserError, match="^int8 quantization needs calibration data"):
        compile_to_tflite(parse_ir(CONV), quantize="int8")
    with pytest.raises(PassUserError, match=r"pass unroll-rnn{steps=0} \(#1\) failed"):  # the caller's passes are named
        compile_to_tflite(parse_ir(CONV), passes="unroll-rnn{steps=0}")


def test_tflite_pipeline_strings():
    prep = "lower-tensor-lists,sink-loop-constants,fold-empty-tensors,demote-float64,fuse-lstm-loops,"  # loops ready for WHILE, float64 in float32 (no-ops without them)
    assert tflite_pipeline() == prep + "lower-tflite,fuse-tflite,dce"
    assert tflite_pipeline("dynamic") == prep + "lower-tflite,fuse-tflite,dce,quantize-dynamic"
    assert tflite_pipeline("int8", io_dtype="int8", percentile=99.9, integer_only=True) == \
        prep + "lower-tflite,fuse-tflite,dce,quantize-int8{io_dtype=int8,percentile=99.9,integer_only=true}"
    assert tflite_pipeline("int8", target="armnn") == prep + "lower-tflite,fuse-tflite,dce,dense-rank2," \
        "quantize-int8{per_tensor_fc=true,float_requantize=true},embedding-one-hot"  # the profile's choices
    with pytest.raises(UserError, match=r"io int8 needs mode int8 \(mode float16 keeps float activations\)"):
        tflite_pipeline("float16", io_dtype="int8")


def test_compile_report_comes_from_the_pass_records():
    report = {}
    blob = compile_to_tflite(parse_ir(CONV), report=report, quantize="float16")
    assert report["ops_before"] == {"core.add": 1, "core.conv2d": 1, "core.relu": 1}
    assert report["fused"] == {"fold-bias-add": 1, "fuse-relu": 1}
    assert report["ops_after"] == {"tfl.conv_2d": 1}  # after the lowering, before quantization
    assert report["quantization"] == {"mode": "float16", "float16_constants": 0}  # 4 weights: too small
    assert [n.op for n in read_tflite(blob) if n.op != "core.const"] == ["tfl.conv_2d"]


# -- quantization passes -------------------------------------------------------------------------

WIDE = dedent("""
    graph @main(%x: f32[1,4,4,32]) {
      %w = core.const() {value = dense<f32[1,1,32,40]> 0.25} : f32[1,1,32,40]
      %y = core.conv2d(%x, %w) {padding = "VALID"} : f32[1,4,4,40]
      return %y
    }
""")


def lowered_wide():
    g = parse_ir(WIDE)
    w = g.nodes[0]
    w.attrs["value"] = RNG.normal(size=(1, 1, 32, 40)).astype(np.float32)  # 1280 weights: dynamic takes them
    run_pipeline(g, "lower-tflite,fuse-tflite,dce")
    return g


@pytest.mark.parametrize("mode, ops", [
    ("float16", ["core.const", "tfl.dequantize", "core.const", "tfl.dequantize", "tfl.conv_2d"]),
    ("dynamic", ["core.const", "core.const", "tfl.conv_2d"]),
    ("int8", ["tfl.quantize", "core.const", "core.const", "tfl.conv_2d", "tfl.dequantize"]),
    ("int16x8", ["tfl.quantize", "core.const", "core.const", "tfl.conv_2d", "tfl.dequantize"]),
])
def test_quantize_passes_text_and_numerics(mode, ops):
    g = lowered_wide()
    x = {"x": RNG.normal(size=(1, 4, 4, 32)).astype(np.float32)}
    want = run(g, x)["y"]
    calibration = {"x": RNG.normal(size=(16, 1, 4, 4, 32)).astype(np.float32)}
    out = io.StringIO()
    report = run_pipeline(g, f"quantize-{mode}", verify_each=True, check_numerics=True, numerics_feeds=x, out=out,
                          resources={"calibration": calibration, "progress": False})
    record = report[0]
    assert [n.op for n in g] == ops
    assert record.report["mode"] == mode and "accuracy" in record.report  # calibration given: measured
    assert [c.label for c in record.children] == [f"quantize-{mode}/dce"]
    assert out.getvalue().startswith(f"check-numerics: quantize-{mode} (#1) approximates by design: output 'y' max abs error")
    got = QuantizedInterpreter(g).run(x)["y"]
    tol = {"float16": 1e-2, "dynamic": 0.1, "int8": 0.15, "int16x8": 0.05}[mode] * np.abs(want).max()
    np.testing.assert_allclose(got, want, atol=tol)
    if mode == "int8":
        conv = next(n for n in g if n.op == "tfl.conv_2d")
        assert str(conv.outputs[0].dtype) == "i8" and record.report["int8_ops"] == {"tfl.conv_2d": 1}
    if mode == "int16x8":  # int16 activations (zero point 0), int8 weights, int64 bias
        conv = next(n for n in g if n.op == "tfl.conv_2d")
        assert [str(v.dtype) for v in conv.inputs + conv.outputs] == ["i16", "i8", "i64", "i16"]
        assert conv.inputs[0].quant.zero_point == (0,) and record.report["int16_ops"] == {"tfl.conv_2d": 1}


def test_quantize_int8_takes_calibration_from_the_context_only():
    with pytest.raises(PassUserError, match="quantize-int8 .*int8 quantization needs calibration data"):
        run_pipeline(lowered_wide(), "quantize-int8")
    with pytest.raises(PassUserError, match="quantize-int16x8 .*int16x8 quantization needs calibration data"):
        run_pipeline(lowered_wide(), "quantize-int16x8")
    with pytest.raises(Exception, match="has no option 'calibration'"):
        run_pipeline(lowered_wide(), "quantize-int8{calibration=c.npz}")


# -- registration ----------------------------------------------------------------------------------


def test_backend_passes_come_from_entry_points_with_one_name():
    from importlib.metadata import entry_points

    eps = {ep.name: ep for ep in entry_points(group="litesmith.passes") if ep.dist and ep.dist.name == "litesmith"}
    assert set(eps) == BACKEND_PASSES
    for name, ep in eps.items():
        assert ep.value.startswith("litesmith.backends.")
        assert ep.load() is get_pass(name) and get_pass(name).name == name
    infos = {i.name: i for i in list_passes()}
    assert all(infos[n].origin == "builtin" for n in BACKEND_PASSES)


def test_listing_passes_imports_no_backend_pass_module():
    code = ("import sys; from litesmith.passes import list_passes; infos = {i.name: i.summary for i in list_passes()};"
            "assert not [m for m in sys.modules if m.endswith('.passes') and 'backends' in m], sorted(sys.modules);"
            "print(infos['lower-tflite'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == get_pass("lower-tflite").summary()


VECTOR_DENSE = dedent("""\
    graph @main(%x: f32[3]) {
      %0 = core.const() {value = dense<f32[2]> [0.25, -0.5]} : f32[2]
      %1 = core.const() {value = dense<f32[2,3]> [[1.0, -2.0, 0.25], [0.5, 1.5, 0.0]]} : f32[2,3]
      %y = tfl.fully_connected(%x, %1, %0) {asymmetric_quantize_inputs = false, fused_activation_function = "RELU", keep_num_dims = true, weights_format = "DEFAULT"} : f32[2]
      return %y
    }
""")


def test_dense_rank2_text_and_numerics():
    """--target armnn's lowering choice: a vector dense layer as [1, K] -> [1, N] between reshapes."""
    g = parse_ir(VECTOR_DENSE)
    x = {"x": RNG.normal(size=(3,)).astype(np.float32)}
    before = run(g, x)["y"]
    report = run_pipeline(g, "dense-rank2", verify_each=True, check_numerics=True)
    assert print_ir(g) == dedent("""\
        graph @main(%x: f32[3]) {
          %0 = core.const() {value = dense<f32[2]> [0.25, -0.5]} : f32[2]
          %1 = core.const() {value = dense<f32[2,3]> [[1.0, -2.0, 0.25], [0.5, 1.5, 0.0]]} : f32[2,3]
          %2 = core.const() {value = dense<i32[2]> [1, 3]} : i32[2]
          %3 = tfl.reshape(%x, %2) : f32[1,3]
          %4 = tfl.fully_connected(%3, %1, %0) {asymmetric_quantize_inputs = false, fused_activation_function = "RELU", keep_num_dims = false, weights_format = "DEFAULT"} : f32[1,2]
          %5 = core.const() {value = dense<i32[1]> [2]} : i32[1]
          %y = tfl.reshape(%4, %5) : f32[2]
          return %y
        }
    """)
    assert report["dense-rank2"].report == {"rewritten": 1}
    np.testing.assert_allclose(run(g, x)["y"], before, rtol=1e-6)


EMBEDDING = dedent("""
    graph @main(%ids: i32[]) {
      %t = core.const() {value = dense<f32[3,2]> [[1.0, -2.0], [0.5, 4.0], [-3.0, 6.0]]} : f32[3,2]
      %y = tfl.gather(%t, %ids) {axis = 0, batch_dims = 0} : f32[2]
      return %y
    }
""")
ONE_HOT_OPS = ["tfl.reshape", "tfl.sub", "tfl.mul", "tfl.sub"]  # ids [1, 1] - positions, squared, relu(1 - .)


def test_embedding_one_hot_text_and_numerics():
    """--target armnn's lowering choice (Arm NN 20.08 has no GATHER): relu(1 - (id - positions)^2) times the table."""
    g = parse_ir(EMBEDDING)
    want = {i: run(parse_ir(EMBEDDING), {"ids": np.array(i, np.int32)})["y"] for i in range(3)}
    report = run_pipeline(g, "embedding-one-hot", verify_each=True)
    assert print_ir(g) == dedent("""\
        graph @main(%ids: f32[]) {
          %0 = core.const() {value = dense<i32[2]> [1, 1]} : i32[2]
          %1 = tfl.reshape(%ids, %0) : f32[1,1]
          %"y/positions" = core.const() {value = dense<f32[1,3]> [[0.0, 1.0, 2.0]]} : f32[1,3]
          %2 = tfl.sub(%1, %"y/positions") {fused_activation_function = "NONE", pot_scale_int16 = true} : f32[1,3]
          %3 = tfl.mul(%2, %2) {fused_activation_function = "NONE"} : f32[1,3]
          %4 = core.const() {value = dense<f32[1,1]> [[1.0]]} : f32[1,1]
          %"y/one_hot" = tfl.sub(%4, %3) {fused_activation_function = "RELU", pot_scale_int16 = true} : f32[1,3]
          %"t/transposed" = core.const() {value = dense<f32[2,3]> [[1.0, 0.5, -3.0], [-2.0, 4.0, 6.0]]} : f32[2,3]
          %5 = tfl.fully_connected(%"y/one_hot", %"t/transposed") {asymmetric_quantize_inputs = false, fused_activation_function = "NONE", keep_num_dims = false, weights_format = "DEFAULT"} : f32[1,2]
          %6 = core.const() {value = dense<i32[1]> [2]} : i32[1]
          %y = tfl.reshape(%5, %6) : f32[2]
          return %y
        }
    """)
    assert report["embedding-one-hot"].report == {"rewritten": 1, "float_ids": ["ids"]}
    for i, row in want.items():  # the token id comes in as float32 (exact below 2^24)
        np.testing.assert_array_equal(run(g, {"ids": np.array(i, np.float32)})["y"], row)


def test_embedding_one_hot_picks_int8_rows_exactly():
    """On an int8 table (asymmetric, as quantize-int8 writes one) the one-hot FULLY_CONNECTED with the
    zero-point bias gives the gathered int8 row itself, in TFLite integer arithmetic."""
    text = EMBEDDING.replace("dense<f32[3,2]> [[1.0, -2.0], [0.5, 4.0], [-3.0, 6.0]]} : f32[3,2]",
                             "dense<i8[3,2]> [[-128, 17], [127, -5], [3, 0]]} : i8[3,2] q(scale=0.05, zp=-9)")
    text = text.replace(": f32[2]\n", ": i8[2] q(scale=0.05, zp=-9)\n")
    g = parse_ir(text)
    want = {i: QuantizedInterpreter(parse_ir(text)).run({"ids": np.array(i, np.int32)})["y"] for i in range(3)}
    run_pipeline(g, "embedding-one-hot", verify_each=True)
    assert [n.op for n in g if n.op != "core.const"] == ONE_HOT_OPS + ["tfl.quantize", "tfl.fully_connected", "tfl.reshape"]
    fc = next(n for n in g if n.op == "tfl.fully_connected")
    assert [(v.type.quant.scale[0], v.type.quant.zero_point[0]) for v in fc.inputs] == [
        (pytest.approx(1 / 255), -128), (0.05, 0), (pytest.approx(0.05 / 255), 0)]
    assert fc.inputs[2].const_value().tolist() == [9 * 255, 9 * 255]  # -255 * zero point
    for i, row in want.items():
        np.testing.assert_array_equal(QuantizedInterpreter(g).run({"ids": np.array(i, np.float32)})["y"], row)
        assert row.dtype == np.int8


def test_embedding_one_hot_leaves_ids_read_elsewhere():
    g = parse_ir(EMBEDDING.replace("return %y", "return %y, %ids"))
    run_pipeline(g, "embedding-one-hot", verify_each=True)
    assert [n.op for n in g if n.op != "core.const"] == ["tfl.gather"] and str(g.inputs[0].type) == "i32[]"


WIDE_SOFTMAX = dedent("""
    graph @main(%x: i8[1,600] q(scale=0.05, zp=3)) {
      %y = tfl.softmax(%x) {beta = 1.0} : i8[1,600] q(scale=0.00390625, zp=-128)
      return %y
    }
""")


def test_softmax_int16_text_and_numerics():
    """--target tflm's lowering choice: TFLM's int8 SOFTMAX aborts on flat rows of 512+ classes, its int16 one
    does not; the int16 form gives the same int8 probabilities in TFLite integer arithmetic (within 1 LSB)."""
    g = parse_ir(WIDE_SOFTMAX)
    x = {"x": RNG.integers(-128, 128, (1, 600)).astype(np.int8)}
    before = QuantizedInterpreter(parse_ir(WIDE_SOFTMAX)).run(x)["y"]
    report = run_pipeline(g, "softmax-int16", verify_each=True)
    assert print_ir(g) == dedent("""\
        graph @main(%x: i8[1,600] q(scale=0.05, zp=3)) {
          %"y/int16_in" = tfl.quantize(%x) : i16[1,600] q(scale=0.05, zp=0)
          %"y/int16" = tfl.softmax(%"y/int16_in") {beta = 1.0} : i16[1,600] q(scale=3.0517578125e-05, zp=0)
          %y = tfl.quantize(%"y/int16") : i8[1,600] q(scale=0.00390625, zp=-128)
          return %y
        }
    """)
    assert report["softmax-int16"].report == {"rewritten": 1}
    after = QuantizedInterpreter(g).run(x)["y"]
    assert after.dtype == np.int8 and np.abs(after.astype(int) - before.astype(int)).max() <= 1
    narrow = parse_ir(WIDE_SOFTMAX.replace("600", "511"))
    assert not run_pipeline(narrow, "softmax-int16")["softmax-int16"].report["rewritten"]


def test_dense_rank2_keeps_a_batch_of_one_output():
    """A vector into FULLY_CONNECTED without keep_num_dims already gives [1, N]: only the input is lifted."""
    g = parse_ir(VECTOR_DENSE.replace("keep_num_dims = true", "keep_num_dims = false")
                 .replace('"DEFAULT"} : f32[2]', '"DEFAULT"} : f32[1,2]'))
    x = {"x": RNG.normal(size=(3,)).astype(np.float32)}
    before = run(g, x)["y"]
    run_pipeline(g, "dense-rank2", verify_each=True, check_numerics=True)
    assert [n.op for n in g if n.op != "core.const"] == ["tfl.reshape", "tfl.fully_connected"]
    assert [str(v.type) for v in g.outputs] == ["f32[1,2]"] and g.outputs[0].name == "y"
    np.testing.assert_allclose(run(g, x)["y"], before, rtol=1e-6)
