"""TFLite's integer arithmetic, vectorized over numpy int64 arrays.

Mirrors tensorflow/lite/kernels/internal/common.h (default build, double
rounding): ``QuantizeMultiplier``, ``SaturatingRoundingDoublingHighMul``,
``RoundingDivideByPOT`` and ``MultiplyByQuantizedMultiplier``; LiteRT's per-channel
FULLY_CONNECTED rounds once instead (``multiply_by_quantized_multiplier_once``). Integer
division in C++ truncates toward zero; the helpers below do the same.
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def quantize_multiplier(real: float) -> Tuple[int, int]:
    """``real`` as (q31 significand, power-of-two exponent): real ~= q * 2^(shift - 31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def _round_away(x: float) -> int:
    """std::round: halves go away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def round_away(x: np.ndarray) -> np.ndarray:
    """Elementwise std::round (TfLiteRound) on floats, kept in the input's float type."""
    x = np.asarray(x)
    return np.sign(x) * np.floor(np.abs(x) + x.dtype.type(0.5))


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """a * b / 2^31 to the nearest integer, halves up. C++ adds a nudge of 2^30 (1 - 2^30 when
    a * b < 0) and divides truncating toward zero; for a negative product that truncation is
    floor((a * b + 1 - 2^30 + 2^31 - 1) / 2^31), so both signs come to one arithmetic shift of
    a * b + 2^30 (the same integers, without numpy's slow ``//`` or a select)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    out = (a * b + (1 << 30)) >> 31
    if np.any(b == INT32_MIN):  # the one overflow: INT32_MIN * INT32_MIN saturates
        out = np.where((a == b) & (a == INT32_MIN), INT32_MAX, out)
    return out


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """x * multiplier * 2^(shift - 31) with TFLite's rounding (per-channel arrays broadcast)."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = np.asarray(x, np.int64) * (np.int64(1) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)


def multiply_by_quantized_multiplier_once(x, multiplier, shift) -> np.ndarray:
    """The same product rounded once (halves up): x * multiplier + 2^(30 - shift), shifted right by
    31 - shift. LiteRT's per-channel int8 FULLY_CONNECTED rounds this way, where the doubling
    high-mul above rounds twice (an accumulator at 12.497 became 800 / 64 = 12.5 -> 13 there)."""
    total = 31 - np.asarray(shift, np.int64)
    x = np.asarray(x, np.int64) * np.asarray(multiplier, np.int64)
    return (x + (np.int64(1) << (total - 1))) >> total


def multiplier_pairs(reals) -> Tuple[np.ndarray, np.ndarray]:
    """Vector form of ``quantize_multiplier``: (multipliers, shifts) as int64 arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).reshape(-1)]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)
