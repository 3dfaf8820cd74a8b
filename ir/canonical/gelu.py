"""GELU written out in elementary ops becomes one ``core.gelu`` (TFLite's GELU builtin), as TF's
converter fuses it. Registered on ``core.mul`` and ``core.div`` as the ``gelu`` canonicalization; the forms:

    exact, as tf.nn.gelu and Keras write it:   0.5 * x * erfc(-x * 0.70710678)
    exact, as BERT writes it:                  x * 0.5 * (1 + erf(x / 1.4142135))
    tanh approximation (approximate = true):   0.5 * x * (1 + tanh(0.7978846 * (x + 0.044715 * x**3)))

Products are read as a coefficient times a list of factors, so the constants may sit anywhere in
them (``x * (0.5 * g)``, ``(x * g) / 2``, a ``neg``); ``x**3`` may be ``pow(x, 3)``, ``x * x * x``
or ``square(x) * x``. Every node inside the pattern has one use (the rewrite removes them all);
constants must be single values, so nothing broadcasts ``x`` to a larger shape.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

from litesmith.ir.graph import Node, Value
from litesmith.ir.registry import canonicalization_pattern

SQRT1_2 = math.sqrt(0.5)
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
CUBIC = 0.044715
_RTOL = 1e-6  # float32 spellings of the constants are within 1e-7
_MAX_FACTORS = 8  # a product this long is not a GELU; keeps each match attempt O(1)


def _scalar(v: Value) -> Optional[float]:
    c = v.const_value()
    if c is None or c.size != 1 or c.dtype.kind != "f":
        return None
    return float(c.reshape(-1)[0])


def _single_use(v: Value) -> bool:
    return v.producer is not None and v.num_uses() == 1 and not v.is_graph_output()


def _product(v: Value, root: bool = True) -> Optional[Tuple[float, List[Value]]]:
    """``v`` as ``coef * prod(factors)``, looking through single-use mul, div by a constant, neg,
    square and pow(., 3); None when it is longer than ``_MAX_FACTORS``."""
    coef, factors, todo = 1.0, [], [(v, root)]
    while todo:
        w, top = todo.pop()
        c = _scalar(w)
        if c is not None:
            coef *= c
            continue
        p = w.producer
        if p is None or not (top or _single_use(w)):
            factors.append(w)
        elif p.op == "core.mul":
            todo += [(p.inputs[0], False), (p.inputs[1], False)]
        elif p.op == "core.div" and _scalar(p.inputs[1]) not in (None, 0.0):
            coef /= _scalar(p.inputs[1])
            todo.append((p.inputs[0], False))
        elif p.op == "core.neg":
            coef = -coef
            todo.append((p.inputs[0], False))
        elif p.op == "core.square":
            todo += [(p.inputs[0], False)] * 2
        elif p.op == "core.pow" and _scalar(p.inputs[1]) == 3.0:
            todo += [(p.inputs[0], False)] * 3
        else:
            factors.append(w)
        if len(factors) + len(todo) > _MAX_FACTORS:
            return None
    return coef, factors


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= _RTOL * abs(b)


def _linear_in(v: Value, x: Value) -> Optional[float]:
    """k when ``v`` is ``k * x``."""
    prod = _product(v, root=False) if _single_use(v) else None
    if prod is None or len(prod[1]) != 1 or prod[1][0] is not x:
        return None
    return prod[0]


def _one_plus(v: Value, op: str) -> Optional[Node]:
    """The ``op`` node in ``1 + op(.)`` (either order) when every node there has one use."""
    add = v.producer
    if add is None or add.op != "core.add" or not _single_use(v):
        return None
    for one, other in (add.inputs, add.inputs[::-1]):
        if _scalar(one) == 1.0 and other.producer is not None and other.producer.op == op and _single_use(other):
            return other.producer
    return None


def _is_cubic_tanh_arg(v: Value, x: Value) -> bool:
    """``v`` is ``c * (a * x + b * x**3)`` with ``c * a = sqrt(2 / pi)`` and ``b / a = 0.044715``."""
    outer = _product(v, root=False) if _single_use(v) else None
    if outer is None or len(outer[1]) != 1 or outer[1][0].producer is None:
        return False
    inner = outer[1][0].producer
    if inner.op != "core.add" or not _single_use(outer[1][0]):
        return False
    terms = [_product(t, root=False) if _single_use(t) else ((1.0, [t]) if t is x else None) for t in inner.inputs]
    if any(t is None for t in terms):
        return False
    terms.sort(key=lambda t: len(t[1]))
    (a, linear), (b, cubic) = terms
    return (linear == [x] and len(cubic) == 3 and all(f is x for f in cubic)
            and _near(outer[0] * a, SQRT_2_OVER_PI) and _near(b / a, CUBIC))


def _gelu_of(x: Value, gate: Value) -> Optional[bool]:
    """``approximate`` when ``0.5 * x * gate`` is a GELU of x; None when it is not."""
    if gate.producer is None:
        return None
    if gate.producer.op == "core.erfc" and _single_use(gate):
        k = _linear_in(gate.producer.inputs[0], x)
        return False if k is not None and _near(k, -SQRT1_2) else None
    erf = _one_plus(gate, "core.erf")
    if erf is not None:
        k = _linear_in(erf.inputs[0], x)
        return False if k is not None and _near(k, SQRT1_2) else None
    tanh = _one_plus(gate, "core.tanh")
    if tanh is not None and _is_cubic_tanh_arg(tanh.inputs[0], x):
        return True
    return None


@canonicalization_pattern("core.div")
@canonicalization_pattern("core.mul")
def gelu(node: Node, rw) -> bool:
    """0.5 * x * erfc(-x/sqrt2), x * 0.5 * (1 + erf(x/sqrt2)), 0.5 * x * (1 + tanh(...)) -> gelu(x)"""
    out = node.output
    if not out.dtype.is_float or out.quant is not None:
        return rw.why_not("not an unquantized float product")
    prod = _product(out)
    if prod is None or len(prod[1]) != 2 or not _near(prod[0], 0.5):
        return rw.why_not("not 0.5 times a product of two values")
    for x, gate in (prod[1], prod[1][::-1]):
        approximate = _gelu_of(x, gate)
        if approximate is not None and x.type == out.type:
            y = rw.builder().op("core.gelu", [x], {"approximate": approximate})
            rw.replace_node(node, [y])
            return True
    return rw.why_not("no factor is erfc(-x/sqrt2), 1 + erf(x/sqrt2) or 1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)) of the other")
