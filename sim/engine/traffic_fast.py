"""The vectorised engine over a horizon of traffic: the couplings between tasks that arrays can resolve.

Under ``traffic`` tasks arrive over the horizon and meet in what they share. Some of what they share
changes when things happen, some only what they cost:

* a **prompt cache** shared by tasks (the system prompt's entry) changes what a call costs, never when it
  happens; whether a call finds it warm is a question of the gap since the previous call on that model,
  found by sorting the calls' times (:mod:`sim.engine.shared_cache`);
* a **concurrency limit** delays a task's start; when each task starts is a recursion over the sorted
  arrivals that only bursts make sequential (:mod:`sim.engine.concurrency`). Once it has started, a
  task's steps take the same times wherever it starts.

With only those, each task's steps are the plain vectorised engine's (:class:`sim.engine.fast.Block`)
run from the task's start instead of 0. A replication is then three runs of its tasks at most: one from
their arrivals to find when calls happen (and, with a concurrency limit, when tasks end: then the few
tasks that queued run again from their starts until no start moves), and one to price the calls against
the shared cache. Each task's draws, clock and sums are the SimPy engine's, in the same order, so the
results are the same to the bit.

Rate limits per minute, outages (errors by the clock), self-hosted servers (queues at a GPU), a task
budget (a cost cap that a shared cache would make depend on other tasks) and traces stay with the SimPy
engine: :func:`unsupported` names them. So does a replication in which two events that the SimPy
engine would order by its queue fall on the same instant (a cache refresh on one model, or a slot freed
as a task arrives): :class:`TrafficEngine` then runs that replication with :class:`~sim.engine.des.DesEngine`.
"""

from __future__ import annotations

import numpy as np

from sim.core.randomness import BlockDraws
from sim.core.records import TaskColumns
from sim.engine import concurrency
from sim.engine.des import DesEngine
from sim.engine.fast import Block, FastEngine
from sim.engine.fast import unsupported as plain_unsupported
from sim.engine.plan import Plan
from sim.engine.shared_cache import SharedCaches


def unsupported(workflow, trace: bool = False) -> str | None:
    """The feature of ``workflow`` that needs the SimPy engine, or None when a vectorised engine runs it
    (the plain one without ``traffic``, :class:`TrafficEngine` with it)."""
    if trace or workflow.traffic is None:
        return plain_unsupported(workflow, trace)
    for present, feature in ((workflow.limits, "rate limits (per-minute recursions over the requests of all tasks)"),
                             (workflow.outages, "outages (errors that depend on the clock)"),
                             (workflow.self_hosted, "self-hosted servers (queues shared by all tasks)"),
                             (workflow.budget, "a task budget with traffic (its cost cap would depend on the "
                                               "shared cache)")):
        if present:
            return f"traffic with {feature}"
    return None


class TrafficEngine(FastEngine):
    """The vectorised engine, for blocks of independent tasks and for replications of a traffic horizon."""

    def run_block(self, plan: Plan, draws: BlockDraws, arrivals_s=None, replication: int = 0,
                  trace: list | None = None) -> TaskColumns:
        if arrivals_s is None or trace is not None:
            return super().run_block(plan, draws, arrivals_s, replication, trace)
        arrivals = np.asarray(arrivals_s, dtype=np.float64)
        columns = run_horizon(plan, draws, arrivals, replication)
        if columns is None:  # simultaneous events: the SimPy engine's order decides
            return DesEngine().run_block(plan, draws, list(arrivals_s), replication)
        return columns


def _block(plan: Plan, draws: BlockDraws, starts_s: np.ndarray, frozen: dict | None) -> Block:
    """A block of tasks started at ``starts_s`` (with the shared system-prompt cache, when there is a
    cache: recording refreshes when ``frozen`` is None, else answering from those sorted times)."""
    block = Block(plan, draws)
    block.clock[:] = starts_s
    if block.cache is not None:
        block.caches = SharedCaches(block.cache, block.caches.system, block.caches.head, block.clock, frozen)
    block.run()
    return block


def _refreshes(block: Block, positions: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The system-prompt refreshes a recording block made: model -> (positions in the horizon, times)."""
    if block.cache is None:
        return {}
    found = {}
    for ref, store in block.caches.stores.items():
        at, times_s = store.recorded()
        found[ref] = (positions[at], times_s)
    return found


def run_horizon(plan: Plan, draws: BlockDraws, arrivals_s: np.ndarray, replication: int) -> TaskColumns | None:
    """One replication's tasks (arriving at ``arrivals_s``, sorted), or None when two events coincide."""
    n = len(arrivals_s)
    every = np.arange(n)
    shared_cache = plan.world.cache is not None
    slots = plan.world.concurrency
    if slots is None or n <= slots:
        starts_s = arrivals_s
        if not shared_cache:
            final = _block(plan, draws, starts_s, None)
            return _columns(final, arrivals_s, replication)
        refreshes = _refreshes(_block(plan, draws, starts_s, None), every)
    else:
        runs: list[tuple[np.ndarray, dict]] = []  # each run's tasks and their refreshes

        def run(positions: np.ndarray, starts: np.ndarray) -> np.ndarray:
            part = draws if len(positions) == n else BlockDraws(draws.seed, draws.task_ids[positions])
            block = _block(plan, part, starts, None)
            runs.append((positions, _refreshes(block, positions)))
            return block.clock.copy()

        solved = concurrency.solve(arrivals_s, slots, run)
        if solved is None:
            return None
        starts_s = solved[0]
        refreshes = _latest(runs, n) if shared_cache else {}
    frozen = {ref: times_s for ref, (_, times_s) in refreshes.items()}
    final = _block(plan, draws, starts_s, frozen)
    if shared_cache and not final.caches.distinct:
        return None
    return _columns(final, arrivals_s, replication)


def _latest(runs: list, n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each model's refreshes from the last run of each task (a task that moved ran again)."""
    last = np.zeros(n, dtype=np.int64)
    for number, (positions, _) in enumerate(runs):
        last[positions] = number
    merged: dict[str, list] = {}
    for number, (_, found) in enumerate(runs):
        for ref, (positions, times_s) in found.items():
            keep = last[positions] == number
            merged.setdefault(ref, []).append((positions[keep], times_s[keep]))
    return {ref: (np.concatenate([p for p, _ in parts]), np.concatenate([t for _, t in parts]))
            for ref, parts in merged.items()}


def _columns(block: Block, arrivals_s: np.ndarray, replication: int) -> TaskColumns:
    """The block's record as the SimPy engine keeps it over a horizon: latency from arrival (a wait for
    a slot included), arrival time and replication."""
    columns = block.columns()
    columns.columns["latency_s"] = block.clock - arrivals_s
    columns.columns["arrival_s"] = arrivals_s.copy()
    columns.columns["replication"] = np.full(len(arrivals_s), replication, dtype=np.int64)
    return columns
