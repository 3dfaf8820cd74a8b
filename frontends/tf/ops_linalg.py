"""TF matrix ops: band parts (tril/triu), diagonal matrices (tf.eye, tf.linalg.diag), Einsum."""
from __future__ import annotations

import numpy as np

from .mapper import tf_op


@tf_op("MatrixBandPart", inputs=3)
def _band_part(ctx, node, inputs):
    return [ctx.op("core.matrix_band_part", inputs[:3])]


@tf_op("MatrixDiagV3", inputs=5)
def _matrix_diag_v3(ctx, node, inputs):
    return [ctx.op("core.matrix_diag", inputs[:5], {"align": node.attr_str("align", "RIGHT_LEFT")})]


@tf_op("MatrixDiagV2", inputs=5)
def _matrix_diag_v2(ctx, node, inputs):
    """V2 is V3 with every diagonal aligned left."""
    return [ctx.op("core.matrix_diag", inputs[:5], {"align": "LEFT_LEFT"})]


@tf_op("MatrixDiag", inputs=1)
def _matrix_diag(ctx, node, inputs):
    """V1: the main diagonal of square matrices, zeros elsewhere."""
    d = inputs[0]
    consts = [ctx.const(np.int32(v)) for v in (0, -1, -1)] + [ctx.const(np.zeros((), d.dtype.np))]
    return [ctx.op("core.matrix_diag", [d] + consts)]


# -- Einsum: transposes, reshapes and one matmul -----------------------------------------------------


def _split_equation(equation: str, ranks):
    """Per operand and for the output, its labels (one char each), with ``...`` expanded into
    digit labels aligned from the right (numpy broadcasting); None when it cannot be read."""
    eq = equation.replace(" ", "")
    if "->" not in eq:
        return None
    lhs, out = eq.split("->", 1)
    terms = lhs.split(",")
    if len(terms) != len(ranks) or any(r is None for r in ranks):
        return None
    widths = [r - len(t.replace("...", "")) if "..." in t else 0 for t, r in zip(terms, ranks)]
    width = max(widths + [0])
    ell = [str(i) for i in range(width)]

    def expand(term, w):
        if term.count("...") > 1 or "." in term.replace("...", ""):
            return None
        return term.replace("...", "".join(ell[width - w:])) if "..." in term else term

    labels = [expand(t, w) for t, w in zip(terms, widths)]
    out = expand(out, width)
    if out is None or any(t is None for t in labels) or any(len(t) != r for t, r in zip(labels, ranks)):
        return None
    if any(len(set(t)) != len(t) for t in labels + [out]) or not set(out) <= set("".join(labels)):
        return None  # repeated labels (diagonals, traces) are not matmuls
    return labels, out


def _transpose(ctx, x, labels, order):
    labels, order = list(labels), list(order)
    if labels == order:
        return x
    perm = [labels.index(c) for c in order]
    return ctx.op("core.transpose", [x, ctx.const(np.asarray(perm, np.int32))])


def _sum_out(ctx, x, labels, keep):
    """Sum over the labels of ``x`` that are not in ``keep``."""
    axes = [i for i, c in enumerate(labels) if c not in keep]
    if not axes:
        return x, labels
    return ctx.op("core.reduce_sum", [x], {"axes": axes}), "".join(c for c in labels if c in keep)


def _merged(dims):
    """The product of ``dims`` (None when one is unknown)."""
    return None if any(d is None for d in dims) else int(np.prod(dims, dtype=np.int64))


def _reshape(ctx, x, dims):
    """x reshaped to ``dims`` (at most one unknown, written -1); None when more are unknown."""
    if sum(d is None for d in dims) > 1:
        return None
    if x.shape is not None and tuple(x.shape) == tuple(dims):
        return x
    return ctx.op("core.reshape", [x, ctx.const(np.asarray([-1 if d is None else d for d in dims], np.int32))])


@tf_op("Einsum", inputs=(1, 2))
def _einsum(ctx, node, inputs):
    """Labels in both operands and the output are batch dims, in both but not the output are
    contracted, in one operand and the output are its free dims (in one operand only: summed
    first). Each side is transposed to [batch, free, contracted] (or [batch, contracted, free]
    when it already is: a transpose_a/b instead), groups of several labels are merged by a
    reshape, one matmul, and the result is reshaped and transposed to the output. Without batch
    labels the left side's free dims stay leading dims against a 2-D right side, which lowers to
    FULLY_CONNECTED when it is constant weights (Keras EinsumDense)."""
    split = _split_equation(node.attr_str("equation"), [v.rank for v in inputs])
    if split is None:
        return None
    labels, out = split
    if len(inputs) == 1:
        x, have = _sum_out(ctx, inputs[0], labels[0], out)
        return [_transpose(ctx, x, have, out)]
    (a, b), (la, lb) = inputs, labels
    a, la = _sum_out(ctx, a, la, set(lb) | set(out))
    b, lb = _sum_out(ctx, b, lb, set(la) | set(out))
    batch = [c for c in out if c in la and c in lb]
    contracted = [c for c in la if c in lb and c not in out]
    free_a = [c for c in la if c not in lb]
    free_b = [c for c in lb if c not in la]
    dims_a, dims_b = dict(zip(la, a.shape)), dict(zip(lb, b.shape))
    broadcast = {c: dims_b[c] if dims_a[c] in (None, 1) else dims_a[c] for c in batch}
    k = _merged([dims_a[c] if dims_a[c] is not None else dims_b[c] for c in contracted])
    m = _merged([dims_a[c] for c in free_a])
    n = _merged([dims_b[c] for c in free_b])
    trans_a = list(la) == batch + contracted + free_a != batch + free_a + contracted
    trans_b = list(lb) == batch + free_b + contracted != batch + contracted + free_b
    a = _transpose(ctx, a, la, batch + (contracted + free_a if trans_a else free_a + contracted))
    b = _transpose(ctx, b, lb, batch + (free_b + contracted if trans_b else contracted + free_b))
    keep_leading = not batch and not trans_a
    if keep_leading:  # [free_a..., K] @ [K, N]
        a = _reshape(ctx, a, [dims_a[c] for c in free_a] + [k] if free_a else [1, k])
    else:
        a = _reshape(ctx, a, [dims_a[c] for c in batch] + ([k, m] if trans_a else [m, k]))
    b = _reshape(ctx, b, [dims_b[c] for c in batch] + ([n, k] if trans_b else [k, n]))
    if a is None or b is None:
        return None  # several unknown dims in one group: stays foreign until shapes are known
    y = ctx.op("core.matmul", [a, b], {"transpose_a": trans_a, "transpose_b": trans_b})
    y = _reshape(ctx, y, [broadcast[c] for c in batch] + [dims_a[c] for c in free_a] + [dims_b[c] for c in free_b])
    if y is None:
        return None
    return [_transpose(ctx, y, batch + free_a + free_b, list(out))]
