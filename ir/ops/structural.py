"""Constants, identity and structured control flow (``while``, ``if``)."""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..registry import Attr, defop
from ..types import TensorType


def _infer_const(ctx):
    v = ctx.attrs["value"]
    if not isinstance(v, np.ndarray):  # an elided constant knows its own type
        return [v.type]
    return [TensorType(DType.from_numpy(v.dtype), v.shape)]


defop(
    "core.const",
    doc="A constant tensor held in the `value` attribute.",
    attrs={"value": Attr("tensor", doc="the numpy array")},
    infer=_infer_const,
    kernel=lambda value: _const_kernel(value),
    category="structural",
)


def _const_kernel(value):
    if not isinstance(value, np.ndarray):
        raise ValueError("constant data was elided when the IR was printed; load it with its .npz side file")
    return value


defop(
    "core.identity",
    batch_axis="passthrough",
    doc="Returns its input unchanged.",
    operands=["x"],
    infer=lambda ctx: [ctx.types[0]],
    kernel=lambda x: x,
    category="structural",
)


def _infer_while(ctx):
    if len(ctx.regions) == 2:
        body = ctx.regions[1]
        if len(body.outputs) == len(ctx.types):
            # Carried values whose shape changes across iterations get unknown dims.
            out = []
            for t, o in zip(ctx.types, body.outputs):
                if t.is_list or o.type.shape == t.shape:
                    out.append(t)
                elif t.shape is not None and o.type.shape is not None and len(t.shape) == len(o.type.shape):
                    out.append(t.with_shape([a if a == b else None for a, b in zip(t.shape, o.type.shape)]))
                else:
                    out.append(t.with_shape(None))
            return out
    return list(ctx.types)


def _exec_while(node, inputs, interp):
    cond, body = node.regions
    state = list(inputs)
    limit = node.attrs["max_iterations"]
    for _ in range(limit if limit > 0 else 1 << 62):
        (keep_going,) = interp.run_region(cond, state)
        if not bool(np.asarray(keep_going)):
            return state
        state = interp.run_region(body, state)
    raise RuntimeError(f"while loop ran past max_iterations={limit}")


defop(
    "core.while",
    doc="""Loop: ``cond`` region (N args -> bool scalar) and ``body`` region
    (N args -> N results). Runs body while cond holds; returns the final
    carried values. Regions see only their arguments (no captures), so
    loop-invariant values are carried too.""",
    operands=["*init"],
    attrs={"max_iterations": Attr("int", 0, "0: unbounded; else a bound for the interpreter")},
    infer=_infer_while,
    execute=_exec_while,
    num_regions=2,
    category="control",
)


def _infer_if(ctx):
    if len(ctx.regions) == 2:
        a, b = ctx.regions
        out = []
        for x, y in zip(a.outputs, b.outputs):
            tx, ty = x.type, y.type
            if tx.shape == ty.shape or tx.is_list:
                out.append(tx)
            elif tx.shape is not None and ty.shape is not None and len(tx.shape) == len(ty.shape):
                out.append(tx.with_shape([p if p == q else None for p, q in zip(tx.shape, ty.shape)]))
            else:
                out.append(tx.with_shape(None))
        return out
    ctx.fail("needs then and else regions")


def _exec_if(node, inputs, interp):
    pred, args = inputs[0], inputs[1:]
    branch = node.regions[0] if bool(np.asarray(pred)) else node.regions[1]
    return interp.run_region(branch, args)


defop(
    "core.if",
    doc="""Conditional: operand 0 is a bool scalar, the rest are passed to the
    ``then`` region (taken when true) or the ``else`` region; both return
    the same number of results.""",
    operands=["cond", "*args"],
    infer=_infer_if,
    execute=_exec_if,
    num_regions=2,
    category="control",
)
