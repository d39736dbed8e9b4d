"""Statistics: intervals against scipy and hand-computed cases; quantiles withheld when N is too small."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.stats.intervals import mean_ci95, proportion_ci95, quantile_ci95, tasks_needed
from sim.stats.summary import cost_summary, paired_difference
from sim.stats.taskstats import ColumnView


def test_mean_interval_is_the_student_t_interval():
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    mean, ci = mean_ci95(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert mean == 5.0
    assert ci == pytest.approx([lo, hi], rel=1e-12)


def test_one_value_has_no_interval_and_constant_values_a_zero_width_one():
    assert mean_ci95(np.array([3.0])) == (3.0, None)
    assert mean_ci95(np.full(10, 0.25))[1] == [0.25, 0.25]


def test_quantiles_need_enough_tasks_beyond_them():
    assert [tasks_needed(q) for q in (0.5, 0.9, 0.95, 0.99)] == [20, 100, 200, 1000]
    summary, intervals, notes = cost_summary(np.linspace(0, 1, 150))
    assert summary["p50"] is not None and summary["p90"] is not None
    assert summary["p95"] is None and summary["p99"] is None
    assert set(intervals) == {"p50", "p90"}
    assert any("p99 needs at least 1000 tasks" in note for note in notes)


def test_quantile_interval_brackets_the_quantile_by_order_statistics():
    ordered = np.arange(1, 1001, dtype=float)  # 1..1000
    lo, hi = quantile_ci95(ordered, 0.5)
    # Binomial(1000, 0.5): 2.5% and 97.5% points are 469 and 531.
    assert (lo, hi) == (469.0, 532.0)
    assert lo <= np.quantile(ordered, 0.5) <= hi


def test_wilson_interval_on_a_known_case():
    # 0 successes of 10: Wilson upper bound z^2 / (n + z^2) = 3.8415 / 13.8415.
    lo, hi = proportion_ci95(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(1.959963984540054**2 / (10 + 1.959963984540054**2), rel=1e-12)


def test_paired_difference_is_the_mean_of_differences():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    d = paired_difference(a + np.array([0.1, 0.2, 0.1, 0.2]), a)
    assert d["mean"] == pytest.approx(0.15)
    assert d["ci95"][0] < 0.15 < d["ci95"][1]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1e6, allow_subnormal=True), st.sampled_from([0.0, 1e-9, 0.5, 3.0])),
                min_size=1, max_size=400),
       st.lists(st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.0, 1.0, 0.25]), max_size=6))
def test_a_columns_quantiles_in_one_call_are_the_floats_of_one_call_each(values, qs):
    """The summary asks a column for its quantiles together; each must be the float np.quantile gives alone."""
    column = np.asarray(values)
    assert ColumnView({"cost_usd": column}).quantiles("cost_usd", qs) == [float(np.quantile(column, q)) for q in qs]


def test_cost_summary_quantiles_are_numpys_and_the_tail_ones_need_their_tasks():
    costs = np.random.default_rng(3).lognormal(-5, 1, 150)  # p90 needs 100 tasks (10 beyond it), p95 200
    summary, intervals, notes = cost_summary(costs)
    assert summary["p50"] == float(np.quantile(costs, 0.5)) and summary["p90"] == float(np.quantile(costs, 0.9))
    assert summary["p95"] is None and summary["p99"] is None and set(intervals) == {"p50", "p90"}
    assert [note[:3] for note in notes] == ["p95", "p99"]
