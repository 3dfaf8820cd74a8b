"""What production .tflite models hold that litesmith's own never do: custom ops with custom options
(carried byte for byte) and sparse tensors (read densified, DENSIFY dropped). The models are built
here, by TF's converter or with the schema module; LiteRT running the original file is the oracle."""
from __future__ import annotations

import numpy as np
import pytest
import litesmith
from litesmith.backends.tflite import read_tflite, schema_generated as schema, write_tflite
from litesmith.ir import Builder, DType, Graph, TensorType, UserError

RNG = np.random.default_rng(8)


def litert_outputs(litert, blob: bytes, inputs):
    """Outputs of ``blob`` in LiteRT, fed ``inputs`` in input order (TF's converter writes no signature)."""
    it = litert(model_content=blob)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def file_custom_options(blob: bytes):
    model = schema.ModelT.InitFromPackedBuf(blob, 0)
    codes = model.operatorCodes
    return {codes[op.opcodeIndex].customCode.decode(): np.asarray(op.customOptions, np.uint8).tobytes()
            for op in model.subgraphs[0].operators if codes[op.opcodeIndex].customCode}


# -- custom ops with custom options ----------------------------------------------------------------


@pytest.fixture(scope="module")
def audio_model(tf):
    """TF's converter writes AudioSpectrogram and Mfcc as custom ops with flexbuffer options; LiteRT
    ships kernels for both, so the model runs."""

    @tf.function(input_signature=[tf.TensorSpec([400, 1], tf.float32)])
    def features(x):
        s = tf.raw_ops.AudioSpectrogram(input=x, window_size=64, stride=32, magnitude_squared=True)
        return tf.raw_ops.Mfcc(spectrogram=s, sample_rate=16000, dct_coefficient_count=8)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([features.get_concrete_function()], features)
    conv.allow_custom_ops = True
    return conv.convert()


def test_custom_options_round_trip_byte_for_byte(audio_model, litert_interpreter, tmp_path):
    options = file_custom_options(audio_model)
    assert set(options) == {"AudioSpectrogram", "Mfcc"} and all(options.values())
    graph = read_tflite(audio_model)
    assert {n.attrs["custom_code"]: n.attrs["custom_options"] for n in graph if n.op == "tfl.custom"} == options
    again = litesmith.compile(graph)
    assert file_custom_options(again) == options
    x = RNG.normal(size=(400, 1)).astype(np.float32)
    want = litert_outputs(litert_interpreter, audio_model, [x])
    got = litert_outputs(litert_interpreter, again, [x])
    assert len(got) == len(want) and all(np.array_equal(g, w) for g, w in zip(got, want))


def test_cli_convert_of_a_model_with_custom_options(audio_model, tmp_path):
    from litesmith.cli import main

    src, dst = tmp_path / "audio.tflite", tmp_path / "out.tflite"
    src.write_bytes(audio_model)
    assert main(["convert", str(src), "-o", str(dst)]) == 0
    assert file_custom_options(dst.read_bytes()) == file_custom_options(audio_model)


def test_arbitrary_option_bytes_survive_our_writer_and_reader():
    """Options are the custom kernel's own format: zeros, 0xff, not a flexbuffer."""
    g = Graph("m")
    x = g.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    raw = bytes([0, 255, 1, 0, 0, 128, 7]) * 5
    node = Builder(g).create("tfl.custom", [x], {"custom_code": "MyOp", "custom_options": raw},
                             output_types=[TensorType(DType.FLOAT32, (3,))], name="y")
    g.outputs = [node.outputs[0]]
    back = read_tflite(write_tflite(g))
    assert next(n for n in back if n.op == "tfl.custom").attrs["custom_options"] == raw


# -- sparse tensors ----------------------------------------------------------------------------------


def test_sparse_model_from_tf_converter_reads_densified(tf, litert_interpreter):
    """EXPERIMENTAL_SPARSITY stores 80%-zero weights as CSR plus a DENSIFY op (the production error was
    'constant ... holds 77 values for shape [8, 1, 1, 32]')."""
    w = RNG.normal(size=(32, 16)).astype(np.float32)
    w[RNG.random(w.shape) < 0.8] = 0
    k = RNG.normal(size=(3, 3, 4, 8)).astype(np.float32)
    k[RNG.random(k.shape) < 0.8] = 0

    @tf.function(input_signature=[tf.TensorSpec([1, 32], tf.float32), tf.TensorSpec([1, 6, 6, 4], tf.float32)])
    def net(x, img):
        return tf.matmul(x, w), tf.nn.conv2d(img, k, 1, "SAME")

    conv = tf.lite.TFLiteConverter.from_concrete_functions([net.get_concrete_function()], net)
    conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    blob = conv.convert()
    model = schema.ModelT.InitFromPackedBuf(blob, 0)
    assert sum(t.sparsity is not None for t in model.subgraphs[0].tensors) == 2
    graph = read_tflite(blob)
    assert sorted(n.op for n in graph if n.op != "core.const") == ["tfl.conv_2d", "tfl.fully_connected"]
    feeds = [RNG.normal(size=(1, 32)).astype(np.float32), RNG.normal(size=(1, 6, 6, 4)).astype(np.float32)]
    want = litert_outputs(litert_interpreter, blob, feeds)
    got = litert_outputs(litert_interpreter, litesmith.compile(graph), feeds)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))


def _csr(rows_of_blocks):
    """(segments, indices) of a CSR level: for each row, the indices of its non-zero entries."""
    segments, indices = [0], []
    for row in rows_of_blocks:
        indices += list(row)
        segments.append(len(indices))
    return segments, indices


def _dim(fmt, dense_size=0, segments=None, indices=None):
    dm = schema.DimensionMetadataT()
    dm.format, dm.denseSize = fmt, dense_size
    if segments is not None:
        dm.arraySegmentsType = dm.arrayIndicesType = schema.SparseIndexVector.Int32Vector
        dm.arraySegments, dm.arrayIndices = schema.Int32VectorT(), schema.Int32VectorT()
        dm.arraySegments.values, dm.arrayIndices.values = list(segments), list(indices)
    return dm


def _densify_model(shape, stored, order, block_map, dims):
    """A model computing x + DENSIFY(sparse constant): LiteRT's DENSIFY kernel says what the constant is."""
    model = schema.ModelT()
    model.version = 3
    codes = []
    for name in ("DENSIFY", "ADD"):
        oc = schema.OperatorCodeT()
        oc.builtinCode = oc.deprecatedBuiltinCode = getattr(schema.BuiltinOperator, name)
        oc.version = 1
        codes.append(oc)
    model.operatorCodes = codes
    empty, data = schema.BufferT(), schema.BufferT()
    data.data = list(np.asarray(stored, np.float32).tobytes())
    model.buffers = [empty, data]

    def tensor(name, buffer):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), schema.TensorType.FLOAT32, buffer
        return t

    sparse = tensor("w", 1)
    sparse.sparsity = schema.SparsityParametersT()
    sparse.sparsity.traversalOrder, sparse.sparsity.blockMap, sparse.sparsity.dimMetadata = order, block_map, dims
    sub = schema.SubGraphT()
    sub.tensors = [sparse, tensor("dense", 0), tensor("x", 0), tensor("y", 0)]
    sub.inputs, sub.outputs = [2], [3]
    densify, add = schema.OperatorT(), schema.OperatorT()
    densify.opcodeIndex, densify.inputs, densify.outputs = 0, [0], [1]
    add.opcodeIndex, add.inputs, add.outputs = 1, [2, 1], [3]
    add.builtinOptionsType, add.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
    sub.operators = [densify, add]
    model.subgraphs = [sub]
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


SPARSE_CASES = {
    # [4, 8] in 1x4 blocks: rows dense, block columns CSR, each block's 4 values dense
    "blocks_1x4": ((4, 8), [0, 1, 2], [1], lambda: [_dim(0, 4), _dim(1, 0, *_csr([[1], [], [0, 1], [0]])), _dim(0, 4)], 16),
    # [3, 5] column-major: columns dense, rows CSR
    "column_major": ((3, 5), [1, 0], [], lambda: [_dim(0, 5), _dim(1, 0, *_csr([[0, 2], [], [1], [0, 1, 2], [2]]))], 7),
    # [2, 6] in 2x3 blocks, both block levels dense under a CSR row of blocks
    "blocks_2x3": ((2, 6), [0, 1, 2, 3], [0, 1],
                   lambda: [_dim(0, 1), _dim(1, 0, *_csr([[1]])), _dim(0, 2), _dim(0, 3)], 6),
}


@pytest.mark.parametrize("case", sorted(SPARSE_CASES))
def test_sparse_formats_densify_as_litert_does(case, litert_interpreter):
    shape, order, block_map, dims, count = SPARSE_CASES[case]
    stored = RNG.normal(size=count).astype(np.float32)
    blob = _densify_model(shape, stored, order, block_map, dims())
    x = RNG.normal(size=shape).astype(np.float32)
    (want,) = litert_outputs(litert_interpreter, blob, [x])
    graph = read_tflite(blob)
    assert [n.op for n in graph if n.op != "core.const"] == ["tfl.add"]
    dense = next(n for n in graph if n.op == "core.const").attrs["value"]
    np.testing.assert_allclose(dense, want - x, atol=1e-6)
    assert np.count_nonzero(dense) == count
    (got,) = litert_outputs(litert_interpreter, litesmith.compile(graph), [x])
    np.testing.assert_array_equal(got, want)


def test_malformed_sparsity_is_a_user_error():
    bad = [_dim(0, 4), _dim(1, 0, [0, 1, 9, 9, 9], [1]), _dim(0, 4)]  # segments past the indices
    blob = _densify_model((4, 8), np.ones(4, np.float32), [0, 1, 2], [1], bad)
    with pytest.raises(UserError, match="malformed segments"):
        read_tflite(blob)
    blob = _densify_model((4, 8), np.ones(5, np.float32), [0, 1, 2], [1],
                          [_dim(0, 4), _dim(1, 0, *_csr([[1], [], [], []])), _dim(0, 4)])
    with pytest.raises(UserError, match="describes 4 values, the buffer holds 5"):
        read_tflite(blob)
