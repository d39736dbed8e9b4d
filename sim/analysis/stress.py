"""Stress sweeps: run a workflow over a grid of values of some of its numbers (``costsim stress``).

Each ``--vary PATH=START:STOP:N`` names a number of the workflow (path syntax: :mod:`sim.analysis.variants`)
and N evenly spaced values from START to STOP (or ``PATH=V1,V2,...``); several give the full grid, every
combination. At each grid point every alternative runs on the same tasks with the same seed, so the
points share their random numbers too (common random numbers across the grid): a task whose search
fails at a 10% failure rate also fails at 20%, and the curves move smoothly instead of jittering.

A number the file holds as a whole number (``retry.max_attempts``) takes whole values: grid values are
rounded half up, and repeats after rounding are dropped (the report notes it).

Per point and alternative the report gives the mean cost per task with its 95% interval, p95 and p99
(``null`` when fewer than 10 tasks lie beyond them, as in ``costsim run``), the success rate, the cost
per success, and:

* **cost amplification** = mean cost / mean cost of the *no-failure case*: the same workflow at the same
  grid point with every ``fail`` set to 0, whatever its form (a probability, per model, ``quality``;
  :func:`sim.analysis.variants.without_failures`). It is how many times the failures (retries, escalations,
  re-runs) multiply the cost; below 1 when failed tasks stop early. Provider errors (``outages``, rate
  limits) are not zeroed: they are the conditions, not the agent's failures. The no-failure case is
  simulated once per distinct no-failure workflow: once in all when only ``fail`` values are swept;
* **runaway share** = the share of tasks costing more than :data:`RUNAWAY_FACTOR` (10) times the
  no-failure case's median cost per task (``runaway_threshold_usd``) of the same alternative;
* **diff_vs_first**: the paired difference in mean cost from the grid's first point, with its 95%
  interval (the tasks are the same; ``null`` when the points have different tasks, as when a traffic
  rate is swept);
* ``budget_caps`` and ``bill_mean_usd`` when the run's summary has them (per-task budgets; traffic).

The report (``costsim stress --format json``; ``points`` run over the grid, the last axis fastest)::

    {"workflow", "seed", "tasks" (null with traffic), "replications" (null without traffic),
     "runaway_factor": 10.0, "definitions": {"cost_amplification": "...", "runaway_share": "..."},
     "vary": [{"path", "location", "file_value", "integer", "values": [...]}],
     "points": [{"values": {path: value}, "alternatives": [
         {"name", "mean_cost_usd", "mean_ci95": [lo, hi], "p95_cost_usd", "p99_cost_usd", "success_rate",
          "cost_per_success_usd", "no_failure_mean_cost_usd", "cost_amplification",
          "runaway_threshold_usd", "runaway_share", "diff_vs_first": {"mean", "ci95"} | null}]}],
     "notes": [...], "metadata": {...}}
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.analysis.variants import (
    Number,
    RunCount,
    VariantRunner,
    clean,
    data_of,
    resolve,
    with_values,
    without_failures,
)
from sim.core.errors import CostsimError, Parameter, ParameterError
from sim.run.arguments import check_count, check_workflow, prices_date_of
from sim.run.simulation import SimulationResult
from sim.spec.workflow import Workflow, dotted
from sim.stats.intervals import mean_ci95
from sim.stats.summary import summarize

DEFAULT_TASKS = 2_000
DEFAULT_REPLICATIONS = 5
#: The most points of a grid (every --vary's values multiplied): each point is a whole run.
MAX_GRID_POINTS = 1_000
RUNAWAY_FACTOR = 10.0

DEFINITIONS = {
    "cost_amplification": "mean cost per task / mean cost per task of the no-failure case (the same workflow "
                          "at the same grid point with every fail set to 0), per alternative",
    "runaway_share": "share of tasks costing more than runaway_factor x the no-failure case's median cost "
                     "per task (runaway_threshold_usd), per alternative",
}


@dataclass(frozen=True)
class Axis:
    """One ``--vary``: the number it names and the values it takes."""

    number: Number
    values: tuple

    @property
    def path(self) -> str:
        return self.number.path


def parse_vary(vary: str) -> tuple[str, list[float]]:
    """``PATH=START:STOP:N`` (N evenly spaced values) or ``PATH=V1,V2,...`` -> (path, values)."""
    path, sep, grid = vary.partition("=")
    usage = ParameterError(Parameter("vary"), ": expected PATH=START:STOP:N (e.g. steps.search.fail=0:0.3:7) or "
                           f"PATH=V1,V2,..., got {vary!r}")
    if not sep or not path or not grid:
        raise usage
    try:
        if "," in grid or ":" not in grid:
            values = [float(v) for v in grid.split(",")]
        else:
            parts = grid.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
            if n < 1:
                raise ParameterError(Parameter("vary", path), f": N must be at least 1, got {n}")
            if n > MAX_GRID_POINTS:
                raise ParameterError(Parameter("vary", path), f": N = {n:,} points, more than {MAX_GRID_POINTS:,}, the "
                                     "most a grid may have (each point is a whole run); give fewer")
            if n == 1 and start != stop:
                raise ParameterError(Parameter("vary", path), f": one value from {start:g} to {stop:g}? Give N >= 2, "
                                     f"or a single value ({path}={start:g})")
            values = list(np.linspace(start, stop, n))
    except ValueError:
        raise usage from None
    if not all(math.isfinite(v) for v in values):
        raise ParameterError(Parameter("vary", path), f": values must be finite numbers, got {grid!r}")
    if len(values) > MAX_GRID_POINTS:
        raise ParameterError(Parameter("vary", path), f": {len(values):,} values, more than {MAX_GRID_POINTS:,}, the "
                             "most a grid may have (each point is a whole run); give fewer")
    return path, [clean(float(v)) for v in values]


def axes_for(workflow: Workflow, varies: list[tuple[str, list[float]]]) -> tuple[list[Axis], list[str]]:
    """Resolve each path; whole-number fields get rounded values. Returns the axes and notes."""
    if not varies:
        raise ParameterError("stress needs at least one ", Parameter("vary", "PATH=START:STOP:N"), ", e.g. ",
                             Parameter("vary", "steps.search.fail=0:0.3:7"))
    data = data_of(workflow)
    axes: list[Axis] = []
    notes: list[str] = []
    for path, values in varies:
        try:
            number = resolve(data, path)
        except CostsimError as exc:
            raise ParameterError(Parameter("vary"), f" {exc.message}") from None
        if any(axis.number.location == number.location for axis in axes):
            raise ParameterError(Parameter("vary", path), ": the same number is varied twice")
        if number.integer:
            rounded = list(dict.fromkeys(int(math.floor(v + 0.5)) for v in values))
            if rounded != values:
                notes.append(f"{path} takes whole numbers: the grid was rounded to {', '.join(map(str, rounded))}")
            values = rounded
        axes.append(Axis(number, tuple(values)))
        if math.prod(len(axis.values) for axis in axes) > MAX_GRID_POINTS:
            raise ParameterError(Parameter("vary"), f": the grid has {math.prod(len(a.values) for a in axes):,} "
                                 f"points, more than {MAX_GRID_POINTS:,} (each point is a whole run); vary fewer "
                                 "numbers, or give each fewer values")
    return axes, notes


def _entry(alt: dict, costs: np.ndarray, reference: dict, first: np.ndarray | None, runaway_factor: float) -> dict:
    """One alternative at one grid point."""
    cost = alt["cost_per_task"]
    ref_mean, ref_median = reference["mean"], reference["median"]
    threshold = runaway_factor * ref_median
    entry = {
        "name": alt["name"],
        "mean_cost_usd": cost["mean"],
        "mean_ci95": cost["ci95"],
        "p95_cost_usd": cost["p95"],
        "p99_cost_usd": cost["p99"],
        "success_rate": alt["success_rate"],
        "cost_per_success_usd": alt["cost_per_success"],
        "no_failure_mean_cost_usd": ref_mean,
        "cost_amplification": cost["mean"] / ref_mean if ref_mean > 0 else None,
        "runaway_threshold_usd": threshold,
        "runaway_share": float(np.mean(costs > threshold * (1 + 1e-9))),  # not float sums of exactly 10 calls
        "diff_vs_first": None,
    }
    if first is not None and len(first) == len(costs):
        mean, ci95 = mean_ci95(costs - first)
        entry["diff_vs_first"] = {"mean": mean, "ci95": ci95}
    if "bill" in alt:
        entry["bill_mean_usd"] = alt["bill"]["mean"]
    if "budget_caps" in alt:
        entry["budget_caps"] = alt["budget_caps"]
    return entry


@dataclass
class StressPlan(RunCount):
    """Everything :func:`run_stress` will simulate, built and validated before anything runs."""

    workflow: Workflow
    axes: list[Axis]
    grid: list[tuple]
    variants: list[Workflow]
    reference_keys: list[str]  # per point: which no-failure case it is measured against
    references: dict[str, Workflow]
    notes: list[str]
    tasks: int
    seed: int
    replications: int | None
    prices_date: dt.date

    @property
    def runs(self) -> int:
        return len(self.variants) + len(self.references)


def plan_stress(
    workflow: Workflow,
    varies: list[tuple[str, list[float]]],
    tasks: int = DEFAULT_TASKS,
    seed: int = 0,
    *,
    replications: int | None = None,
    prices_date: dt.date | None = None,
) -> StressPlan:
    """Resolve the paths and build every grid point's workflow and no-failure case: a bad path or a
    value the workflow rejects fails here, before any simulation."""
    check_workflow(workflow, "stress")
    if isinstance(varies, str) or not all(isinstance(vary, tuple | list) and len(vary) == 2 for vary in varies):
        raise ParameterError(Parameter("varies", varies), ": expected a list of (path, values) pairs, e.g. "
                             "[parse_vary('retry.max_attempts=1:5:5')]")
    check_count("tasks", tasks)
    prices_date = prices_date_of(prices_date)
    axes, notes = axes_for(workflow, varies)
    if workflow.traffic is None and replications is not None:
        raise ParameterError(Parameter("replications"), " needs a traffic: block in the workflow; without it, use ",
                             Parameter("tasks"))
    if workflow.traffic is not None:
        replications = replications or DEFAULT_REPLICATIONS
    if tasks < 1:
        raise ParameterError(Parameter("tasks"), f": expected at least 1, got {tasks}")
    data = data_of(workflow)
    grid = list(itertools.product(*(axis.values for axis in axes)))
    variants, keys, references = [], [], {}
    for values in grid:
        what = Parameter("vary", ", ".join(f"{axis.path}={value:g}" for axis, value in zip(axes, values)))
        variant = with_values(data, {axis.number.location: value for axis, value in zip(axes, values)}, what)
        reference = without_failures(variant)
        key = json.dumps(data_of(reference), sort_keys=True)
        references.setdefault(key, reference)
        variants.append(variant)
        keys.append(key)
    return StressPlan(workflow, axes, grid, variants, keys, references, notes, tasks, seed, replications,
                      prices_date or dt.datetime.now(dt.UTC).date())


def run_stress(
    plan: StressPlan,
    *,
    runaway_factor: float = RUNAWAY_FACTOR,
    on_progress: Callable[[int], None] | None = None,
    on_result: Callable[[dict, SimulationResult], None] | None = None,
    executor=None,
    engine="auto",
) -> dict:
    """Simulate the plan; return the report (shape in the module docstring). ``engine``: as
    :func:`sim.run.simulation.simulate` takes it (``"auto"``, the default, ``"des"``, ``"fast"``).

    ``on_progress(done)`` is called with the work done so far (of :attr:`StressPlan.work`);
    ``on_result(values, result)`` with each grid point's values and simulation result; ``executor``
    (:mod:`sim.run.executor`) runs the chunks of every point and no-failure case together.
    """
    run = VariantRunner(plan.tasks, plan.seed, plan.replications, plan.prices_date, on_progress, executor, engine)
    keys = list(plan.references)
    simulated = run.many([plan.references[key] for key in keys] + plan.variants)
    reference_values: dict[str, dict[str, dict]] = {
        key: {r.name: {"mean": float(np.mean(r.tasks.cost_usd)), "median": float(np.median(r.tasks.cost_usd))}
              for r in reference.alternatives}
        for key, reference in zip(keys, simulated)}
    first_costs: dict[str, np.ndarray] = {}
    points = []
    for index, (values, result, key) in enumerate(zip(plan.grid, simulated[len(keys):], plan.reference_keys)):
        by_path = {axis.path: value for axis, value in zip(plan.axes, values)}
        if on_result is not None:
            on_result(by_path, result)
        summary = summarize(result)
        entries = []
        for alt, alt_run in zip(summary["alternatives"], result.alternatives):
            costs = alt_run.tasks.cost_usd
            entries.append(_entry(alt, costs, reference_values[key][alt["name"]], first_costs.get(alt["name"]),
                                  runaway_factor))
            if index == 0:
                first_costs[alt["name"]] = costs
        points.append({"values": by_path, "alternatives": entries})
    return {
        "workflow": plan.workflow.name,
        "seed": plan.seed,
        "tasks": None if plan.replications is not None else plan.tasks,
        "replications": plan.replications,
        "runaway_factor": runaway_factor,
        "definitions": DEFINITIONS,
        "vary": [{"path": axis.path, "location": dotted(axis.number.location), "file_value": axis.number.value,
                  "integer": axis.number.integer, "values": list(axis.values)} for axis in plan.axes],
        "points": points,
        "notes": plan.notes,
        "metadata": run.metadata,
    }


def stress(workflow: Workflow, varies: list[tuple[str, list[float]]], tasks: int = DEFAULT_TASKS, seed: int = 0,
           *, replications: int | None = None, prices_date: dt.date | None = None, **run_options) -> dict:
    """:func:`plan_stress` then :func:`run_stress`: the whole sweep in one call. ``run_options`` go to
    :func:`run_stress`: ``executor``, ``engine``, ``on_progress``, ``on_result``, ``runaway_factor``."""
    plan = plan_stress(workflow, varies, tasks, seed, replications=replications, prices_date=prices_date)
    return run_stress(plan, **run_options)
