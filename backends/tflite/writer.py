"""Serialize a graph of ``tfl.*`` ops to a TFLite flatbuffer.

A mechanical emitter through the generated object API (schema_generated.py):
one SubGraphT per graph/region, one TensorT per value, one OperatorT per node,
constants in buffers, packed by ``fastpack`` (the object API's bytes, a few
times faster). What needs care is written out here, not in the schema:
- buffer 0 is the empty sentinel; identical constant bytes (same content
  digest) share one buffer;
- constant data is 16-byte aligned (the object API's ``Pack`` ignores the
  schema's ``force_align``), copied straight from each numpy array, whatever
  its strides, into the builder sized for all of it up front: the weights
  are copied once (docs/benchmarks.md, big constants);
- ``deprecated_builtin_code`` = min(code, 127) beside ``builtin_code``;
- a ``serving_default`` signature names the graph inputs/outputs;
- the same graph always gives the same bytes.
"""
from __future__ import annotations

import hashlib
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.types import TensorType

from . import schema_generated as schema
from .fastpack import FastBuilder, pack_model
from .opcodes import DTYPE_FIELDS, ENUM_FIELDS, OPCODES, TENSOR_TYPE_CODES, camel_case, op_version

BUFFER_ALIGNMENT = 16
DIGEST_BLOCK = 1 << 18  # elements of a non-contiguous constant made contiguous at a time to digest it
SIGNATURE_KEY = "serving_default"
SCHEMA_VERSION = 3
MIN_RUNTIME_VERSION = b"1.14.0"  # older runtimes lack ops litesmith emits routinely


def write_tflite(graph: Graph, *, description: str = "litesmith", metadata: Optional[Dict[str, bytes]] = None,
                 as_bytearray: bool = False) -> Union[bytes, bytearray]:
    """The .tflite bytes of ``graph`` (``tfl.*`` ops and ``core.const`` only).

    ``graph.meta`` entries whose value is bytes, then ``metadata``, are
    written as TFLite metadata (name -> bytes). ``as_bytearray``: the builder's own buffer,
    trimmed in place, instead of a ``bytes`` copy of it (what LiteRT's ``model_content`` takes):
    a caller that writes the model to a file then holds its weights once more, not twice."""
    check_writable(graph)
    return _ModelWriter(description).write(graph, _collect_metadata(graph, metadata), as_bytearray)


def check_writable(graph: Graph) -> None:
    """UserError naming the first node that is not a TFLite op."""
    for node in graph.walk():
        if node.op == "core.const" or node.op in OPCODES:
            continue
        if node.op.startswith("tflite.") and hasattr(schema.BuiltinOperator, node.op[len("tflite."):]):
            continue  # a builtin litesmith does not model, read from a .tflite file
        raise UserError(
            f"cannot write node {node.name!r} ({node.op}) to TFLite: only tfl.* ops and constants can be "
            f"written; lower the graph first (compile_to_tflite) or make {node.op} a custom op"
        )


def _collect_metadata(graph: Graph, extra: Optional[Dict[str, bytes]]) -> Dict[str, bytes]:
    out = {k: v for k, v in graph.meta.items() if isinstance(v, (bytes, bytearray))}
    for k, v in (extra or {}).items():
        if not isinstance(v, (bytes, bytearray)):
            raise UserError(f"TFLite metadata {k!r} must be bytes, got {type(v).__name__}")
        out[k] = v
    out["min_runtime_version"] = MIN_RUNTIME_VERSION
    return out


class _AlignedBufferT(schema.BufferT):
    """A buffer whose data vector starts on a 16-byte boundary of the file. ``data``: bytes, or a
    little-endian numpy array in any layout (copied into the file from where it lies)."""

    def Pack(self, builder):
        data = None
        if self.data is not None:
            n = _nbytes(self.data)
            builder.StartVector(1, n, BUFFER_ALIGNMENT)
            builder.head = builder.head - n
            _copy_into(builder.Bytes, builder.head, self.data)
            builder.vectorNumElems = n
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        return schema.BufferEnd(builder)


def _nbytes(data) -> int:
    return data.nbytes if isinstance(data, np.ndarray) else len(data)


def _copy_into(out: bytearray, offset: int, data) -> None:
    """``data``'s bytes, in C order, into ``out`` at ``offset``. An array goes straight from its own
    layout (a transposed weight is not made contiguous first: one copy of it, the file's)."""
    if not isinstance(data, np.ndarray):
        out[offset : offset + len(data)] = data
    elif data.nbytes:
        target = np.frombuffer(out, np.uint8, data.nbytes, offset)  # gone before the builder can grow
        target.view(data.dtype).reshape(data.shape)[...] = data


def _digest(data) -> bytes:
    """A content digest of ``data``'s C-order bytes, read in blocks (no contiguous copy of a big array)."""
    h = hashlib.blake2b(digest_size=32)
    if not isinstance(data, np.ndarray) or data.flags.c_contiguous:
        h.update(data)
        return h.digest()
    per = max(1, DIGEST_BLOCK // max(1, data[0].size))
    for i in range(0, len(data), per):
        h.update(np.ascontiguousarray(data[i : i + per]))
    return h.digest()


class _ModelWriter:
    def __init__(self, description: str):
        self.model = schema.ModelT()
        self.model.version = SCHEMA_VERSION
        self.model.description = description
        self.model.buffers = [_AlignedBufferT()]  # buffer 0: the empty sentinel
        self.model.operatorCodes = []
        self.model.subgraphs = []
        self._buffer_by_digest: Dict[bytes, int] = {}  # content digest -> buffer index
        self._opcode_index: Dict[Tuple[int, str, int], int] = {}
        self._pending: List[Tuple[int, Graph]] = []

    def write(self, graph: Graph, metadata: Dict[str, bytes], as_bytearray: bool = False) -> Union[bytes, bytearray]:
        main = self._reserve(graph)
        while self._pending:
            index, g = self._pending.pop(0)
            self.model.subgraphs[index] = self._subgraph(g)
        self.model.signatureDefs = [self._signature(main, graph)]
        self.model.metadata = []
        for name in sorted(metadata):
            entry = schema.MetadataT()
            entry.name = name
            entry.buffer = self._new_buffer(bytes(metadata[name]))
            self.model.metadata.append(entry)
        # Size the builder for all buffer data up front: growing it by doubling would copy a
        # 100 MB model's weights a dozen times.
        data_bytes = sum(_nbytes(b.data) + 2 * BUFFER_ALIGNMENT for b in self.model.buffers if b.data is not None)
        builder = FastBuilder(data_bytes + (1 << 20))
        builder.Finish(pack_model(builder, self.model), file_identifier=b"TFL3")
        if not as_bytearray:
            return bytes(memoryview(builder.Bytes)[builder.Head():])
        out, head = builder.Bytes, builder.Head()
        del builder
        del out[:head]  # CPython moves a bytearray's start for this: no copy of the weights
        return out

    # -- subgraphs ----------------------------------------------------------------------------

    def _reserve(self, graph: Graph) -> int:
        """A subgraph index for ``graph``, filled in later (regions after their parents)."""
        self.model.subgraphs.append(None)
        index = len(self.model.subgraphs) - 1
        self._pending.append((index, graph))
        return index

    def _subgraph(self, graph: Graph) -> "schema.SubGraphT":
        sub = schema.SubGraphT()
        sub.name = graph.name
        sub.tensors = []
        sub.operators = []
        tensor_of: Dict[int, int] = {}

        def tensor(v: Value) -> int:
            if id(v) not in tensor_of:
                tensor_of[id(v)] = len(sub.tensors)
                sub.tensors.append(self._tensor(v, len(sub.tensors)))
            return tensor_of[id(v)]

        sub.inputs = [tensor(v) for v in graph.inputs]
        for node in graph:
            if node.op == "core.const":
                continue
            op = self._operator(node, [tensor(v) for v in node.inputs], [tensor(v) for v in node.outputs])
            sub.operators.append(op)
            entry = OPCODES.get(node.op)
            for i in () if entry is None else entry.variable_inputs:
                sub.tensors[op.inputs[i]].isVariable = True
        sub.outputs = [tensor(v) for v in graph.outputs]
        return sub

    def _signature(self, index: int, graph: Graph) -> "schema.SignatureDefT":
        sub = self.model.subgraphs[index]
        sig = schema.SignatureDefT()
        sig.signatureKey = SIGNATURE_KEY
        sig.subgraphIndex = index
        sig.inputs = [_tensor_map(v.name or f"input_{i}", t) for i, (v, t) in enumerate(zip(graph.inputs, sub.inputs))]
        sig.outputs = [_tensor_map(v.name or f"output_{i}", t) for i, (v, t) in enumerate(zip(graph.outputs, sub.outputs))]
        return sig

    # -- tensors and buffers ------------------------------------------------------------------

    def _tensor(self, v: Value, index: int) -> "schema.TensorT":
        t = schema.TensorT()
        ty: TensorType = v.type
        if ty.dtype not in TENSOR_TYPE_CODES:
            raise UserError(f"value %{v.name} has type {ty}, which TFLite tensors cannot hold")
        t.type = TENSOR_TYPE_CODES[ty.dtype]
        t.name = v.name or _default_name(v, index)
        if ty.shape is None:
            t.shape = []  # unknown rank: the runtime sizes it while preparing the producer
        else:
            t.shape = [1 if d is None else d for d in ty.shape]
            if any(d is None for d in ty.shape):
                t.shapeSignature = [-1 if d is None else d for d in ty.shape]
        if ty.quant is not None:
            q = schema.QuantizationParametersT()
            # numpy vectors: the object API packs them in one copy, lists one element per call
            # (1.7 s for MobileNetV2's per-channel int8 scales)
            q.scale = np.array(ty.quant.scale, np.float32)
            q.zeroPoint = np.array(ty.quant.zero_point, np.int64)
            q.quantizedDimension = ty.quant.axis or 0
            t.quantization = q
        const = v.const_value()
        if v.producer is not None and v.producer.op == "core.const":
            if const is None:
                raise UserError(f"constant %{v.name} has no data (elided); load its .npz before writing")
            t.buffer = self._new_buffer(_tensor_data(const, ty.dtype, v.name), dedupe=True)
        return t

    def _new_buffer(self, raw, dedupe: bool = False) -> int:
        """A buffer holding ``raw`` (bytes, or a constant's array: not copied here). ``dedupe``:
        data with the same content digest (blake2b-256) shares one buffer."""
        key = _digest(raw) if dedupe else None
        if key in self._buffer_by_digest:
            return self._buffer_by_digest[key]
        buf = _AlignedBufferT()
        buf.data = raw
        self.model.buffers.append(buf)
        index = len(self.model.buffers) - 1
        if dedupe:
            self._buffer_by_digest[key] = index
        return index

    # -- operators ------------------------------------------------------------------------------

    def _operator(self, node: Node, inputs: List[int], outputs: List[int]) -> "schema.OperatorT":
        if node.op.startswith("tflite."):
            return self._foreign_operator(node, inputs, outputs)
        entry = OPCODES[node.op]
        for i in entry.absent_inputs:
            inputs.insert(i, -1)
        op = schema.OperatorT()
        op.inputs = inputs
        op.outputs = outputs
        custom_code = ""
        if node.op == "tfl.custom":
            custom_code = node.attrs["custom_code"]
            op.customOptions = bytes(node.attrs.get("custom_options") or b"")
            op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
        code = getattr(schema.BuiltinOperator, entry.builtin)
        op.opcodeIndex = self._opcode(code, custom_code, op_version(node))
        if entry.options is not None:
            op.builtinOptionsType = getattr(schema.BuiltinOptions, entry.options)
            op.builtinOptions = self._options(node, entry)
        return op

    def _foreign_operator(self, node: Node, inputs: List[int], outputs: List[int]) -> "schema.OperatorT":
        """A builtin kept as ``tflite.<NAME>`` by the reader: options and version as read."""
        attrs = dict(node.attrs)
        version = int(attrs.pop("op_version", 1))
        options = attrs.pop("builtin_options_type", None)
        for i in attrs.pop("absent_inputs", []):
            inputs.insert(i, -1)
        op = schema.OperatorT()
        op.inputs = inputs
        op.outputs = outputs
        op.opcodeIndex = self._opcode(getattr(schema.BuiltinOperator, node.op[len("tflite."):]), "", version)
        if options:
            opts = getattr(schema, options + "T")()
            for name, value in attrs.items():
                setattr(opts, camel_case(name), encode_option(name, value))
            op.builtinOptionsType = getattr(schema.BuiltinOptions, options)
            op.builtinOptions = opts
        return op

    def _opcode(self, code: int, custom_code: str, version: int) -> int:
        key = (code, custom_code, version)
        if key not in self._opcode_index:
            oc = schema.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
            oc.version = version
            if custom_code:
                oc.customCode = custom_code
            self._opcode_index[key] = len(self.model.operatorCodes)
            self.model.operatorCodes.append(oc)
        return self._opcode_index[key]

    def _options(self, node: Node, entry):
        opts = getattr(schema, entry.options + "T")()
        for name, value in node.attrs.items():
            field = camel_case(name)
            if not hasattr(opts, field):
                raise UserError(f"{node.op} {node.name!r}: attribute {name} has no field in {entry.options}")
            setattr(opts, field, encode_option(name, value))
        for name in entry.derived:
            setattr(opts, camel_case(name), self._derived(node, name))
        return opts

    def _derived(self, node: Node, name: str):
        if name == "values_count":
            return len(node.inputs)
        if name == "new_shape":
            shape = node.inputs[1].const_value() if len(node.inputs) > 1 else None
            if shape is None:
                shape = [(-1 if d is None else d) for d in (node.outputs[0].shape or ())]
            return [int(d) for d in np.asarray(shape).reshape(-1)]
        if name in ("cond_subgraph_index", "then_subgraph_index"):
            return self._reserve(node.regions[0])
        if name in ("body_subgraph_index", "else_subgraph_index"):
            return self._reserve(node.regions[1])
        raise AssertionError(f"no rule for derived option field {name}")


def encode_option(name: str, value):
    """An IR attribute value as its object-API option field value."""
    if name in ENUM_FIELDS:
        enum = getattr(schema, ENUM_FIELDS[name])
        try:
            return getattr(enum, value)
        except (AttributeError, TypeError):
            choices = ", ".join(k for k in vars(enum) if not k.startswith("_"))
            raise UserError(f"option {name}={value!r} is not one of {choices}") from None
    if name in DTYPE_FIELDS:
        return TENSOR_TYPE_CODES[value]
    if isinstance(value, (list, tuple)):
        return [int(v) if isinstance(v, (int, np.integer)) else v for v in value]
    return value


def _tensor_map(name: str, index: int) -> "schema.TensorMapT":
    m = schema.TensorMapT()
    m.name = name
    m.tensorIndex = index
    return m


def _default_name(v: Value, index: int) -> str:
    if v.producer is not None:
        base = v.producer.meta.get("source") or v.producer.op
        return f"{base}:{v.index}" if len(v.producer.outputs) > 1 else base
    return f"tensor_{index}"


def _tensor_data(arr: np.ndarray, dtype: DType, name: str):
    """Constant data in TFLite's little-endian layout: the array itself where it already is
    little-endian, whatever its strides (the builder copies it once, into the file); strings as
    bytes in TFLite's packed string format."""
    if dtype is DType.STRING:
        items = [s.encode() if isinstance(s, str) else bytes(s) for s in np.asarray(arr, object).reshape(-1)]
        header = 4 * (len(items) + 2)
        offsets = np.cumsum([header] + [len(s) for s in items]).astype("<i4")
        return np.int32(len(items)).astype("<i4").tobytes() + offsets.tobytes() + b"".join(items)
    return np.asarray(arr).astype(dtype.np.newbyteorder("<"), copy=False)
