"""Exact sums: the same integer whatever the order or the chunking, and equal to the rational sum."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from sim.stats import exactsum
from sim.stats.exactsum import SCALE, exact_sum, exact_sums


def _rational(values) -> Fraction:
    return sum((Fraction(float(v)) for v in values), Fraction(0))


def test_exact_sum_is_the_rational_sum_of_the_floats():
    rng = np.random.default_rng(11)
    values = np.concatenate([rng.lognormal(-5, 2, 3000), -rng.lognormal(3, 4, 500),
                             [0.0, 5e-324, -2.2e-308, 1e300, -1e300, 1.0, 1e16, -1e16]])
    assert Fraction(exact_sum(values), 1 << SCALE) == _rational(values)


def test_exact_sum_does_not_depend_on_order_or_chunking():
    rng = np.random.default_rng(12)
    values = rng.lognormal(-4.6, 0.6, 100_000)
    whole = exact_sum(values)
    shuffled = values[rng.permutation(len(values))]
    assert exact_sum(shuffled) == whole
    for size in (1, 333, 1000, 77_777):
        assert sum(exact_sum(values[i:i + size]) for i in range(0, len(values), size)) == whole
    assert exactsum.to_float(whole) == pytest.approx(float(np.sum(values)), rel=1e-13)


def test_catastrophic_cancellation_costs_nothing():
    values = np.array([1e16, 1.0, -1e16, 1.0])
    assert float(np.sum(values)) != 2.0  # float64 loses the ones
    assert exactsum.to_float(exact_sum(values)) == 2.0


def test_integer_sums_are_exact_even_past_int64_squares():
    values = np.array([2**40, -(2**40), 3, 2**31], dtype=np.int64)  # squares overflow int64 when summed
    s1, s2 = exact_sums(values)
    assert s1 >> SCALE == 3 + 2**31
    assert s2 >> SCALE == 2 * 2**80 + 9 + 2**62
    flags = np.array([True, False, True, True])
    assert exact_sums(flags) == (3 << SCALE, 3 << SCALE)


def test_mean_and_variance_are_the_correctly_rounded_rationals():
    rng = np.random.default_rng(13)
    values = rng.normal(1e6, 1.0, 5000)  # a large mean: Σx² − (Σx)²/n cancels almost everything
    s1, s2 = exact_sums(values)
    n = len(values)
    exact_mean = _rational(values) / n
    assert exactsum.mean(s1, n) == float(exact_mean)
    squares = _rational(values * values)  # the float64 squares, each rounded once
    assert exactsum.variance(s1, s2, n) == float((squares - _rational(values) ** 2 / n) / (n - 1))
    assert exactsum.variance(s1, s2, n) == pytest.approx(float(np.var(values, ddof=1)), rel=1e-6)


def test_nan_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        exact_sum(np.array([1.0, np.nan]))
