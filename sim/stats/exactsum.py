"""Exact sums of float64 arrays, so that statistics merged from chunks do not depend on the merge order.

Floating-point addition is not associative: summing the same costs in chunks of 1,000 or of 333, or
merging chunk totals in the order worker processes finish, gives sums that differ in their last bits.
An exact sum has no such problem. Every finite float64 is an integer times a power of two,
x = M · 2^E with |M| < 2^53 and E ≥ −1126, so x · 2^SCALE is an integer for SCALE = 1126. The sum of
many such numbers, kept as one Python integer (``Σ x_i · 2^SCALE``), is exact; adding two of them is
integer addition, which is associative and commutative. So the merged total of any chunking, in any
order, is the same integer, and it is rounded to a float only once, at the end.

:func:`exact_sum` does this for a whole array with NumPy, without a Python loop over the values:
``np.frexp`` splits each value into M and E; each M is cut into three pieces of at most 18 bits, and
``np.bincount`` adds the pieces of equal exponent in float64, which is exact because every partial sum
stays an integer below 2^53 (for fewer than 2^35 values a call). Only the handful of distinct
exponents is then combined in Python integers. This is the "long accumulator" idea (Kulisch) in its
simplest form; ``math.fsum`` (Shewchuk) is exact too, but gives a rounded result that cannot be merged.

:func:`to_float`, :func:`mean` and :func:`variance` turn the integers back into correctly rounded
floats through :class:`fractions.Fraction`, so the cancellation in Σx² − (Σx)²/n costs nothing either.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

#: Every finite float64 times 2**SCALE is an integer (the smallest subnormal is 2**-1074 = 2**52 · 2**-1126).
SCALE = 1126
_TWO_53 = float(2**53)
_TWO_36 = float(2**36)
_TWO_18 = float(2**18)
_MAX_VALUES = 2**35  # per bincount: 2**35 pieces below 2**18 sum below 2**53


def exact_sum(values: np.ndarray) -> int:
    """Σ values · 2**SCALE, exactly, as a Python integer (``values``: any numeric or boolean array).

    >>> exact_sum(np.array([0.1, 0.2])) == exact_sum(np.array([0.2, 0.1]))
    True
    >>> to_float(exact_sum(np.array([1e16, 1.0, -1e16])))  # a float64 sum gives 0.0
    1.0
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0 or not x.any():  # empty, or all zeros (many fields of many workflows)
        return 0
    if not np.isfinite(x).all():
        raise ValueError("exact_sum: the values include NaN or infinity")
    if x.size > _MAX_VALUES:
        return sum(exact_sum(x[i:i + _MAX_VALUES]) for i in range(0, x.size, _MAX_VALUES))
    mantissa, exponent = np.frexp(x)  # x = mantissa · 2**exponent, 0.5 <= |mantissa| < 1
    whole = mantissa * _TWO_53  # an integer-valued float, |whole| < 2**53: x = whole · 2**(exponent − 53)
    high = np.floor(whole / _TWO_36)  # whole = high · 2**36 + middle · 2**18 + low
    rest = whole - high * _TWO_36
    middle = np.floor(rest / _TWO_18)
    low = rest - middle * _TWO_18
    lowest = int(exponent.min())
    bins = exponent - lowest
    total = 0
    sums = [np.bincount(bins, weights=part) for part in (high, middle, low)]
    for offset in np.flatnonzero((sums[0] != 0) | (sums[1] != 0) | (sums[2] != 0)).tolist():
        h, m, lo = (int(s[offset]) for s in sums)
        total += ((h << 36) + (m << 18) + lo) << (lowest + offset - 53 + SCALE)
    return total


def exact_sums(values: np.ndarray) -> tuple[int, int]:
    """(Σx, Σx²) · 2**SCALE, exactly. For floats, Σx² sums the float64 squares (each rounded once, the
    same way whatever the chunking); integers and booleans are summed as integers, squares included."""
    x = np.asarray(values)
    if x.dtype.kind in "biu":
        return _integer_sums(x.astype(np.int64, copy=False))
    x = x.astype(np.float64, copy=False)
    return exact_sum(x), exact_sum(x * x)


def _integer_sums(x: np.ndarray) -> tuple[int, int]:
    """Σx and Σx² of an int64 array in int64 arithmetic when nothing can overflow, else in Python ints."""
    if x.size == 0:
        return 0, 0
    largest = int(np.abs(x).max())
    if largest * largest * x.size < 2**63:
        return int(x.sum()) << SCALE, int(np.dot(x, x)) << SCALE
    values = x.tolist()
    return sum(values) << SCALE, sum(v * v for v in values) << SCALE


def to_float(total: int) -> float:
    """An exact sum, correctly rounded to the nearest float."""
    return float(Fraction(total, 1 << SCALE))


def mean(total: int, n: int) -> float:
    """Σx / n, correctly rounded."""
    return float(Fraction(total, n << SCALE))


def variance(total: int, total_squares: int, n: int) -> float:
    """The sample variance (n − 1 in the denominator) from exact Σx and Σx², correctly rounded; 0 when
    it would be negative (it cannot be, up to the rounding of the squares)."""
    if n < 2:
        raise ValueError("variance needs at least two values")
    s1 = Fraction(total, 1 << SCALE)
    s2 = Fraction(total_squares, 1 << SCALE)
    return max(0.0, float((s2 - s1 * s1 / n) / (n - 1)))
