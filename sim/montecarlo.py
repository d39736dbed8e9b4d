"""Monte Carlo over alternatives: every alternative runs on the same simulated tasks, block by block.

This module only orchestrates. It compiles one plan per alternative, cuts the work into blocks, gives
each block one :class:`~sim.randomness.BlockDraws` shared by all alternatives (so each draw is computed
once and every alternative sees the same task), asks the engine to run each plan on the block, and joins
the blocks in order. Because draws depend only on (seed, task, source, occurrence), the result is the
same whatever the block size.

Two kinds of run:

* **N tasks** (no ``traffic``): tasks 0 .. N-1, independent of each other, in blocks of
  ``block_tasks``.
* **Replications of a horizon** (``traffic``): each replication is one block: the tasks that arrive over
  ``traffic.days`` (a Poisson number of them), simulated together because they share caches, rate limits
  and servers. The bill of a replication is the sum of its tasks' costs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version

import numpy as np

from sim.engine import DesEngine
from sim.plan import Plan, catalog_for, compile_plan
from sim.randomness import BlockDraws
from sim.records import TaskColumns
from sim.spec import Workflow
from sim.traffic import arrival_times_s, task_ids

DEFAULT_TASKS = 10_000
DEFAULT_REPLICATIONS = 20
DEFAULT_BLOCK_TASKS = 1_000


@dataclass
class AlternativeRun:
    """One alternative's models and its per-task results."""

    name: str
    models: dict[str, str]
    tasks: TaskColumns
    batched_steps: tuple[str, ...] = ()
    retry_policy: str | None = None  # the named retry policy it runs; None: the workflow's retry
    route_labels: tuple[str, ...] = ()  # the options of the split or router it uses on one role

    def bills_usd(self, replications: int) -> np.ndarray:
        """Total cost of each replication of the horizon (tasks' costs plus any cost no task carried)."""
        by_tasks = np.bincount(self.tasks.replication, weights=self.tasks.cost_usd, minlength=replications)
        return by_tasks + np.asarray(self.tasks.overhead_usd, dtype=np.float64)

    @property
    def total_cost_usd(self) -> float:
        return float(np.sum(self.tasks.cost_usd)) + float(np.sum(self.tasks.overhead_usd))


@dataclass
class SimulationResult:
    """Everything a run produced; :mod:`sim.stats` summarises it, :mod:`sim.results` writes it."""

    workflow: Workflow
    seed: int
    n_tasks: int
    alternatives: list[AlternativeRun]
    metadata: dict = field(default_factory=dict)
    replications: int | None = None  # set when the workflow has traffic
    trace: list | None = None

    @property
    def baseline(self) -> AlternativeRun:
        return self.alternatives[0]

    def alternative(self, name: str) -> AlternativeRun:
        """The alternative called ``name`` (``baseline`` is the file's ``models:``)."""
        for run in self.alternatives:
            if run.name == name:
                return run
        raise KeyError(f"no alternative {name!r}; the run has {', '.join(r.name for r in self.alternatives)}")

    def summary(self, budget_usd: float | None = None) -> dict:
        """The same summary ``costsim run --format json`` prints (the JSON contract of DESIGN.md)."""
        from sim.stats import summarize  # stats builds on this module, not the other way round

        return summarize(self, budget_usd)

    def samples(self, alternative: str = "baseline") -> dict[str, np.ndarray]:
        """One alternative's per-task results as NumPy arrays, by field (cost_usd, success, ...)."""
        return self.alternative(alternative).tasks.as_dict()

    def to_pandas(self):
        """Every task of every alternative as a pandas DataFrame (needs pandas): one row per task and
        alternative, columns ``alternative``, ``task`` and the fields of :data:`sim.records.TASK_FIELDS`."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        frames = [pd.DataFrame({"alternative": run.name, "task": np.arange(len(run.tasks)), **run.tasks.as_dict()})
                  for run in self.alternatives]
        return pd.concat(frames, ignore_index=True)


def simulate(
    workflow: Workflow,
    tasks: int = DEFAULT_TASKS,
    seed: int = 0,
    *,
    replications: int | None = None,
    engine=None,
    block_tasks: int = DEFAULT_BLOCK_TASKS,
    prices_date: dt.date | None = None,
    on_block: Callable[[int], None] | None = None,
    trace: bool = False,
) -> SimulationResult:
    """Run every alternative of ``workflow`` with ``seed``.

    Without traffic: on tasks ``0 .. tasks-1``. With traffic: on ``replications`` simulated horizons
    (default :data:`DEFAULT_REPLICATIONS`), ignoring ``tasks``. ``engine`` runs one plan on one block
    (default: the SimPy engine); ``on_block`` is called with the work done so far (tasks, or
    replications) after each block, for progress bars; ``trace`` keeps one row per attempt.
    """
    engine = engine or DesEngine()
    prices_date = prices_date or dt.datetime.now(dt.UTC).date()
    catalog = catalog_for(workflow, prices_date)
    plans: list[Plan] = [
        compile_plan(workflow, name, models, catalog, workflow.retry_policy(name))
        for name, models in workflow.alternative_models().items()
    ]
    parts: list[list[TaskColumns]] = [[] for _ in plans]
    trace_rows: list | None = [] if trace else None
    if workflow.traffic is None:
        if tasks < 1:
            raise ValueError("tasks must be at least 1")
        for first in range(0, tasks, block_tasks):
            draws = BlockDraws.for_range(seed, first, min(block_tasks, tasks - first))
            for index, plan in enumerate(plans):
                parts[index].append(engine.run_block(plan, draws, trace=trace_rows))
            if on_block is not None:
                on_block(first + draws.n_tasks)
        n_replications = None
    else:
        n_replications = replications or DEFAULT_REPLICATIONS
        if n_replications < 1:
            raise ValueError("replications must be at least 1")
        for replication in range(n_replications):
            arrivals = arrival_times_s(workflow.traffic, seed, replication)
            draws = BlockDraws(seed, task_ids(replication, len(arrivals)))
            for index, plan in enumerate(plans):
                parts[index].append(engine.run_block(plan, draws, arrivals.tolist(), replication, trace_rows))
            if on_block is not None:
                on_block(replication + 1)
    alternatives = [
        AlternativeRun(plan.alternative, plan.models, TaskColumns.concatenate(blocks), plan.batched_steps,
                       workflow.retry_policy_name(plan.alternative), plan.route_labels)
        for plan, blocks in zip(plans, parts)
    ]
    metadata = {
        "costsim_version": version("costsim"),
        "catalog": catalog.catalog_version,
        "prices_date": prices_date.isoformat(),
        "engine": engine.name,
    }
    n_tasks = len(alternatives[0].tasks)
    return SimulationResult(workflow, seed, n_tasks, alternatives, metadata, n_replications, trace_rows)
