"""The vectorised engine: a whole block of tasks at once, with NumPy, from the same plan as the SimPy engine.

It walks the plan's steps with every task of the block in lockstep. A set of tasks is an array of
their positions in the block; a step takes the tasks that reach it and returns which of them came
through. Loops run iteration by iteration over the tasks that still have iterations left, branches
split the tasks by arm, a call's legs and attempts run over the tasks still trying. Every draw is the
same pure function of (seed, task, source, occurrence) as in :mod:`sim.engine.des`, taken for just the
tasks that ask, and every sum is made in the same order for each task, so each task's tokens, attempts
and outcome are exactly the SimPy engine's and its cost the same to the last bit.

What it cannot run is what couples tasks or needs event scheduling: ``traffic`` (arrivals over time,
and with it rate limits, outages, self-hosted queues, concurrency, a prompt cache shared by tasks and
the horizon's bill) and per-attempt traces. A prompt cache without traffic is each task's own, and it
runs here (:class:`sim.engine.caching.TaskCaches`). :func:`unsupported` names the feature; ``--engine auto``
then picks the
SimPy engine.

Each step runs by its kind's vectorised handler (:data:`sim.engine.kinds.STEPS`, e.g.
:mod:`sim.engine.kinds.llm_fast`); this module holds the block's per-task arrays (one per record field,
from :data:`~sim.core.records.TASK_FIELDS`), its draws, and the control flow of runs and step sequences.
"""

from __future__ import annotations

import numpy as np

from sim.core.errors import Parameter, ParameterError
from sim.core.randomness import BlockDraws, mixed_tasks, uniforms_of_mixed
from sim.core.records import FAILURE_CODE, TASK_FIELDS, TASK_START, TaskColumns, zeros
from sim.engine.caching import TaskCaches
from sim.engine.kinds import STEPS
from sim.engine.plan import Draw, Plan
from sim.engine.rules.budget import budget_stop_array
from sim.engine.rules.choice import pick_array
from sim.engine.rules.odds import fail_probability_array
from sim.engine.updates import add_at

_WRONG = FAILURE_CODE["wrong_answer"]
_INT = np.int64
#: Draws mapped this many at a time (:meth:`Block.values`): the uniforms, the inverse CDF's steps and the
#: rounding then work on arrays that stay in the CPU's cache instead of going to memory at every step.
_DRAW_CHUNK = 32_768
_RUN_STEP = {key: kind.fast for key, kind in STEPS.items()}  # kind -> its vectorised handler


def unsupported(workflow, trace: bool = False) -> str | None:
    """The feature of ``workflow`` (a :class:`~sim.spec.workflow.Workflow`) that needs the SimPy engine, or None."""
    if trace:
        return "per-attempt trace rows"
    if workflow.traffic is not None:
        return "traffic (tasks arriving over time, which share limits, outages, servers and caches)"
    return None


class FastEngine:
    """Runs a plan over a block of tasks with array operations; results equal :class:`sim.engine.des.DesEngine`'s."""

    name = "fast"
    #: Tasks per block and per chunk (the unit of a worker's work) when the caller does not say: arrays
    #: this long amortise NumPy's cost per call. Results do not depend on either.
    block_tasks = 100_000
    chunk_tasks = 100_000
    #: About how many (task, step, alternative) triples it runs a second on one core (the support agent,
    #: 10^5 to 10^6 tasks, measured 2026-12 on a 2-core machine): what a run's work is estimated with when
    #: deciding whether worker processes are worth starting (:mod:`sim.run.executor`).
    task_steps_per_s = 5_000_000

    def run_block(self, plan: Plan, draws: BlockDraws, arrivals_s=None, replication: int = 0,
                  trace: list | None = None) -> TaskColumns:
        if plan.world.shared or arrivals_s is not None:
            raise ParameterError(Parameter("engine", "fast"), ": the vectorised engine cannot run traffic; use ",
                                 Parameter("engine", "des"))
        if trace is not None:
            raise ParameterError(Parameter("engine", "fast"), ": the vectorised engine writes no traces; use ",
                                 Parameter("engine", "des"), " with ", Parameter("trace"))
        block = Block(plan, draws)
        block.run()
        return block.columns()

    def run_block_into(self, plan: Plan, draws: BlockDraws, out: dict[str, np.ndarray]) -> TaskColumns:
        """:meth:`run_block` (no traffic, no trace) writing the record into ``out``: for each field of
        :data:`~sim.core.records.TASK_FIELDS`, an array of the block's length filled with zeros (a slice of
        the run's whole column, say). A field the block fills is returned as that array; one it leaves
        at zero, as zeros that take no memory (and ``out``'s stays untouched). The caller then need not
        copy the block's columns into the run's."""
        block = Block(plan, draws, out)
        block.run()
        return block.columns()


class Block:
    """The tasks of one block: their record as arrays (an attribute per field of TASK_FIELDS: ``cost_usd``,
    ``calls``, ...), their clocks and conversations, and the draws and bookkeeping the steps share."""

    def __init__(self, plan: Plan, draws: BlockDraws, out: dict[str, np.ndarray] | None = None) -> None:
        self.plan, self.seed, self.task_ids = plan, draws.seed, draws.task_ids
        self._out = out  # zeroed arrays to fill in place, by field (FastEngine.run_block_into), or None
        self.mixed = mixed_tasks(draws.task_ids)  # the tasks' half of every uniform's hash, once
        n = self.n = draws.n_tasks  # the record's fields are made on first use (__getattr__)
        self.budget = plan.budget
        self.clock = np.zeros(n)
        self.transcript = np.zeros(n, dtype=_INT)
        self.stopped = np.zeros(n, dtype=bool)
        self.wrong = np.zeros(n, dtype=bool)
        self.shape = np.zeros(n, dtype=_INT)  # the recorded conversation a conversation step drew, this run
        self.choices: dict[str, np.ndarray] = {}  # role -> option its split or router chose, this run
        self.carried: dict[str, np.ndarray] = {}  # model -> reasoning carried in this turn (carry_reasoning)
        self.run_index = 0
        self.model_calls: dict[str, int] = {}
        self._fail_cache: dict[int, np.ndarray] = {}
        self.cache = plan.world.cache
        every = np.arange(n)
        system = self.counts(plan.system, (), every)
        self.head = system + self.counts(plan.user, (), every)
        self.difficulty_class = np.zeros(n, dtype=_INT)
        if plan.difficulty is not None:
            self._draw_difficulty(plan.difficulty, every)
        if self.cache is not None:
            self.caches = TaskCaches(self.cache, system, self.head)

    def __getattr__(self, name: str) -> np.ndarray:
        """A field of the record (:data:`~sim.core.records.TASK_FIELDS`) that no step has used yet: made now,
        at its start value. A field no step of the run uses is never made, and costs neither memory nor
        a scan in :meth:`columns`."""
        start = TASK_START.get(name)
        if start is None or name.startswith("__"):
            raise AttributeError(name)
        dtype = TASK_FIELDS[name]
        if self._out is not None:
            column = self._out[name]
            if start != 0:
                column.fill(start)
        else:
            column = np.zeros(self.n, dtype=dtype) if start == 0 else np.full(self.n, start, dtype=dtype)
        setattr(self, name, column)
        return column

    def at(self, idx: np.ndarray):
        """``idx`` as an index: a slice when it is every task (positions are sorted and distinct), so that
        updates work in place instead of gathering and scattering."""
        return slice(None) if len(idx) == self.n else idx

    # -- draws -------------------------------------------------------------------------------------------
    def uniform(self, key: int, occurrence: tuple, idx: np.ndarray) -> np.ndarray:
        """The tasks' uniforms for one (source, occurrence): a new array, the caller's to overwrite."""
        return uniforms_of_mixed(self.mixed, self.seed, key, occurrence, None if len(idx) == self.n else idx)

    def values(self, draw: Draw, occurrence: tuple, idx: np.ndarray):
        """The draw for tasks ``idx``: a scalar when it is fixed, else an array."""
        if draw.fixed is not None:
            return draw.fixed
        if draw.by_shape is not None:
            return draw.by_shape[self.shape[idx]]
        n, every = len(idx), len(idx) == self.n
        if n <= _DRAW_CHUNK:
            return draw.dist.sample(self.uniform(draw.key, occurrence, idx), integer=draw.integer, own=True)
        out = np.empty(n, dtype=_INT if draw.integer else float)
        for start in range(0, n, _DRAW_CHUNK):  # every value is a function of its own uniform alone
            stop = min(start + _DRAW_CHUNK, n)
            u = uniforms_of_mixed(self.mixed[start:stop] if every else self.mixed, self.seed, draw.key, occurrence,
                                  None if every else idx[start:stop])
            out[start:stop] = draw.dist.sample(u, integer=draw.integer, own=True)
        return out

    def counts(self, draw: Draw, occurrence: tuple, idx: np.ndarray) -> np.ndarray:
        """An integer draw (tokens, loop counts) for tasks ``idx`` as an array, a fixed one too."""
        values = self.values(draw, occurrence, idx)
        if type(values) is np.ndarray and values.dtype == _INT and values.shape == idx.shape:
            return values  # a draw's own array (np.broadcast_to costs more than hashing a few uniforms)
        return np.broadcast_to(np.asarray(values, dtype=_INT), idx.shape)

    def _draw_difficulty(self, difficulty, every: np.ndarray) -> None:
        if difficulty.score is not None:
            self.difficulty[:] = np.broadcast_to(np.asarray(self.values(difficulty.score, (), every), dtype=float),
                                                 (self.n,))
            return
        self.difficulty_class = pick_array(difficulty.cumulative, self.uniform(difficulty.key, (), every)).astype(_INT)
        self.difficulty[:] = self.difficulty_class

    def fail_probability(self, model, idx: np.ndarray):
        """P(an attempt on ``model`` is invalid) for tasks ``idx``: a scalar, or an array by difficulty
        (a score's odds are worked out once per model for the whole block)."""
        if model.quality_fail is not None:
            return fail_probability_array(model, self.difficulty_class[idx])
        if model.quality_skill is not None:
            per_task = self._fail_cache.get(id(model))
            if per_task is None:
                per_task = self._fail_cache[id(model)] = fail_probability_array(model, self.difficulty)
            return per_task[idx]
        return model.fail_probability

    # -- shared bookkeeping ------------------------------------------------------------------------------
    def wait(self, idx: np.ndarray, seconds) -> None:
        if np.ndim(seconds) == 0:
            if seconds > 0:
                add_at(self.clock, self.at(idx), seconds)
            return
        # fmax: a negative or NaN wait is none (as where(seconds > 0, seconds, 0) reads; a -0.0 it may keep
        # adds nothing to a clock, which is never -0.0), with one temporary instead of two
        add_at(self.clock, self.at(idx), np.fmax(seconds, 0.0))

    def over_budget(self, idx: np.ndarray, new_call: bool = False) -> np.ndarray:
        """Which of tasks ``idx`` a budget cap stops before their next attempt (or call); marks them."""
        if self.budget is None or not len(idx):
            return np.zeros(len(idx), dtype=bool)
        code = budget_stop_array(self.budget, len(idx), lambda: self.cost_usd[idx], lambda: self.calls[idx],
                                 lambda: self.clock[idx] - 0.0, new_call)
        stop = code != 0
        stopped = idx[stop]
        self.failure[stopped] = code[stop]
        self.stopped[stopped] = True
        return stop

    # -- the task ------------------------------------------------------------------------------------------
    def run(self) -> None:
        todo = np.arange(self.n)
        for run in range(self.plan.task_attempts):
            if not todo.size:
                break
            self.run_index = run
            add_at(self.runs, todo, 1)
            self.transcript[todo] = 0
            for carried in self.carried.values():
                carried[todo] = 0
            if self.cache is not None:
                self.caches.new_run(todo)
            self.wrong[todo] = False
            for chosen in self.choices.values():
                chosen[todo] = -1
            ok = self.steps(self.plan.steps, (run,), todo)
            through = todo[ok]
            wrong = self.wrong[through]
            self.success[through[~wrong]] = True
            self.failure[through[~wrong]] = 0
            self.failure[through[wrong]] = _WRONG  # the agent believes it succeeded: nothing to re-run
            failed = todo[~ok]
            todo = failed[~self.stopped[failed]]

    def steps(self, steps: tuple, base: tuple, idx: np.ndarray) -> np.ndarray:
        """Run a sequence of steps on tasks ``idx``; return which of them completed it (a mask)."""
        position, current = None, idx  # position: of current's tasks in idx; None: all of them
        for step in steps:
            if not current.size:
                break
            ok = _RUN_STEP[step.kind](self, step, base, current)
            if ok.all():  # the usual case: every task came through, nothing to select
                continue
            kept = np.flatnonzero(ok)  # positions, once: indexing by a scattered mask is slower than by them
            position, current = (kept if position is None else position[kept]), current[kept]
        if position is None:
            return np.ones(len(idx), dtype=bool)
        done = np.zeros(len(idx), dtype=bool)
        done[position] = True
        return done

    # -- the result ----------------------------------------------------------------------------------------
    def columns(self) -> TaskColumns:
        """The block's record. A field no task of the block touched (nothing a run without traffic can fill,
        the cache's fields without a cache, ...) is returned as zeros that take no memory."""
        np.subtract(self.clock, 0.0, out=self.latency_s)
        values, made = {}, self.__dict__
        for name, dtype in TASK_FIELDS.items():
            column = made.get(name)
            if TASK_START[name] != 0:
                values[name] = getattr(self, name)
            else:
                values[name] = column if column is not None and column.any() else zeros(self.n, dtype)
        return TaskColumns.from_lists(values, 0.0, self.model_calls)
