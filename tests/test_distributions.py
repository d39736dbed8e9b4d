"""Distributions: inverse-CDF sampling, clamps, rounding, and exact means checked against closed forms."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from scipy import stats

from sim.spec.distributions import DRAW_CEILING, HIGH_QUANTILE, LOOP_CEILING, Distribution, Fixed

ADAPTER = TypeAdapter(Distribution)
GRID = (np.arange(400_000) + 0.5) / 400_000  # a fine, deterministic grid of uniforms


def dist(raw):
    return ADAPTER.validate_python(raw)


def test_a_number_is_a_fixed_value():
    d = dist(300)
    assert isinstance(d, Fixed)
    assert d.sample(np.array([0.01, 0.99]), integer=True).tolist() == [300, 300]


@pytest.mark.parametrize(
    "raw, exact_mean",
    [
        ({"lognormal": {"median": 200, "sigma": 0.4}}, 200 * math.exp(0.4**2 / 2)),
        ({"uniform": {"low": 2, "high": 6}}, 4.0),
        ({"exponential": {"mean": 0.5}}, 0.5),
        ({"poisson": {"mean": 1.7}}, 1.7),
        ({"empirical": {"values": [1, 2, 10], "weights": [1, 1, 2]}}, (1 + 2 + 20) / 4),
        # truncated normal: mu + sigma * phi(a) / (1 - Phi(a)), a = -mu / sigma
        ({"normal": {"mean": 100, "sd": 80}},
         100 + 80 * stats.norm.pdf(-100 / 80) / (1 - stats.norm.cdf(-100 / 80))),
    ],
)
def test_expected_value_matches_the_closed_form_and_the_inverse_cdf(raw, exact_mean):
    d = dist(raw)
    assert d.expected_value(integer=False) == pytest.approx(exact_mean, rel=1e-9)
    # The midpoint rule over a fine grid of uniforms integrates the inverse CDF: the mean again.
    assert float(np.mean(d.sample(GRID, integer=False))) == pytest.approx(exact_mean, rel=2e-3)


def test_the_lognormal_median_is_the_middle_draw():
    assert dist({"lognormal": {"median": 1000, "sigma": 0.6}}).sample(np.array([0.5]), integer=False)[0] == (
        pytest.approx(1000)
    )


def test_a_truncated_normal_never_goes_below_zero():
    values = dist({"normal": {"mean": 10, "sd": 50}}).sample(GRID, integer=True)
    assert values.min() >= 0


def test_poisson_with_min_one_has_mean_lambda_plus_e_to_minus_lambda():
    # max(N, 1) differs from N only when N = 0, which has probability e^-lambda.
    lam = 1.8
    d = dist({"poisson": {"mean": lam}, "min": 1})
    assert d.expected_value(integer=True) == pytest.approx(lam + math.exp(-lam), rel=1e-12)
    assert d.sample(GRID, integer=True).min() == 1


def test_clamps_hold_and_counts_are_integers():
    d = dist({"lognormal": {"median": 100, "sigma": 1.0}, "min": 20, "max": 300})
    values = d.sample(GRID, integer=True)
    assert values.dtype == np.int64
    assert values.min() == 20 and values.max() == 300
    assert d.expected_value(integer=True) == pytest.approx(float(np.mean(values)), rel=1e-4)


def test_rounded_mean_is_exact_for_a_uniform():
    # round-half-up of U(0, 4): 0 w.p. 1/8, 1..3 w.p. 1/4 each, 4 w.p. 1/8 -> mean 2.
    assert dist({"uniform": {"low": 0, "high": 4}}).expected_value(integer=True) == pytest.approx(2.0, abs=1e-9)


def test_empirical_frequencies_follow_the_weights():
    values = dist({"empirical": {"values": [5, 1], "weights": [3, 1]}}).sample(GRID, integer=True)
    assert np.mean(values == 5) == pytest.approx(0.75, abs=1e-5)


@pytest.mark.parametrize(
    "raw",
    [-1, {"normal": {"mean": 1, "sd": 0}}, {"uniform": {"low": 5, "high": 1}},
     {"empirical": {"values": [1, 2], "weights": [1]}}, {"lognormal": {"median": 1, "sigma": 1}, "min": 5, "max": 1},
     {"lognorml": {"median": 1, "sigma": 1}}, "300", True],
)
def test_invalid_distributions_are_rejected(raw):
    with pytest.raises(ValidationError):
        dist(raw)


# -- the ceiling of a draw (issue 13: impossible numbers became negative bills) ------------------------------

@pytest.mark.parametrize(
    "raw",
    [
        {"normal": {"mean": 300, "sd": 80}},
        {"normal": {"mean": -400, "sd": 80}},  # most of the mass cut off at 0: scipy's tail-safe branch
        {"lognormal": {"median": 200, "sigma": 1.5}},
        {"uniform": {"low": 2, "high": 6}},
        {"exponential": {"mean": 0.5}},
        {"poisson": {"mean": 1.7}},
        {"poisson": {"mean": 50_000}},
        {"empirical": {"values": [1, 2, 10], "weights": [1, 1, 2]}},
    ],
)
def test_the_closed_form_high_quantile_is_the_inverse_cdf_at_one_minus_1e_12(raw):
    # 1 - 1e-12 in binary is off by ~1e-16, a 1e-4 relative error in the tail mass the ppf sees: hence rel.
    d = dist(raw)
    by_ppf = float(d._raw_ppf(np.array([HIGH_QUANTILE]))[0])
    assert d.high_quantile() == pytest.approx(by_ppf, rel=1e-4, abs=1.0 if "poisson" in raw else 0)


@pytest.mark.parametrize(
    "raw, words",
    [
        (1e19, "less than or equal to 1000000000"),
        (math.inf, "finite"),
        ({"normal": {"mean": math.nan, "sd": 1}}, "finite"),
        ({"uniform": {"low": 0, "high": math.inf}}, "finite"),
        ({"uniform": {"low": 0, "high": 2e9}}, "{uniform: {low: 0, high: 2e+09}} can draw 2e+09"),
        ({"exponential": {"mean": 1e30}}, "{exponential: {mean: 1e+30}} can draw 2.76e+31"),
        ({"poisson": {"mean": 1e15}}, "{poisson: {mean: 1e+15}} can draw 1e+15"),
        ({"lognormal": {"median": 300, "sigma": 40}}, "can draw 4.77e+124"),
        ({"lognormal": {"median": 300, "sigma": 4000}}, "can draw beyond 1e+308"),
        ({"lognormal": {"median": 300, "sigma": 40}, "max": math.inf}, "finite"),
        ({"lognormal": {"median": 300, "sigma": 40}, "max": 1e10}, "less than or equal to 1000000000"),
        ({"exponential": {"mean": 1}, "min": 2e9}, "less than or equal to 1000000000"),
        ({"fixed": 2e9}, "2e+09 is above 1,000,000,000, the most one draw may be"),
        ({"empirical": {"values": [1, 2e9]}}, "less than or equal to 1000000000"),
    ],
)
def test_a_distribution_that_can_draw_past_the_ceiling_is_refused(raw, words):
    with pytest.raises(ValidationError, match=re.escape(words)):
        dist(raw)


@pytest.mark.parametrize(
    "raw",
    [
        DRAW_CEILING,
        {"uniform": {"low": 0, "high": DRAW_CEILING}},
        {"lognormal": {"median": 300, "sigma": 40}, "max": DRAW_CEILING},  # a clamp keeps every draw in
        {"exponential": {"mean": 1e6}},  # 1 - 1e-12 quantile 2.8e7
        {"normal": {"mean": -1e6, "sd": 1}},  # a sliver above 0: its draws are tiny
    ],
)
def test_a_distribution_within_the_ceiling_is_accepted(raw):
    d = dist(raw)
    assert np.all(d.sample(np.array([1e-9, 0.5, 1 - 1e-12]), integer=True) <= DRAW_CEILING)


def test_a_loop_count_has_its_own_lower_ceiling():
    from sim.spec.workflow import LoopStep

    def loop(repeat):
        return LoopStep(id="loop", repeat=repeat, steps=[{"id": "a", "tool": "t"}])

    assert loop({"poisson": {"mean": 900_000}}).repeat.high_quantile() < LOOP_CEILING
    assert loop({"lognormal": {"median": 5, "sigma": 40}, "max": LOOP_CEILING})
    with pytest.raises(ValidationError, match=r"2e\+06 .* above 1,000,000, the most a loop count may be"):
        loop(2e6)
    with pytest.raises(ValidationError, match=r"max \(2e\+06\) is above 1,000,000"):
        loop({"exponential": {"mean": 1}, "max": 2e6})


# -- mixture (issue 11) ------------------------------------------------------------------------------------

BIMODAL = {"mixture": [{"weight": 0.7, "lognormal": {"median": 200, "sigma": 0.3}},
                       {"weight": 0.3, "normal": {"mean": 900, "sd": 100}}]}


def mixture_cdf(x):
    """The bimodal mixture's CDF written independently of the package: scipy's lognormal and normal
    conditioned on >= 0 (the normal's mass below 0 is Phi(-9), which this keeps exactly)."""
    lognormal = stats.lognorm(0.3, scale=200).cdf(x)
    below = stats.norm.cdf(0, 900, 100)
    normal = np.clip((stats.norm.cdf(x, 900, 100) - below) / (1 - below), 0, None)
    return 0.7 * lognormal + 0.3 * normal


def engine_uniforms(n: int, seed: int = 20260511) -> np.ndarray:
    from sim.core.randomness import source_key, uniforms

    return uniforms(seed, np.arange(n, dtype=np.uint64), source_key("steps.answer.output"))


def test_a_mixtures_mean_is_the_weighted_mean_of_its_components():
    d = dist(BIMODAL)
    exact = 0.7 * 200 * math.exp(0.3**2 / 2) + 0.3 * (900 + 100 * stats.norm.pdf(-9) / stats.norm.cdf(9))
    assert d.expected_value(integer=False) == pytest.approx(exact, rel=1e-12)
    # Rounding half up of a continuous draw moves the mean by far less than 1e-6 here.
    assert d.expected_value(integer=True) == pytest.approx(exact, abs=1e-6)
    assert float(np.mean(d.sample(GRID, integer=False))) == pytest.approx(exact, rel=1e-4)


def test_mixture_draws_from_the_engines_uniforms_have_its_mean_and_its_distribution():
    d = dist(BIMODAL)
    x = d.sample(engine_uniforms(200_000), integer=False)
    exact = d.expected_value(integer=False)
    se = float(np.std(x, ddof=1)) / math.sqrt(len(x))
    assert abs(float(np.mean(x)) - exact) < 4 * se
    assert stats.kstest(x, mixture_cdf).pvalue > 0.01
    assert np.allclose(d.cdf(np.array([100.0, 250.0, 600.0, 900.0, 1200.0])),
                       mixture_cdf(np.array([100.0, 250.0, 600.0, 900.0, 1200.0])), rtol=1e-12, atol=1e-15)


def test_one_uniform_picks_the_component_and_its_quantile():
    # u below 0.7 is the lognormal's quantile at u / 0.7; from 0.7 on, the normal's at (u - 0.7) / 0.3.
    d = dist(BIMODAL)
    u = np.array([0.35, 0.7 * 0.999, 0.7, 0.85, 0.999])
    # At u = 0.7 exactly the rescaled uniform is 0, raised to 2^-54 (the smallest the engines draw).
    normal = stats.truncnorm(-9, np.inf, loc=900, scale=100)
    expected = [200.0, 200 * math.exp(0.3 * stats.norm.ppf(0.999)), normal.ppf(2.0**-54), 900.0,
                normal.ppf((0.999 - 0.7) / 0.3)]
    assert d.sample(u, integer=False) == pytest.approx(expected, rel=1e-9)
    shares = np.bincount((d.sample(GRID, integer=False) > 500).astype(int)) / len(GRID)
    assert shares[1] == pytest.approx(0.3 * stats.norm.sf(-4) + 0.7 * stats.lognorm(0.3, scale=200).sf(500), abs=1e-5)


def test_a_uniform_of_exactly_one_gives_a_finite_draw():
    # The engines' largest uniform, (2^53 - 0.5) / 2^53, rounds to 1.0: the mixture still draws a number.
    d = dist(BIMODAL)
    assert np.isfinite(d.sample(np.array([1.0, 2.0**-54]), integer=False)).all()


def test_a_mixture_with_a_fixed_component_and_a_clamp():
    # 20% of calls return nothing, the rest Poisson(3); min 1 turns the zeros (of both parts) into 1.
    d = dist({"mixture": [{"weight": 0.2, "fixed": 0}, {"weight": 0.8, "poisson": {"mean": 3}}], "min": 1})
    p_zero = 0.2 + 0.8 * math.exp(-3)
    assert d.expected_value(integer=True) == pytest.approx(0.8 * 3 + p_zero * 1, rel=1e-12)
    values = d.sample(GRID, integer=True)
    assert values.min() == 1 and np.mean(values) == pytest.approx(0.8 * 3 + p_zero, rel=1e-4)


def test_a_components_own_clamp_applies_within_it():
    d = dist({"mixture": [{"weight": 0.5, "exponential": {"mean": 10}, "max": 5},
                          {"weight": 0.5, "uniform": {"low": 100, "high": 200}}]})
    clamped_exponential_mean = 10 * (1 - math.exp(-0.5))  # E[min(X, 5)] = mean (1 - e^(-5 / mean))
    assert d.expected_value(integer=False) == pytest.approx(0.5 * clamped_exponential_mean + 0.5 * 150, rel=1e-4)
    assert d.cdf(np.array([5.0]))[0] == pytest.approx(0.5)


def test_the_mixtures_high_quantile_solves_its_tail_equation():
    d = dist(BIMODAL)
    q = d.high_quantile()
    assert 0.7 * stats.lognorm(0.3, scale=200).sf(q) + 0.3 * stats.norm.sf(q, 900, 100) / stats.norm.cdf(9) == (
        pytest.approx(1e-12, rel=1e-3))
    assert d.quantile_bound() >= q


def test_a_mixture_dumps_as_it_is_written_and_validates_again():
    d = dist({"mixture": [{"weight": 0.1, "fixed": 0}, {"weight": 0.9, "lognormal": {"median": 50, "sigma": 1}}]})
    dumped = d.model_dump(exclude_unset=True)
    assert dumped == {"mixture": [{"fixed": 0.0, "weight": 0.1},
                                  {"lognormal": {"median": 50.0, "sigma": 1.0}, "weight": 0.9}]}
    assert dist(dumped) == d and dist(d.model_dump()) == d
    assert d.written() == "{mixture: [{weight: 0.1, fixed: 0}, {weight: 0.9, lognormal: {median: 50, sigma: 1}}]}"


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"mixture": [{"weight": 0.7, "fixed": 1}, {"weight": 0.2, "fixed": 2}]}, "must sum to 1, but 0.7 + 0.2 = 0.9"),
        ({"mixture": [{"weight": 0, "fixed": 1}, {"weight": 1, "fixed": 2}]}, "greater than 0"),
        ({"mixture": [{"weight": 1, "mixture": [{"weight": 1, "fixed": 2}]}]}, "mixture_component"),
        ({"mixture": [{"fixed": 1}]}, "weight"),
        ({"mixture": []}, "at least 1 item"),
        ({"mixture": [{"weight": 1, "exponential": {"mean": 1e30}}]}, "can draw 2.76e+31"),
    ],
)
def test_invalid_mixtures_are_rejected(raw, words):
    with pytest.raises(ValidationError, match=re.escape(words)):
        dist(raw)


def test_a_mixture_loop_count_is_held_to_the_loop_ceiling():
    from sim.spec.workflow import LoopStep

    def loop(repeat):
        return LoopStep(id="loop", repeat=repeat, steps=[{"id": "a", "tool": "t"}])

    assert loop({"mixture": [{"weight": 0.5, "fixed": 0}, {"weight": 0.5, "poisson": {"mean": 3}}]})
    with pytest.raises(ValidationError, match=r"{mixture: \[{weight: 0.5, fixed: 0}, {weight: 0.5, exponential: "
                                              r"{mean: 50000}}\]} can draw 1.35e\+06 .* the most a loop count may be"):
        loop({"mixture": [{"weight": 0.5, "fixed": 0}, {"weight": 0.5, "exponential": {"mean": 50_000}}]})
