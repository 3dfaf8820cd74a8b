"""Demand-driven lifting of TF nodes into one IR graph or region.

A ``Scope`` maps TF tensor references ("node:i") to IR values. Asking for a
tensor lifts its producer and, first, everything that producer needs, with
an explicit stack (deep graphs do not hit Python's recursion limit); a cycle
met outside a loop frame is a ``UserError``. Region scopes (loop bodies, cond
branches) lift the nodes that depend on their boundary and capture anything
else from the enclosing scope as an extra region argument (constants are
copied in instead, sharing the same array).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, IRError, Value
from litesmith.ir.registry import InferError
from litesmith.ir.types import TensorType, refine_shape, shapes_compatible

from .convert import UnsupportedDType
from .mapper import BadAttr, TfNode, map_node
from .namespace import Namespace, split_ref, tensor_name
from .ops_lists import TensorArrayHandle

_LOOP_OPS = {"Enter", "RefEnter", "Switch", "RefSwitch", "NextIteration", "RefNextIteration", "LoopCond"}
_CALL_OPS = {"While", "StatelessWhile", "If", "StatelessIf", "PartitionedCall", "StatefulPartitionedCall"}
# TF1 TensorArray ops (input 0 is the handle) and the ops that pass a handle through unchanged.
_HANDLE_OPS = {"TensorArrayScatterV3", "TensorArrayWriteV3", "TensorArrayReadV3", "TensorArrayGatherV3",
               "TensorArraySizeV3", "TensorArrayCloseV3"}
_PASS_OPS = {"Identity", "IdentityN", "StopGradient", "Snapshot"}
# Attributes that name a foreign node's output dtype(s), most specific first.
_DTYPE_ATTRS = ("Tout", "output_types", "out_type", "DstT", "dtype", "output_type", "element_dtype", "T")


class Scope:
    def __init__(self, lifter, ns: Namespace, graph: Graph, parent: Optional["Scope"] = None,
                 inside: Optional[Set[str]] = None, switch_pred: Optional[Tuple[str, int]] = None):
        self.lifter = lifter
        self.ns = ns
        self.graph = graph
        self.builder = Builder(graph)
        self.parent = parent
        self.values: Dict[str, Any] = {}  # "node:i" -> Value or TensorArrayHandle
        self.lifted: Set[str] = set()
        # Region scopes: the TF nodes that belong here; others are captured from ``parent``.
        self.inside = inside
        # Cond branch scopes: (predicate ref, branch index) of the Switch nodes that feed the branch.
        self.switch_pred = switch_pred
        self.captures: List[Tuple[Value, Value]] = []

    # -- resolving tensors ---------------------------------------------------------
    def resolve(self, ref: str) -> Any:
        got = self.values.get(ref)
        if got is not None:
            return got
        name, idx = split_ref(ref)
        if name in self.ns.args and name not in self.ns.nodes:
            raise UserError(f"{self.ns.where}: function argument {name!r} has one output, the body reads {ref!r}")
        if name not in self.lifted:
            if self._is_branch_switch(name):
                return self._bind_switch(name, idx)
            if self._is_outer(name):
                return self._capture(ref)
            self._lift_from(name)
        got = self.values.get(ref)
        if got is None:
            raise UserError(f"{self.ns.at(name)} ({self.ns.op(name)}) has no output {idx} that litesmith can use")
        return got

    def bind(self, name: str, values: List[Any]) -> None:
        """Record the IR values of TF node ``name``'s outputs, naming fresh ones after the tensors."""
        for i, v in enumerate(values):
            if isinstance(v, Value) and not v.name:
                v.name = tensor_name(name, i)
            self.values[f"{name}:{i}"] = v
        self.lifted.add(name)

    def _is_outer(self, name: str) -> bool:
        if self.inside is None or name in self.inside:
            return False
        n = self.ns.nodes[name]
        return not (n.op == "Const" and not any(not r.startswith("^") for r in n.input))

    def _capture(self, ref: str) -> Any:
        outer = self.parent.resolve(ref)
        if not isinstance(outer, Value):  # TensorArray handles carry no data
            self.values[ref] = outer
            return outer
        c = outer.const_value()
        if c is not None:
            inner = self.builder.op("core.const", [], {"value": c}, name=outer.name)
        else:
            inner = next((i for o, i in self.captures if o is outer), None)
            if inner is None:
                inner = self.graph.add_input(outer.type, outer.name)
                self.captures.append((outer, inner))
        self.values[ref] = inner
        return inner

    def _is_branch_switch(self, name: str) -> bool:
        if self.switch_pred is None or self.ns.op(name) not in ("Switch", "RefSwitch"):
            return False
        from .control_v1 import canonical_pred

        return canonical_pred(self.ns, self.ns.inputs(name)[0][1]) == self.switch_pred[0]

    def _bind_switch(self, name: str, idx: int) -> Any:
        if idx != self.switch_pred[1]:
            raise UserError(f"{self.ns.at(name)}: a tf.cond branch reads the other branch's Switch output")
        v = self._capture(self.ns.inputs(name)[0][0])
        self.values[f"{name}:{idx}"] = v
        return v

    # -- lifting -----------------------------------------------------------------------
    def _deps(self, name: str) -> List[str]:
        """Nodes to lift before ``name`` in this scope (control-flow nodes resolve their own)."""
        op = self.ns.op(name)
        if op in ("Exit", "RefExit", "Merge", "RefMerge") or op in _LOOP_OPS:
            return []
        out = []
        for ref in self.ns.inputs(name)[0]:
            dep = split_ref(ref)[0]
            if ref in self.values or dep in self.lifted or dep in self.ns.args:
                continue
            if self._is_branch_switch(dep) or self._is_outer(dep):
                continue
            out.append(dep)
        return out

    def _lift_from(self, root: str) -> None:
        stack: List[Tuple[str, bool]] = [(root, False)]
        gray: Set[str] = set()
        while stack:
            name, expanded = stack.pop()
            if name in self.lifted:
                continue
            if expanded:
                gray.discard(name)
                self._lift_one(name)
                continue
            if name in gray:
                raise UserError(f"{self.ns.at(name)} ({self.ns.op(name)}) is part of a cycle outside a loop frame; "
                                "the graph is malformed")
            gray.add(name)
            stack.append((name, True))
            for dep in reversed(self._deps(name)):
                if dep in gray:
                    raise UserError(f"{self.ns.at(dep)} ({self.ns.op(dep)}) is part of a cycle outside a loop "
                                    "frame; the graph is malformed")
                stack.append((dep, False))

    def _lift_one(self, name: str) -> None:
        op = self.ns.op(name)
        key = (id(self.ns), name)
        if key in self.lifter.active:  # reached again through a loop, branch or call it is part of
            raise UserError(f"{self.ns.at(name)} ({op}) depends on itself through control flow or a function call; "
                            "the graph is malformed")
        self.lifter.active.add(key)
        self.builder.meta = {"source": name}
        try:
            if op == "Const":
                value = self.ns.tf_node(name).attrs.get("value")
                if not isinstance(value, np.ndarray):
                    raise UserError(f"{self.ns.at(name)} (Const) has no tensor attribute 'value'; the file is corrupt")
                self.bind(name, [self.builder.op("core.const", [], {"value": value})])
            elif op in ("Placeholder", "PlaceholderV2"):
                raise UserError(f"{self.ns.at(name)} is a Placeholder but not a graph input; "
                                "add it to the inputs or cut the graph below it")
            elif op in ("Exit", "RefExit"):
                from . import control_v1

                control_v1.lift_loop(self, name)
            elif op in ("Merge", "RefMerge"):
                from . import control_v1

                control_v1.lift_cond(self, name)
            elif op in _LOOP_OPS:
                raise UserError(f"{self.ns.at(name)} ({op}) is used outside the loop it belongs to; "
                                "litesmith cannot lift this control-flow structure")
            elif op in _CALL_OPS or op in self.ns.library:
                from . import control_v2

                self.bind(name, control_v2.lift_call(self, name))
            else:
                self._lift_plain(name)
        except (InferError, IRError, BadAttr) as e:
            raise UserError(f"{self.ns.at(name)} ({op}): {e}") from None
        finally:
            self.lifter.active.discard(key)

    def _lift_plain(self, name: str) -> None:
        tf = self.ns.tf_node(name)
        inputs = [self.resolve(r) for r in self.ns.inputs(name)[0]]
        for pos, v in enumerate(inputs):
            wants_handle = pos == 0 and tf.op in _HANDLE_OPS
            if isinstance(v, TensorArrayHandle) != wants_handle and not (wants_handle is False and tf.op in _PASS_OPS):
                what = "a TensorArray handle" if wants_handle else "a tensor"
                raise UserError(f"{self.ns.at(name)} ({tf.op}) input {pos} must be {what}; the graph is malformed")
        outs = map_node(self.builder, tf, inputs)
        if outs is None:
            outs = self._foreign(name, tf, inputs)
        elif not self.lifter.shapes_overridden:
            self._refine(tf, outs)
        self.bind(name, outs)

    def _refine(self, tf: TfNode, outs: List[Any]) -> None:
        """Use TF's recorded ``_output_shapes`` where inference left dims unknown."""
        shapes = tf.attrs.get("_output_shapes")
        if not isinstance(shapes, list):
            return
        for v, s in zip(outs, shapes):
            if isinstance(v, Value) and not v.type.is_list and isinstance(s, tuple) and v.producer is not None \
                    and v.producer.graph is self.graph and shapes_compatible(v.shape, s):
                v.set_type(v.type.with_shape(refine_shape(v.shape, s)))

    def _foreign(self, name: str, tf: TfNode, inputs: List[Any]) -> List[Value]:
        """Keep an unmapped node as ``tf.<Op>`` with all its attributes, never dropping it."""
        for v in inputs:
            if isinstance(v, TensorArrayHandle):
                raise UserError(f"{self.ns.at(name)} ({tf.op}) uses a TensorArray in a way litesmith cannot lift")
        shapes = tf.attrs.get("_output_shapes") if not self.lifter.shapes_overridden else None
        used = [idx for _, _, idx in self.ns.consumers(name)]
        count = max([len(shapes) if isinstance(shapes, list) else 0, 1] + [i + 1 for i in used])
        types = []
        for i in range(count):
            dtype = self._foreign_dtype(name, tf, i)
            shape = shapes[i] if isinstance(shapes, list) and i < len(shapes) else None
            shape = shape if isinstance(shape, tuple) else None
            types.append(TensorType.list_of(TensorType(DType.FLOAT32, None)) if dtype is DType.VARIANT
                         else TensorType(dtype, shape))
        node = self.builder.create(f"tf.{tf.op}", inputs, dict(tf.attrs), output_types=types)
        return list(node.outputs)

    def _foreign_dtype(self, name: str, tf: TfNode, i: int) -> DType:
        for key in _DTYPE_ATTRS:
            v = tf.attrs.get(key)
            if isinstance(v, list) and v:
                v = v[i] if i < len(v) else None
            if isinstance(v, DType):
                return v
            if isinstance(v, str) and v.startswith("DT_"):
                raise UnsupportedDType(f"{self.ns.at(name)} ({tf.op}) produces {v}, which litesmith does not "
                                       "support; freeze the graph (convert variables to constants) first")
        return DType.FLOAT32
