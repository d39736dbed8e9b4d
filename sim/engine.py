"""The SimPy engine: every task is a generator process that walks the plan's steps.

What a task does, step by step (DESIGN.md's semantics):

* **llm**: the input is system + user + this step's prompt, plus, with ``history: full``, every earlier
  step's prompt, output and tool result of this run of the task. Each attempt draws its output and
  whether that output is usable; a failed attempt is billed in full and its output is not kept, and the
  retry re-sends the same input. When ``max_attempts`` attempts fail the call escalates (a new call on
  the next rung of its ladder, with attempts of its own) or the run of the task fails.
* **tool**: each attempt takes its latency (simulated time passes) and may error; a successful attempt's
  result joins the conversation. When every attempt errors the run of the task fails.
* **loop**: the inner steps run a drawn number of times; **branch**: one arm runs, drawn by probability.
* A failed run is re-run from the first step while ``task_retry.max_attempts`` allows.

Draws come from :class:`~sim.randomness.BlockDraws` with occurrence ``(run, *loop iterations)`` for
per-run quantities, plus ``(rung, attempt)`` for per-attempt ones, so all alternatives see the same task.
The engine keeps time (tool latencies) so that later features that depend on *when* calls happen (caches,
rate limits, shared servers) join as SimPy resources and processes.
"""

from __future__ import annotations

import gc
from bisect import bisect_right

import simpy

from sim.plan import LLM, LOOP, TOOL, Draw, Plan
from sim.randomness import BlockDraws
from sim.records import TASK_FIELDS, TaskColumns


class _TaskState:
    """Running totals of one task, and the conversation of its current run."""

    __slots__ = ("task", "head_tokens", "transcript_tokens", "cost_usd", "calls", "attempts",
                 "input_tokens", "output_tokens", "tool_calls")

    def __init__(self, task: int, head_tokens: int) -> None:
        self.task = task
        self.head_tokens = head_tokens
        self.transcript_tokens = 0
        self.cost_usd = 0.0
        self.calls = self.attempts = self.input_tokens = self.output_tokens = self.tool_calls = 0


class DesEngine:
    """Runs a plan over a block of tasks as a SimPy discrete-event simulation."""

    name = "des"

    def run_block(self, plan: Plan, draws: BlockDraws) -> TaskColumns:
        env = simpy.Environment()
        columns: dict[str, list] = {name: [None] * draws.n_tasks for name in TASK_FIELDS}
        # A block allocates millions of short-lived objects (processes, events, tuples) and frees them by
        # reference counting; the cyclic collector finds nothing in them and costs ~20% of the run.
        collect = gc.isenabled()
        gc.disable()
        try:
            for offset in range(draws.n_tasks):
                env.process(self._task(env, plan, draws, draws.first_task + offset, offset, columns))
            env.run()
        finally:
            if collect:
                gc.enable()
        return TaskColumns.from_lists(columns)

    # -- one task ----------------------------------------------------------------------------------------
    def _task(self, env, plan: Plan, draws: BlockDraws, task: int, offset: int, columns: dict[str, list]):
        head = _value(draws, task, plan.system, ()) + _value(draws, task, plan.user, ())
        state = _TaskState(task, head)
        success = False
        runs = 0
        for run in range(plan.task_attempts):
            runs += 1
            state.transcript_tokens = 0
            success = yield from self._steps(env, plan.steps, (run,), state, draws)
            if success:
                break
        columns["cost_usd"][offset] = state.cost_usd
        columns["success"][offset] = success
        columns["calls"][offset] = state.calls
        columns["attempts"][offset] = state.attempts
        columns["input_tokens"][offset] = state.input_tokens
        columns["output_tokens"][offset] = state.output_tokens
        columns["tool_calls"][offset] = state.tool_calls
        columns["runs"][offset] = runs

    def _steps(self, env, steps: tuple, base: tuple, state: _TaskState, draws: BlockDraws):
        """Run a sequence of steps; return whether it completed (the generator's return value)."""
        for step in steps:
            kind = step.kind
            if kind is LLM:
                ok = _llm(step, base, state, draws)
            elif kind is TOOL:
                ok = False
                for attempt in range(step.max_attempts):
                    occurrence = (*base, attempt)
                    latency_s = _value(draws, state.task, step.latency, occurrence)
                    if latency_s > 0:
                        yield env.timeout(latency_s)
                    state.tool_calls += 1
                    state.cost_usd += step.cost_usd
                    if step.fail_probability and draws.uniform(state.task, step.fail_key, occurrence) < (
                        step.fail_probability
                    ):
                        continue
                    state.transcript_tokens += _value(draws, state.task, step.result, occurrence)
                    ok = True
                    break
            elif kind is LOOP:
                ok = True
                for iteration in range(_value(draws, state.task, step.count, base)):
                    ok = yield from self._steps(env, step.steps, (*base, iteration), state, draws)
                    if not ok:
                        break
            else:  # BRANCH
                arm = bisect_right(step.cumulative, draws.uniform(state.task, step.key, base))
                ok = yield from self._steps(env, step.arms[min(arm, len(step.arms) - 1)], base, state, draws)
            if not ok:
                return False
        return True


def _value(draws: BlockDraws, task: int, draw: Draw, occurrence: tuple):
    if draw.fixed is not None:
        return draw.fixed
    return draws.value(task, draw.key, occurrence, draw.dist, draw.integer)


def _llm(step, base: tuple, state: _TaskState, draws: BlockDraws) -> bool:
    """One llm step: attempts, retries and escalation; no simulated time passes (yet)."""
    task = state.task
    prompt = _value(draws, task, step.prompt, base)
    input_tokens = state.head_tokens + prompt
    if step.full_history:
        input_tokens += state.transcript_tokens
    output_draw = step.output
    fixed_output = output_draw.fixed
    for rung, model in enumerate(step.ladder):
        state.calls += 1
        p = model.fail_probability
        for attempt in range(step.max_attempts):
            occurrence = (*base, rung, attempt)
            if fixed_output is None:
                output = draws.value(task, output_draw.key, occurrence, output_draw.dist, True)
            else:
                output = fixed_output
            state.attempts += 1
            state.input_tokens += input_tokens
            state.output_tokens += output
            state.cost_usd += model.attempt_cost_usd(input_tokens, output)
            if p and draws.uniform(task, step.fail_key, occurrence) < p:
                continue
            state.transcript_tokens += prompt + output
            return True
    return False
