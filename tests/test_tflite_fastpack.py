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
    return [small_model(), small_model(seed=1), g]


@pytest.mark.parametrize("graph", _graphs(), ids=["fc", "fc-seed1", "quantized-dynamic"])
def test_writer_output_equals_the_object_api(graph, monkeypatch):
    fast = writer.write_tflite(graph)
    monkeypatch.setattr(writer, "FastBuilder", flatbuffers.Builder)
    monkeypatch.setattr(writer, "pack_model", lambda b, m: m.Pack(b))
    assert writer.write_tflite(graph) == fast
