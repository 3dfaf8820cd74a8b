"""The public Python API: ``load`` a model into the IR, ``compile`` it, ``save`` bytes.

Nothing clever lives here: each function picks the frontend, pass pipeline or
backend and delegates. Heavy modules are imported on first use.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Sequence, Union

from litesmith.ir.errors import UserError
from litesmith.ir.fileio import write_atomic  # noqa: F401  (re-exported for the CLI)
from litesmith.ir.graph import Graph

# canonicalize again after fold-constants: patterns that need constants (a Conv1D whose paddings
# TF computes at run time) only see them then; 1-6 ms on MobileNetV2 (docs/tflite-backend.md).
DEFAULT_PIPELINE = "canonicalize,fold-constants,canonicalize,dce"
# Keras model files (TensorFlow freezes them, as it does SavedModel directories).
KERAS_EXTENSIONS = (".keras", ".h5", ".hdf5")
# Graphs whose frontend marks them channel-first (ONNX) get the layout pass first.
LAYOUT_META = "litesmith.layout"


def pipeline_for(graph: Graph, passes: Optional[str] = None, io_layout: Optional[str] = None) -> str:
    """``passes`` then the default clean-up; a channel-first (ONNX) graph runs ``nchw-to-nhwc`` first and
    ``unroll-loops,if-to-select`` before the clean-up.

    ``io_layout``: "nhwc" makes a channel-first model's rank-4 inputs and outputs
    channel-last too; None or "nchw" keeps the model's interface."""
    if io_layout not in (None, "nchw", "nhwc"):
        raise UserError(f"io_layout must be nchw or nhwc, got {io_layout!r}")
    first = loops = None
    if graph.meta.get(LAYOUT_META) == "nchw":
        first = "nchw-to-nhwc{io_layout=nhwc}" if io_layout == "nhwc" else "nchw-to-nhwc"
        loops = "unroll-loops,if-to-select"  # ONNX loops over a fixed length (after any unroll-rnn), If branches
    elif io_layout == "nhwc":
        raise UserError("io_layout=nhwc applies to channel-first models (ONNX); this graph is not one")
    return ",".join(p for p in (first, passes, loops, DEFAULT_PIPELINE) if p)


def load(
    path: Union[str, os.PathLike],
    *,
    inputs: Optional[Sequence[str]] = None,
    outputs: Optional[Sequence[str]] = None,
    input_shapes: Optional[Dict[str, Sequence[Optional[int]]]] = None,
    custom_shapes: Optional[Dict[str, Sequence[Optional[int]]]] = None,
    signature: Optional[str] = None,
) -> Graph:
    """Lift a model file into the IR, choosing the frontend by file extension.

    ``.pb``/``.pbtxt``: a frozen TensorFlow GraphDef; ``.onnx``: an ONNX model
    (its external data files next to it); ``.tflite``: a TFLite flatbuffer;
    ``.ir``: litesmith IR text; a SavedModel directory (its ``signature``,
    default ``serving_default``) or a Keras file (``.keras``, ``.h5``):
    TensorFlow (the ``tf`` extra) freezes it, then the GraphDef path lifts it.
    ``inputs``/``outputs`` override the auto-detected graph inputs and outputs;
    ``input_shapes`` overrides shapes.
    ``custom_shapes`` declares the result shapes of foreign (unmapped) ops by
    result, node or op name (``{"Lgamma": [1, 3]}``, see ``ir/custom_shapes.py``).
    """
    graph = _load(os.fspath(path), inputs, outputs, input_shapes, signature)
    if custom_shapes:
        from litesmith.ir.custom_shapes import declare_shapes

        declare_shapes(graph, custom_shapes)
    return graph


def _load(path: str, inputs, outputs, input_shapes, signature) -> Graph:
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    if os.path.basename(path) == "saved_model.pb":
        path = os.path.dirname(path) or "."  # the SavedModel's directory is meant
    ext = os.path.splitext(path)[1].lower()
    if ext in KERAS_EXTENSIONS or os.path.isfile(os.path.join(path, "saved_model.pb")):
        from litesmith.frontends.tf.saved_model import load_frozen  # TensorFlow freezes it (the tf extra)

        return load_frozen(path, signature=signature, inputs=inputs, outputs=outputs, input_shapes=input_shapes)
    if signature:
        raise UserError(f"{path}: --signature applies to SavedModel directories")
    if os.path.isdir(path):
        raise UserError(f"{path}: a directory without saved_model.pb; expected a SavedModel directory or a model file")
    if ext in (".pb", ".pbtxt", ".graphdef"):
        from litesmith.frontends.tf import load_graphdef

        return load_graphdef(path, inputs=inputs, outputs=outputs, input_shapes=input_shapes)
    if ext == ".onnx":
        from litesmith.frontends.onnx import load_onnx

        return load_onnx(path, inputs=inputs, outputs=outputs, input_shapes=input_shapes)
    if ext == ".tflite":
        from litesmith.backends.tflite import read_tflite

        graph = read_tflite(path)
    elif ext in (".ir", ".mlir", ".txt"):
        from litesmith.ir.text import load_ir

        graph = load_ir(path)
    else:
        raise UserError(f"{path}: unknown model format {ext or '(no extension)'}; expected .pb, .pbtxt, .onnx, .tflite, .ir, .keras, .h5 "
                        "or a SavedModel directory")
    if inputs or outputs or input_shapes:
        from litesmith.ir.io_override import override_io

        override_io(graph, inputs=inputs, outputs=outputs, input_shapes=input_shapes)
    return graph


def optimize(graph: Graph, passes: str = DEFAULT_PIPELINE, **options) -> Graph:
    """Run a pass pipeline (``"a,b{opt=1},c"``) on ``graph`` in place and return it."""
    from litesmith.passes import PassManager

    PassManager.parse(passes, **options).run(graph)
    return graph


def compile(graph: Graph, passes: Optional[str] = None, *, io_layout: Optional[str] = None, **options) -> bytes:
    """Run ``passes`` (then the default clean-up pipeline), lower to TFLite, return the flatbuffer.

    One pass-manager run covers it all (``compile_to_tflite``: the clean-up, ``lower-tflite``,
    ``fuse-tflite``, ``dce`` and a quantization pass); ``options`` go to ``compile_to_tflite``
    (``quantize``, ``calibration``, ``manager_options``...). Channel-first graphs (ONNX) run
    ``nchw-to-nhwc`` first (``io_layout="nhwc"``: channel-last inputs and outputs too). Works on
    a copy (constants shared, not duplicated): ``graph`` is left as it was, so one loaded graph
    compiles in several modes and a failed compile changes nothing."""
    from litesmith.backends.tflite import compile_to_tflite
    from litesmith.ir.clone import clone_graph

    work = clone_graph(graph)
    return compile_to_tflite(work, passes=pipeline_for(graph, passes, io_layout), **options)


def save(data: Union[bytes, Graph], path: Union[str, os.PathLike]) -> None:
    """Write flatbuffer bytes (or a Graph as IR text) atomically: a reader never sees half a file."""
    path = os.fspath(path)
    if isinstance(data, Graph):
        from litesmith.ir.text import print_ir

        data = print_ir(data).encode()
    write_atomic(path, data)
