"""Serialize a graph of ``tfl.*`` ops to a TFLite flatbuffer.

A mechanical emitter straight from the IR: one subgraph per graph/region, one
tensor per value, one operator per node, constants in buffers, each table
written by ``fastpack``'s packers with the bytes the generated object API's
``ModelT.Pack`` would write (no ``ModelT`` tree for the whole model: the
peak memory of a 100k-node write). What needs care is written out here, not in the schema:
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
from .fastpack import (FastBuilder, int32_vector, model_table, offset_vector, pack_operator, pack_tensor,
                       subgraph_table)
from .opcodes import DTYPE_FIELDS, ENUM_FIELDS, OPCODES, TENSOR_TYPE_CODES, camel_case, op_version

BUFFER_ALIGNMENT = 16
DIGEST_BLOCK = 1 << 18  # elements of a non-contiguous constant made contiguous at a time to digest it
SIGNATURE_KEY = "serving_default"
SCHEMA_VERSION = 3
TABLE_BYTES_ESTIMATE = 64  # builder bytes per tensor or operator table, a little above the usual
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


class _Subgraph:
    """One subgraph's plan: its tensors (values in index order, each value's index and buffer) and
    its operators' opcode indices, in node order; filled before anything is packed."""

    __slots__ = ("graph", "values", "index_of", "buffers", "variables", "opcodes", "inputs", "outputs")

    def __init__(self, graph: Graph):
        self.graph = graph
        self.values: List[Value] = []
        self.index_of: Dict[int, int] = {}  # id(value) -> tensor index
        self.buffers: List[int] = []  # per tensor: its buffer index (0: none)
        self.variables: set = set()  # tensor indices written as variable tensors
        self.opcodes: List[int] = []  # per operator node, in order
        self.inputs: List[int] = []
        self.outputs: List[int] = []


class _ModelWriter:
    """Two sweeps over the IR. The plan numbers what the flatbuffer refers to by index before it is
    written (operator codes, subgraphs, tensors, buffers); the pack writes each table straight from
    the IR with the builder, in the order and with the bytes of the object API's ``ModelT.Pack``
    (operator codes, subgraphs, description, buffers, metadata, signature), so no object per tensor
    or operator is ever alive for the whole model."""

    def __init__(self, description: str):
        self.description = description
        self.buffers: list = [None]  # data per buffer (bytes or a little-endian array); 0: the empty sentinel
        self._buffer_by_digest: Dict[bytes, int] = {}  # content digest -> buffer index
        self._opcode_index: Dict[Tuple[int, str, int], int] = {}  # (code, custom code, version) -> index
        self.subgraphs: List[_Subgraph] = []
        self._regions: Dict[int, Dict[str, int]] = {}  # id(node) -> derived option -> subgraph index

    def write(self, graph: Graph, metadata: Dict[str, bytes], as_bytearray: bool = False) -> Union[bytes, bytearray]:
        self._reserve(graph)
        for sub in self.subgraphs:  # grows while it runs: regions after their parents
            self._plan(sub)
        metadata_buffers = [(name, self._new_buffer(bytes(metadata[name]))) for name in sorted(metadata)]
        # Size the builder for all of the model up front: growing it by doubling would copy a
        # 100 MB model's weights a dozen times, and a 100k-node model's tables (~54 bytes per tensor
        # or operator) a few times, with the old and the new buffer alive together.
        data_bytes = sum(_nbytes(d) + 2 * BUFFER_ALIGNMENT for d in self.buffers if d is not None)
        tables = sum(len(sub.values) + len(sub.opcodes) for sub in self.subgraphs)
        b = FastBuilder(data_bytes + TABLE_BYTES_ESTIMATE * tables + (1 << 20))
        codes = offset_vector(b, [oc.Pack(b) for oc in self._operator_codes()])
        subgraphs = offset_vector(b, [self._pack_subgraph(b, sub) for sub in self.subgraphs])
        description = b.CreateString(self.description)
        buffers = offset_vector(b, [_pack_buffer(b, data) for data in self.buffers])
        entries = []
        for name, index in metadata_buffers:
            entry = schema.MetadataT()
            entry.name, entry.buffer = name, index
            entries.append(entry.Pack(b))
        metadata_vector = offset_vector(b, entries)
        signatures = offset_vector(b, [self._signature(graph).Pack(b)])
        b.Finish(model_table(b, SCHEMA_VERSION, codes, subgraphs, description, buffers, None, metadata_vector,
                             signatures, None, None), file_identifier=b"TFL3")
        if not as_bytearray:
            return bytes(memoryview(b.Bytes)[b.Head():])
        out, head = b.Bytes, b.Head()
        del b
        del out[:head]  # CPython moves a bytearray's start for this: no copy of the weights
        return out

    # -- the plan: indices of subgraphs, tensors, buffers, operator codes -------------------------

    def _reserve(self, graph: Graph) -> int:
        """A subgraph index for ``graph``, planned later (regions after their parents)."""
        self.subgraphs.append(_Subgraph(graph))
        return len(self.subgraphs) - 1

    def _plan(self, sub: _Subgraph) -> None:
        graph = sub.graph
        sub.inputs = [self._tensor_index(sub, v) for v in graph.inputs]
        for node in graph:
            if node.op == "core.const":
                continue
            inputs = [self._tensor_index(sub, v) for v in node.inputs]
            for v in node.outputs:
                self._tensor_index(sub, v)
            sub.opcodes.append(self._plan_operator(node))
            entry = OPCODES.get(node.op)
            if entry is not None and entry.variable_inputs:
                inputs = _with_absent(inputs, entry.absent_inputs)
                sub.variables.update(inputs[i] for i in entry.variable_inputs)
        sub.outputs = [self._tensor_index(sub, v) for v in graph.outputs]

    def _tensor_index(self, sub: _Subgraph, v: Value) -> int:
        index = sub.index_of.get(id(v))
        if index is None:
            index = sub.index_of[id(v)] = len(sub.values)
            sub.values.append(v)
            buffer = 0
            if v.producer is not None and v.producer.op == "core.const":
                const = v.const_value()
                if const is None:
                    raise UserError(f"constant %{v.name} has no data (elided); load its .npz before writing")
                buffer = self._new_buffer(_tensor_data(const, v.type.dtype, v.name), dedupe=True)
            sub.buffers.append(buffer)
        return index

    def _new_buffer(self, raw, dedupe: bool = False) -> int:
        """A buffer holding ``raw`` (bytes, or a constant's array: not copied here). ``dedupe``:
        data with the same content digest (blake2b-256) shares one buffer."""
        key = _digest(raw) if dedupe else None
        if key in self._buffer_by_digest:
            return self._buffer_by_digest[key]
        self.buffers.append(raw)
        index = len(self.buffers) - 1
        if dedupe:
            self._buffer_by_digest[key] = index
        return index

    def _plan_operator(self, node: Node) -> int:
        """The node's operator code index; reserves the subgraphs of its regions."""
        if node.op.startswith("tflite."):
            code = getattr(schema.BuiltinOperator, node.op[len("tflite."):])
            return self._opcode(code, "", int(node.attrs.get("op_version", 1)))
        entry = OPCODES[node.op]
        custom_code = node.attrs["custom_code"] if node.op == "tfl.custom" else ""
        index = self._opcode(getattr(schema.BuiltinOperator, entry.builtin), custom_code, op_version(node))
        for name in entry.derived:
            if name in _REGION_OF:
                self._regions.setdefault(id(node), {})[name] = self._reserve(node.regions[_REGION_OF[name]])
        return index

    def _opcode(self, code: int, custom_code: str, version: int) -> int:
        return self._opcode_index.setdefault((code, custom_code, version), len(self._opcode_index))

    def _operator_codes(self) -> List["schema.OperatorCodeT"]:
        codes = []
        for code, custom_code, version in self._opcode_index:  # in index order
            oc = schema.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
            oc.version = version
            if custom_code:
                oc.customCode = custom_code
            codes.append(oc)
        return codes

    # -- the pack: each table straight from the IR -------------------------------------------------

    def _pack_subgraph(self, b: FastBuilder, sub: _Subgraph) -> int:
        variables = sub.variables
        tensors = offset_vector(b, [_pack_value(b, v, i, sub.buffers[i], i in variables)
                                    for i, v in enumerate(sub.values)])
        inputs = int32_vector(b, sub.inputs)
        outputs = int32_vector(b, sub.outputs)
        index_of = sub.index_of
        operators = []
        opcodes = iter(sub.opcodes)
        for node in sub.graph:
            if node.op == "core.const":
                continue
            operators.append(self._pack_operator(b, node, next(opcodes), [index_of[id(v)] for v in node.inputs],
                                                 [index_of[id(v)] for v in node.outputs]))
        result = subgraph_table(b, tensors, inputs, outputs, offset_vector(b, operators), sub.graph.name)
        sub.values, sub.index_of, sub.buffers = [], {}, []  # packed: let the plan go
        return result

    def _pack_operator(self, b: FastBuilder, node: Node, opcode: int, inputs: List[int], outputs: List[int]) -> int:
        if node.op.startswith("tflite."):
            return self._pack_foreign_operator(b, node, opcode, inputs, outputs)
        entry = OPCODES[node.op]
        inputs = _with_absent(inputs, entry.absent_inputs)
        custom_options = None
        if node.op == "tfl.custom":
            custom_options = bytes(node.attrs.get("custom_options") or b"")
        options_type, options = 0, None
        if entry.options is not None:
            options_type = getattr(schema.BuiltinOptions, entry.options)
            options = self._options(node, entry)
        return pack_operator(b, opcode, inputs, outputs, options_type, options, custom_options,
                             schema.CustomOptionsFormat.FLEXBUFFERS)

    def _pack_foreign_operator(self, b: FastBuilder, node: Node, opcode: int, inputs: List[int],
                               outputs: List[int]) -> int:
        """A builtin kept as ``tflite.<NAME>`` by the reader: options and version as read."""
        attrs = dict(node.attrs)
        attrs.pop("op_version", None)
        options_name = attrs.pop("builtin_options_type", None)
        for i in attrs.pop("absent_inputs", []):
            inputs.insert(i, -1)
        options_type, options = 0, None
        if options_name:
            options = getattr(schema, options_name + "T")()
            for name, value in attrs.items():
                setattr(options, camel_case(name), encode_option(name, value))
            options_type = getattr(schema.BuiltinOptions, options_name)
        return pack_operator(b, opcode, inputs, outputs, options_type, options)

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
        if name in _REGION_OF:
            return self._regions[id(node)][name]
        raise AssertionError(f"no rule for derived option field {name}")

    def _signature(self, graph: Graph) -> "schema.SignatureDefT":
        main = self.subgraphs[0]
        sig = schema.SignatureDefT()
        sig.signatureKey = SIGNATURE_KEY
        sig.subgraphIndex = 0
        sig.inputs = [_tensor_map(v.name or f"input_{i}", t) for i, (v, t) in enumerate(zip(graph.inputs, main.inputs))]
        sig.outputs = [_tensor_map(v.name or f"output_{i}", t)
                       for i, (v, t) in enumerate(zip(graph.outputs, main.outputs))]
        return sig


# Option fields that name a region's subgraph: the region they take.
_REGION_OF = {"cond_subgraph_index": 0, "then_subgraph_index": 0, "body_subgraph_index": 1, "else_subgraph_index": 1}


def _with_absent(inputs: List[int], absent: Tuple[int, ...]) -> List[int]:
    """The TFLite input list: -1 at each position the op leaves absent."""
    for i in absent:
        inputs.insert(i, -1)
    return inputs


def _pack_value(b: FastBuilder, v: Value, index: int, buffer: int, is_variable: bool) -> int:
    """The ``Tensor`` table of ``v``."""
    ty: TensorType = v.type
    code = TENSOR_TYPE_CODES.get(ty.dtype)
    if code is None:
        raise UserError(f"value %{v.name} has type {ty}, which TFLite tensors cannot hold")
    signature = None
    if ty.shape is None:
        shape = []  # unknown rank: the runtime sizes it while preparing the producer
    else:
        shape = [1 if d is None else d for d in ty.shape]
        if None in ty.shape:
            signature = [-1 if d is None else d for d in ty.shape]
    quantization = None
    if ty.quant is not None:
        quantization = schema.QuantizationParametersT()
        # numpy vectors: the object API packs them in one copy, lists one element per call
        # (1.7 s for MobileNetV2's per-channel int8 scales)
        quantization.scale = np.array(ty.quant.scale, np.float32)
        quantization.zeroPoint = np.array(ty.quant.zero_point, np.int64)
        quantization.quantizedDimension = ty.quant.axis or 0
    return pack_tensor(b, shape, code, buffer, v.name or _default_name(v, index), quantization, is_variable,
                       signature)


def _pack_buffer(b: FastBuilder, data) -> int:
    """A ``Buffer`` table; its data vector starts on a 16-byte boundary of the file (the object API's
    ``Pack`` ignores the schema's ``force_align``), copied straight from where it lies."""
    offset = None
    if data is not None:
        n = _nbytes(data)
        b.StartVector(1, n, BUFFER_ALIGNMENT)
        b.head = b.head - n
        _copy_into(b.Bytes, b.head, data)
        b.vectorNumElems = n
        offset = b.EndVector()
    schema.BufferStart(b)
    if offset is not None:
        schema.BufferAddData(b, offset)
    return schema.BufferEnd(b)


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
