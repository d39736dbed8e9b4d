"""Monte Carlo over alternatives: every alternative runs on the same simulated tasks, block by block.

This module only orchestrates. It compiles one plan per alternative, cuts the task range into blocks,
gives each block one :class:`~sim.randomness.BlockDraws` shared by all alternatives (so each draw is
computed once and every alternative sees the same task), asks the engine to run each plan on the block,
and joins the blocks in task order. Because draws depend only on (seed, task, source, occurrence), the
result is the same whatever the block size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version

from sim.engine import DesEngine
from sim.plan import Plan, catalog_for, compile_plan
from sim.randomness import BlockDraws
from sim.records import TaskColumns
from sim.spec import Workflow

DEFAULT_TASKS = 10_000
DEFAULT_BLOCK_TASKS = 1_000


@dataclass
class AlternativeRun:
    """One alternative's models and its per-task results."""

    name: str
    models: dict[str, str]
    tasks: TaskColumns


@dataclass
class SimulationResult:
    """Everything a run produced; :mod:`sim.stats` summarises it, :mod:`sim.results` writes it."""

    workflow: Workflow
    seed: int
    n_tasks: int
    alternatives: list[AlternativeRun]
    metadata: dict = field(default_factory=dict)

    @property
    def baseline(self) -> AlternativeRun:
        return self.alternatives[0]


def simulate(
    workflow: Workflow,
    tasks: int = DEFAULT_TASKS,
    seed: int = 0,
    *,
    engine=None,
    block_tasks: int = DEFAULT_BLOCK_TASKS,
    prices_date: dt.date | None = None,
    on_block: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run every alternative of ``workflow`` on tasks ``0 .. tasks-1`` with ``seed``.

    ``engine`` runs one plan on one block (default: the SimPy engine); ``on_block`` is called with the
    number of tasks finished after each block, for progress bars.
    """
    if tasks < 1:
        raise ValueError("tasks must be at least 1")
    engine = engine or DesEngine()
    prices_date = prices_date or dt.datetime.now(dt.UTC).date()
    catalog = catalog_for(workflow, prices_date)
    plans: list[Plan] = [
        compile_plan(workflow, name, models, catalog) for name, models in workflow.alternative_models().items()
    ]
    parts: list[list[TaskColumns]] = [[] for _ in plans]
    for first in range(0, tasks, block_tasks):
        draws = BlockDraws(seed, first, min(block_tasks, tasks - first))
        for index, plan in enumerate(plans):
            parts[index].append(engine.run_block(plan, draws))
        if on_block is not None:
            on_block(first + draws.n_tasks)
    alternatives = [
        AlternativeRun(plan.alternative, plan.models, TaskColumns.concatenate(blocks))
        for plan, blocks in zip(plans, parts)
    ]
    metadata = {
        "costsim_version": version("costsim"),
        "catalog": catalog.catalog_version,
        "prices_date": prices_date.isoformat(),
        "engine": engine.name,
    }
    return SimulationResult(workflow, seed, tasks, alternatives, metadata)
