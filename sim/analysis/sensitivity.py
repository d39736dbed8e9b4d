"""What drives cost: one-at-a-time sensitivity of the cost per task (``costsim sensitivity``).

Every number written in the workflow file is an input. Each is moved down and up by a share ``delta``
(default 20%), one at a time, everything else as in the file, and the workflow runs again with the same
seed: common random numbers, so the two runs of an input differ only by what the input changed, and a
small effect is measured precisely (an input that changes nothing gives exactly 0). Inputs are ranked
by the swing of the mean cost per task (|mean at the high value − mean at the low value|) of one
alternative (the baseline, or ``alternative``), and separately by the swing of the p95.

What is an input, and how it moves:

* every number the file writes (defaults the file does not write are not varied; catalog prices are not
  varied, but the file's ``prices:`` overrides are): distribution parameters (mean, median, sd, sigma,
  low, high, ...), fixed token counts, loop counts, failure probabilities, tool prices, traffic rates,
  and whatever else the format grows;
* numbers move to x·(1 − delta) and x·(1 + delta); failure probabilities (``fail``) are clamped to
  [0, 1]; whole numbers (``max_attempts``) move to the rounded values, and by at least 1 (3 → 2 and 4 at
  20%); a side the workflow rejects is moved another way if there is one (one of several shares that
  must sum to 1, such as difficulty classes, moves with the others rescaled to keep the sum; another
  probability is clamped to 1), or else stays at the file's value (``max_attempts: 0``), with a note;
* an empirical distribution's ``values`` move together, as one input;
* not varied, listed under ``skipped`` with the reason: numbers that are 0 (a share of 0 is 0),
  distribution clamps (``min``, ``max``), relative weights (empirical ``weights``, ``traffic.profile``:
  scaling them all changes nothing), branch probabilities (``p``: they must sum to 1), the horizon
  (``traffic.days``) and times of day (``start_h``).

The report (``costsim sensitivity --format json``; ``inputs`` ranked by their effect on the mean, inputs
with no effect last)::

    {"workflow", "alternative", "seed", "tasks" (null with traffic), "replications", "delta",
     "base": {"mean_cost_usd", "p95_cost_usd"},
     "inputs": [{"path", "value", "low", "high", "mean_cost_usd": [at low, at high],
                 "p95_cost_usd": [at low, at high], "mean_swing_usd", "p95_swing_usd",
                 "mean_swing_ci95", "elasticity", "rank_mean", "rank_p95", "notes": [...]}],
     "skipped": [{"path", "value", "reason"}], "metadata": {...}}

``mean_swing_usd`` is mean(high) − mean(low) (negative when raising the input lowers the cost), with the
95% interval of that paired difference (``null`` when the runs have different tasks, as when a traffic
rate moves); ``elasticity`` is the relative change of the mean per relative change of the input,
(swing / base mean) / ((high − low) / value).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.analysis.variants import (
    FAILURE_KEYS,
    Location,
    RunCount,
    VariantRunner,
    clean,
    data_of,
    is_number,
    label,
    only_alternative,
    with_values,
)
from sim.core.errors import CostsimError, Parameter, ParameterError
from sim.run.arguments import check_count, check_workflow, prices_date_of
from sim.spec.distributions import FAMILIES
from sim.spec.workflow import BASELINE, Workflow
from sim.stats.intervals import mean_ci95, tasks_needed

DEFAULT_DELTA = 0.2
DEFAULT_TASKS = 2_000
DEFAULT_REPLICATIONS = 5
TORNADO_INPUTS = 15

_SKIPPED_KEYS = {
    "weights": "relative weights: scaling them all changes nothing",
    "profile": "relative weights: scaling them all changes nothing",
    "p": "branch probabilities must sum to 1",
    "weight": "a mixture's weights must sum to 1",
    "days": "the horizon's length, not a rate",
    "start_h": "a time of day",
}


@dataclass
class Input:
    """One input: where it is, its value in the file and the two values it is moved to."""

    path: str
    location: Location
    value: Any
    low: Any
    high: Any
    notes: list[str] = field(default_factory=list)


def _inputs(workflow: Workflow, delta: float) -> tuple[list[Input], list[dict]]:
    """Every number the file writes, with its low and high values; and the skipped ones, with reasons."""
    written = workflow.model_dump(mode="json", exclude_unset=True)
    data = data_of(workflow)
    inputs: list[Input] = []
    skipped: list[dict] = []

    def visit(node: Any, location: Location, parent: Any) -> None:
        key = location[-1] if location else None
        if isinstance(node, dict):
            for child_key, child in node.items():
                visit(child, (*location, child_key), node)
            return
        numbers_list = isinstance(node, list) and node and all(is_number(v) for v in node)
        if not is_number(node) and not numbers_list:
            if isinstance(node, list):
                for index, child in enumerate(node):
                    visit(child, (*location, index), node)
            return
        path = label(data, location)
        reason = None
        if isinstance(parent, dict) and key in ("min", "max") and any(f in parent for f in FAMILIES):
            reason = "a clamp of a distribution"
        elif key in _SKIPPED_KEYS and not (key == "p" and not _in_branch(location)):
            reason = _SKIPPED_KEYS[key]
        elif (numbers_list and not any(node)) or (not numbers_list and node == 0):
            reason = "0: a share of 0 is still 0"
        if reason is not None:
            skipped.append({"path": path, "value": node, "reason": reason})
            return
        inputs.append(_moved(path, location, node, delta, _is_failure(location)))

    visit(written, (), None)
    return inputs, skipped


def _in_branch(location: Location) -> bool:
    return "branch" in location


def _is_failure(location: Location) -> bool:
    return any(part in FAILURE_KEYS for part in location if isinstance(part, str))


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _moved(path: str, location: Location, value: Any, delta: float, probability: bool) -> Input:
    if isinstance(value, list):
        return Input(path, location, value, [clean(v * (1 - delta)) for v in value],
                     [clean(v * (1 + delta)) for v in value], ["the values move together"])
    if isinstance(value, int):
        low, high = min(_half_up(value * (1 - delta)), value - 1), max(_half_up(value * (1 + delta)), value + 1)
        return Input(path, location, value, low, high)
    low, high = clean(value * (1 - delta)), clean(value * (1 + delta))
    notes = []
    if probability and high > 1:
        high = 1.0
        notes.append("a probability: the high value is clamped to 1")
    return Input(path, location, value, low, high, notes)


def _fallbacks(data: dict, item: Input, value: Any):
    """Other ways to move an input the workflow rejected at ``value``: a share of a mapping of shares
    that sum to 1 (difficulty classes) moves with the others rescaled to keep the sum; a probability
    above 1 is clamped to 1. Yields (assignment, value, note)."""
    if isinstance(value, list):
        return
    parent = data
    for part in item.location[:-1]:
        parent = parent[part]
    siblings = {k: v for k, v in parent.items() if k != item.location[-1]} if isinstance(parent, dict) else {}
    shares = list(siblings.values()) + [item.value]
    if (siblings and all(is_number(v) for v in shares) and abs(sum(shares) - 1) < 1e-9
            and 0 <= value <= 1 and item.value < 1):
        scale = (1 - value) / (1 - item.value)
        assignment = {(*item.location[:-1], k): clean(v * scale) for k, v in siblings.items()}
        assignment[item.location] = value
        yield assignment, value, "one of shares that sum to 1: the others are rescaled to keep the sum"
    if value > 1 >= item.value:
        yield {item.location: 1.0}, 1.0, "a probability: the high value is clamped to 1"


@dataclass
class SensitivityPlan(RunCount):
    """The inputs, each side's workflow (``None`` where a side stays at the file's value)."""

    workflow: Workflow
    base: Workflow
    alternative: str
    inputs: list[Input]
    sides: list[tuple[Workflow | None, Workflow | None]]
    skipped: list[dict]
    delta: float
    tasks: int
    seed: int
    replications: int | None
    prices_date: dt.date

    @property
    def runs(self) -> int:
        return 1 + sum(side is not None for pair in self.sides for side in pair)


def plan_sensitivity(
    workflow: Workflow,
    delta: float = DEFAULT_DELTA,
    tasks: int = DEFAULT_TASKS,
    seed: int = 0,
    *,
    alternative: str = BASELINE,
    replications: int | None = None,
    prices_date: dt.date | None = None,
) -> SensitivityPlan:
    """Find the inputs and build both sides' workflows (validated) before anything runs."""
    check_workflow(workflow, "sensitivity")
    if isinstance(delta, bool) or not isinstance(delta, int | float):
        raise ParameterError(Parameter("delta", delta), ": expected a share between 0 and 1 (0.2 is ±20%)")
    check_count("tasks", tasks)
    prices_date = prices_date_of(prices_date)
    if not (math.isfinite(delta) and 0 < delta <= 1):
        raise ParameterError(Parameter("delta"), f": expected a share between 0 and 1 (0.2 is ±20%), got {delta:g}")
    if workflow.traffic is None and replications is not None:
        raise ParameterError(Parameter("replications"), " needs a traffic: block in the workflow; without it, use ",
                             Parameter("tasks"))
    if workflow.traffic is not None:
        replications = replications or DEFAULT_REPLICATIONS
    if tasks < 1:
        raise ParameterError(Parameter("tasks"), f": expected at least 1, got {tasks}")
    base = only_alternative(workflow, alternative)
    data = data_of(base)
    inputs, skipped = _inputs(workflow, delta)
    sides = []
    for item in inputs:
        pair = []
        for side in ("low", "high"):
            value = getattr(item, side)
            if value == item.value:
                pair.append(None)
                continue
            try:
                pair.append(with_values(data, {item.location: value}, f"{item.path}={value}"))
                continue
            except CostsimError as exc:
                problem = exc.message
            for assignment, fallback, note in _fallbacks(data, item, value):
                if fallback == item.value:  # already at the bound: this side does not move
                    pair.append(None)
                    note = f"the {side} value stays at the file's, its bound"
                else:
                    try:
                        pair.append(with_values(data, assignment, f"{item.path}={fallback}"))
                    except CostsimError:
                        continue
                setattr(item, side, fallback)
                if note not in item.notes:
                    item.notes.append(note)
                break
            else:
                setattr(item, side, item.value)
                item.notes.append(f"the {side} value is not valid, so it stays at the file's ({problem})")
                pair.append(None)
        sides.append(tuple(pair))
    return SensitivityPlan(workflow, base, alternative, inputs, sides, skipped, delta, tasks, seed, replications,
                           prices_date or dt.datetime.now(dt.UTC).date())


def _p95(costs: np.ndarray) -> float | None:
    return float(np.quantile(costs, 0.95)) if len(costs) >= tasks_needed(0.95) else None


def run_sensitivity(plan: SensitivityPlan, on_progress: Callable[[int], None] | None = None,
                    executor=None, engine="auto") -> dict:
    """Run the plan; return the report (shape in the module docstring). ``executor``
    (:mod:`sim.run.executor`) runs the chunks of every variant together; ``engine`` as
    :func:`sim.run.simulation.simulate` takes it (``"auto"``, the default, ``"des"``, ``"fast"``)."""
    run = VariantRunner(plan.tasks, plan.seed, plan.replications, plan.prices_date, on_progress, executor, engine)
    variants = [plan.base] + [side for sides in plan.sides for side in sides if side is not None]
    simulated = dict(zip(map(id, variants), run.many(variants)))

    def costs_of(variant: Workflow) -> np.ndarray:
        return simulated[id(variant)].alternative(plan.alternative).tasks.cost_usd

    base_costs = costs_of(plan.base)
    base_mean, base_p95 = float(np.mean(base_costs)), _p95(base_costs)
    entries = []
    for item, (low_wf, high_wf) in zip(plan.inputs, plan.sides):
        low = base_costs if low_wf is None else costs_of(low_wf)
        high = base_costs if high_wf is None else costs_of(high_wf)
        means = [float(np.mean(low)), float(np.mean(high))]
        p95s = [_p95(low), _p95(high)]
        swing = means[1] - means[0]
        ci = mean_ci95(high - low)[1] if len(high) == len(low) else None
        moved = _relative_move(item)
        entries.append({
            "path": item.path, "value": item.value, "low": item.low, "high": item.high,
            "mean_cost_usd": means, "p95_cost_usd": p95s,
            "mean_swing_usd": swing,
            "p95_swing_usd": None if None in p95s else p95s[1] - p95s[0],
            "mean_swing_ci95": ci,
            "elasticity": (swing / base_mean) / moved if moved and base_mean > 0 else None,
            "notes": item.notes,
        })
    entries.sort(key=lambda e: -abs(e["mean_swing_usd"]))  # stable: file order among equals
    for rank, e in enumerate(entries, 1):
        e["rank_mean"] = rank
    for rank, e in enumerate(sorted(entries, key=lambda e: -abs(e["p95_swing_usd"] or 0.0)), 1):
        e["rank_p95"] = rank
    return {
        "workflow": plan.workflow.name,
        "alternative": plan.alternative,
        "seed": plan.seed,
        "tasks": None if plan.replications is not None else plan.tasks,
        "replications": plan.replications,
        "delta": plan.delta,
        "base": {"mean_cost_usd": base_mean, "p95_cost_usd": base_p95},
        "inputs": entries,
        "skipped": plan.skipped,
        "metadata": run.metadata,
    }


def _relative_move(item: Input) -> float | None:
    """(high − low) / value: how far the input moved, relative to its value."""
    if isinstance(item.value, list):
        return (item.high[0] - item.low[0]) / item.value[0] if item.value[0] else None
    return (item.high - item.low) / item.value if item.value else None


def sensitivity(
    workflow: Workflow,
    delta: float = DEFAULT_DELTA,
    tasks: int = DEFAULT_TASKS,
    seed: int = 0,
    *,
    alternative: str = BASELINE,
    replications: int | None = None,
    prices_date: dt.date | None = None,
    on_progress: Callable[[int], None] | None = None,
    executor=None,
    engine="auto",
) -> dict:
    """:func:`plan_sensitivity` then :func:`run_sensitivity`: the whole analysis in one call."""
    plan = plan_sensitivity(workflow, delta, tasks, seed, alternative=alternative, replications=replications,
                            prices_date=prices_date)
    return run_sensitivity(plan, on_progress, executor=executor, engine=engine)
