"""Trace fixtures written by the real OpenTelemetry SDK, never typed by hand.

:func:`write_otlp` records conversations with a real ``TracerProvider`` into an ``InMemorySpanExporter``,
setting the GenAI attributes as instrumentation libraries set them, then encodes the finished spans with
the OTLP exporter's own encoder (``encode_spans``) and writes OTLP/JSON with protobuf's ``MessageToDict``,
turning trace and span ids from protobuf's base64 into the hex OTLP/JSON requires (the Collector writes
hex). One request per line is what the Collector's file exporter writes; ``style="document"`` writes one
pretty-printed request.

A conversation is a list of events, played one after the other from its start time:

* ``("llm", model_ref, input_tokens, output_tokens, error)`` and optionally a sixth item, a dict of more
  attributes (``{"gen_ai.usage.cache_read.input_tokens": 512}``; a ``gen_ai.response.model`` there
  replaces the default, the request model). ``model_ref`` is ``provider:model`` with the provider as
  OpenTelemetry names it (``openai``, ``gcp.gemini``, ``aws.bedrock``); a token count of None is not
  recorded (as a failed call records none). The call lasts :func:`llm_seconds` of its output.
* ``("tool", name, seconds, error)``: a tool execution.
* ``("wait", seconds)``: time with no span (the person typing their next message).
* ``("span", name, seconds)``: a span that is not a GenAI span (an HTTP client span, say).

:func:`agent_conversations` makes realistic ones: a customer-service agent over many turns.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

START_UNIX_S = 1_788_220_800  # 2026-09-01T00:00:00Z: the first conversation's start
CONVERSATION_GAP_S = 3600  # conversation i starts i hours after the first
EVENT_GAP_S = 0.25  # between one event's end and the next one's start
LLM_BASE_S, LLM_TOKENS_PER_S = 0.5, 80  # a model call lasts 0.5 s plus its output at 80 tokens/s
BATCH_SPANS = 512  # spans per request: the SDK's BatchSpanProcessor exports at most 512 at a time


def llm_seconds(output_tokens: int | None) -> float:
    """How long a model call lasts in these fixtures."""
    return LLM_BASE_S + (output_tokens or 0) / LLM_TOKENS_PER_S


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def schedule(conversation: list[tuple], start_s: float) -> list[tuple[float, float]]:
    """(start, end) in seconds since the epoch of each event of ``conversation`` that is a span."""
    times, clock = [], start_s
    for event in conversation:
        kind = event[0]
        if kind == "wait":
            clock += event[1]
            continue
        seconds = llm_seconds(event[3]) if kind == "llm" else event[2]
        times.append((clock, clock + seconds))
        clock += seconds + EVENT_GAP_S
    return times


class SeededIds(IdGenerator):
    """Trace and span ids from a seeded generator (the SDK's default draws from the global ``random``), so
    that the same conversations and seed give the same bytes."""

    def __init__(self, seed: int | list[int]) -> None:
        self.rng = np.random.default_rng(seed)

    def generate_span_id(self) -> int:
        return int(self.rng.integers(1, 2**64, dtype=np.uint64))

    def generate_trace_id(self) -> int:
        return int(self.rng.integers(1, 2**64, dtype=np.uint64)) << 64 | int(self.rng.integers(0, 2**64,
                                                                                               dtype=np.uint64))

    def is_trace_id_random(self) -> bool:
        return True


def record_spans(conversations: list[list[tuple]], *, older_names: bool = False, agent_span: bool = True,
                 start_unix_s: float = START_UNIX_S, conversation_ids: list[str] | None = None,
                 seed: int | list[int] = 0) -> list:
    """The conversations recorded with a real tracer: the SDK's finished ``ReadableSpan`` objects.

    Each conversation is one trace: an ``invoke_agent`` span around its calls (``agent_span``), else one
    trace per conversation still, the first span its root. ``conversation_ids``: each conversation's
    ``gen_ai.conversation.id`` (default ``conv-000000``, ``conv-000001``, ...; None records none).
    ``seed`` draws the trace and span ids. ``older_names`` writes the attribute names of
    the older conventions (``gen_ai.system``, ``gen_ai.usage.prompt_tokens`` / ``completion_tokens``).
    """
    exporter = InMemorySpanExporter()
    resource = Resource.create({"service.name": "support-agent"}).attributes  # the SDK's own, less its random
    resource = Resource({key: value for key, value in resource.items() if key != "service.instance.id"})  # uuid
    provider = TracerProvider(resource=resource, id_generator=SeededIds(seed))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("costsim.tests.otel_traces", "1.0")
    provider_key = "gen_ai.system" if older_names else "gen_ai.provider.name"
    input_key = "gen_ai.usage.prompt_tokens" if older_names else "gen_ai.usage.input_tokens"
    output_key = "gen_ai.usage.completion_tokens" if older_names else "gen_ai.usage.output_tokens"
    for number, conversation in enumerate(conversations):
        start_s = start_unix_s + number * CONVERSATION_GAP_S
        conversation_id = conversation_ids[number] if conversation_ids else f"conv-{number:06d}"
        in_conversation = {} if conversation_id is None else {"gen_ai.conversation.id": conversation_id}
        times = schedule(conversation, start_s)
        context, root = None, None
        if agent_span:
            root = tracer.start_span("invoke_agent support-agent", kind=SpanKind.INTERNAL, start_time=_ns(start_s),
                                     attributes={"gen_ai.operation.name": "invoke_agent",
                                                 "gen_ai.agent.name": "support-agent", **in_conversation})
            context = trace.set_span_in_context(root)
        spans = iter(times)
        for event in conversation:
            kind = event[0]
            if kind == "wait":
                continue
            begin, end = next(spans)
            if kind == "llm":
                _, model_ref, input_tokens, output_tokens, error, *more = event
                provider_name, _, model = model_ref.partition(":") if ":" in model_ref else ("", "", model_ref)
                attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                              "gen_ai.response.model": model, **in_conversation}
                if provider_name:
                    attributes[provider_key] = provider_name
                if input_tokens is not None:
                    attributes[input_key] = input_tokens
                if output_tokens is not None:
                    attributes[output_key] = output_tokens
                attributes.update(more[0] if more else {})
                span = tracer.start_span(f"chat {model}", context, kind=SpanKind.CLIENT, attributes=attributes,
                                         start_time=_ns(begin))
                error_type = "openai.InternalServerError"
            elif kind == "tool":
                _, name, _, error = event
                span = tracer.start_span(f"execute_tool {name}", context, kind=SpanKind.INTERNAL, start_time=_ns(begin),
                                         attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                                                     "gen_ai.tool.type": "function", **in_conversation})
                error_type = "ToolError"
            elif kind == "span":
                span = tracer.start_span(event[1], context, kind=SpanKind.CLIENT, start_time=_ns(begin),
                                         attributes={"http.request.method": "POST", "server.address": "example.com"})
                error = False
            else:
                raise ValueError(f"unknown event {event!r}")
            if error:
                span.set_attribute("error.type", error_type)
                span.set_status(Status(StatusCode.ERROR, error_type))
            span.end(end_time=_ns(end))
            if context is None:  # no agent span: the first span is the root of the conversation's trace
                context = trace.set_span_in_context(span)
        if root is not None:
            root.end(end_time=_ns(times[-1][1] if times else start_s))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def _hex(value: str) -> str:
    return base64.b64decode(value).hex()


def otlp_requests(spans: list, *, spans_per_request: int = BATCH_SPANS, integer_enums: bool = True) -> list[dict]:
    """OTLP/JSON export requests of ``spans``, ``spans_per_request`` at a time, as the Collector writes them:
    the SDK's protobuf encoding turned into JSON with hex ids (and enums as integers unless
    ``integer_enums`` is False: ``"STATUS_CODE_ERROR"``)."""
    requests = []
    for first in range(0, len(spans), spans_per_request):
        message = encode_spans(spans[first:first + spans_per_request])
        request = MessageToDict(message, use_integers_for_enums=integer_enums)
        for resource_spans in request["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                for span in scope_spans["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = _hex(span[key])
                    for link in span.get("links", ()):
                        link["traceId"], link["spanId"] = _hex(link["traceId"]), _hex(link["spanId"])
        requests.append(request)
    return requests


def write_otlp(path: Path | str, conversations: list[list[tuple]], *, style: str = "lines",
               spans_per_request: int = BATCH_SPANS, integer_enums: bool = True, **record) -> Path:
    """Record ``conversations`` (:func:`record_spans`, which takes ``record``'s keywords) and write them to
    ``path`` as OTLP/JSON: ``style="lines"``, one request per line (the Collector's file exporter), or
    ``"document"``, one pretty-printed request with every span."""
    spans = record_spans(conversations, **record)
    path = Path(path)
    if style == "lines":
        requests = otlp_requests(spans, spans_per_request=spans_per_request, integer_enums=integer_enums)
        path.write_text("".join(json.dumps(request, separators=(",", ":")) + "\n" for request in requests))
    elif style == "document":
        (request,) = otlp_requests(spans, spans_per_request=max(len(spans), 1), integer_enums=integer_enums)
        path.write_text(json.dumps(request, indent=2) + "\n")
    else:
        raise ValueError(f"style {style!r}: 'lines' or 'document'")
    return path


# -- a realistic agent -------------------------------------------------------------------------------------

#: The true parameters of :func:`agent_conversations`' customer-service agent.
AGENT_TRUTH = {
    "model": "openai:gpt-4.1-mini",
    "system_tokens": 1200,                                   # the system prompt, in every call's input
    "request_tokens": {"median": 150, "sigma": 0.6},         # the customer's first message (lognormal)
    "model_calls": {"min": 2, "max": 40, "extra_median": 3, "extra_sigma": 1.0},  # 2 + floor(lognormal), capped
    "output_tokens": {"median": 120, "sigma": 0.7},          # each successful call's output (lognormal)
    "tool_probability": 0.65,                                # after a call that is not the last: a tool, else the user
    "tools": {"search": {"share": 0.7, "latency_median_s": 0.8, "latency_sigma": 0.5,
                         "result_median": 700, "result_sigma": 0.6},
              "lookup_order": {"share": 0.3, "latency_median_s": 0.3, "latency_sigma": 0.4,
                               "result_median": 220, "result_sigma": 0.4}},
    "tool_error_probability": 0.05,                          # a failed tool returns an error message instead
    "tool_error_tokens": 30,
    "user_tokens": {"median": 40, "sigma": 0.5},             # a later customer message (lognormal)
    "user_wait_s": {"median": 20, "sigma": 0.8},             # the customer typing it (lognormal)
    "call_error_probability": 0.04,                          # a failed call records no usage and is retried
    "retry_wait_s": 1.0,
    "max_attempts": 5,
    "cache_read_probability": 0.5,                           # a call reads the previous call's input from cache
    "cache_min_tokens": 1024, "cache_block_tokens": 128,     # ... in whole blocks, once it is long enough
}


def _lognormal(rng: np.random.Generator, median: float, sigma: float) -> float:
    return float(rng.lognormal(math.log(median), sigma))


def agent_conversations(n: int, seed: int) -> tuple[list[list[tuple]], dict]:
    """``n`` conversations of a multi-turn customer-service agent, and the truth behind them.

    Every call's input is the previous call's input plus its output plus what was added in between: a
    tool's result (``search`` or ``lookup_order``) or the customer's next message (which shows only as
    that growth, after a ``wait``). The first call's input is the system prompt and the request. A call
    fails now and then (no usage recorded) and is retried with the same input; some calls read the
    previous call's input from the prompt cache. Lengths differ a lot: 2 to 40 model calls, heavy-tailed.

    Returns ``(conversations, truth)``: :data:`AGENT_TRUTH` and, per conversation, the realised model calls
    (successful), attempts, tool calls and user turns, under ``"per_conversation"``.
    """
    truth = AGENT_TRUTH
    rng = np.random.default_rng(seed)
    tools = list(truth["tools"])
    shares = [truth["tools"][name]["share"] for name in tools]
    conversations, realised = [], []
    for _ in range(n):
        calls_spec = truth["model_calls"]
        calls = min(calls_spec["max"], calls_spec["min"] + int(
            _lognormal(rng, calls_spec["extra_median"], calls_spec["extra_sigma"])))
        input_tokens = truth["system_tokens"] + round(_lognormal(rng, **truth["request_tokens"]))
        events, attempts, tool_calls, user_turns, previous_input = [], 0, 0, 0, 0
        for call in range(calls):
            cache_read = 0
            if previous_input >= truth["cache_min_tokens"] and rng.random() < truth["cache_read_probability"]:
                cache_read = previous_input // truth["cache_block_tokens"] * truth["cache_block_tokens"]
            extra = {"gen_ai.usage.cache_read.input_tokens": cache_read} if cache_read else {}
            for attempt in range(truth["max_attempts"]):
                attempts += 1
                if attempt + 1 < truth["max_attempts"] and rng.random() < truth["call_error_probability"]:
                    events.append(("llm", truth["model"], None, None, True))
                    events.append(("wait", truth["retry_wait_s"]))
                    continue
                output_tokens = round(_lognormal(rng, **truth["output_tokens"]))
                events.append(("llm", truth["model"], input_tokens, output_tokens, False, extra))
                break
            previous_input = input_tokens
            input_tokens += output_tokens
            if call == calls - 1:
                break
            if rng.random() < truth["tool_probability"]:
                name = tools[int(rng.choice(len(tools), p=shares))]
                spec = truth["tools"][name]
                seconds = _lognormal(rng, spec["latency_median_s"], spec["latency_sigma"])
                failed = bool(rng.random() < truth["tool_error_probability"])
                events.append(("tool", name, seconds, failed))
                tool_calls += 1
                input_tokens += truth["tool_error_tokens"] if failed else round(
                    _lognormal(rng, spec["result_median"], spec["result_sigma"]))
            else:
                events.append(("wait", _lognormal(rng, **truth["user_wait_s"])))
                user_turns += 1
                input_tokens += round(_lognormal(rng, **truth["user_tokens"]))
        conversations.append(events)
        realised.append({"model_calls": calls, "attempts": attempts, "tool_calls": tool_calls,
                         "user_turns": user_turns})
    return conversations, {**truth, "per_conversation": realised}


def span_count(conversations: list[list[tuple]], agent_span: bool = True) -> int:
    """How many spans :func:`record_spans` makes of ``conversations``."""
    return sum(sum(event[0] != "wait" for event in events) + agent_span for events in conversations)
