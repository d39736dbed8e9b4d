"""One chunk of a run: what a worker process (or a Dask worker, or this process) does with it.

A run is cut into chunks of consecutive tasks (or, with ``traffic``, of consecutive replications of the
horizon); :func:`run_chunk` runs every alternative's plan on one chunk, block by block, exactly as a
serial run would, and sends back either the per-task columns or, for runs too large to keep them, the
chunk's mergeable statistics (:class:`~sim.stats.taskstats.ChunkStats`), reduced where the work was done.
A reduced chunk of traffic replications also sends each replication's bill per alternative (the bill's
statistics need every replication's total, which no sum of tasks gives back) and, for the first
replications only, its tasks' costs for the plot.

What a chunk carries is small: the run's :class:`RunSpec` (compiled plans, engine, seed, block size:
about 10 kB) as pickled bytes with their digest, and the range of tasks. A worker unpickles a RunSpec
the first time it sees its digest and keeps it (:data:`_SPECS`), so later chunks of the same run cost
it nothing but the range. Draws depend only on (seed, task, source, occurrence), so a chunk computes
the same tasks wherever and whenever it runs.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.core.randomness import BlockDraws
from sim.core.records import TaskColumns
from sim.engine.traffic import arrival_times_s, task_ids
from sim.run.shared import SharedRef, attach
from sim.run.shared import columns as shared_columns
from sim.stats.taskstats import ChunkStats, replication_bills_usd


@dataclass(frozen=True)
class RunSpec:
    """What every chunk of one run shares."""

    plans: tuple  # one compiled :class:`~sim.engine.plan.Plan` per alternative, baseline first
    engine: object  # has ``run_block(plan, draws, arrivals_s, replication, trace)``; may have
    #                 ``run_block_into(plan, draws, out)`` (no traffic, no trace: fills ``out`` in place)
    seed: int
    block_tasks: int
    traffic: object | None  # the workflow's traffic spec: chunks are replications of the horizon
    trace: bool


@dataclass(frozen=True)
class Chunk:
    """Tasks (or replications) ``first .. first + count - 1`` of the run whose spec is ``spec_blob``."""

    spec_blob: bytes
    spec_key: str
    first: int
    count: int
    reduce: bool = False  # send back ChunkStats instead of columns
    sample_tasks: int = 0  # when reducing: also send the costs of the tasks below this index
    #                        (with traffic: of the first this many tasks of each sampled replication)
    sample_replications: int = 0  # when reducing traffic: replications below this index send a sample
    shared: SharedRef | None = None  # the run's columns in shared memory: write the chunk's rows there


@dataclass
class ChunkResult:
    """What a chunk sends back: columns per alternative, or statistics (and a sample of costs)."""

    first: int
    count: int
    columns: list[TaskColumns] | None
    stats: ChunkStats | None
    sample_cost_usd: list[np.ndarray] | None
    trace: list | None
    bills_usd: list[np.ndarray] | None = None  # reduced traffic: each replication's bill, per alternative
    placed: list[tuple[list[float], dict[str, int]]] | None = None  # rows written into the shared columns:
    #                                    what else each alternative's columns would carry (overheads, model calls)


def pack(spec: RunSpec) -> tuple[bytes, str]:
    """The spec as pickled bytes and their digest, once per run."""
    blob = pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)
    return blob, hashlib.blake2b(blob, digest_size=16).hexdigest()


#: RunSpecs this process has unpickled, by digest (the last few runs only).
_SPECS: OrderedDict[str, RunSpec] = OrderedDict()
_SPECS_KEPT = 8


def _spec(chunk: Chunk) -> RunSpec:
    spec = _SPECS.get(chunk.spec_key)
    if spec is None:
        spec = _SPECS[chunk.spec_key] = pickle.loads(chunk.spec_blob)
        while len(_SPECS) > _SPECS_KEPT:
            _SPECS.popitem(last=False)
    else:
        _SPECS.move_to_end(chunk.spec_key)
    return spec


def run_chunk(chunk: Chunk, on_block: Callable[[int], None] | None = None,
              out: list[dict[str, np.ndarray]] | None = None) -> ChunkResult:
    """Run every alternative on the chunk's tasks; the same results as a serial run of those tasks.

    In this process only: ``on_block`` is called with the chunk's work done after each block; ``out``,
    for each alternative, the run's whole columns by field (zeros of the run's length), which an engine
    that can (``run_block_into``) fills in place, block by block, so that nobody copies them after.
    A chunk with ``shared`` columns (:mod:`sim.run.shared`: a worker of a local pool) writes its rows into
    them, in place or by a copy, and sends back no column, only :attr:`ChunkResult.placed`."""
    spec = _spec(chunk)
    if chunk.shared is not None:
        out = shared_columns(attach(chunk.shared))
    done = 0
    parts: list[list[TaskColumns]] = [[] for _ in spec.plans]
    trace: list | None = [] if spec.trace else None
    into = getattr(spec.engine, "run_block_into", None) if out is not None and not spec.trace else None
    if spec.traffic is None:
        blocks = ((BlockDraws.for_range(spec.seed, first, min(spec.block_tasks, chunk.first + chunk.count - first)),
                   None, 0) for first in range(chunk.first, chunk.first + chunk.count, spec.block_tasks))
    else:
        blocks = _replications(spec, chunk)
    for draws, arrivals, replication in blocks:
        for index, plan in enumerate(spec.plans):
            if arrivals is None and into is not None:
                first = int(draws.task_ids[0])
                parts[index].append(into(plan, draws, {name: column[first:first + draws.n_tasks]
                                                       for name, column in out[index].items()}))
            elif arrivals is None:
                parts[index].append(spec.engine.run_block(plan, draws, trace=trace))
            else:
                parts[index].append(spec.engine.run_block(plan, draws, arrivals, replication, trace))
        done += 1 if arrivals is not None else draws.n_tasks
        if on_block is not None:
            on_block(done)
    if chunk.shared is not None:
        return _placed(chunk, parts, out, trace)
    columns = [TaskColumns.concatenate(blocks) for blocks in parts]
    if not chunk.reduce:
        return ChunkResult(chunk.first, chunk.count, columns, None, None, trace)
    if spec.traffic is not None:
        return _reduced_replications(chunk, columns, trace)
    sample = None
    if chunk.first < chunk.sample_tasks:
        keep = min(chunk.count, chunk.sample_tasks - chunk.first)
        sample = [tasks.cost_usd[:keep].copy() for tasks in columns]
    return ChunkResult(chunk.first, chunk.count, None, ChunkStats.of(columns), sample, trace)


def place(whole: dict[str, np.ndarray], first: int, tasks: TaskColumns) -> None:
    """Copy a block's columns (tasks ``first ..``) into the run's, except where they are already (an engine
    wrote them in place) and where they are zeros that take no memory (the run's are zeros already)."""
    for name, column in tasks.columns.items():
        target = whole[name][first:first + len(column)]
        if column.strides == (0,) and not column[:1].any():
            continue
        if column.__array_interface__["data"][0] == target.__array_interface__["data"][0]:
            continue
        target[:] = column


def _placed(chunk: Chunk, parts: list[list[TaskColumns]], out: list[dict[str, np.ndarray]],
            trace: list | None) -> ChunkResult:
    """The result of a chunk whose rows go to the shared columns ``out``: each block's columns are put in
    their place there (a no-op for those an engine wrote in place), and only the overheads and model calls
    travel back."""
    placed = []
    for blocks, whole in zip(parts, out):
        first, overhead, calls = chunk.first, [], {}
        for tasks in blocks:
            place(whole, first, tasks)
            first += len(tasks)
            overhead.extend(tasks.overhead_usd)
            for ref, count in tasks.model_calls.items():
                calls[ref] = calls.get(ref, 0) + count
        placed.append((overhead, calls))
    return ChunkResult(chunk.first, chunk.count, None, None, None, trace, placed=placed)


def _reduced_replications(chunk: Chunk, columns: list[TaskColumns], trace: list | None) -> ChunkResult:
    """A chunk of traffic replications reduced where it ran: the tasks' mergeable statistics (as for a
    chunk of independent tasks), each replication's bill per alternative, and, when the chunk holds
    replications below ``chunk.sample_replications``, the costs of at most ``chunk.sample_tasks`` of their
    first tasks (in task order: replication by replication, as the kept columns would list them)."""
    bills = [replication_bills_usd(tasks, chunk.first, chunk.count) for tasks in columns]
    sample = None
    if chunk.first < chunk.sample_replications:
        last = min(chunk.first + chunk.count, chunk.sample_replications)  # the sampled replications end here
        sample = [tasks.cost_usd[np.asarray(tasks.replication) < last][:chunk.sample_tasks].copy()
                  for tasks in columns]
    return ChunkResult(chunk.first, chunk.count, None, ChunkStats.of(columns), sample, trace, bills)


def _replications(spec: RunSpec, chunk: Chunk):
    """Each replication of the chunk: its draws, arrival times and index."""
    for replication in range(chunk.first, chunk.first + chunk.count):
        arrivals = arrival_times_s(spec.traffic, spec.seed, replication)
        yield BlockDraws(spec.seed, task_ids(replication, len(arrivals))), arrivals.tolist(), replication
