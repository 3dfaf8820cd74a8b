"""TF ops that random (NNSmith) graphs and Keras models use and TFLite has no builtin for, end to end:
a ``tf.function`` frozen with ``convert_variables_to_constants_v2`` defaults, converted by litesmith's
default pipeline, run in LiteRT and compared with TF's own result."""
from __future__ import annotations

import numpy as np
from tf_litert import assert_close, convert_and_run
from tf_models import freeze_function

RNG = np.random.default_rng(21)


def f32(*shape, lo=-3.0, hi=3.0):
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def test_atan_tan_of_inputs_and_of_constants(tf, litert_interpreter, tmp_path):
    feeds = {"x": f32(3, 5, lo=-20, hi=20), "y": f32(3, 5), "t": f32(3, 5, lo=-1.5, hi=1.5)}
    table = np.linspace(-2, 2, 5, dtype=np.float32)

    def fn(x, y, t):
        return {"atan": tf.math.atan(x), "tan": tf.math.tan(t), "atan2": tf.math.atan2(y, x),
                "consts": x * tf.math.atan(table) + tf.math.tan(table)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)  # outputs in key order: Identity = atan ...
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    tan = "Identity_3"
    assert_close({k: v for k, v in got.items() if k != tan}, {k: v for k, v in want.items() if k != tan}, atol=5e-7, rtol=5e-7)
    assert_close({tan: got[tan]}, {tan: want[tan]}, atol=0, rtol=1e-6)
    # atan(table) and tan(table) folded: one ATAN2 for atan(x), one for atan2(y, x), one SIN/COS pair
    assert ops.count("ATAN2") == 2 and ops.count("SIN") == 1 and ops.count("COS") == 1


def test_tan_near_its_poles_keeps_its_relative_accuracy(tf, litert_interpreter, tmp_path):
    """NNSmith found tan(x) as SIN(x) / COS(x) off by up to 0.1% near a pole (tan(355) = -7497: LiteRT's
    default XNNPACK delegate computes SIN and COS to ~2e-7 absolute). Reduced by k * pi/2 first, tan
    keeps float32's relative accuracy there, and at integers, halfway points and big arguments."""
    near = np.float32(np.pi / 2) + np.float32(np.pi) * np.arange(-5, 6, dtype=np.float32)
    poles = np.concatenate([np.nextafter(near, np.float32(9e9)), np.nextafter(near, -np.float32(9e9)), near])
    feeds = {"x": np.concatenate([poles, np.float32([355, -355, 11, 33, 0, 0.5, -1e-20, 1000.25, 3.1415927, 710])])}
    want = freeze_function(tf, tmp_path / "m.pb", lambda x: tf.math.tan(x), feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=0, rtol=2e-6)
    assert {"SIN", "COS", "ROUND", "SELECT_V2"} <= set(ops)


def test_lrn_composes_from_builtins_as_tf_computes_it(tf, litert_interpreter, tmp_path):
    """LRN is ``x * (bias + alpha * window sum of x^2)^-beta``, the window sum a FULLY_CONNECTED with a
    band matrix as TF's CPU kernel contracts it. LiteRT's LOCAL_RESPONSE_NORMALIZATION (TF's converter's
    1:1 mapping) keeps a running sum that loses small squares next to large ones: on NNSmith s3/0094's
    LRN (radius 7, bias 92, alpha 49, beta 0.88 over tan values up to ~3e3) it was 8% off."""
    rng = np.random.default_rng(3)
    big = np.tan(rng.uniform(-1.57, 1.57, (1, 3, 4, 40))).astype(np.float32)
    feeds = {"x": f32(2, 4, 5, 9), "big": big}

    def fn(x, big):
        return {"default": tf.nn.local_response_normalization(x),
                "set": tf.nn.local_response_normalization(x, depth_radius=2, bias=1.5, alpha=0.3, beta=0.6),
                "wide": tf.nn.local_response_normalization(big, depth_radius=7, bias=92.0, alpha=49.0, beta=0.88)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    small = ("Identity", "Identity_1")  # default, set; Identity_2 is wide
    assert_close({k: got[k] for k in small}, {k: want[k] for k in small}, atol=1e-6)
    # outputs up to ~0.01: LiteRT's builtin is 2.2e-4 off relative (4.8e-7 absolute) on these
    np.testing.assert_allclose(got["Identity_2"], want["Identity_2"], atol=1e-12, rtol=2e-5)
    assert "LOCAL_RESPONSE_NORMALIZATION" not in ops and ops.count("FULLY_CONNECTED") == 3 and ops.count("POW") == 3
    import litesmith
    from litesmith.ir.interpreter import Interpreter

    assert assert_close(Interpreter(litesmith.load(str(tmp_path / "m.pb"))).run(feeds), want, atol=1e-6, rtol=2e-5) < 1e-6


def test_lone_erfc_composes_with_compose_ops_and_folds_over_constants(tf, litert_interpreter, tmp_path):
    """No TFLite builtin computes erfc: compose-ops writes Numerical Recipes' erfcc (documented bound);
    without it the conversion stops and names that rule. erfc of a constant folds either way."""
    from litesmith.backends.tflite.legalize import IllegalOpsError
    import litesmith
    import pytest

    feeds = {"x": np.linspace(-9, 9, 64, dtype=np.float32).reshape(4, 16)}
    table = np.linspace(-2, 2, 16, dtype=np.float32)

    def fn(x):
        return {"erfc": tf.math.erfc(x), "folded": x * tf.math.erfc(table)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    with pytest.raises(IllegalOpsError, match=r"core\.erfc.*compose-ops"):
        litesmith.compile(litesmith.load(str(tmp_path / "m.pb")))
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds, passes="compose-ops")
    assert "EXP" in ops and ops.count("MUL") > 1
    assert_close(got, want, atol=4e-7, rtol=1.2e-5)


def test_band_parts_and_diagonals(tf, litert_interpreter, tmp_path):
    """tril/triu/bands and diagonal matrices of inputs become SELECT_V2 / GATHER / MATRIX_DIAG against
    constant masks; over constants (tf.eye, a tf_keras causal mask built from the input's shape) they fold."""
    feeds = {"x": f32(2, 5, 5), "v": f32(2, 5), "s": f32(1, 6, 6)}

    def fn(x, v, s):
        length = tf.shape(s)[1]
        causal = tf.linalg.band_part(tf.ones((1, length, length), tf.bool), -1, 0)  # tf_keras MultiHeadAttention
        return {"a_tril": tf.linalg.band_part(x, -1, 0), "b_triu": tf.linalg.band_part(x, 0, -1),
                "c_band": tf.linalg.band_part(x, 1, 2), "d_eye": x + tf.eye(5),
                "e_diag": tf.linalg.diag(v), "f_superdiag": tf.linalg.diag(v, k=1),
                "g_causal": tf.nn.softmax(tf.where(causal, s, -1e9))}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=1e-6, rtol=1e-6)
    assert sorted(ops) == sorted(["SELECT_V2"] * 3 + ["ADD", "MATRIX_DIAG", "GATHER", "SELECT_V2",
                                                       "SELECT_V2", "SOFTMAX"])


def test_new_ops_over_constants_fold_to_tf_values(tf):
    """fold-constants evaluates any pure op with a kernel whose inputs are all constants."""
    from litesmith.ir import Builder, Graph
    from litesmith.passes import run_pipeline

    t = np.linspace(-1.4, 1.4, 12, dtype=np.float32).reshape(3, 4)
    i64 = np.int64
    cases = {  # name -> (core op, operands, attrs, TF's value)
        "atan": ("core.atan", [t], {}, tf.raw_ops.Atan(x=t)),
        "tan": ("core.tan", [t], {}, tf.raw_ops.Tan(x=t)),
        "atan2": ("core.atan2", [t, t[::-1]], {}, tf.raw_ops.Atan2(y=t, x=t[::-1])),
        "erfc": ("core.erfc", [t], {}, tf.raw_ops.Erfc(x=t)),
        "band": ("core.matrix_band_part", [t, i64(-1), i64(0)], {},
                 tf.raw_ops.MatrixBandPart(input=t, num_lower=i64(-1), num_upper=i64(0))),
        "diag": ("core.matrix_diag", [t[0], np.int32(1), np.int32(-1), np.int32(-1), np.float32(0)], {},
                 tf.raw_ops.MatrixDiagV3(diagonal=t[0], k=1, num_rows=-1, num_cols=-1, padding_value=np.float32(0))),
        "lrn": ("core.local_response_norm", [t.reshape(1, 1, 3, 4)], {"depth_radius": 1},
                tf.raw_ops.LRN(input=t.reshape(1, 1, 3, 4), depth_radius=1)),
    }
    g = Graph("consts")
    b = Builder(g)
    outs = []
    for name, (op, operands, attrs, _) in cases.items():
        v = b.op(op, [b.const(np.asarray(x)) for x in operands], attrs)
        v.name = name
        outs.append(v)
    g.outputs = outs
    report = run_pipeline(g, "fold-constants", verify_each=True).passes[0].report
    assert {n.op for n in g} == {"core.const"} and len(report["folded"]) == len(cases)
    for v, (name, (_, _, _, want)) in zip(g.outputs, cases.items()):
        np.testing.assert_allclose(v.const_value(), np.asarray(want), rtol=2e-6, atol=1e-7, err_msg=name)


def test_unmapped_op_keeps_tf_recorded_shapes_through_stubbing(tf, tmp_path):
    """A graph saved with TF's ``_output_shapes`` (as_graph_def(add_shapes=True)): an op litesmith does
    not map keeps its recorded static shape as a foreign node and as the custom op stub-custom-ops makes
    of it, so what follows it lowers; the bookkeeping attribute stays out of the custom options."""
    import litesmith
    from flatbuffers import flexbuffers
    from litesmith.backends.tflite import read_tflite
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = tf.function(lambda x: tf.math.lgamma(x) * 2.0).get_concrete_function(tf.TensorSpec([2, 3], name="x"))
    graph_def = convert_variables_to_constants_v2(concrete).graph.as_graph_def(add_shapes=True)
    (tmp_path / "m.pb").write_bytes(graph_def.SerializeToString())
    graph = litesmith.load(str(tmp_path / "m.pb"))
    lgamma = next(n for n in graph if n.op == "tf.Lgamma")
    assert lgamma.output.shape == (2, 3)
    back = read_tflite(litesmith.compile(graph, "stub-custom-ops"))
    custom = next(n for n in back if n.op == "tfl.custom")
    assert custom.attrs["custom_code"] == "Lgamma" and custom.output.shape == (2, 3)
    assert "_output_shapes" not in flexbuffers.Loads(custom.attrs["custom_options"])
    assert [n.op for n in back if n.op != "core.const"] == ["tfl.custom", "tfl.mul"]


def test_int64_slice_indices_saturate_to_int32(tf, litert_interpreter, tmp_path):
    """NNSmith writes "to the end" as end = INT64_MAX (and "from the end" backwards as INT64_MIN); TFLite
    takes int32 indices, and a wrapping cast made -1 of it (a wrong shape the verifier caught)."""
    feeds = {"x": f32(4, 6, 3)}
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min

    def fn(x):
        i64 = lambda *v: tf.constant(v, tf.int64)  # noqa: E731
        return {"a_to_end": tf.strided_slice(x, i64(0, 2, 0), i64(big, big, big), i64(1, 1, 1)),
                "b_reversed": tf.strided_slice(x, i64(big, 0, 1), i64(small, big, big), i64(-1, 2, 1)),
                "c_masks": x[:, tf.constant(2, tf.int64):, :tf.constant(2, tf.int64)],
                "d_slice": tf.slice(x, i64(1, 2, 0), i64(-1, 3, -1))}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=0, rtol=0)
    assert [v.shape for v in got.values()] == [(4, 4, 3), (4, 3, 2), (4, 4, 2), (3, 3, 3)]


def test_error_counts_the_unknown_ops_and_hints_only_passes_that_handle_them(tf, tmp_path, capsys):
    """Two unmapped ops whose result shapes TF did not record (library-default freezing): the message
    names those two, not the 8 nodes after them, and does not send the user to compose-ops."""
    from litesmith.cli import main

    feeds = {"x": f32(2, 8)}

    def fn(x):
        y = tf.math.lgamma(x) + tf.math.digamma(x)
        return tf.nn.softmax(tf.tanh(y * 2.0) + x) * tf.reduce_sum(tf.sin(y))

    freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    assert main(["convert", str(tmp_path / "m.pb"), "-o", str(tmp_path / "m.tflite")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and not (tmp_path / "m.tflite").exists()
    assert "cannot lower 2 node(s) to TFLite (tf.Digamma, tf.Lgamma); 8 node(s) after them" in err, err
    assert "stub-custom-ops" in err and "compose-ops" not in err, err


def test_cast_to_and_from_float64(tf, litert_interpreter, tmp_path):
    """NNSmith's Cast op makes float64 outputs; TFLite's CAST converts float64 both ways (no other builtin
    computes in it), so a cast at the edge lowers."""
    import litesmith
    import pytest
    from litesmith.backends.tflite.legalize import IllegalOpsError

    feeds = {"x": f32(3, 4), "d": RNG.uniform(-3, 3, (3, 4))}

    def fn(x, d):
        return {"to_f64": tf.cast(tf.sigmoid(x), tf.float64), "from_f64": tf.nn.relu(tf.cast(d, tf.float32)) + x}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=1e-7, rtol=1e-6)
    assert ops.count("CAST") == 2

    # float64 arithmetic computes in float32 (demote-float64, tests/test_demote_float64.py), except
    # with constants float32 cannot hold: that stays a clear error
    freeze_function(tf, tmp_path / "m64.pb", lambda d: tf.maximum(d, 1e300), {"d": feeds["d"]})
    with pytest.raises(IllegalOpsError, match=r"core\.maximum.*f64"):
        litesmith.compile(litesmith.load(str(tmp_path / "m64.pb")))


def test_abs_of_int64_is_maximum_of_x_and_its_negation(tf, litert_interpreter, tmp_path):
    """LiteRT's ABS refuses int64 (an NNSmith Cast to int64 then Abs made a file it would not load);
    max(x, -x) is exact, the most negative int64 included (TF's abs wraps there too)."""
    feeds = {"x": f32(3, 4, lo=-50, hi=50), "i": np.array([np.iinfo(np.int64).min, -7, 0, 2**40], np.int64)}

    def fn(x, i):
        return {"a_i64": tf.abs(tf.cast(x, tf.int64)), "b_f32": tf.abs(x), "c_big": tf.abs(i),
                "d_i32": tf.abs(tf.cast(x, tf.int32))}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=0, rtol=0)
    assert ops.count("ABS") == 2 and ops.count("MAXIMUM") == 2 and ops.count("NEG") == 2


def test_integer_matmul_is_mul_and_sum(tf, litert_interpreter, tmp_path):
    """LiteRT's BATCH_MATMUL refuses int32/int64 operands (an NNSmith Cast to int then MatMul made a
    file it would not load; TF's converter refuses the model): MUL of the broadcast operands and SUM
    over K, exact, wrapping on overflow as TF does."""
    big = np.array([[2**62, 3], [1, -(2**40)]], np.int64)
    feeds = {"x": f32(3, 4, lo=-9, hi=9), "y": f32(4, 2, lo=-9, hi=9), "b": f32(2, 3, 4, lo=-9, hi=9),
             "c": f32(4, 5, lo=-9, hi=9), "w": big}

    def fn(x, y, b, c, w):
        i32 = lambda v: tf.cast(v, tf.int32)  # noqa: E731
        return {"mm": tf.matmul(i32(x), i32(y)), "t": tf.matmul(i32(y), i32(x), transpose_a=True, transpose_b=True),
                "batched": tf.matmul(tf.cast(b, tf.int64), tf.cast(c, tf.int64)), "wraps": tf.matmul(w, w)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=0, rtol=0)
    assert "BATCH_MATMUL" not in ops and ops.count("SUM") == 4
    _interpreter_matches(tmp_path / "m.pb", feeds, want)


def test_uint8_and_int8_comparisons_compare_in_int32(tf, litert_interpreter, tmp_path):
    """LiteRT compares 8-bit ints only as quantized tensors and aborted the process on an NNSmith model
    (Greater of two uint8 inputs); TF's converter refuses it. Cast to int32 first is exact."""
    feeds = {"a": np.array([0, 7, 200, 255], np.uint8), "b": np.array([1, 7, 100, 0], np.uint8),
             "c": np.array([-128, 5, 0, 127], np.int8), "d": np.array([127, 5, -1, -128], np.int8)}

    def fn(a, b, c, d):
        return {"gt": tf.greater(a, b), "eq": tf.equal(a, b), "le": tf.less_equal(c, d), "ne": tf.not_equal(c, d)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=0, rtol=0)
    assert ops.count("CAST") == 8


def test_narrow_int_arithmetic_and_sums_wrap_in_int32(tf, litert_interpreter, tmp_path):
    """LiteRT's ADD/SUB/MUL take uint8/int8/int16 only as quantized tensors and aborted the process on
    NNSmith s12/0024 and s13/0105 (a Sub of uint8); its SUM of uint8 gave 0 for a lone 1. In int32 and
    cast back they wrap modulo 2^8 or 2^16 as TF does. TF's converter refuses these graphs."""
    feeds = {"a": np.array([[0, 7, 200, 255], [1, 128, 3, 9]], np.uint8),
             "b": np.array([[1, 7, 100, 255], [2, 2, 250, 0]], np.uint8),
             "c": np.array([[-128, 5, 0, 127], [3, -7, 100, -1]], np.int8),
             "s": np.array([[30000, -32768, 7, 1], [9000, 2, -3, 32767]], np.int16)}

    def fn(a, b, c, s):
        return {"sub": tf.subtract(a, b), "add": tf.add(a, b), "mul": tf.multiply(a, b),
                "isub": tf.subtract(c, c[::-1]), "imul": tf.multiply(c, c),
                "s16": tf.add(s, s) * s, "sum": tf.reduce_sum(a, axis=0), "isum": tf.reduce_sum(c, axis=1),
                "prod": tf.reduce_prod(a, axis=1), "ssum": tf.reduce_sum(s, axis=0)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=0, rtol=0)
    assert "CAST" in ops and "SUM" in ops
    _interpreter_matches(tmp_path / "m.pb", feeds, want)


def test_argmax_and_argmin_of_int64_take_the_first_extremum(tf, litert_interpreter, tmp_path):
    """LiteRT's ARG_MAX/ARG_MIN refuse int64 input (an NNSmith Cast to int64 then ArgMax made a file it
    would not load; TF's converter refuses the model): ARG_MAX of ``x == max(x)`` is exact, ties and
    values beyond int32 included, with int64 or int32 indices."""
    feeds = {"x": f32(3, 4, lo=-3, hi=3), "w": np.array([[2**40, 2**40 + 1, -5], [7, 7, -(2**50)]], np.int64)}

    def fn(x, w):
        i = tf.cast(x, tf.int64)  # small ints: many ties
        s = tf.cast(x * 1000.0, tf.int16)  # NNSmith s12/0152: LiteRT's ARG_MAX refuses int16 too
        return {"amax": tf.argmax(i, axis=1), "amin": tf.argmin(i, axis=0, output_type=tf.int32),
                "big_max": tf.argmax(w, axis=1), "big_min": tf.argmin(w, axis=1),
                "i16_max": tf.argmax(s, axis=1), "i16_min": tf.argmin(s, axis=0)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=0, rtol=0)
    assert ops.count("ARG_MAX") == 5 and ops.count("ARG_MIN") == 1
    _interpreter_matches(tmp_path / "m.pb", feeds, want)


def _interpreter_matches(pb, feeds, want):
    """The reference interpreter on the loaded graph gives TF's values too."""
    import litesmith
    from litesmith.ir.interpreter import Interpreter

    assert_close(Interpreter(litesmith.load(str(pb))).run(feeds), want, atol=0, rtol=0)


def test_prod_of_float16_computes_in_float32(tf, litert_interpreter, tmp_path):
    """LiteRT's REDUCE_PROD has no float16 kernel ("failed to prepare"; an NNSmith model with float16
    inputs, which TF's converter refuses): CAST to float32, REDUCE_PROD, CAST back. The other float16
    ops of that model (MINIMUM, LESS) run as they are."""
    feeds = {"h": np.array([[0.5, -1.5, 2.0], [3.0, 0.25, -4.0]], np.float16), "t": np.array(1.0, np.float16)}

    def fn(h, t):
        p = tf.reduce_prod(h, axis=1)
        return {"prod": p, "all": tf.reduce_prod(h), "less": tf.less(tf.minimum(p, t), t)}

    want = freeze_function(tf, tmp_path / "m.pb", fn, feeds)
    got, ops = convert_and_run(litert_interpreter, tmp_path / "m.pb", feeds)
    assert_close(got, want, atol=0, rtol=0)
    assert ops.count("REDUCE_PROD") == 2 and ops.count("CAST") == 4
    _interpreter_matches(tmp_path / "m.pb", feeds, want)
