"""Big constants are held once: structural checks behind benchmarks/big_constants.py (no timing).

A frozen Dense layer with a 4 MB weight, built and frozen by TensorFlow the default way: its constant
loaded from the GraphDef or from a .tflite is a read-only view on the bytes read (not a copy), the
writer allocates the file's buffer and nothing else of the weight's size, and dynamic quantization
works through a big weight in chunks. Each path's model still matches TensorFlow in LiteRT.
"""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import litesmith
from litesmith.backends.quantize import params, quantize_graph
from litesmith.backends.tflite import read_tflite
from litesmith.backends.tflite.compile import compile_to_tflite
from litesmith.backends.tflite.writer import write_tflite

ROWS, COLS = 2000, 500  # float32 weight: 4,000,000 bytes


@pytest.fixture(scope="module")
def dense_pb(tf, tmp_path_factory):
    """(frozen .pb path, input, TF's output) of relu(x @ W + b) with W [ROWS, COLS]."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    rng = np.random.default_rng(12)
    w = tf.Variable(rng.standard_normal((ROWS, COLS), dtype=np.float32) * 0.05)
    b = tf.Variable(rng.standard_normal(COLS, dtype=np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, ROWS], tf.float32, name="x")])
    def fn(x):
        return tf.nn.relu(tf.matmul(x, w) + b)

    x = rng.standard_normal((1, ROWS), dtype=np.float32)
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    path = tmp_path_factory.mktemp("big_constants") / "dense.pb"
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return str(path), x, fn(tf.constant(x)).numpy()


def _warm_up_quantizer() -> None:
    """Quantize a tiny dense layer once, so the traced run measures data, not first imports."""
    from litesmith.ir import Builder, DType, Graph, TensorType

    g = Graph("tiny")
    x = g.add_input(TensorType(DType.FLOAT32, (1, 4)), "x")
    b = Builder(g)
    g.outputs = [b.op("core.matmul", [x, b.const(np.ones((4, 4), np.float32))])]
    compile_to_tflite(g)
    quantize_graph(g, "dynamic", progress=False)


def _largest_constant(graph) -> np.ndarray:
    return max((n.attrs["value"] for n in graph.walk() if n.op == "core.const"), key=lambda a: a.nbytes)


def _owner(arr):
    """The object at the end of a view's chain of bases (numpy ``base``, memoryview ``obj``)."""
    while True:
        nxt = getattr(arr, "base", None) if isinstance(arr, np.ndarray) else getattr(arr, "obj", None)
        if nxt is None:
            return arr
        arr = nxt


def _litert(litert_interpreter, blob, x):
    interp = litert_interpreter(model_content=bytes(blob))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def _traced_peak(fn):
    """(fn's result, the most memory Python and numpy held at once while it ran, above the start)."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def test_graphdef_constant_is_a_view_on_the_bytes_read(dense_pb, litert_interpreter):
    path, x, want = dense_pb
    graph = litesmith.load(path)
    w = _largest_constant(graph)
    assert w.shape == (ROWS, COLS) and w.dtype == np.float32
    assert not w.flags.owndata and not w.flags.writeable
    owner = _owner(w)
    assert isinstance(owner, bytes) and len(owner) == w.nbytes  # the tensor_content bytes, not a copy
    np.testing.assert_allclose(_litert(litert_interpreter, litesmith.compile(graph), x), want, rtol=1e-4, atol=1e-4)


def test_tflite_constants_are_views_on_the_file(dense_pb, tmp_path, litert_interpreter):
    path, x, want = dense_pb
    tfl = tmp_path / "dense.tflite"
    tfl.write_bytes(litesmith.compile(litesmith.load(path)))
    graph = read_tflite(str(tfl))
    w = _largest_constant(graph)
    assert w.nbytes == ROWS * COLS * 4 and not w.flags.writeable
    owner = _owner(w)
    assert isinstance(owner, bytes) and len(owner) == tfl.stat().st_size  # the file's bytes, read once
    np.testing.assert_allclose(_litert(litert_interpreter, write_tflite(graph), x), want, rtol=1e-4, atol=1e-4)


def test_writer_allocates_the_file_and_no_copy_of_the_weights(dense_pb, litert_interpreter):
    path, x, want = dense_pb
    graph = litesmith.load(path)
    litesmith.optimize(graph)
    blob = compile_to_tflite(graph)  # lowered in place (the weight transposed for FULLY_CONNECTED)
    weight_bytes = _largest_constant(graph).nbytes
    out, peak = _traced_peak(lambda: write_tflite(graph, as_bytearray=True))
    assert isinstance(out, bytearray) and out == blob
    # The builder's buffer (the weights + 1 MiB of room) and nothing else of the weights' size:
    # a bytes copy of each constant plus a final copy of the file would be 3x.
    assert peak < weight_bytes + (3 << 20), (peak, weight_bytes)
    np.testing.assert_allclose(_litert(litert_interpreter, out, x), want, rtol=1e-4, atol=1e-4)


def test_dynamic_quantization_works_through_a_weight_in_chunks(dense_pb, monkeypatch, litert_interpreter):
    path, x, want = dense_pb
    graph = litesmith.load(path)
    litesmith.optimize(graph)
    float_blob = compile_to_tflite(graph)
    weight_bytes = _largest_constant(graph).nbytes
    monkeypatch.setattr(params, "CHUNK_ELEMENTS", 1 << 12)
    _warm_up_quantizer()  # its lazy imports (threadpoolctl...) are ~0.2 MB of Python objects, not weights
    _, peak = _traced_peak(lambda: quantize_graph(graph, "dynamic", progress=False))
    # The int8 weight (a quarter) plus float64 temporaries of one chunk, not of the whole weight (2x).
    assert peak < 0.4 * weight_bytes, (peak, weight_bytes)
    got = _litert(litert_interpreter, write_tflite(graph), x)
    float_error = np.abs(_litert(litert_interpreter, float_blob, x) - want).max()
    assert float_error < 1e-4
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max(), np.abs(got - want).max()
