"""Choosing a distribution for observed values among the workflow's families, by a stated criterion.

The candidates are the families a workflow file can write: ``fixed`` (when every value is the same),
``normal``, ``lognormal`` (positive values only), ``exponential`` and, for counts, ``poisson``, each
fitted by maximum likelihood. Values are whole numbers (tokens, calls) or seconds; a whole-number value
``k`` is what costsim's rounding turns a draw in ``[k - 0.5, k + 0.5)`` into, so the likelihood of every
family is that interval's probability, which puts continuous families and ``poisson`` on one scale.

**Criterion.** The family with the least AIC (2 parameters - 2 log-likelihood). When there are at least
:data:`EMPIRICAL_MIN_VALUES` values and the chosen family still fails a Kolmogorov-Smirnov test at the
1% level, the data are rich enough to speak for themselves: ``empirical`` over the values (at most
:data:`EMPIRICAL_MAX_POINTS` of them, as equally spaced quantiles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMPIRICAL_MIN_VALUES = 200
EMPIRICAL_MAX_POINTS = 500


@dataclass(frozen=True)
class FamilyFit:
    """A chosen distribution: its workflow form, the sample it came from and how well it matches."""

    spec: dict | float
    """What a workflow file writes: ``{lognormal: {median: ..., sigma: ...}}``, or a number for fixed."""
    family: str
    n: int
    aic: float | None
    ks_statistic: float
    ks_pvalue: float

    def describe(self) -> str:
        """One line for a comment: the family, its parameters, n, and the fit test."""
        if self.family == "fixed":
            return f"fixed {_short(self.spec)} (all {self.n:,} values)"
        params = next(iter(self.spec.values()))
        text = ", ".join(f"{key} {_short(value)}" for key, value in params.items() if key != "values")
        if self.family == "empirical":
            text = f"{len(params['values'])} points"
        return f"{self.family} {text} (n {self.n:,}, KS {self.ks_statistic:.3f}, p {self.ks_pvalue:.2g})"


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def choose_family(values, integer: bool = True) -> FamilyFit:
    """The distribution of ``values`` by the module's criterion."""
    from scipy import stats  # only a calibration needs it

    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("no values to fit")
    if np.all(x == x[0]):
        value = int(x[0]) if integer else float(x[0])
        return FamilyFit(value, "fixed", n, None, 0.0, 1.0)
    candidates = []
    mean, sd = float(x.mean()), float(x.std(ddof=0))
    if sd > 0:
        candidates.append(("normal", {"normal": {"mean": _r(mean), "sd": _r(sd)}}, stats.norm(mean, sd), 2))
    if np.all(x > 0):
        logs = np.log(x)
        mu, sigma = float(logs.mean()), float(logs.std(ddof=0))
        if sigma > 0:
            candidates.append(("lognormal", {"lognormal": {"median": _r(np.exp(mu)), "sigma": _r(sigma, 4)}},
                               stats.lognorm(sigma, scale=np.exp(mu)), 2))
    if mean > 0:
        candidates.append(("exponential", {"exponential": {"mean": _r(mean)}}, stats.expon(scale=mean), 1))
    if integer and mean > 0:
        candidates.append(("poisson", {"poisson": {"mean": _r(mean)}}, stats.poisson(mean), 1))
    best = None
    for family, spec, dist, k in candidates:
        loglik = _loglik(dist, x, integer, discrete=family == "poisson")
        aic = 2 * k - 2 * loglik
        if best is None or aic < best[0]:
            best = (aic, family, spec, dist)
    aic, family, spec, dist = best
    ks = stats.kstest(x, dist.cdf)
    if n >= EMPIRICAL_MIN_VALUES and ks.pvalue < 0.01:
        points = np.quantile(x, (np.arange(min(n, EMPIRICAL_MAX_POINTS)) + 0.5) / min(n, EMPIRICAL_MAX_POINTS),
                             method="inverted_cdf")
        rounded = [int(v) for v in points] if integer else [_r(float(v)) for v in points]
        return FamilyFit({"empirical": {"values": rounded}}, "empirical", n, None, float(ks.statistic), 1.0)
    return FamilyFit(spec, family, n, float(aic), float(ks.statistic), float(ks.pvalue))


def _loglik(dist, x: np.ndarray, integer: bool, discrete: bool) -> float:
    if discrete:
        p = dist.pmf(np.round(x))
    elif integer:
        p = dist.cdf(x + 0.5) - dist.cdf(x - 0.5)
    else:
        return float(np.sum(dist.logpdf(x)))
    return float(np.sum(np.log(np.maximum(p, 1e-300))))


def _r(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant figures: what a person reads and a resample does not need more."""
    return float(f"{value:.{digits}g}")
