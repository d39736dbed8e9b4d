"""Choosing a distribution for observed values among the workflow's families, by a stated criterion.

The candidates are the families a workflow file can write: ``fixed`` (when every value is the same),
``normal``, ``lognormal`` (positive values only), ``exponential`` and, for counts, ``poisson``, each
fitted by maximum likelihood. Values are whole numbers (tokens, calls) or seconds; a whole-number value
``k`` is what costsim's rounding turns a draw in ``[k - 0.5, k + 0.5)`` into, so the likelihood of every
family is that interval's probability, which puts continuous families and ``poisson`` on one scale.

With at least :data:`MIXTURE_MIN_VALUES` values, all positive, a ``mixture`` of two lognormals is a
candidate too (5 parameters: a weight, two medians, two sigmas): two populations of calls (short answers
and long reports, cache hits and misses) that no single family fits. It is fitted by EM on the log
scale (:func:`fit_two_lognormals`), from several fixed starts; for whole numbers the EM treats each log
value as exact and its best solution then starts a direct maximisation of the interval likelihood, so
the fitted parameters, like the other families', maximise the likelihood of the rounding intervals.

**Criterion.** The family with the least AIC (2 parameters - 2 log-likelihood). When there are at least
:data:`EMPIRICAL_MIN_VALUES` values and the chosen family still fails a Kolmogorov-Smirnov test at the
1% level, the data are rich enough to speak for themselves: the two-lognormal ``mixture`` if it was a
candidate and passes that test, else ``empirical`` over the values (at most :data:`EMPIRICAL_MAX_POINTS`
of them, as equally spaced quantiles).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import numpy as np

EMPIRICAL_MIN_VALUES = 200
EMPIRICAL_MAX_POINTS = 500
#: The fewest values a two-component mixture is fitted to: with fewer, its five parameters are noise.
MIXTURE_MIN_VALUES = 50
#: The least share of the values a mixture's component must hold, as a count: a component of two or three
#: values fits outliers, not a population.
MIXTURE_MIN_COMPONENT_VALUES = 5
#: The likelihood-ratio test a mixture must pass against the single family of least AIC: twice the gain in
#: log-likelihood above 16.81, the 1% point of chi-squared with 6 degrees of freedom. AIC's penalty of 2 a
#: parameter assumes the gain of 3 parameters is chi-squared(3), but a second component is not a regular
#: extension (at one component its weight sits on the boundary and its parameters are unidentified): the
#: gain is larger, and McLachlan's approximation for normal mixtures with unequal variances is
#: chi-squared with twice the extra parameters, 6 (G. J. McLachlan, "On bootstrapping the likelihood ratio
#: test statistic for the number of components in a normal mixture", Applied Statistics 36 (1987)
#: 318-324; read 2026-12-02). Measured on lognormal samples (median 300, sigma 0.6, rounded; 200 samples
#: of each size, seeds 0-199), AIC alone prefers the mixture for 33%, 30%, 22% and 12% of samples of 50,
#: 200, 1,000 and 5,000 values; this test for 1.5%, 0%, 0.5% and 0%. ``tests/test_calibration_families.py``
#: holds a part of that (40 samples of 200).
MIXTURE_LR_CRITICAL = 16.81
#: EM starts: the two components' means at these pairs of quantiles of the logs (equal weights, each sd half
#: the logs'), then :data:`MIXTURE_RANDOM_STARTS` pairs of values drawn with a fixed seed.
MIXTURE_START_QUANTILES = ((0.25, 0.75), (0.1, 0.6), (0.4, 0.9), (0.05, 0.5), (0.5, 0.95))
MIXTURE_RANDOM_STARTS = 3
MIXTURE_SEED = 20260511
_EM_ITERATIONS = 200
_EM_TOLERANCE = 1e-7  # gain of the log-likelihood per value and iteration below which EM stops
_EM_BINS = 512  # EM runs on at most this many distinct logs (see _binned)
#: The least sigma of a component, in log units (0.1%): keeps a component from collapsing on one value of
#: continuous data, where the likelihood has no maximum.
_SIGMA_FLOOR = 1e-3


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
        if self.family == "mixture":
            parts = [f"{part['weight']:.3g} fixed {_short(part['fixed'])}" if "fixed" in part else
                     f"{part['weight']:.3g} lognormal median {_short(part['lognormal']['median'])}, sigma "
                     f"{_short(part['lognormal']['sigma'])}" for part in params]
            return f"mixture: {'; '.join(parts)} (n {self.n:,}, KS {self.ks_statistic:.3f}, p {self.ks_pvalue:.2g})"
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
            best = (aic, family, spec, dist, loglik)
    aic, family, spec, dist, loglik = best
    ks = stats.kstest(x, dist.cdf)
    rich_and_failed = n >= EMPIRICAL_MIN_VALUES and ks.pvalue < 0.01
    mixture = _mixture_candidate(x, integer) if n >= MIXTURE_MIN_VALUES and np.all(x > 0) else None
    if mixture is not None:
        _, spec_m, dist_m, k_m = mixture
        loglik_m = _loglik(dist_m, x, integer, discrete=False)
        aic_m = 2 * k_m - 2 * loglik_m
        if (aic_m < aic and 2 * (loglik_m - loglik) > MIXTURE_LR_CRITICAL) or rich_and_failed:
            ks_m = stats.kstest(x, dist_m.cdf)
            if not rich_and_failed or ks_m.pvalue >= 0.01:  # where the single families fail, it must pass
                return FamilyFit(spec_m, "mixture", n, float(aic_m), float(ks_m.statistic), float(ks_m.pvalue))
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


@dataclass(frozen=True)
class TwoLognormals:
    """A mixture of two lognormals on the log scale: ``weight`` of N(mu1, sigma1), the rest N(mu2, sigma2)."""

    weight: float
    mu1: float
    sigma1: float
    mu2: float
    sigma2: float
    loglik: float
    """The log-likelihood maximised (of the logs, or of the rounding intervals for whole numbers)."""

    def ordered(self) -> TwoLognormals:
        """The same mixture with the smaller median first."""
        if self.mu1 <= self.mu2:
            return self
        return TwoLognormals(1 - self.weight, self.mu2, self.sigma2, self.mu1, self.sigma1, self.loglik)


class _TwoLognormalsDist:
    """The fitted mixture as :func:`choose_family` uses a frozen SciPy distribution: ``cdf`` and ``logpdf``."""

    def __init__(self, fit: TwoLognormals):
        self.fit = fit

    def cdf(self, x):
        from scipy import special

        f = self.fit
        with np.errstate(divide="ignore"):
            logs = np.log(np.maximum(np.asarray(x, dtype=np.float64), 0.0))
        return (f.weight * special.ndtr((logs - f.mu1) / f.sigma1)
                + (1 - f.weight) * special.ndtr((logs - f.mu2) / f.sigma2))

    def logpdf(self, x):
        logs = np.log(np.asarray(x, dtype=np.float64))
        return _log_mixture_density(logs, self.fit) - logs


def _log_normal_density(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return -0.5 * ((y - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)


def _log_mixture_density(y: np.ndarray, f: TwoLognormals) -> np.ndarray:
    return np.logaddexp(np.log(f.weight) + _log_normal_density(y, f.mu1, f.sigma1),
                        np.log1p(-f.weight) + _log_normal_density(y, f.mu2, f.sigma2))


def fit_two_lognormals(values, integer: bool = True) -> TwoLognormals | None:
    """The maximum-likelihood mixture of two lognormals for positive ``values`` (None if no start converges
    to two components).

    EM on the logs ``y``: the E step gives each value's probability of the first component, the M step the
    weighted mean and sd of ``y`` in each, until the log-likelihood gains less than 1e-9 a value. It runs
    from every start of :data:`MIXTURE_START_QUANTILES` and :data:`MIXTURE_RANDOM_STARTS` (a fixed seed:
    the same values give the same fit) and keeps the best. Equal values are counted once with their
    multiplicity. For whole numbers the best EM solution then starts L-BFGS on the likelihood of the
    rounding intervals ``[k - 0.5, k + 0.5)``, the criterion every family is fitted by here.
    """
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2 or np.any(x <= 0):
        return None
    unique, counts = np.unique(x, return_counts=True)
    if len(unique) < 2:
        return None
    y, c = np.log(unique), counts.astype(np.float64)
    spread = float(np.sqrt(np.average((y - np.average(y, weights=c)) ** 2, weights=c)))
    all_logs = np.repeat(y, counts)
    starts = [(float(np.quantile(all_logs, a)), float(np.quantile(all_logs, b))) for a, b in MIXTURE_START_QUANTILES]
    rng = np.random.default_rng(MIXTURE_SEED)
    starts += [tuple(float(v) for v in rng.choice(all_logs, 2, replace=False)) for _ in range(MIXTURE_RANDOM_STARTS)]
    starts = [pair for pair in starts if pair[0] != pair[1]]
    if not starts:
        return None
    ey, ec = _binned(y, c)
    best = _em(ey, ec, np.array(starts), max(spread / 2, _SIGMA_FLOOR))
    if best is None:
        return None
    if integer:
        best = _interval_polish(unique, c, best)
    else:  # the log-likelihood of every value, not of the bins
        best = replace(best, loglik=float(np.dot(c, _log_mixture_density(y, best))))
    return best.ordered()


def _binned(y: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct logs ``y`` (counts ``c``), or, when there are more than :data:`_EM_BINS`, the mean log
    and count of each of that many equal bins of their range: EM then costs the same for 500 or 50,000
    values. A bin is 1/_EM_BINS of the range, some 0.01 sd of a component: it moves the fit by far
    less than its standard error (a component's variance by (width)^2 / 12 at most)."""
    if len(y) <= _EM_BINS:
        return y, c
    edges = np.linspace(y[0], y[-1], _EM_BINS + 1)
    index = np.minimum(np.searchsorted(edges, y, side="right") - 1, _EM_BINS - 1)
    counts = np.bincount(index, weights=c, minlength=_EM_BINS)
    sums = np.bincount(index, weights=c * y, minlength=_EM_BINS)
    kept = counts > 0
    return sums[kept] / counts[kept], counts[kept]


def _em(y: np.ndarray, c: np.ndarray, starts: np.ndarray, sigma: float) -> TwoLognormals | None:
    """EM from every start at once (one row of the arrays a start), each until it converges; the best
    solution whose components both keep values, or None."""
    total = c.sum()
    count = len(starts)
    w = np.full((count, 1), 0.5)
    mu1, mu2 = starts[:, :1].copy(), starts[:, 1:].copy()
    s1, s2 = np.full((count, 1), sigma), np.full((count, 1), sigma)
    previous = np.full(count, -np.inf)
    running = np.ones(count, dtype=bool)
    loglik = previous.copy()
    for _ in range(_EM_ITERATIONS):
        a = np.log(w) + _log_normal_density(y, mu1, s1)
        b = np.log1p(-w) + _log_normal_density(y, mu2, s2)
        joint = np.logaddexp(a, b)
        loglik = joint @ c  # of the parameters this step starts from
        running &= loglik - previous >= _EM_TOLERANCE * total
        if not running.any():
            break
        previous = loglik
        r = np.exp(a - joint) * c  # each distinct value's count in the first component
        n1 = r.sum(axis=1, keepdims=True)
        n2 = total - n1
        alive = (n1 > 1e-9 * total) & (n2 > 1e-9 * total) & running[:, None]
        n1, n2 = np.maximum(n1, 1e-300), np.maximum(n2, 1e-300)
        new_mu1, new_mu2 = (r @ y)[:, None] / n1, ((c - r) @ y)[:, None] / n2
        new_s1 = np.maximum(np.sqrt(np.sum(r * (y - new_mu1) ** 2, axis=1, keepdims=True) / n1), _SIGMA_FLOOR)
        new_s2 = np.maximum(np.sqrt(np.sum((c - r) * (y - new_mu2) ** 2, axis=1, keepdims=True) / n2), _SIGMA_FLOOR)
        w = np.where(alive, n1 / total, w)
        mu1, mu2 = np.where(alive, new_mu1, mu1), np.where(alive, new_mu2, mu2)
        s1, s2 = np.where(alive, new_s1, s1), np.where(alive, new_s2, s2)
        running &= alive[:, 0]
    joint = np.logaddexp(np.log(w) + _log_normal_density(y, mu1, s1), np.log1p(-w) + _log_normal_density(y, mu2, s2))
    loglik = joint @ c  # of the parameters returned
    usable = (w[:, 0] * total >= 1) & ((1 - w[:, 0]) * total >= 1) & np.isfinite(loglik)
    if not usable.any():
        return None
    i = int(np.argmax(np.where(usable, loglik, -np.inf)))
    return TwoLognormals(float(w[i, 0]), float(mu1[i, 0]), float(s1[i, 0]), float(mu2[i, 0]), float(s2[i, 0]),
                         float(loglik[i]))


def _interval_polish(k: np.ndarray, c: np.ndarray, start: TwoLognormals) -> TwoLognormals:
    """Maximise the likelihood of the rounding intervals of whole numbers ``k`` (counts ``c``) from ``start``."""
    from scipy import optimize, special

    low, high = np.log(np.maximum(k - 0.5, 1e-300)), np.log(k + 0.5)

    def unpack(theta):
        return (special.expit(theta[0]), theta[1], np.exp(theta[2]), theta[3], np.exp(theta[4]))

    def negative_loglik(theta):
        w, mu1, s1, mu2, s2 = unpack(theta)
        p = (w * (special.ndtr((high - mu1) / s1) - special.ndtr((low - mu1) / s1))
             + (1 - w) * (special.ndtr((high - mu2) / s2) - special.ndtr((low - mu2) / s2)))
        return -float(np.dot(c, np.log(np.maximum(p, 1e-300))))

    theta0 = np.array([special.logit(start.weight), start.mu1, np.log(start.sigma1), start.mu2,
                       np.log(start.sigma2)])
    bounds = [(-20, 20), (None, None), (np.log(_SIGMA_FLOOR), 5), (None, None), (np.log(_SIGMA_FLOOR), 5)]
    result = optimize.minimize(negative_loglik, theta0, method="L-BFGS-B", bounds=bounds)
    theta = result.x if result.fun <= negative_loglik(theta0) else theta0
    w, mu1, s1, mu2, s2 = unpack(theta)
    return TwoLognormals(float(w), float(mu1), float(s1), float(mu2), float(s2), -negative_loglik(theta))


def _mixture_candidate(x: np.ndarray, integer: bool):
    """(family, spec, distribution, parameters) of the two-lognormal mixture, as written in a workflow
    (rounded as the other families are), or None when it does not fit two components of at least
    :data:`MIXTURE_MIN_COMPONENT_VALUES` values each or a workflow would refuse it (a draw past the ceiling)."""
    fit = fit_two_lognormals(x, integer)
    if fit is None:
        return None
    w1 = round(fit.weight, 4)
    w2 = round(1 - w1, 4)
    if min(w1, w2) * len(x) < MIXTURE_MIN_COMPONENT_VALUES:
        return None
    spec = {"mixture": [{"weight": w1, **_component(fit.mu1, fit.sigma1, integer)},
                        {"weight": w2, **_component(fit.mu2, fit.sigma2, integer)}]}
    from pydantic import ValidationError

    try:
        _distribution_adapter().validate_python(spec)
    except ValidationError:
        return None
    return ("mixture", spec, _TwoLognormalsDist(fit), 5)


def _component(mu: float, sigma: float, integer: bool) -> dict:
    """A fitted component as a workflow writes it: a lognormal, or, when it collapsed onto one value (its
    sigma at the floor: many equal values, such as the fixed-size answer of a failed tool call), that
    value as ``fixed``."""
    if sigma <= _SIGMA_FLOOR * (1 + 1e-6):
        median = float(np.exp(mu))
        return {"fixed": int(np.floor(median + 0.5)) if integer else _r(median)}
    return {"lognormal": {"median": _r(np.exp(mu)), "sigma": _r(sigma, 4)}}


@cache
def _distribution_adapter():
    """The validator of a workflow's distribution (built once: it takes a hundredth of a second)."""
    from pydantic import TypeAdapter

    from sim.spec.distributions import Distribution

    return TypeAdapter(Distribution)


def _r(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant figures: what a person reads and a resample does not need more."""
    return float(f"{value:.{digits}g}")
