"""Recorded conversation shapes: the events of one traced task, as a ``conversation`` step writes them.

A ``conversation`` step holds one *shape* per traced task and draws one of them, whole, for every
simulated task. A shape keeps what parametric steps cannot: calls whose sizes depend on their place in
the conversation, long conversations that also carry long tool results, user turns between tool calls.
Failures and retries stay parametric (the step's ``fail`` and ``tool_fail``), so that a retry policy or
a model with another failure rate can be tried on the same conversations.

A shape is a line of events separated by spaces, in the order they happened:

* ``llm:ROLE:OUT`` a model call by the role's model that writes ``OUT`` tokens; its input is the whole
  conversation so far. ``llm:ROLE:OUT:PROMPT`` adds ``PROMPT`` tokens of its own first (instructions
  the agent inserts); ``llm:ROLE:OUT:PROMPT:none`` sends only the system prompt and ``PROMPT`` (a call
  that does not carry the conversation: a classifier, a summary after the context was cut).
* ``tool:NAME:RESULT:LATENCY_S`` a tool call whose result adds ``RESULT`` tokens and takes
  ``LATENCY_S`` seconds.
* ``user:TOKENS`` a message from the user that adds ``TOKENS`` tokens.

Two marks record what the traces showed about failures, for refitting the failure rates when the
evidence is resampled; the simulation ignores them: ``!N`` after an event counts its failed attempts
before the one that worked, and a last event ``failed`` says the task ended on an attempt that failed
(the event before it never succeeded).

>>> parse_shape("llm:main:120:900 tool:search:1500:0.8 user:40 llm:main:300!1")[1]
ShapeEvent(kind='tool', label='search', size=1500, prompt=0, history='full', latency_s=0.8, failed_attempts=0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Tokens of one event and the longest shape: far beyond any real conversation, small enough to refuse a
#: file that could not come from one.
SHAPE_TOKEN_CEILING = 10**7
SHAPE_EVENTS_CEILING = 10_000

_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
_INT = r"\d+"
_FAILS = r"(?:!(\d+))?"
_LLM = re.compile(rf"llm:({_NAME}):({_INT})(?::({_INT}))?(?::(full|none))?{_FAILS}")
_TOOL = re.compile(rf"tool:({_NAME}):({_INT})(?::(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))?{_FAILS}")
_USER = re.compile(rf"user:({_INT})")


@dataclass(frozen=True, slots=True)
class ShapeEvent:
    """One event of a shape. ``size`` is the output of a call, the result of a tool, or the user's tokens."""

    kind: str  # llm | tool | user
    label: str  # the role of a call, the name of a tool, "user"
    size: int
    prompt: int = 0
    history: str = "full"
    latency_s: float = 0.0
    failed_attempts: int = 0

    def signature(self) -> tuple[str, str, str]:
        """What must be the same for two events to be one step: kind, role or tool, history."""
        return self.kind, self.label, self.history


@dataclass(frozen=True, slots=True)
class Shape:
    events: tuple[ShapeEvent, ...]
    failed: bool = False  # the task ended on a failed attempt


def parse_shape(text: str) -> tuple[ShapeEvent, ...]:
    """The events of a shape; ValueError naming the first event that is not one (see the module's text)."""
    return parse_shape_full(text).events


def parse_shape_full(text: str) -> Shape:
    """A shape with its ``failed`` mark."""
    words = text.split()
    failed = bool(words) and words[-1] == "failed"
    if failed:
        words = words[:-1]
    if not words:
        raise ValueError("a shape needs at least one event (llm:ROLE:OUT, tool:NAME:RESULT:LATENCY_S, user:TOKENS)")
    if len(words) > SHAPE_EVENTS_CEILING:
        raise ValueError(f"a shape has at most {SHAPE_EVENTS_CEILING:,} events, this one {len(words):,}")
    events = []
    for number, word in enumerate(words, 1):
        event = _event(word)
        if event is None:
            raise ValueError(f"event {number} {word!r} is not llm:ROLE:OUT[:PROMPT[:none]], "
                             "tool:NAME:RESULT[:LATENCY_S] or user:TOKENS")
        if max(event.size, event.prompt) > SHAPE_TOKEN_CEILING:
            raise ValueError(f"event {number} {word!r}: at most {SHAPE_TOKEN_CEILING:,} tokens an event")
        events.append(event)
    if not any(event.kind == "llm" for event in events):
        raise ValueError("a shape needs at least one model call (llm:ROLE:OUT)")
    return Shape(tuple(events), failed)


def _event(word: str) -> ShapeEvent | None:
    if match := _LLM.fullmatch(word):
        role, out, prompt, history, fails = match.groups()
        return ShapeEvent("llm", role, int(out), int(prompt or 0), history or "full", 0.0, int(fails or 0))
    if match := _TOOL.fullmatch(word):
        name, result, latency, fails = match.groups()
        return ShapeEvent("tool", name, int(result), 0, "full", float(latency or 0.0), int(fails or 0))
    if match := _USER.fullmatch(word):
        return ShapeEvent("user", "user", int(match.group(1)))
    return None


def format_event(event: ShapeEvent) -> str:
    """The text of one event (the inverse of parsing it)."""
    fails = f"!{event.failed_attempts}" if event.failed_attempts else ""
    if event.kind == "user":
        return f"user:{event.size}"
    if event.kind == "tool":
        return f"tool:{event.label}:{event.size}:{event.latency_s:g}{fails}"
    text = f"llm:{event.label}:{event.size}"
    if event.prompt or event.history == "none":
        text += f":{event.prompt}"
    if event.history == "none":
        text += ":none"
    return text + fails


def format_shape(shape: Shape) -> str:
    """The text of a shape (the inverse of :func:`parse_shape_full`)."""
    return " ".join([*(format_event(event) for event in shape.events), *(["failed"] if shape.failed else [])])
