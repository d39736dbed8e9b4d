"""When tasks arrive: a Poisson process over the horizon, shaped by an optional 24-hour profile.

Arrivals are drawn like everything else, as a pure function of (seed, replication), so every
alternative sees the same tasks arriving at the same moments. Each hour of the horizon gets a Poisson
count at that hour's rate (the daily rate spread by the profile's weights), and each of its tasks a
uniform moment within the hour: together, a non-homogeneous Poisson process with a piecewise-constant
rate.
"""

from __future__ import annotations

import math

import numpy as np

from sim.core.randomness import source_key, uniforms
from sim.spec.timing import Traffic

_COUNT_SOURCE = source_key("traffic.count")
_TIME_SOURCE = source_key("traffic.time")


def hourly_rates(traffic: Traffic) -> np.ndarray:
    """Expected arrivals in each hour of the horizon (the last hour may be partial)."""
    hours = math.ceil(traffic.days * 24 - 1e-9)
    weights = np.ones(24) if traffic.profile is None else np.asarray(traffic.profile, dtype=np.float64)
    per_hour = traffic.tasks_per_day / 24 * weights / weights.mean()
    rates = per_hour[np.arange(hours) % 24]
    rates[-1] *= traffic.days * 24 - (hours - 1)  # the share of the last hour inside the horizon
    return rates


def arrival_times_s(traffic: Traffic, seed: int, replication: int) -> np.ndarray:
    """Sorted arrival times in seconds from the start of the horizon, for one replication."""
    from scipy import stats  # here, not at import: a command that never runs traffic never loads it

    rates = hourly_rates(traffic)
    u = uniforms(seed, np.arange(len(rates)), _COUNT_SOURCE, (replication,))
    counts = stats.poisson.ppf(u, rates).astype(np.int64)
    hour_of_task = np.repeat(np.arange(len(rates)), counts)
    within = uniforms(seed, np.arange(len(hour_of_task)), _TIME_SOURCE, (replication,))
    hour_length_s = np.full(len(rates), 3600.0)
    hour_length_s[-1] = (traffic.days * 24 - (len(rates) - 1)) * 3600.0
    return np.sort(hour_of_task * 3600.0 + within * hour_length_s[hour_of_task])


def task_ids(replication: int, n_tasks: int) -> np.ndarray:
    """Task ids of one replication: the replication in the high 32 bits, the arrival order below."""
    return (np.uint64(replication) << np.uint64(32)) | np.arange(n_tasks, dtype=np.uint64)
