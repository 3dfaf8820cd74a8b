"""The writer's fast packer writes exactly the object API's bytes (backends/tflite/fastpack.py)."""
from __future__ import annotations

import flatbuffers
import numpy as np
import pytest

from litesmith.backends.tflite import schema_generated as schema
from litesmith.backends.tflite import writer
from litesmith.backends.tflite.fastpack import FastBuilder, pack_model
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph
from litesmith.ir.types import QuantParams, TensorType

from test_tflite_writer import small_model


def _tensor(name, **fields):
    t = schema.TensorT()
    t.name = name
    for k, v in fields.items():
        setattr(t, k, v)
    return t


def _every_field_model():
    """A ModelT that sets every field the fast packer writes itself, in both of their forms
    (lists and numpy arrays), plus objects it hands to the object API."""
    q = schema.QuantizationParametersT()
    q.scale, q.zeroPoint, q.quantizedDimension = np.array([0.5, 0.25], np.float32), np.array([0, 1], np.int64), 1
    variant = schema.VariantSubTypeT()
    variant.shape, variant.type = [2], schema.TensorType.INT32
    tensors = [
        _tensor("a", shape=[1, 3], type=schema.TensorType.INT8, buffer=1, quantization=q, isVariable=True,
                shapeSignature=[-1, 3], hasRank=True, externalBuffer=2),
        _tensor("b", shape=np.array([4], np.int32)),
        _tensor("c/d:0", shape=[], variantTensors=[variant]),
        _tensor("", shape=None),
    ]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 1, [0, -1, 1], [2]
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
    op.builtinOptions.fusedActivationFunction = schema.ActivationFunctionType.RELU6
    op.customOptions, op.customOptionsFormat = [1, 2, 3], schema.CustomOptionsFormat.FLEXBUFFERS
    op.mutatingVariableInputs, op.intermediates = [True, False, True], np.array([3], np.int32)
    op.largeCustomOptionsOffset, op.largeCustomOptionsSize, op.debugMetadataIndex = 1 << 40, 7, 3
    op2 = schema.OperatorT()
    op2.inputs, op2.outputs, op2.customOptions = np.array([2], np.int32), [3], b"\x05\x06"
    sub = schema.SubGraphT()
    sub.tensors, sub.operators, sub.inputs, sub.outputs, sub.name = tensors, [op, op2], [0, 1], [3], "main"
    sub.debugMetadataIndex = 0
    empty = schema.SubGraphT()
    model = schema.ModelT()
    model.version, model.description, model.subgraphs = 3, "test", [sub, empty]
    codes = []
    for code in (schema.BuiltinOperator.ADD, schema.BuiltinOperator.CUSTOM):
        oc = schema.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 2
        codes.append(oc)
    codes[1].customCode = "MyOp"
    model.operatorCodes = codes
    buffers = [schema.BufferT(), schema.BufferT(), schema.BufferT()]
    buffers[1].data = np.arange(5, dtype=np.uint8)
    buffers[2].data = [9, 8, 7]
    model.buffers = buffers
    model.metadataBuffer = [1, 2]
    entry = schema.MetadataT()
    entry.name, entry.buffer = "min_runtime_version", 2
    model.metadata = [entry]
    sig = schema.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = "serving_default", 0
    model.signatureDefs = [sig]
    return model


def _stock(model) -> bytes:
    b = flatbuffers.Builder(16)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.mark.parametrize("initial_size", [16, 1 << 16])  # a tiny start makes every primitive grow the buffer
def test_fast_builder_and_packer_write_the_object_api_bytes(initial_size):
    model = _every_field_model()
    expected = _stock(model)
    for pack in (lambda b, m: m.Pack(b), pack_model):
        b = FastBuilder(initial_size)
        b.Finish(pack(b, model), file_identifier=b"TFL3")
        assert bytes(b.Output()) == expected
    read = schema.ModelT.InitFromPackedBuf(expected, 0)
    assert read.subgraphs[0].operators[0].largeCustomOptionsOffset == 1 << 40  # the model is what it says


def _graphs():
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (None, 3)), "x")
    q = TensorType(DType.INT8, (None, 3), QuantParams((0.5,), (3,)))
    y = Builder(g).op("tfl.quantize", [x], output_types=[q])
    y.name = "y"
    g.outputs = [y]
    return [small_model(), small_model(seed=1), g, _while_graph()]


def _while_graph():
    """A tfl.while whose body holds another: subgraph indices reserved while packing their parents."""
    def loop(builder, x, depth):
        cond, body = Graph(f"cond{depth}"), Graph(f"body{depth}")
        for r in (cond, body):
            r.add_input(TensorType(DType.INT32, ()), "i")
            r.add_input(TensorType(DType.FLOAT32, (3,)), "x")
        cb, bb = Builder(cond), Builder(body)
        cond.outputs = [cb.op("tfl.less", [cond.inputs[0], cb.const(np.int32(3))])]
        h = bb.op("tfl.tanh", [bb.op("tfl.mul", [body.inputs[1], bb.const(np.float32(2.0))])])
        body.outputs = [bb.op("tfl.add", [body.inputs[0], bb.const(np.int32(1))]),
                        loop(bb, h, depth + 1) if depth == 0 else h]
        return builder.op("tfl.while", [builder.const(np.int32(0)), x], regions=[cond, body])[1]

    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    y = loop(Builder(g), x, 0)
    y.name = "y"
    g.outputs = [y]
    return g


class _AlignedBufferT(schema.BufferT):
    """The writer's buffer layout in the object API: data on a 16-byte boundary of the file (the
    generated ``Pack`` ignores the schema's ``force_align``)."""

    def Pack(self, builder):
        data = None
        if self.data is not None:
            raw = bytes(memoryview(self.data))
            builder.StartVector(1, len(raw), writer.BUFFER_ALIGNMENT)
            builder.head -= len(raw)
            builder.Bytes[builder.head : builder.head + len(raw)] = raw
            builder.vectorNumElems = len(raw)
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        return schema.BufferEnd(builder)


def object_api_bytes(blob: bytes) -> bytes:
    """``blob`` read into the object API (``ModelT``) and packed again by the stock builder."""
    model = schema.ModelT.InitFromPackedBuf(blob, 0)
    for i, buf in enumerate(model.buffers):
        aligned = _AlignedBufferT()
        aligned.data = None if buf.data is None or isinstance(buf.data, int) else buf.data
        model.buffers[i] = aligned
    return _stock(model)


@pytest.mark.parametrize("graph", _graphs(), ids=["fc", "fc-seed1", "quantized-dynamic", "nested-while"])
def test_writer_output_equals_the_object_api(graph):
    """The writer packs straight from the IR; the object API packs the same model to the same bytes."""
    blob = writer.write_tflite(graph)
    assert object_api_bytes(blob) == blob
