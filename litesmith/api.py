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


def load(
    path: Union[str, os.PathLike],
    *,
    inputs: Optional[Sequence[str]] = None,
    outputs: Optional[Sequence[str]] = None,
    input_shapes: Optional[Dict[str, Sequence[Optional[int]]]] = None,
) -> Graph:
    """Lift a model file into the IR, choosing the frontend by file extension.

    ``.pb``/``.pbtxt``: a frozen TensorFlow GraphDef; ``.tflite``: a TFLite
    flatbuffer; ``.ir``: litesmith IR text. ``inputs``/``outputs`` override the
    auto-detected graph inputs and outputs; ``input_shapes`` overrides shapes.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".pb", ".pbtxt", ".graphdef"):
        from litesmith.frontends.tf import load_graphdef

        return load_graphdef(path, inputs=inputs, outputs=outputs, input_shapes=input_shapes)
    if ext == ".tflite":
        from litesmith.backends.tflite import read_tflite

        graph = read_tflite(path)
    elif ext in (".ir", ".mlir", ".txt"):
        from litesmith.ir.text import load_ir

        graph = load_ir(path)
    else:
        raise UserError(f"{path}: unknown model format {ext or '(no extension)'}; expected .pb, .pbtxt, .tflite or .ir")
    if inputs or outputs or input_shapes:
        from litesmith.ir.io_override import override_io

        override_io(graph, inputs=inputs, outputs=outputs, input_shapes=input_shapes)
    return graph


def optimize(graph: Graph, passes: str = DEFAULT_PIPELINE, **options) -> Graph:
    """Run a pass pipeline (``"a,b{opt=1},c"``) on ``graph`` in place and return it."""
    from litesmith.passes import PassManager

    PassManager.parse(passes, **options).run(graph)
    return graph


def compile(graph: Graph, passes: Optional[str] = None, **options) -> bytes:
    """Run ``passes`` (then the default clean-up pipeline), lower to TFLite, return the flatbuffer.

    One pass-manager run covers it all (``compile_to_tflite``: the clean-up, ``lower-tflite``,
    ``fuse-tflite``, ``dce`` and a quantization pass); ``options`` go to ``compile_to_tflite``
    (``quantize``, ``calibration``, ``manager_options``...). Works on a copy (constants shared,
    not duplicated): ``graph`` is left as it was, so one loaded graph compiles in several modes
    and a failed compile changes nothing."""
    from litesmith.backends.tflite import compile_to_tflite
    from litesmith.ir.clone import clone_graph

    work = clone_graph(graph)
    pipeline = ",".join(p for p in (passes, DEFAULT_PIPELINE) if p)
    return compile_to_tflite(work, passes=pipeline, **options)


def save(data: Union[bytes, Graph], path: Union[str, os.PathLike]) -> None:
    """Write flatbuffer bytes (or a Graph as IR text) atomically: a reader never sees half a file."""
    path = os.fspath(path)
    if isinstance(data, Graph):
        from litesmith.ir.text import print_ir

        data = print_ir(data).encode()
    write_atomic(path, data)
