"""Read an ONNX ModelProto from a file or bytes, with its external data, and infer shapes.

The ``onnx`` package parses and runs ONNX's own shape inference; nothing here
runs a model. Anything that is not a readable model is a ``UserError``.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple, Union

from litesmith.ir.errors import UserError

Source = Union[str, os.PathLike, bytes, bytearray]


def import_onnx():
    """The ``onnx`` package, or a UserError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise UserError("reading .onnx files needs the onnx package: pip install 'litesmith[onnx]'") from None
    return onnx


def read_model(source: Source, base_dir: Optional[str] = None) -> Tuple[object, str]:
    """(ModelProto with external data loaded, a name for messages)."""
    onnx = import_onnx()
    from google.protobuf import message

    if isinstance(source, (bytes, bytearray)):
        where, data = "<onnx bytes>", bytes(source)
    else:
        where = os.fspath(source)
        try:
            with open(where, "rb") as f:
                data = f.read()
        except OSError as e:
            raise UserError(f"{where}: cannot read ({e.strerror})") from None
        base_dir = os.path.dirname(os.path.abspath(where)) if base_dir is None else base_dir
    if not data:
        raise UserError(f"{where}: empty file, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (message.DecodeError, RuntimeError, ValueError) as e:
        raise UserError(f"{where}: not a valid ONNX model (truncated or corrupt: {e})") from None
    if not model.HasField("graph") or not (len(model.graph.node) or len(model.graph.output)):
        raise UserError(f"{where}: no graph; is this an ONNX model file?")
    _load_external_data(onnx, model, base_dir, where)
    return model, where


def _load_external_data(onnx, model, base_dir: Optional[str], where: str) -> None:
    from onnx import external_data_helper as ext

    tensors = [t for t in ext._get_all_tensors(model) if ext.uses_external_data(t)]
    if not tensors:
        return
    if base_dir is None:
        raise UserError(f"{where}: tensor {tensors[0].name!r} keeps its data in an external file; "
                        "load the model from its path (or pass base_dir) so the file can be found")
    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location", "")
        path = os.path.normpath(os.path.join(base_dir, location))
        if not location or os.path.isabs(location) or not path.startswith(os.path.normpath(base_dir) + os.sep):
            raise UserError(f"{where}: tensor {t.name!r}: external data location {location!r} is not a file "
                            "next to the model")
        if not os.path.isfile(path):
            raise UserError(f"{where}: tensor {t.name!r}: external data file {location!r} not found in {base_dir}")
        try:
            ext.load_external_data_for_tensor(t, base_dir)
        except Exception as e:  # ValueError/OSError from a bad offset or length
            raise UserError(f"{where}: tensor {t.name!r}: cannot read external data from {location!r} "
                            f"({type(e).__name__}: {e})") from None
        t.data_location = onnx.TensorProto.DEFAULT
        del t.external_data[:]


def opset_of(model, where: str) -> int:
    """The default-domain opset the model imports (IR v3 files without an import mean opset 1)."""
    versions = [int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        return 1
    if versions[0] < 1:
        raise UserError(f"{where}: opset {versions[0]} is not a valid ONNX opset")
    return versions[0]


def check_tensors(model, where: str) -> None:
    """Refuse negative or hostile tensor dims anywhere in the model (subgraphs and Constant values too).

    Runs before ONNX's C++ shape inference, which asserts (aborting the process) on some
    such tensors, e.g. a Slice ``starts`` initializer with dims [3, -1, -7].
    """
    from .tensors import check_tensor_size

    graphs = [model.graph]
    while graphs:
        g = graphs.pop()
        for t in g.initializer:
            check_tensor_size(t, f"{where}: initializer {t.name!r}")
        for node in g.node:
            for a in node.attribute:
                if a.HasField("t"):
                    check_tensor_size(a.t, f"{where}: node {node.name or node.op_type!r} attribute {a.name!r}")
                for t in a.tensors:
                    check_tensor_size(t, f"{where}: node {node.name or node.op_type!r} attribute {a.name!r}")
                if a.HasField("g"):
                    graphs.append(a.g)
                graphs.extend(a.graphs)


def infer_shapes(model, where: str):
    """ONNX's own shape inference (with data propagation); a failing one leaves the model as it was."""
    onnx = import_onnx()
    check_tensors(model, where)
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:  # inference is a hint: a model it rejects may still convert
        return model
