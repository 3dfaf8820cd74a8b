"""Convolution weights rounded for the least output error on calibration data (GPTQ, Frantar et al. 2022).

Rounding each weight to nearest minimizes the weights' error, not the output's. A channel's output
error is dW . x, and its mean square over the data is dW^T H dW with H = E[x x^T] (x: the input patch
a row of weights reads). GPTQ rounds one input position at a time, largest E[x_i^2] first ("act
order"), and moves the weights not yet rounded by the optimal least-squares correction (through H^-1),
so later weights compensate the earlier ones' rounding. Scales stay per channel max / 127.

Why: on the input-dependent MobileNetV2 (docs/benchmarks.md section 5) weight rounding is most of the
int8 logit error (fake-quant in float on 150 images: weights alone rms 0.21, activations alone 0.10).
GPTQ on CONV_2D and DEPTHWISE_CONV_2D: top-1 agreement with float 92.9% -> 95.5%, rms logit error
0.249 -> 0.163 on 2000 held-out images; without act order 94.6%, 0.182. FULLY_CONNECTED is left to
round to nearest: on that model it changes nothing measurable (rms 0.1631 either way), and an LSTM's
gate weights would need their own evaluation.

H is measured on the float model's inputs during calibration: for every supported node, a random
subset of POSITIONS_PER_SAMPLE input patches per sample (the depthwise case: one 9x9 H per channel).
The positions are drawn first and only their patches gathered (window_patches(positions=...)); with
the depthwise moments summed over channel-contiguous rows this cut the moments' share of MobileNetV2's
int8 conversion from 14 s to 5 s of CPU (docs/benchmarks.md section 5), with the same H to the bit.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from litesmith.ir.graph import Graph, Node, Value
from litesmith.ir.ops.nn import window_padding, window_patches

from .recurrent import feeding_state

OPS = frozenset({"tfl.conv_2d", "tfl.depthwise_conv_2d"})
FC = "tfl.fully_connected"  # rounded by GPTQ when InputMoments is asked for it (fully_connected=True)
POSITIONS_PER_SAMPLE = 2048  # input patches drawn per calibration sample and layer
DAMPING = 0.01  # of H's mean diagonal, added to its diagonal (H is singular when inputs are dependent)
# Longest weight row (kh * kw * input channels) rounded by GPTQ: H is row x row (float64) and the
# rounding costs O(rows * row^2); 3x3x512 with 512 rows takes a few seconds, longer rows round to nearest.
MAX_ROW = 4608
BLOCK = 128  # columns rounded between two updates of the remaining weights (the same result, faster)


class InputMoments:
    """Calibration observer: E[x x^T] of each supported node's input patches ([d, d] with d = kh*kw*I
    for CONV_2D; [C, kh*kw, kh*kw] for DEPTHWISE_CONV_2D)."""

    def __init__(self, graph: Graph, seed: int = 0, fully_connected: bool = False):
        self.readers: Dict[Value, list] = {}
        recurrent = feeding_state(graph) if fully_connected else set()
        for node in graph.nodes:
            if (node.op in OPS or (fully_connected and node.op == FC and node not in recurrent)) and _supported(node):
                self.readers.setdefault(node.inputs[0], []).append(node)
        self.sums: Dict[Node, np.ndarray] = {}
        self.counts: Dict[Node, int] = {}
        self.rng = np.random.default_rng(seed)

    def record(self, v: Value, arr) -> None:
        for node in self.readers.get(v, ()):
            rows = self._rows(node, np.asarray(arr, np.float32))
            if rows is None:
                continue
            if node.op == "tfl.depthwise_conv_2d":  # one small H per channel
                # (channels the contiguous axis, as the patches come: einsum then runs over whole rows
                # of channels, 4-7x faster than over [positions, channels, taps])
                h = np.einsum("pic,pjc->cij", rows, rows)
            else:
                h = rows.T @ rows
            self.sums[node] = self.sums.get(node, 0) + h.astype(np.float64)
            self.counts[node] = self.counts.get(node, 0) + rows.shape[0]

    def __call__(self, node, outs) -> None:
        for v, o in zip(node.outputs, outs):
            if v in self.readers:
                self.record(v, o)

    def _rows(self, node: Node, x: np.ndarray) -> Optional[np.ndarray]:
        """[positions, kh*kw*I] (CONV_2D) or [positions, kh*kw, C] (DEPTHWISE_CONV_2D): at most
        POSITIONS_PER_SAMPLE windows, drawn before any patch is built."""
        w = node.inputs[1].const_value()
        if node.op == FC:  # every row of the input is one sample: [rows, d] against weights [O, d]
            return x.reshape(-1, w.shape[1]) if x.size % w.shape[1] == 0 else None
        if x.ndim != 4 or x.shape[3] != w.shape[3]:
            return None
        a = node.attrs
        ksize, strides, padding = w.shape[1:3], (a.get("stride_h", 1), a.get("stride_w", 1)), a.get("padding", "SAME")
        count = x.shape[0]
        for size, k, stride in zip(x.shape[1:3], ksize, strides):
            count *= window_padding(size, k, stride, 1, padding)[0]
        chosen = self.rng.choice(count, POSITIONS_PER_SAMPLE, replace=False) if count > POSITIONS_PER_SAMPLE else None
        p = window_patches(x, ksize, strides, (1, 1), padding, (), positions=chosen)
        p = p.reshape(-1, w.shape[1] * w.shape[2], x.shape[3])  # [positions, taps, channels]
        if node.op == "tfl.depthwise_conv_2d":
            return p
        return p.reshape(p.shape[0], -1)  # (kh, kw, I) order, as the weights [O, kh, kw, I]

    def second_moments(self) -> Dict[Node, np.ndarray]:
        return {n: s / max(self.counts[n], 1) for n, s in self.sums.items()}


def _supported(node: Node) -> bool:
    """Constant 4-D weights, dilation 1; depthwise with depth multiplier 1; rows up to MAX_ROW."""
    a, w = node.attrs, node.inputs[1].const_value() if len(node.inputs) > 1 else None
    if node.op == FC:
        return w is not None and w.ndim == 2 and w.shape[1] <= MAX_ROW
    if w is None or w.ndim != 4 or a.get("dilation_h_factor", 1) != 1 or a.get("dilation_w_factor", 1) != 1:
        return False
    x = node.inputs[0]
    if node.op == "tfl.depthwise_conv_2d":
        return x.shape is not None and w.shape[3] == x.shape[-1]
    return w.shape[1] * w.shape[2] * w.shape[3] <= MAX_ROW


def round_rows(w: np.ndarray, scales: np.ndarray, h: np.ndarray, qmax: int = 127, act_order: bool = True) -> np.ndarray:
    """GPTQ: integer weights [O, d] for float rows ``w`` [O, d] with per-row ``scales`` [O] and the
    input second moment ``h`` ([d, d] shared by every row, or [O, d, d] one per row)."""
    w = np.asarray(w, np.float64).copy()
    s = np.asarray(scales, np.float64)
    h = np.array(h, np.float64)
    shared = h.ndim == 2
    if shared and act_order:  # largest inputs first: their errors have the most weights left to absorb them
        order = np.argsort(-np.diag(h), kind="stable")
        q = round_rows(w[:, order], s, h[np.ix_(order, order)], qmax, act_order=False)
        return q[:, np.argsort(order)]
    hb = h[None] if shared else h
    diag = np.einsum("...ii->...i", hb)
    idx = np.arange(w.shape[1])
    # Damping; an input that is always 0 (diagonal 0) gets 1: its weight then rounds to nearest.
    hb[..., idx, idx] += DAMPING * np.maximum(diag.mean(-1, keepdims=True), 1e-12) + (diag <= 0)
    u = np.linalg.cholesky(np.linalg.inv(hb)).swapaxes(-1, -2)  # upper factor of H^-1
    u = u[0] if shared else u
    q = np.zeros_like(w)
    d = w.shape[1]
    for start in range(0, d, BLOCK):  # within a block column by column; the rest in one product per block
        end = min(start + BLOCK, d)
        errs = np.zeros((w.shape[0], end - start))
        for i in range(start, end):
            q[:, i] = np.clip(np.floor(np.abs(w[:, i] / s) + 0.5) * np.sign(w[:, i]), -qmax, qmax)
            uii, rest = (u[i, i], u[i, i + 1:end][None, :]) if shared else (u[:, i, i], u[:, i, i + 1:end])
            errs[:, i - start] = err = (w[:, i] - q[:, i] * s) / uii
            w[:, i + 1:end] -= err[:, None] * rest
        if end < d:
            w[:, end:] -= errs @ u[start:end, end:] if shared else np.einsum("ob,obk->ok", errs, u[:, start:end, end:])
    return q


_MEMO: Dict[tuple, tuple] = {}  # (id(w), id(h)) -> (w, h, scales, result): the budget's trials share both
MEMO_SIZE = 64


def quantize_weights(op: str, w: np.ndarray, scales, h: np.ndarray) -> Optional[np.ndarray]:
    """int8 weights in ``w``'s layout (CONV_2D [O, kh, kw, I], DEPTHWISE_CONV_2D [1, kh, kw, C],
    FULLY_CONNECTED [O, d]) rounded by :func:`round_rows`; None when ``h`` or ``scales`` do not fit.
    The same arrays give the same result without rounding again (the accuracy budget quantizes
    copies of one graph, which share their constants, many times)."""
    key = (id(w), id(h))
    hit = _MEMO.get(key)
    s = np.asarray(scales, np.float64).reshape(-1)
    if hit is not None and hit[0] is w and hit[1] is h and np.array_equal(hit[2], s):
        return hit[3]
    result = _quantize_weights(op, w, scales, h)
    if len(_MEMO) >= MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = (w, h, s, result)
    return result


def _quantize_weights(op: str, w: np.ndarray, scales, h: np.ndarray) -> Optional[np.ndarray]:
    w = np.asarray(w, np.float32)
    rows = w.reshape(-1, w.shape[3]).T if op == "tfl.depthwise_conv_2d" else w.reshape(w.shape[0], -1)
    d = rows.shape[1]
    want = (rows.shape[0], d, d) if op == "tfl.depthwise_conv_2d" else (d, d)
    scales = np.asarray(scales, np.float64).reshape(-1)
    if h.shape != want or scales.size != rows.shape[0]:
        return None
    q = round_rows(rows, scales, h)
    return (q.T if op == "tfl.depthwise_conv_2d" else q).reshape(w.shape).astype(np.int8)
