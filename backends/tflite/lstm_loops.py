"""fuse-lstm-loops: a loop whose body is a Keras LSTM cell becomes one UNIDIRECTIONAL_SEQUENCE_LSTM.

TF's converter fuses a Keras LSTM only from the Keras model (the layer's function names itself
through ``api_implements``); a frozen graph keeps just the loop. This pass recognises the cell in
the loop body itself, after ``lower-tensor-lists`` and ``sink-loop-constants`` (so the lists are
tensors and the weights constants of the body):

    x_t = gather(X, t)                               X: the time-major input, loop-invariant
    z   = x_t @ W + h @ U + b                        W [in, 4u], U [u, 4u], b [4u] constants
    i, f, g, o = split(z, 4, axis 1)
    c'  = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h'  = sigmoid(o) * tanh(c')
    out = dynamic_update_slice(out, h'[None], [t, 0, 0]);  t' = t + 1

with zero initial states and a loop that runs exactly len(X) steps (every ``less`` of its
condition compares a counter from 0 by 1 with len(X)). The loop's output list becomes the op's
time-major output and its final h the output's last row; the loop is erased. Keras' transposes
to time-major and back around the loop are absorbed (``time_major=false``) when they are the only
way in and out. Anything else (a
final cell state that is read, other activations, a non-zero initial state, a loop bound other
than the sequence length) stays a WHILE; the report says why, per loop.

The op updates its state inputs in place (variable tensors): each state here is a fresh FILL of
zeros of [batch, units], run before the op at every invoke, so the model stays a pure function of
its inputs (TF's fused model carries the state over to the next invoke) and the batch may be
dynamic (LiteRT prepares the op after the FILL has sized the state).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Node, Value
from litesmith.passes.pass_base import Pass, PassContext
from litesmith.passes.registry import register_pass
from litesmith.passes.rewrite import replace_value

__all__ = ["FuseLstmLoops", "match_lstm_loop"]


@register_pass("fuse-lstm-loops")
@dataclass
class FuseLstmLoops(Pass):
    """Keras LSTM loops (core.while) -> tfl.unidirectional_sequence_lstm; other loops stay.

    Report: ``fused`` (loops fused) and ``kept`` (loop name -> why it stays a loop; only loops
    whose body has a 4-way split of a matmul sum, i.e. that look like an LSTM).
    """

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        fused, kept = 0, {}
        for loop in [n for n in graph if n.op == "core.while"]:
            match = match_lstm_loop(loop)
            if isinstance(match, str):
                if match != NOT_LSTM:
                    kept[loop.name or "while"] = match
                continue
            _fuse(loop, match)
            fused += 1
        ctx.report["fused"] = fused
        if kept:
            ctx.report["kept"] = kept
        return fused > 0


NOT_LSTM = "the body has no LSTM cell"


@dataclass
class LstmMatch:
    x: int  # slot indices
    h: int
    c: int
    out: int
    last_only: bool  # the output list holds only the last h (return_sequences=False)
    kernel: np.ndarray  # [in, 4u]
    recurrent: np.ndarray  # [u, 4u]
    bias: np.ndarray  # [4u]


def _producer(v: Value, op: str) -> Optional[Node]:
    p = v.producer
    return p if p is not None and p.op == op else None


def _operands(node: Optional[Node], op: str):
    return None if node is None or node.op != op else node.inputs


def _pair(v: Value, op: str, first, second):
    """(a, b) of ``op(a, b)`` or ``op(b, a)`` with ``first(a)`` and ``second(b)`` true, else None."""
    ins = _operands(v.producer, op)
    if ins is None or len(ins) != 2:
        return None
    for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
        if first(a) and second(b):
            return a, b
    return None


def _unary(v: Value, op: str) -> Optional[Value]:
    ins = _operands(v.producer, op)
    return None if ins is None else ins[0]


def _const_int(v: Value, want: int) -> bool:
    c = v.const_value()
    return c is not None and c.size == 1 and int(c.reshape(())) == want


def _zeros(v: Value) -> bool:
    c = v.const_value()
    if c is not None:
        return not np.any(c)
    fill = _producer(v, "core.fill")
    return fill is not None and fill.inputs[1].const_value() is not None and not np.any(fill.inputs[1].const_value())


def _is_len_of(v: Value, x: Value) -> bool:
    """``v`` is x.shape[0] (a constant, or strided_slice/gather of shape(x) at 0)."""
    if x.shape is not None and x.shape[0] is not None and _const_int(v, x.shape[0]):
        return True
    src = v.producer
    if src is None or src.op not in ("core.strided_slice", "core.gather") or _producer(src.inputs[0], "core.shape") is None:
        return False
    measured = src.inputs[0].producer.inputs[0]
    while x is not measured and _producer(x, "core.reverse") is not None:  # go_backwards reverses the sequence
        x = x.producer.inputs[0]
    if x is not measured:
        return False
    if src.op == "core.gather":
        return _const_int(src.inputs[1], 0) and src.attrs.get("axis", 0) == 0 and v.rank == 0
    return (src.attrs.get("shrink_axis_mask") == 1 and _const_int(src.inputs[1], 0) and _const_int(src.inputs[2], 1)
            and _const_int(src.inputs[3], 1))


def match_lstm_loop(loop: Node) -> Union[LstmMatch, str]:
    """The LSTM of ``loop`` (a core.while), or why it is not one (NOT_LSTM: no cell at all)."""
    cond, body = loop.regions
    args, rets, inits = body.inputs, body.outputs, loop.inputs
    splits = [n for n in body if n.op == "core.split" and len(n.outputs) == 4]
    if len(splits) != 1:
        return NOT_LSTM
    split = splits[0]
    z = split.inputs[0]
    summed = _pair(z, "core.add", lambda v: _producer(v, "core.add") is not None, lambda v: v.is_const())
    if summed is None or split.attrs.get("axis") not in (1, -1) or z.rank != 2:
        return NOT_LSTM
    mm = _pair(summed[0], "core.add", lambda v: _producer(v, "core.matmul") is not None,
               lambda v: _producer(v, "core.matmul") is not None)
    if mm is None:
        return NOT_LSTM
    # Which matmul reads the input step (gather of an invariant slot at a counter) and which h.
    steps = []
    for a, b in (mm, mm[::-1]):
        xa, ha = a.producer, b.producer
        gather = _producer(xa.inputs[0], "core.gather")
        if gather is not None and gather.inputs[0] in args and gather.inputs[1] in args and ha.inputs[0] in args:
            steps.append((xa, ha, gather))
    if len(steps) != 1:
        return NOT_LSTM
    xmm, hmm, gather = steps[0]
    for m in (xmm, hmm):
        if m.attrs.get("transpose_a") or m.attrs.get("transpose_b") or m.inputs[1].const_value() is None:
            return "a cell matmul is transposed or its weights are not constants"
    if gather.attrs.get("axis", 0) != 0 or gather.attrs.get("batch_dims", 0) != 0:
        return "the input step is not a row of the sequence"
    units = z.shape[1] // 4 if z.shape is not None and z.shape[1] is not None else None
    if units is None or list(split.attrs.get("sizes") or [units] * 4) != [units] * 4:
        return "the gates are not four equal parts of the cell sum"

    def only_use(v: Value, op: str) -> Optional[Value]:
        users = [u.node for u in v.uses()]
        return users[0].output if len(users) == 1 and users[0].op == op else None

    i, f, g, o = (only_use(s, op) for s, op in zip(split.outputs, ("core.sigmoid", "core.sigmoid", "core.tanh", "core.sigmoid")))
    if None in (i, f, g, o):
        return "the gate activations are not Keras' defaults (sigmoid, sigmoid, tanh, sigmoid)"
    h_arg, x_arg, t_arg = hmm.inputs[0], gather.inputs[0], gather.inputs[1]
    slot = {id(a): k for k, a in enumerate(args)}
    h_idx, x_idx, t_idx = slot[id(h_arg)], slot[id(x_arg)], slot[id(t_arg)]
    updates = [(r, _is_cell_update(r, f, i, g, args)) for r in rets]
    updates = [(r, c) for r, c in updates if c is not None]
    if not updates:
        return "no slot carries c' = sigmoid(f) * c + sigmoid(i) * tanh(g)"
    c_new, c_arg = updates[0]
    c_idx = slot[id(c_arg)]
    h_new = rets[h_idx]
    if rets[c_idx] is not c_new or _pair(h_new, "core.mul", lambda v: v is o, lambda v: _unary(v, "core.tanh") is c_new) is None:
        return "the h slot does not carry sigmoid(o) * tanh(c')"
    out = _out_slot(rets, args, h_new, t_arg)
    if out is None:
        return "no slot writes h' into the output list at the step (or into a 1-row list for the last output)"
    out_idx, last_only = out
    if rets[x_idx] is not x_arg or _pair(rets[t_idx], "core.add", lambda v: v is t_arg, lambda v: _const_int(v, 1)) is None:
        return "the sequence is not invariant or the step counter does not count by 1"
    if not (_zeros(inits[h_idx]) and _zeros(inits[c_idx])):
        return "the initial state is not zero"
    why = _runs_len_steps(loop, cond, body, inits[x_idx])
    if why:
        return why
    read = [k for k, r in enumerate(loop.outputs) if k not in (out_idx, h_idx) and (r.has_uses() or r.is_graph_output())]
    if c_idx in read:
        return "the final cell state is read (return_state=True); the fused op outputs only the sequence"
    if read:
        return "a loop counter or the sequence is read after the loop"
    if loop.inputs[x_idx].rank != 3 or loop.inputs[x_idx].dtype != DType.FLOAT32:
        return "the sequence is not a float32 [time, batch, features] tensor"
    return LstmMatch(x_idx, h_idx, c_idx, out_idx, last_only, xmm.inputs[1].const_value(), hmm.inputs[1].const_value(),
                     summed[1].const_value())


def _is_cell_update(r: Value, f: Value, i: Value, g: Value, args) -> Optional[Value]:
    """The c argument if ``r`` is f * c + i * g (any operand order), else None."""
    ins = _operands(r.producer, "core.add")
    if ins is None or len(ins) != 2:
        return None
    for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
        fc = _pair(a, "core.mul", lambda v: v is f, lambda v: v in args)
        if fc is not None and _pair(b, "core.mul", lambda v: v is i, lambda v: v is g) is not None:
            return fc[1]
    return None


def _out_slot(rets, args, h_new: Value, t_arg: Value) -> Optional[Tuple[int, bool]]:
    """(slot, last): the slot whose list gets h' at row t (``last`` false) or, with
    return_sequences=False, at row 0 of a 1-row list (``last`` true: it ends holding the last h')."""
    for k, r in enumerate(rets):
        dus = _producer(r, "core.dynamic_update_slice")
        if dus is None:
            continue
        target, update, index = dus.inputs
        bcast = _producer(target, "core.broadcast_to")
        target = bcast.inputs[0] if bcast is not None else target
        exp = _producer(update, "core.expand_dims")
        pack = _producer(index, "core.pack")
        if not (target is args[k] and exp is not None and exp.inputs[0] is h_new and exp.attrs.get("axis") == 0
                and pack is not None and all(_const_int(v, 0) for v in pack.inputs[1:])):
            continue
        if pack.inputs[0] is t_arg:
            return k, False
        if _const_int(pack.inputs[0], 0) and r.shape is not None and r.shape[0] == 1:
            return k, True
    return None


def _runs_len_steps(loop: Node, cond: Graph, body: Graph, x0: Value) -> Optional[str]:
    """None if the loop runs exactly len(x0) steps: its condition is an AND of ``counter < bound``
    with each counter from 0 by 1 and each bound an invariant slot starting at len(x0) (or, for a
    static length, that constant)."""
    pending, terms = [cond.outputs[0]], []
    while pending:
        v = pending.pop()
        if _producer(v, "core.logical_and") is not None:
            pending += v.producer.inputs
        elif _producer(v, "core.less") is not None:
            terms.append(v.producer.inputs)
        else:
            return "the loop condition is not an AND of counter < bound"
    cargs, args, rets = cond.inputs, body.inputs, body.outputs
    for counter, bound in terms:
        if counter not in cargs:
            return "the loop condition compares values other than loop slots"
        ci = cargs.index(counter)
        if not (_const_int(loop.inputs[ci], 0) and _pair(rets[ci], "core.add", lambda v: v is args[ci], lambda v: _const_int(v, 1))):
            return "a loop counter does not count from 0 by 1"
        if bound in cargs:  # an invariant slot starting at len(x0)
            bi = cargs.index(bound)
            if rets[bi] is not args[bi] or not _is_len_of(loop.inputs[bi], x0):
                return "a loop bound is not the sequence length"
        elif not (x0.shape is not None and x0.shape[0] is not None and _const_int(bound, x0.shape[0])):
            return "a loop bound is not the sequence length"  # a constant one (sink-loop-constants) must be len(x0)
    return None if terms else "the loop condition has no bound"


def _is_swap_01(node: Optional[Node]) -> bool:
    perm = None if node is None or node.op != "core.transpose" else node.inputs[1].const_value()
    return perm is not None and list(perm.reshape(-1)) == [1, 0, 2]


def _batch_major_users(loop: Node, m: LstmMatch, x0: Value):
    """The transposes back to batch-major that are the only users of the loop's sequence, when the
    loop's input is itself a transpose to time-major and nothing else is read; else None."""
    out, last = loop.outputs[m.out], loop.outputs[m.h]
    if m.last_only or last.has_uses() or last.is_graph_output() or out.is_graph_output() or not _is_swap_01(x0.producer):
        return None
    users = [u.node for u in out.uses()]
    return users if users and all(_is_swap_01(n) and n.inputs[0] is out for n in users) else None


def _fuse(loop: Node, m: LstmMatch) -> None:
    b = Builder(loop.graph, before=loop)
    x0 = loop.inputs[m.x]
    u = m.recurrent.shape[0]

    def gate(w: np.ndarray, k: int) -> Value:  # Keras packs the gates i, f, c, o along the last axis
        return b.const(np.ascontiguousarray(w[..., k * u:(k + 1) * u].T))

    weights = [gate(m.kernel, k) for k in range(4)] + [gate(m.recurrent, k) for k in range(4)]
    biases = [b.const(np.ascontiguousarray(m.bias[k * u:(k + 1) * u])) for k in range(4)]
    # Keras transposes a batch-major input to time-major before the loop and the sequence back after
    # it: when those are the only ways in and out, the op reads and writes batch-major instead.
    back = _batch_major_users(loop, m, x0)
    feed = x0.producer.inputs[0] if back else x0
    batch_axis = 0 if back else 1
    if feed.shape[batch_axis] is not None:
        dims = b.const(np.array([feed.shape[batch_axis], u], np.int32))
    else:  # a dynamic batch: [shape(feed)[batch_axis], u] at run time
        shape = b.op("core.shape", [feed], {"dtype": DType.INT32})
        batch = b.op("core.slice", [shape, b.const(np.array([batch_axis], np.int32)), b.const(np.array([1], np.int32))])
        dims = b.op("core.concat", [batch, b.const(np.array([u], np.int32))], {"axis": 0})
    # Two FILLs: the op overwrites each state in place, so neither may be shared or constant.
    states = [b.op("core.fill", [dims, b.const(np.array(0, np.float32))]) for _ in range(2)]
    seq = b.op("tfl.unidirectional_sequence_lstm", [feed, *weights, *biases, *states],
               {"time_major": not back, "fused_activation_function": "TANH"})
    if back:
        for user in back:
            replace_value(user.output, seq)
            user.graph.remove(user)
        loop.graph.remove(loop, force=True)
        return

    def last_row(shrink: int) -> Value:  # seq[-1] (shrink) or seq[-1:]
        return b.op("core.strided_slice", [seq, b.const(np.array([-1, 0, 0], np.int32)), b.const(np.zeros(3, np.int32)),
                                           b.const(np.ones(3, np.int32))],
                    {"begin_mask": 6, "end_mask": 7, "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": shrink})

    replace_value(loop.outputs[m.out], last_row(0) if m.last_only else seq)
    last = loop.outputs[m.h]
    if last.has_uses() or last.is_graph_output():
        replace_value(last, last_row(1))
    loop.graph.remove(loop, force=True)

