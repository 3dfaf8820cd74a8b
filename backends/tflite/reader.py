"""Lift a .tflite flatbuffer into an IR graph of ``tfl.*`` ops.

Every operator becomes a node: declared builtins as ``tfl.<name>`` with their
options as attributes, other builtins as foreign ``tflite.<NAME>`` nodes
carrying their options, custom ops as ``tfl.custom``. Constant tensors become
``core.const`` (quantization parameters kept on the type; sparse ones
densified, and a DENSIFY of one is that constant: see sparsity.py), custom
ops keep their option bytes exactly, WHILE/IF subgraphs become regions,
signature names name the graph inputs/outputs and model metadata lands in
``graph.meta`` (name -> bytes).
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Union

import numpy as np

from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError, VerifyError
from litesmith.ir.builder import normalize_attrs
from litesmith.ir.graph import Graph, IRError, Node, Value
from litesmith.ir.registry import get_op
from litesmith.ir.types import QuantParams, TensorType
from litesmith.ir.verify import verify

from . import ops as _ops  # noqa: F401  (declares the tfl dialect and fills OPCODES)
from . import schema_generated as schema
from .opcodes import BY_BUILTIN, DTYPE_FIELDS, DTYPE_OF_CODE, ENUM_FIELDS, snake_case
from .sparsity import densify

_BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_OPTIONS_NAMES = {v: k for k, v in vars(schema.BuiltinOptions).items() if not k.startswith("_")}
# Option fields litesmith does not model; dropped when read.
_IGNORED_FIELDS = {"quantized_bias_type", "quant_spec"}


def read_tflite(path_or_bytes: Union[str, os.PathLike, bytes, bytearray]) -> Graph:
    """The IR graph of a .tflite model given as a path or its bytes."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, origin = bytes(path_or_bytes), "<tflite bytes>"
    else:
        origin = os.fspath(path_or_bytes)
        try:
            with open(origin, "rb") as f:
                data = f.read()
        except OSError as e:
            raise UserError(f"{origin}: cannot read TFLite model: {e.strerror}") from None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise UserError(f"{origin}: not a TFLite model (no 'TFL3' file identifier); give a .tflite flatbuffer")
    try:
        model = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception as e:  # out-of-range offsets in a truncated or corrupt file
        raise UserError(f"{origin}: corrupt or truncated TFLite model ({type(e).__name__}: {e})") from None
    if not model.subgraphs:
        raise UserError(f"{origin}: TFLite model has no subgraphs")
    graph = _Lifter(model, data, origin).lift()
    try:  # passes assume a valid graph: tensors whose types contradict their operators stop here
        verify(graph)
    except VerifyError as e:
        raise VerifyError(f"{origin}: {e}") from None
    return graph


class _Lifter:
    def __init__(self, model, data: bytes, origin: str):
        self.model = model
        self.data = data
        self.origin = origin
        self._active: set = set()  # subgraphs being lifted: one met again is a cycle of WHILE/IF bodies

    def lift(self) -> Graph:
        graph = self.subgraph(0)
        sig = next((s for s in self.model.signatureDefs or [] if s.subgraphIndex == 0), None)
        sub = self.model.subgraphs[0]
        if sig is not None:
            _rename(graph.inputs, sub.inputs, sig.inputs)
            _rename(graph.outputs, sub.outputs, sig.outputs)
        for entry in self.model.metadata or []:
            graph.meta[_text(entry.name)] = bytes(self.buffer_view(entry.buffer))
        if self.model.description:
            graph.meta.setdefault("tflite.description", _text(self.model.description))
        return graph

    # -- subgraphs ---------------------------------------------------------------------------------

    def subgraph(self, index: int) -> Graph:
        if not 0 <= index < len(self.model.subgraphs):
            raise UserError(f"{self.origin}: subgraph index {index} out of range "
                            f"(the model has {len(self.model.subgraphs)} subgraphs)")
        if index in self._active:
            raise UserError(f"{self.origin}: subgraph {index} is a WHILE/IF body of itself; the model is corrupt")
        self._active.add(index)
        try:
            return self._subgraph(index)
        finally:
            self._active.discard(index)

    def _subgraph(self, index: int) -> Graph:
        sub = self.model.subgraphs[index]
        graph = Graph(_text(sub.name) or f"subgraph_{index}")
        tensors = sub.tensors or []
        values: Dict[int, Value] = {}

        def tensor(t: int, what: str):
            if not 0 <= t < len(tensors):
                raise UserError(f"{self.origin}: subgraph {index} {what} is tensor {t}, but the subgraph has "
                                f"{len(tensors)} tensors; the model is corrupt")
            return tensors[t]

        for t in _ints(sub.inputs):
            values[t] = graph.add_input(self.tensor_type(tensor(t, "input")), _text(tensors[t].name))

        def value(t: int, what: str) -> Value:
            if t not in values:
                arr = self.constant(tensor(t, what))
                if arr is None:
                    raise UserError(f"{self.origin}: subgraph {index} reads tensor {t} ({_text(tensors[t].name)!r}) "
                                    "before any operator writes it")
                node = Node("core.const", [], {"value": arr}, [self.tensor_type(tensors[t])],
                            output_names=[_text(tensors[t].name)])
                graph.append(node)
                values[t] = node.outputs[0]
            return values[t]

        def const(arr: np.ndarray, name: str) -> Value:
            node = Node("core.const", [], {"value": arr}, [TensorType(DType.from_numpy(arr.dtype), arr.shape)],
                        output_names=[name])
            graph.append(node)
            return node.outputs[0]

        for k, op in enumerate(sub.operators or []):
            if self.is_densify(op):  # its input was densified when read: the output is that constant
                src, dst = (_present(op.inputs) + [-1])[0], (_ints(op.outputs) + [-1])[0]
                arr = self.constant(tensor(src, f"operator {k} input"))
                out_type = self.tensor_type(tensor(dst, f"operator {k} output"))
                if arr is None or arr.shape != tuple(1 if d is None else d for d in out_type.shape):
                    raise UserError(f"{self.origin}: DENSIFY operator {k} does not densify a constant of its "
                                    "output's shape; the model is corrupt")
                node = Node("core.const", [], {"value": arr}, [out_type], output_names=[_text(tensors[dst].name)])
                graph.append(node)
                values[dst] = node.outputs[0]
                continue
            ins = [value(t, f"operator {k} input") for t in _present(op.inputs)]
            outs = _ints(op.outputs)
            for t in outs:
                tensor(t, f"operator {k} output")
            node = self.operator(op, ins, [self.tensor_type(tensors[t]) for t in outs],
                                 [_text(tensors[t].name) for t in outs], index, k, const)
            graph.append(node)
            for t, v in zip(_ints(op.outputs), node.outputs):
                values[t] = v
        graph.outputs = [value(t, "output") for t in _ints(sub.outputs)]
        return graph

    # -- operators -----------------------------------------------------------------------------------

    def operator(self, op, inputs: List[Value], types: List[TensorType], names: List[str], sub: int, k: int, const) -> Node:
        if not 0 <= op.opcodeIndex < len(self.model.operatorCodes or []):
            raise UserError(f"{self.origin}: operator {k} of subgraph {sub} has opcode index {op.opcodeIndex} out of range")
        code = self.model.operatorCodes[op.opcodeIndex]
        builtin = _BUILTIN_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode), f"BUILTIN_{code.builtinCode}")
        options = self.options(op)
        regions = []
        if builtin == "CUSTOM":
            name = "tfl.custom"
            attrs = {"custom_code": _text(code.customCode), "custom_options": self.custom_options(op, k)}
            if not attrs["custom_code"]:  # no runtime can resolve a nameless custom op
                raise UserError(f"{self.origin}: operator {k} of subgraph {sub} is CUSTOM but its operator code "
                                f"{op.opcodeIndex} names no custom op (empty custom_code)")
        elif builtin in BY_BUILTIN:
            entry = BY_BUILTIN[builtin]
            name = entry.op
            declared = get_op(name).attrs
            for field in ("cond_subgraph_index", "then_subgraph_index", "body_subgraph_index", "else_subgraph_index"):
                if field in options:
                    regions.append(self.subgraph(options[field]))
            attrs = {}
            for key, val in options.items():
                if key in declared:
                    attrs[key] = val
                elif key not in entry.derived and key not in _IGNORED_FIELDS and val:
                    raise UserError(f"{self.origin}: {builtin} operator {k} sets option {key}={val!r}, "
                                    "which litesmith does not support")
            if builtin == "RESHAPE" and len(inputs) == 1 and options.get("new_shape") is not None:
                inputs = inputs + [const(np.asarray(options["new_shape"], np.int32), f"{names[0]}/shape")]
            if len(_ints(op.inputs)) != len(inputs) and get_op(name).check_arity(len(inputs)):
                raise UserError(f"{self.origin}: {builtin} operator {k} has an absent input litesmith cannot represent")
            try:
                attrs = normalize_attrs(name, attrs)
            except IRError as e:
                raise UserError(f"{self.origin}: {builtin} operator {k}: {e}") from None
        else:
            name = f"tflite.{builtin}"
            attrs = dict(options)
            attrs["op_version"] = int(code.version)
            if op.builtinOptionsType:
                attrs["builtin_options_type"] = _OPTIONS_NAMES.get(op.builtinOptionsType, str(op.builtinOptionsType))
            absent = [i for i, t in enumerate(_ints(op.inputs)) if t < 0]
            if absent:
                attrs["absent_inputs"] = absent
        source = names[0] if names else f"{name}_{k}"
        return Node(name, inputs, attrs, types, regions=regions, output_names=names, meta={"source": source})

    def is_densify(self, op) -> bool:
        codes = self.model.operatorCodes or []
        if not 0 <= op.opcodeIndex < len(codes):
            return False  # operator() reports the bad index
        code = codes[op.opcodeIndex]
        return _BUILTIN_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode)) == "DENSIFY"

    def custom_options(self, op, k: int) -> bytes:
        """A custom op's option bytes, exactly as stored (in the operator, or after the flatbuffer in
        models over 2 GB): they are the op's own format, which only its kernel reads."""
        if op.largeCustomOptionsSize:
            start, size = int(op.largeCustomOptionsOffset), int(op.largeCustomOptionsSize)
            if start <= 1 or start + size > len(self.data):
                raise UserError(f"{self.origin}: custom options of operator {k} run past the end of the file (truncated?)")
            return self.data[start:start + size]
        if op.customOptions is None:
            return b""
        return np.asarray(op.customOptions, np.uint8).tobytes()

    def options(self, op) -> Dict[str, object]:
        if not op.builtinOptionsType or op.builtinOptions is None:
            return {}
        out = {}
        for field, val in vars(op.builtinOptions).items():
            name = snake_case(field)
            out[name] = decode_option(name, val)
        return out

    # -- tensors -------------------------------------------------------------------------------------

    def tensor_type(self, t) -> TensorType:
        if t.type not in DTYPE_OF_CODE:
            raise UserError(f"{self.origin}: tensor {_text(t.name)!r} has TFLite type {t.type}, which litesmith does not support")
        dtype = DTYPE_OF_CODE[t.type]
        dims = list(t.shapeSignature) if t.shapeSignature is not None and len(t.shapeSignature) else list(t.shape if t.shape is not None else [])
        quant = None
        q = t.quantization
        if q is not None and q.scale is not None and len(q.scale):
            zp = list(q.zeroPoint) if q.zeroPoint is not None and len(q.zeroPoint) else [0] * len(q.scale)
            quant = QuantParams(tuple(q.scale), tuple(zp), q.quantizedDimension if len(q.scale) > 1 else None)
        return TensorType(dtype, [None if d < 0 else int(d) for d in dims], quant)

    def buffer_view(self, index: int) -> memoryview:
        """Buffer ``index``'s data as a read-only view on the file's bytes (no copy of a 100 MB weight)."""
        if not 0 <= index < len(self.model.buffers or []):
            raise UserError(f"{self.origin}: buffer index {index} out of range")
        buf = self.model.buffers[index]
        if buf.data is not None and len(buf.data):
            return memoryview(np.asarray(buf.data, np.uint8))  # the object API's numpy view on the file
        if buf.offset > 1:  # data stored after the flatbuffer (models over 2 GB)
            end = buf.offset + buf.size
            if end > len(self.data):
                raise UserError(f"{self.origin}: buffer {index} runs past the end of the file (truncated?)")
            return memoryview(self.data)[buf.offset:end]
        return memoryview(b"")

    def constant(self, t) -> Optional[np.ndarray]:
        raw = self.buffer_view(t.buffer) if t.buffer else memoryview(b"")
        ty = self.tensor_type(t)
        if not len(raw):
            # A tensor of no elements needs no data: the writer gives an empty constant (a
            # RESHAPE's shape [] to a scalar) an empty buffer, and only a read tells it apart.
            empty = ty.shape is not None and None not in ty.shape and 0 in ty.shape
            if not empty or ty.dtype is DType.STRING:
                return None
            try:
                return np.zeros(ty.shape, ty.dtype.np)
            except ValueError:  # numpy refuses dims whose product overflows, zeros or not (a fuzzing finding)
                raise UserError(f"{self.origin}: constant {_text(t.name)!r} has shape {list(ty.shape)}, too large "
                                "even with no elements; the model is corrupt") from None
        shape = [1 if d is None else d for d in ty.shape]
        if ty.dtype is DType.STRING:
            arr = _decode_strings(bytes(raw), f"{self.origin}: string constant {_text(t.name)!r}")
        elif len(raw) % ty.dtype.itemsize:
            raise UserError(f"{self.origin}: constant {_text(t.name)!r} has {len(raw)} bytes of data, "
                            f"not a whole number of {ty.dtype} values; the model is corrupt")
        else:
            arr = np.frombuffer(raw, dtype=ty.dtype.np.newbyteorder("<"))
        if t.sparsity is not None and ty.dtype is not DType.STRING:
            return densify(arr.astype(ty.dtype.np), shape, t.sparsity, f"{self.origin}: constant {_text(t.name)!r}")
        if arr.size != int(np.prod(shape)):
            raise UserError(f"{self.origin}: constant {_text(t.name)!r} holds {arr.size} values for shape {shape}")
        # A read-only view on the file's bytes where the layout allows (little-endian host): the IR
        # shares constants read-only, and a 100 MB weight is then held once.
        return arr.astype(ty.dtype.np, copy=False).reshape(shape)


def decode_option(name: str, value):
    """An object-API option field value as the IR attribute value."""
    if name in ENUM_FIELDS:
        enum = getattr(schema, ENUM_FIELDS[name])
        names = {v: k for k, v in vars(enum).items() if not k.startswith("_")}
        return names.get(value, value)
    if name in DTYPE_FIELDS:
        return DTYPE_OF_CODE.get(value, value)
    if isinstance(value, np.ndarray):
        return [int(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.decode()
    if isinstance(value, list):
        return [int(v) if isinstance(v, (int, np.integer)) else v for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _ints(indices) -> List[int]:
    """An object-API index vector (numpy array, list or None) as a list of ints."""
    return [] if indices is None else [int(t) for t in indices]


def _present(indices) -> List[int]:
    """Operator input tensor indices without absent (-1) entries."""
    return [t for t in _ints(indices) if t >= 0]


def _rename(values: List[Value], tensor_indices, maps) -> None:
    by_tensor = {m.tensorIndex: _text(m.name) for m in maps or []}
    for v, t in zip(values, _ints(tensor_indices)):
        if t in by_tensor:
            v.name = by_tensor[t]


def _text(s) -> str:
    if s is None:
        return ""
    return s.decode("utf-8", "replace") if isinstance(s, (bytes, bytearray)) else str(s)


def _decode_strings(raw: bytes, where: str) -> np.ndarray:
    """TFLite's string buffer: count, count + 1 offsets, then the UTF-8 bytes."""
    count = int(np.frombuffer(raw[:4], "<i4")[0]) if len(raw) >= 4 else -1
    if count < 0 or len(raw) < 4 * (count + 2):
        raise UserError(f"{where}: malformed string buffer ({len(raw)} bytes); the model is corrupt")
    offsets = [int(o) for o in np.frombuffer(raw[4 : 4 * (count + 2)], "<i4")]
    if any(not 4 * (count + 2) <= a <= b <= len(raw) for a, b in zip(offsets, offsets[1:])):
        raise UserError(f"{where}: string offsets point outside the buffer; the model is corrupt")
    try:
        return np.array([raw[offsets[i] : offsets[i + 1]].decode() for i in range(count)], dtype=object)
    except UnicodeDecodeError:
        raise UserError(f"{where}: a string is not UTF-8; the model is corrupt") from None
