"""A set of TF nodes that refer to each other by name: the main graph or one function body.

It normalizes tensor references to ``"node:index"`` (function bodies spell them
``"node:out_arg:index"``), and indexes consumers and TF1 loop frames.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from litesmith.ir.errors import UserError

from .convert import node_attrs
from .mapper import TfNode, arity_problem

# Output argument names of multi-output TF ops, so "node:arg:i" resolves to a flat index.
_OUTPUT_ARGS = {
    "FusedBatchNorm": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"],
    "FusedBatchNormV2": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"],
    "FusedBatchNormV3": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2",
                         "reserve_space_3"],
    "TopKV2": ["values", "indices"], "ApproxTopK": ["values", "indices"], "Unique": ["y", "idx"], "Switch": ["output_false", "output_true"],
    "Merge": ["output", "value_index"], "TensorListPopBack": ["output_handle", "tensor"],
    "TensorArrayV3": ["handle", "flow"],
}


def split_ref(ref: str) -> Tuple[str, int]:
    """``"a:1"`` -> ("a", 1); ``"a"`` -> ("a", 0)."""
    name, sep, idx = ref.rpartition(":")
    if sep and idx.isdigit():
        return name, int(idx)
    return ref, 0


def tensor_name(name: str, index: int) -> str:
    """The IR value name of a TF tensor: ``name`` for output 0, else ``name:i``."""
    return name if index == 0 else f"{name}:{index}"


class Namespace:
    def __init__(self, nodes, where: str, function=None, library=None):
        self.where = where  # "model.pb" or "model.pb: function 'body'"
        self.function = function
        self.library = library or {}
        self.nodes: Dict[str, object] = {}
        self.order: List[str] = []
        for n in nodes:
            if n.name in self.nodes:
                raise UserError(f"{where}: two nodes are named {n.name!r}")
            self.nodes[n.name] = n
            self.order.append(n.name)
        self.args: Dict[str, int] = {}
        if function is not None:
            self.args = {a.name: i for i, a in enumerate(function.signature.input_arg)}
        self._tf: Dict[str, TfNode] = {}
        self._inputs: Dict[str, Tuple[List[str], List[str]]] = {}
        self._consumers: Optional[Dict[str, List[Tuple[str, int, int]]]] = None
        self._enters: Optional[Dict[str, List[str]]] = None
        self._users: Optional[Dict[str, List[str]]] = None

    def at(self, name: str) -> str:
        return f"{self.where}: node {name!r}"

    def tf_node(self, name: str) -> TfNode:
        t = self._tf.get(name)
        if t is None:
            n = self.nodes[name]
            t = self._tf[name] = TfNode(name, n.op, node_attrs(n, self.at(name)))
        return t

    def op(self, name: str) -> str:
        """The op type of node ``name``; ``_Arg`` for a function argument (as TF instantiates them)."""
        return "_Arg" if name in self.args and name not in self.nodes else self.nodes[name].op

    def inputs(self, name: str) -> Tuple[List[str], List[str]]:
        """(data refs as "node:i", control-dependency node names) of node ``name``."""
        got = self._inputs.get(name)
        if got is None:
            data, control = [], []
            for ref in self.nodes[name].input:
                if ref.startswith("^"):
                    control.append(self._check(name, ref[1:]))
                else:
                    data.append(self.normalize(name, ref))
            problem = arity_problem(self.nodes[name].op, len(data))
            if problem:
                raise UserError(f"{self.at(name)} {problem}; the file is corrupt or was edited by hand")
            got = self._inputs[name] = (data, control)
        return got

    def _check(self, user: Optional[str], name: str) -> str:
        if name not in self.nodes and name not in self.args:
            who = f"{self.at(user)} ({self.nodes[user].op})" if user else f"{self.where}: a return value"
            raise UserError(f"{who} reads {name!r}, which no node produces")
        return name

    def normalize_ret(self, ref: str) -> str:
        """A function's ``ret`` entry as "node:i"."""
        return self.normalize(None, ref)

    def users(self, name: str) -> List[str]:
        """Nodes reading ``name`` through a data or control edge."""
        if self._users is None:
            table: Dict[str, List[str]] = {}
            for user in self.order:
                data, control = self.inputs(user)
                for src in [split_ref(r)[0] for r in data] + control:
                    table.setdefault(src, []).append(user)
            self._users = table
        return self._users.get(name, [])

    def normalize(self, user: Optional[str], ref: str) -> str:
        parts = ref.split(":")
        if self.function is not None and len(parts) == 3:
            node, arg, idx = parts
            self._check(user, node)
            if node not in self.nodes or not idx.isdigit():  # "arg:out:0" of a function argument
                who = f"{self.at(user)} ({self.nodes[user].op})" if user else f"{self.where}: a return value"
                raise UserError(f"{who} reads {ref!r}, which is not a node output of the form node:arg:index")
            return f"{node}:{self._flat_index(node, arg, int(idx))}"
        if self.function is not None and len(parts) == 1 and ref in self.args:
            return f"{ref}:0"
        name, idx = split_ref(ref)
        self._check(user, name)
        return f"{name}:{idx}"

    def _flat_index(self, node: str, arg: str, idx: int) -> int:
        op = self.nodes[node].op
        names = _OUTPUT_ARGS.get(op)
        if names is None and op in self.library:
            names = [a.name for a in self.library[op].signature.output_arg]
        if names and arg in names:
            return names.index(arg) + idx
        return idx

    def consumers(self, name: str) -> List[Tuple[str, int, int]]:
        """(consumer, input position, output index read) for each data use of node ``name``."""
        if self._consumers is None:
            table: Dict[str, List[Tuple[str, int, int]]] = {}
            for user in self.order:
                for pos, ref in enumerate(self.inputs(user)[0]):
                    src, idx = split_ref(ref)
                    table.setdefault(src, []).append((user, pos, idx))
            self._consumers = table
        return self._consumers.get(name, [])

    def control_consumers(self) -> set:
        return {c for user in self.order for c in self.inputs(user)[1]}

    def enters(self, frame: str) -> List[str]:
        """Enter nodes of the TF1 loop frame ``frame``, in graph order."""
        if self._enters is None:
            table: Dict[str, List[str]] = {}
            for n in self.order:
                if self.nodes[n].op in ("Enter", "RefEnter"):
                    table.setdefault(str(self.tf_node(n).attr("frame_name", "")), []).append(n)
            self._enters = table
        return self._enters.get(frame, [])
