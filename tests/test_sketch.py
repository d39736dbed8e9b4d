"""The quantile sketch: within its stated relative error of np.quantile, and merges that do not depend
on order."""

from __future__ import annotations

import numpy as np
import pytest

from sim.stats.sketch import RELATIVE_ERROR, LogHistogram, bin_index, bin_middle

QS = (0.01, 0.5, 0.9, 0.95, 0.99, 0.999)


def _samples() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(21)
    n = 1_000_000
    atoms = rng.choice(np.array([0.0, 0.0012, 0.0031, 0.05]), size=n, p=[0.05, 0.6, 0.3, 0.05])
    return {
        "lognormal costs": rng.lognormal(np.log(0.01), 0.6, n),
        "pareto tail": 0.001 * (1 + rng.pareto(1.5, n)),
        "atoms and zeros": atoms,
        "latencies": rng.gamma(4.0, 5.0, n),
    }


@pytest.fixture(scope="module")
def samples():
    return _samples()


@pytest.mark.parametrize("name", ["lognormal costs", "pareto tail", "atoms and zeros", "latencies"])
def test_quantiles_of_a_million_values_are_within_the_stated_error(samples, name):
    values = samples[name]
    sketch = LogHistogram.of(values)
    for q in QS:
        exact = float(np.quantile(values, q))
        assert sketch.quantile(q) == pytest.approx(exact, rel=RELATIVE_ERROR, abs=0), (name, q)
    # the requirement, with room: p95 and p99 within 1% of exact
    for q in (0.95, 0.99):
        assert abs(sketch.quantile(q) - np.quantile(values, q)) <= 0.01 * np.quantile(values, q)


def test_order_statistics_are_within_the_error_and_the_ends_exact(samples):
    values = samples["lognormal costs"]
    ordered = np.sort(values)
    sketch = LogHistogram.of(values)
    ranks = np.array([0, 1, 10, 4999, 500_000, 950_000, 999_998, 999_999])
    got = sketch.order_statistics(ranks)
    assert np.all(np.abs(got - ordered[ranks]) <= RELATIVE_ERROR * ordered[ranks])
    assert got[0] == ordered[0] and got[-1] == ordered[-1]


def test_every_value_is_within_the_error_of_its_bin_middle():
    rng = np.random.default_rng(22)
    values = np.concatenate([rng.lognormal(0, 20, 200_000), [5e-324, 2.0**-1022, 0.5, 1.0, 2.0, 1e308]])
    middles = bin_middle(bin_index(values))
    assert np.all(np.abs(middles - values) <= RELATIVE_ERROR * values)


def test_merging_in_any_order_gives_the_same_sketch(samples):
    values = samples["atoms and zeros"][:200_000]
    rng = np.random.default_rng(23)
    whole = LogHistogram.of(values)
    parts = [LogHistogram.of(values[i:i + 7_000]) for i in range(0, len(values), 7_000)]
    for order in (range(len(parts)), rng.permutation(len(parts))):
        merged = LogHistogram()
        for index in order:
            merged = merged.merge(parts[index])
        assert np.array_equal(merged.bins, whole.bins) and np.array_equal(merged.counts, whole.counts)
        assert (merged.zeros, merged.n, merged.min, merged.max) == (whole.zeros, whole.n, whole.min, whole.max)


def test_negative_values_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        LogHistogram.of(np.array([1.0, -1.0]))
