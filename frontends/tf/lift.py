"""Read a frozen GraphDef (.pb or .pbtxt) and lift it into an IR ``Graph``.

Inputs default to the Placeholder nodes that something reads (an unread one,
such as the variant `unused_control_flow_input_N` placeholders TF's lowered
loops leave behind, is dropped with a note), outputs to the tensors no node
consumes (constants, no-ops, asserts and loop internals aside); both can be
chosen by name, and input shapes overridden (batch 8 -> 1): types downstream
come from the registry's inference, so stale recorded shapes are ignored.
"""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Sequence

from google.protobuf import message, text_format
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Value
from litesmith.ir.io_override import override_io
from litesmith.ir.notes import add_note
from litesmith.ir.types import TensorType, make_shape

from . import proto
from .mapper import _load_mappings
from .namespace import Namespace, split_ref, tensor_name
from .ops_lists import TensorArrayHandle
from .scope import Scope

# Nodes that are never graph outputs even when nothing consumes them.
_NOT_OUTPUTS = {
    "Const", "NoOp", "Assert", "Placeholder", "PlaceholderV2", "PlaceholderWithDefault", "Exit", "RefExit",
    "Enter", "NextIteration", "LoopCond", "Switch", "SaveV2", "RestoreV2", "VarHandleOp", "VarIsInitializedOp",
    "AssignVariableOp", "Print", "PrintV2", "TensorArrayCloseV3", "MergeSummary", "ScalarSummary",
}
_PLACEHOLDERS = ("Placeholder", "PlaceholderV2")


def read_graphdef(path: str):
    """Parse a binary or text GraphDef; UserError for anything that is not one."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    if not data or data.isspace():  # (isspace: no copy of a 100 MB file)
        raise UserError(f"{path}: empty file, not a GraphDef")
    as_text = path.lower().endswith((".pbtxt", ".txt"))
    gd = _parse_text(path, data) if as_text else _parse_binary(path, data)
    if not len(gd.node):
        raise UserError(f"{path}: no nodes; is this a frozen GraphDef (not a SavedModel or a checkpoint)?")
    for n in gd.node:
        if not n.name or not n.op:
            raise UserError(f"{path}: a node without a name or op; the file is corrupt or not a GraphDef")
    return gd


def _parse_binary(path: str, data: bytes):
    try:
        return proto.GraphDef.FromString(data)
    except message.DecodeError as e:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{path}: not a valid binary GraphDef (truncated or corrupt: {e})") from None
        try:
            return text_format.Parse(text, proto.GraphDef())
        except text_format.ParseError:
            raise UserError(f"{path}: not a valid binary GraphDef (truncated or corrupt: {e})") from None


def _parse_text(path: str, data: bytes):
    try:
        return text_format.Parse(data.decode("utf-8"), proto.GraphDef())
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text GraphDef (not UTF-8)") from None
    except text_format.ParseError as e:
        raise UserError(f"{path}:{e}") from None


class Lifter:
    """Shared state of one lift: the file, its function library, and option flags."""

    def __init__(self, path: str, graphdef, shapes_overridden: bool):
        self.path = path
        self.library = {f.signature.name: f for f in graphdef.library.function}
        self.main = Namespace(graphdef.node, path, library=self.library)
        self.shapes_overridden = shapes_overridden
        self._functions: Dict[str, Namespace] = {}
        self.active: set = set()  # (namespace id, node) pairs being lifted: a node met again is a cycle

    def function_namespace(self, fname: str) -> Namespace:
        ns = self._functions.get(fname)
        if ns is None:
            f = self.library[fname]
            ns = self._functions[fname] = Namespace(f.node_def, f"{self.path}: function {fname!r}", function=f,
                                                    library=self.library)
        return ns


def _base(name: str) -> str:
    return name.removesuffix(":0")


def load_graphdef(path, *, inputs: Optional[Sequence[str]] = None, outputs: Optional[Sequence[str]] = None,
                  input_shapes: Optional[Mapping[str, Sequence[Optional[int]]]] = None) -> Graph:
    """Parse ``path`` and lift it; see the module docstring for the input/output rules."""
    path = os.fspath(path)
    return lift_graphdef(read_graphdef(path), path, inputs=inputs, outputs=outputs, input_shapes=input_shapes)


def lift_graphdef(gd, path: str, *, inputs: Optional[Sequence[str]] = None, outputs: Optional[Sequence[str]] = None,
                  input_shapes: Optional[Mapping[str, Sequence[Optional[int]]]] = None,
                  graph_name: Optional[str] = None) -> Graph:
    """Lift a parsed GraphDef (``proto.GraphDef``); ``path`` is what messages call it."""
    _load_mappings()
    lifter = Lifter(path, gd, shapes_overridden=bool(input_shapes))
    ns = lifter.main
    graph = Graph(graph_name or os.path.splitext(os.path.basename(path))[0] or "main")
    scope = Scope(lifter, ns, graph)
    shapes = {_base(k): v for k, v in (input_shapes or {}).items()}
    wanted = [_base(n) for n in inputs] if inputs is not None else None
    unused = []
    for name in ns.order:
        op = ns.op(name)
        if op in _PLACEHOLDERS and not ns.users(name) and name not in (wanted or ()):
            unused.append(name)  # e.g. TF's lowered loops leave `unused_control_flow_input_N` behind
        elif op in _PLACEHOLDERS or (op == "PlaceholderWithDefault" and wanted and name in wanted):
            _add_input(scope, name, shapes.pop(name, None))
    if unused:
        shown = ", ".join(unused[:3]) + (f" and {len(unused) - 3} more" if len(unused) > 3 else "")
        add_note(graph, f"dropped {len(unused)} placeholder(s) that nothing reads: {shown}")
    for ref in [_ref(ns, n, "input") for n in wanted or ()]:
        if ref not in scope.values:  # an inner tensor: cut the graph there
            _add_cut_input(lifter, scope, ref, shapes.pop(tensor_name(*split_ref(ref)), None))
    out_refs = [_ref(ns, o, "output") for o in outputs] if outputs is not None else _default_outputs(scope)
    graph.outputs = _name_outputs(scope, out_refs)
    if not graph.outputs:
        raise UserError(f"{path}: the graph has no outputs; name them with outputs=[...] (--outputs)")
    if wanted is not None or shapes:
        override_io(graph, inputs=[tensor_name(*split_ref(n)) for n in wanted] if wanted is not None else None,
                    input_shapes=shapes or None)
    return graph


def _ref(ns: Namespace, name: str, role: str) -> str:
    node, idx = split_ref(name)
    if node not in ns.nodes:
        import difflib

        close = difflib.get_close_matches(node, ns.order, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"{ns.where}: no node named {node!r} for {role} {name!r}{hint}")
    return f"{node}:{idx}"


def _add_input(scope: Scope, name: str, shape_override) -> None:
    tf = scope.ns.tf_node(name)
    where = scope.ns.at(name)
    dt = tf.attrs.get("dtype")
    if not isinstance(dt, DType) or dt is DType.VARIANT:
        raise UserError(f"{where}: placeholder of dtype {dt or '(none)'} is not supported as a graph input")
    shape = tf.attrs.get("shape")
    if shape is not None and not isinstance(shape, tuple):
        raise UserError(f"{where}: placeholder attribute 'shape' must be a shape, got {shape!r}")
    shape = shape if shape_override is None else make_shape(
        [None if d in (None, -1) else d for d in shape_override])
    v = scope.graph.add_input(TensorType(dt, shape), name)
    scope.bind(name, [v])


def _add_cut_input(lifter: Lifter, scope: Scope, ref: str, shape_override) -> None:
    """Make inner tensor ``ref`` a graph input; its type comes from lifting its producer on the side."""
    scratch = Scope(lifter, scope.ns, Graph("scratch"))
    for v in scope.graph.inputs:  # stand-ins: the scratch nodes must not use the real inputs
        scratch.values[f"{v.name}:0"] = scratch.graph.add_input(v.type, v.name)
        scratch.lifted.add(v.name)
    v = scratch.resolve(ref)
    if not isinstance(v, Value):
        raise UserError(f"{scope.ns.at(split_ref(ref)[0])}: a TensorArray handle cannot be a graph input")
    t = v.type if shape_override is None else v.type.with_shape(make_shape(
        [None if d in (None, -1) else d for d in shape_override]))
    scope.values[ref] = scope.graph.add_input(t, tensor_name(*split_ref(ref)))


def _in_loop_frames(ns: Namespace) -> set:
    """Nodes inside TF1 loop frames (reachable from an Enter before an Exit)."""
    todo = [n for n in ns.order if ns.op(n) in ("Enter", "RefEnter")]
    seen = set(todo)
    while todo:
        n = todo.pop()
        for u in ns.users(n):
            if u not in seen and ns.op(u) not in ("Exit", "RefExit"):
                seen.add(u)
                todo.append(u)
    return seen


def _default_outputs(scope: Scope) -> List[str]:
    ns = scope.ns
    consumed = {split_ref(r)[0] for n in ns.order for r in ns.inputs(n)[0]} | ns.control_consumers()
    in_loops = _in_loop_frames(ns)
    refs = []
    for name in ns.order:
        if name in consumed or name in in_loops or ns.op(name) in _NOT_OUTPUTS or _is_call_plumbing(ns, name):
            continue
        scope.resolve(f"{name}:0")
        i = 0
        while f"{name}:{i}" in scope.values:
            if isinstance(scope.values[f"{name}:{i}"], Value):
                refs.append(f"{name}:{i}")
            i += 1
    return refs


def _is_call_plumbing(ns: Namespace, name: str) -> bool:
    """TF2 puts an Identity (``<loop>/Identity_k``) after every While/If output; unused ones are
    not model outputs. A function's own result read from a loop (Keras's final LSTM state,
    ``Identity_1``) is one."""
    data = ns.inputs(name)[0]
    if ns.op(name) != "Identity" or len(data) != 1:
        return False
    source = split_ref(data[0])[0]
    return ns.op(source) in ("While", "StatelessWhile", "If", "StatelessIf") and name.startswith(source + "/")


def _name_outputs(scope: Scope, refs: List[str]) -> List[Value]:
    """Graph outputs named after their TF tensors (an identity when the value is already named otherwise)."""
    outs: List[Value] = []
    for ref in refs:
        v = scope.resolve(ref)
        if isinstance(v, TensorArrayHandle) or not isinstance(v, Value):
            raise UserError(f"{scope.ns.at(split_ref(ref)[0])}: a TensorArray handle cannot be a graph output")
        want = tensor_name(*split_ref(ref))
        if v.name != want:
            if v.producer is None or any(o is v for o in outs):
                scope.builder.meta = {"source": split_ref(ref)[0]}
                v = scope.builder.op("core.identity", [v], name=want)
            else:
                v.name = want
        outs.append(v)
    return outs
