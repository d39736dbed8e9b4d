"""Comparing alternatives: paired differences for every pair, the Pareto front, and what common random
numbers bought.

Every alternative runs on the same tasks (the same draws), so two alternatives are compared task by
task: d_i = cost_b,i − cost_a,i, and the mean difference's 95% interval is Student's t on the d_i. When
the alternatives react alike to a task (a long request is long for both), the d_i vary much less than
either cost, and the interval is much narrower than two independent runs would give.

:func:`comparison` returns (a JSON-ready dict)::

    {"pairs": [{"a": NAME, "b": NAME,                       # every pair, a before b in file order
                "cost_diff": {"mean", "ci95"},              # mean of cost_b − cost_a per task, USD
                "success_diff": {"mean", "ci95"},           # success rate of b − a, paired
                "crn": {"var_paired", "var_independent", "variance_ratio", "tasks_factor",
                        "half_width_paired", "half_width_independent"}}],
     "pareto": {"front": [NAME, ...],                       # cheapest first
                "alternatives": {NAME: {"mean_cost_usd", "success_rate", "on_front", "dominated_by": [...]}}}}

``crn`` is the variance reduction, measured on the run: ``var_paired`` = Var(d), ``var_independent`` =
Var(cost_a) + Var(cost_b), what the difference of two independent runs of as many tasks would have
(per task); ``variance_ratio`` = var_paired / var_independent (below 1: common random numbers helped;
the interval's width shrinks by its square root); ``tasks_factor`` = var_independent / var_paired, how
many times more tasks independent runs would need for an interval as narrow (``null`` when a variance
is 0). The pairs whose ``a`` is ``baseline`` give each alternative's reduction against the baseline.

Pareto front: an alternative is dominated when another has a mean cost no higher and a success rate no
lower, and is strictly better on one of the two; equal points do not dominate each other (both stay on
the front). :func:`unpaired_check` measures the reduction directly instead: it re-runs the workflow with
another seed and computes the unpaired (Welch) interval of the same difference.
"""

from __future__ import annotations

import math

import numpy as np

from sim.stats.intervals import t_quantile


def variance_reduction(cost_a: np.ndarray, cost_b: np.ndarray) -> dict:
    """What pairing bought for the difference of ``cost_b`` and ``cost_a`` (the same tasks, in order)."""
    n = len(cost_a)
    if n < 2:
        return {"var_paired": None, "var_independent": None, "variance_ratio": None, "tasks_factor": None,
                "half_width_paired": None, "half_width_independent": None}
    return _crn_entry(float(np.var(cost_b - cost_a, ddof=1)),
                      float(np.var(cost_a, ddof=1) + np.var(cost_b, ddof=1)), n)


def _crn(view) -> dict:
    """:func:`variance_reduction` from a :class:`~sim.stats.taskstats.PairView` (columns or merged sums)."""
    n = view.n
    if n < 2:
        return variance_reduction(np.zeros(n), np.zeros(n))
    return _crn_entry(view.cost_diff_var(), view.a.var("cost_usd") + view.b.var("cost_usd"), n)


def _crn_entry(var_paired: float, var_independent: float, n: int) -> dict:
    """The ``crn`` entry from the paired and the independent variance per task, over ``n`` tasks."""
    t = t_quantile(n - 1)
    return {
        "var_paired": var_paired,
        "var_independent": var_independent,
        "variance_ratio": var_paired / var_independent if var_independent > 0 else None,
        "tasks_factor": var_independent / var_paired if var_paired > 0 and var_independent > 0 else None,
        "half_width_paired": t * math.sqrt(var_paired / n),
        "half_width_independent": t * math.sqrt(var_independent / n),
    }


def pair(name_a: str, name_b: str, view) -> dict:
    """One pair's entry: b − a over the same tasks (``view``: a :class:`~sim.stats.taskstats.PairView`)."""
    cost_mean, cost_ci = view.cost_diff_ci95()
    success_mean, success_ci = view.success_diff_ci95()
    return {
        "a": name_a,
        "b": name_b,
        "cost_diff": {"mean": cost_mean, "ci95": cost_ci},
        "success_diff": {"mean": success_mean, "ci95": success_ci},
        "crn": _crn(view),
    }


def pairwise(result) -> list[dict]:
    """Every pair of alternatives of a :class:`~sim.run.simulation.SimulationResult`, in file order."""
    runs = result.alternatives
    return [pair(a.name, runs[j].name, result.pair_view(i, j))
            for i, a in enumerate(runs) for j in range(i + 1, len(runs))]


def pareto(points: dict[str, tuple[float, float]]) -> dict:
    """The front and, per alternative, whether it is on it and which alternatives dominate it.

    ``points`` maps alternative -> ``(mean_cost_usd, success_rate)``.
    """
    def dominates(p: tuple[float, float], q: tuple[float, float]) -> bool:
        return p[0] <= q[0] and p[1] >= q[1] and (p[0] < q[0] or p[1] > q[1])

    entries = {}
    for name, point in points.items():
        by = [other for other, q in points.items() if other != name and dominates(q, point)]
        entries[name] = {"mean_cost_usd": point[0], "success_rate": point[1], "on_front": not by, "dominated_by": by}
    front = sorted((n for n, e in entries.items() if e["on_front"]), key=lambda n: (points[n][0], -points[n][1]))
    return {"front": front, "alternatives": entries}


def comparison(result) -> dict:
    """Paired differences of every pair, the cost/success Pareto front, and the variance reduction."""
    if result.n_tasks < 1:  # a horizon in which no task arrived
        return {"pairs": [], "pareto": {"front": [], "alternatives": {}}}
    points = {run.name: (run.view.mean("cost_usd"), run.view.mean("success")) for run in result.alternatives}
    return {"pairs": pairwise(result), "pareto": pareto(points)}


def welch_half_width(a: np.ndarray, b: np.ndarray) -> float:
    """Half-width of the 95% Welch interval of mean(b) − mean(a), for independent samples."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    se2 = va + vb
    if se2 == 0:
        return 0.0
    df = se2 ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return t_quantile(df) * math.sqrt(se2)


def unpaired_check(result, other) -> dict[str, dict]:
    """Measured, not predicted: for each alternative but the baseline, the paired 95% half-width of
    (alternative − baseline) from ``result``, against the unpaired (Welch) half-width of the same
    difference with independent draws: the alternative's costs from ``other`` (the same workflow run
    with another seed) minus the baseline's from ``result``.

    Returns alternative -> ``{"paired_half_width", "unpaired_half_width", "ratio"}`` (ratio = paired /
    unpaired; ``null`` when the unpaired width is 0).
    """
    if other.seed == result.seed:
        raise ValueError("the unpaired check needs a run with another seed")
    if result.baseline.tasks is None or other.baseline.tasks is None:
        raise ValueError("the unpaired check needs runs that kept their per-task columns")
    base = result.baseline.tasks.cost_usd
    out = {}
    for run in result.alternatives[1:]:
        paired = variance_reduction(base, run.tasks.cost_usd)["half_width_paired"]
        unpaired = welch_half_width(base, other.alternative(run.name).tasks.cost_usd)
        out[run.name] = {"paired_half_width": paired, "unpaired_half_width": unpaired,
                         "ratio": paired / unpaired if unpaired > 0 else None}
    return out
