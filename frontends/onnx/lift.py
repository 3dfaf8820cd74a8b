"""Lift an ONNX ModelProto into an IR ``Graph``.

Inputs default to the graph inputs that are not initializers, outputs to the
graph outputs; both can be chosen by name (an inner value as input cuts the
graph there) and input shapes overridden, before ONNX's shape inference runs,
so the shapes it records for unmapped ops agree with the override.
Initializers (and ``Constant`` nodes) become ``core.const``. Nodes are lifted
in a topological order (files that list them out of order still load; a cycle
is an error), only those the outputs need.
"""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Sequence

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, IRError, Value
from litesmith.ir.io_override import override_io
from litesmith.ir.registry import InferError
from litesmith.ir.types import TensorType, refine_shape, shapes_compatible

from .control import CONTROL_OPS, lift_control
from .reader import Source, infer_shapes, opset_of, read_model
from .registry import BadAttr, BadNode, OnnxNode, arity_problem, load_mappings, map_node, missing_required
from .tensors import UnsupportedDType, ir_attrs, node_attrs, tensor_to_numpy, to_dtype, value_type

LAYOUT_META = "litesmith.layout"  # "nchw": the default pipeline runs nchw-to-nhwc first
_DOMAINS = ("", "ai.onnx")


def load_onnx(source: Source, *, inputs: Optional[Sequence[str]] = None, outputs: Optional[Sequence[str]] = None,
              input_shapes: Optional[Mapping[str, Sequence[Optional[int]]]] = None,
              base_dir: Optional[str] = None) -> Graph:
    """Read ``source`` (a path or the model's bytes) and lift it; see the module docstring."""
    load_mappings()
    model, where = read_model(source, base_dir)
    opset = opset_of(model, where)
    shapes = dict(input_shapes or {})
    g = model.graph
    init_names = {t.name for t in g.initializer}
    real_inputs = [v for v in g.input if v.name not in init_names]
    for v in real_inputs:  # overrides of true graph inputs go into the proto, before shape inference
        dims = shapes.pop(v.name, None)
        if dims is not None:
            _set_dims(v, dims, where)
    model = infer_shapes(model, where)
    name = os.path.splitext(os.path.basename(where))[0] if not where.startswith("<") else "main"
    lifter = _Lifter(model, where, opset, shapes_given=bool(input_shapes))
    graph = lifter.lift(name or "main", real_inputs, inputs, outputs)
    graph.meta[LAYOUT_META] = "nchw"
    if inputs is not None or shapes:
        override_io(graph, inputs=list(inputs) if inputs is not None else None, input_shapes=shapes or None)
    return graph


def _set_dims(vi, dims, where: str) -> None:
    tt = vi.type.tensor_type
    tt.ClearField("shape")
    shape = tt.shape
    shape.SetInParent()
    for d in dims:
        entry = shape.dim.add()
        if d is None or d == -1:
            entry.dim_param = "?"
        else:
            entry.dim_value = int(d)


class _Lifter:
    def __init__(self, model, where: str, opset: int, shapes_given: bool):
        self.model = model
        self.where = where
        self.opset = opset
        self.shapes_given = shapes_given
        g = model.graph
        self.value_info = {vi.name: vi for vi in list(g.value_info) + list(g.output)}
        self.producers: Dict[str, int] = {}
        for i, node in enumerate(g.node):
            for o in node.output:
                if o:
                    if o in self.producers:
                        raise UserError(f"{where}: value {o!r} is produced by two nodes")
                    self.producers[o] = i
        self.values: Dict[str, Value] = {}

    def at(self, i: int) -> str:
        n = self.model.graph.node[i]
        return f"{self.where}: node {n.name or (n.output[0] if len(n.output) else i)!r} ({n.op_type})"

    def lift(self, name: str, real_inputs, inputs, outputs) -> Graph:
        g = self.model.graph
        graph = Graph(name)
        self.builder = Builder(graph)
        for vi in real_inputs:
            if vi.name in self.values:
                raise UserError(f"{self.where}: graph input {vi.name!r} is listed twice")
            self.values[vi.name] = graph.add_input(self._input_type(vi), vi.name)
        for t in g.initializer:
            if t.name in self.values:
                raise UserError(f"{self.where}: initializer {t.name!r} has the name of a graph input")
            arr = tensor_to_numpy(t, f"{self.where}: initializer {t.name!r}")
            self.values[t.name] = self._const(arr, t.name)
        if outputs is None:
            out_names = [o.name for o in g.output]
        else:
            out_names = list(outputs)
        cut = set(inputs or ()) - set(self.values)
        for n in out_names:
            if n not in self.values and n not in self.producers:
                raise UserError(_unknown(self.where, "output", n, list(self.producers) + list(self.values)))
        for i in self._order(out_names, cut):
            self._lift_node(i, cut)
        graph.outputs = self._name_outputs(out_names)
        if not graph.outputs:
            raise UserError(f"{self.where}: the graph has no outputs; name them with outputs=[...] (--outputs)")
        return graph

    def lift_into(self, region: Graph, graph_proto, bindings: Dict[str, Value], where: str,
                  constants: Optional[Mapping[str, object]] = None) -> List[Value]:
        """Lift the subgraph ``graph_proto`` into ``region`` (at its end), its inputs and the outer values it
        reads bound by name to ``bindings`` (values of ``region``) or to ``constants`` (arrays, made
        constants of the region); return its outputs' values."""
        sub = _Lifter(_Scope(graph_proto), where, self.opset, self.shapes_given)
        sub.builder = Builder(region)
        sub.values.update(bindings)
        for name, arr in (constants or {}).items():
            sub.values[name] = sub._const(arr, name)
        for t in graph_proto.initializer:
            sub.values[t.name] = sub._const(tensor_to_numpy(t, f"{where}: initializer {t.name!r}"), t.name)
        names = [o.name for o in graph_proto.output]
        for i in sub._order(names, set()):
            sub._lift_node(i, set())
        missing = [n for n in names if n not in sub.values]
        if missing:
            raise UserError(f"{where}: output {missing[0]!r} is not produced")
        return [sub.values[n] for n in names]

    def outer_value(self, name: str, where: str) -> Value:
        v = self.values.get(name)
        if v is None:
            raise UserError(f"{where} reads {name!r}, which no node, input or initializer produces")
        return v

    def _input_type(self, vi) -> TensorType:
        t = value_type(vi.type, f"{self.where}: graph input {vi.name!r}")
        return t

    def _const(self, arr, name: str) -> Value:
        self.builder.meta = {"source": name}
        return self.builder.op("core.const", [], {"value": arr}, name=name)

    def _order(self, out_names: List[str], cut: set) -> List[int]:
        """Indices of the nodes the outputs need, producers first; a cycle is an error."""
        nodes = self.model.graph.node
        order: List[int] = []
        state: Dict[int, int] = {}
        for root in out_names:
            if root in self.values or root in cut or root not in self.producers:
                continue
            start = self.producers[root]
            if state.get(start) == 2:
                continue
            stack = [(start, 0)]
            state[start] = 1
            while stack:
                i, k = stack[-1]
                deps = self._deps(nodes[i], cut)
                if k < len(deps):
                    stack[-1] = (i, k + 1)
                    j = deps[k]
                    s = state.get(j)
                    if s is None:
                        state[j] = 1
                        stack.append((j, 0))
                    elif s == 1:
                        raise UserError(f"{self.at(j)} is part of a cycle; the graph is malformed")
                    continue
                stack.pop()
                state[i] = 2
                order.append(i)
        return order

    def _deps(self, node, cut: set) -> List[int]:
        out = []
        for name in list(node.input) + _subgraph_reads(node):
            if name and name not in self.values and name not in cut and name in self.producers:
                out.append(self.producers[name])
        return out

    def _resolve(self, name: str, i: int, cut: set) -> Value:
        v = self.values.get(name)
        if v is None and name in cut:
            v = self._cut_input(name)
        if v is None:
            raise UserError(f"{self.at(i)} reads {name!r}, which no node, input or initializer produces")
        return v

    def _cut_input(self, name: str) -> Value:
        """An inner value named in ``inputs``: a graph input of the type shape inference gives it."""
        vi = self.value_info.get(name)
        if name not in self.producers:
            raise UserError(_unknown(self.where, "input", name, list(self.producers) + list(self.values)))
        if vi is None:
            raise UserError(f"{self.where}: the type of {name!r} is unknown; give its shape with "
                            "input_shapes (--input-shape) or choose another input")
        v = self.values[name] = self.builder.graph.add_input(value_type(vi.type, f"{self.where}: {name!r}"), name)
        return v

    def _lift_node(self, i: int, cut: set) -> None:
        proto = self.model.graph.node[i]
        where = self.at(i)
        if proto.domain not in _DOMAINS and proto.domain != "ai.onnx.ml":
            op_key = None
        else:
            op_key = proto.op_type if proto.domain in _DOMAINS else None
        try:
            attrs = node_attrs(proto, where)
            node = OnnxNode(proto.name or proto.output[0] if len(proto.output) else proto.name, proto.op_type,
                            self.opset, attrs, num_outputs=len(proto.output))
            inputs = [self._resolve(n, i, cut) if n else None for n in proto.input]
            self.builder.meta = {"source": node.name} if node.name else {}
            outs = None
            if op_key is not None:
                problem = arity_problem(op_key, len(inputs))
                if problem:
                    raise UserError(f"{where} {problem}; the file is corrupt or was edited by hand")
                empty = missing_required(op_key, inputs)
                if empty is not None:
                    raise UserError(f"{where}: required input {empty} is empty; the file is corrupt")
                outs = lift_control(self, proto, node, inputs) if proto.op_type in CONTROL_OPS else \
                    map_node(self.builder, node, inputs)
            if outs is None:
                outs = self._foreign(proto, node, inputs)
            else:
                self._check_outputs(proto, outs, where)
                if not self.shapes_given:
                    self._refine(proto, outs)
        except (InferError, IRError, BadAttr, BadNode) as e:
            raise UserError(f"{where}: {e}") from None
        except UnsupportedDType as e:
            raise UserError(f"{where}: {e}") from None
        for name, v in zip(proto.output, outs):
            if name:
                if not v.name:
                    v.name = name
                self.values[name] = v

    def _check_outputs(self, proto, outs: List[Value], where: str) -> None:
        used = [k for k, n in enumerate(proto.output) if n]
        if used and max(used) >= len(outs):
            raise UserError(f"{where}: output {max(used)} ({proto.output[max(used)]!r}) is not supported by "
                            "litesmith's mapping of this op")

    def _refine(self, proto, outs: List[Value]) -> None:
        """Use ONNX's inferred shapes where the registry's inference left dims unknown."""
        for name, v in zip(proto.output, outs):
            vi = self.value_info.get(name)
            if vi is None or v.producer is None or v.type.is_list:
                continue
            try:
                t = value_type(vi.type, name)
            except UserError:
                continue
            if t.shape is not None and t.dtype is v.dtype and shapes_compatible(v.shape, t.shape):
                v.set_type(v.type.with_shape(refine_shape(v.shape, t.shape)))

    def _foreign(self, proto, node: OnnxNode, inputs: List[Optional[Value]]) -> List[Value]:
        """Keep an unmapped node as ``onnx.<Op>`` (``onnx.<domain>.<Op>`` off the default domain)."""
        types = []
        for name in proto.output:
            vi = self.value_info.get(name) if name else None
            if vi is not None:
                kind = vi.type.WhichOneof("value")
                if kind == "tensor_type":
                    types.append(TensorType(to_dtype(vi.type.tensor_type.elem_type, f"{self.where}: value {name!r}")
                                            if vi.type.tensor_type.elem_type else DType.FLOAT32,
                                            value_type(vi.type, name).shape if vi.type.tensor_type.elem_type
                                            else None))
                    continue
            types.append(TensorType(DType.FLOAT32, None))
        present = [v for v in inputs if v is not None]
        attrs = ir_attrs(node.attrs)
        if len(present) != len(inputs):
            attrs["onnx_inputs"] = [int(v is not None) for v in inputs]  # which optional inputs were given
        if not isinstance(proto.domain, str) or not isinstance(proto.op_type, str):  # not UTF-8 (a fuzzing finding)
            raise UserError(f"{self.where}: a node's op type or domain is not UTF-8 text; the file is corrupt")
        domain = proto.domain if proto.domain not in _DOMAINS else ""
        op = f"onnx.{domain + '.' if domain else ''}{proto.op_type}"
        created = self.builder.create(op, present, attrs, output_types=types)
        return list(created.outputs)

    def _name_outputs(self, names: List[str]) -> List[Value]:
        """Graph outputs named after their ONNX values (an identity where a value is named otherwise)."""
        outs: List[Value] = []
        for n in names:
            v = self.values.get(n)
            if v is None:
                raise UserError(f"{self.where}: output {n!r} is not produced (is it cut off by the chosen inputs?)")
            if v.name != n or any(o is v for o in outs):
                self.builder.meta = {"source": n}
                v = self.builder.op("core.identity", [v], name=n)
            outs.append(v)
        return outs


def _subgraph_reads(node) -> List[str]:
    """Outer values a node's subgraphs (If/Loop/Scan bodies) read: dependencies of the node too."""
    names: List[str] = []
    for a in node.attribute:
        for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
            names += graph_reads(g)
    return names


def graph_reads(g) -> List[str]:
    """Values a subgraph reads from its enclosing scopes (nested subgraphs included), in first-read order."""
    local = {v.name for v in g.input} | {t.name for t in g.initializer}
    for n in g.node:
        local.update(n.output)
    names: List[str] = []
    for n in g.node:
        names += [x for x in list(n.input) + _subgraph_reads(n) if x and x not in local and x not in names]
    names += [o.name for o in g.output if o.name not in local and o.name not in names]
    return names


class _Scope:
    """A subgraph seen as the model the lifter reads (``model.graph``)."""

    def __init__(self, graph_proto):
        self.graph = graph_proto


def _unknown(where: str, role: str, name: str, known: List[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"{where}: no value named {name!r} for {role}{hint}"
