"""TensorFlow's GraphDef protobuf messages, declared here so reading a model never imports TensorFlow.

The schema below restates the public field numbers of tensorflow/core/framework/*.proto
(graph, node_def, attr_value, tensor, tensor_shape, function, op_def, versions,
full_type, resource_handle, graph_debug_info) in a .proto-like mini syntax. At import
time it becomes a ``FileDescriptorProto`` and message classes via ``message_factory``.
"""
from __future__ import annotations

from typing import Dict, Tuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "litesmith.tf"

# message -> fields ("[repeated] TYPE name = N", or "map<K,V> name = N"), ';'-separated.
# A nested message is spelled "Outer.Inner"; field types resolve nested-first.
_MESSAGES: Dict[str, str] = {
    "TensorShapeProto": "repeated Dim dim = 2; bool unknown_rank = 3",
    "TensorShapeProto.Dim": "int64 size = 1; string name = 2",
    "ResourceHandleProto": (
        "string device = 1; string container = 2; string name = 3; uint64 hash_code = 4;"
        "string maybe_type_name = 5; repeated DtypeAndShape dtypes_and_shapes = 6"
    ),
    "ResourceHandleProto.DtypeAndShape": "DataType dtype = 1; TensorShapeProto shape = 2",
    "VariantTensorDataProto": "string type_name = 1; bytes metadata = 2; repeated TensorProto tensors = 3",
    "TensorProto": (
        "DataType dtype = 1; TensorShapeProto tensor_shape = 2; int32 version_number = 3;"
        "bytes tensor_content = 4; repeated int32 half_val = 13; repeated float float_val = 5;"
        "repeated double double_val = 6; repeated int32 int_val = 7; repeated bytes string_val = 8;"
        "repeated float scomplex_val = 9; repeated int64 int64_val = 10; repeated bool bool_val = 11;"
        "repeated double dcomplex_val = 12; repeated ResourceHandleProto resource_handle_val = 14;"
        "repeated VariantTensorDataProto variant_val = 15; repeated uint32 uint32_val = 16;"
        "repeated uint64 uint64_val = 17; bytes float8_val = 18"
    ),
    "NameAttrList": "string name = 1; map<string,AttrValue> attr = 2",
    "AttrValue": (
        "bytes s = 2; int64 i = 3; float f = 4; bool b = 5; DataType type = 6;"
        "TensorShapeProto shape = 7; TensorProto tensor = 8; ListValue list = 1;"
        "NameAttrList func = 10; string placeholder = 9"
    ),
    "AttrValue.ListValue": (
        "repeated bytes s = 2; repeated int64 i = 3; repeated float f = 4; repeated bool b = 5;"
        "repeated DataType type = 6; repeated TensorShapeProto shape = 7; repeated TensorProto tensor = 8;"
        "repeated NameAttrList func = 9"
    ),
    "FullTypeDef": "FullTypeId type_id = 1; repeated FullTypeDef args = 2; string s = 3; int64 i = 4",
    "NodeDef": (
        "string name = 1; string op = 2; repeated string input = 3; string device = 4;"
        "map<string,AttrValue> attr = 5; ExperimentalDebugInfo experimental_debug_info = 6;"
        "FullTypeDef experimental_type = 7"
    ),
    "NodeDef.ExperimentalDebugInfo": "repeated string original_node_names = 1; repeated string original_func_names = 2",
    "VersionDef": "int32 producer = 1; int32 min_consumer = 2; repeated int32 bad_consumers = 3",
    "OpDeprecation": "int32 version = 1; string explanation = 2",
    "OpDef": (
        "string name = 1; repeated ArgDef input_arg = 2; repeated ArgDef output_arg = 3;"
        "repeated string control_output = 20; repeated AttrDef attr = 4; OpDeprecation deprecation = 8;"
        "string summary = 5; string description = 6; bool is_commutative = 18; bool is_aggregate = 16;"
        "bool is_stateful = 17; bool allows_uninitialized_input = 19; bool is_distributed_communication = 21"
    ),
    "OpDef.ArgDef": (
        "string name = 1; string description = 2; DataType type = 3; string type_attr = 4;"
        "string number_attr = 5; string type_list_attr = 6;"
        "repeated ResourceHandleProto.DtypeAndShape handle_data = 7; bool is_ref = 16;"
        "FullTypeDef experimental_full_type = 17"
    ),
    "OpDef.AttrDef": (
        "string name = 1; string type = 2; AttrValue default_value = 3; string description = 4;"
        "bool has_minimum = 5; int64 minimum = 6; AttrValue allowed_values = 7"
    ),
    "FunctionDef": (
        "OpDef signature = 1; map<string,AttrValue> attr = 5; map<uint32,ArgAttrs> arg_attr = 7;"
        "map<uint32,uint32> resource_arg_unique_id = 8; repeated NodeDef node_def = 3;"
        "map<string,string> ret = 4; map<string,string> control_ret = 6"
    ),
    "FunctionDef.ArgAttrs": "map<string,AttrValue> attr = 1",
    "GradientDef": "string function_name = 1; string gradient_func = 2",
    "RegisteredGradient": "string gradient_func = 1; string registered_op_type = 2",
    "FunctionDefLibrary": (
        "repeated FunctionDef function = 1; repeated GradientDef gradient = 2;"
        "repeated RegisteredGradient registered_gradients = 3"
    ),
    "GraphDebugInfo": (
        "repeated string files = 1; map<fixed64,FileLineCol> frames_by_id = 4;"
        "map<fixed64,StackTrace> traces_by_id = 6; map<string,StackTrace> traces = 2;"
        "map<string,fixed64> name_to_trace_id = 5"
    ),
    "GraphDebugInfo.FileLineCol": "int32 file_index = 1; int32 line = 2; int32 col = 3; string func = 4; string code = 5",
    "GraphDebugInfo.StackTrace": "repeated FileLineCol file_line_cols = 1; repeated fixed64 frame_id = 2",
    "GraphDef": (
        "repeated NodeDef node = 1; VersionDef versions = 4; int32 version = 3;"
        "FunctionDefLibrary library = 2; GraphDebugInfo debug_info = 5"
    ),
    # saved_model.proto / meta_graph.proto: only the fields that list a SavedModel's signatures
    # (unknown fields are skipped when parsing).
    "TensorInfo": "string name = 1; DataType dtype = 2; TensorShapeProto tensor_shape = 3",
    "SignatureDef": "map<string,TensorInfo> inputs = 1; map<string,TensorInfo> outputs = 2; string method_name = 3",
    "MetaInfoDef": "repeated string tags = 4",
    "MetaGraphDef": "MetaInfoDef meta_info_def = 1; map<string,SignatureDef> signature_def = 5",
    "SavedModel": "int64 saved_model_schema_version = 1; repeated MetaGraphDef meta_graphs = 2",
}

# Oneof groups (message -> (group name, member fields)).
_ONEOFS = {
    "AttrValue": ("value", ("s", "i", "f", "b", "type", "shape", "tensor", "list", "func", "placeholder")),
    "FullTypeDef": ("attr", ("s", "i")),
}

# TF's DataType enum (types.proto); *_REF variants are the value + 100.
DATA_TYPES: Dict[str, int] = {
    "DT_INVALID": 0, "DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5,
    "DT_INT8": 6, "DT_STRING": 7, "DT_COMPLEX64": 8, "DT_INT64": 9, "DT_BOOL": 10, "DT_QINT8": 11,
    "DT_QUINT8": 12, "DT_QINT32": 13, "DT_BFLOAT16": 14, "DT_QINT16": 15, "DT_QUINT16": 16,
    "DT_UINT16": 17, "DT_COMPLEX128": 18, "DT_HALF": 19, "DT_RESOURCE": 20, "DT_VARIANT": 21,
    "DT_UINT32": 22, "DT_UINT64": 23, "DT_FLOAT8_E5M2": 24, "DT_FLOAT8_E4M3FN": 25,
    "DT_FLOAT8_E4M3FNUZ": 26, "DT_FLOAT8_E4M3B11FNUZ": 27, "DT_FLOAT8_E5M2FNUZ": 28, "DT_INT4": 29,
    "DT_UINT4": 30, "DT_INT2": 31, "DT_UINT2": 32, "DT_FLOAT4_E2M1FN": 33,
}
DATA_TYPES.update({k + "_REF": v + 100 for k, v in list(DATA_TYPES.items()) if v})
DATA_TYPE_NAMES = {v: k for k, v in DATA_TYPES.items()}

_FULL_TYPE_IDS = {
    "TFT_UNSET": 0, "TFT_VAR": 1, "TFT_ANY": 2, "TFT_PRODUCT": 3, "TFT_NAMED": 4, "TFT_FOR_EACH": 20,
    "TFT_CALLABLE": 100, "TFT_TENSOR": 1000, "TFT_ARRAY": 1001, "TFT_OPTIONAL": 1002, "TFT_LITERAL": 1003,
    "TFT_ENCODED": 1004, "TFT_SHAPE_TENSOR": 1005, "TFT_BOOL": 200, "TFT_UINT8": 201, "TFT_UINT16": 202,
    "TFT_UINT32": 203, "TFT_UINT64": 204, "TFT_INT8": 205, "TFT_INT16": 206, "TFT_INT32": 207,
    "TFT_INT64": 208, "TFT_HALF": 209, "TFT_FLOAT": 210, "TFT_DOUBLE": 211, "TFT_BFLOAT16": 215,
    "TFT_COMPLEX64": 212, "TFT_COMPLEX128": 213, "TFT_STRING": 214, "TFT_DATASET": 10102,
    "TFT_RAGGED": 10103, "TFT_ITERATOR": 10104, "TFT_MUTEX_LOCK": 10202, "TFT_LEGACY_VARIANT": 10203,
}
_ENUMS = {"DataType": DATA_TYPES, "FullTypeId": _FULL_TYPE_IDS}

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _F.TYPE_DOUBLE, "float": _F.TYPE_FLOAT, "int64": _F.TYPE_INT64, "uint64": _F.TYPE_UINT64,
    "int32": _F.TYPE_INT32, "uint32": _F.TYPE_UINT32, "fixed64": _F.TYPE_FIXED64, "bool": _F.TYPE_BOOL,
    "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES,
}


def _resolve(type_name: str, scope: str) -> Tuple[int, str]:
    """(field type, fully qualified type name) of a message or enum reference seen in ``scope``."""
    if type_name in _ENUMS:
        return _F.TYPE_ENUM, f".{_PACKAGE}.{type_name}"
    parts = scope.split(".")
    for depth in range(len(parts), -1, -1):  # innermost scope first, like protoc
        candidate = ".".join(parts[:depth] + [type_name])
        if candidate in _MESSAGES:
            return _F.TYPE_MESSAGE, f".{_PACKAGE}.{candidate}"
    raise KeyError(f"schema: unknown type {type_name} in {scope}")


def _add_field(msg: descriptor_pb2.DescriptorProto, scope: str, spec: str) -> None:
    decl, number = (s.strip() for s in spec.split("="))
    words = decl.split()
    field = msg.field.add(name=words[-1], number=int(number), json_name=words[-1])
    field.label = _F.LABEL_REPEATED if words[0] == "repeated" else _F.LABEL_OPTIONAL
    type_name = words[-2]
    if type_name.startswith("map<"):
        key, value = type_name[4:-1].split(",")
        entry = msg.nested_type.add(name="".join(p.capitalize() for p in words[-1].split("_")) + "Entry")
        entry.options.map_entry = True
        _add_field(entry, f"{scope}.{entry.name}", f"{key} key = 1")
        _add_field(entry, scope, f"{value} value = 2")
        field.label = _F.LABEL_REPEATED
        field.type = _F.TYPE_MESSAGE
        field.type_name = f".{_PACKAGE}.{scope}.{entry.name}"
    elif type_name in _SCALARS:
        field.type = _SCALARS[type_name]
    else:
        field.type, field.type_name = _resolve(type_name, scope)


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name="litesmith/tf_graph.proto", package=_PACKAGE, syntax="proto3")
    for enum_name, values in _ENUMS.items():
        enum = fdp.enum_type.add(name=enum_name)
        for name, number in sorted(values.items(), key=lambda kv: kv[1]):
            enum.value.add(name=name, number=number)
    protos: Dict[str, descriptor_pb2.DescriptorProto] = {}
    for full in _MESSAGES:  # parents are listed before their nested messages
        outer, _, inner = full.rpartition(".")
        protos[full] = (protos[outer].nested_type if outer else fdp.message_type).add(name=inner)
    for full, fields in _MESSAGES.items():
        msg = protos[full]
        for spec in filter(None, (s.strip() for s in fields.split(";"))):
            _add_field(msg, full, spec)
        if full in _ONEOFS:
            group, members = _ONEOFS[full]
            msg.oneof_decl.add(name=group)
            for f in msg.field:
                if f.name in members:
                    f.oneof_index = 0
    return fdp


def _build_classes() -> Dict[str, type]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    names = ["GraphDef", "NodeDef", "AttrValue", "TensorProto", "TensorShapeProto", "FunctionDefLibrary",
             "FunctionDef", "OpDef", "VersionDef", "NameAttrList", "SavedModel"]
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{n}")) for n in names}


_CLASSES = _build_classes()
GraphDef = _CLASSES["GraphDef"]
NodeDef = _CLASSES["NodeDef"]
AttrValue = _CLASSES["AttrValue"]
TensorProto = _CLASSES["TensorProto"]
TensorShapeProto = _CLASSES["TensorShapeProto"]
FunctionDefLibrary = _CLASSES["FunctionDefLibrary"]
FunctionDef = _CLASSES["FunctionDef"]
OpDef = _CLASSES["OpDef"]
VersionDef = _CLASSES["VersionDef"]
NameAttrList = _CLASSES["NameAttrList"]
SavedModel = _CLASSES["SavedModel"]

__all__ = ["GraphDef", "NodeDef", "AttrValue", "TensorProto", "TensorShapeProto", "FunctionDefLibrary",
           "FunctionDef", "OpDef", "VersionDef", "NameAttrList", "SavedModel", "DATA_TYPES", "DATA_TYPE_NAMES"]
