"""The SimPy engine: every task is a generator process that walks the plan's steps.

What a task does, step by step (the semantics of the README's background, How a task is simulated):

* **llm**: the input is system + user + this step's prompt, plus, with ``history: full``, every earlier
  step's prompt, output and tool result of this run of the task (``window`` drops the oldest of those to
  fit the model's context window; an input that does not fit fails the call). Each attempt may first
  wait (retry backoff, a rate limit's next free minute, a self-hosted server's queue), may be rejected
  (rate limit) or errored (outage), and otherwise takes time-to-first-token plus its output and hidden
  reasoning tokens over the model's speed (or the batch delay, or the server's service time). It draws
  whether its output is usable; a failed attempt is billed in full, its output is not kept, and the
  retry re-sends the same input. When ``max_attempts`` attempts fail the call escalates (a new call on
  the next rung of its ladder) or the run of the task fails.
* **tool**: each attempt takes its latency and may error; a successful attempt's result joins the
  conversation. When every attempt errors the run of the task fails.
* **user**: the user's message joins the conversation; nothing is billed, no time passes.
* **repeat**: the inner steps run a drawn number of times; **branch**: one arm runs, drawn by probability.
* A failed run is re-run from the first step while ``task_retry.max_attempts`` allows.

Each step runs by its kind's SimPy handler (:data:`sim.engine.kinds.STEPS`, e.g.
:mod:`sim.engine.kinds.llm_des`); this module holds the control flow around them: tasks, runs, budgets,
time, and the per-task record.

Draws come from :class:`~sim.core.randomness.BlockDraws` with occurrence ``(run, *loop iterations)`` for
per-run quantities, plus ``(rung, attempt)`` for per-attempt ones, so all alternatives see the same task.

Time: with ``traffic`` (a *shared* world) tasks arrive over the horizon and every wait is a SimPy
timeout, so tasks that overlap in time meet in the shared cache, rate limiters and server queues.
Without it tasks share nothing, and each task keeps its own clock arithmetically: the same durations,
without the cost of scheduling events.
"""

from __future__ import annotations

import gc
from operator import attrgetter

import simpy

from sim.core.randomness import BlockDraws
from sim.core.records import FAILURE_CODE, TASK_FIELDS, TASK_START, TaskColumns
from sim.engine.kinds import STEPS
from sim.engine.plan import Draw, Plan
from sim.engine.rules.budget import budget_stop
from sim.engine.rules.choice import pick
from sim.engine.world import World

_WRONG = FAILURE_CODE["wrong_answer"]
_record_of = attrgetter(*TASK_FIELDS)  # a task's record fields, in TASK_FIELDS' order
_RUN_STEP = {key: kind.des for key, kind in STEPS.items()}  # kind -> its SimPy handler
#: Every record field at its start value, as class attributes: a task's record starts there at no cost,
#: and a field takes a value of its own once a step updates it.
_RecordStart = type("_RecordStart", (), dict(TASK_START))


class _TaskState(_RecordStart):
    """One task: its record (a field for each of TASK_FIELDS, summed over its runs), its clock, and the
    conversation of its current run."""

    def __init__(self, offset: int, task_id: int, arrival_s: float, system_tokens: int, user_tokens: int,
                 system_cache: dict) -> None:
        self.offset = offset
        self.task_id = task_id
        self.clock = self.arrival_s = arrival_s
        self.system_tokens = system_tokens
        self.head_tokens = system_tokens + user_tokens
        self.transcript_tokens = 0
        self.run = 0
        self.conversation_cache: dict[str, tuple[int, float]] = {}  # model -> (prefix tokens, expiry)
        self.head_cache: dict[str, float] = {}  # model -> expiry of this task's system + user prefix
        self.system_cache = system_cache  # model -> expiry of the system prompt (shared with traffic)
        self.difficulty = 0  # class index, or score
        self.stopped = False  # a budget cap ended the task: no re-run
        self.choices: dict[str, int] = {}  # role -> option chosen by its split or router in this run
        self.wrong = False  # this run kept an invalid answer a validator accepted
        self.shape = 0  # the recorded conversation a conversation step drew for this run
        self.carried: dict[str, int] | None = None  # model -> reasoning carried in this turn (carry_reasoning)


class DesEngine:
    """Runs a plan over a block of tasks as a SimPy discrete-event simulation."""

    name = "des"
    #: Tasks per block: enough to share draws' work, few enough processes alive at once.
    block_tasks = 1_000
    #: About how many (task, step, alternative) triples it runs a second on one core (the support agent,
    #: measured 2026-12 on a 2-core machine), for the estimate :mod:`sim.run.executor` decides with.
    task_steps_per_s = 150_000

    def run_block(self, plan: Plan, draws: BlockDraws, arrivals_s: list[float] | None = None,
                  replication: int = 0, trace: list | None = None) -> TaskColumns:
        """Run ``plan`` on the block's tasks. ``arrivals_s`` (with traffic) gives each task's arrival;
        without it every task starts at 0 and tasks share nothing. Trace rows go to ``trace``."""
        env = simpy.Environment()
        world = World(env, plan.world, trace)
        runner = Runner(env, plan, world, draws, replication)
        columns: dict[str, list] = {name: [None] * draws.n_tasks for name in TASK_FIELDS}
        # A block allocates millions of short-lived objects (processes, events, tuples) and frees them by
        # reference counting; the cyclic collector finds nothing in them and costs ~20% of the run.
        collect = gc.isenabled()
        gc.disable()
        try:
            for offset in range(draws.n_tasks):
                arrival_s = 0.0 if arrivals_s is None else arrivals_s[offset]
                env.process(runner.task(offset, arrival_s, columns))
            env.run()
        finally:
            if collect:
                gc.enable()
        overhead_usd = _charge_gpu_time(plan, world, columns) if plan.self_hosted_refs else 0.0
        return TaskColumns.from_lists(columns, overhead_usd, runner.model_calls)


def _charge_gpu_time(plan: Plan, world: World, columns: dict[str, list]) -> float:
    """Divide the GPU bill of each self-hosted deployment this plan uses among the tasks it served, in
    proportion to their service time (so idle hours are paid for by the work that was done). The GPUs
    are rented for the whole horizon, longer if the server is still busy after it; whatever no task
    can carry (no task reached the server) is returned as the block's overhead."""
    bill_usd = busy_s = 0.0
    for ref in plan.self_hosted_refs:
        server = world.servers[ref]
        horizon_s = max(plan.world.horizon_s or 0.0, server.last_end_s)
        bill_usd += server.spec.gpu_hour_usd * server.spec.gpus * horizon_s / 3600
        busy_s += server.busy_s
    if busy_s <= 0:
        return bill_usd
    per_busy_second = bill_usd / busy_s
    for offset, gpu_s in enumerate(columns["gpu_s"]):
        if gpu_s:
            columns["cost_usd"][offset] += gpu_s * per_busy_second
    return 0.0


class Runner:
    """The processes of one block: tasks, and the steps inside them (each run by its kind's handler)."""

    def __init__(self, env: simpy.Environment, plan: Plan, world: World, draws: BlockDraws, replication: int):
        self.env, self.plan, self.world, self.draws = env, plan, world, draws
        self.shared = world.shared
        self.replication = replication
        self.cache = plan.world.cache
        self.model_calls: dict[str, int] = {}  # model ref -> calls it answered, in this block

    def value(self, state: _TaskState, draw: Draw, occurrence: tuple):
        if draw.fixed is not None:
            return draw.fixed
        if draw.by_shape is not None:
            return draw.by_shape[state.shape].item()
        return self.draws.value(state.offset, draw, occurrence)

    def over_budget(self, state: _TaskState, new_call: bool = False) -> bool:
        """Whether a budget cap stops the task before its next attempt (or call); marks it if so."""
        budget = self.plan.budget
        if budget is None:
            return False
        code = budget_stop(budget, state.cost_usd, state.calls, state.clock - state.arrival_s, new_call)
        if not code:
            return False
        state.failure = code
        state.stopped = True
        return True

    def wait(self, state: _TaskState, seconds: float):
        """Let ``seconds`` of simulated time pass for this task (a generator: use ``yield from``)."""
        if seconds > 0:
            if self.shared:
                yield self.env.timeout(seconds)
                state.clock = self.env.now
            else:
                state.clock += seconds

    # -- one task ----------------------------------------------------------------------------------------
    def task(self, offset: int, arrival_s: float, columns: dict[str, list]):
        plan, world = self.plan, self.world
        if self.shared and arrival_s > 0:
            yield self.env.timeout(arrival_s)
        state = _TaskState(offset, int(self.draws.task_ids[offset]), arrival_s, self.value_for(offset, plan.system),
                           self.value_for(offset, plan.user), world.system_cache if self.shared else {})
        difficulty = plan.difficulty
        if difficulty is not None:  # its class index, or its score
            state.difficulty = (self.draws.value(offset, difficulty.score, ()) if difficulty.score is not None
                                else pick(difficulty.cumulative, self.draws.uniform(offset, difficulty.key, ())))
        slot = None
        if world.concurrency is not None:
            slot = world.concurrency.request()
            yield slot
            state.clock = self.env.now
        for run in range(plan.task_attempts):
            state.runs += 1
            state.run = run
            state.transcript_tokens = 0
            state.carried = None
            state.conversation_cache.clear()
            state.choices.clear()
            state.wrong = False
            completed = yield from self.steps(plan.steps, (run,), state)
            if completed and state.wrong:  # the agent believes it succeeded: nothing to re-run
                state.failure = _WRONG
                break
            if completed:
                state.success = True
                state.failure = 0
                break
            if state.stopped:
                break
        if slot is not None:
            world.concurrency.release(slot)
        state.latency_s = state.clock - arrival_s
        state.replication = self.replication
        for column, value in zip(columns.values(), _record_of(state)):
            column[offset] = value

    def value_for(self, offset: int, draw: Draw):
        return draw.fixed if draw.fixed is not None else self.draws.value(offset, draw, ())

    def steps(self, steps: tuple, base: tuple, state: _TaskState):
        """Run a sequence of steps; return whether it completed (the generator's return value)."""
        for step in steps:
            ok = yield from _RUN_STEP[step.kind](self, step, base, state)
            if not ok:
                return False
        return True
