"""Reading agent traces (sim/calibration/traces.py): every format, exact round trips, grouping, what is
skipped, and every bad input as one located line.

OTLP files come from the real OpenTelemetry SDK through its OTLP encoder (tests/otel_traces.py); costsim
traces from a real run. The expected values below are written out from the events' own numbers and the
fixtures' stated timing rule (a model call lasts 0.5 s plus its output at 80 tokens/s; 0.25 s between
spans), not computed by the reader's code.
"""

from __future__ import annotations

import gzip
import json
import re

import pytest
from conftest import PRICES_DATE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otel_traces import (
    CONVERSATION_GAP_S,
    START_UNIX_S,
    agent_conversations,
    otlp_requests,
    record_spans,
    span_count,
    write_otlp,
)

from sim.calibration.traces import (
    COSTSIM_FIELDS,
    DUPLICATE,
    NO_CONVERSATION,
    NO_MODEL_CALL,
    NO_TOKENS,
    NOT_GENAI,
    OTHER_ALTERNATIVE,
    TraceError,
    read_traces,
)
from sim.core.errors import CostsimError, ParameterError
from sim.core.records import TRACE_FIELDS

MINI = "openai:gpt-4.1-mini"
HAIKU = "anthropic:claude-haiku-4-5"

CONVERSATIONS = [
    [("llm", MINI, 1500, 80, False),
     ("tool", "search", 2.0, False),
     ("llm", MINI, 2400, 40, False, {"gen_ai.usage.cache_read.input_tokens": 1408}),
     ("wait", 10.0),
     ("llm", MINI, None, None, True),  # failed: the provider answered nothing, no usage recorded
     ("llm", MINI, 2500, 120, False)],
    [("llm", HAIKU, 900, 16, False),
     ("tool", "lookup_order", 0.5, True),
     ("llm", HAIKU, 1000, 200, False, {"gen_ai.usage.reasoning.output_tokens": 50,
                                       "gen_ai.usage.cache_creation.input_tokens": 896})],
]
# Per conversation: (kind, start and end in seconds after the conversation's start, model, input, output,
# cache read, cache write, reasoning, error, tool, span name).
EXPECTED = [
    [("llm", 0.0, 1.5, MINI, 1500, 80, 0, 0, 0, False, None, "chat gpt-4.1-mini"),
     ("tool", 1.75, 3.75, None, 0, 0, 0, 0, 0, False, "search", "execute_tool search"),
     ("llm", 4.0, 5.0, MINI, 2400, 40, 1408, 0, 0, False, None, "chat gpt-4.1-mini"),
     ("llm", 15.25, 15.75, MINI, 0, 0, 0, 0, 0, True, None, "chat gpt-4.1-mini"),
     ("llm", 16.0, 18.0, MINI, 2500, 120, 0, 0, 0, False, None, "chat gpt-4.1-mini")],
    [("llm", 0.0, 0.7, HAIKU, 900, 16, 0, 0, 0, False, None, "chat claude-haiku-4-5"),
     ("tool", 0.95, 1.45, None, 0, 0, 0, 0, 0, True, "lookup_order", "execute_tool lookup_order"),
     ("llm", 1.7, 4.7, HAIKU, 1000, 200, 0, 896, 50, False, None, "chat claude-haiku-4-5")],
]


def table(traces, starts=None):
    """The calls of each task as tuples like EXPECTED's (times after ``starts[i]``, rounded to a microsecond)."""
    rows = []
    for number, calls in enumerate(traces.tasks.values()):
        zero = starts[number] if starts else 0.0
        rows.append([(c.kind, round(c.start_s - zero, 6), round(c.end_s - zero, 6), c.model, c.input_tokens,
                      c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens, c.error, c.tool,
                      c.name) for c in calls])
    return rows


STARTS = [START_UNIX_S, START_UNIX_S + CONVERSATION_GAP_S]


# -- OTLP ----------------------------------------------------------------------------------------------------

def test_collector_json_lines_round_trip_exactly(tmp_path):
    path = write_otlp(tmp_path / "otel.jsonl", CONVERSATIONS, spans_per_request=3)
    assert len(path.read_text().splitlines()) == 4  # 10 spans (2 of them the agents'), 3 a line
    traces = read_traces([path])
    assert traces.format == "otlp-json" and traces.files == (str(path),)
    assert table(traces, STARTS) == EXPECTED
    assert traces.calls() == 8 and traces.skipped == {}  # the invoke_agent spans hold the others: not counted
    assert all(re.fullmatch("[0-9a-f]{32}", task) for task in traces.tasks)  # one task per trace id, in hex
    # Spans are exported as they end, 3 a line: each call names the line its span is on.
    lines = [[call.where for call in calls] for calls in traces.tasks.values()]
    assert lines == [[f"{path}:1"] * 3 + [f"{path}:2"] * 2, [f"{path}:3"] * 3]


def test_one_pretty_document_with_enum_names_reads_the_same(tmp_path):
    path = write_otlp(tmp_path / "otel.json", CONVERSATIONS, style="document", integer_enums=False)
    text = path.read_text()
    assert '"STATUS_CODE_ERROR"' in text and '"SPAN_KIND_CLIENT"' in text and text.count("\n") > 100
    traces = read_traces([path])
    assert table(traces, STARTS) == EXPECTED and traces.skipped == {}
    # Each call names its span's line: the line of its span id, in file order.
    lines = text.splitlines()
    numbers = [int(call.where.rsplit(":", 1)[1]) for calls in traces.tasks.values() for call in calls]
    assert all('"spanId"' in lines[number - 1] for number in numbers)
    assert len(set(numbers)) == len(numbers)


def test_older_attribute_names_read_the_same(tmp_path):
    path = write_otlp(tmp_path / "old.jsonl", CONVERSATIONS, older_names=True)
    text = path.read_text()
    assert "gen_ai.system" in text and "gen_ai.usage.prompt_tokens" in text and "gen_ai.usage.input_tokens" not in text
    assert table(read_traces([path]), STARTS) == EXPECTED


@pytest.mark.parametrize("older", [False, True])
def test_providers_become_the_price_catalogs_ids(tmp_path, older):
    events = [("llm", "gcp.gemini:gemini-2.5-flash", 10, 1, False),
              ("llm", "gemini:gemini-2.5-flash", 10, 1, False),  # the older gen_ai.system value
              ("llm", "gcp.vertex_ai:gemini-2.5-pro", 10, 1, False),
              ("llm", "aws.bedrock:anthropic.claude-sonnet-4-20250514-v1:0", 10, 1, False),
              ("llm", "az.ai.openai:gpt-4o", 10, 1, False),
              ("llm", "x_ai:grok-3", 10, 1, False),
              ("llm", "mistral_ai:mistral-large-latest", 10, 1, False),
              ("llm", "ibm.watsonx.ai:granite-3-8b", 10, 1, False),  # not in the catalog: kept as recorded
              ("llm", "gpt-4.1", 10, 1, False),  # no provider recorded: the bare model
              ("llm", MINI, 10, 1, False, {"gen_ai.response.model": "gpt-4.1-mini-2025-04-14"})]
    path = write_otlp(tmp_path / "providers.jsonl", [events], older_names=older)
    (calls,) = read_traces([path]).tasks.values()
    assert [call.model for call in calls] == [
        "google:gemini-2.5-flash", "google:gemini-2.5-flash", "google:gemini-2.5-pro",
        "aws:anthropic.claude-sonnet-4-20250514-v1:0", "azure:gpt-4o", "x-ai:grok-3", "mistral:mistral-large-latest",
        "ibm.watsonx.ai:granite-3-8b", "gpt-4.1", "openai:gpt-4.1-mini-2025-04-14"]


def test_an_error_is_a_status_or_an_error_type(tmp_path):
    events = [("llm", MINI, 100, 10, True),
              ("llm", MINI, 100, 10, False, {"error.type": "timeout"}),
              ("llm", MINI, 100, 10, True),
              ("llm", MINI, 100, 10, False)]
    requests = otlp_requests(record_spans([events]))
    spans = requests[0]["resourceSpans"][0]["scopeSpans"][0]["spans"]
    # The third call keeps only its status (code 2), without error.type.
    spans[2]["attributes"] = [item for item in spans[2]["attributes"] if item["key"] != "error.type"]
    assert spans[2]["status"]["code"] == 2
    path = tmp_path / "errors.jsonl"
    path.write_text("".join(json.dumps(request) + "\n" for request in requests))
    (calls,) = read_traces([path]).tasks.values()
    assert [call.error for call in calls] == [True, True, True, False]


def test_unusable_spans_are_counted_by_reason(tmp_path):
    conversations = [
        [("span", "POST /v1/chat/completions", 0.3),                      # no gen_ai.operation.name
         ("llm", MINI, None, None, False),                                # succeeded, but no token counts
         ("llm", MINI, 100, 10, False),
         ("llm", MINI, 100, 10, False, {"gen_ai.operation.name": "embeddings"})],
        [("tool", "search", 1.0, False), ("tool", "search", 1.0, True)],  # a task with no model call
        [("llm", MINI, 100, None, False)],                                # an input count alone
    ]
    traces = read_traces([write_otlp(tmp_path / "mixed.jsonl", conversations)])
    assert traces.skipped == {NOT_GENAI: 1, NO_TOKENS: 2, "GenAI operation 'embeddings' (neither a model call nor "
                                                          "a tool)": 1, NO_MODEL_CALL: 2}
    assert table(traces) and [len(calls) for calls in traces.tasks.values()] == [1]


def test_a_span_read_twice_counts_once(tmp_path):
    path = write_otlp(tmp_path / "otel.jsonl", CONVERSATIONS)
    traces = read_traces([path, path])
    assert table(traces, STARTS) == EXPECTED and traces.skipped == {DUPLICATE: 8}


def test_group_by_conversation_joins_traces_and_skips_spans_without_one(tmp_path):
    first = write_otlp(tmp_path / "a.jsonl", CONVERSATIONS, conversation_ids=["alice", "bob"])
    later = [[("llm", MINI, 3000, 30, False)], [("llm", MINI, 50, 5, False), ("tool", "search", 1.0, False)]]
    second = write_otlp(tmp_path / "b.jsonl", later, conversation_ids=["alice", None],
                        start_unix_s=START_UNIX_S + 600, seed=1)  # other trace ids than the first file's
    by_trace = read_traces([first, second])
    assert len(by_trace.tasks) == 4 and by_trace.skipped == {}
    by_conversation = read_traces([first, second], group_by="conversation")
    assert list(by_conversation.tasks) == ["alice", "bob"]
    assert by_conversation.skipped == {NO_CONVERSATION: 2}
    alice = [(round(c.start_s - START_UNIX_S, 6), c.input_tokens) for c in by_conversation.tasks["alice"]]
    assert alice == [(0.0, 1500), (1.75, 0), (4.0, 2400), (15.25, 0), (16.0, 2500), (600.0, 3000)]
    assert table(by_conversation, STARTS)[1] == EXPECTED[1]


# -- costsim's own traces ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def costsim_trace(tmp_path_factory):
    """A real run of the support agent with --trace, as JSON Lines and as Parquet."""
    from sim import load_workflow, simulate
    from sim.output.rundir import write_trace

    result = simulate(load_workflow("workflows/support-agent.yaml"), 20, 3, prices_date=PRICES_DATE, engine="des",
                      trace=True)
    folder = tmp_path_factory.mktemp("costsim")
    write_trace(result, folder / "trace.jsonl")
    write_trace(result, folder / "trace.parquet")
    return result, folder / "trace.jsonl", folder / "trace.parquet"


def expected_costsim(trace_rows, alternative):
    """The reader's table of ``alternative``, made from the run's own trace tuples."""
    at = {name: index for index, name in enumerate(TRACE_FIELDS)}
    tasks = {}
    for row in trace_rows:
        if row[at["alternative"]] != alternative:
            continue
        tool = row[at["operation"]] == "execute_tool"
        tasks.setdefault(f"{alternative}/{row[at['replication']]}/{row[at['task']]}", []).append((
            "tool" if tool else "llm", row[at["start_s"]], row[at["end_s"]], None if tool else row[at["model"]],
            row[at["prompt_tokens"]], row[at["completion_tokens"]], row[at["cache_read_tokens"]],
            row[at["cache_write_tokens"]], row[at["reasoning_tokens"]], row[at["outcome_status"]] != "ok",
            row[at["model"]] if tool else None, row[at["step"]]))
    return {task: sorted(calls, key=lambda call: (call[1], call[2])) for task, calls in tasks.items()}


def as_dict(traces):
    return {task: [(c.kind, c.start_s, c.end_s, c.model, c.input_tokens, c.output_tokens, c.cache_read_tokens,
                    c.cache_write_tokens, c.reasoning_tokens, c.error, c.tool, c.name) for c in calls]
            for task, calls in traces.tasks.items()}


def test_the_reader_uses_costsim_trace_fields():
    assert set(COSTSIM_FIELDS) <= set(TRACE_FIELDS)


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_a_costsim_trace_keeps_the_baseline(costsim_trace, kind):
    result, jsonl, parquet = costsim_trace
    path = jsonl if kind == "jsonl" else parquet
    traces = read_traces([path])
    assert traces.format == f"costsim-{kind}"
    expected = expected_costsim(result.trace, "baseline")
    assert list(as_dict(traces)) == list(expected) == [f"baseline/0/{task}" for task in range(20)]
    assert as_dict(traces) == expected
    assert traces.skipped == {OTHER_ALTERNATIVE: sum(row[0] != "baseline" for row in result.trace)}
    assert as_dict(read_traces([path], group_by="conversation")) == expected
    first = next(iter(traces.tasks.values()))[0]
    assert first.where == (f"{path}:1" if kind == "jsonl" else f"{path}:row 1")


def test_a_costsim_trace_without_a_baseline_keeps_its_first_alternative(costsim_trace, tmp_path):
    result, jsonl, _ = costsim_trace
    lines = [line for line in jsonl.read_text().splitlines() if json.loads(line)["alternative"] != "baseline"]
    path = tmp_path / "no-baseline.jsonl"
    path.write_text("\n".join(lines) + "\n")
    traces = read_traces([path])
    assert as_dict(traces) == expected_costsim(result.trace, "gpt-4.1")
    assert traces.skipped == {OTHER_ALTERNATIVE: sum(row[0] == "sonnet-4.6" for row in result.trace)}


# -- bad input -----------------------------------------------------------------------------------------------

def error_of(paths, **kwargs) -> str:
    with pytest.raises(TraceError) as caught:
        read_traces(paths, **kwargs)
    message = str(caught.value)
    assert isinstance(caught.value, CostsimError) and "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture
def otlp_file(tmp_path):
    return write_otlp(tmp_path / "otel.jsonl", CONVERSATIONS, spans_per_request=3)  # 4 lines


def test_missing_empty_folder_and_binary_files(tmp_path):
    assert error_of([tmp_path / "nope.jsonl"]) == f"{tmp_path / 'nope.jsonl'}: no such file"
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    for name in ("empty.jsonl", "blank.jsonl"):
        assert error_of([tmp_path / name]).startswith(f"{tmp_path / name}: empty file; give OTLP JSON")
    assert error_of([tmp_path]).startswith(f"{tmp_path}: is a folder")
    bom = tmp_path / "bom.jsonl"  # a byte-order mark before the JSON is passed over
    bom.write_bytes(b"\xef\xbb\xbf" + write_otlp(tmp_path / "plain.jsonl", CONVERSATIONS).read_bytes())
    assert table(read_traces([bom]), STARTS) == EXPECTED
    (tmp_path / "binary.jsonl").write_bytes(b"\x00\x01\xff\xfe")
    assert error_of([tmp_path / "binary.jsonl"]).startswith(f"{tmp_path / 'binary.jsonl'}:1: not UTF-8 text")
    packed = tmp_path / "otel.jsonl.gz"
    packed.write_bytes(gzip.compress(bom.read_bytes()))
    assert error_of([packed]) == f"{packed}: gzip-compressed; decompress it first (gunzip {packed})"


@pytest.mark.parametrize("line", [0, 1, 3])
def test_a_truncated_line_is_named(otlp_file, line):
    lines = otlp_file.read_text().splitlines()
    lines[line] = lines[line][: len(lines[line]) // 2]
    otlp_file.write_text("\n".join(lines) + "\n")
    assert error_of([otlp_file]).startswith(f"{otlp_file}:{line + 1}: truncated JSON (")


def test_a_broken_document_names_its_line(tmp_path):
    path = write_otlp(tmp_path / "otel.json", CONVERSATIONS, style="document")
    text = path.read_text()
    cut = text[: int(len(text) * 0.6)]
    path.write_text(cut)
    assert re.match(rf"{re.escape(str(path))}:{cut.count(chr(10)) + 1}: not valid JSON \(", error_of([path]))


@pytest.mark.parametrize("line", ['{"hello": "world"}', "[1, 2, 3]", '"resourceSpans"'])
def test_json_that_is_neither_otlp_nor_costsim(otlp_file, line):
    otlp_file.write_text(otlp_file.read_text() + line + "\n")
    assert error_of([otlp_file]).startswith(f"{otlp_file}:5: neither an OTLP request (an object with resourceSpans")


def test_mixed_formats_within_and_across_files(otlp_file, costsim_trace, tmp_path):
    _, jsonl, parquet = costsim_trace
    costsim_row = jsonl.read_text().splitlines()[0]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(otlp_file.read_text() + costsim_row + "\n")
    assert error_of([mixed]) == f"{mixed}:5: a costsim trace row in an OTLP file; give one format at a time"
    mixed.write_text(costsim_row + "\n" + otlp_file.read_text())
    assert error_of([mixed]) == (f"{mixed}:2: an OTLP request in a costsim JSON Lines trace file; give one format "
                                 "at a time")
    assert error_of([otlp_file, jsonl]) == (f"{jsonl}:1: a costsim trace row, but {otlp_file} is an OTLP file; "
                                            "give one format at a time")
    assert error_of([jsonl, otlp_file]) == (f"{otlp_file}:1: an OTLP request, but {jsonl} is a costsim JSON Lines "
                                            "trace file; give one format at a time")
    later = tmp_path / "later.jsonl"
    later.write_text(otlp_file.read_text() + costsim_row + "\n")  # a second OTLP file, with a costsim row
    assert error_of([otlp_file, later]) == (f"{later}:5: a costsim trace row in an OTLP file; give one format at "
                                            "a time")
    assert error_of([otlp_file, parquet]) == (f"{parquet}: a Parquet file, but {otlp_file} is an OTLP file; give "
                                              "one format at a time")


def test_no_usable_model_call_says_what_was_skipped(tmp_path):
    conversations = [[("llm", MINI, None, None, False), ("tool", "search", 1.0, False)],
                     [("span", "GET /health", 0.1), ("llm", MINI, None, None, False)]]
    path = write_otlp(tmp_path / "nothing.jsonl", conversations)
    assert error_of([path]).startswith(
        f"{path}: no model call with token counts to calibrate from (skipped: 2 model call without token counts, "
        "1 not a GenAI span, 1 tool span in a task with no model call); ")
    empty = tmp_path / "no-spans.jsonl"
    empty.write_text('{"resourceSpans": []}\n')  # a request with no spans
    assert error_of([empty]).startswith(f"{empty}: no model call with token counts to calibrate from (skipped: "
                                        "nothing)")
    assert error_of([write_otlp(tmp_path / "all-agents.jsonl", [[]])]).startswith(
        f"{tmp_path / 'all-agents.jsonl'}: no model call")


def test_a_bad_value_in_a_span_is_located(tmp_path):
    requests = otlp_requests(record_spans(CONVERSATIONS), spans_per_request=3)
    span = requests[1]["resourceSpans"][0]["scopeSpans"][0]["spans"][1]  # the last call of the first conversation
    usage = next(item for item in span["attributes"] if item["key"] == "gen_ai.usage.input_tokens")
    usage["value"] = {"intValue": "lots"}
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(request) + "\n" for request in requests))
    assert error_of([path]) == (f"{path}:2: span 'chat gpt-4.1-mini': gen_ai.usage.input_tokens is intValue 'lots', "
                                "not a count of tokens")
    usage["value"] = {"doubleValue": float("inf")}  # JSON's Infinity
    path.write_text("".join(json.dumps(request) + "\n" for request in requests))
    assert error_of([path]).startswith(f"{path}:2: span 'chat gpt-4.1-mini': gen_ai.usage.input_tokens is doubleValue")
    usage["value"] = {"intValue": "2500"}
    span["endTimeUnixNano"] = float("inf")
    path.write_text("".join(json.dumps(request) + "\n" for request in requests))
    assert error_of([path]) == (f"{path}:2: resourceSpans[0].scopeSpans[0].spans[1] ('chat gpt-4.1-mini'): "
                                "endTimeUnixNano is inf, not nanoseconds since the epoch")
    del span["startTimeUnixNano"]
    path.write_text("".join(json.dumps(request) + "\n" for request in requests))
    assert error_of([path]) == (f"{path}:2: resourceSpans[0].scopeSpans[0].spans[1] ('chat gpt-4.1-mini'): no "
                                "startTimeUnixNano")


def test_bad_costsim_rows_and_parquet_files(costsim_trace, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    _, jsonl, parquet = costsim_trace
    row = json.loads(jsonl.read_text().splitlines()[0])
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({**row, "prompt_tokens": "x"}) + "\n")
    assert error_of([path]) == f"{path}:1: prompt_tokens: 'x' is not a count of tokens"
    path.write_text(json.dumps({**row, "end_s": float("nan")}) + "\n")
    assert error_of([path]) == f"{path}:1: start_s and end_s must be finite seconds, the start first, not 0.0 and nan"
    path.write_text(json.dumps({**row, "operation": "embeddings"}) + "\n")
    assert error_of([path]).startswith(f"{path}:1: operation 'embeddings': a costsim trace row is 'chat' or")
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(parquet.read_bytes()[:200])
    assert error_of([cut]).startswith(f"{cut}: not a readable Parquet file (")
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"alternative": ["a"], "latency": [1.0]}), other)
    assert error_of([other]).startswith(f"{other}: a Parquet file, but not a costsim trace: no column replication, "
                                        "task, step")


def test_bad_arguments_are_parameter_errors(otlp_file):
    with pytest.raises(ParameterError, match="group_by='session'"):
        read_traces([otlp_file], group_by="session")
    with pytest.raises(ParameterError, match="paths"):
        read_traces([])
    assert read_traces(otlp_file).calls() == 8  # one path alone is read as a list of one


# -- the realistic agent -------------------------------------------------------------------------------------

def test_the_agent_generator_is_seeded(tmp_path):
    assert agent_conversations(30, 5) == agent_conversations(30, 5)
    assert agent_conversations(30, 5)[0] != agent_conversations(30, 6)[0]
    conversations, _ = agent_conversations(30, 5)
    a, b = write_otlp(tmp_path / "a.jsonl", conversations), write_otlp(tmp_path / "b.jsonl", conversations)
    assert a.read_bytes() == b.read_bytes()  # trace and span ids drawn from the seed, no random uuid
    assert a.read_bytes() != write_otlp(tmp_path / "c.jsonl", conversations, seed=1).read_bytes()


def test_the_agent_conversations_read_back_as_generated(tmp_path):
    conversations, truth = agent_conversations(400, 11)
    path = write_otlp(tmp_path / "agent.jsonl", conversations)
    traces = read_traces([path])
    assert traces.skipped == {} and len(traces.tasks) == 400
    assert traces.calls() + 400 == span_count(conversations)  # every span but the agents'
    lengths = []
    for calls, realised in zip(traces.tasks.values(), truth["per_conversation"]):
        model_calls = [call for call in calls if call.kind == "llm"]
        succeeded = [call for call in model_calls if not call.error]
        assert len(succeeded) == realised["model_calls"] and len(model_calls) == realised["attempts"]
        assert sum(call.kind == "tool" for call in calls) == realised["tool_calls"]
        assert all(call.input_tokens == call.output_tokens == 0 for call in model_calls if call.error)
        for before, after in zip(succeeded, succeeded[1:]):  # the context only grows
            assert after.input_tokens >= before.input_tokens + before.output_tokens
            assert after.cache_read_tokens in (0, before.input_tokens // 128 * 128)
        assert succeeded[0].input_tokens > truth["system_tokens"]
        assert all(call.model == truth["model"] for call in model_calls)
        lengths.append(len(succeeded))
    assert min(lengths) == 2 and max(lengths) <= 40 and sorted(lengths)[len(lengths) // 2] <= 6
    assert sum(length >= 15 for length in lengths) >= 10  # a heavy tail
    assert sum(realised["attempts"] > realised["model_calls"] for realised in truth["per_conversation"]) >= 20
    assert sum(realised["user_turns"] > 0 for realised in truth["per_conversation"]) >= 100


# -- never a traceback ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def otlp_bytes(tmp_path_factory, costsim_trace):
    folder = tmp_path_factory.mktemp("fuzz")
    costsim_lines = costsim_trace[1].read_text().splitlines(keepends=True)
    return (write_otlp(folder / "lines.jsonl", CONVERSATIONS, spans_per_request=3).read_bytes(),
            write_otlp(folder / "doc.json", CONVERSATIONS, style="document").read_bytes(),
            "".join(costsim_lines[:3] + costsim_lines[-3:]).encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from([0, 1, 2]), cut=st.floats(0, 1), edits=st.lists(
    st.tuples(st.floats(0, 1), st.sampled_from(list(b'{}[]",:0a-. \n') + [0xff])), max_size=4))
def test_a_damaged_file_is_read_or_refused_in_one_line(otlp_bytes, tmp_path, which, cut, edits):
    """Cut a real file (OTLP lines, an OTLP document, a costsim trace) anywhere and overwrite a few bytes:
    the reader returns a table or raises a TraceError, never anything else."""
    data = bytearray(otlp_bytes[which][: max(1, int(len(otlp_bytes[which]) * cut))])
    for where, byte in edits:
        data[min(int(where * len(data)), len(data) - 1)] = byte
    path = tmp_path / "damaged.json"
    path.write_bytes(bytes(data))
    try:
        read_traces([path])
    except TraceError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
