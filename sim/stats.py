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
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from sim.compare import comparison
from sim.montecarlo import AlternativeRun, SimulationResult
from sim.records import FAILURE_CODE, FAILURE_REASONS
from sim.stats_routing import routing_summary

QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
MIN_TAIL_TASKS = 10
CONFIDENCE = 0.95


def mean_ci95(values: np.ndarray) -> tuple[float, list[float] | None]:
    """The mean and its 95% t-interval (None for fewer than two values)."""
    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return mean, None
    half_width = float(sps.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * np.std(values, ddof=1) / math.sqrt(n))
    return mean, [mean - half_width, mean + half_width]


def tasks_needed(q: float) -> int:
    """Fewest tasks for which ``q``'s quantile has :data:`MIN_TAIL_TASKS` tasks beyond it."""
    return math.ceil(MIN_TAIL_TASKS / (1 - q) - 1e-9)


def quantile_ci95(sorted_values: np.ndarray, q: float) -> list[float]:
    """Distribution-free 95% interval of the q-quantile from order statistics."""
    n = len(sorted_values)
    lo = int(sps.binom.ppf((1 - CONFIDENCE) / 2, n, q))
    hi = int(sps.binom.ppf(0.5 + CONFIDENCE / 2, n, q))
    return [float(sorted_values[max(lo - 1, 0)]), float(sorted_values[min(hi, n - 1)])]


def cost_summary(cost_usd: np.ndarray) -> tuple[dict, dict, list[str]]:
    """(cost_per_task, quantile intervals, notes) for one alternative's per-task costs."""
    mean, ci95 = mean_ci95(cost_usd)
    ordered = np.sort(cost_usd)
    summary: dict = {"mean": mean, "ci95": ci95}
    intervals: dict = {}
    notes: list[str] = []
    n = len(cost_usd)
    for name, q in QUANTILES.items():
        if n >= tasks_needed(q):
            summary[name] = float(np.quantile(ordered, q))
            intervals[name] = quantile_ci95(ordered, q)
        else:
            summary[name] = None
            notes.append(f"{name} needs at least {tasks_needed(q)} tasks to rest on {MIN_TAIL_TASKS} tasks beyond it")
    summary["max"] = float(ordered[-1])
    return summary, intervals, notes


def proportion_ci95(successes: int, n: int) -> list[float]:
    """Wilson score interval for a proportion (good near 0 and 1, unlike the normal approximation)."""
    z = sps.norm.ppf(0.5 + CONFIDENCE / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def paired_difference(alternative: np.ndarray, baseline: np.ndarray) -> dict:
    """Mean of alternative − baseline over the same tasks, with its 95% t-interval."""
    mean, ci95 = mean_ci95(alternative - baseline)
    return {"mean": mean, "ci95": ci95}


def _quantiles(values: np.ndarray) -> dict:
    """mean and p50/p95/p99 (None where too few values lie beyond the quantile)."""
    ordered = np.sort(values)
    out = {"mean": float(np.mean(values))}
    for name in ("p50", "p95", "p99"):
        q = QUANTILES[name]
        out[name] = float(np.quantile(ordered, q)) if len(values) >= tasks_needed(q) else None
    return out


def _time_and_provider(run: AlternativeRun, workflow) -> dict:
    """What time, caching, batch, limits, outages and self-hosting add, for the keys the workflow uses."""
    t = run.tasks
    n = len(t)
    out: dict = {"latency_s": _quantiles(t.latency_s), "reasoning_tokens_per_task": float(np.mean(t.reasoning_tokens))}
    failed = ~t.success
    reasons = np.bincount(t.failure[failed], minlength=len(FAILURE_REASONS))
    out["failures"] = {reason: int(count) / n for reason, count in zip(FAILURE_REASONS, reasons) if count and reason != "none"}
    if workflow.cache is not None:
        billed = int(np.sum(t.billed_attempts))
        input_tokens = int(np.sum(t.input_tokens))
        saving = float(np.sum(t.cache_saving_usd))
        out["cache"] = {
            "hit_rate": int(np.sum(t.cache_hits)) / billed if billed else None,
            "cached_input_share": int(np.sum(t.cache_read_tokens)) / input_tokens if input_tokens else None,
            "write_tokens_per_task": float(np.mean(t.cache_write_tokens)),
            "saving_usd_per_task": saving / n,
            "saving_share": saving / (float(np.sum(t.cost_usd)) + saving) if saving else 0.0,
        }
    if run.batched_steps:
        out["batched_steps"] = list(run.batched_steps)
    if workflow.limits:
        out["rate_limits"] = {
            "throttled_attempts_per_task": float(np.mean(t.throttled)),
            "wait_s_per_task": float(np.mean(t.throttle_wait_s)),
            "tasks_failed": float(np.mean(failed & (t.failure == FAILURE_CODE["rate_limited"]))),
        }
    if workflow.outages:
        out["outages"] = {
            "provider_errors_per_task": float(np.mean(t.provider_errors)),
            "tasks_failed": float(np.mean(failed & (t.failure == FAILURE_CODE["provider_error"]))),
        }
    if workflow.budget is not None:
        out["budget_caps"] = {cap: float(np.mean(failed & (t.failure == FAILURE_CODE[f"budget_{cap}"])))
                              for cap in ("cost", "calls", "time")}
    if workflow.self_hosted:
        out["self_hosted"] = {"gpu_s_per_task": float(np.mean(t.gpu_s))}
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
                        replications: int | None = None, budget_usd: float | None = None) -> dict:
    """One alternative's entry of the JSON contract (plus extra keys after the contract's)."""
    t = run.tasks
    n = len(t)
    cost_per_task, intervals, notes = cost_summary(t.cost_usd)
    successes = int(np.count_nonzero(t.success))
    total_cost = run.total_cost_usd
    return {
        "name": run.name,
        "models": dict(run.models),
        "cost_per_task": cost_per_task,
        "success_rate": successes / n,
        "cost_per_success": total_cost / successes if successes else None,
        "calls_per_task": float(np.mean(t.calls)),
        "attempts_per_task": float(np.mean(t.attempts)),
        "input_tokens_per_task": float(np.mean(t.input_tokens)),
        "output_tokens_per_task": float(np.mean(t.output_tokens)),
        "diff_vs_baseline": None if baseline is None else paired_difference(t.cost_usd, baseline.tasks.cost_usd),
        "quantile_ci95": intervals,
        "success_rate_ci95": proportion_ci95(successes, n),
        "tool_calls_per_task": float(np.mean(t.tool_calls)),
        "runs_per_task": float(np.mean(t.runs)),
        "total_cost_usd": total_cost,
        "notes": notes,
        **routing_summary(run, workflow),
        **({} if workflow is None else _time_and_provider(run, workflow)),
        **({} if replications is None else {
            "bill": bill_summary(run.bills_usd(replications), workflow.traffic.days, budget_usd)}),
    }


def summarize(result: SimulationResult, budget_usd: float | None = None) -> dict:
    """The JSON contract of DESIGN.md for a whole run (``budget_usd``: P(bill > budget) with traffic)."""
    baseline = result.baseline
    summary = {
        "workflow": result.workflow.name,
        "seed": result.seed,
        "tasks": result.n_tasks,
        "alternatives": [
            alternative_summary(run, None if run is baseline else baseline, result.workflow, result.replications,
                                budget_usd)
            for run in result.alternatives
        ],
        "metadata": dict(result.metadata),
    }
    if len(result.alternatives) > 1:
        summary["comparison"] = comparison(result)
    if result.replications is not None:
        summary["replications"] = result.replications
        summary["traffic"] = result.workflow.traffic.model_dump()
    return summary
