"""Rate limits and outages, checked from traces: no clock minute holds more requests or tokens than a
model's RPM and TPM; rejected attempts are not billed and are retried on the backoff schedule; an outage
fails exactly the calls made inside its window (fixed seeds; tolerances of 4 standard errors)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest
from conftest import run, within_sigmas, workflow

from sim.core.records import TRACE_FIELDS
from sim.stats.summary import summarize

FIELD = {name: index for index, name in enumerate(TRACE_FIELDS)}
BILLED = ("ok", "invalid_output")
GPT41_IN, GPT41_OUT = 2.0 / 1e6, 8.0 / 1e6


def column(rows, name):
    return [row[FIELD[name]] for row in rows]


def task_index(task_id: int) -> int:
    return task_id & 0xFFFFFFFF  # the trace's task id is (replication << 32) | arrival index


# -- rate limits ---------------------------------------------------------------------------------------------

LIMITS = {"openai:gpt-4.1": {"rpm": 12, "tpm": 20_000}, "openai:gpt-4.1-mini": {"rpm": 30, "tpm": 15_000}}


def limited_workflow(on_limit: str):
    limits = {ref: {**limit, "on_limit": on_limit} for ref, limit in LIMITS.items()}
    return workflow(
        [{"id": "draft", "llm": "small", "prompt": {"lognormal": {"median": 1500, "sigma": 0.7}},
          "output": {"lognormal": {"median": 200, "sigma": 0.5}}},
         {"id": "check", "llm": "main", "prompt": 100, "output": 50, "fail": 0.1}],
        models={"small": "openai:gpt-4.1-mini", "main": "openai:gpt-4.1"},
        alternatives={"big-only": {"small": "openai:gpt-4.1"}},
        profiles={"default": {"ttft_s": 0.5, "tokens_per_s": 60},
                  "openai:gpt-4.1-mini": {"reasoning_tokens": {"poisson": {"mean": 100}}}},
        retry={"max_attempts": 3, "backoff": {"base_s": 10, "factor": 2, "jitter": "full"}},
        limits=limits, traffic={"tasks_per_day": 12_000, "days": 0.25})


@pytest.mark.parametrize("on_limit", ["wait", "reject"])
def test_no_minute_ever_exceeds_a_models_rpm_or_tpm(on_limit):
    result = run(limited_workflow(on_limit), 0, seed=8, replications=2, trace=True)
    requests, tokens = Counter(), Counter()
    for row in result.trace:
        if row[FIELD["operation"]] == "chat" and row[FIELD["outcome_status"]] in BILLED:
            minute = (row[FIELD["alternative"]], row[FIELD["replication"]], row[FIELD["model"]],
                      math.floor(row[FIELD["start_s"]] / 60))
            requests[minute] += 1
            tokens[minute] += row[FIELD["prompt_tokens"]] + row[FIELD["completion_tokens"]]  # reasoning included
    for minute, count in requests.items():
        limit = LIMITS[minute[2]]
        assert count <= limit["rpm"], minute
        assert tokens[minute] <= limit["tpm"], (minute, tokens[minute])
    # the limits really bound: some minute is full on each model
    for ref, limit in LIMITS.items():
        assert max(c for m, c in requests.items() if m[2] == ref) == limit["rpm"] or max(
            n for m, n in tokens.items() if m[2] == ref) > 0.9 * limit["tpm"]
    summary = summarize(result)["alternatives"][0]["rate_limits"]
    t = result.baseline.tasks
    key = "wait_s_per_task" if on_limit == "wait" else "throttled_attempts_per_task"
    assert summary[key] > 0
    assert summary["throttled_attempts_per_task"] == pytest.approx(float(t.throttled.mean()), rel=1e-12)
    assert summary["wait_s_per_task"] == pytest.approx(float(t.throttle_wait_s.mean()), rel=1e-12)


def test_waiting_for_a_limit_adds_exactly_its_wait_to_the_latency():
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 1000, "output": 100}],
                  profiles={"default": {"ttft_s": 0.2, "tokens_per_s": 100}},
                  limits={"openai:gpt-4.1": {"rpm": 4}},
                  traffic={"tasks_per_day": 4800, "days": 0.25})  # 3.3 a minute against 4: queues form
    result = run(wf, 0, seed=3, replications=1, trace=True)
    t = result.baseline.tasks
    assert t.throttle_wait_s.max() > 60 and t.success.all()
    np.testing.assert_allclose(t.latency_s, t.throttle_wait_s + 0.2 + 100 / 100, rtol=0, atol=1e-8)
    starts = {task_index(row[FIELD["task"]]): row[FIELD["start_s"]] for row in result.trace}
    start = np.array([starts[i] for i in range(len(t))])
    np.testing.assert_allclose(start, t.arrival_s + t.throttle_wait_s, rtol=0, atol=1e-8)
    # a task that waited starts at the top of a minute; one that did not starts on arrival
    waited = t.throttle_wait_s > 0
    np.testing.assert_allclose(start[waited] % 60, 0, atol=1e-6)
    # first come, first served: start times keep the order of arrivals
    assert np.all(np.diff(start) >= 0)


def test_rejected_attempts_are_not_billed_and_are_retried_on_schedule():
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 1000, "output": 100}],
                  profiles={"default": {"ttft_s": 0.2, "tokens_per_s": 100}},
                  retry={"max_attempts": 3, "backoff": {"base_s": 20, "factor": 2, "jitter": "none"}},
                  limits={"openai:gpt-4.1": {"rpm": 4, "on_limit": "reject"}},
                  traffic={"tasks_per_day": 9000, "days": 0.25})
    result = run(wf, 0, seed=3, replications=2, trace=True)
    t = result.baseline.tasks
    one_attempt = 1000 * GPT41_IN + 100 * GPT41_OUT
    assert t.throttled.sum() > 100 and t.success.sum() > 100
    np.testing.assert_array_equal(t.attempts, t.billed_attempts + t.throttled)
    np.testing.assert_array_equal(t.billed_attempts, t.success.astype(int))  # fail: 0, so one billed try succeeds
    np.testing.assert_array_equal(t.success, t.throttled < 3)
    np.testing.assert_allclose(t.cost_usd, t.billed_attempts * one_attempt, rtol=1e-12)
    assert summarize(result)["alternatives"][0]["failures"] == {"rate_limited": float(np.mean(~t.success))}
    by_task = defaultdict(list)
    for row in result.trace:
        by_task[row[FIELD["replication"]], row[FIELD["task"]]].append(row)
        if row[FIELD["outcome_status"]] == "rate_limited":
            assert row[FIELD["cost_usd"]] == 0 and row[FIELD["prompt_tokens"]] == 0
            assert row[FIELD["completion_tokens"]] == 0
    for rows in by_task.values():
        rows.sort(key=lambda row: row[FIELD["attempt"]])
        assert column(rows, "attempt") == list(range(1, len(rows) + 1))
        starts = column(rows, "start_s")
        # a rejection takes no time, then the retry waits 20 s, then 40 s
        assert np.allclose(np.diff(starts), [20, 40][:len(rows) - 1], rtol=0, atol=1e-9)


# -- outages -------------------------------------------------------------------------------------------------

OUTAGE_START_H, OUTAGE_MIN = 10.0, 45.0


def outage_workflow(error_rate: float, max_attempts: int, backoff: dict | None = None):
    retry = {"max_attempts": max_attempts, "on_exhausted": "fail_task"}
    if backoff:
        retry["backoff"] = backoff
    return workflow(
        [{"id": "a", "llm": "fast", "prompt": 200, "output": {"lognormal": {"median": 100, "sigma": 0.5}}},
         {"id": "look", "tool": "search", "latency": {"exponential": {"mean": 600}}, "result": 300},
         {"id": "b", "llm": "main", "prompt": 100, "output": 50}],
        models={"fast": "openai:gpt-4.1-mini", "main": "openai:gpt-4.1"},
        outages=[{"model": "openai:gpt-4.1", "start_h": OUTAGE_START_H, "duration_min": OUTAGE_MIN,
                  "error_rate": error_rate}],
        retry=retry, traffic={"tasks_per_day": 3000, "days": 1})


def calls_to_b(result) -> dict[tuple[int, int], float]:
    """(replication, arrival index) -> when the task calls the outage model: when its tool call ended."""
    return {(row[FIELD["replication"]], task_index(row[FIELD["task"]])): row[FIELD["end_s"]]
            for row in result.trace if row[FIELD["step"]] == "look"}


def test_an_outage_fails_exactly_the_tasks_that_call_the_model_inside_it():
    replications = 3
    result = run(outage_workflow(1.0, 1), 0, seed=5, replications=replications, trace=True)
    t = result.baseline.tasks
    start_s, end_s = OUTAGE_START_H * 3600, OUTAGE_START_H * 3600 + OUTAGE_MIN * 60
    calls = calls_to_b(result)
    expected = {key for key, when in calls.items() if start_s <= when < end_s}
    failed = set()
    for r in range(replications):
        indices = np.flatnonzero(~t.success[t.replication == r])
        failed |= {(r, int(i)) for i in indices}
    assert len(expected) > 50
    assert failed == expected
    # not the same as "arrived inside the window": the tool's minutes move calls in and out of it
    arrived = {(r, i) for r in range(replications)
               for i, a in enumerate(t.arrival_s[t.replication == r]) if start_s <= a < end_s}
    assert arrived != expected
    # provider errors are not billed: a failed task paid for its first call only
    first_output = t.output_tokens - 50 * t.success  # b writes 50 tokens when it is served
    a_cost = (200 * 0.4 + first_output * 1.6) / 1e6  # gpt-4.1-mini: $0.4 / $1.6 per million
    b_cost = (200 + first_output + 300 + 100) * GPT41_IN + 50 * GPT41_OUT
    np.testing.assert_allclose(t.cost_usd, np.where(t.success, a_cost + b_cost, a_cost), rtol=1e-9)
    summary = summarize(result)["alternatives"][0]
    assert summary["outages"]["tasks_failed"] == pytest.approx(len(expected) / len(t), rel=1e-12)
    assert summary["failures"] == {"provider_error": pytest.approx(len(expected) / len(t), rel=1e-12)}


def test_a_partial_outage_fails_each_attempt_independently():
    p, k = 0.5, 3
    # errors take no time and retries do not wait: all k attempts fall inside the window with the call
    result = run(outage_workflow(p, k, {"base_s": 0, "jitter": "none"}), 0, seed=6, replications=3, trace=True)
    t = result.baseline.tasks
    start_s, end_s = OUTAGE_START_H * 3600, OUTAGE_START_H * 3600 + OUTAGE_MIN * 60
    calls = calls_to_b(result)
    inside = np.zeros(len(t), dtype=bool)
    offsets = np.r_[0, np.cumsum(np.bincount(t.replication, minlength=3))]
    for (r, i), when in calls.items():
        inside[offsets[r] + i] = start_s <= when < end_s
    assert inside.sum() > 150
    assert t.success[~inside].all() and t.provider_errors[~inside].sum() == 0
    failed = ~t.success[inside]
    assert within_sigmas(failed.mean(), p**k, math.sqrt(p**k * (1 - p**k) / inside.sum()))
    errors = t.provider_errors[inside]
    expected_errors = sum(p**j for j in range(1, k + 1))  # E[errors] = P(1st fails) + P(1st, 2nd) + ...
    assert within_sigmas(errors.mean(), expected_errors, float(np.std(errors, ddof=1)) / math.sqrt(len(errors)))


def test_no_attempt_is_served_inside_an_outage_after_waiting_for_a_rate_limit():
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 100, "output": 50}],
                  outages=[{"model": "openai:gpt-4.1", "start_h": 2, "duration_min": 30, "error_rate": 1.0}],
                  limits={"openai:gpt-4.1": {"rpm": 1}},
                  traffic={"tasks_per_day": 24 * 80, "days": 0.25})  # 80 an hour against 60 a minute-slots
    result = run(wf, 0, seed=7, replications=1, trace=True)
    served = [row for row in result.trace if row[FIELD["outcome_status"]] in BILLED]
    assert served
    inside = [row for row in served if 7200 <= row[FIELD["start_s"]] < 9000]
    assert inside == []
