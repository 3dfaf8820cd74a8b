"""TF1 control flow rebuilt into the same ``core.while``/``core.if`` form as TF2.

A TF1 loop is a frame: per loop variable ``Enter -> Merge -> Switch`` (``Switch:1``
feeds the body, ``Switch:0`` the ``Exit``), ``NextIteration`` back into the Merge,
and one ``LoopCond``. Constant ``Enter`` nodes (loop invariants) become carried
values passed through unchanged. A ``Merge`` outside a loop is a ``tf.cond``:
its two inputs come from the two sides of ``Switch`` nodes sharing a predicate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Set

import numpy as np
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Value

from .control_v2 import _MAX_WIDENINGS, join_types
from .namespace import split_ref

_ENTER = ("Enter", "RefEnter")
_MERGE = ("Merge", "RefMerge")
_SWITCH = ("Switch", "RefSwitch")
_EXIT = ("Exit", "RefExit")
_NEXT = ("NextIteration", "RefNextIteration")


@dataclass
class _LoopVar:
    enter: str
    merge: str
    switch: str
    exit: Optional[str]
    next_value: str  # the tensor fed to NextIteration


def _node_of(ns, ref: str) -> str:
    return split_ref(ref)[0]


def _frame_of_exit(ns, exit_name: str) -> str:
    switch = _node_of(ns, ns.inputs(exit_name)[0][0])
    merge = _node_of(ns, ns.inputs(switch)[0][0]) if ns.op(switch) in _SWITCH else None
    if merge is None or ns.op(merge) not in _MERGE:
        raise UserError(f"{ns.at(exit_name)}: this Exit is not fed by a loop's Switch and Merge; "
                        "the loop structure is malformed")
    for ref in ns.inputs(merge)[0]:
        n = _node_of(ns, ref)
        if ns.op(n) in _ENTER:
            return str(ns.tf_node(n).attr("frame_name", ""))
    raise UserError(f"{ns.at(exit_name)}: cannot find the loop frame of this Exit")


def _loop_vars(ns, frame: str):
    variables: List[_LoopVar] = []
    invariants: List[str] = []
    loop_cond = None
    for enter in ns.enters(frame):
        if ns.tf_node(enter).attr("is_constant", False):
            invariants.append(enter)
            continue
        merge = next((u for u, _, _ in ns.consumers(enter) if ns.op(u) in _MERGE), None)
        if merge is None:
            raise UserError(f"{ns.at(enter)}: loop Enter without a Merge")
        switch = next((u for u, pos, _ in ns.consumers(merge) if ns.op(u) in _SWITCH and pos == 0), None)
        if switch is None:
            raise UserError(f"{ns.at(merge)}: loop Merge without a Switch")
        exit_ = next((u for u, _, idx in ns.consumers(switch) if ns.op(u) in _EXIT and idx == 0), None)
        nxt = next((_node_of(ns, r) for r in ns.inputs(merge)[0] if ns.op(_node_of(ns, r)) in _NEXT), None)
        if nxt is None:
            raise UserError(f"{ns.at(merge)}: loop Merge without a NextIteration input")
        variables.append(_LoopVar(enter, merge, switch, exit_, ns.inputs(nxt)[0][0]))
        loop_cond = _node_of(ns, ns.inputs(switch)[0][1])
    if loop_cond is None or ns.op(loop_cond) != "LoopCond":
        raise UserError(f"{ns.where}: loop frame {frame!r} has no LoopCond")
    return variables, invariants, loop_cond


def _forward(ns, starts, stop: Set[str]) -> Set[str]:
    """Nodes reachable from ``starts`` through data and control edges, not expanding ``stop``."""
    seen = set(starts)
    todo = list(starts)
    while todo:
        n = todo.pop()
        if n in stop:
            continue
        for u in ns.users(n):
            if u not in seen:
                seen.add(u)
                todo.append(u)
    return seen


def _unify_captures(scopes, base: int) -> List[Value]:
    """Give every region the union of all regions' captures as arguments, in one order."""
    order: List[Value] = []
    for s in scopes:
        for outer, _ in s.captures:
            if not any(o is outer for o in order):
                order.append(outer)
    for s in scopes:
        have = {id(o): i for o, i in s.captures}
        extra = [have.get(id(o)) or s.graph.add_input(o.type, o.name) for o in order]
        s.graph.inputs = s.graph.inputs[:base] + extra
    return order


def lift_loop(scope, exit_name: str) -> None:
    from .scope import Scope

    ns = scope.ns
    frame = _frame_of_exit(ns, exit_name)
    variables, invariants, loop_cond = _loop_vars(ns, frame)
    init = [scope.resolve(ns.inputs(v.enter)[0][0]) for v in variables]
    for v, x in zip(variables, init):
        if not isinstance(x, Value):
            raise UserError(f"{ns.at(v.enter)}: a TensorArray handle as a loop variable is not supported")
    inv_init = {e: scope.resolve(ns.inputs(e)[0][0]) for e in invariants}
    carried_inv = [e for e in invariants if isinstance(inv_init[e], Value)]
    types = [x.type for x in init] + [inv_init[e].type for e in carried_inv]
    exits = {v.exit for v in variables if v.exit}
    nexts = {_node_of(ns, r) for v in variables for r in ns.inputs(v.merge)[0] if ns.op(_node_of(ns, r)) in _NEXT}
    pred_ref = ns.inputs(loop_cond)[0][0]
    for _ in range(_MAX_WIDENINGS + 1):
        regions = []
        for kind in ("cond", "body"):
            bound = [v.merge for v in variables] + ([v.switch for v in variables] if kind == "body" else [])
            inside = _forward(ns, bound + invariants, exits | nexts | {loop_cond})
            s = Scope(scope.lifter, ns, Graph(kind), parent=scope, inside=inside)
            for v, t in zip(variables, types):
                arg = s.graph.add_input(t, v.merge)
                s.values[f"{v.merge}:0"] = arg
                if kind == "body":
                    s.values[f"{v.switch}:1"] = arg
            for e, t in zip(carried_inv, types[len(variables):]):
                s.values[f"{e}:0"] = s.graph.add_input(t, e)
            for e in invariants:
                if e not in carried_inv:
                    s.values[f"{e}:0"] = inv_init[e]
            regions.append(s)
        cond_s, body_s = regions
        pred = cond_s.resolve(pred_ref)
        outs = [body_s.resolve(v.next_value) for v in variables]
        base = len(types)
        captured = _unify_captures(regions, base)
        cond_s.graph.outputs = [_as_bool(cond_s, pred)]
        body_s.graph.outputs = outs + body_s.graph.inputs[len(variables):]
        wider = [join_types(t, o.type) for t, o in zip(types, body_s.graph.outputs)]
        if wider == types:
            break
        types = wider
    node = scope.builder.create("core.while", init + [inv_init[e] for e in carried_inv] + captured, {},
                                regions=[cond_s.graph, body_s.graph])
    for i, v in enumerate(variables):
        if v.exit:
            scope.bind(v.exit, [node.outputs[i]])


def _as_bool(s, v: Value) -> Value:
    if not isinstance(v, Value):
        raise UserError(f"{s.ns.where}: a loop condition is not a tensor")
    if v.dtype is DType.BOOL:
        return v
    return s.builder.op("core.not_equal", [v, s.builder.const(np.zeros((), v.dtype.np))])


def canonical_pred(ns, ref: str) -> str:
    """A Switch predicate with Identity wrappers (tf.cond's ``pred_id``) stripped."""
    seen = 0
    while ns.op(split_ref(ref)[0]) == "Identity" and seen < 64:
        ref = ns.inputs(split_ref(ref)[0])[0][0]
        seen += 1
    return ref


def _first_switches(ns, ref: str) -> Dict[str, Set[int]]:
    """Predicate ref -> Switch output indices met walking up from ``ref`` (not past a Switch)."""
    found: Dict[str, Set[int]] = {}
    seen: Set[str] = set()
    todo = [ref]
    while todo:
        r = todo.pop()
        n, idx = split_ref(r)
        if n in ns.args:
            continue
        if ns.op(n) in _SWITCH:
            if ":" in r:
                found.setdefault(canonical_pred(ns, ns.inputs(n)[0][1]), set()).add(idx)
            continue
        if n in seen:
            continue
        seen.add(n)
        data, control = ns.inputs(n)
        todo.extend(data)
        todo.extend(control)  # a bare name: reaching a Switch this way says nothing about the branch
    return found


def lift_cond(scope, merge: str) -> None:
    from .scope import Scope

    ns = scope.ns
    data = ns.inputs(merge)[0]
    if any(ns.op(_node_of(ns, r)) in _ENTER + _NEXT for r in data):
        raise UserError(f"{ns.at(merge)}: a loop Merge is used outside its loop")
    if len(data) != 2:
        raise UserError(f"{ns.at(merge)}: a tf.cond Merge must have two inputs, it has {len(data)}")
    sides = [_first_switches(ns, r) for r in data]
    preds = [p for p in sides[0] if p in sides[1] and {frozenset(sides[0][p]), frozenset(sides[1][p])}
             == {frozenset({0}), frozenset({1})}]
    if len(preds) != 1:
        raise UserError(f"{ns.at(merge)}: cannot match this Merge to the Switch nodes of a tf.cond")
    pred_ref = preds[0]
    then_ref, else_ref = (data[0], data[1]) if sides[0][pred_ref] == {1} else (data[1], data[0])
    pred = scope.resolve(pred_ref)
    if not isinstance(pred, Value):
        raise UserError(f"{ns.at(merge)}: the tf.cond predicate is not a tensor")
    pred = _as_bool(scope, pred)
    switches = [n for n in ns.order if ns.op(n) in _SWITCH and len(ns.inputs(n)[0]) == 2
                and canonical_pred(ns, ns.inputs(n)[0][1]) == pred_ref]
    inside = _forward(ns, switches, {merge})
    branches = []
    for name, idx, ref in (("then", 1, then_ref), ("else", 0, else_ref)):
        s = Scope(scope.lifter, ns, Graph(name), parent=scope, inside=inside, switch_pred=(pred_ref, idx))
        out = s.resolve(ref)
        if not isinstance(out, Value):
            raise UserError(f"{ns.at(merge)}: a tf.cond branch returns a TensorArray handle; not supported")
        s.graph.outputs = [out]
        branches.append(s)
    captured = _unify_captures(branches, 0)
    scope.builder.meta = {"source": merge}
    node = scope.builder.create("core.if", [pred] + captured, {}, regions=[b.graph for b in branches])
    scope.bind(merge, [node.outputs[0]])
