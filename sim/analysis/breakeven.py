"""Self-hosting break-even: at what daily volume does a rented GPU beat paying per token?

A self-hosted model costs its GPU rent for the whole month, busy or idle; an API model costs per token.
So the API bill grows with volume and the GPU bill is flat (until the server runs out of capacity), and
the two lines cross once. :func:`breakeven` finds that crossing by simulation rather than by formula, so
that everything the workflow says (retries, history growth, roles kept on an API model, queueing on the
GPU) is in the bills:

* for each daily volume of a grid (log-spaced), the workflow runs at ``traffic.tasks_per_day`` = that
  volume, with one extra alternative, ``self-hosted``: the baseline's models with the self-hosted model
  ``self:NAME`` in every role (or only in ``roles``), next to the file's alternatives that use no
  self-hosted model (the API alternatives);
* each alternative's bill for a 30-day month is the mean simulated bill of a horizon of ``days`` days,
  times 30 / ``days``. Simulating one day and scaling is exact in expectation: arrivals are a stationary
  Poisson process (the daily profile repeats), the API bill is a sum over tasks, and the GPU bill is
  rent x time. It is 30 times faster than simulating the month, which matters at 100,000 tasks a day;
  a month's replications would only narrow the bill's interval, which the break-even hardly needs;
* the break-even daily volume against an API alternative is where the self-hosted bill first drops to
  or below that alternative's, interpolated linearly in log(volume) on log(bill ratio) between the two
  grid points around the crossing. Below capacity the API bill is proportional to volume and the GPU
  bill constant, so the interpolation is exact up to simulation noise. Tokens per month at the
  break-even (input + output, reasoning included, as billed by the API alternative) are interpolated the
  same way.

Capacity: the server has ``max_concurrency`` slots; a task holds one for its service time (input /
prefill speed + output / decode speed, retries included), so its utilisation at ``v`` tasks a day is
``v x E[GPU seconds per task] / (86,400 x slots)`` and it is saturated at ``capacity = 86,400 x slots /
E[GPU seconds per task]`` tasks a day. Beyond that the queue grows without bound: the simulated tasks
finish after the horizon, the GPU is rented (and billed) until the last one is done, and latency
explodes. The report gives that capacity, and the largest grid volume whose self-hosted p95 latency
stays within ``latency_factor`` (default 10) times its value at the smallest volume; a break-even beyond
capacity is marked ``within_capacity: false`` (one server cannot carry that volume; more GPUs would add
rent in steps).

The report (``costsim breakeven --format json``; lists run over ``volumes``, ascending)::

    {"workflow", "model": "self:NAME", "roles": [...], "self_hosted": "self-hosted", "seed", "replications",
     "days_simulated", "month_days": 30, "gpu_usd_30d",
     "volumes": [tasks/day, ...], "grid": [true if asked for, false if added to refine a crossing, ...],
     "alternatives": {name: {"models": {role: ref}, "bill_usd_30d": [...], "bill_usd_30d_ci95": [[lo, hi], ...],
                             "tokens_per_month": [...], "tasks_per_month": [...], "latency_p95_s": [...],
                             "utilisation": [...] (the self-hosted one only)}},
     "breakeven": {api_alternative: {"tasks_per_day": x or null, "tokens_per_month": y or null,
                                     "status": "crosses" | "never_cheaper_on_grid" | "cheaper_on_whole_grid",
                                     "within_capacity": true | false | null}},
     "capacity": {"slots", "tasks_per_day", "tokens_per_month", "gpu_s_per_task", "latency_factor",
                  "latency_p95_low_load_s", "latency_ok_up_to_tasks_per_day"},
     "volumes_without_tasks": [tasks/day, ...],
     "metadata": {...}}

No arrivals: at a volume so low that no task arrived in any simulated horizon, every API bill is $0
(nothing was asked) while the GPU's rent is still due. That $0 is not a month's bill at that volume, so
such a volume is listed in ``volumes_without_tasks`` (the tables show "no tasks" there, and the
break-even passes over it), and a sweep in which no task arrived at any volume is refused: it has
nothing to compare.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np

from sim.core.errors import CostsimError, Parameter, ParameterError
from sim.core.suggest import did_you_mean, suggest
from sim.run.arguments import check_count, check_workflow, prices_date_of
from sim.run.simulation import simulate
from sim.run.workload import MAX_HORIZON_TASKS
from sim.spec.timing import is_self_hosted, self_hosted_name, self_hosted_ref
from sim.spec.workflow import Workflow
from sim.stats.intervals import mean_ci95

MONTH_DAYS = 30.0
DEFAULT_VOLUMES = (100.0, 100_000.0, 12)
DEFAULT_REPLICATIONS = 3
DEFAULT_DAYS = 1.0
#: The most volumes a sweep may have: each is a whole run of every alternative.
MAX_VOLUMES = 100
LATENCY_FACTOR = 10.0
REFINE_STEPS = 5  # bisections of the grid interval around each crossing
REFINED_WIDTH = 0.05  # stop once the interval's ends are within 5% of each other
SELF_HOSTED = "self-hosted"


def parse_volumes(volumes: str | None) -> list[float]:
    """``START:STOP:N`` -> N log-spaced daily volumes from START to STOP (default 100:100000:12)."""
    if volumes is None:
        start, stop, n = DEFAULT_VOLUMES
    else:
        parts = volumes.split(":")
        try:
            if len(parts) != 3:
                raise ValueError
            start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ParameterError(Parameter("volumes"), ": expected START:STOP:N (tasks a day, e.g. 100:100000:12), "
                                 f"got {volumes!r}") from None
        if not (math.isfinite(start) and math.isfinite(stop)) or start <= 0 or stop <= start or n < 2:
            raise ParameterError(Parameter("volumes"), f": need 0 < START < STOP and N >= 2, got {volumes!r}")
        if n > MAX_VOLUMES:
            raise ParameterError(Parameter("volumes"), f": N = {n:,} volumes, more than {MAX_VOLUMES}, the most a "
                                 "sweep may have (each is a whole run); give fewer")
    return [float(v) for v in np.geomspace(start, stop, int(n))]


def _check(workflow: Workflow, model: str, roles: list[str] | None, days: float) -> tuple[str, list[str]]:
    """The self-hosted model's name and the roles it takes; a CostsimError for anything unusable."""
    if workflow.traffic is None:
        raise CostsimError(
            "breakeven needs a traffic: block in the workflow (tasks arriving over time, so the self-hosted "
            "server's rent and queue mean something); add e.g. traffic: {tasks_per_day: 1000, days: 30}")
    declared = [self_hosted_ref(name) for name in workflow.self_hosted]
    listing = ", ".join(declared) if declared else "none: add a self_hosted: block"
    name = self_hosted_name(model)
    if name is None:
        hint = did_you_mean([ref for ref in declared if ref == self_hosted_ref(model)], quote=False)
        raise ParameterError(Parameter("model"), f": {model!r} is not a self-hosted model{hint} (give self:NAME "
                             f"for a model under the workflow's self_hosted:; declared: {listing})")
    if name not in workflow.self_hosted:
        hint = suggest(model, declared, quote=False)
        raise ParameterError(Parameter("model"), f": unknown self-hosted model {model!r}{hint} (declared: {listing})")
    all_roles = list(workflow.models)
    chosen = list(roles) if roles else all_roles
    unknown = [role for role in chosen if role not in all_roles]
    if unknown:
        raise ParameterError(Parameter("roles"), f": unknown role {unknown[0]!r} (roles: {', '.join(all_roles)})")
    if not (math.isfinite(days) and days > 0):
        raise ParameterError(Parameter("days"), f": expected a positive number of days, got {days!r}")
    if workflow.traffic.profile is not None and abs(days - round(days)) > 1e-9:
        raise ParameterError(Parameter("days"), ": the workflow's traffic has a 24-hour profile, so simulate whole "
                             f"days (1, 2, ...), not {days:g}")
    return name, chosen


def _uses_self_hosted(models: dict[str, str]) -> bool:
    return any(is_self_hosted(ref) for ref in models.values())


def _first_crossing(self_bills: list[float], api_bills: list[float]) -> tuple[str, tuple | None]:
    """("crosses", ((i, log ratio before), (j, log ratio at))) for the first grid interval where the
    self-hosted bill drops to or below the API bill; or ("cheaper_on_whole_grid" | "never_cheaper_on_grid",
    None). Points with no bill (no task arrived) are skipped."""
    previous = None  # (index, log(self / api)) of the last point where self-hosting was dearer
    for i, (s, a) in enumerate(zip(self_bills, api_bills)):
        if not (s > 0 and a > 0):
            continue
        ratio = math.log(s / a)
        if ratio <= 0:
            return ("crosses", (previous, (i, ratio))) if previous else ("cheaper_on_whole_grid", None)
        previous = (i, ratio)
    return "never_cheaper_on_grid", None


def _bracket(volumes: list[float], self_bills: list[float], api_bills: list[float]) -> tuple[float, float] | None:
    """The two volumes around the first crossing, or None."""
    _, where = _first_crossing(self_bills, api_bills)
    return None if where is None else (volumes[where[0][0]], volumes[where[1][0]])


def _crossing(volumes: list[float], self_bills: list[float], api_bills: list[float], tokens: list[float]) -> dict:
    """The break-even: linear in log(volume) on log(self bill / API bill) between the bracketing points,
    and the API alternative's tokens per month there, linear in log-log."""
    status, where = _first_crossing(self_bills, api_bills)
    if where is None:
        return {"tasks_per_day": None, "tokens_per_month": None, "status": status}
    (i, before), (j, after) = where
    t = before / (before - after)
    log_v = math.log(volumes[i]) + t * (math.log(volumes[j]) - math.log(volumes[i]))
    log_tokens = math.log(tokens[i]) + t * (math.log(tokens[j]) - math.log(tokens[i]))
    return {"tasks_per_day": math.exp(log_v), "tokens_per_month": math.exp(log_tokens), "status": status}


def breakeven(
    workflow: Workflow,
    model: str,
    volumes: list[float] | None = None,
    roles: list[str] | None = None,
    replications: int = DEFAULT_REPLICATIONS,
    seed: int = 0,
    days: float = DEFAULT_DAYS,
    prices_date: dt.date | None = None,
    latency_factor: float = LATENCY_FACTOR,
    refine: int = REFINE_STEPS,
    on_volume: Callable[[float], None] | None = None,
    executor=None,
    engine="auto",
) -> dict:
    """Sweep daily volume; return the report (a JSON-ready dict, shape in the module docstring and README).

    ``model`` is ``self:NAME``; ``days`` is the simulated horizon per replication (bills are scaled to
    30 days); ``refine`` bisections narrow the grid interval around each crossing (the points they add
    join ``volumes``; ``grid`` says which were asked for); ``on_volume(volume)`` is called before each
    simulated volume, for progress displays. ``executor`` (:mod:`sim.run.executor`) runs each volume's
    replications; ``engine`` as :func:`sim.run.simulation.simulate` takes it (``"auto"``, the default; a
    workflow with traffic, as every break-even is, runs on the SimPy engine).
    """
    check_workflow(workflow, "breakeven")
    check_count("replications", replications)
    prices_date = prices_date_of(prices_date)
    name, chosen = _check(workflow, model, roles, days)
    if replications < 1:
        raise ParameterError(Parameter("replications"), f": expected at least 1, got {replications}")
    volumes = parse_volumes(None) if volumes is None else [float(v) for v in volumes]
    if volumes and max(volumes) * days > MAX_HORIZON_TASKS:
        raise ParameterError(Parameter("volumes"), f": {max(volumes):,.0f} tasks a day for {days:g} days is a "
                             f"horizon of {max(volumes) * days:,.0f} tasks, more than {MAX_HORIZON_TASKS:,}, the most "
                             "one simulated horizon may hold in memory; give a lower STOP or fewer days")
    api = {alt: models for alt, models in workflow.alternative_models().items() if not _uses_self_hosted(models)}
    if not api:
        raise CostsimError("breakeven compares the self-hosted model with the workflow's API alternatives, and "
                           "every alternative of this workflow uses a self-hosted model; add one on an API "
                           "model, e.g. alternatives: {gpt-4.1: {main: openai:gpt-4.1}}")
    self_name = SELF_HOSTED if SELF_HOSTED not in api else f"{SELF_HOSTED} ({model})"
    self_models = {role: (model if role in chosen else ref) for role, ref in workflow.models.items()}
    # The self-hosted variant runs as the baseline, the API alternatives (file order) after it, under
    # internal names (the file's own baseline is called "baseline" too); results come back in this order.
    alternatives = {f"api-{i}": models for i, models in enumerate(api.values())}
    base = workflow.model_copy(update={"models": self_models, "alternatives": alternatives})
    hosted = workflow.self_hosted[name]
    scale = MONTH_DAYS / days
    horizon_s = days * 86400.0

    names = [self_name, *api]

    def measure(volume: float) -> dict[str, dict]:
        """Simulate ``volume`` tasks a day; each alternative's month, scaled from the simulated days."""
        if on_volume is not None:
            on_volume(volume)
        traffic = workflow.traffic.model_copy(update={"tasks_per_day": volume, "days": days})
        result = simulate(base.model_copy(update={"traffic": traffic}), seed=seed, replications=replications,
                          prices_date=prices_date, executor=executor, engine=engine,
                          exact_tasks_limit=None)  # it reads every task's tokens and latency
        metadata.update(result.metadata)
        values = {}
        for alt, run in zip(names, result.alternatives):
            t = run.tasks
            mean, ci95 = mean_ci95(run.bills_usd(replications) * scale)
            tokens = float(np.sum(t.input_tokens) + np.sum(t.output_tokens) + np.sum(t.reasoning_tokens))
            values[alt] = {
                "bill_usd_30d": mean, "bill_usd_30d_ci95": ci95,
                "tokens_per_month": tokens / replications * scale,
                "tasks_per_month": len(t) / replications * scale,
                "latency_p95_s": float(np.quantile(t.latency_s, 0.95)) if len(t) >= 20 else None,
                "gpu_s": float(np.sum(t.gpu_s)), "tasks": len(t),
            }
        busy_s = values[self_name]["gpu_s"]
        values[self_name]["utilisation"] = busy_s / (replications * horizon_s * hosted.max_concurrency)
        return values

    metadata: dict = {}
    points = {volume: measure(volume) for volume in volumes}
    grid = list(volumes)
    if points and all(point[self_name]["tasks"] == 0 for point in points.values()):
        raise ParameterError(
            Parameter("volumes"), f": no task arrived at any volume simulated ({min(volumes):g} to {max(volumes):g} "
            f"tasks a day, {replications} horizon{'s' * (replications != 1)} of {days:g} day{'s' * (days != 1)} "
            "each), so every API bill would read $0 a month; give volumes of at least a few tasks a horizon, or "
            "more ", Parameter("days"))

    def column(alt: str, key: str) -> list:
        return [points[volume][alt][key] for volume in sorted(points)]

    # Refine each crossing: bisect (in log volume) the grid interval where the bills cross, so that a kink
    # inside it (the server saturating) cannot bend the interpolation.
    for alt in api:
        for _ in range(refine):
            ordered = sorted(points)
            bracket = _bracket(ordered, column(self_name, "bill_usd_30d"), column(alt, "bill_usd_30d"))
            if bracket is None or bracket[1] / bracket[0] <= 1 + REFINED_WIDTH:
                break
            middle = math.sqrt(bracket[0] * bracket[1])
            points[middle] = measure(middle)

    volumes = sorted(points)
    keys = ("bill_usd_30d", "bill_usd_30d_ci95", "tokens_per_month", "tasks_per_month", "latency_p95_s")
    series = {alt: {key: column(alt, key) for key in keys} for alt in names}
    series[self_name]["utilisation"] = column(self_name, "utilisation")
    breakevens = {alt: _crossing(volumes, series[self_name]["bill_usd_30d"], series[alt]["bill_usd_30d"],
                                 series[alt]["tokens_per_month"]) for alt in api}
    self_series = series[self_name]
    gpu_s_total = sum(column(self_name, "gpu_s"))
    self_tasks_total = sum(column(self_name, "tasks"))

    capacity: dict = {"slots": hosted.max_concurrency, "tasks_per_day": None, "tokens_per_month": None}
    if gpu_s_total > 0:
        per_task_s = gpu_s_total / self_tasks_total
        capacity["gpu_s_per_task"] = per_task_s
        capacity["tasks_per_day"] = 86400.0 * hosted.max_concurrency / per_task_s
        tokens_per_task = _per_task(self_series["tokens_per_month"], self_series["tasks_per_month"])
        if tokens_per_task is not None:
            capacity["tokens_per_month"] = capacity["tasks_per_day"] * MONTH_DAYS * tokens_per_task
    latencies = self_series["latency_p95_s"]
    low = next((value for value in latencies if value is not None), None)
    ok_up_to = None
    if low is not None:
        for volume, value in zip(volumes, latencies):
            if value is None:
                continue
            if value > latency_factor * low:
                break
            ok_up_to = volume
    capacity.update({"latency_factor": latency_factor, "latency_p95_low_load_s": low,
                     "latency_ok_up_to_tasks_per_day": ok_up_to})
    for found in breakevens.values():
        found["within_capacity"] = (None if found["tasks_per_day"] is None or capacity["tasks_per_day"] is None
                                    else found["tasks_per_day"] <= capacity["tasks_per_day"])

    return {
        "workflow": workflow.name,
        "model": model,
        "roles": chosen,
        "self_hosted": self_name,
        "seed": seed,
        "replications": replications,
        "days_simulated": days,
        "month_days": MONTH_DAYS,
        "gpu_usd_30d": hosted.gpu_hour_usd * hosted.gpus * 24 * MONTH_DAYS,
        "volumes": volumes,
        "grid": [volume in grid for volume in volumes],
        "alternatives": {alt: {"models": dict(self_models if alt == self_name else api[alt]), **series[alt]}
                         for alt in names},
        "breakeven": breakevens,
        "capacity": capacity,
        "volumes_without_tasks": [volume for volume in volumes if points[volume][self_name]["tasks"] == 0],
        "metadata": metadata,
    }


def _per_task(tokens: list[float], tasks: list[float]) -> float | None:
    total_tasks = sum(tasks)
    return sum(tokens) / total_tasks if total_tasks else None
