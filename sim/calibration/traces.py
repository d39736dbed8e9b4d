"""Agent traces read into one table: per task, its model calls and tool executions in costsim's units.

:func:`read_traces` reads three formats, told apart by what the file holds (Parquet by its magic bytes
``PAR1``, never by the extension):

``otlp-json``
    What the OpenTelemetry Collector's file exporter writes: one OTLP export request
    (``{"resourceSpans": [...]}``) per line, or one such request as a single (possibly pretty-printed)
    document. The OTLP/JSON encoding applies: camelCase keys, trace and span ids as hex strings, 64-bit
    integers as decimal strings or numbers (``"intValue": "123"``, ``"startTimeUnixNano": "17..."``),
    attributes as ``[{"key": ..., "value": {"stringValue" | "intValue" | "doubleValue" | "boolValue": ...}}]``,
    enums as integers (``"status": {"code": 2}``; the names, ``"STATUS_CODE_ERROR"``, are read too).
    The spans' meaning follows the OpenTelemetry GenAI semantic conventions: a span whose
    ``gen_ai.operation.name`` is ``chat``, ``text_completion`` or ``generate_content`` is a model call;
    ``execute_tool`` (with ``gen_ai.tool.name``) is a tool execution; ``invoke_agent`` spans only contain
    the others and are passed over. Token counts come from ``gen_ai.usage.*`` (or the older
    ``gen_ai.usage.prompt_tokens`` / ``completion_tokens``); the provider from ``gen_ai.provider.name``
    (or the older ``gen_ai.system``), mapped to the price catalog's provider ids by :data:`PROVIDER_IDS`.
``costsim-jsonl`` and ``costsim-parquet``
    ``costsim run --trace FILE`` output: one row per attempt with the fields of
    ``sim.core.records.TRACE_FIELDS``. A task is ``alternative/replication/task``; a file with several
    alternatives gives only ``baseline`` (or the first alternative when there is no baseline), since one
    alternative is calibrated at a time.

Nothing is dropped in silence: every span or row that cannot be used is counted, by reason, in
:attr:`TraceSet.skipped` (a GenAI span read twice, with the same trace and span id, counts once and once
as a duplicate). A file that cannot be read at all raises :class:`TraceError` with one line that
names the file and line (``trace.jsonl:12: ...``).

Token counts keep the conventions' meaning, which is costsim's too: ``input_tokens`` includes the cached
tokens (``cache_read_tokens`` is a part of it) and ``output_tokens`` includes the reasoning tokens. A
model call that failed (status ERROR or an ``error.type``) usually records no usage, since the provider
answered nothing: it is kept, with zero tokens, because how often calls fail is what a calibration needs
to know. A model call that succeeded without token counts cannot be priced and is skipped.

Speed: one ``json.loads`` per line (a Collector line holds a whole batch of spans), one small dict of
attributes per span, and the garbage collector paused while reading (``benchmarks/bench_calibrate.py``
times 100,000 spans).
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.core.errors import CostsimError, Parameter, ParameterError

MODEL_CALL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
"""Values of ``gen_ai.operation.name`` that are one call to a model."""
TOOL_OPERATION = "execute_tool"
CONTAINER_OPERATIONS = frozenset({"invoke_agent", "invoke_workflow"})
"""Spans that hold a task's other spans and carry no cost of their own: passed over, not counted. Other
operations of the conventions (``embeddings``, ``retrieval``, ``plan``, the memory operations) are counted
in skipped under their name. (The values of ``gen_ai.operation.name``: open-telemetry/
semantic-conventions-genai, model/gen-ai/registry.yaml, read 2026-12-02.)"""

#: ``gen_ai.provider.name`` (and the older ``gen_ai.system``) values -> genai-prices provider ids, so that
#: a traced call's model reads as costsim's ``provider:model``. Left side: the well-known values of
#: ``gen_ai.provider.name`` in open-telemetry/semantic-conventions-genai, model/gen-ai/registry.yaml, and
#: the deprecated ``gen_ai.system`` values in open-telemetry/semantic-conventions,
#: model/gen-ai/deprecated/registry-deprecated.yaml (both read 2026-12-02). Right side: the provider ids of
#: the genai-prices catalog bundled with genai-prices 0.2.3 (read 2026-12-02). A value not listed here
#: (``ibm.watsonx.ai``, a framework's own name) is kept as recorded.
PROVIDER_IDS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gcp.gen_ai": "google", "gcp.vertex_ai": "google", "gcp.gemini": "google",
    "vertex_ai": "google", "gemini": "google", "google": "google",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure", "az.ai.openai": "azure", "azure.ai.inference": "azure", "az.ai.inference": "azure",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "deepseek": "deepseek",
    "groq": "groq",
    "x_ai": "x-ai", "xai": "x-ai",
    "mistral_ai": "mistral",
    "moonshot_ai": "moonshotai",
}

#: The fields of a costsim trace row that this reader uses (a subset of ``sim.core.records.TRACE_FIELDS``,
#: which the tests hold it to; spelled out here so that reading a trace does not import NumPy).
COSTSIM_FIELDS = ("alternative", "replication", "task", "step", "operation", "model", "start_s", "end_s",
                  "prompt_tokens", "completion_tokens", "reasoning_tokens", "cache_read_tokens",
                  "cache_write_tokens", "outcome_status")
_COSTSIM_KEYS = frozenset(COSTSIM_FIELDS)
_COSTSIM_COUNTS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cache_read_tokens",
                   "cache_write_tokens")

FORMATS = ("otlp-json", "costsim-jsonl", "costsim-parquet")
GROUP_BY = ("trace", "conversation")

# Reasons in TraceSet.skipped.
NOT_GENAI = "not a GenAI span"
NO_TOKENS = "model call without token counts"
NO_MODEL_CALL = "tool span in a task with no model call"
NO_CONVERSATION = "span without gen_ai.conversation.id"
OTHER_ALTERNATIVE = "other alternative"
DUPLICATE = "duplicate span (a trace and span id read before)"


class TraceError(CostsimError):
    """A trace file that cannot be read: one line, ``FILE:LINE: what is wrong`` (or ``FILE: ...``)."""


@dataclass(frozen=True, slots=True)
class TracedCall:
    """One model call or tool execution of a traced task, in the units costsim uses."""

    kind: str
    """``"llm"`` or ``"tool"``."""
    start_s: float
    """Seconds since the epoch (OTLP ``startTimeUnixNano`` / 1e9); costsim traces: their ``start_s``."""
    end_s: float
    model: str | None
    """``provider:model`` for model calls (``openai:gpt-4.1-mini``): the response model if recorded, else
    the request model, with the provider mapped by :data:`PROVIDER_IDS`; the bare model name when no
    provider is recorded. None for tools."""
    input_tokens: int
    """Every input token, cached ones included (``gen_ai.usage.input_tokens``, older ``prompt_tokens``)."""
    output_tokens: int
    """Every output token, reasoning included (``gen_ai.usage.output_tokens``, older ``completion_tokens``);
    for a tool, the tokens of its result when the trace records them (costsim's do; OTel's do not: 0)."""
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    error: bool
    """Status ERROR or an ``error.type`` attribute; costsim traces: ``outcome_status`` other than ``ok``."""
    tool: str | None
    """``gen_ai.tool.name`` of a tool execution; None for model calls."""
    name: str
    """The span's name (costsim traces: the step id)."""
    where: str
    """``FILE:LINE`` of the record, for messages."""


@dataclass
class TraceSet:
    """What :func:`read_traces` found: each task's calls, and what it could not use."""

    tasks: dict[str, list[TracedCall]]
    """Task id -> its calls sorted by (start_s, end_s), in the order the tasks first appear in the files."""
    skipped: dict[str, int]
    """Reason -> how many spans (or rows) could not be used for it."""
    format: str
    """``"otlp-json"``, ``"costsim-jsonl"`` or ``"costsim-parquet"``."""
    files: tuple[str, ...]

    def calls(self) -> int:
        """How many calls (model calls and tool executions) the tasks hold."""
        return sum(len(calls) for calls in self.tasks.values())


def read_traces(paths: Sequence[str | Path], group_by: str = "trace") -> TraceSet:
    """Read agent traces from ``paths`` (one format for all) into one :class:`TraceSet`.

    ``group_by``: ``"trace"`` makes one task of each trace id (costsim traces: of each alternative,
    replication and task); ``"conversation"`` one task of each ``gen_ai.conversation.id``, for agents that
    start a new trace per turn (spans without one are skipped and counted; a costsim trace has one
    conversation per task, so it reads the same either way).

    Raises :class:`TraceError` for a file that is missing, empty, not valid JSON (``FILE:LINE``), neither
    OTLP nor a costsim trace, or of another format than the files before it; and when no model call with
    token counts remains, naming what was skipped.
    """
    if group_by not in GROUP_BY:
        raise ParameterError(Parameter("group_by", group_by), ": give 'trace' (one task per trace id) or "
                                                              "'conversation' (one per gen_ai.conversation.id)")
    if isinstance(paths, str | Path):
        paths = [paths]
    if not paths:
        raise ParameterError(Parameter("paths"), ": give at least one trace file")
    reader = _Reader(group_by == "conversation")
    # Parsed JSON is millions of small dicts and lists in trees, freed by reference counting alone; the
    # cyclic garbage collector's passes over them took most of the time (for 100,000 spans, parsing took
    # 3.6 s with it and 0.9 s without). It is paused while reading, and restored as it was.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for path in paths:
            reader.read_file(Path(path), str(path))
        return reader.finish()
    finally:
        if collecting:
            gc.enable()


# -- files ---------------------------------------------------------------------------------------------------

class _Reader:
    """The state of one :func:`read_traces` call, file after file."""

    def __init__(self, by_conversation: bool) -> None:
        self.by_conversation = by_conversation
        self.tasks: dict[str, list[TracedCall]] = {}
        self.with_model_call: set[str] = set()
        self.seen: set[tuple] = set()  # (traceId, spanId) of the GenAI spans read
        self.priced_calls = 0  # model calls with token counts
        self.skipped: dict[str, int] = {}
        self.format: str | None = None
        self.format_file = ""
        self.this_file_format: str | None = None  # the format of the file being read, once its first record says
        self.files: list[str] = []
        self.rows: list[tuple[str, dict]] = []  # costsim rows, kept until every file has said its alternatives

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    # -- one file

    def read_file(self, path: Path, shown: str) -> None:
        self.files.append(shown)
        self.this_file_format = None
        try:
            with path.open("rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise TraceError(f"{shown}: no such file") from None
        except IsADirectoryError:
            raise TraceError(f"{shown}: is a folder; give the trace files themselves") from None
        except OSError as exc:
            raise TraceError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
        if data[:4] == b"PAR1":
            self.claim("costsim-parquet", shown, f"{shown}: a Parquet file")
            self.read_parquet(path, shown)
            return
        for magic, (kind, command) in _COMPRESSED.items():
            if data.startswith(magic):
                raise TraceError(f"{shown}: {kind}-compressed; decompress it first ({command} {shown})")
        try:
            text = data.decode("utf-8-sig")  # a byte-order mark, which some Windows tools write, is passed over
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise TraceError(f"{shown}:{line}: not UTF-8 text; give OTLP JSON, or a costsim trace "
                             "(.jsonl or .parquet)") from None
        del data
        if not text.strip():
            raise TraceError(f"{shown}: empty file; give OTLP JSON (the Collector's file exporter) or a costsim "
                             "trace (costsim run --trace)")
        lines = text.split("\n")
        first = next(number for number, line in enumerate(lines) if line.strip())
        try:
            record = json.loads(lines[first])
        except json.JSONDecodeError:
            record = None
        if record is None:  # not JSON Lines: one (pretty-printed) document, or a broken first line
            try:
                document = json.loads(text)
            except json.JSONDecodeError as exc:
                following = next((line for line in lines[first + 1:] if line.strip()), "")
                if following.startswith("{"):  # the next line opens a record of its own: JSON Lines
                    raise TraceError(f"{shown}:{first + 1}: {_json_problem(lines[first])}") from None
                raise TraceError(f"{shown}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None
            self.record(document, f"{shown}:{first + 1}", shown, _Locator(text, shown))
            return
        del text
        self.record(record, f"{shown}:{first + 1}", shown)
        for number in range(first + 1, len(lines)):
            line = lines[number]
            if not line or line.isspace():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise TraceError(f"{shown}:{number + 1}: {_json_problem(line)}") from None
            self.record(record, f"{shown}:{number + 1}", shown)

    def claim(self, fmt: str, shown: str, what: str) -> None:
        """Check that a record of format ``fmt`` may come here: every file and line must be of one format."""
        if self.format is None:
            self.format, self.format_file = fmt, shown
        if fmt != self.format:
            if self.this_file_format == self.format:  # this file began in the format the others are in
                raise TraceError(f"{what} in {_DESCRIBED[self.format]} file; give one format at a time")
            raise TraceError(f"{what}, but {self.format_file} is {_DESCRIBED[self.format]} file; give one format "
                             "at a time")
        self.this_file_format = fmt

    def record(self, record, where: str, shown: str, locate: Callable[[dict], str] | None = None) -> None:
        """One JSON record: an OTLP export request or a costsim trace row."""
        if isinstance(record, dict) and "resourceSpans" in record:
            self.claim("otlp-json", shown, f"{where}: an OTLP request")
            self.read_otlp(record, where, locate)
        elif isinstance(record, dict) and _COSTSIM_KEYS <= record.keys():
            self.claim("costsim-jsonl", shown, f"{where}: a costsim trace row")
            self.rows.append((where, record))
        else:
            keys = f" (keys: {_some(list(record))})" if isinstance(record, dict) else ""
            raise TraceError(f"{where}: neither an OTLP request (an object with resourceSpans, as the Collector's "
                             f"file exporter writes) nor a costsim trace row{keys}")

    # -- OTLP

    def read_otlp(self, request: dict, where: str, locate: Callable[[dict], str] | None) -> None:
        try:
            self._read_otlp(request, where, locate)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            problem = _otlp_problem(request) or f"not a valid OTLP request ({type(exc).__name__}: {exc})"
            raise TraceError(f"{where}: {problem}") from None

    def _read_otlp(self, request: dict, where: str, locate: Callable[[dict], str] | None) -> None:
        tasks, skip, by_conversation, seen = self.tasks, self.skip, self.by_conversation, self.seen
        for resource_spans in request["resourceSpans"]:
            for scope_spans in resource_spans.get("scopeSpans") or resource_spans.get(
                    "instrumentationLibrarySpans") or ():
                for span in scope_spans.get("spans") or ():
                    try:  # the common case, fast: every span has attributes, every attribute a value
                        attributes = {item["key"]: item["value"] for item in span["attributes"]}
                    except KeyError:  # an empty value may be left out; so may an empty list of attributes
                        attributes = {item["key"]: item.get("value") or {} for item in span.get("attributes") or ()}
                    operation = attributes.get("gen_ai.operation.name")
                    if operation is None:
                        skip(NOT_GENAI)
                        continue
                    operation = operation.get("stringValue")
                    if operation in CONTAINER_OPERATIONS:
                        continue
                    identity = span.get("traceId"), span.get("spanId")
                    if identity in seen:  # the same file given twice, or overlapping exports
                        skip(DUPLICATE)
                        continue
                    seen.add(identity)
                    if locate is not None:
                        where = locate(span)
                    name = span.get("name", "")
                    status = span.get("status")
                    error = "error.type" in attributes or (status is not None and status.get("code") in _ERROR_CODES)
                    if operation in MODEL_CALL_OPERATIONS:
                        kind, tool = "llm", None
                        input_tokens = _count(attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                                              where, name)
                        output_tokens = _count(attributes, "gen_ai.usage.output_tokens",
                                               "gen_ai.usage.completion_tokens", where, name)
                        if input_tokens is None or output_tokens is None:
                            if not error:
                                skip(NO_TOKENS)
                                continue
                            input_tokens, output_tokens = input_tokens or 0, output_tokens or 0
                        else:
                            self.priced_calls += 1
                        model = _model(attributes)
                    elif operation == TOOL_OPERATION:
                        kind, model, input_tokens = "tool", None, 0
                        tool = attributes.get("gen_ai.tool.name")
                        tool = None if tool is None else tool.get("stringValue")
                        output_tokens = _count(attributes, "gen_ai.usage.output_tokens", None, where, name) or 0
                    else:
                        skip(f"GenAI operation {operation!r} (neither a model call nor a tool)")
                        continue
                    if by_conversation:
                        task = attributes.get("gen_ai.conversation.id")
                        task = None if task is None else next(iter(task.values()), None)  # a string, as a rule
                        if task is None:
                            skip(NO_CONVERSATION)
                            continue
                        task = str(task)
                    else:
                        task = span["traceId"]
                    start_s = int(span["startTimeUnixNano"]) / 1e9
                    end_s = int(span["endTimeUnixNano"]) / 1e9
                    if end_s < start_s:
                        raise TraceError(f"{where}: span {name!r} ends before it starts (endTimeUnixNano < "
                                         "startTimeUnixNano)")
                    cache_read = cache_write = reasoning = 0  # mostly absent: look before calling
                    if CACHE_READ in attributes:
                        cache_read = _count(attributes, CACHE_READ, None, where, name)
                    if CACHE_WRITE in attributes:
                        cache_write = _count(attributes, CACHE_WRITE, None, where, name)
                    if REASONING in attributes:
                        reasoning = _count(attributes, REASONING, None, where, name)
                    call = TracedCall(kind, start_s, end_s, model, input_tokens, output_tokens, cache_read, cache_write,
                                      reasoning, error, tool, name, where)
                    calls = tasks.get(task)
                    if calls is None:
                        tasks[task] = [call]
                    else:
                        calls.append(call)
                    if kind == "llm":
                        self.with_model_call.add(task)

    # -- costsim traces

    def read_parquet(self, path: Path, shown: str) -> None:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise TraceError(f"{shown}: a Parquet file; reading it needs pyarrow: pip install 'costsim[parquet]' "
                             "(or give the trace as JSON Lines)") from None
        try:
            schema = pq.read_schema(path)
            missing = [field for field in COSTSIM_FIELDS if field not in schema.names]
            if missing:
                raise TraceError(f"{shown}: a Parquet file, but not a costsim trace: no column {_some(missing)}")
            table = pq.read_table(path, columns=list(COSTSIM_FIELDS))
        except TraceError:
            raise
        except Exception as exc:  # pyarrow's errors (ArrowInvalid, OSError) for a damaged or cut file
            raise TraceError(f"{shown}: not a readable Parquet file ({exc})") from None
        for number, row in enumerate(table.to_pylist(), start=1):
            self.rows.append((f"{shown}:row {number}", row))

    def costsim_rows(self) -> None:
        for where, row in self.rows:
            if not isinstance(row["alternative"], str):
                raise TraceError(f"{where}: alternative: {row['alternative']!r} is not the name of an alternative")
        alternatives = dict.fromkeys(row["alternative"] for _, row in self.rows)
        kept = "baseline" if "baseline" in alternatives else next(iter(alternatives), None)
        for where, row in self.rows:
            if row["alternative"] != kept:
                self.skip(OTHER_ALTERNATIVE)
                continue
            operation = row["operation"]
            if operation == "chat":
                kind, model, tool = "llm", row["model"], None
            elif operation == "execute_tool":
                kind, model, tool = "tool", None, row["model"]
            else:
                raise TraceError(f"{where}: operation {operation!r}: a costsim trace row is 'chat' or "
                                 "'execute_tool'")
            counts = []
            for field in _COSTSIM_COUNTS:
                value = row[field]
                if type(value) is not int or value < 0:  # exactly int: a bool is not a count
                    raise TraceError(f"{where}: {field}: {value!r} is not a count of tokens")
                counts.append(value)
            try:
                start_s, end_s = float(row["start_s"]), float(row["end_s"])
                if not (math.isfinite(start_s) and math.isfinite(end_s) and start_s <= end_s):
                    raise ValueError
            except (TypeError, ValueError):
                raise TraceError(f"{where}: start_s and end_s must be finite seconds, the start first, not "
                                 f"{row['start_s']!r} and {row['end_s']!r}") from None
            prompt, completion, reasoning, cache_read, cache_write = counts
            task = f"{row['alternative']}/{row['replication']}/{row['task']}"
            call = TracedCall(kind, start_s, end_s, model, prompt, completion, cache_read, cache_write, reasoning,
                              row["outcome_status"] != "ok", tool, str(row["step"]), where)
            self.tasks.setdefault(task, []).append(call)
            if kind == "llm":
                self.with_model_call.add(task)
                self.priced_calls += 1
        self.rows = []

    # -- the end

    def finish(self) -> TraceSet:
        if self.rows:
            self.costsim_rows()
        for task in [task for task in self.tasks if task not in self.with_model_call]:
            self.skip(NO_MODEL_CALL, len(self.tasks.pop(task)))
        if not self.priced_calls:
            what = ", ".join(f"{count:,} {reason}" for reason, count in self.skipped.items()) or "nothing"
            needed = ("a model call is a row whose operation is 'chat'" if self.format != "otlp-json" else
                      "a model call is a span with gen_ai.operation.name chat, text_completion or generate_content "
                      "and gen_ai.usage.input_tokens and output_tokens")
            raise TraceError(f"{', '.join(self.files)}: no model call with token counts to calibrate from "
                             f"(skipped: {what}); {needed}")
        for calls in self.tasks.values():
            calls.sort(key=_order)
        return TraceSet(self.tasks, self.skipped, self.format, tuple(self.files))


_DESCRIBED = {"otlp-json": "an OTLP", "costsim-jsonl": "a costsim JSON Lines trace",
              "costsim-parquet": "a costsim Parquet trace"}
_ERROR_CODES = (2, "2", "STATUS_CODE_ERROR")
# The Collector's file exporter can compress with zstd; people gzip files they pass around.
_COMPRESSED = {b"\x28\xb5\x2f\xfd": ("zstd", "zstd -d"), b"\x1f\x8b": ("gzip", "gunzip")}
CACHE_READ, CACHE_WRITE = "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens"
REASONING = "gen_ai.usage.reasoning.output_tokens"


def _order(call: TracedCall) -> tuple[float, float]:
    return call.start_s, call.end_s


# -- attributes ----------------------------------------------------------------------------------------------

def _count(attributes: dict, key: str, older: str | None, where: str, name: str) -> int | None:
    """The token count under ``key`` (else under its older name ``older``); None when neither is recorded."""
    value = attributes.get(key)
    if value is None and older is not None:
        value, key = attributes.get(older), older
    if value is None:
        return None
    number = value.get("intValue")
    if number is None:
        number = value.get("doubleValue", value.get("stringValue"))
    try:
        count = int(number)
        exact = count == float(number)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
        exact = False
    if not exact or count < 0:
        raise TraceError(f"{where}: span {name!r}: {key} is {_shown(value)}, not a count of tokens")
    return count


def _model(attributes: dict) -> str | None:
    """``provider:model`` of a model-call span (the bare model when no provider is recorded)."""
    model = attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model")
    model = None if model is None else model.get("stringValue")
    if not model:
        return None
    provider = attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system")
    provider = None if provider is None else provider.get("stringValue")
    if not provider:
        return model
    return f"{PROVIDER_IDS.get(provider, provider)}:{model}"


def _shown(value: dict) -> str:
    return ", ".join(f"{kind} {content!r}" for kind, content in value.items()) or "empty"


# -- messages ------------------------------------------------------------------------------------------------

class _Locator:
    """The line of each span of a pretty-printed document, found by its span id, in file order."""

    def __init__(self, text: str, shown: str) -> None:
        self.text, self.shown, self.at, self.line = text, shown, 0, 1

    def __call__(self, span: dict) -> str:
        span_id = span.get("spanId")
        found = self.text.find(f'"{span_id}"', self.at) if isinstance(span_id, str) and span_id else -1
        if found >= 0:
            self.line += self.text.count("\n", self.at, found)
            self.at = found
        return f"{self.shown}:{self.line}"


def _json_problem(line: str) -> str:
    try:
        json.loads(line)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(line.rstrip()) or exc.msg.startswith("Unterminated string")  # the line ends early
        return (f"{'truncated' if cut else 'invalid'} JSON ({exc.msg}, column {exc.colno}); each line must hold one "
                "whole JSON object")
    return "invalid JSON"


def _otlp_problem(request: dict) -> str | None:
    """What is wrong with an OTLP request the fast reader stumbled on, or None if nothing is found."""
    resource_spans = request.get("resourceSpans")
    if not isinstance(resource_spans, list):
        return "resourceSpans is not a list"
    for r, resource in enumerate(resource_spans):
        at = f"resourceSpans[{r}]"
        if not isinstance(resource, dict):
            return f"{at} is not an object"
        scopes = resource.get("scopeSpans") or resource.get("instrumentationLibrarySpans") or []
        if not isinstance(scopes, list):
            return f"{at}.scopeSpans is not a list"
        for s, scope in enumerate(scopes):
            if not isinstance(scope, dict) or not isinstance(scope.get("spans") or [], list):
                return f"{at}.scopeSpans[{s}] is not an object with a list of spans"
            for n, span in enumerate(scope.get("spans") or []):
                here = f"{at}.scopeSpans[{s}].spans[{n}]"
                if not isinstance(span, dict):
                    return f"{here} is not an object"
                here += f" ({span['name']!r})" if isinstance(span.get("name"), str) else ""
                attributes = span.get("attributes") or []
                if not isinstance(attributes, list) or not all(
                        isinstance(item, dict) and "key" in item and isinstance(item.get("value") or {}, dict)
                        for item in attributes):
                    return f"{here}: attributes must be a list of {{\"key\": ..., \"value\": {{...}}}}"
                if not isinstance(span.get("status") or {}, dict):
                    return f"{here}: status must be an object ({{\"code\": 2}})"
                if "traceId" not in span:
                    return f"{here}: no traceId"
                for key in ("startTimeUnixNano", "endTimeUnixNano"):
                    try:
                        int(span[key])
                    except KeyError:
                        return f"{here}: no {key}"
                    except (TypeError, ValueError, OverflowError):
                        return f"{here}: {key} is {span[key]!r}, not nanoseconds since the epoch"
    return None


def _some(names: list, most: int = 6) -> str:
    shown = ", ".join(map(str, names[:most]))
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
