"""The ``tool`` step: a tool call (search, database, API). Each attempt takes its latency, costs the
tool's price and may error; a successful attempt's result joins the conversation. Errors are retried
under the step's retry policy (with its backoff); when every attempt errors the run of the task fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.randomness import source_key
from sim.core.records import FAILURE_CODE
from sim.engine.kinds.base import StepKind
from sim.engine.plan import Draw, RetryWait

_TOOL_ERROR = FAILURE_CODE["tool_error"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    kind = "tool"
    id: str
    tool: str
    result: Draw
    latency: Draw
    fail_key: int
    fail_probability: float
    max_attempts: int
    cost_usd: float
    retry_wait: RetryWait


def compile_tool(compiler, step, source: str) -> ToolCall:
    attempts, _, wait, _ = compiler.retry(step, source)
    return ToolCall(step.id, step.tool, Draw.of(f"{source}.result", step.result, integer=True),
                    Draw.of(f"{source}.latency", step.latency, integer=False), source_key(f"{source}.fail"),
                    step.fail, attempts, step.cost_usd, wait)


def run_des(runner, step: ToolCall, base: tuple, state):
    for attempt in range(step.max_attempts):
        occurrence = (*base, attempt)
        if runner.over_budget(state):
            return False
        if attempt:
            u = runner.draws.uniform(state.offset, step.retry_wait.key, occurrence)
            yield from runner.wait(state, step.retry_wait.wait_s(attempt, u))
        start_s = state.clock
        yield from runner.wait(state, runner.value(state, step.latency, occurrence))
        state.tool_calls += 1
        state.cost_usd += step.cost_usd
        failed = bool(step.fail_probability) and (
            runner.draws.uniform(state.offset, step.fail_key, occurrence) < step.fail_probability)
        result = 0 if failed else runner.value(state, step.result, occurrence)
        if runner.world.trace is not None:
            runner.world.trace.append((
                runner.plan.alternative, runner.replication, state.task_id, state.run, step.id, "execute_tool",
                step.tool, attempt + 1, attempt, start_s, state.clock, state.clock - start_s, runner.plan.task_type,
                0, result, 0, 0, 0, False, 1, "tool_error" if failed else "ok", step.cost_usd, False))
        if not failed:
            state.transcript_tokens += result
            return True
    state.failure = _TOOL_ERROR
    return False


def run_fast(block, step: ToolCall, base: tuple, idx: np.ndarray) -> np.ndarray:
    done = np.zeros(len(idx), dtype=bool)
    pending = np.arange(len(idx))
    for attempt in range(step.max_attempts):
        if not pending.size:
            break
        occurrence = (*base, attempt)
        pending = pending[~block.over_budget(idx[pending])]
        current = idx[pending]
        cur = block.at(current)
        if attempt:
            u = block.uniform(step.retry_wait.key, occurrence, current)
            block.wait(current, step.retry_wait.wait_s(attempt, u))
        block.wait(current, block.values(step.latency, occurrence, current))
        block.tool_calls[cur] += 1
        if step.cost_usd:
            block.cost_usd[cur] += step.cost_usd
        if step.fail_probability:
            failed = block.uniform(step.fail_key, occurrence, current) < step.fail_probability
        else:
            failed = np.zeros(len(current), dtype=bool)
        good = ~failed
        block.transcript[current[good]] += block.values(step.result, occurrence, current[good])
        done[pending[good]] = True
        pending = pending[failed]
    block.failure[idx[pending]] = _TOOL_ERROR
    return done


KIND = StepKind("tool", compile_tool, run_des, run_fast, columns=("tool_calls",))
