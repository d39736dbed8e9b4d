"""From traced calls to evidence: each traced task as a conversation shape, and what it really cost.

Real traces record what each model call sent and wrote, not how many tokens a tool's result or a user's
message added to the conversation. Those are inferred from the growth of the next call's input: with a
conversation that is re-sent whole, a call's input is the previous call's input plus the previous call's
visible output plus whatever joined the conversation in between. :func:`task_evidence` walks one task's
calls in order and keeps, with costsim's own accounting (:mod:`sim.engine.rules.context`), the tokens a
simulated call would send, so that the shape it writes sends exactly the traced inputs again:

* a model call that re-sends the same input on the same model after one that failed is a **retry**: the
  failed attempt is counted (``!N`` on the event), not made an event of its own;
* growth before a model call is the **result of the tool calls** since the previous call (shared
  equally when there were several), or, when there was none, a **user turn** (or any message the agent
  inserted: the trace cannot tell them apart, and they cost the same);
* the first call's growth is its **prompt**: the user's request and the agent's instructions, above the
  system prompt that every task shares (the least first input of all tasks);
* a call whose input is *smaller* than the conversation so far did not carry it (a call with its own
  short context, or a conversation cut to fit): it becomes a ``history: none`` call with its input as
  its prompt.

Each task's actual bill (its calls priced by the catalog, cached tokens at the cache price) comes with
it, for comparing a forecast with what happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sim.core.errors import CostsimError
from sim.core.pricing import Catalog
from sim.spec.conversation import Shape, ShapeEvent

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


@dataclass(frozen=True)
class TaskActual:
    """What one traced task did and cost, from its spans."""

    cost_usd: float
    calls: int  # model calls (a retry is an attempt of the same call)
    attempts: int  # model-call spans
    input_tokens: int
    output_tokens: int
    tool_calls: int
    success: bool


@dataclass(frozen=True)
class TaskEvidence:
    task: str
    shape: Shape
    actual: TaskActual
    first_input_tokens: int
    cache_read_tokens: int
    billed_failures: int  # failed attempts that were billed (they wrote output)
    unbilled_errors: int  # errored attempts with no usage (the provider answered nothing)


def name_of(text: str) -> str:
    """``text`` as a role or tool name of a workflow (letters, digits, ``_`` and ``-``)."""
    name = _UNSAFE.sub("_", text)
    return name if name[:1].isalpha() or name[:1] == "_" else f"_{name}"


def roles_by_model(tasks: dict[str, list]) -> dict[str, str]:
    """Model ref -> role: ``main`` for the model with the most calls, the model's own name for the rest."""
    counts: dict[str, int] = {}
    for calls in tasks.values():
        for call in calls:
            if call.kind == "llm" and call.model:
                counts[call.model] = counts.get(call.model, 0) + 1
    ranked = sorted(counts, key=lambda ref: (-counts[ref], ref))
    roles: dict[str, str] = {}
    for index, ref in enumerate(ranked):
        role = "main" if index == 0 else name_of(ref.split(":", 1)[-1])
        while role in roles.values():
            role += "_"
        roles[ref] = role
    return roles


def price_calls(calls: list, catalog: Catalog) -> float:
    """What the traced calls cost by the catalog (each attempt that recorded usage)."""
    total = 0.0
    for call in calls:
        if call.kind != "llm" or not (call.input_tokens or call.output_tokens):
            continue
        rates = catalog.resolve(call.model)
        cached = min(call.cache_read_tokens + call.cache_write_tokens, call.input_tokens)
        read = min(call.cache_read_tokens, cached)
        total += rates.attempt_cost_usd(call.input_tokens, call.output_tokens, read, cached - read)
    return total


def task_evidence(task: str, calls: list, roles: dict[str, str], system_tokens: int,
                  catalog: Catalog) -> TaskEvidence:
    """One task's shape (see the module's text) and its actual bill."""
    events: list[ShapeEvent] = []
    transcript = 0  # what a full-history call carries, by costsim's accounting
    pending_tools: list[tuple[str, float, int]] = []  # (name, latency_s, failed attempts) since the last call
    last_llm = None  # the last model-call span (attempt), to tell retries
    last_event_index = -1
    billed_failures = unbilled_errors = attempts = 0
    tool_failures: dict[str, int] = {}
    for call in calls:
        if call.kind == "tool":
            name = name_of(call.tool or call.name)
            if call.error:
                tool_failures[name] = tool_failures.get(name, 0) + 1
                continue
            pending_tools.append((name, max(call.end_s - call.start_s, 0.0), tool_failures.pop(name, 0)))
            continue
        attempts += 1
        if call.error and not (call.input_tokens or call.output_tokens):
            unbilled_errors += 1  # the provider answered nothing; the next attempt is the call
            continue
        visible = max(call.output_tokens - call.reasoning_tokens, 0)
        retry = (last_llm is not None and last_llm.error and not pending_tools and call.model == last_llm.model
                 and call.input_tokens == last_llm.input_tokens and last_event_index >= 0)
        if retry:
            old = events[last_event_index]
            transcript += visible - old.size
            events[last_event_index] = ShapeEvent("llm", old.label, visible, old.prompt, old.history, 0.0,
                                                  old.failed_attempts + 1)
            billed_failures += 1
            last_llm = call
            continue
        role = roles[call.model]
        if not events or all(event.kind != "llm" for event in events):
            prompt = call.input_tokens - system_tokens - transcript
            history = "full"
            if prompt < 0:
                prompt, history = max(call.input_tokens - system_tokens, 0), "none"
            _add_tools(events, pending_tools, 0)
        else:
            growth = call.input_tokens - system_tokens - transcript
            prompt, history = 0, "full"
            if growth < 0:  # the call did not carry the whole conversation
                _add_tools(events, pending_tools, 0)
                prompt, history = max(call.input_tokens - system_tokens, 0), "none"
            elif pending_tools:
                transcript += _add_tools(events, pending_tools, growth)
            elif growth > 0:
                events.append(ShapeEvent("user", "user", growth))
                transcript += growth
        pending_tools = []
        events.append(ShapeEvent("llm", role, visible, prompt, history))
        last_event_index = len(events) - 1
        transcript += prompt + visible
        last_llm = call
    _add_tools(events, pending_tools, 0)
    failed = last_llm is not None and last_llm.error
    if failed and last_event_index >= 0:  # the task ended on a failed attempt: it never succeeded
        old = events[last_event_index]
        events[last_event_index] = ShapeEvent("llm", old.label, old.size, old.prompt, old.history, 0.0,
                                              old.failed_attempts + 1)
        billed_failures += 1
    if not any(event.kind == "llm" for event in events):
        raise CostsimError(f"{calls[0].where}: task {task} has no model call with token counts")
    llm = [call for call in calls if call.kind == "llm"]
    first = next(call for call in llm if call.input_tokens or call.output_tokens)
    actual = TaskActual(
        cost_usd=price_calls(calls, catalog),
        calls=sum(1 for event in events if event.kind == "llm"),
        attempts=attempts,
        input_tokens=sum(call.input_tokens for call in llm),
        output_tokens=sum(call.output_tokens for call in llm),
        tool_calls=sum(1 for call in calls if call.kind == "tool"),
        success=not failed,
    )
    return TaskEvidence(task, Shape(tuple(events), failed), actual, first.input_tokens,
                        sum(call.cache_read_tokens for call in llm), billed_failures, unbilled_errors)


def _add_tools(events: list, pending: list, growth: int) -> int:
    """Append the pending tool calls with ``growth`` tokens shared among them; return what they added."""
    if not pending:
        return 0
    share, extra = divmod(max(growth, 0), len(pending))
    for index, (name, latency_s, failures) in enumerate(pending):
        tokens = share + (extra if index == len(pending) - 1 else 0)
        events.append(ShapeEvent("tool", name, tokens, 0, "full", round(latency_s, 3), failures))
    return max(growth, 0)


def system_tokens_of(first_inputs: list[int]) -> int:
    """The system prompt every task shares, as far as traces tell: the smallest first input."""
    return int(min(first_inputs)) if first_inputs else 0


def actual_columns(evidence: list[TaskEvidence]) -> dict[str, np.ndarray]:
    """The actual per-task figures as arrays, for statistics."""
    return {
        "cost_usd": np.array([e.actual.cost_usd for e in evidence]),
        "calls": np.array([e.actual.calls for e in evidence], dtype=float),
        "input_tokens": np.array([e.actual.input_tokens for e in evidence], dtype=float),
        "output_tokens": np.array([e.actual.output_tokens for e in evidence], dtype=float),
        "success": np.array([e.actual.success for e in evidence], dtype=float),
    }
