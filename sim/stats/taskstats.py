"""Statistics of per-task results, read the same way from kept columns or from merged chunk statistics.

A run keeps every task's record (:class:`~sim.core.records.TaskColumns`) up to a limit of tasks; above it,
each chunk of tasks is reduced where it ran to :class:`AlternativeStats` (and :class:`PairStats` for
every pair of alternatives), and only those are sent back and merged:

* for every field of :data:`~sim.core.records.TASK_FIELDS`: the count, the exact Σx and Σx²
  (:mod:`sim.stats.exactsum`), the minimum and the maximum;
* the failed tasks counted by failure reason;
* a quantile sketch (:class:`~sim.stats.sketch.LogHistogram`) of each field in :data:`SKETCHED`;
* per pair of alternatives (a, b), the exact Σd and Σd² of the paired differences d = cost_b − cost_a and
  of success_b − success_a, task by task.

Every merge is integer arithmetic (counts, exact sums, histogram counts) or a min/max, so merged
statistics do not depend on the chunking or on the order in which chunks come back.

:class:`ColumnView` and :class:`MergedView` answer the same questions (mean, total, interval, quantile,
order statistic, failures) from one or the other, so :mod:`sim.stats.summary` and :mod:`sim.stats.compare` build one
summary, in one shape, either way. ColumnView uses exactly the NumPy expressions the summary always
used, so a run below the limit gives the same bytes as before; MergedView's means are the exact sums
correctly rounded, and its quantiles come from the sketch (within :data:`sim.stats.sketch.RELATIVE_ERROR`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.core.records import FAILURE_REASONS, TASK_FIELDS, TaskColumns
from sim.stats import exactsum
from sim.stats.intervals import mean_ci95, t_interval
from sim.stats.sketch import LogHistogram

#: Fields whose quantiles the summary reports: they get a sketch when a run does not keep columns.
SKETCHED = ("cost_usd", "latency_s")


def _failure_counts(tasks: TaskColumns) -> np.ndarray:
    """Failed tasks by reason code (index into FAILURE_REASONS)."""
    return np.bincount(tasks.failure[~tasks.success], minlength=len(FAILURE_REASONS)).astype(np.int64)


def _route_counts(route: np.ndarray) -> np.ndarray:
    """Tasks by the route option they were given (options 0, 1, ...; -1, no choice, not counted)."""
    return np.bincount(route[route >= 0].astype(np.int64)).astype(np.int64)


def _add_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    size = max(len(a), len(b))
    return np.pad(a, (0, size - len(a))) + np.pad(b, (0, size - len(b)))


# -- mergeable statistics ------------------------------------------------------------------------------


@dataclass
class AlternativeStats:
    """One alternative's tasks of one or more chunks, reduced to mergeable statistics."""

    n: int
    sums: dict[str, tuple[int, int]]  # field -> (Σx, Σx²) · 2**exactsum.SCALE
    minimum: dict[str, float]
    maximum: dict[str, float]
    failures: np.ndarray  # failed tasks by reason code
    sketches: dict[str, LogHistogram]
    overhead_usd: int = 0  # exact Σ of the cost no task carries, · 2**SCALE
    model_calls: dict[str, int] = field(default_factory=dict)  # model -> calls it answered
    route_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # tasks by route option

    @classmethod
    def of(cls, tasks: TaskColumns) -> AlternativeStats:
        """Reduce per-task columns (every field of TASK_FIELDS, whatever fields it has)."""
        columns = tasks.as_dict()
        sums, minimum, maximum = {}, {}, {}
        for name in TASK_FIELDS:
            values = columns[name]
            sums[name] = exactsum.exact_sums(values)
            minimum[name] = float(values.min()) if len(values) else math.inf
            maximum[name] = float(values.max()) if len(values) else -math.inf
        return cls(len(tasks), sums, minimum, maximum, _failure_counts(tasks),
                   {name: LogHistogram.of(columns[name]) for name in SKETCHED},
                   exactsum.exact_sum(np.asarray(tasks.overhead_usd, dtype=np.float64)),
                   dict(tasks.model_calls), _route_counts(columns["route"]))

    def merge(self, other: AlternativeStats) -> AlternativeStats:
        names = self.sums.keys() | other.sums.keys()
        zero = (0, 0)
        return AlternativeStats(
            self.n + other.n,
            {name: tuple(a + b for a, b in zip(self.sums.get(name, zero), other.sums.get(name, zero)))
             for name in names},
            {name: min(self.minimum.get(name, math.inf), other.minimum.get(name, math.inf)) for name in names},
            {name: max(self.maximum.get(name, -math.inf), other.maximum.get(name, -math.inf)) for name in names},
            _add_counts(self.failures, other.failures),
            {name: self.sketches[name].merge(other.sketches[name]) for name in self.sketches},
            self.overhead_usd + other.overhead_usd,
            {ref: self.model_calls.get(ref, 0) + other.model_calls.get(ref, 0)
             for ref in sorted(self.model_calls.keys() | other.model_calls.keys())},
            _add_counts(self.route_counts, other.route_counts),
        )


@dataclass
class PairStats:
    """Paired differences of two alternatives (b − a) over the same tasks, reduced to exact sums."""

    n: int
    cost_diff: tuple[int, int]  # (Σd, Σd²) · 2**SCALE, d = cost_b − cost_a per task (float64)
    success_diff: tuple[int, int]  # the same for success_b − success_a (−1, 0 or 1)

    @classmethod
    def of(cls, a: TaskColumns, b: TaskColumns) -> PairStats:
        success = b.success.astype(np.int64) - a.success.astype(np.int64)
        return cls(len(a), exactsum.exact_sums(b.cost_usd - a.cost_usd), exactsum.exact_sums(success))

    def merge(self, other: PairStats) -> PairStats:
        return PairStats(self.n + other.n, tuple(x + y for x, y in zip(self.cost_diff, other.cost_diff)),
                         tuple(x + y for x, y in zip(self.success_diff, other.success_diff)))


@dataclass
class ChunkStats:
    """Everything a reduced chunk sends back: per alternative, and per pair (i, j), i < j, in file order."""

    alternatives: list[AlternativeStats]
    pairs: dict[tuple[int, int], PairStats] = field(default_factory=dict)

    @classmethod
    def of(cls, runs: list[TaskColumns]) -> ChunkStats:
        return cls([AlternativeStats.of(tasks) for tasks in runs],
                   {(i, j): PairStats.of(runs[i], runs[j]) for i in range(len(runs)) for j in range(i + 1, len(runs))})

    def merge(self, other: ChunkStats) -> ChunkStats:
        return ChunkStats([a.merge(b) for a, b in zip(self.alternatives, other.alternatives)],
                          {key: self.pairs[key].merge(other.pairs[key]) for key in self.pairs})


def replication_bills_usd(tasks: TaskColumns, first: int, count: int) -> np.ndarray:
    """The bill of each replication ``first .. first + count - 1`` of a traffic horizon: the sum of its
    tasks' costs (``np.bincount``, which adds each replication's costs one by one in task order) plus the
    cost no task carried (``tasks.overhead_usd``, one entry per replication).

    Each replication's sum depends only on its own tasks, in their order, so the bills computed where a
    replication ran (a reduced traffic run) are the same floats as those computed from every task's
    record joined in the parent."""
    by_tasks = np.bincount(np.asarray(tasks.replication) - first, weights=tasks.cost_usd, minlength=count)
    return by_tasks + np.asarray(tasks.overhead_usd, dtype=np.float64)


def _mean_std(sums: tuple[int, int], n: int) -> tuple[float, float | None]:
    mean = exactsum.mean(sums[0], n)
    return mean, (math.sqrt(exactsum.variance(sums[0], sums[1], n)) if n >= 2 else None)


def _sums_mean_ci95(sums: tuple[int, int], n: int) -> tuple[float, list[float] | None]:
    """Mean and t-interval from exact (Σx, Σx²)."""
    mean, std = _mean_std(sums, n)
    return mean, (None if std is None else t_interval(mean, std, n))


# -- views: the questions a summary asks -------------------------------------------------------------


class ColumnView:
    """Statistics of one alternative's kept per-task columns (the NumPy expressions of the summary)."""

    exact = True

    def __init__(self, tasks: TaskColumns | dict[str, np.ndarray]) -> None:
        self.columns = tasks.columns if isinstance(tasks, TaskColumns) else dict(tasks)
        self._model_calls = tasks.model_calls if isinstance(tasks, TaskColumns) else {}
        self.n = len(next(iter(self.columns.values())))
        self._sorted: dict[str, np.ndarray] = {}
        self._var: dict[str, float] = {}

    def column(self, name: str) -> np.ndarray:
        return self.columns[name]

    def sorted(self, name: str) -> np.ndarray:
        if name not in self._sorted:
            self._sorted[name] = np.sort(self.column(name))
        return self._sorted[name]

    def mean(self, name: str) -> float:
        return float(np.mean(self.column(name)))

    def total(self, name: str) -> int | float:
        values = self.column(name)
        return int(np.sum(values)) if values.dtype.kind in "biu" else float(np.sum(values))

    def var(self, name: str) -> float:
        if name not in self._var:  # each pair of alternatives asks for both of theirs
            self._var[name] = float(np.var(self.column(name), ddof=1))
        return self._var[name]

    def mean_ci95(self, name: str) -> tuple[float, list[float] | None]:
        return mean_ci95(self.column(name))

    def quantiles(self, name: str, qs: list[float]) -> list[float]:
        """The quantiles ``qs`` of a column, in one ``np.quantile`` call: it selects every order statistic
        they need in one pass over the column, where one call a quantile passes over it once each (the same
        floats: each quantile is interpolated from its own two order statistics either way)."""
        return np.quantile(self.sorted(name), qs).tolist()

    def order_statistics(self, name: str, ranks: list[int]) -> list[float]:
        ordered = self.sorted(name)
        return [float(ordered[rank]) for rank in ranks]

    def maximum(self, name: str) -> float:
        return float(self.sorted(name)[-1])

    def failure_counts(self) -> np.ndarray:
        return _failure_counts(TaskColumns(self.columns))

    def failed_share(self, code: int) -> float:
        """Share of all tasks that failed with reason ``code``."""
        return float(np.mean(~self.columns["success"] & (self.columns["failure"] == code)))

    def model_calls(self) -> dict[str, int]:
        """Model -> calls it answered, over all tasks."""
        return dict(self._model_calls)

    def route_counts(self, options: int) -> np.ndarray:
        """Tasks by the route option they were given, for ``options`` options."""
        return np.pad(_route_counts(self.columns["route"]), (0, options))[:options]


class MergedView:
    """The same statistics from merged :class:`AlternativeStats` (no per-task columns)."""

    exact = False

    def __init__(self, stats: AlternativeStats) -> None:
        self.stats = stats
        self.n = stats.n

    def _sketch(self, name: str) -> LogHistogram:
        if name not in self.stats.sketches:
            raise KeyError(f"{name}: a run that keeps no per-task columns has quantiles of "
                           f"{', '.join(SKETCHED)} only")
        return self.stats.sketches[name]

    def mean(self, name: str) -> float:
        return exactsum.mean(self.stats.sums[name][0], self.n)

    def total(self, name: str) -> int | float:
        total = self.stats.sums[name][0]
        if np.dtype(TASK_FIELDS[name]).kind in "biu":
            return total >> exactsum.SCALE
        return exactsum.to_float(total)

    def var(self, name: str) -> float:
        return exactsum.variance(*self.stats.sums[name], self.n)

    def mean_ci95(self, name: str) -> tuple[float, list[float] | None]:
        return _sums_mean_ci95(self.stats.sums[name], self.n)

    def quantiles(self, name: str, qs: list[float]) -> list[float]:
        sketch = self._sketch(name)
        return [sketch.quantile(q) for q in qs]

    def order_statistics(self, name: str, ranks: list[int]) -> list[float]:
        return self._sketch(name).order_statistics(np.asarray(ranks)).tolist()

    def maximum(self, name: str) -> float:
        return self.stats.maximum[name]

    def failure_counts(self) -> np.ndarray:
        return self.stats.failures

    def failed_share(self, code: int) -> float:
        counts = self.stats.failures
        return (int(counts[code]) if code < len(counts) else 0) / self.n

    def model_calls(self) -> dict[str, int]:
        return dict(self.stats.model_calls)

    def route_counts(self, options: int) -> np.ndarray:
        return np.pad(self.stats.route_counts, (0, options))[:options]


class PairView:
    """Paired differences b − a: from two alternatives' columns, or from merged :class:`PairStats`."""

    def __init__(self, a: ColumnView | MergedView, b: ColumnView | MergedView, pair: PairStats | None = None):
        self.a, self.b, self.pair = a, b, pair
        self.n = a.n
        self._differences: tuple[np.ndarray, np.ndarray] | None = None

    def _columns(self) -> tuple[np.ndarray, np.ndarray]:
        """The per-task differences of cost and of success, b − a (computed once: three questions use them)."""
        if self._differences is None:
            cost = self.b.column("cost_usd") - self.a.column("cost_usd")
            success = self.b.column("success").astype(np.float64) - self.a.column("success").astype(np.float64)
            self._differences = cost, success
        return self._differences

    def cost_diff_ci95(self) -> tuple[float, list[float] | None]:
        if self.pair is None:
            return mean_ci95(self._columns()[0])
        return _sums_mean_ci95(self.pair.cost_diff, self.n)

    def success_diff_ci95(self) -> tuple[float, list[float] | None]:
        if self.pair is None:
            return mean_ci95(self._columns()[1])
        return _sums_mean_ci95(self.pair.success_diff, self.n)

    def cost_diff_var(self) -> float:
        if self.pair is None:
            return float(np.var(self._columns()[0], ddof=1))
        return exactsum.variance(*self.pair.cost_diff, self.n)

