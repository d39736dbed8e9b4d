"""How much work a run asks for, estimated before it starts, and the limits it must stay under.

A small file can ask for more work than any machine does: ``--tasks 1e20``, a loop of mean 10^6 inside a
loop, ``tasks_per_day: 1e9``. :func:`check_workload` estimates the run from the workflow before anything
is simulated (expected calls = alternatives x tasks x the expected calls of one task, from the means of
the loop counts and the branch shares) and refuses, naming what drives it, a run above :data:`MAX_CALLS`
or a traffic horizon above :data:`MAX_HORIZON_TASKS` tasks (each kept in memory).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.core.errors import CostsimError, Parameter, ParameterError
from sim.spec.permodel import members
from sim.spec.workflow import BranchStep, ConversationStep, LoopStep, Step, Workflow

#: The most model, tool and user calls (first attempts; retries come on top) a run may ask for, over all
#: its alternatives. The vectorised engine does about a million a second on one core (support-agent,
#: 200,000 tasks x 3 alternatives x 5 calls in 4.8 s: ``costsim run workflows/support-agent.yaml -n 200000
#: -j 1 --tasks-file none``, measured 2026-12), so this is about a quarter of an hour a core.
MAX_CALLS = 10**9
#: The most tasks one traffic horizon may hold (tasks_per_day x days): a horizon's tasks are all kept in
#: memory, 30 numbers of 8 bytes each, so this is about 1.2 GB.
MAX_HORIZON_TASKS = 5_000_000


@dataclass(frozen=True)
class Workload:
    """A run's estimated size: ``calls`` in all, ``tasks`` per alternative (over every replication),
    ``calls_per_task`` expected, and ``driver``, the loop whose mean count multiplies it most (its path in
    the file, or None), with that mean, ``driver_mean``."""

    calls: float
    tasks: float
    calls_per_task: float
    driver: str | None
    driver_mean: float = 1.0


def _exact_count_mean(count) -> float:
    return count.expected_value(integer=True)


def expected_calls(steps: list[Step], path: str = "steps",
                   count_mean: Callable = _exact_count_mean) -> tuple[float, str | None, float]:
    """Expected calls of one run through ``steps``, the loop with the largest mean count on the way (its
    path) and that mean. ``count_mean``: a loop count's mean (default: exact, as drawn)."""
    calls, driver, largest = 0.0, None, 1.0
    for step in steps:
        if isinstance(step, LoopStep):
            mean = max(count_mean(count) for count in members(step.repeat))
            inner, inner_driver, inner_largest = expected_calls(step.steps, f"{path}.{step.id}.steps", count_mean)
            calls += mean * inner
            if mean > largest:
                driver, largest = f"{path}.{step.id}.repeat", mean
            if inner_largest > largest:
                driver, largest = inner_driver, inner_largest
        elif isinstance(step, BranchStep):
            for name, arm in step.branch.items():
                inner, inner_driver, inner_largest = expected_calls(arm.steps, f"{path}.{step.id}.branch.{name}.steps",
                                                                    count_mean)
                calls += arm.p * inner
                if inner_largest > largest:
                    driver, largest = inner_driver, inner_largest
        elif isinstance(step, ConversationStep):  # the shapes' mean number of events, by their weights
            events = [len(text.split()) for text in step.conversation]
            weights = step.weights or [1.0] * len(events)
            calls += sum(e * w for e, w in zip(events, weights)) / sum(weights)
        else:
            calls += 1.0
    return calls, driver, largest


def estimate(workflow: Workflow, tasks: int, replications: int,
             count_mean: Callable = _exact_count_mean) -> Workload:
    """The size of a run of ``tasks`` tasks (without traffic) or ``replications`` horizons (with it);
    ``count_mean`` as :func:`expected_calls` takes it."""
    per_task, driver, driver_mean = expected_calls(workflow.steps, count_mean=count_mean)
    if workflow.traffic is not None:
        tasks = workflow.traffic.tasks_per_day * workflow.traffic.days * replications
    alternatives = len(workflow.alternatives) + 1
    return Workload(alternatives * tasks * per_task, float(tasks), per_task, driver, driver_mean)


def rough_calls(workflow: Workflow, tasks: int, replications: int) -> float:
    """:func:`estimate`'s calls with every loop count at its family's mean before clamp and rounding
    (``rough_mean``): within a few per cent for the usual counts, and free of SciPy (the exact means of
    integer counts need its CDFs, a third of a second to load). ``costsim run`` decides with it whether to
    start its worker pool's fork server (:func:`sim.run.executor.warm_for`) before it checks the workload
    exactly, so the server's imports overlap that check's."""
    return estimate(workflow, tasks, replications, count_mean=lambda count: count.rough_mean()).calls


def check_workload(workflow: Workflow, tasks: int, replications: int) -> Workload:
    """Refuse a run whose estimate is above :data:`MAX_CALLS` calls or whose traffic horizon holds more
    than :data:`MAX_HORIZON_TASKS` tasks, naming what drives it and how to proceed; returns the estimate."""
    if workflow.traffic is not None:
        horizon = workflow.traffic.tasks_per_day * workflow.traffic.days
        if horizon > MAX_HORIZON_TASKS:
            raise CostsimError(f"traffic: a horizon of {horizon:,.0f} tasks (tasks_per_day x days), more than "
                               f"{MAX_HORIZON_TASKS:,}, the most one simulated horizon may hold in memory; "
                               "lower traffic.tasks_per_day or traffic.days (the bill of a longer period is "
                               "the daily bill times its days)")
    work = estimate(workflow, tasks, replications)
    if work.calls <= MAX_CALLS:
        return work
    alternatives = len(workflow.alternatives) + 1
    what = (f"about {work.calls:.3g} calls ({alternatives} alternative{'s' * (alternatives > 1)} x "
            f"{work.tasks:,.0f} tasks x {work.calls_per_task:.3g} calls a task), more than {MAX_CALLS:.0e}, the "
            "most one run may ask for (about a quarter of an hour a core)")
    driver = (f"; the loop count that multiplies it most is {work.driver} (mean {work.driver_mean:.3g})"
              if work.driver else "")
    if workflow.traffic is not None:
        raise ParameterError(Parameter("replications", replications), f": {what}{driver}; simulate fewer "
                             "replications, or lower traffic.tasks_per_day or traffic.days")
    raise ParameterError(Parameter("tasks", tasks), f": {what}{driver}; simulate fewer tasks (a few thousand "
                         f"give a mean within a few per cent){', or lower that count' if driver else ''}")
