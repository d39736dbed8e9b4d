"""Every interval costsim prints, at one confidence level, from one set of formulas.

* **t-intervals** for means: mean ± t(0.975, n − 1)·s/√n. Costs per task are independent across tasks, so
  the central limit theorem applies; heavy tails need more tasks.
* **Order-statistic intervals** for quantiles: the number of tasks below the true q-quantile is
  Binomial(n, q), so two order statistics bracket it, with no assumption on the distribution's shape. A
  quantile is only reported when at least :data:`MIN_TAIL_TASKS` tasks lie beyond it.
* **Wilson score intervals** for proportions (success rates), good near 0 and 1.

These intervals describe simulation noise: how precisely the simulated tasks pin down a number of the
workflow as written.

The quantiles come from :mod:`scipy.special`, the functions ``scipy.stats`` itself calls for them
(``t.ppf`` is ``stdtrit``, ``norm.ppf`` is ``ndtri``, ``binom.ppf`` is ``_binom_ppf``): the same numbers
to the bit (``tests/test_intervals.py`` holds them equal), without loading ``scipy.stats``, which takes
a command line half a second. ``scipy.special`` itself loads at the first interval, not at import.
"""

from __future__ import annotations

import math

import numpy as np

#: The confidence level of every interval in a summary, a table and a stopping rule.
CONFIDENCE = 0.95
#: A quantile is reported only when at least this many tasks lie beyond it.
MIN_TAIL_TASKS = 10


def t_quantile(df: float) -> float:
    """Student's t quantile for a two-sided interval at :data:`CONFIDENCE` with ``df`` degrees of freedom
    (``scipy.stats.t.ppf(0.975, df)``: NaN unless ``df > 0``)."""
    return float(_t_ppf(0.5 + CONFIDENCE / 2, df))


def _t_ppf(p: float, df: float) -> np.float64:
    from scipy import special

    return special.stdtrit(df, p) if df > 0 else np.float64(np.nan)


def t_interval(mean: float, std: float, n: int) -> list[float]:
    """mean ± t(0.975, n − 1) · std / √n (``std``: the sample standard deviation)."""
    half_width = float(_t_ppf(0.5 + CONFIDENCE / 2, n - 1) * std / math.sqrt(n))
    return [mean - half_width, mean + half_width]


def mean_ci95(values: np.ndarray) -> tuple[float, list[float] | None]:
    """The mean of ``values`` and its t-interval (None for fewer than two values)."""
    values = np.asarray(values)
    mean = float(np.mean(values))
    return mean, (t_interval(mean, np.std(values, ddof=1), len(values)) if len(values) >= 2 else None)


def tasks_needed(q: float) -> int:
    """Fewest tasks for which ``q``'s quantile has :data:`MIN_TAIL_TASKS` tasks beyond it."""
    return math.ceil(MIN_TAIL_TASKS / (1 - q) - 1e-9)


def quantile_ranks(n: int, q: float) -> list[int]:
    """The two order statistics (0-based ranks) that bracket the q-quantile at :data:`CONFIDENCE`."""
    lo = int(_binom_ppf((1 - CONFIDENCE) / 2, n, q))
    hi = int(_binom_ppf(0.5 + CONFIDENCE / 2, n, q))
    return [max(lo - 1, 0), min(hi, n - 1)]


def _binom_ppf(level: float, n: int, q: float) -> float:
    """``scipy.stats.binom.ppf(level, n, q)`` for 0 < level < 1, n >= 1 and 0 <= q <= 1: the ufunc it calls."""
    try:
        from scipy.special._ufuncs import _binom_ppf
    except ImportError:  # a SciPy that moved it: the public road, slower to load
        from scipy import stats

        return stats.binom.ppf(level, n, q)
    return _binom_ppf(level, n, q)


def quantile_ci95(sorted_values: np.ndarray, q: float) -> list[float]:
    """Distribution-free interval of the q-quantile from order statistics."""
    return [float(sorted_values[rank]) for rank in quantile_ranks(len(sorted_values), q)]


def proportion_ci95(successes: int, n: int) -> list[float]:
    """Wilson score interval for a proportion (good near 0 and 1, unlike the normal approximation)."""
    from scipy import special

    z = special.ndtri(0.5 + CONFIDENCE / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]
