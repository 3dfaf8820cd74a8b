"""16x8 quantization (``--quantize int16x8``): int16 activations, int8 weights, int64 biases.

Two oracles, both TF's:
- **Op versions**: TF's converter with the 16x8 op set
  (``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`` and a representative dataset)
  converts the graphs of test_op_versions.py; every op both files hold with the same tensor types
  must carry the same version.
- **Outputs within the int16 grid**: the 16x8 file's error against TF's float model has two parts,
  the int8 weights and the int16 activations. TF runs the float graph with the weights the file
  holds (each TF constant replaced by the file's dequantized int8 weights / int16 table); against
  that reference only activation rounding is left, and it is bounded from the file's scales alone:
  each int16 tensor adds at most one step of its own grid (rounding, and LiteRT's fixed-point
  requantization, within 1 LSB), and each op carries its inputs' bounds forward by its Lipschitz
  constant (FC/conv: |W| times the input bound; LOGISTIC 1/4; TANH 1; MUL |a| e_b + |b| e_a + e_a e_b with
  |a| at most its tensor's int16 range; SOFTMAX p (e^{2E} - 1)). The bound is computed per output
  channel; LiteRT's outputs must lie within it on inputs inside the calibrated ranges.
"""
from __future__ import annotations

import numpy as np
import pytest

import litesmith
from litesmith.backends.tflite import schema_generated as schema

from tf_models import freeze_function, load_graphdef
from test_op_versions import MODELS, comparable_versions, op_signatures, _sample

BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
CALIBRATION_SAMPLES = 16


# -- op versions against TF's 16x8 converter ------------------------------------------------------------


@pytest.fixture(scope="module")
def converted_16x8(tf, tmp_path_factory):
    """{model: (TF's 16x8 flatbuffer, litesmith's 16x8 flatbuffer)} for test_op_versions' graphs."""
    out_dir = tmp_path_factory.mktemp("versions_16x8")
    result = {}
    for name, build in MODELS.items():
        rng = np.random.default_rng(0)
        graph = tf.Graph()
        with graph.as_default():
            placeholders, outputs = build(tf, lambda *s, rng=rng: tf.constant(rng.normal(0, 0.3, s).astype(np.float32)))
        pb = str(out_dir / f"{name}.pb")
        with open(pb, "wb") as f:
            f.write(graph.as_graph_def().SerializeToString())
        inputs = [(p.op.name, p.dtype.as_numpy_dtype, tuple(p.shape.as_list())) for p in placeholders]
        names = [n for n, _, _ in inputs]
        samples = [[_sample(rng, d, s) for _, d, s in inputs] for _ in range(8)]
        conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
            pb, names, [t.op.name for t in outputs], input_shapes={n: list(s) for n, _, s in inputs})
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda samples=samples: iter(samples)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        calibration = {n: np.stack([s[i] for s in samples]) for i, n in enumerate(names)}
        ours = litesmith.compile(litesmith.load(pb), quantize="int16x8", calibration=calibration, progress=False)
        result[name] = (conv.convert(), ours)
    return result


MUST_COMPARE = {"QUANTIZE", "DEQUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D",
                "AVERAGE_POOL_2D", "PAD", "SPLIT", "SPLIT_V", "LOGISTIC", "TANH", "MUL", "ADD", "SUB",
                "CONCATENATION", "TRANSPOSE", "MEAN", "SOFTMAX", "GATHER", "SLICE", "STRIDED_SLICE", "RESHAPE",
                "SPACE_TO_BATCH_ND"}


def test_16x8_versions_match_tf_converter(converted_16x8, litert_interpreter):
    compared, mismatches = set(), []
    for name, (theirs, ours) in sorted(converted_16x8.items()):
        for builtin, (want, got) in comparable_versions(op_signatures(theirs), op_signatures(ours)).items():
            compared.add(builtin)
            if got != {want}:
                mismatches.append(f"{name}: {builtin} TF {want}, litesmith {sorted(got)}")
        litert_interpreter(model_content=ours).allocate_tensors()
    assert not mismatches, "\n".join(mismatches)
    assert MUST_COMPARE <= compared, MUST_COMPARE - compared


def test_16x8_tensor_types_are_tfs(converted_16x8):
    """int16 activations with zero point 0, int8 per-channel weights, int64 biases: the signatures of
    litesmith's weighted ops are the ones TF's converter writes."""
    for name, (theirs, ours) in converted_16x8.items():
        for rows in (op_signatures(theirs), op_signatures(ours)):
            weighted = {sig for b, sig, _ in rows if b in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
            for inputs, outputs in weighted:
                assert inputs[0][0] == "i16" and inputs[1][0] == "i8" and outputs == ("i16",), (name, inputs)
                assert len(inputs) < 3 or inputs[2] is None or inputs[2][0] == "i64", (name, inputs)
        model = schema.ModelT.InitFromPackedBuf(ours, 0)
        for t in model.subgraphs[0].tensors:
            if t.type == schema.TensorType.INT16:
                assert t.quantization is not None and not np.any(t.quantization.zeroPoint), (name, t.name)


# -- the bound from the file's scales ---------------------------------------------------------------------


class FileModel:
    """A .tflite read with the schema's object API: tensors' scales, constant arrays, operators."""

    def __init__(self, blob: bytes):
        self.model = schema.ModelT.InitFromPackedBuf(blob, 0)
        self.sub = self.model.subgraphs[0]

    def tensor(self, i):
        return self.sub.tensors[i]

    def scale(self, i) -> np.ndarray:
        q = self.tensor(i).quantization
        return np.asarray(q.scale, np.float64) if q is not None and q.scale is not None else None

    def array(self, i) -> np.ndarray:
        t = self.tensor(i)
        data = self.model.buffers[t.buffer].data
        if data is None or len(data) == 0:
            return None
        dtype = {schema.TensorType.INT8: np.int8, schema.TensorType.INT16: np.int16, schema.TensorType.INT32: np.int32,
                 schema.TensorType.INT64: np.int64, schema.TensorType.FLOAT32: np.float32}[t.type]
        return np.frombuffer(bytes(bytearray(data)), dtype).reshape(t.shape)

    def dequantized(self, i) -> np.ndarray:
        """A constant's real values; per-channel scales along the tensor's quantized dimension."""
        q, arr = self.tensor(i).quantization, self.array(i).astype(np.float64)
        scale = np.asarray(q.scale, np.float64)
        if scale.size > 1:
            shape = [1] * arr.ndim
            shape[q.quantizedDimension] = scale.size
            scale = scale.reshape(shape)
        return arr * scale

    def ops(self):
        for op in self.sub.operators:
            code = self.model.operatorCodes[op.opcodeIndex]
            yield BUILTIN_NAMES[max(code.builtinCode, code.deprecatedBuiltinCode)], op

    def name(self, i) -> str:
        return self.tensor(i).name.decode()


def activation_error_bounds(fm: FileModel):
    """({tensor index: per-channel bound (last axis) of |int16 value - float value|}, {softmax output: (relative
    factor, step)}), walking the ops in order.
    Inputs of the model are float: the QUANTIZE after them adds one step."""
    err, relative = {}, {}

    def step(i):
        return float(fm.scale(i)[0])

    def e(i):
        if i in err:
            return err[i]
        if fm.array(i) is not None and fm.scale(i) is not None:  # a quantized constant (table, ADD operand)
            return np.full(fm.tensor(i).shape[-1] if fm.tensor(i).shape.size else 1, 0.5 * step(i))
        return np.zeros(fm.tensor(i).shape[-1] if fm.tensor(i).shape.size else 1)  # float model input

    def magnitude(i):  # the largest |value| an int16 tensor can hold
        return 32767.0 * step(i)

    for builtin, op in fm.ops():
        ins, outs = list(op.inputs), list(op.outputs)
        if builtin == "QUANTIZE":
            err[outs[0]] = e(ins[0]) + step(outs[0])  # rounding (float input) or requantizing (int16 input)
        elif builtin == "DEQUANTIZE":
            err[outs[0]] = e(ins[0])
            if ins[0] in relative:
                relative[outs[0]] = relative[ins[0]]
        elif builtin == "FULLY_CONNECTED":
            w = np.abs(fm.dequantized(ins[1]))  # [out, in]
            err[outs[0]] = w @ np.resize(e(ins[0]), w.shape[1]) + step(outs[0])
        elif builtin == "CONV_2D":
            w = np.abs(fm.dequantized(ins[1]))  # [out, h, w, in]
            err[outs[0]] = np.einsum("ohwi,i->o", w, np.resize(e(ins[0]), w.shape[3])) + step(outs[0])
        elif builtin == "DEPTHWISE_CONV_2D":
            w = np.abs(fm.dequantized(ins[1]))[0]  # [h, w, channels]
            err[outs[0]] = w.sum((0, 1)) * np.resize(e(ins[0]), w.shape[2]) + step(outs[0])
        elif builtin in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN"):
            err[outs[0]] = e(ins[0]) + step(outs[0])
        elif builtin in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE"):
            same_last = fm.tensor(ins[0]).shape[-1] == fm.tensor(outs[0]).shape[-1] and builtin != "TRANSPOSE"
            err[outs[0]] = e(ins[0]) if same_last else np.full(fm.tensor(outs[0]).shape[-1], e(ins[0]).max())
        elif builtin == "LOGISTIC":
            err[outs[0]] = 0.25 * e(ins[0]) + step(outs[0])
        elif builtin == "TANH":
            err[outs[0]] = e(ins[0]) + step(outs[0])
        elif builtin in ("ADD", "SUB"):
            err[outs[0]] = e(ins[0]) + e(ins[1]) + step(outs[0])
        elif builtin == "MUL":
            ea, eb = e(ins[0]), e(ins[1])
            err[outs[0]] = magnitude(ins[0]) * eb + magnitude(ins[1]) * ea + ea * eb + step(outs[0])
        elif builtin == "SPLIT":
            parts = np.split(e(ins[1]), len(outs)) if int(fm.array(ins[0])) % len(fm.tensor(ins[1]).shape) == \
                len(fm.tensor(ins[1]).shape) - 1 else [e(ins[1])] * len(outs)
            for o, part in zip(outs, parts):
                err[o] = part
        elif builtin == "CONCATENATION":
            err[outs[0]] = np.concatenate([e(i) for i in ins]) if fm.tensor(outs[0]).shape[-1] == sum(
                fm.tensor(i).shape[-1] for i in ins) else np.full(fm.tensor(outs[0]).shape[-1], max(e(i).max() for i in ins))
        elif builtin == "GATHER":
            err[outs[0]] = e(ins[0])
        elif builtin == "SOFTMAX":  # relative: |p' - p| <= p (e^{2E} - 1) plus the output's step (see bound_of)
            worst = float(e(ins[0]).max())
            err[outs[0]] = np.full(fm.tensor(outs[0]).shape[-1], 32767.0)  # a later op would need |p - p'| <= 1
            relative[outs[0]] = (np.expm1(2 * worst), step(outs[0]))
        else:
            raise AssertionError(f"no error rule for {builtin}")
    return err, relative


def bound_of(bounds, i, reference):
    """The bound on output tensor ``i`` for one sample: softmax outputs scale with the reference p."""
    err, relative = bounds
    if i in relative:
        factor, step = relative[i]
        return np.asarray(reference, np.float64) * factor + step
    return err[i]


def with_file_weights(tf, pb_path, fm: FileModel, out_path):
    """The frozen graph with every float constant that the file holds quantized (int8 weights, int16
    tables) replaced by the file's dequantized values; matched by values, allowing the layouts the
    converter changes (FC [out, in] vs MatMul [in, out], conv OHWI vs HWIO, depthwise [1, h, w, c])."""
    graph_def = load_graphdef(tf, pb_path)
    consts = {n.name: tf.make_ndarray(n.attr["value"].tensor) for n in graph_def.node if n.op == "Const"}
    replaced = {}
    for _, op in fm.ops():
        for i in op.inputs:
            if i < 0 or fm.array(i) is None or fm.scale(i) is None or fm.tensor(i).type not in (
                    schema.TensorType.INT8, schema.TensorType.INT16):
                continue
            q = fm.dequantized(i)
            step = float(np.max(fm.scale(i)))
            for name, value in consts.items():
                if value.dtype != np.float32 or value.size != q.size or name in replaced:
                    continue
                for layout in _layouts(value, q.shape):
                    back, forward = layout
                    if np.max(np.abs(forward - q)) <= 2 * step:  # the same tensor, rounded
                        replaced[name] = back(q).astype(np.float32)
                        break
    for node in graph_def.node:
        if node.name in replaced:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(replaced[node.name]))
    with open(out_path, "wb") as f:
        f.write(graph_def.SerializeToString())
    return sorted(replaced)


def _layouts(value, shape):
    """(file -> TF layout, TF value in the file's layout) for the layouts the converter uses."""
    if value.shape == tuple(shape):
        yield (lambda q: q), value
    if value.ndim == 2 and value.T.shape == tuple(shape):
        yield (lambda q: q.T), value.T
    if value.ndim == 4 and np.transpose(value, (3, 0, 1, 2)).shape == tuple(shape):  # HWIO -> OHWI
        yield (lambda q: np.transpose(q, (1, 2, 3, 0))), np.transpose(value, (3, 0, 1, 2))
    if value.ndim == 4 and len(shape) == 4 and shape[0] == 1 and value.shape[:2] == tuple(shape[1:3]):  # depthwise
        yield (lambda q, s=value.shape: q.reshape(s)), value.reshape(shape)


def run_tf(tf, pb_path, samples, outputs):
    """TF's results for each feed dict of ``samples``, one session: [{output: array}]."""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(load_graphdef(tf, pb_path), name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        return [dict(zip(outputs, sess.run([o + ":0" for o in outputs], {k + ":0": v for k, v in feeds.items()})))
                for feeds in samples]


def check_within_grid(tf, litert, pb_path, calibration, outputs, tmp_path, expect_replaced):
    """Convert to 16x8, run every calibration sample in LiteRT, and check each output against TF's
    float graph with the file's weights, within the bound from the file's scales. Returns
    (worst error / bound, worst error vs TF's own float model, mean bound) per output."""
    blob = litesmith.compile(litesmith.load(str(pb_path)), quantize="int16x8", calibration=calibration, progress=False)
    fm = FileModel(blob)
    replaced = with_file_weights(tf, pb_path, fm, tmp_path / "file_weights.pb")
    assert len(replaced) >= expect_replaced, replaced
    bounds = activation_error_bounds(fm)
    output_tensors = {fm.name(i): i for i in fm.sub.outputs}
    runner = litert(model_content=blob).get_signature_runner("serving_default")
    count = len(next(iter(calibration.values())))
    samples = [{n: a[k] for n, a in calibration.items()} for k in range(count)]
    refs = run_tf(tf, tmp_path / "file_weights.pb", samples, outputs)
    exacts = run_tf(tf, pb_path, samples, outputs)
    summary = {}
    for out in outputs:
        ratio = float_err = bound_sum = 0.0
        for k, feeds in enumerate(samples):
            bound = bound_of(bounds, output_tensors[out], refs[k][out])
            bound_sum += float(bound.mean()) / count
            got = runner(**feeds)[out]
            err = np.abs(got.astype(np.float64) - refs[k][out])
            assert np.all(err <= bound), (out, k, float(err.max()), float(bound.max()))
            ratio = max(ratio, float(np.max(err / bound)))
            float_err = max(float_err, float(np.max(np.abs(got - exacts[k][out]))))
        summary[out] = (ratio, float_err, bound_sum)
    print("16x8 vs the int16 grid (max error / bound, max error vs float, mean bound):", summary)
    return summary


# -- the three models -------------------------------------------------------------------------------------


def _keras_weights(layer, rng):
    """Random non-zero weights and biases (Keras initializes biases to zero)."""
    layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()])


def test_mlp_16x8_within_the_int16_grid(tf, litert_interpreter, tmp_path):
    rng = np.random.default_rng(3)
    layers = [tf.keras.layers.Dense(32, activation="relu"), tf.keras.layers.Dense(24, activation="tanh"),
              tf.keras.layers.Dense(10)]
    x = rng.normal(0, 1, (CALIBRATION_SAMPLES, 1, 16)).astype(np.float32)
    h = x[0]
    for layer in layers:
        h = layer(h)
        _keras_weights(layer, rng)

    def mlp(x):
        for layer in layers:
            x = layer(x)
        return x

    pb = tmp_path / "mlp.pb"
    (out,) = freeze_function(tf, str(pb), mlp, {"x": x[0]})
    summary = check_within_grid(tf, litert_interpreter, pb, {"x": x}, [out], tmp_path, expect_replaced=3)
    ratio, float_err, bound = summary[out]
    assert 0 < ratio <= 1 and bound < 0.05, summary


def test_cnn_16x8_within_the_int16_grid(tf, litert_interpreter, tmp_path):
    rng = np.random.default_rng(4)
    layers = [tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu6"),
              tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
              tf.keras.layers.AveragePooling2D(2), tf.keras.layers.Flatten(), tf.keras.layers.Dense(10)]
    x = rng.uniform(0, 1, (CALIBRATION_SAMPLES, 1, 8, 8, 3)).astype(np.float32)
    h = x[0]
    for layer in layers:
        h = layer(h)
        if layer.get_weights():
            _keras_weights(layer, rng)

    def cnn(x):
        for layer in layers:
            x = layer(x)
        return x

    pb = tmp_path / "cnn.pb"
    (out,) = freeze_function(tf, str(pb), cnn, {"x": x[0]})
    summary = check_within_grid(tf, litert_interpreter, pb, {"x": x}, [out], tmp_path, expect_replaced=3)
    ratio, float_err, bound = summary[out]
    assert 0 < ratio <= 1 and bound < 0.05, summary


def test_lstm_step_16x8_within_the_int16_grid(tf, litert_interpreter, seed_lm_step, tmp_path):
    """The seed's single-step LSTM LM (2 x LSTM 32, vocabulary 50): probabilities and new states."""
    m = seed_lm_step.meta
    rng = np.random.default_rng(5)
    calibration = {m["ids_name"]: rng.integers(0, 50, (CALIBRATION_SAMPLES, 1)).astype(np.int32)}
    for c, h in m["state_names"]:
        for name in (c, h):
            calibration[name] = rng.normal(0, 0.5, (CALIBRATION_SAMPLES,) + seed_lm_step.inputs[name].shape).astype(np.float32)
    outputs = [m["probs_name"]] + [n for pair in m["new_state_names"] for n in pair]
    summary = check_within_grid(tf, litert_interpreter, seed_lm_step.pb_path, calibration, outputs, tmp_path,
                                expect_replaced=4)
    for out, (ratio, float_err, bound) in summary.items():
        assert 0 <= ratio <= 1, summary
