"""The ``tool`` step: a tool call (search, database, API). Each attempt takes its latency, costs the
tool's price and may error; a successful attempt's result joins the conversation. Errors are retried
under the step's retry policy (with its backoff); when every attempt errors the run of the task fails.

The price is resolved per alternative: a ``provider_tool`` (web search, code execution, file search) at
the catalog's price for the model that calls it, else the step's ``cost_usd`` (per model, or one
number). A failed attempt is billed when ``bill_failed`` says so: by default yes for a tool of your own,
the provider's rule (:mod:`sim.core.tools`) for a provider tool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.randomness import source_key
from sim.core.records import FAILURE_CODE
from sim.core.tools import CATALOG_KEYS, failed_calls_billed
from sim.engine.kinds.base import StepKind
from sim.engine.plan import Draw, RetryWait
from sim.engine.updates import add_at

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
    bill_failed: bool = True  # a failed attempt costs cost_usd too


def compile_tool(compiler, step, source: str) -> ToolCall:
    attempts, _, wait, _ = compiler.retry(step, source)
    cost_usd, bill_failed = step.cost_usd, True if step.bill_failed is None else step.bill_failed
    if step.provider_tool is not None or isinstance(cost_usd, dict):
        models = compiler.workflow.models
        ref = compiler.role_ref(step.called_by or ("main" if "main" in models else next(iter(models))))
        cost_usd = compiler.per_model(cost_usd, ref)
        if step.provider_tool is not None and ref is not None:
            per_thousand = compiler.catalog.unit_price(ref, CATALOG_KEYS[step.provider_tool])
            if per_thousand is not None:
                cost_usd = per_thousand / 1000
            else:
                compiler.note(f"{step.id}: the catalog has no {step.provider_tool} price for {ref}; "
                              f"billed at cost_usd (${cost_usd:g} a call)")
            if step.bill_failed is None:
                bill_failed = failed_calls_billed(ref)
    return ToolCall(step.id, step.tool, Draw.of(f"{source}.result", step.result, integer=True),
                    Draw.of(f"{source}.latency", step.latency, integer=False), source_key(f"{source}.fail"),
                    step.fail, attempts, cost_usd, wait, bill_failed)


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
        failed = bool(step.fail_probability) and (
            runner.draws.uniform(state.offset, step.fail_key, occurrence) < step.fail_probability)
        billed_usd = step.cost_usd if step.bill_failed or not failed else 0.0
        state.cost_usd += billed_usd
        result = 0 if failed else runner.value(state, step.result, occurrence)
        if runner.world.trace is not None:
            runner.world.trace.append((
                runner.plan.alternative, runner.replication, state.task_id, state.run, step.id, "execute_tool",
                step.tool, attempt + 1, attempt, start_s, state.clock, state.clock - start_s, runner.plan.task_type,
                0, result, 0, 0, 0, False, 1, "tool_error" if failed else "ok", billed_usd, False))
        if not failed:
            state.transcript_tokens += result
            return True
    state.failure = _TOOL_ERROR
    return False


def run_fast(block, step: ToolCall, base: tuple, idx: np.ndarray) -> np.ndarray:
    done = np.zeros(len(idx), dtype=bool)
    pending = None  # positions in idx of the tasks still trying; None: all of them (no array to make)
    for attempt in range(step.max_attempts):
        if pending is not None and not pending.size:
            break
        occurrence = (*base, attempt)
        if block.budget is not None:
            if pending is None:
                pending = np.arange(len(idx))
            pending = pending[~block.over_budget(idx[pending])]
        current = idx if pending is None or len(pending) == len(idx) else idx[pending]  # pending: every position
        cur = block.at(current)
        if attempt:
            u = block.uniform(step.retry_wait.key, occurrence, current)
            block.wait(current, step.retry_wait.wait_s(attempt, u))
        block.wait(current, block.values(step.latency, occurrence, current))
        add_at(block.tool_calls, cur, 1)
        if step.fail_probability:
            failed = block.uniform(step.fail_key, occurrence, current) < step.fail_probability
        else:
            failed = np.zeros(len(current), dtype=bool)
        if step.cost_usd and step.bill_failed:
            add_at(block.cost_usd, cur, step.cost_usd)
        elif step.cost_usd:
            add_at(block.cost_usd, current[~failed], step.cost_usd)
        good = np.flatnonzero(~failed)
        through = current[good]
        add_at(block.transcript, through, block.values(step.result, occurrence, through))
        done[good if pending is None else pending[good]] = True
        bad = np.flatnonzero(failed)  # positions: a scattered mask indexes slower than they do
        pending = bad if pending is None else pending[bad]
    block.failure[idx if pending is None else idx[pending]] = _TOOL_ERROR  # (None here: no attempt at all)
    return done


KIND = StepKind("tool", compile_tool, run_des, run_fast, columns=("tool_calls",))
