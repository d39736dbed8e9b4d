"""Choosing a distribution for observed values (sim.calibration.families), and the two-lognormal mixture.

The mixture's fit is held to known mixtures within standard errors; the choice is held on clearly bimodal
samples (always a mixture) and on lognormal samples (almost never: the likelihood-ratio test at 1% on top
of AIC), all at fixed seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats

from sim.calibration import families
from sim.calibration.families import MIXTURE_LR_CRITICAL, choose_family, fit_two_lognormals
from sim.spec.distributions import Distribution

# The bimodal truth: 70% lognormal(median 200, sigma 0.3), 30% lognormal(median 1500, sigma 0.2).
W, MEDIAN1, SIGMA1, MEDIAN2, SIGMA2 = 0.7, 200.0, 0.3, 1500.0, 0.2


def bimodal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    first = rng.random(n) < W
    return np.where(first, MEDIAN1 * np.exp(SIGMA1 * rng.standard_normal(n)),
                    MEDIAN2 * np.exp(SIGMA2 * rng.standard_normal(n)))


def lognormal(n: int, seed: int) -> np.ndarray:
    return np.floor(300 * np.exp(0.6 * np.random.default_rng(seed).standard_normal(n)) + 0.5)


@pytest.mark.parametrize("integer", [False, True])
def test_em_recovers_a_known_mixture_within_standard_errors(integer):
    n = 4000
    x = bimodal(n, seed=11)
    if integer:
        x = np.floor(x + 0.5)
    fit = fit_two_lognormals(x, integer)
    # The components barely overlap, so the estimates' standard errors are nearly those of known labels:
    # a binomial share, and a mean and sd of logs over each component's values.
    se_w = math.sqrt(W * (1 - W) / n)
    n1, n2 = W * n, (1 - W) * n
    assert abs(fit.weight - W) < 4 * se_w
    assert abs(fit.mu1 - math.log(MEDIAN1)) < 4 * SIGMA1 / math.sqrt(n1)
    assert abs(fit.mu2 - math.log(MEDIAN2)) < 4 * SIGMA2 / math.sqrt(n2)
    assert abs(fit.sigma1 - SIGMA1) < 4 * SIGMA1 / math.sqrt(2 * n1)
    assert abs(fit.sigma2 - SIGMA2) < 4 * SIGMA2 / math.sqrt(2 * n2)


def test_the_interval_likelihood_is_maximised_for_whole_numbers():
    # Small counts, where a rounding interval is wide on the log scale: the polished fit's interval
    # likelihood is at least the EM solution's (EM treats each log as exact).
    rng = np.random.default_rng(5)
    x = np.floor(np.where(rng.random(600) < 0.5, 3 * np.exp(0.3 * rng.standard_normal(600)),
                          12 * np.exp(0.3 * rng.standard_normal(600))) + 0.5)
    x = x[x > 0]
    exact = fit_two_lognormals(x, integer=False)
    polished = fit_two_lognormals(x, integer=True)
    as_em = families._loglik(families._TwoLognormalsDist(exact), x, integer=True, discrete=False)
    assert polished.loglik == pytest.approx(
        families._loglik(families._TwoLognormalsDist(polished), x, integer=True, discrete=False), rel=1e-12)
    assert polished.loglik >= as_em - 1e-9


def test_clearly_bimodal_data_get_a_mixture_that_a_workflow_accepts():
    for n, seed in ((80, 1), (500, 2), (3000, 3)):
        fit = choose_family(np.floor(bimodal(n, seed) + 0.5))
        assert fit.family == "mixture", (n, fit.describe())
        assert fit.ks_pvalue > 0.01
        dist = TypeAdapter(Distribution).validate_python(fit.spec)
        (low, high) = dist.mixture
        assert low.lognormal.median < 400 < high.lognormal.median
        assert fit.describe().startswith("mixture: 0.")


def test_lognormal_data_almost_never_get_a_mixture():
    """AIC alone prefers a second component on lognormal samples far more often than 1 time in 100; the
    likelihood-ratio test at 1% brings it down to about that (40 samples of 200 at fixed seeds)."""
    aic_alone = with_test = 0
    for seed in range(40):
        x = lognormal(200, seed)
        logs = np.log(x)
        single = families._loglik(stats.lognorm(logs.std(), scale=np.exp(logs.mean())), x, True, False)
        mixture = fit_two_lognormals(x, integer=True)
        gain = families._loglik(families._TwoLognormalsDist(mixture), x, True, False) - single
        aic_alone += 2 * 5 - 2 * (single + gain) < 2 * 2 - 2 * single
        with_test += 2 * gain > MIXTURE_LR_CRITICAL
        assert choose_family(x).family == ("mixture" if 2 * gain > MIXTURE_LR_CRITICAL else "lognormal")
    assert aic_alone >= 4  # measured: 14 of these 40 (35%)
    assert with_test <= 1  # measured: 0 of these 40


def test_a_component_on_one_value_is_written_as_fixed():
    # 5% of a tool's results are its 30-token error message, the rest lognormal(700, 0.6), as in the
    # customer-service example's traces.
    rng = np.random.default_rng(8)
    n = 1000
    x = np.where(rng.random(n) < 0.05, 30, np.floor(700 * np.exp(0.6 * rng.standard_normal(n)) + 0.5))
    fit = choose_family(x)
    assert fit.family == "mixture"
    atom, body = fit.spec["mixture"]
    assert atom["fixed"] == 30 and abs(atom["weight"] - 0.05) < 4 * math.sqrt(0.05 * 0.95 / n)
    assert abs(math.log(body["lognormal"]["median"]) - math.log(700)) < 4 * 0.6 / math.sqrt(0.95 * n)
    assert "fixed 30" in fit.describe()


def test_rich_data_that_no_family_fits_stay_empirical():
    # Three well-separated modes: the single families and the two-lognormal mixture all fail the KS test.
    rng = np.random.default_rng(4)
    medians = np.array([50.0, 500.0, 5000.0])[rng.integers(0, 3, 3000)]
    x = np.floor(medians * np.exp(0.1 * rng.standard_normal(3000)) + 0.5)
    assert choose_family(x).family == "empirical"


def test_few_or_non_positive_values_get_no_mixture():
    x = np.floor(bimodal(49, seed=1) + 0.5)
    assert choose_family(x).family != "mixture"
    with_zero = np.append(np.floor(bimodal(500, seed=2) + 0.5), 0)
    assert choose_family(with_zero).family != "mixture"
