"""ONNX ``If``, ``Loop`` and ``Scan`` as the IR's region forms (``core.if``, ``core.while``).

Regions are isolated from above, so the outer values a subgraph reads (ONNX
lets bodies read any enclosing value) become operands: ``If`` passes them to
both branches; ``Loop`` and ``Scan`` carry them through the loop unchanged, as
the TF frontend carries loop invariants. ``Loop`` carries (iteration, cond,
trip count, loop-carried values..., invariants..., scan-output lists...);
its per-iteration outputs are written to tensor lists at the iteration index
and stacked after the loop. ``Scan`` (opset 9+) unstacks each scan input
along its axis (reversed for direction 1) into a tensor list, carries the
states, and stacks its outputs the same way; a static sequence length makes
it a counted loop that ``unroll-loops`` inlines. What the forms cannot express
(Loop scan outputs without a trip count, Scan's opset-8 batch form, unknown
ranks) keeps the node foreign.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np
from litesmith.ir.builder import Builder, RecordingBuilder
from litesmith.ir.dtypes import DType
from litesmith.ir.errors import UserError
from litesmith.ir.graph import Graph, Value
from litesmith.ir.types import TensorType

from .registry import MapContext, OnnxNode, Unsupported

CONTROL_OPS = ("If", "Loop", "Scan")


def lift_control(lifter, proto, node: OnnxNode, inputs: List[Optional[Value]]) -> Optional[List[Value]]:
    """The region form of an If/Loop/Scan node, or None to keep it foreign."""
    where = f"{lifter.where}: node {node.name!r} ({node.op})"
    fn = {"If": _if, "Loop": _loop, "Scan": _scan}[node.op]
    saved = lifter.builder
    recording = lifter.builder = RecordingBuilder(saved)
    try:
        return fn(lifter, node, inputs, where)
    except Unsupported:  # undo what the declined lifting created, newest first
        for n in reversed(recording.created):
            if n.graph is saved.graph:
                saved.graph.remove(n, force=True)
        return None
    finally:
        lifter.builder = saved


def _subgraph(node: OnnxNode, key: str, where: str):
    g = node.attrs.get(key)
    if g is None or not hasattr(g, "proto"):
        raise UserError(f"{where}: attribute {key!r} must be a graph")
    return g.proto


def _captured(lifter, protos, where: str):
    """What the subgraphs read from outside: ([(name, outer value)] to pass in, in a fixed order, and
    {name: array} of the constants among them, which each region gets as its own constant so the
    mappings inside still see them constant (axes, shapes, weights)."""
    from .lift import graph_reads

    names: List[str] = []
    for p in protos:
        names += [n for n in graph_reads(p) if n not in names]
    passed, consts = [], {}
    for n in names:
        v = lifter.outer_value(n, where)
        c = v.const_value()
        if c is not None:
            consts[n] = c
        else:
            passed.append((n, v))
    return passed, consts


def _scalar(ctx: MapContext, v: Value) -> Value:
    if v.rank == 0:
        return v
    if v.shape is None or any(d not in (1,) for d in v.shape):
        raise Unsupported("a condition or trip count that is not one element")
    return ctx.op("core.reshape", [v, ctx.i32(np.zeros(0, np.int64))])


def _region(name: str, types: List[TensorType], names: List[str]) -> Graph:
    g = Graph(name)
    for t, n in zip(types, names):
        g.add_input(t, n)
    return g


# -- If -----------------------------------------------------------------------------------------


def _if(lifter, node, inputs, where):
    then_p, else_p = _subgraph(node, "then_branch", where), _subgraph(node, "else_branch", where)
    ctx = MapContext(lifter.builder)
    cond = _scalar(ctx, inputs[0])
    pred = cond.const_value()
    if pred is not None:  # shape tests of exporters: only the branch taken is lifted (the other may not
        taken = then_p if bool(np.asarray(pred)) else else_p  # even be valid for these shapes)
        captured, consts = _captured(lifter, [taken], where)
        outs = lifter.lift_into(lifter.builder.graph, taken, dict(captured),
                                f"{where} {'then' if taken is then_p else 'else'}_branch", consts)
        return list(outs)
    captured, consts = _captured(lifter, [then_p, else_p], where)
    regions = []
    for key, p in (("then", then_p), ("else", else_p)):
        region = _region(key, [v.type for _, v in captured], [n for n, _ in captured])
        region.outputs = lifter.lift_into(region, p, {n: a for (n, _), a in zip(captured, region.inputs)},
                                          f"{where} {key}_branch", consts)
        regions.append(region)
    if len(regions[0].outputs) != len(regions[1].outputs) or len(regions[0].outputs) < node.num_outputs:
        raise UserError(f"{where}: the branches return different numbers of values")
    out = lifter.builder.create("core.if", [cond] + [v for _, v in captured], {}, regions=regions)
    return list(out.outputs)


# -- Loop ---------------------------------------------------------------------------------------


def _loop(lifter, node, inputs, where):
    body_p = _subgraph(node, "body", where)
    ctx = MapContext(lifter.builder)
    trip, cond0 = (inputs + [None, None])[:2]
    carried0 = [v for v in inputs[2:]]
    if any(v is None for v in carried0):
        raise Unsupported("an empty loop-carried input")
    n_carried = len(carried0)
    if len(body_p.input) != 2 + n_carried or len(body_p.output) < 1 + n_carried:
        raise UserError(f"{where}: the body takes {len(body_p.input)} inputs and returns {len(body_p.output)} "
                        f"outputs; Loop with {n_carried} carried values needs {2 + n_carried} and at least "
                        f"{1 + n_carried}")
    n_scan = len(body_p.output) - 1 - n_carried
    if n_scan and trip is None:
        raise Unsupported("scan outputs without a trip count")
    i64 = TensorType(DType.INT64, ())
    flag = TensorType(DType.BOOL, ())
    trip0 = ctx.op("core.cast", [_scalar(ctx, trip)], {"dtype": DType.INT64}) if trip is not None else \
        ctx.const(np.asarray(np.iinfo(np.int64).max, np.int64))
    c0 = _scalar(ctx, cond0) if cond0 is not None else ctx.const(np.asarray(True))
    captured, consts = _captured(lifter, [body_p], where)
    head = [ctx.const(np.asarray(0, np.int64)), c0, trip0] + carried0 + [v for _, v in captured]

    body = _region("body", [i64, flag, i64] + [v.type for v in carried0] + [v.type for _, v in captured],
                   [""] * (3 + n_carried + len(captured)))
    args = body.inputs
    bindings = {body_p.input[0].name: args[0], body_p.input[1].name: args[1]}
    bindings.update({p.name: a for p, a in zip(body_p.input[2:], args[3:3 + n_carried])})
    bindings.update({n: a for (n, _), a in zip(captured, args[3 + n_carried:])})
    if "" in bindings:
        bindings.pop("")
    outs = lifter.lift_into(body, body_p, bindings, f"{where} body", consts)
    bb = MapContext(Builder(body))
    cond_out = _scalar(bb, outs[0])
    if cond_out.dtype is not DType.BOOL:
        cond_out = bb.op("core.cast", [cond_out], {"dtype": DType.BOOL})
    new_carried = outs[1:1 + n_carried]
    scans = outs[1 + n_carried:]
    lists0 = []
    if n_scan:
        steps = ctx.op("core.cast", [trip0], {"dtype": DType.INT32})  # at most this many iterations
        for s in scans:
            if s.shape is None:
                raise Unsupported("a scan output of unknown rank")
            lists0.append(ctx.op("core.tensor_list_reserve", [steps],
                                 {"element_dtype": s.dtype, "element_shape": tuple(s.shape)}))
    list_args = [body.add_input(v.type, "") for v in lists0]
    index32 = bb.op("core.cast", [args[0]], {"dtype": DType.INT32}) if n_scan else None
    new_lists = [bb.op("core.tensor_list_set_item", [la, index32, s]) for la, s in zip(list_args, scans)]
    one = bb.const(np.asarray(1, np.int64))
    body.outputs = ([bb.op("core.add", [args[0], one]), cond_out, args[2]] + new_carried
                    + list(args[3 + n_carried:3 + n_carried + len(captured)]) + new_lists)

    cond = _region("cond", [v.type for v in body.inputs], [""] * len(body.inputs))
    cb = MapContext(Builder(cond))
    more = cb.op("core.less", [cond.inputs[0], cond.inputs[2]])
    cond.outputs = [cb.op("core.logical_and", [more, cond.inputs[1]])]
    init = head + lists0
    loop = lifter.builder.create("core.while", init, {"max_iterations": 0}, regions=[cond, body],
                                 output_types=[v.type for v in init])
    results = list(loop.outputs)
    finals = results[3:3 + n_carried]
    stacked = [ctx.op("core.tensor_list_stack", [lst], {"element_dtype": lst.type.element.dtype,
                                                        "num_elements": -1})
               for lst in results[3 + n_carried + len(captured):]]
    return finals + stacked


# -- Scan ---------------------------------------------------------------------------------------


def _scan(lifter, node, inputs, where):
    if node.opset < 9:
        raise Unsupported("Scan-8 (batch axis and sequence_lens)")
    body_p = _subgraph(node, "body", where)
    ctx = MapContext(lifter.builder)
    m = node.attr_int("num_scan_inputs")
    if not 0 < m <= len(inputs) or any(v is None for v in inputs):
        raise UserError(f"{where}: num_scan_inputs={m} does not fit its {len(inputs)} inputs")
    n = len(inputs) - m
    states0, xs0 = inputs[:n], inputs[n:]
    k = len(body_p.output) - n
    if len(body_p.input) != n + m or k < 0:
        raise UserError(f"{where}: the body's inputs and outputs do not match {n} states and {m} scan inputs")
    in_axes = node.attr_ints("scan_input_axes", None) or [0] * m
    in_dirs = node.attr_ints("scan_input_directions", None) or [0] * m
    out_axes = node.attr_ints("scan_output_axes", None) or [0] * k
    out_dirs = node.attr_ints("scan_output_directions", None) or [0] * k
    if len(in_axes) != m or len(in_dirs) != m or len(out_axes) != k or len(out_dirs) != k:
        raise UserError(f"{where}: the scan axis/direction attributes do not match the inputs and outputs")
    lists = []
    steps = None
    for x, axis, rev in zip(xs0, in_axes, in_dirs):
        if x.rank is None:
            raise Unsupported("a scan input of unknown rank")
        axis = axis % x.rank
        if axis:
            perm = [axis] + [d for d in range(x.rank) if d != axis]
            x = ctx.transpose(x, perm)
        if rev:
            x = ctx.op("core.reverse", [x], {"axes": [0]})
        steps = steps if steps is not None else x.shape[0]
        lists.append(ctx.op("core.tensor_list_from_tensor", [x], {"element_shape": tuple(x.shape[1:])}))
    captured, consts = _captured(lifter, [body_p], where)
    head = [ctx.const(np.asarray(0, np.int32))] + list(states0) + lists + [v for _, v in captured]
    body = _region("body", [v.type for v in head], [""] * len(head))
    args = body.inputs
    bb = MapContext(Builder(body))
    items = [bb.op("core.tensor_list_get_item", [lst, args[0]], {"element_dtype": lst.type.element.dtype})
             for lst in args[1 + n:1 + n + m]]
    bindings = {p.name: a for p, a in zip(body_p.input, list(args[1:1 + n]) + items)}
    bindings.update({name: a for (name, _), a in zip(captured, args[1 + n + m:])})
    outs = lifter.lift_into(body, body_p, bindings, f"{where} body", consts)
    scans = outs[n:]
    reserves = []
    for s in scans:
        if s.shape is None:
            raise Unsupported("a scan output of unknown rank")
        count = ctx.i32(steps) if steps is not None else \
            ctx.op("core.tensor_list_length", [lists[0]])
        reserves.append(ctx.op("core.tensor_list_reserve", [count],
                               {"element_dtype": s.dtype, "element_shape": tuple(s.shape)}))
    list_args = [body.add_input(v.type, "") for v in reserves]
    written = [bb.op("core.tensor_list_set_item", [la, args[0], s]) for la, s in zip(list_args, scans)]
    body.outputs = ([bb.op("core.add", [args[0], bb.const(np.asarray(1, np.int32))])] + outs[:n]
                    + list(args[1 + n:len(head)]) + written)
    cond = _region("cond", [v.type for v in body.inputs], [""] * len(body.inputs))
    cb = MapContext(Builder(cond))
    cond.outputs = [cb.op("core.less", [cond.inputs[0], cb.op("core.tensor_list_length", [cond.inputs[1 + n]])])]
    init = head + reserves
    loop = lifter.builder.create("core.while", init, {"max_iterations": 0}, regions=[cond, body],
                                 output_types=[v.type for v in init])
    results = list(loop.outputs)
    finals = results[1:1 + n]
    ys = []
    for lst, axis, rev in zip(results[len(head):], out_axes, out_dirs):
        y = ctx.op("core.tensor_list_stack", [lst], {"element_dtype": lst.type.element.dtype,
                                                     "num_elements": -1 if steps is None else steps})
        if rev:
            y = ctx.op("core.reverse", [y], {"axes": [0]})
        axis = axis % y.rank
        if axis:
            perm = list(range(1, axis + 1)) + [0] + list(range(axis + 1, y.rank))
            y = ctx.transpose(y, perm)
        ys.append(y)
    return finals + ys
