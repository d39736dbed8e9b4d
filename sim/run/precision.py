"""Adaptive precision: add chunks of tasks until every alternative's mean cost is known well enough.

The sequential rule (``--precision 0.01``): after each chunk of a fixed size (the run's ``chunk_tasks``,
never the number of workers), once at least ``min_tasks`` tasks have run, stop when for **every**
alternative the 95% half-width of its mean cost per task is at most ``target`` times that mean:

    t(0.975, n − 1) · s / √n  ≤  target · |mean|

(s: the sample standard deviation of the n per-task costs so far); or stop at ``max_tasks`` and say the
target was not reached. The mean and s come from exact sums (:mod:`sim.stats.exactsum`) of the costs merged in
task order, so the same seed stops at the same task count with 1 worker or 20, on any cluster.

A rule that looks at the data after every chunk stops a little earlier, on average, than the width
alone would suggest (it stops at a moment the estimate of s happens to be low); ``min_tasks`` (default
10,000) keeps that effect small, since s is then known to a percent or so. The run's result is exactly
that of a fixed run of the same number of tasks, so everything else in the summary is as usual.

Only runs without ``traffic``: with traffic each replication is a whole horizon, and its precision is
set with ``--replications``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.core.errors import Parameter, ParameterError
from sim.run.defaults import DEFAULT_MAX_TASKS, DEFAULT_MIN_TASKS
from sim.stats import exactsum
from sim.stats.intervals import CONFIDENCE, t_quantile


@dataclass(frozen=True)
class PrecisionRule:
    """Stop when every alternative's relative 95% half-width is at most ``target``."""

    target: float
    min_tasks: int = DEFAULT_MIN_TASKS
    max_tasks: int = DEFAULT_MAX_TASKS

    def __post_init__(self) -> None:
        if not (0 < self.target < 1):
            raise ParameterError(Parameter("target"), ": expected a share between 0 and 1 (0.01 for ±1%), "
                                 f"got {self.target:g}")
        if self.min_tasks < 2:
            raise ParameterError(Parameter("min_tasks"), f": expected at least 2, got {self.min_tasks}")
        if self.max_tasks < self.min_tasks:
            raise ParameterError(Parameter("max_tasks"), f" ({self.max_tasks:,}) is below ", Parameter("min_tasks"),
                                 f" ({self.min_tasks:,})")


def relative_half_width(sums: tuple[int, int], n: int) -> float:
    """The 95% t half-width of the mean over |mean|, from exact (Σx, Σx²) of n values (inf for a mean
    of 0 with any spread, 0 for a constant)."""
    mean = exactsum.mean(sums[0], n)
    half_width = t_quantile(n - 1) * math.sqrt(exactsum.variance(*sums, n) / n)
    if half_width == 0:
        return 0.0
    return half_width / abs(mean) if mean else math.inf


@dataclass
class PrecisionTracker:
    """The rule's running state: exact sums of each alternative's costs, in task order."""

    rule: PrecisionRule
    sums: list[tuple[int, int]]
    n: int = 0
    reached: bool = False
    widths: list[float] | None = None

    @classmethod
    def start(cls, rule: PrecisionRule, alternatives: int) -> PrecisionTracker:
        return cls(rule, [(0, 0)] * alternatives)

    def add(self, n: int, sums: list[tuple[int, int]]) -> bool:
        """Add a chunk's n tasks and each alternative's exact (Σcost, Σcost²); True when the run may stop."""
        self.n += n
        self.sums = [(a + x, b + y) for (a, b), (x, y) in zip(self.sums, sums)]
        if self.n < self.rule.min_tasks:
            return False
        self.widths = [relative_half_width(s, self.n) for s in self.sums]
        self.reached = all(width <= self.rule.target for width in self.widths)
        return self.reached or self.n >= self.rule.max_tasks

    def metadata(self, names: list[str], chunk_tasks: int) -> dict:
        """What the summary's metadata says about the rule and where it stopped."""
        return {
            "target": self.rule.target,
            "confidence": CONFIDENCE,
            "min_tasks": self.rule.min_tasks,
            "max_tasks": self.rule.max_tasks,
            "check_every_tasks": chunk_tasks,
            "tasks": self.n,
            "reached": self.reached,
            "relative_half_width": {name: None if width is None or math.isinf(width) else width
                                    for name, width in zip(names, self.widths or [None] * len(names))},
        }
