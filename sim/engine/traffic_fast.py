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
            from sim.engine.des import DesEngine  # noqa: PLC0415 (SimPy only when it is needed)

            return DesEngine().run_block(plan, draws, list(arrivals_s), replication)
        return columns


class _LoggedBlock(Block):
    """A block that also notes every wait of every task (:class:`~sim.engine.concurrency.WaitLog`)."""

    def __init__(self, plan: Plan, draws: BlockDraws, log: concurrency.WaitLog) -> None:
        super().__init__(plan, draws)
        self.log = log

    def wait(self, idx: np.ndarray, seconds) -> None:
        super().wait(idx, seconds)
        self.log.add(idx, seconds)


def _block(plan: Plan, draws: BlockDraws, starts_s: np.ndarray, frozen: dict | None,
           log: concurrency.WaitLog | None = None) -> Block:
    """A block of tasks started at ``starts_s`` (with the shared system-prompt cache, when there is a
    cache: recording refreshes when ``frozen`` is None, else answering from those sorted times), run."""
    block = Block(plan, draws) if log is None else _LoggedBlock(plan, draws, log)
    block.clock[:] = starts_s
    if block.cache is not None:
        block.caches = SharedCaches(block.cache, block.caches.system, block.caches.head, block.clock, frozen)
    block.run()
    return block


def _refreshes(block: Block, positions: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The times of the system-prompt refreshes a recording block made, per model (of its tasks at
    ``positions`` only, when given: positions in the block)."""
    found = {}
    for ref, store in block.caches.stores.items():
        at, times_s = store.recorded()
        found[ref] = times_s if positions is None else times_s[np.isin(at, positions)]
    return found


def run_horizon(plan: Plan, draws: BlockDraws, arrivals_s: np.ndarray, replication: int) -> TaskColumns | None:
    """One replication's tasks (arriving at ``arrivals_s``, sorted), or None when two events coincide.

    First every task runs from its arrival, noting when each call refreshes the shared cache (and, with a
    concurrency limit, each task's waits); then, with a limit, the recursion finds the starts, and the
    tasks that waited run again from theirs to note their calls' times; last, every task runs from its
    start and each call is priced against the sorted times of the calls on its model."""
    shared_cache = plan.world.cache is not None
    slots = plan.world.concurrency
    queue = slots is not None and len(arrivals_s) > slots
    if not shared_cache and not queue:
        return _columns(_block(plan, draws, arrivals_s, None), arrivals_s, replication)
    log = concurrency.WaitLog() if queue else None
    first = _block(plan, draws, arrivals_s, None, log)
    starts_s = arrivals_s
    refreshes = _refreshes(first) if shared_cache else {}
    if queue:
        solved = concurrency.fifo_starts(arrivals_s, first.clock, slots, log)
        if solved is None:
            return None
        starts_s, ends_s = solved
        waited = np.flatnonzero(starts_s != arrivals_s)
        if not shared_cache:  # nothing to price: the first run's record, from each task's own start
            final = _block(plan, draws, starts_s, None) if waited.size else first
            return _columns(final, arrivals_s, replication)
        if waited.size:  # their calls moved: drop their times from the first run, note them anew
            again = _block(plan, BlockDraws(draws.seed, draws.task_ids[waited]), starts_s[waited], None)
            kept = _refreshes(first, np.setdiff1d(np.arange(len(arrivals_s)), waited))
            moved = _refreshes(again)
            refreshes = {ref: np.concatenate([kept.get(ref, np.zeros(0)), moved.get(ref, np.zeros(0))])
                         for ref in kept.keys() | moved.keys()}
    final = _block(plan, draws, starts_s, refreshes)
    if not final.caches.distinct:
        return None
    return _columns(final, arrivals_s, replication)


def _columns(block: Block, arrivals_s: np.ndarray, replication: int) -> TaskColumns:
    """The block's record as the SimPy engine keeps it over a horizon: latency from arrival (a wait for
    a slot included), arrival time and replication."""
    columns = block.columns()
    columns.columns["latency_s"] = block.clock - arrivals_s
    columns.columns["arrival_s"] = arrivals_s.copy()
    columns.columns["replication"] = np.full(len(arrivals_s), replication, dtype=np.int64)
    return columns
