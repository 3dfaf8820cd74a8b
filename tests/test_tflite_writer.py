"""Writer invariants: alignment, buffer 0, dedupe, determinism, opcodes, signature, metadata, errors."""
from __future__ import annotations

import numpy as np
import pytest

from litesmith.backends.tflite import schema_generated as schema
from litesmith.backends.tflite.writer import write_tflite
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph
from litesmith.ir.interpreter import run
from litesmith.ir.types import TensorType


def small_model(seed=0):
    """x -> fully_connected(W, b) -> gelu -> add(same constant as b, shared) ; named tensors."""
    rng = np.random.default_rng(seed)
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (2, 3)), "x")
    b = Builder(g)
    w = b.const(rng.standard_normal((4, 3)).astype(np.float32), name="dense/kernel")
    bias_data = rng.standard_normal(4).astype(np.float32)
    bias = b.const(bias_data, name="dense/bias")
    y = b.op("tfl.fully_connected", [x, w, bias], name="dense/out")
    y = b.op("tfl.gelu", [y], name="gelu")
    other = b.const(bias_data.copy(), name="offset")  # same bytes as the bias: one buffer
    y = b.op("tfl.add", [y, other], name="y")
    g.outputs = [y]
    return g


@pytest.fixture(scope="module")
def model_bytes():
    return write_tflite(small_model())


def unpack(data):
    return schema.ModelT.InitFromPackedBuf(data, 0)


def test_runs_in_litert_and_matches(model_bytes, litert_interpreter):
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    out = litert_interpreter(model_content=model_bytes).get_signature_runner("serving_default")(x=x)
    np.testing.assert_allclose(out["y"], run(small_model(), {"x": x})["y"], rtol=1e-5, atol=1e-5)


def test_file_identifier_and_version(model_bytes):
    assert model_bytes[4:8] == b"TFL3"
    m = unpack(model_bytes)
    assert m.version == 3
    assert m.description == b"litesmith"


def test_buffer_zero_is_empty_and_constants_dedupe(model_bytes):
    m = unpack(model_bytes)
    assert m.buffers[0].data is None or len(m.buffers[0].data) == 0
    tensors = {t.name.decode(): t for t in m.subgraphs[0].tensors}
    assert tensors["dense/bias"].buffer == tensors["offset"].buffer != 0
    assert tensors["dense/kernel"].buffer not in (0, tensors["dense/bias"].buffer)
    # non-constant tensors point at the empty buffer
    assert tensors["x"].buffer == 0 and tensors["y"].buffer == 0
    data_buffers = [b for b in m.buffers if b.data is not None and len(b.data)]
    assert len(data_buffers) == 2 + 1  # kernel, shared bias, min_runtime_version metadata


def test_buffer_data_is_16_byte_aligned(model_bytes):
    model = schema.Model.GetRootAs(model_bytes, 0)
    starts = []
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        field = buf._tab.Offset(4)  # Buffer.data
        if field and buf.DataLength():
            starts.append(buf._tab.Vector(field))
    assert len(starts) >= 3
    assert all(s % 16 == 0 for s in starts), starts


def test_constant_bytes_are_the_arrays(model_bytes):
    m = unpack(model_bytes)
    g = small_model()
    want = {n.outputs[0].name: n.attrs["value"] for n in g if n.op == "core.const"}
    for t in m.subgraphs[0].tensors:
        name = t.name.decode()
        if name in want:
            got = np.frombuffer(np.asarray(m.buffers[t.buffer].data, np.uint8).tobytes(), np.float32)
            np.testing.assert_array_equal(got.reshape(want[name].shape), want[name])


def test_deterministic():
    assert write_tflite(small_model()) == write_tflite(small_model())


def test_opcodes_builtin_and_deprecated_codes(model_bytes):
    m = unpack(model_bytes)
    codes = {(oc.builtinCode, oc.deprecatedBuiltinCode, oc.version) for oc in m.operatorCodes}
    B = schema.BuiltinOperator
    assert (B.FULLY_CONNECTED, B.FULLY_CONNECTED, 1) in codes
    assert (B.GELU, 127, 1) in codes  # codes above 127 keep the placeholder in the old field
    assert (B.ADD, B.ADD, 1) in codes
    assert len(codes) == len(m.operatorCodes) == 3


def test_signature_and_tensor_names(model_bytes):
    m = unpack(model_bytes)
    (sig,) = m.signatureDefs
    assert sig.signatureKey == b"serving_default" and sig.subgraphIndex == 0
    sub = m.subgraphs[0]
    assert [(t.name, t.tensorIndex) for t in sig.inputs] == [(b"x", sub.inputs[0])]
    assert [(t.name, t.tensorIndex) for t in sig.outputs] == [(b"y", sub.outputs[0])]
    names = {t.name.decode() for t in sub.tensors}
    assert {"x", "dense/kernel", "dense/bias", "dense/out", "gelu", "y"} <= names


def test_metadata_from_graph_meta_and_argument():
    g = small_model()
    g.meta["litesmith.state"] = b'{"pairs": [["h_in", "h_out"]]}'
    g.meta["not bytes"] = {"ignored": True}
    m = unpack(write_tflite(g, metadata={"extra": b"\x00\x01"}))
    meta = {e.name.decode(): np.asarray(m.buffers[e.buffer].data, np.uint8).tobytes() for e in m.metadata}
    assert meta["litesmith.state"] == b'{"pairs": [["h_in", "h_out"]]}'
    assert meta["extra"] == b"\x00\x01"
    assert meta["min_runtime_version"].startswith(b"1.")
    assert "not bytes" not in meta


def test_dynamic_dims_get_shape_signature(litert_interpreter):
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (None, 3)), "x")
    y = Builder(g).op("tfl.relu", [x])
    y.name = "y"
    g.outputs = [y]
    data = write_tflite(g)
    t = unpack(data).subgraphs[0].tensors[0]
    assert list(t.shape) == [1, 3] and list(t.shapeSignature) == [-1, 3]
    runner = litert_interpreter(model_content=data).get_signature_runner()
    x = -np.arange(12, dtype=np.float32).reshape(4, 3) + 5
    np.testing.assert_array_equal(runner(x=x)["y"], np.maximum(x, 0))


def test_custom_op_code_and_options():
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    y = Builder(g).op("tfl.custom", [x], {"custom_code": "MyOp", "custom_options": b"\x01\x02"},
                      output_types=[TensorType(DType.FLOAT32, (3,))])
    g.outputs = [y]
    m = unpack(write_tflite(g))
    (oc,) = m.operatorCodes
    assert oc.builtinCode == schema.BuiltinOperator.CUSTOM and oc.customCode == b"MyOp"
    assert bytes(bytearray(m.subgraphs[0].operators[0].customOptions)) == b"\x01\x02"


def test_non_tfl_op_is_a_user_error():
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    g.outputs = [Builder(g).op("core.identity", [x], name="still_core")]
    with pytest.raises(UserError, match=r"still_core.*core\.identity"):
        write_tflite(g)


def test_bad_option_value_is_a_user_error():
    g = Graph("main")
    x = g.add_input(TensorType(DType.FLOAT32, (3,)), "x")
    g.outputs = [Builder(g).op("tfl.add", [x, x], {"fused_activation_function": "SWISH"})]
    with pytest.raises(UserError, match="fused_activation_function"):
        write_tflite(g)
