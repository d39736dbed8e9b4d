"""Forecast against actual: a fitted workflow's forecast next to traced tasks it never saw.

The actual figures are those of ``N`` traced tasks, so even a perfect forecast would not match them
exactly: their mean is one draw of the mean of ``N`` tasks. Each forecast figure is judged against a
*prediction interval* for that draw, whose variance is the sum of three parts:

* the **fit's** uncertainty (:mod:`sim.calibration.uncertainty`; 0 for a workflow that was not fitted);
* the **simulation's** noise in the forecast itself;
* the **sampling** noise of ``N`` tasks: for a mean, the forecast's per-task variance over ``N``; for a
  quantile, the spread of the same quantile over many groups of ``N`` simulated tasks.

A figure is *inside* when the actual lies in its interval (95%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.calibration.evidence import actual_columns, evidence_of
from sim.calibration.traces import TraceError, TraceSet
from sim.calibration.uncertainty import MEAN_COLUMNS, Z95, fit_uncertainty, simulation_variances, statistics_of
from sim.core.errors import CostsimError
from sim.core.pricing import Catalog
from sim.run.simulation import simulate
from sim.spec.catalog import catalog_for
from sim.spec.workflow import Workflow

#: Groups of N simulated tasks drawn to find the spread of a quantile of N tasks.
QUANTILE_GROUPS = 2_000
FIGURES = (("mean_usd", "mean"), ("p50_usd", "p50"), ("p90_usd", "p90"), ("p95_usd", "p95"),
           ("calls_per_task", "calls"), ("input_tokens_per_task", "input_tokens"),
           ("output_tokens_per_task", "output_tokens"), ("success_rate", "success"))


@dataclass
class Backtest:
    """Actual and forecast figures, each forecast with its 95% prediction interval for N tasks."""

    actual: dict
    forecast: dict
    actual_costs_usd: np.ndarray
    forecast_costs_usd: np.ndarray

    def as_dict(self) -> dict:
        errors = {}
        for key, statistic in FIGURES:
            a, f = self.actual.get(key), self.forecast.get(key)
            interval = self.forecast.get(f"{statistic}_ci95")
            if a is None or f is None or interval is None:
                continue
            errors[key] = {"error": f - a, "relative_error": (f - a) / a if a else None,
                           "ci95": interval, "inside": bool(interval[0] <= a <= interval[1])}
        return {"actual": self.actual, "forecast": self.forecast, "errors": errors}


def actual_figures(traces: TraceSet, catalog: Catalog) -> tuple[dict, np.ndarray]:
    """The traced tasks' figures: cost quantiles, calls and tokens per task, success."""
    tasks = {task: calls for task, calls in traces.tasks.items() if any(c.kind == "llm" for c in calls)}
    if not tasks:
        raise TraceError(f"{traces.files[0]}: no traced task has a model call; nothing to compare")
    evidence = evidence_of(tasks, catalog)[0]
    columns = actual_columns(evidence)
    cost = columns["cost_usd"]
    figures = {"tasks": len(cost), "mean_usd": float(cost.mean()), "p50_usd": float(np.quantile(cost, 0.5)),
               "p90_usd": float(np.quantile(cost, 0.9)), "p95_usd": float(np.quantile(cost, 0.95)),
               "calls_per_task": float(columns["calls"].mean()),
               "input_tokens_per_task": float(columns["input_tokens"].mean()),
               "output_tokens_per_task": float(columns["output_tokens"].mean()),
               "success_rate": float(columns["success"].mean())}
    return figures, cost


def backtest(workflow: Workflow, traces: TraceSet, *, tasks: int = 10_000, seed: int = 0, engine="auto",
             prices_date=None, resamples: int | None = None, alternative: str | None = None) -> Backtest:
    """Compare ``workflow``'s forecast (its baseline, or ``alternative``) with the traced tasks."""
    catalog = catalog_for(workflow, prices_date)
    actual, actual_costs = actual_figures(traces, catalog)
    n_actual = actual["tasks"]
    result = simulate(workflow, tasks, seed, engine=engine, prices_date=prices_date)
    names = [run.name for run in result.alternatives]
    name = alternative or names[0]
    if name not in names:
        raise CostsimError(f"--alternative {name!r}: the workflow's alternatives are {', '.join(names)}")
    run = result.alternatives[names.index(name)]
    columns = run.tasks
    cost = np.asarray(columns.cost_usd, dtype=float)
    values = statistics_of(columns)
    fit_var: dict[str, float] = {}
    sim_var = simulation_variances(columns)
    if workflow.calibration is not None and (resamples if resamples is not None else workflow.calibration.resamples):
        uncertainty = fit_uncertainty(workflow, result, seed, engine=engine, prices_date=prices_date,
                                      resamples=resamples)
        fit_var = {key: combined.var_fit for key, combined in uncertainty.alternatives[name].items()}
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0xBAC7E57])))
    groups = np.sort(cost[rng.integers(0, len(cost), size=(QUANTILE_GROUPS, n_actual))], axis=1)
    forecast = {"tasks": len(cost), "alternative": name}

    def interval(key: str, value: float, sampling_var: float) -> list[float]:
        total = fit_var.get(key, 0.0) + sim_var.get(key, 0.0) + sampling_var
        half = Z95 * math.sqrt(total)
        return [value - half, value + half]

    forecast["mean_usd"] = values["mean"]
    forecast["mean_ci95"] = interval("mean", values["mean"], float(np.var(cost, ddof=1)) / n_actual)
    for key, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95)):
        spread = float(np.var(np.quantile(groups, q, axis=1), ddof=1))
        forecast[f"{key}_usd"] = values[key]
        forecast[f"{key}_ci95"] = interval(key, values[key], spread)
    for key in MEAN_COLUMNS:
        per_task = np.asarray(getattr(columns, key), dtype=float)
        label = "success_rate" if key == "success" else f"{key}_per_task"
        forecast[label] = values[key]
        forecast[f"{key}_ci95"] = interval(key, values[key], float(np.var(per_task, ddof=1)) / n_actual)
    return Backtest(actual, forecast, actual_costs, cost)
