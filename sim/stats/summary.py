"""Summaries of simulated tasks: means with t-intervals, quantiles with intervals, paired differences.

* **Mean cost per task** with a 95% Student-t interval: mean ± t(0.975, n−1)·s/√n. Costs per task are
  independent across tasks, so the central limit theorem applies; heavy tails need more tasks.
* **Quantiles** (p50 … p99) are only reported when at least :data:`MIN_TAIL_TASKS` tasks lie beyond
  them (a p99 from 100 tasks rests on one task); otherwise the value is ``None`` and a note says how
  many tasks it needs. Their 95% intervals come from order statistics: the number of tasks below the
  true q-quantile is Binomial(n, q), so two order statistics bracket it, with no assumption on shape.
* **Paired differences**: all alternatives run on the same tasks, so the difference of two alternatives
  is measured task by task, d_i = cost_alt_i − cost_base_i, and its t-interval uses the spread of d,
  which common random numbers make far smaller than the spread of either cost.

Everything is read through a view of the tasks (:mod:`sim.stats.taskstats`): the kept per-task columns, or,
for a run too large to keep them, statistics merged from its chunks (exact sums; quantiles from a
sketch). The summary has the same shape either way.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.core.errors import Parameter, ParameterError
from sim.core.records import FAILURE_CODE, FAILURE_REASONS
from sim.stats.compare import comparison
from sim.stats.intervals import MIN_TAIL_TASKS, mean_ci95, proportion_ci95, quantile_ranks, tasks_needed
from sim.stats.routing import routing_summary
from sim.stats.taskstats import ColumnView, PairView

if TYPE_CHECKING:  # the run layer builds on this one: types only
    from sim.run.simulation import AlternativeRun, SimulationResult

QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}






def cost_summary(cost_usd) -> tuple[dict, dict, list[str]]:
    """(cost_per_task, quantile intervals, notes) for one alternative's per-task costs (an array, or a
    view of the tasks: :mod:`sim.stats.taskstats`)."""
    view = cost_usd if hasattr(cost_usd, "mean_ci95") else ColumnView({"cost_usd": np.asarray(cost_usd)})
    mean, ci95 = view.mean_ci95("cost_usd")
    summary: dict = {"mean": mean, "ci95": ci95}
    intervals: dict = {}
    notes: list[str] = []
    n = view.n
    summary.update(_shown_quantiles(view, "cost_usd", QUANTILES))
    for name, q in QUANTILES.items():
        if summary[name] is not None:
            intervals[name] = view.order_statistics("cost_usd", quantile_ranks(n, q))
        else:
            notes.append(f"{name} needs at least {tasks_needed(q)} tasks to rest on {MIN_TAIL_TASKS} tasks beyond it")
    summary["max"] = view.maximum("cost_usd")
    return summary, intervals, notes



def paired_difference(alternative, baseline=None) -> dict:
    """Mean of alternative − baseline over the same tasks, with its 95% t-interval (two arrays, or one
    :class:`~sim.stats.taskstats.PairView`)."""
    if isinstance(alternative, PairView):
        mean, ci95 = alternative.cost_diff_ci95()
    else:
        mean, ci95 = mean_ci95(alternative - baseline)
    return {"mean": mean, "ci95": ci95}


def _quantiles(t, name: str) -> dict:
    """mean and p50/p95/p99 of a field (None where too few values lie beyond the quantile)."""
    return {"mean": t.mean(name), **_shown_quantiles(t, name, ("p50", "p95", "p99"))}


def _shown_quantiles(view, name: str, keys) -> dict:
    """``keys`` (of :data:`QUANTILES`) -> the field's quantile, or None where too few tasks lie beyond it;
    asked of the view together, so that its column is passed over once."""
    shown = [key for key in keys if view.n >= tasks_needed(QUANTILES[key])]
    values = dict(zip(shown, view.quantiles(name, [QUANTILES[key] for key in shown])))
    return {key: values.get(key) for key in keys}


def _time_and_provider(run: AlternativeRun, workflow) -> dict:
    """What time, caching, batch, limits, outages and self-hosting add, for the keys the workflow uses."""
    t = run.view
    n = t.n
    out: dict = {"latency_s": _quantiles(t, "latency_s"), "reasoning_tokens_per_task": t.mean("reasoning_tokens")}
    reasons = t.failure_counts()
    out["failures"] = {reason: int(count) / n for reason, count in zip(FAILURE_REASONS, reasons)
                       if count and reason != "none"}
    if workflow.cache is not None or getattr(run, "caches", False):
        billed = t.total("billed_attempts")
        input_tokens = t.total("input_tokens")
        saving = t.total("cache_saving_usd")
        if abs(saving) <= 1e-12 * t.total("cost_usd"):  # float noise: writes with no premium save exactly 0
            saving = 0.0
        out["cache"] = {
            "hit_rate": t.total("cache_hits") / billed if billed else None,
            "cached_input_share": t.total("cache_read_tokens") / input_tokens if input_tokens else None,
            "write_tokens_per_task": t.mean("cache_write_tokens"),
            "saving_usd_per_task": saving / n,
            "saving_share": saving / (t.total("cost_usd") + saving) if saving else 0.0,
        }
    if run.batched_steps:
        out["batched_steps"] = list(run.batched_steps)
    if run.token_ratios:  # model -> content type -> its tokens per reference token, where not 1
        out["token_ratios"] = {ref: dict(by_content) for ref, by_content in run.token_ratios.items()}
    if workflow.limits:
        out["rate_limits"] = {
            "throttled_attempts_per_task": t.mean("throttled"),
            "wait_s_per_task": t.mean("throttle_wait_s"),
            "tasks_failed": t.failed_share(FAILURE_CODE["rate_limited"]),
        }
    if workflow.outages:
        out["outages"] = {
            "provider_errors_per_task": t.mean("provider_errors"),
            "tasks_failed": t.failed_share(FAILURE_CODE["provider_error"]),
        }
    if workflow.budget is not None:
        out["budget_caps"] = {cap: t.failed_share(FAILURE_CODE[f"budget_{cap}"]) for cap in ("cost", "calls", "time")}
    if workflow.self_hosted:
        out["self_hosted"] = {"gpu_s_per_task": t.mean("gpu_s")}
    return out


def bill_summary(bills_usd: np.ndarray, days: float, budget_usd: float | None) -> dict:
    """The horizon's bill over replications: mean with interval, p5/p50/p95, and P(bill > budget)."""
    mean, ci95 = mean_ci95(bills_usd)
    ordered = np.sort(bills_usd)
    out: dict = {"horizon_days": days, "replications": len(bills_usd), "mean": mean, "ci95": ci95}
    for name, q in (("p5", 0.05), ("p50", 0.5), ("p95", 0.95)):
        out[name] = float(np.quantile(ordered, q))
    out["min"], out["max"] = float(ordered[0]), float(ordered[-1])
    if len(bills_usd) < tasks_needed(0.95):
        out["note"] = (f"p5 and p95 rest on {len(bills_usd)} replications; use --replications "
                       f"{tasks_needed(0.95)} or more for tails you can quote")
    if budget_usd is not None:
        over = int(np.count_nonzero(bills_usd > budget_usd))
        out["budget_usd"] = budget_usd
        out["p_over_budget"] = over / len(bills_usd)
        out["p_over_budget_ci95"] = proportion_ci95(over, len(bills_usd))
    return out


def alternative_summary(run: AlternativeRun, baseline: AlternativeRun | None, workflow=None,
                        replications: int | None = None, budget_usd: float | None = None,
                        diff: PairView | None = None) -> dict:
    """One alternative's entry of the JSON contract (plus extra keys after the contract's); ``diff`` is
    the pair (baseline, this one), needed when the run kept no per-task columns."""
    t = run.view
    n = t.n
    cost_per_task, intervals, notes = cost_summary(t)
    notes = [*getattr(run, "notes", ()), *notes]  # the provider rules' warnings first
    successes = int(t.total("success"))
    total_cost = run.total_cost_usd
    if baseline is not None and diff is None:
        diff = PairView(baseline.view, t)
    return {
        "name": run.name,
        "models": dict(run.models),
        "cost_per_task": cost_per_task,
        "success_rate": successes / n,
        "cost_per_success": total_cost / successes if successes else None,
        "calls_per_task": t.mean("calls"),
        "attempts_per_task": t.mean("attempts"),
        "input_tokens_per_task": t.mean("input_tokens"),
        "output_tokens_per_task": t.mean("output_tokens"),
        "diff_vs_baseline": None if baseline is None else paired_difference(diff),
        "quantile_ci95": intervals,
        "success_rate_ci95": proportion_ci95(successes, n),
        "tool_calls_per_task": t.mean("tool_calls"),
        "user_turns_per_task": t.mean("user_turns"),
        "runs_per_task": t.mean("runs"),
        "total_cost_usd": total_cost,
        "notes": notes,
        **routing_summary(run, workflow),
        **({} if workflow is None else _time_and_provider(run, workflow)),
        **({} if replications is None else {
            "bill": bill_summary(run.bills_usd(replications), workflow.traffic.days, budget_usd)}),
    }


def summarize(result: SimulationResult, budget_usd: float | None = None) -> dict:
    """The JSON contract (the README's Outputs section) for a whole run (``budget_usd``: P(bill > budget)
    with traffic)."""
    if budget_usd is not None and not (isinstance(budget_usd, int | float) and math.isfinite(budget_usd)
                                       and budget_usd >= 0):
        raise ParameterError(Parameter("budget_usd", budget_usd), ": expected a finite number of USD, 0 or more")
    baseline = result.baseline
    summary = {
        "workflow": result.workflow.name,
        "seed": result.seed,
        "tasks": result.n_tasks,
        "alternatives": [
            alternative_summary(run, None if index == 0 else baseline, result.workflow, result.replications,
                                budget_usd, None if index == 0 else result.pair_view(0, index))
            for index, run in enumerate(result.alternatives)
        ],
        "metadata": dict(result.metadata),
    }
    warnings = list(dict.fromkeys(note for run in result.alternatives for note in getattr(run, "notes", ())))
    if warnings:
        summary["warnings"] = warnings
    if len(result.alternatives) > 1:
        summary["comparison"] = comparison(result)
    if result.replications is not None:
        summary["replications"] = result.replications
        summary["traffic"] = result.workflow.traffic.model_dump()
    return summary
