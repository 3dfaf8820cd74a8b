"""Rewrites of ops TFLite lacks into core ops that lower to TFLite builtins.

One ``ComposeRule`` per source op; it matches the core op and/or the foreign
``tf.X`` node the TF frontend leaves when it has no core mapping. Each rule
needs static shapes (TFLite models are static) and says why not otherwise.
Error bounds are documented in docs/passes/compose-ops.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from litesmith.ir.builder import Builder
from litesmith.ir.graph import Node, Value
from litesmith.ir.types import is_static

__all__ = ["ComposeRule", "RULES", "DEFAULT_RULES", "rule_for_op"]

# fn(node, builder) -> replacement values, or a string saying why the rule does not apply.
ComposeFn = Callable[[Node, Builder], "Sequence[Value] | str"]


@dataclass(frozen=True)
class ComposeRule:
    name: str                 # the option spelling: compose-ops{ops=[Tile,Range]}
    roots: Tuple[str, ...]    # ops this rule rewrites
    fn: ComposeFn
    bound: str                # error bound, one line (also in the docs)


# -- small builders ------------------------------------------------------------------------


def _const_like(b: Builder, x: Value, value) -> Value:
    return b.const(np.asarray(value, dtype=x.dtype.np))


def _slice_axis(b: Builder, x: Value, axis: int, start: int, length: int) -> Value:
    begin = [0] * x.rank
    size = list(x.shape)
    begin[axis], size[axis] = start, length
    return b.op("core.slice", [x, b.const(np.asarray(begin, np.int32)), b.const(np.asarray(size, np.int32))])


def _shift_in_ones(b: Builder, x: Value, axis: int, s: int) -> Value:
    """``x`` moved ``s`` steps along ``axis``; the vacated entries are 1 (the product's identity)."""
    n = x.shape[axis]
    ones_shape = list(x.shape)
    ones_shape[axis] = min(s, n)
    ones = b.const(np.ones(ones_shape, dtype=x.dtype.np))
    if s >= n:
        return ones
    return b.op("core.concat", [ones, _slice_axis(b, x, axis, 0, n - s)], {"axis": axis})


def _static_axis(node: Node, x: Value, axis_value) -> "int | str":
    if x.rank is None or not is_static(x.shape):
        return f"operand %{x.name} needs a static shape (got {x.type})"
    axis = int(np.asarray(axis_value).reshape(()))
    if not -x.rank <= axis < x.rank:
        return f"axis {axis} is out of range for rank {x.rank}"
    return axis % x.rank


# -- Cumprod: Hillis-Steele scan of shifted products (exact handling of zeros and signs) ---------


def compose_cumprod(node: Node, b: Builder):
    x = node.inputs[0]
    if node.op == "core.cumprod":
        axis_value, exclusive, reverse = node.attrs["axis"], node.attrs["exclusive"], node.attrs["reverse"]
    else:  # tf.Cumprod(x, axis) {exclusive, reverse}
        axis_value = node.inputs[1].const_value() if len(node.inputs) > 1 else None
        if axis_value is None:
            return "the axis operand is not a constant (run fold-constants first)"
        exclusive, reverse = bool(node.attrs.get("exclusive", False)), bool(node.attrs.get("reverse", False))
    axis = _static_axis(node, x, axis_value)
    if isinstance(axis, str):
        return axis
    if x.dtype.is_float is False and not x.dtype.is_int:
        return f"dtype {x.dtype} is not numeric"
    n = x.shape[axis]
    y = b.op("core.reverse", [x], {"axes": [axis]}) if reverse else x
    if exclusive:
        y = _shift_in_ones(b, y, axis, 1)
    s = 1
    while s < n:  # after the step with shift s, y[k] = prod of the 2s entries ending at k
        y = b.op("core.mul", [y, _shift_in_ones(b, y, axis, s)])
        s *= 2
    if reverse:
        y = b.op("core.reverse", [y], {"axes": [axis]})
    return [y]


# -- Erfinv: Giles' single-precision approximation ---------------------------------------------

_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
               -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _horner(b: Builder, w: Value, coeffs: Sequence[float]) -> Value:
    p = _const_like(b, w, coeffs[0])
    for c in coeffs[1:]:
        p = b.op("core.add", [b.op("core.mul", [p, w]), _const_like(b, w, c)])
    return p


def compose_erfinv(node: Node, b: Builder):
    """M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011), single precision."""
    x = node.inputs[0]
    if not x.dtype.is_float:
        return f"dtype {x.dtype} is not floating point"
    one = _const_like(b, x, 1.0)
    w = b.op("core.neg", [b.op("core.log", [b.op("core.mul", [b.op("core.sub", [one, x]), b.op("core.add", [one, x])])])])
    central = _horner(b, b.op("core.sub", [w, _const_like(b, x, 2.5)]), _GILES_CENTRAL)
    tail = _horner(b, b.op("core.sub", [b.op("core.sqrt", [w]), _const_like(b, x, 3.0)]), _GILES_TAIL)
    p = b.op("core.select", [b.op("core.less", [w, _const_like(b, x, 5.0)]), central, tail])
    y = b.op("core.mul", [p, x])
    # erfinv(+-1) = +-inf exactly, as in TF (the polynomial would give inf*0 or a large finite).
    at_pole = b.op("core.equal", [b.op("core.abs", [x]), one])
    return [b.op("core.select", [at_pole, b.op("core.mul", [x, _const_like(b, x, np.inf)]), y])]


# -- Erfc and Erf: Numerical Recipes' erfcc (a Chebyshev fit), a Taylor series for erf near 0 -----------

# Press et al., Numerical Recipes (2nd ed.) 6.2: erfc(z) = t * exp(-z^2 + P(t)), t = 1 / (1 + z/2), z >= 0,
# fractional error below 1.2e-7 in exact arithmetic. Coefficients of P, constant term first.
_ERFCC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
          1.48851587, -0.82215223, 0.17087277)
# erf(x) = 2/sqrt(pi) * (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320 + ...), for |x| < 1/2.
_ERF_TAYLOR = tuple(2 / np.sqrt(np.pi) * c for c in (1, -1 / 3, 1 / 10, -1 / 42, 1 / 216, -1 / 1320))
_ERF_SERIES_BELOW = 0.5


def _erfc_of_abs(b: Builder, z: Value) -> Value:
    """erfc(z) for z >= 0."""
    half_z_plus_1 = b.op("core.add", [_const_like(b, z, 1.0), b.op("core.mul", [z, _const_like(b, z, 0.5)])])
    t = b.op("core.div", [_const_like(b, z, 1.0), half_z_plus_1])
    poly = _horner(b, t, _ERFCC[::-1])
    return b.op("core.mul", [t, b.op("core.exp", [b.op("core.sub", [poly, b.op("core.square", [z])])])])


def compose_erfc(node: Node, b: Builder):
    x = node.inputs[0]
    if not x.dtype.is_float:
        return f"dtype {x.dtype} is not floating point"
    upper = _erfc_of_abs(b, b.op("core.abs", [x]))
    lower = b.op("core.sub", [_const_like(b, x, 2.0), upper])  # erfc(-z) = 2 - erfc(z)
    return [b.op("core.select", [b.op("core.greater_equal", [x, _const_like(b, x, 0.0)]), upper, lower])]


def compose_erf(node: Node, b: Builder):
    x = node.inputs[0]
    if not x.dtype.is_float:
        return f"dtype {x.dtype} is not floating point"
    z = b.op("core.abs", [x])
    series = b.op("core.mul", [x, _horner(b, b.op("core.square", [x]), _ERF_TAYLOR[::-1])])
    tail = b.op("core.mul", [b.op("core.sign", [x]), b.op("core.sub", [_const_like(b, x, 1.0), _erfc_of_abs(b, z)])])
    return [b.op("core.select", [b.op("core.less", [z, _const_like(b, x, _ERF_SERIES_BELOW)]), series, tail])]


# -- MatrixDeterminant: Laplace expansion of small static matrices -------------------------------

MAX_DETERMINANT_SIZE = 4


def compose_matrix_determinant(node: Node, b: Builder):
    x = node.inputs[0]
    if x.rank is None or x.rank < 2 or not is_static(x.shape):
        return f"operand %{x.name} needs a static shape [..., n, n] (got {x.type})"
    n = x.shape[-1]
    if x.shape[-2] != n:
        return f"operand %{x.name} is not square ({x.type})"
    if n > MAX_DETERMINANT_SIZE or n == 0:
        return f"{n}x{n} matrices are not composed (only 1x1 to {MAX_DETERMINANT_SIZE}x{MAX_DETERMINANT_SIZE})"
    if not x.dtype.is_float:
        return f"dtype {x.dtype} is not floating point"
    batch = list(x.shape[:-2])
    flat = b.op("core.reshape", [x, b.const(np.asarray(batch + [n * n], np.int32))])
    entries = b.op("core.unpack", [flat], {"axis": len(batch), "num": n * n})
    entries = entries if isinstance(entries, list) else [entries]
    memo: Dict[Tuple[Tuple[int, ...], Tuple[int, ...]], Value] = {}

    def det(rows: Tuple[int, ...], cols: Tuple[int, ...]) -> Value:
        if (rows, cols) in memo:
            return memo[rows, cols]
        if len(rows) == 1:
            return entries[rows[0] * n + cols[0]]
        r, rest = rows[0], rows[1:]
        total: Optional[Value] = None
        for k, c in enumerate(cols):
            term = b.op("core.mul", [entries[r * n + c], det(rest, cols[:k] + cols[k + 1:])])
            if total is None:
                total = term
            else:
                total = b.op("core.sub" if k % 2 else "core.add", [total, term])
        memo[rows, cols] = total
        return total

    result = det(tuple(range(n)), tuple(range(n)))
    if result.producer is not None and result.producer.op == "core.unpack":
        result = b.op("core.identity", [result])  # 1x1: keep a node of its own for the output name
    return [result]


# -- Tile and Range through broadcast arithmetic (opt-in: TFLite has TILE and RANGE) --------------


def compose_tile(node: Node, b: Builder):
    x = node.inputs[0]
    multiples = node.inputs[1].const_value()
    if multiples is None:
        return "the multiples operand is not a constant"
    if x.rank is None or not is_static(x.shape):
        return f"operand %{x.name} needs a static shape (got {x.type})"
    multiples = [int(m) for m in np.asarray(multiples).reshape(-1)]
    interleaved, expanded = [], []
    for d, m in zip(x.shape, multiples):
        interleaved += [1, d]
        expanded += [m, d]
    y = b.op("core.reshape", [x, b.const(np.asarray(interleaved, np.int32))])
    op = "core.logical_or" if x.dtype.value == "bool" else "core.add"
    y = b.op(op, [y, b.const(np.zeros(expanded, dtype=x.dtype.np))])  # broadcasting does the copies
    out_shape = [d * m for d, m in zip(x.shape, multiples)]
    return [b.op("core.reshape", [y, b.const(np.asarray(out_shape, np.int32))])]


def compose_range(node: Node, b: Builder):
    start, _limit, delta = node.inputs[:3]
    out = node.outputs[0]
    if out.shape is None or out.shape[0] is None:
        return "the result length is not static (make start, limit and delta constants)"
    iota = b.const(np.arange(out.shape[0]).astype(out.dtype.np))
    start, delta = (v if v.dtype is out.dtype else b.op("core.cast", [v], {"dtype": out.dtype}) for v in (start, delta))
    return [b.op("core.add", [b.op("core.mul", [iota, delta]), start])]


RULES: Dict[str, ComposeRule] = {
    r.name: r
    for r in (
        ComposeRule("Cumprod", ("core.cumprod", "tf.Cumprod"), compose_cumprod,
                    "float rounding only: a different multiplication order than a sequential product"),
        ComposeRule("Erfinv", ("tf.Erfinv",), compose_erfinv,
                    "Giles' single-precision approximation: relative error below 1e-5 for |x| <= 0.999"),
        ComposeRule("Erfc", ("core.erfc",), compose_erfc,
                    "Numerical Recipes' erfcc: absolute error below 4e-7; relative below 7e-7 for x < 2, 2.1e-6 "
                    "below 4, 1.2e-5 up to 9.5 (float32 rounding of x^2 in the exponent; TF's own: 4e-6)"),
        ComposeRule("Erf", ("core.erf",), compose_erf,
                    "Taylor series below |x| = 0.5, 1 - erfcc above: absolute and relative error below 4e-7 (TF's own: 3.4e-7)"),
        ComposeRule("MatrixDeterminant", ("tf.MatrixDeterminant",), compose_matrix_determinant,
                    "cofactor expansion: exact up to float rounding (no pivoting; ill-conditioned matrices lose digits)"),
        ComposeRule("Tile", ("core.tile", "tf.Tile"), compose_tile, "exact"),
        ComposeRule("Range", ("core.range", "tf.Range"), compose_range,
                    "exact for integers; floats: start + i*delta, as TF computes it"),
    )
}

# Applied when compose-ops is given no ``ops``: TFLite lacks these. Tile and Range are opt-in.
DEFAULT_RULES: Tuple[str, ...] = ("Cumprod", "Erfinv", "Erfc", "Erf", "MatrixDeterminant")


def rule_for_op(op: str, names: Sequence[str] = tuple(RULES)) -> Optional[ComposeRule]:
    """The rule among ``names`` that rewrites ``op``, if any (used by the legality check's hints)."""
    for name in names:
        if op in RULES[name].roots:
            return RULES[name]
    return None


def rules_for(names: Sequence[str]) -> List[ComposeRule]:
    return [RULES[n] for n in names]
