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
  system prompt that every call shares (the least input of any call);
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

#: The shortest input a provider caches, for counting the calls that could read a cache (OpenAI's and
#: Anthropic's common minimum, 1,024 tokens: platform.openai.com/docs/guides/prompt-caching and
#: docs.anthropic.com/en/docs/build-with-claude/prompt-caching, read 2026-12-02).
CACHE_MIN_PREFIX_TOKENS = 1024
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
    #: By span name (a costsim trace's step id; an OTel span's "chat MODEL" or "execute_tool NAME"):
    #: ``("output", name)`` -> visible outputs of its calls, ``("result", name)`` / ``("latency_s", name)``
    #: -> its tools' results and seconds, ``("attempts", name)`` -> [failed, attempts].
    by_name: dict = None
    #: Model calls that could have read the conversation so far from a prompt cache (not a task's first
    #: call, input of at least :data:`CACHE_MIN_PREFIX_TOKENS`), and how many of them did.
    cache_eligible: int = 0
    cache_hits: int = 0


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
    by_name: dict = {}

    def note(kind: str, name: str, value) -> None:
        by_name.setdefault((kind, name), []).append(value)

    def attempt(name: str, failed: bool) -> None:
        counts = by_name.setdefault(("attempts", name), [0, 0])
        counts[0] += failed
        counts[1] += 1

    for call in calls:
        if call.kind == "tool":
            name = name_of(call.tool or call.name)
            attempt(call.name, call.error)
            latency_s = max(call.end_s - call.start_s, 0.0)
            if pending_tools and pending_tools[-1][5] and pending_tools[-1][0] == name:
                # the same tool again right after it errored: a retry, one call with a failed attempt
                failed_before = pending_tools.pop()[2] + 1
            else:
                failed_before = 0
            if not call.error:
                note("latency_s", call.name, latency_s)
            # an error the agent does not retry is still a call: the error message joins the conversation
            pending_tools.append((name, latency_s, failed_before, call.output_tokens, call.name, call.error))
            continue
        attempts += 1
        if call.error and not (call.input_tokens or call.output_tokens):
            unbilled_errors += 1  # the provider answered nothing; the next attempt is the call
            continue
        visible = max(call.output_tokens - call.reasoning_tokens, 0)
        retry = (last_llm is not None and last_llm.error and not pending_tools and call.model == last_llm.model
                 and call.input_tokens == last_llm.input_tokens and last_event_index >= 0)
        attempt(call.name, call.error)
        if retry:
            by_name[("output", call.name)][-1] = visible
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
                added = _add_tools(events, pending_tools, growth)
                for tool, event in zip(pending_tools, events[-len(pending_tools):]):
                    note("result", tool[4], event.size)
                transcript += added
                prompt = growth - added  # what the call added of its own, beyond the tools' recorded results
            elif growth > 0:
                events.append(ShapeEvent("user", "user", growth))
                transcript += growth
        pending_tools = []
        note("output", call.name, visible)
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
    later = [call for call in llm if (call.input_tokens or call.output_tokens) and call is not first
             and call.input_tokens >= CACHE_MIN_PREFIX_TOKENS]
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
                        sum(call.cache_read_tokens for call in llm), billed_failures, unbilled_errors, by_name,
                        len(later), sum(1 for call in later if call.cache_read_tokens > 0))


def evidence_of(tasks: dict[str, list], catalog: Catalog) -> tuple[list[TaskEvidence], dict[str, str], int, int]:
    """Every task's evidence, with the roles (:func:`roles_by_model`) and the system prompt
    (:func:`system_tokens_of`) they are read with: ``(evidence, roles, system_tokens, unusable)``, where
    ``unusable`` counts the tasks whose model calls have no token counts (left out)."""
    roles = roles_by_model(tasks)
    system = system_tokens_of([c.input_tokens for calls in tasks.values() for c in calls
                               if c.kind == "llm" and (c.input_tokens or c.output_tokens)])
    evidence, unusable = [], 0
    for task, calls in tasks.items():
        try:
            evidence.append(task_evidence(task, calls, roles, system, catalog))
        except CostsimError:
            unusable += 1
    return evidence, roles, system, unusable


def _add_tools(events: list, pending: list, growth: int) -> int:
    """Append the pending tool calls; return the tokens they added. Tools whose results the trace records
    (costsim's traces do) add those, when the growth holds them, and the rest of the growth is the next
    call's own prompt; otherwise the growth is shared equally among them (OpenTelemetry spans record no
    result size)."""
    if not pending:
        return 0
    growth = max(growth, 0)
    recorded = [tool[3] for tool in pending]
    if 0 < sum(recorded) <= growth:
        sizes = recorded
    else:
        share, extra = divmod(growth, len(pending))
        sizes = [share + (extra if index == len(pending) - 1 else 0) for index in range(len(pending))]
    for (name, latency_s, failures, *_), tokens in zip(pending, sizes):
        events.append(ShapeEvent("tool", name, tokens, 0, "full", round(latency_s, 3), failures))
    return sum(sizes)


def system_tokens_of(inputs: list[int]) -> int:
    """The system prompt every call of every task sends, as far as traces tell: the smallest input."""
    return int(min(inputs)) if inputs else 0


def actual_columns(evidence: list[TaskEvidence]) -> dict[str, np.ndarray]:
    """The actual per-task figures as arrays, for statistics."""
    return {
        "cost_usd": np.array([e.actual.cost_usd for e in evidence]),
        "calls": np.array([e.actual.calls for e in evidence], dtype=float),
        "input_tokens": np.array([e.actual.input_tokens for e in evidence], dtype=float),
        "output_tokens": np.array([e.actual.output_tokens for e in evidence], dtype=float),
        "success": np.array([e.actual.success for e in evidence], dtype=float),
    }
