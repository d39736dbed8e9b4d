"""Monte Carlo over alternatives: every alternative runs on the same simulated tasks, block by block.

This module only orchestrates. It compiles one plan per alternative, cuts the work into blocks, gives
each block one :class:`~sim.core.randomness.BlockDraws` shared by all alternatives (so each draw is computed
once and every alternative sees the same task), asks the engine to run each plan on the block, and joins
the blocks in order. Because draws depend only on (seed, task, source, occurrence), the result is the
same whatever the block size.

Two kinds of run:

* **N tasks** (no ``traffic``): tasks 0 .. N-1, independent of each other, in blocks of
  ``block_tasks`` (default: the engine's own, 1,000 for the SimPy engine, 100,000 for the vectorised one).
* **Replications of a horizon** (``traffic``): each replication is one block: the tasks that arrive over
  ``traffic.days`` (a Poisson number of them), simulated together because they share caches, rate limits
  and servers. The bill of a replication is the sum of its tasks' costs.

Where the work runs: the blocks are grouped into chunks (:data:`DEFAULT_CHUNK_TASKS` tasks, or the
engine's own ``chunk_tasks`` when the caller gives none and no precision rule is checked; or one
replication), and an executor (:mod:`sim.run.executor`: this process, a pool of processes, a Dask cluster)
runs the chunks (:func:`sim.run.chunks.run_chunk`) and hands their results back in chunk order, so the
result is the same bytes for any number of workers and any chunk size. A local pool's workers write the
columns of a run that keeps them straight into shared memory (:mod:`sim.run.shared`), where the result's
arrays then live (:attr:`SimulationResult.shared`).

How much is kept: up to ``exact_tasks_limit`` tasks (:data:`EXACT_TASKS_LIMIT`), every task's record,
as before. Above it each chunk is reduced where it ran to mergeable statistics (:mod:`sim.stats.taskstats`:
exact sums, failure counts, quantile sketches, paired sums), so 10 million tasks fit in a few hundred
megabytes; the result then has no per-task columns (``tasks`` is None), only those statistics and the
costs of the first :data:`SAMPLE_TASKS` tasks for the plot.

With traffic the same rule holds for the *expected* tasks of the run (replications x tasks_per_day x
days, per alternative: the count itself is random and known only once the run is done). Each
replication is then reduced where it ran to the same statistics, plus its bill per alternative (the
bill's interval, quantiles and P(bill > budget) need every replication's total: 200 floats for 200
replications, exactly the floats the kept columns would give, :func:`~sim.stats.taskstats.replication_bills_usd`);
the plot's sample is the costs of the first :data:`SAMPLE_TASKS` tasks in replication order (replication 0's
tasks, then 1's, ...), as the kept columns would list them. What changes above the limit, as without
traffic: means are the exact sums correctly rounded (the kept columns' ``np.mean`` may differ in the last
bits), quantiles of tasks come from the sketch, and no tasks file is written. The bills, and everything
the summary computes from them, are the same bytes either way.

How many tasks: a fixed number, or with ``precision`` (:mod:`sim.run.precision`) chunks until every
alternative's mean cost is known to that relative half-width.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from sim.core.errors import CostsimError, Parameter, ParameterError
from sim.core.randomness import SEEDS
from sim.core.records import TASK_FIELDS, TaskColumns
from sim.core.version import __version__
from sim.engine import choice as engines
from sim.engine.compiler import compile_plan
from sim.engine.plan import Plan
from sim.run.arguments import check_count, check_workflow, prices_date_of
from sim.run.chunks import Chunk, ChunkResult, RunSpec, pack, place, run_chunk
from sim.run.defaults import (  # noqa: F401  (exported here too, where callers have always found them)
    DEFAULT_BLOCK_TASKS,
    DEFAULT_CHUNK_TASKS,
    DEFAULT_REPLICATIONS,
    DEFAULT_TASKS,
    EXACT_TASKS_LIMIT,
    SAMPLE_TASKS,
)
from sim.run.executor import SerialExecutor
from sim.run.precision import PrecisionRule, PrecisionTracker
from sim.run.shared import SharedArrays, columns, columns_layout
from sim.run.workload import check_workload
from sim.spec.catalog import catalog_for
from sim.spec.workflow import Workflow, iter_steps
from sim.stats import exactsum
from sim.stats.sketch import RELATIVE_ERROR
from sim.stats.summary import summarize
from sim.stats.taskstats import (
    AlternativeStats,
    ChunkStats,
    ColumnView,
    MergedView,
    PairStats,
    PairView,
    replication_bills_usd,
)


@dataclass
class AlternativeRun:
    """One alternative's models and its per-task results."""

    name: str
    models: dict[str, str]
    tasks: TaskColumns | None  # None when the run kept no per-task columns: see ``stats``
    batched_steps: tuple[str, ...] = ()
    stats: AlternativeStats | None = None  # merged statistics of a run that kept no columns
    retry_policy: str | None = None  # the named retry policy it runs; None: the workflow's retry
    route_labels: tuple[str, ...] = ()  # the options of the split or router it uses on one role
    notes: tuple[str, ...] = ()  # what compiling it found worth saying: retired models, batch fallbacks,
    #                              reasoning defaults, tool prices (the provider rules' warnings among them)
    caches: bool = False  # whether any of its models uses the prompt cache
    token_ratios: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> content -> ratio, not 1
    bills: np.ndarray | None = None  # with traffic, when no columns were kept: each replication's bill (USD)

    @cached_property
    def view(self) -> ColumnView | MergedView:
        """The tasks' statistics (:mod:`sim.stats.taskstats`), from the columns or the merged statistics."""
        return ColumnView(self.tasks) if self.tasks is not None else MergedView(self.stats)

    def bills_usd(self, replications: int) -> np.ndarray:
        """Total cost of each replication of the horizon (tasks' costs plus any cost no task carried):
        from the columns, or, for a run that kept none, as each replication's chunk computed it."""
        if self.tasks is None:
            if self.bills is None or len(self.bills) != replications:
                raise ValueError(f"this alternative has no bills of {replications} replications")
            return self.bills
        return replication_bills_usd(self.tasks, 0, replications)

    @property
    def total_cost_usd(self) -> float:
        if self.tasks is None:
            return exactsum.to_float(self.stats.sums["cost_usd"][0] + self.stats.overhead_usd)
        return float(np.sum(self.tasks.cost_usd)) + float(np.sum(self.tasks.overhead_usd))


@dataclass
class SimulationResult:
    """Everything a run produced; :mod:`sim.stats.summary` summarises it, :mod:`sim.output.rundir` writes it."""

    workflow: Workflow
    seed: int
    n_tasks: int
    alternatives: list[AlternativeRun]
    metadata: dict = field(default_factory=dict)
    replications: int | None = None  # set when the workflow has traffic
    trace: list | None = None
    pairs: dict[tuple[int, int], PairStats] | None = None  # without per-task columns: paired sums
    sample_cost_usd: dict[str, np.ndarray] | None = None  # without per-task columns: the first tasks' costs
    #: When a process pool's workers wrote the columns into shared memory (:mod:`sim.run.shared`): that
    #: memory, which the pool's workers can map by name until the pool closes (they format the tasks file
    #: from it). The columns stay valid after, as long as they are held.
    shared: SharedArrays | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        """For pickling: the columns travel as arrays (copied out of shared memory), the segment not."""
        return {**self.__dict__, "shared": None}

    @property
    def baseline(self) -> AlternativeRun:
        return self.alternatives[0]

    @property
    def kept_tasks(self) -> bool:
        """Whether the run kept every task's record (False above ``exact_tasks_limit``)."""
        return self.baseline.tasks is not None

    def pair_view(self, i: int, j: int) -> PairView:
        """Paired differences of alternative j minus alternative i (indices in file order)."""
        a, b = self.alternatives[i], self.alternatives[j]
        return PairView(a.view, b.view, None if self.pairs is None else self.pairs[(i, j)])

    def _columns(self) -> None:
        if not self.kept_tasks:
            raise CostsimError(f"this run of {self.n_tasks:,} tasks kept no per-task results (above "
                               f"{self.metadata.get('sketch', {}).get('exact_tasks_limit', EXACT_TASKS_LIMIT):,} "
                               "tasks only merged statistics are kept); run fewer tasks for per-task data")

    def alternative(self, name: str) -> AlternativeRun:
        """The alternative called ``name`` (``baseline`` is the file's ``models:``)."""
        for run in self.alternatives:
            if run.name == name:
                return run
        raise KeyError(f"no alternative {name!r}; the run has {', '.join(r.name for r in self.alternatives)}")

    def summary(self, budget_usd: float | None = None) -> dict:
        """The same summary ``costsim run --format json`` prints (the JSON contract of the README's Outputs
        section)."""
        return summarize(self, budget_usd)

    def samples(self, alternative: str = "baseline") -> dict[str, np.ndarray]:
        """One alternative's per-task results as NumPy arrays, by field (cost_usd, success, ...)."""
        self._columns()
        return self.alternative(alternative).tasks.as_dict()

    def to_pandas(self):
        """Every task of every alternative as a pandas DataFrame (needs pandas): one row per task and
        alternative, columns ``alternative``, ``task`` and the fields of :data:`sim.core.records.TASK_FIELDS`."""
        self._columns()
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
    engine="auto",
    block_tasks: int | None = None,
    prices_date: dt.date | None = None,
    on_block: Callable[[int], None] | None = None,
    trace: bool = False,
    executor=None,
    chunk_tasks: int | None = None,
    precision: PrecisionRule | None = None,
    exact_tasks_limit: int | None = EXACT_TASKS_LIMIT,
) -> SimulationResult:
    """Run every alternative of ``workflow`` with ``seed``.

    Without traffic: on tasks ``0 .. tasks-1``, or with ``precision`` until its rule stops (``tasks`` is
    then ignored). With traffic: on ``replications`` simulated horizons (default
    :data:`DEFAULT_REPLICATIONS`), ignoring ``tasks``. ``engine`` runs one plan on one block: ``"auto"``
    (the default, as on the command line: the vectorised engine when it can run the workflow, else the
    SimPy engine), ``"des"``, ``"fast"`` or an engine object (:mod:`sim.engine.choice`); the results are
    the same on either, only ``metadata.engine`` says which ran. ``executor`` runs the chunks (default:
    this process; :mod:`sim.run.executor`); ``on_block`` is called with the work done so far (tasks, or
    replications) after each chunk, for progress bars; ``trace`` keeps one row per attempt. Above
    ``exact_tasks_limit`` tasks (the most the run may simulate; with traffic, the expected tasks of all
    replications) per-task columns are not kept (see the module's docstring). ``prices_date``: a
    ``datetime.date`` or ``"YYYY-MM-DD"`` (default: today, UTC).
    A wrong type of argument (a path for ``workflow``, text for ``tasks``) is a :class:`ParameterError`.
    """
    check_workflow(workflow, "simulate")
    check_count("tasks", tasks, 0)  # ignored with traffic (0 is then usual); at least 1 without, checked below
    check_count("replications", replications, optional=True)
    run = _Prepared(workflow, tasks, seed, replications, engine, block_tasks, prices_date_of(prices_date), trace,
                    chunk_tasks, precision, exact_tasks_limit, executor)
    try:
        results = _results(executor, run.chunks, on_block, run.work_s, run.collected)
        try:
            for result in results:
                if run.add(result):
                    break
                if on_block is not None:
                    on_block(run.collected.done)
        finally:
            results.close()  # stopping early cancels the chunks not yet started
    except BaseException:
        if run.collected.shared is not None:  # no worker may map it any more; the pool's close would too
            run.collected.shared.unlink()
        raise
    if on_block is not None:
        on_block(run.collected.done)
    return run.result()


def simulate_many(
    workflows: list[Workflow],
    tasks: int = DEFAULT_TASKS,
    seed: int = 0,
    *,
    replications: int | None = None,
    engine="auto",
    block_tasks: int | None = None,
    prices_date: dt.date | None = None,
    on_block: Callable[[int], None] | None = None,
    executor=None,
    chunk_tasks: int | None = None,
    exact_tasks_limit: int | None = EXACT_TASKS_LIMIT,
) -> list[SimulationResult]:
    """:func:`simulate` for several workflows (the variants of a sweep) with the same options, their
    chunks spread over one executor together, so that a grid of small runs keeps every worker busy.
    Each result is the one :func:`simulate` gives; ``on_block`` gets the work done over all runs."""
    runs = [_Prepared(workflow, tasks, seed, replications, engine, block_tasks, prices_date_of(prices_date), False,
                      chunk_tasks, None, exact_tasks_limit) for workflow in workflows]
    owners = [run for run in runs for _ in run.chunks]
    done_before = 0
    results = _results(executor, [chunk for run in runs for chunk in run.chunks], on_block,
                       sum(run.work_s for run in runs))
    try:
        for run, result in zip(owners, results):
            run.add(result)
            done_before += result.count
            if on_block is not None:
                on_block(done_before)
    finally:
        results.close()
    return [run.result() for run in runs]


def _results(executor, chunks: list[Chunk], on_block: Callable[[int], None] | None, work_s: float,
             collected: _Collected | None = None):
    """The chunks' results, in order: through ``executor`` when there are two chunks or more and the work
    (``work_s``, seconds on one core here) is worth its workers, else here, block by block, with progress,
    and with ``collected``'s columns of the whole run, when it keeps them, for the engine to fill in place.
    A local pool's workers write those columns in shared memory, when the executor gives some
    (:meth:`_Collected.share`)."""
    if len(chunks) > 1 and _pooled(executor, work_s):
        shared = collected.share(executor) if collected is not None else None
        if shared is not None:
            chunks = [replace(chunk, shared=shared.ref) for chunk in chunks]
        return executor.imap(run_chunk, chunks)
    out = collected.out if collected is not None else lambda: None

    def here():
        done = 0
        for chunk in chunks:
            report = None if on_block is None else (lambda part, before=done: on_block(before + part))
            yield run_chunk(chunk, report, out())
            done += chunk.count

    return here()


def check_seed(seed) -> None:
    """Refuse a seed outside 0 <= seed < 2^64 (it would silently repeat a smaller seed's numbers)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEEDS:
        raise ParameterError(Parameter("seed", seed), f" is not a seed: a seed is a whole number from 0 to "
                             f"2**64 - 1 ({SEEDS - 1}); any other would repeat the numbers of one of those")


class _Prepared:
    """One run, compiled and cut into chunks; :meth:`add` takes its chunks' results in order."""

    def __init__(self, workflow: Workflow, tasks: int, seed: int, replications: int | None, engine,
                 block_tasks: int | None, prices_date: dt.date | None, trace: bool, chunk_tasks: int | None,
                 precision: PrecisionRule | None, exact_tasks_limit: int | None, executor=None) -> None:
        check_seed(seed)
        workload = check_workload(workflow, precision.max_tasks if precision is not None else tasks,
                                  replications or DEFAULT_REPLICATIONS)  # before anything is made for the work
        self.engine = engines.resolve(engine, workflow, trace)
        if chunk_tasks is None:  # the precision rule checks at fixed chunk boundaries, whatever the engine
            chunk_tasks = DEFAULT_CHUNK_TASKS if precision is not None else getattr(
                self.engine, "chunk_tasks", DEFAULT_CHUNK_TASKS)
            if precision is None and workflow.traffic is None:  # spread over a pool: small enough to share out
                chunk_tasks = spread_chunk_tasks(chunk_tasks, tasks, _spread_over(
                    executor, _work_s(self.engine, workflow, len(workflow.alternative_models()), tasks)))
        self.workflow, self.seed, self.chunk_tasks = workflow, seed, chunk_tasks
        self.prices_date = prices_date or dt.datetime.now(dt.UTC).date()
        if block_tasks is None:  # the engine's own: small for the SimPy engine, a whole chunk for NumPy
            block_tasks = getattr(self.engine, "block_tasks", DEFAULT_BLOCK_TASKS)
        if block_tasks < 1 or chunk_tasks < 1:
            raise ValueError("block_tasks and chunk_tasks must be at least 1")
        self.catalog = catalog_for(workflow, self.prices_date)
        self.plans: list[Plan] = [compile_plan(workflow, name, models, self.catalog, workflow.retry_policy(name))
                                  for name, models in workflow.alternative_models().items()]
        blob, key = pack(RunSpec(tuple(self.plans), self.engine, seed, block_tasks, workflow.traffic, trace))
        self.tracker = None
        self.exact_tasks_limit = exact_tasks_limit
        if workflow.traffic is None:
            if precision is not None:
                self.tracker = PrecisionTracker.start(precision, len(self.plans))
                most = precision.max_tasks
            else:
                if tasks < 1:
                    raise ParameterError(Parameter("tasks", tasks), ": expected 1 or more tasks")
                most = tasks
            self.reduce = exact_tasks_limit is not None and most > exact_tasks_limit
            if self.reduce and trace:
                raise ParameterError(Parameter("trace"), f" keeps a row per attempt, which a run of more than "
                                     f"{exact_tasks_limit:,} tasks does not keep; trace a smaller run")
            self.chunks = [Chunk(blob, key, first, min(chunk_tasks, most - first), self.reduce, SAMPLE_TASKS)
                           for first in range(0, most, chunk_tasks)]
            self.replications = None
        else:
            if precision is not None:
                raise ParameterError(Parameter("precision"), " needs a workflow without traffic: with traffic each "
                                     "replication is a whole horizon; set how many with ", Parameter("replications"))
            self.replications = replications or DEFAULT_REPLICATIONS
            if self.replications < 1:
                raise ValueError("replications must be at least 1")
            # The expected tasks of the run (the count is random): above the limit, reduce each replication
            self.reduce = exact_tasks_limit is not None and workload.tasks > exact_tasks_limit
            if self.reduce and trace:
                raise ParameterError(Parameter("trace"), f" keeps a row per attempt, which a run of more than "
                                     f"{exact_tasks_limit:,} tasks does not keep (expected: {workload.tasks:,.0f}); "
                                     "trace fewer replications")
            sampled = _sampled_replications(workload.tasks / self.replications, self.replications)
            self.chunks = [Chunk(blob, key, replication, 1, self.reduce, SAMPLE_TASKS, sampled if self.reduce else 0)
                           for replication in range(self.replications)]
        whole = workflow.traffic is None and precision is None and not self.reduce and len(self.chunks) > 1
        self.collected = _Collected(len(self.plans), sum(chunk.count for chunk in self.chunks) if whole else None)
        self.work_s = _work_s(self.engine, workflow, len(self.plans), sum(chunk.count for chunk in self.chunks))

    def add(self, result: ChunkResult) -> bool:
        """Take the next chunk's result; True when the precision rule says the run may stop."""
        self.collected.add(result)
        return self.tracker is not None and self.tracker.add(result.count, self.collected.cost_sums(result))

    def result(self) -> SimulationResult:
        plans, collected = self.plans, self.collected
        metadata = {
            "costsim_version": __version__,
            "catalog": self.catalog.catalog_version,
            "prices_date": self.prices_date.isoformat(),
            "engine": self.engine.name,
        }
        names = [plan.alternative for plan in plans]
        if self.tracker is not None:
            metadata["precision"] = self.tracker.metadata(names, self.chunk_tasks)
        if self.reduce:
            samples = {name: np.concatenate(parts)[:SAMPLE_TASKS] for name, parts in zip(names, collected.samples)}
            metadata["sketch"] = {"exact_tasks_limit": self.exact_tasks_limit,
                                  "quantile_relative_error": RELATIVE_ERROR,
                                  "plot_sample_tasks": len(samples[names[0]])}
            bills = [np.concatenate(parts) if parts else None for parts in collected.bills]
            alternatives = [AlternativeRun(plan.alternative, plan.models, None, plan.batched_steps, stats,
                                           self.workflow.retry_policy_name(plan.alternative), plan.route_labels,
                                           plan.notes, plan.world.cache is not None, plan.token_ratios, bill)
                            for plan, stats, bill in zip(plans, collected.stats.alternatives, bills)]
            return SimulationResult(self.workflow, self.seed, collected.stats.alternatives[0].n, alternatives,
                                    metadata, self.replications, None, collected.stats.pairs, samples)
        alternatives = [
            AlternativeRun(plan.alternative, plan.models, tasks, plan.batched_steps,
                           None, self.workflow.retry_policy_name(plan.alternative), plan.route_labels,
                           plan.notes, plan.world.cache is not None, plan.token_ratios)
            for plan, tasks in zip(plans, collected.tasks())
        ]
        n_tasks = len(alternatives[0].tasks)
        return SimulationResult(self.workflow, self.seed, n_tasks, alternatives, metadata, self.replications,
                                collected.trace, shared=collected.shared)


#: When a pool runs a run's chunks: at least this many chunks a worker, so that the last chunks to finish
#: leave no worker idle for long (with 3 chunks on 2 workers, one worker idles for a third of the time).
CHUNKS_PER_WORKER = 4
#: ... but never chunks of fewer tasks than this (each chunk costs a message and its result's merge).
MIN_SPREAD_CHUNK_TASKS = 5_000


def spread_chunk_tasks(chunk_tasks: int, tasks: int, workers: int) -> int:
    """Tasks per chunk of a run of ``tasks`` spread over ``workers`` processes: the engine's ``chunk_tasks``
    (its most efficient size), or less, down to :data:`MIN_SPREAD_CHUNK_TASKS`, so that each worker gets
    at least :data:`CHUNKS_PER_WORKER` chunks. Run here (one worker), the engine's own. Any size gives the
    same result: draws depend on the task, not on its chunk."""
    if workers <= 1:
        return chunk_tasks
    return min(chunk_tasks, max(MIN_SPREAD_CHUNK_TASKS, -(-tasks // (workers * CHUNKS_PER_WORKER))))


def _pooled(executor, work_s: float) -> bool:
    """Whether ``executor`` runs ``work_s`` seconds of work (on one core here) in other processes."""
    return (executor is not None and not isinstance(executor, SerialExecutor)
            and getattr(executor, "worth", lambda _: True)(work_s))


def _spread_over(executor, work_s: float) -> int:
    """How many processes ``executor`` spreads ``work_s`` seconds of work over (1: this one)."""
    return max(1, int(getattr(executor, "workers", 1))) if _pooled(executor, work_s) else 1


def _work_s(engine, workflow: Workflow, alternatives: int, units: int) -> float:
    """About how long the run takes on one core: tasks (with traffic: replications of the expected tasks of
    a horizon) x steps x alternatives, at the engine's rate (``task_steps_per_s``). Only an estimate, for
    deciding whether worker processes are worth starting; it never changes a result."""
    steps = sum(1 for _ in iter_steps(workflow.steps))
    tasks = units if workflow.traffic is None else units * workflow.traffic.tasks_per_day * workflow.traffic.days
    return tasks * steps * alternatives / getattr(engine, "task_steps_per_s", 1_000_000)


def _sampled_replications(expected_tasks: float, replications: int) -> int:
    """How many of the first replications of a reduced traffic run send their tasks' costs for the plot:
    enough that their tasks are very likely at least :data:`SAMPLE_TASKS` (one more replication than the
    expected count needs), never more than the run has. The parent keeps the first SAMPLE_TASKS of them;
    the number only bounds what travels, it is a pure function of the run's options (same bytes)."""
    if expected_tasks <= 0:
        return replications
    return min(replications, math.ceil(SAMPLE_TASKS / expected_tasks) + 1)


class _Collected:
    """Chunk results joined in chunk order: columns, or merged statistics, the plot's sample and (with
    traffic) each replication's bills.

    With ``n_tasks`` (a run of known length that keeps its columns, in two chunks or more) each
    alternative's columns are made once at the run's length, zeroed, and each chunk's are copied into
    their place as they arrive: from workers, while the others still work; here, the vectorised engine
    writes them in place (:meth:`out`) and nothing is copied. With a local pool, the columns are made in
    shared memory instead (:meth:`share`), where the workers write them: only their overheads and model
    calls come back. Without ``n_tasks``, the chunks' columns are joined at the end."""

    def __init__(self, alternatives: int, n_tasks: int | None = None) -> None:
        self.done = 0
        self.columns: list[list[TaskColumns]] = [[] for _ in range(alternatives)]
        self.samples: list[list[np.ndarray]] = [[] for _ in range(alternatives)]
        self.bills: list[list[np.ndarray]] = [[] for _ in range(alternatives)]
        self.stats: ChunkStats | None = None
        self.trace: list | None = None
        self.n_tasks = n_tasks
        self.whole: list[dict[str, np.ndarray]] | None = None
        self.shared: SharedArrays | None = None
        self.model_calls: list[dict[str, int]] = [{} for _ in range(alternatives)]
        self.overhead_usd: list[list[float]] = [[] for _ in range(alternatives)]

    def out(self) -> list[dict[str, np.ndarray]] | None:
        """Each alternative's columns of the whole run, by field (zeros until filled), or None."""
        if self.n_tasks is None:
            return None
        if self.whole is None:  # zeroed pages cost nothing until written: a field no task fills stays free
            self.whole = [{name: np.zeros(self.n_tasks, dtype=dtype) for name, dtype in TASK_FIELDS.items()}
                          for _ in self.columns]
        return self.whole

    def share(self, executor) -> SharedArrays | None:
        """The whole run's columns in shared memory that ``executor``'s workers write (they get its
        :attr:`~SharedArrays.ref` with each chunk), or None: no columns of known length are kept, or the
        executor has no shared memory (Dask; or no room for it)."""
        share = getattr(executor, "share", None)
        if self.n_tasks is None or self.whole is not None or share is None:
            return None
        self.shared = share(columns_layout(self.n_tasks, len(self.columns)))
        if self.shared is not None:
            self.whole = columns(self.shared.arrays)
        return self.shared

    def add(self, result: ChunkResult) -> None:
        self.done += result.count
        if result.placed is not None or (result.columns is not None and self.n_tasks is not None):
            placed = result.placed  # a worker wrote the rows into the shared columns: what else they carry
            if placed is None:  # the rows came back: put them in their place in the run's columns
                for whole, tasks in zip(self.out(), result.columns):
                    place(whole, result.first, tasks)
                placed = [(tasks.overhead_usd, tasks.model_calls) for tasks in result.columns]
            for calls, overhead, (chunk_overheads, chunk_calls) in zip(self.model_calls, self.overhead_usd, placed):
                for ref, count in chunk_calls.items():
                    calls[ref] = calls.get(ref, 0) + count
                overhead.extend(chunk_overheads)
        elif result.columns is not None:
            for parts, tasks in zip(self.columns, result.columns):
                parts.append(tasks)
        else:
            self.stats = result.stats if self.stats is None else self.stats.merge(result.stats)
            for parts, costs in zip(self.samples, result.sample_cost_usd or ()):
                parts.append(costs)
            for parts, bills in zip(self.bills, result.bills_usd or ()):
                parts.append(bills)
        if result.trace is not None:
            if self.trace is None:
                self.trace = []
            self.trace.extend(result.trace)

    def tasks(self) -> list[TaskColumns]:
        """Each alternative's columns of the whole run."""
        if self.whole is None:
            return [TaskColumns.concatenate(parts) for parts in self.columns]
        return [TaskColumns(whole, overhead, dict(sorted(calls.items())))
                for whole, overhead, calls in zip(self.whole, self.overhead_usd, self.model_calls)]

    @staticmethod
    def cost_sums(result: ChunkResult) -> list[tuple[int, int]]:
        """Each alternative's exact (Σcost, Σcost²) over the chunk, for the precision rule."""
        if result.columns is not None:
            return [exactsum.exact_sums(tasks.cost_usd) for tasks in result.columns]
        return [stats.sums["cost_usd"] for stats in result.stats.alternatives]
