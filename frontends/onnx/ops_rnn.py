"""ONNX LSTM, GRU and RNN as the loop the TF frontend makes of a dynamic_rnn.

Each direction is a ``core.while`` over the time steps: it reads step ``i`` of
the input from a tensor list (``tensor_list_from_tensor`` of the time-major
input), carries the counter, the hidden (and cell) state and the weights
(loop invariants, so the regions stay isolated), and writes each step's h to
an output list that is stacked after the loop. That is the form
``strip-batch,unroll-rnn,fold-constants`` turn into a single step with state
inputs and outputs; ``unroll-loops`` (in the default ONNX pipeline) instead
copies the body once per step for a plain conversion. Reverse directions run
the same loop over the time-reversed input; bidirectional ones concatenate
both. Gate orders, activations (with alpha/beta), clip, peepholes,
input_forget, linear_before_reset and both layouts follow the ONNX spec.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np
from litesmith.ir.builder import Builder
from litesmith.ir.dtypes import DType
from litesmith.ir.graph import Graph, Value
from litesmith.ir.types import TensorType

from .registry import BadAttr, MapContext, Unsupported, need_rank, onnx_op, static_shape

_DEFAULTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def activation(ctx, name: str, x: Value, alpha: Optional[float], beta: Optional[float]) -> Value:
    """ONNX's RNN activation functions by name (case-insensitive), with their alpha/beta."""
    key = name.lower()
    s = lambda v: ctx.scalar_like(x, v)  # noqa: E731
    if key == "sigmoid":
        return ctx.op("core.sigmoid", [x])
    if key == "tanh":
        return ctx.op("core.tanh", [x])
    if key == "relu":
        return ctx.op("core.relu", [x])
    if key == "leakyrelu":
        return ctx.op("core.leaky_relu", [x], {"alpha": 0.01 if alpha is None else alpha})
    if key == "thresholdedrelu":
        return ctx.op("core.select", [ctx.op("core.greater", [x, s(1.0 if alpha is None else alpha)]), x, s(0)])
    if key == "hardsigmoid":
        y = ctx.op("core.add", [ctx.op("core.mul", [x, s(0.2 if alpha is None else alpha)]),
                                s(0.5 if beta is None else beta)])
        return ctx.op("core.minimum", [ctx.op("core.relu", [y]), s(1)])
    if key == "elu":
        a = 1.0 if alpha is None else alpha
        neg = ctx.op("core.mul", [ctx.op("core.expm1", [x]), s(a)])
        return ctx.op("core.select", [ctx.op("core.greater", [x, s(0)]), x, neg])
    if key == "softsign":
        return ctx.op("core.div", [x, ctx.op("core.add", [ctx.op("core.abs", [x]), s(1)])])
    if key == "softplus":
        return ctx.op("core.softplus", [x])
    if key == "affine":
        return ctx.op("core.add", [ctx.op("core.mul", [x, s(1.0 if alpha is None else alpha)]),
                                   s(0.0 if beta is None else beta)])
    if key == "scaledtanh":
        t = ctx.op("core.tanh", [ctx.op("core.mul", [x, s(1.0 if beta is None else beta)])])
        return ctx.op("core.mul", [t, s(1.0 if alpha is None else alpha)])
    raise Unsupported(f"activation {name}")


class _Spec:
    """The attributes of one RNN node, checked once."""

    def __init__(self, node, kind: str, hidden: int):
        self.kind = kind
        self.hidden = hidden
        self.direction = node.attr_str("direction", "forward")
        if self.direction not in ("forward", "reverse", "bidirectional"):
            raise Unsupported(f"direction={self.direction}")
        self.dirs = 2 if self.direction == "bidirectional" else 1
        per = len(_DEFAULTS[kind])
        acts = node.attr_strs("activations", None) or _DEFAULTS[kind] * self.dirs
        if len(acts) != per * self.dirs:
            raise Unsupported("activations do not match the direction")
        alphas = node.attr_floats("activation_alpha", None) or []
        betas = node.attr_floats("activation_beta", None) or []
        self.acts = [[(acts[d * per + k], _at(alphas, d * per + k), _at(betas, d * per + k)) for k in range(per)]
                     for d in range(self.dirs)]
        self.clip = node.attr_float("clip", 0.0) if node.has("clip") else None
        self.input_forget = bool(node.attr_int("input_forget", 0))
        self.linear_before_reset = bool(node.attr_int("linear_before_reset", 0))
        self.layout = node.attr_int("layout", 0)


def _at(values: List[float], i: int) -> Optional[float]:
    return values[i] if i < len(values) else None


def _recurrent(kind: str):
    def fn(ctx, node, inputs):
        x, w, r = inputs[:3]
        if any(v is None or need_rank(v) != 3 for v in (x, w, r)):
            raise Unsupported("X, W and R must have rank 3")
        rest = (list(inputs[3:]) + [None] * 5)[:5]
        b, seq_lens, init_h = rest[0], rest[1], rest[2]
        init_c, peep = (rest[3], rest[4]) if kind == "LSTM" else (None, None)
        hidden = node.attr_int("hidden_size", 0) or static_shape(r, "R")[-1]
        if not 0 < hidden <= 1 << 20:  # a corrupt attribute must not size a zero state of TiBs
            raise BadAttr(f"hidden_size {hidden} is not a plausible RNN width (1 to 2^20)")
        spec = _Spec(node, kind, hidden)
        if spec.layout:
            x = ctx.transpose(x, [1, 0, 2])
            init_h = None if init_h is None else ctx.transpose(init_h, [1, 0, 2])
            init_c = None if init_c is None else ctx.transpose(init_c, [1, 0, 2])
        steps, batch, _ = x.shape  # T and B may be symbolic: the loop then reads them at run time
        if x.shape[2] is None:
            raise Unsupported("X needs a static input size")
        if seq_lens is not None:
            lens = seq_lens.const_value()
            if lens is None or steps is None or np.any(np.asarray(lens) != steps):
                raise Unsupported("sequence_lens shorter than the sequence")
        if static_shape(w, "W")[0] != spec.dirs:
            raise Unsupported("W does not match the direction")
        ys, hs, cs = [], [], []
        for d in range(spec.dirs):
            reverse = spec.direction == "reverse" or d == 1
            xd = ctx.op("core.reverse", [x], {"axes": [0]}) if reverse else x
            h0 = _initial(ctx, init_h, d, batch, hidden, x)
            c0 = _initial(ctx, init_c, d, batch, hidden, x) if kind == "LSTM" else None
            weights = _direction_weights(ctx, kind, w, r, b, peep, d, hidden)
            y, h, c = _loop(ctx, spec, d, xd, h0, c0, weights, steps)
            if reverse:
                y = ctx.op("core.reverse", [y], {"axes": [0]})
            ys.append(ctx.op("core.expand_dims", [y], {"axis": 1}))
            hs.append(ctx.op("core.expand_dims", [h], {"axis": 0}))
            if c is not None:
                cs.append(ctx.op("core.expand_dims", [c], {"axis": 0}))
        y = ys[0] if len(ys) == 1 else ctx.op("core.concat", ys, {"axis": 1})  # [T, dirs, B, H]
        h = hs[0] if len(hs) == 1 else ctx.op("core.concat", hs, {"axis": 0})  # [dirs, B, H]
        outs = [y, h]
        if kind == "LSTM":
            outs.append(cs[0] if len(cs) == 1 else ctx.op("core.concat", cs, {"axis": 0}))
        if spec.layout:
            outs = [ctx.transpose(outs[0], [2, 0, 1, 3])] + [ctx.transpose(v, [1, 0, 2]) for v in outs[1:]]
        return outs[: max(node.num_outputs, 1)]

    return fn


def _initial(ctx, init: Optional[Value], d: int, batch: Optional[int], hidden: int, like: Value) -> Value:
    if init is None and batch is not None:
        return ctx.const(np.zeros((batch, hidden), like.dtype.np))
    if init is None:  # a symbolic batch: zeros [B, H] with B read from X (TF's zero_state fill)
        dims = ctx.op("core.concat", [_dim(ctx, like, 1, keep=True), ctx.i32([hidden])], {"axis": 0})
        return ctx.op("core.fill", [dims, ctx.scalar_like(like, 0)])
    return ctx.op("core.gather", [init, ctx.i32(d)], {"axis": 0})


def _dim(ctx, x: Value, axis: int, keep: bool = False) -> Value:
    """Dim ``axis`` of ``x`` as an i32 (a [1] vector with ``keep``): a constant when it is static."""
    if x.shape[axis] is not None:
        return ctx.i32([x.shape[axis]] if keep else x.shape[axis])
    shape = ctx.op("core.shape", [x], {"dtype": DType.INT32})
    return ctx.op("core.gather", [shape, ctx.i32([axis] if keep else axis)], {"axis": 0})


def _direction_weights(ctx, kind, w, r, b, peep, d, hidden) -> List[Value]:
    """[W^T (I x G*H), R^T (H x G*H), bias (G*H) or Wb, Rb for GRU, peepholes (3*H) for LSTM] of direction d."""
    gates = _GATES[kind]
    wt = ctx.transpose(ctx.op("core.gather", [w, ctx.i32(d)], {"axis": 0}), [1, 0])
    rt = ctx.transpose(ctx.op("core.gather", [r, ctx.i32(d)], {"axis": 0}), [1, 0])
    if b is None:
        wb = rb = ctx.const(np.zeros(gates * hidden, w.dtype.np))
    else:
        bd = ctx.op("core.gather", [b, ctx.i32(d)], {"axis": 0})
        wb, rb = ctx.ops("core.split", [bd], {"axis": 0, "sizes": [gates * hidden] * 2})
    out = [wt, rt]
    out += [wb, rb] if kind == "GRU" else [ctx.op("core.add", [wb, rb])]
    if kind == "LSTM":
        out.append(ctx.op("core.gather", [peep, ctx.i32(d)], {"axis": 0}) if peep is not None
                   else ctx.const(np.zeros(3 * hidden, w.dtype.np)))
    return out


def _loop(ctx, spec: _Spec, d: int, x: Value, h0: Value, c0: Optional[Value], weights: List[Value], steps: int):
    """The while loop of one direction; returns (Y [T, B, H], last h, last c or None)."""
    hidden, batch = spec.hidden, x.shape[1]
    step_type = TensorType(x.dtype, (batch, hidden))
    xs = ctx.op("core.tensor_list_from_tensor", [x], {"element_shape": tuple(x.shape[1:])})
    ys0 = ctx.op("core.tensor_list_reserve", [_dim(ctx, x, 0)],
                 {"element_dtype": x.dtype, "element_shape": (batch, hidden)})
    zero = ctx.const(np.asarray(0, np.int32))
    states = [h0] + ([c0] if c0 is not None else [])
    carried = [zero] + states + [xs, ys0] + list(weights)
    cond = Graph("cond")
    for v in carried:
        cond.add_input(v.type, "")
    cb = MapContext(Builder(cond))
    cb.builder.meta = bb_meta = dict(ctx.builder.meta)
    count = cb.const(np.asarray(steps, np.int32)) if steps is not None else \
        cb.op("core.tensor_list_length", [cond.inputs[1 + len(states)]])
    cond.outputs = [cb.op("core.less", [cond.inputs[0], count])]
    body = Graph("body")
    args = [body.add_input(v.type, "") for v in carried]
    bb = MapContext(Builder(body))
    bb.builder.meta = bb_meta
    i, state, lists, wts = args[0], args[1:1 + len(states)], args[1 + len(states):3 + len(states)], \
        args[3 + len(states):]
    xt = bb.op("core.tensor_list_get_item", [lists[0], i], {"element_dtype": x.dtype})
    new_states = _cell(bb, spec, d, xt, state, wts)
    ys = bb.op("core.tensor_list_set_item", [lists[1], i, new_states[0]])
    body.outputs = [bb.op("core.add", [i, bb.const(np.asarray(1, np.int32))])] + new_states + [lists[0], ys] + wts
    for v, t in zip(new_states, [step_type] * len(new_states)):
        if v.type != t:
            raise Unsupported("the cell's state type does not match")
    outs = ctx.builder.op("core.while", carried, {"max_iterations": 0}, regions=[cond, body],
                          output_types=[v.type for v in carried])
    y = ctx.op("core.tensor_list_stack", [outs[2 + len(states)]], {"element_dtype": x.dtype,
                                                                    "num_elements": -1 if steps is None else steps})
    return y, outs[1], (outs[2] if c0 is not None else None)


def _clip(ctx, spec: _Spec, v: Value) -> Value:
    if spec.clip is None:
        return v
    lo, hi = ctx.scalar_like(v, -spec.clip), ctx.scalar_like(v, spec.clip)
    return ctx.op("core.minimum", [ctx.op("core.maximum", [v, lo]), hi])


def _act(ctx, spec: _Spec, d: int, k: int, v: Value) -> Value:
    name, alpha, beta = spec.acts[d][k]
    return activation(ctx, name, v, alpha, beta)


def _cell(ctx, spec: _Spec, d: int, xt: Value, state: List[Value], wts: List[Value]) -> List[Value]:
    h = state[0]
    hid = spec.hidden
    if spec.kind == "GRU":
        wt, rt, wb, rb = wts
        xw = ctx.op("core.add", [ctx.op("core.matmul", [xt, wt]), wb])
        xz, xr, xh = ctx.ops("core.split", [xw], {"axis": 1, "sizes": [hid] * 3})
        rz, rr, rh = ctx.ops("core.split", [rt], {"axis": 1, "sizes": [hid] * 3})
        bz, br, bh = ctx.ops("core.split", [rb], {"axis": 0, "sizes": [hid] * 3})
        z = _act(ctx, spec, d, 0, _clip(ctx, spec, ctx.op("core.add", [xz, _affine(ctx, h, rz, bz)])))
        r = _act(ctx, spec, d, 0, _clip(ctx, spec, ctx.op("core.add", [xr, _affine(ctx, h, rr, br)])))
        if spec.linear_before_reset:
            inner = ctx.op("core.mul", [r, _affine(ctx, h, rh, bh)])
        else:
            inner = _affine(ctx, ctx.op("core.mul", [r, h]), rh, bh)
        cand = _act(ctx, spec, d, 1, _clip(ctx, spec, ctx.op("core.add", [xh, inner])))
        one = ctx.scalar_like(h, 1)
        new_h = ctx.op("core.add", [ctx.op("core.mul", [ctx.op("core.sub", [one, z]), cand]),
                                    ctx.op("core.mul", [z, h])])
        return [new_h]
    gates = ctx.op("core.add", [ctx.op("core.add", [ctx.op("core.matmul", [xt, wts[0]]),
                                                    ctx.op("core.matmul", [h, wts[1]])]), wts[2]])
    if spec.kind == "RNN":
        return [_act(ctx, spec, d, 0, _clip(ctx, spec, gates))]
    c = state[1]
    gi, go, gf, gc = ctx.ops("core.split", [gates], {"axis": 1, "sizes": [hid] * 4})
    pi, po, pf = ctx.ops("core.split", [wts[3]], {"axis": 0, "sizes": [hid] * 3})
    gi = ctx.op("core.add", [gi, ctx.op("core.mul", [pi, c])])
    gf = ctx.op("core.add", [gf, ctx.op("core.mul", [pf, c])])
    i_g = _act(ctx, spec, d, 0, _clip(ctx, spec, gi))
    f_g = ctx.op("core.sub", [ctx.scalar_like(c, 1), i_g]) if spec.input_forget else \
        _act(ctx, spec, d, 0, _clip(ctx, spec, gf))
    new_c = ctx.op("core.add", [ctx.op("core.mul", [f_g, c]),
                                ctx.op("core.mul", [i_g, _act(ctx, spec, d, 1, _clip(ctx, spec, gc))])])
    go = ctx.op("core.add", [go, ctx.op("core.mul", [po, new_c])])
    o_g = _act(ctx, spec, d, 0, _clip(ctx, spec, go))
    return [ctx.op("core.mul", [o_g, _act(ctx, spec, d, 2, new_c)]), new_c]


def _affine(ctx, v: Value, m: Value, bias: Value) -> Value:
    return ctx.op("core.add", [ctx.op("core.matmul", [v, m]), bias])


onnx_op("LSTM", inputs=(3, 8))(_recurrent("LSTM"))
onnx_op("GRU", inputs=(3, 6))(_recurrent("GRU"))
onnx_op("RNN", inputs=(3, 6))(_recurrent("RNN"))
