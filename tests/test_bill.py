"""The monthly bill (its percentiles are those of the replications' sums; P(bill > budget) against a
Poisson closed form), traces (they add up to the task records and carry the OpenTelemetry GenAI names)
and reproducibility (the same seed writes the same bytes, trace included)."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict

import numpy as np
import pytest
from conftest import PRICES_DATE, run, within_sigmas, workflow
from scipy import stats as sps

from sim.core.records import TRACE_FIELDS
from sim.output.rundir import SUMMARY_FILE, TASKS_FILE, trace_rows, write_run, write_trace
from sim.stats.summary import summarize

FIELD = {name: index for index, name in enumerate(TRACE_FIELDS)}
GPT41_IN, GPT41_OUT = 2.0 / 1e6, 8.0 / 1e6


def everything_workflow(days: float = 0.5):
    """Traffic with a profile, a shared cache, limits, an outage, a batched step, a self-hosted model,
    reasoning tokens, retries with jitter, escalation and task re-runs: every source of time and cost."""
    return workflow(
        [{"id": "classify", "llm": "fast", "prompt": 300, "output": 20, "history": "none"},
         {"id": "tools", "repeat": {"poisson": {"mean": 1.5}, "min": 1}, "steps": [
             {"id": "search", "tool": "search", "result": {"lognormal": {"median": 900, "sigma": 0.5}},
              "latency": {"exponential": {"mean": 2}}, "fail": 0.1, "cost_usd": 0.005},
             {"id": "reprompt", "llm": "main", "prompt": 50, "output": {"poisson": {"mean": 120}}, "fail": 0.1}]},
         {"id": "draft", "llm": "local", "prompt": 100, "output": {"exponential": {"mean": 300}}},
         {"id": "report", "llm": "main", "prompt": 200, "output": 300, "batch": {"delay_s": {"uniform": {"low": 60,
                                                                                                     "high": 600}}}},
         {"id": "answer", "llm": "main", "prompt": 100, "output": {"normal": {"mean": 400, "sd": 100}},
          "fail": {"default": 0.2, "anthropic:claude-sonnet-4-6": 0.05}}],
        models={"fast": "openai:gpt-4.1-mini", "main": "anthropic:claude-haiku-4-5", "local": "self:llama"},
        alternatives={"sonnet": {"main": "anthropic:claude-sonnet-4-6"}, "api-draft": {"local": "openai:gpt-4.1"}},
        context={"system": 1500, "user": {"lognormal": {"median": 200, "sigma": 0.4}}},
        retry={"max_attempts": 2, "on_exhausted": {"escalate": "anthropic:claude-sonnet-4-6"}},
        task_retry={"max_attempts": 2},
        profiles={"default": {"ttft_s": {"lognormal": {"median": 0.6, "sigma": 0.3}}},
                  "openai:gpt-4.1-mini": {"reasoning_tokens": {"poisson": {"mean": 50}}}},
        cache={"ttl_s": 300, "min_prefix_tokens": 1024},
        limits={"anthropic:claude-haiku-4-5": {"rpm": 4, "tpm": 30_000},
                "openai:gpt-4.1-mini": {"rpm": 1, "on_limit": "reject"}},
        outages=[{"model": "anthropic:claude-haiku-4-5", "start_h": 3, "duration_min": 30, "error_rate": 0.7}],
        self_hosted={"llama": {"gpu_hour_usd": 1.99, "prefill_tokens_per_s": 3000, "decode_tokens_per_s": 300,
                               "max_concurrency": 2}},
        traffic={"tasks_per_day": 1500, "days": days, "profile": [1] * 8 + [3] * 10 + [1] * 6})


# -- the bill ------------------------------------------------------------------------------------------------

def test_bill_percentiles_are_those_of_the_replications_sums():
    replications = 30
    result = run(everything_workflow(0.25), 0, seed=9, replications=replications)
    summary = summarize(result)
    assert summary["replications"] == replications
    for run_, entry in zip(result.alternatives, summary["alternatives"]):
        t = run_.tasks
        sums = np.array([t.cost_usd[t.replication == r].sum() for r in range(replications)])
        bill = entry["bill"]
        assert bill["replications"] == replications and bill["horizon_days"] == 0.25
        assert bill["mean"] == pytest.approx(float(sums.mean()), rel=1e-9)
        for name, q in (("p5", 0.05), ("p50", 0.5), ("p95", 0.95)):
            assert bill[name] == pytest.approx(float(np.quantile(sums, q)), rel=1e-9), name
        assert (bill["min"], bill["max"]) == pytest.approx((sums.min(), sums.max()), rel=1e-9)
        # and the bill is the whole of what the tasks cost
        assert entry["total_cost_usd"] == pytest.approx(float(sums.sum()), rel=1e-9)


def test_budget_probability_matches_the_poisson_closed_form():
    # fixed tokens: every task costs c, so the bill is c x N with N ~ Poisson(rate x days), and
    # P(bill > B) = P(N > B / c); B is put halfway between two counts so no rounding can matter
    tasks_per_day, days, replications = 50, 1.0, 400
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 1000, "output": 200}],
                  traffic={"tasks_per_day": tasks_per_day, "days": days})
    c = 1000 * GPT41_IN + 200 * GPT41_OUT
    budget = c * 52.5
    result = run(wf, 0, seed=12, replications=replications)
    bill = summarize(result, budget_usd=budget)["alternatives"][0]["bill"]
    mean_n = tasks_per_day * days
    p = float(sps.poisson.sf(52, mean_n))  # P(N > 52.5) = P(N >= 53)
    assert 0.2 < p < 0.5
    assert bill["budget_usd"] == budget
    assert within_sigmas(bill["p_over_budget"], p, math.sqrt(p * (1 - p) / replications))
    lo, hi = bill["p_over_budget_ci95"]
    assert lo <= bill["p_over_budget"] <= hi
    assert within_sigmas(bill["mean"], c * mean_n, c * math.sqrt(mean_n / replications))
    # the summary's own count agrees with the replications' sums
    sums = result.baseline.bills_usd(replications)
    assert bill["p_over_budget"] == np.mean(sums > budget)
    np.testing.assert_allclose(sums, c * np.bincount(result.baseline.tasks.replication, minlength=replications),
                               rtol=1e-12)


def test_no_budget_no_probability_and_no_traffic_no_bill():
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 10, "output": 10}])
    assert "bill" not in summarize(run(wf, 20))["alternatives"][0]
    traffic = workflow([{"id": "ask", "llm": "main", "prompt": 10, "output": 10}],
                       traffic={"tasks_per_day": 100, "days": 1})
    assert "p_over_budget" not in summarize(run(traffic, 0, replications=3))["alternatives"][0]["bill"]


# -- traces --------------------------------------------------------------------------------------------------

def test_a_trace_adds_up_to_the_task_records():
    replications = 2
    result = run(everything_workflow(0.25), 0, seed=4, replications=replications, trace=True)
    for alternative in result.alternatives:
        t = alternative.tasks
        offsets = np.r_[0, np.cumsum(np.bincount(t.replication, minlength=replications))]
        totals = defaultdict(lambda: defaultdict(float))
        for row in result.trace:
            if row[FIELD["alternative"]] != alternative.name:
                continue
            index = offsets[row[FIELD["replication"]]] + (row[FIELD["task"]] & 0xFFFFFFFF)
            assert row[FIELD["task"]] >> 32 == row[FIELD["replication"]]
            sums = totals[index]
            sums["cost"] += row[FIELD["cost_usd"]]
            if row[FIELD["operation"]] == "chat":
                sums["attempts"] += 1
                sums["input"] += row[FIELD["prompt_tokens"]]
                sums["output"] += row[FIELD["completion_tokens"]] - row[FIELD["reasoning_tokens"]]
                sums["reasoning"] += row[FIELD["reasoning_tokens"]]
                sums["cache_read"] += row[FIELD["cache_read_tokens"]]
                sums["hits"] += row[FIELD["cache_hit"]]
                sums["throttled"] += row[FIELD["outcome_status"]] == "rate_limited"
                sums["errors"] += row[FIELD["outcome_status"]] == "provider_error"
            else:
                sums["tools"] += 1
            assert row[FIELD["end_s"]] - row[FIELD["start_s"]] == pytest.approx(row[FIELD["latency_s"]], abs=1e-9)
            assert row[FIELD["retries"]] == row[FIELD["attempt"]] - 1
        assert len(totals) == len(t)
        for index, sums in totals.items():
            assert sums["attempts"] == t.attempts[index]
            assert sums["input"] == t.input_tokens[index] and sums["output"] == t.output_tokens[index]
            assert sums["reasoning"] == t.reasoning_tokens[index]
            assert sums["cache_read"] == t.cache_read_tokens[index] and sums["hits"] == t.cache_hits[index]
            assert sums["throttled"] == t.throttled[index] and sums["errors"] == t.provider_errors[index]
            assert sums["tools"] == t.tool_calls[index]
            if not t.gpu_s[index]:  # self-hosted GPU time is billed per task, not per attempt
                assert sums["cost"] == pytest.approx(t.cost_usd[index], rel=1e-9, abs=1e-15)


def test_trace_rows_carry_the_opentelemetry_names_and_wall_clock_times():
    result = run(everything_workflow(0.1), 0, seed=4, replications=1, trace=True)
    rows = list(trace_rows(result))
    assert len(rows) == len(result.trace) > 100
    midnight = dt.datetime.combine(PRICES_DATE, dt.time(0, tzinfo=dt.UTC))
    operations = set()
    for row in rows:
        operations.add(row["operation"])
        assert set(TRACE_FIELDS) <= set(row)
        assert row["gen_ai.operation.name"] == row["operation"]
        assert row["gen_ai.usage.input_tokens"] == row["prompt_tokens"]
        assert row["gen_ai.usage.output_tokens"] == row["completion_tokens"]
        assert row["gen_ai.usage.cache_read.input_tokens"] == row["cache_read_tokens"]
        if row["operation"] == "chat":
            assert f'{row["gen_ai.provider.name"]}:{row["gen_ai.request.model"]}' == row["model"]
        else:
            assert row["gen_ai.tool.name"] == row["model"] == "search"
        when = dt.datetime.fromisoformat(row["start_time"].replace("Z", "+00:00"))
        assert abs((when - midnight).total_seconds() - row["start_s"]) < 1e-5
        assert row["task_type"] == "test"
    assert operations == {"chat", "execute_tool"}


def test_a_parquet_trace_holds_the_same_rows(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    result = run(everything_workflow(0.05), 0, seed=4, replications=1, trace=True)
    write_trace(result, tmp_path / "trace.parquet")
    assert pq.read_table(tmp_path / "trace.parquet").to_pylist() == list(trace_rows(result))


# -- reproducibility -----------------------------------------------------------------------------------------

def write_everything(folder, seed: int):
    result = run(everything_workflow(0.25), 0, seed=seed, replications=3, trace=True)
    write_run(result, summarize(result, budget_usd=5.0), folder, plot=False)
    write_trace(result, folder / "trace.jsonl")
    return folder


def test_the_same_seed_gives_the_same_bytes_trace_included(tmp_path):
    a, b = write_everything(tmp_path / "a", 31), write_everything(tmp_path / "b", 31)
    for name in (SUMMARY_FILE, TASKS_FILE, "trace.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    lines = (a / "trace.jsonl").read_text().splitlines()
    assert len(lines) > 1000 and all(json.loads(line)["task_type"] == "test" for line in lines[:10])
    other = write_everything(tmp_path / "c", 32)
    assert (a / "trace.jsonl").read_bytes() != (other / "trace.jsonl").read_bytes()
