"""Prompt caching: the static head's hit rate under Poisson traffic (1 - e^(-lambda tau)), the minimum
prefix, the conversation reused within a task, the prices of reads and writes (checked against the
catalog's own calculator) and, from a trace, that no hit ever reads an expired entry.

These are the cache's mechanics under the uniform rules (``provider_rules: false``: any TTL, one minimum
for every model); each provider's own rules are tested in tests/test_provider_rules.py."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import numpy as np
import pytest
from conftest import PRICES_DATE, run, within_sigmas
from conftest import workflow as _workflow
from genai_prices import Usage, calc_price

from sim.core.records import TRACE_FIELDS
from sim.stats.summary import summarize

WHEN = dt.datetime.combine(PRICES_DATE, dt.time(12, tzinfo=dt.UTC))


SONNET = "anthropic:claude-sonnet-4"  # has cache-read, 5-minute and 1-hour cache-write prices
FIELD = {name: index for index, name in enumerate(TRACE_FIELDS)}
BILLED = ("ok", "invalid_output")  # outcomes of attempts the provider served (and that touch the cache)


def workflow(steps, models=None, **extra):
    """conftest's workflow under the uniform caching rules, with sizes in each model's own tokenizer: these
    tests hand-count tokens that way (the provider rules and tokenizer ratios are tested in
    test_provider_rules.py and test_provider_tokens.py)."""
    return _workflow(steps, models, **{"provider_rules": False, "tokenizer": {"reference": "none"}, **extra})


def catalog_usd(n_in: int, n_out: int, n_read: int = 0, n_write: int = 0, write_1h: bool = False,
                ref: str = SONNET) -> float:
    """The catalog's price of one attempt. It counts 1-hour writes inside cache_write_tokens."""
    provider_id, _, model = ref.partition(":")
    usage = Usage(input_tokens=n_in, output_tokens=n_out, cache_read_tokens=n_read, cache_write_tokens=n_write,
                  cache_write_1h_tokens=n_write if write_1h else 0)
    return float(calc_price(usage, model, provider_id=provider_id, genai_request_timestamp=WHEN).total_price)


def single_call(tasks_per_day: float, ttl_s: float = 300, system: int = 2000, user: int = 0, days: float = 2,
                min_prefix: int = 1024):
    return workflow([{"id": "ask", "llm": "main", "prompt": 0, "output": 10, "history": "none"}],
                    models={"main": SONNET}, context={"system": system, "user": user},
                    cache={"ttl_s": ttl_s, "min_prefix_tokens": min_prefix},
                    traffic={"tasks_per_day": tasks_per_day, "days": days})


# -- the static head under traffic --------------------------------------------------------------------------

@pytest.mark.parametrize("lambda_tau", [0.3, 1.0, 3.0])
def test_static_prefix_hit_rate_is_one_minus_exp_of_minus_lambda_tau(lambda_tau):
    ttl_s = 300.0
    rate_per_s = lambda_tau / ttl_s
    replications = 10
    t = run(single_call(rate_per_s * 86400, ttl_s), 0, seed=13, replications=replications).baseline.tasks
    # Every call refreshes the entry, so a call hits iff the previous call came within tau: the gaps of a
    # Poisson process are i.i.d. exponential, so the hits are i.i.d. Bernoulli(1 - e^(-lambda tau)),
    # except each replication's first call, which always misses.
    first = np.r_[True, t.replication[1:] != t.replication[:-1]]
    assert not t.cache_hits[first].any()
    hits = t.cache_hits[~first]
    p = 1 - math.exp(-lambda_tau)
    assert len(hits) > 1000
    assert within_sigmas(hits.mean(), p, math.sqrt(p * (1 - p) / len(hits)))


def test_summary_hit_rate_and_cached_share_are_those_of_the_tasks():
    result = run(single_call(288), 0, seed=13, replications=3)
    t = result.baseline.tasks
    cache = summarize(result)["alternatives"][0]["cache"]
    assert cache["hit_rate"] == t.cache_hits.sum() / t.billed_attempts.sum()
    assert cache["cached_input_share"] == pytest.approx(t.cache_read_tokens.sum() / t.input_tokens.sum(), rel=1e-12)
    # every hit reads exactly the 2,000-token system prompt; every miss writes it
    np.testing.assert_array_equal(t.cache_read_tokens, 2000 * t.cache_hits)
    np.testing.assert_array_equal(t.cache_write_tokens, 2000 * (1 - t.cache_hits))


def test_a_prefix_under_the_minimum_length_never_hits():
    t = run(single_call(5000, system=1000, min_prefix=1024), 0, replications=2).baseline.tasks
    assert len(t) > 5000
    assert t.cache_hits.sum() == 0 and t.cache_read_tokens.sum() == 0 and t.cache_write_tokens.sum() == 0
    np.testing.assert_allclose(t.cost_usd, catalog_usd(1000, 10), rtol=1e-12)


def test_a_short_system_prompt_does_not_hit_across_tasks_because_of_the_users_request():
    t = run(single_call(5000, system=500, user=600, min_prefix=1024), 0, replications=1).baseline.tasks
    assert t.cache_hits.sum() == 0


def test_a_cross_task_hit_reads_the_system_prompt_only():
    wf = single_call(5000, system=2000, user=100)
    t = run(wf, 0, replications=1).baseline.tasks
    assert t.cache_hits.sum() > 0
    np.testing.assert_array_equal(t.cache_read_tokens, 2000 * t.cache_hits)


# -- the conversation within a task -------------------------------------------------------------------------

CONVERSATION = [
    {"id": "a", "llm": "main", "prompt": 800, "output": {"lognormal": {"median": 200, "sigma": 0.5}}},
    {"id": "look", "tool": "search", "result": {"lognormal": {"median": 1500, "sigma": 0.5}}, "latency": 1.0},
    {"id": "b", "llm": "main", "prompt": 100, "output": 150},
]


def conversation_workflow(ttl_s: float = 300, tool_latency: float = 1.0):
    steps = [CONVERSATION[0], {**CONVERSATION[1], "latency": tool_latency}, CONVERSATION[2]]
    return workflow(steps, models={"main": SONNET}, context={"system": 1500, "user": 100},
                    cache={"ttl_s": ttl_s, "min_prefix_tokens": 1024},
                    profiles={"default": {"ttft_s": 0.5, "tokens_per_s": 50}})


@pytest.mark.parametrize("ttl_s, write_1h", [(300, False), (3600, True)])
def test_the_second_full_history_call_reads_the_first_calls_whole_input(ttl_s, write_1h):
    result = run(conversation_workflow(ttl_s), 300, trace=True)
    rows = defaultdict(dict)
    for row in result.trace:
        rows[row[FIELD["task"]]][row[FIELD["step"]]] = row
    t = result.baseline.tasks
    for index, task_rows in rows.items():
        a, b = task_rows["a"], task_rows["b"]
        in_a, in_b = a[FIELD["prompt_tokens"]], b[FIELD["prompt_tokens"]]
        assert in_a == 1500 + 100 + 800
        # no traffic: nothing is shared between tasks, so the first call writes its whole input ...
        assert (a[FIELD["cache_read_tokens"]], a[FIELD["cache_write_tokens"]]) == (0, in_a)
        # ... and the second reads all of it and writes the rest
        assert (b[FIELD["cache_read_tokens"]], b[FIELD["cache_write_tokens"]]) == (in_a, in_b - in_a)
        assert b[FIELD["cache_hit"]] and not a[FIELD["cache_hit"]]
        out_a, out_b = a[FIELD["completion_tokens"]], b[FIELD["completion_tokens"]]
        expected = (catalog_usd(in_a, out_a, 0, in_a, write_1h) + catalog_usd(in_b, out_b, in_a, in_b - in_a, write_1h))
        assert a[FIELD["cost_usd"]] + b[FIELD["cost_usd"]] == pytest.approx(expected, rel=1e-12)
        assert t.cost_usd[index] == pytest.approx(expected, rel=1e-12)


def test_the_one_hour_write_price_is_dearer_than_the_five_minute_one():
    # the catalog's own numbers: writing 1M tokens for 5 minutes vs for an hour
    five = catalog_usd(10**6, 0, 0, 10**6, write_1h=False)
    hour = catalog_usd(10**6, 0, 0, 10**6, write_1h=True)
    assert hour > five > catalog_usd(10**6, 0)
    short = run(conversation_workflow(300), 50).baseline.tasks
    long = run(conversation_workflow(301), 50).baseline.tasks
    np.testing.assert_array_equal(short.cache_write_tokens, long.cache_write_tokens)
    np.testing.assert_allclose(long.cost_usd - short.cost_usd, short.cache_write_tokens * (hour - five) / 1e6,
                               rtol=1e-9)


def test_the_conversation_is_not_read_after_it_expired():
    # 400 s of tool time between the calls, TTL 300 s: the second call reads nothing, and writes everything
    t = run(conversation_workflow(300, tool_latency=400), 100).baseline.tasks
    assert t.cache_hits.sum() == 0 and t.cache_read_tokens.sum() == 0
    np.testing.assert_array_equal(t.cache_write_tokens, t.input_tokens)
    t = run(conversation_workflow(600, tool_latency=400), 100).baseline.tasks
    assert np.all(t.cache_hits == 1)


def test_the_saving_is_against_the_same_run_with_no_cache():
    cached = conversation_workflow(300)
    uncached = cached.model_copy(update={"cache": None})
    result = run(cached, 500)
    t, plain = result.baseline.tasks, run(uncached, 500).baseline.tasks
    np.testing.assert_array_equal(t.input_tokens, plain.input_tokens)  # the same tasks
    np.testing.assert_allclose(t.cost_usd + t.cache_saving_usd, plain.cost_usd, rtol=1e-12)
    cache = summarize(result)["alternatives"][0]["cache"]
    assert cache["saving_usd_per_task"] == pytest.approx(float(plain.cost_usd.mean() - t.cost_usd.mean()), rel=1e-9)
    assert cache["saving_share"] == pytest.approx(1 - t.cost_usd.sum() / plain.cost_usd.sum(), rel=1e-9)
    assert cache["saving_usd_per_task"] > 0


def test_a_model_without_a_write_premium_bills_writes_at_the_input_price():
    wf = workflow(CONVERSATION, models={"main": "openai:gpt-4.1"}, context={"system": 1500, "user": 100},
                  cache={"ttl_s": 300, "min_prefix_tokens": 1024})
    result = run(wf, 100, trace=True)
    for row in result.trace:
        if row[FIELD["operation"]] != "chat":
            continue
        n_in, n_out = row[FIELD["prompt_tokens"]], row[FIELD["completion_tokens"]]
        n_read = row[FIELD["cache_read_tokens"]]
        expected = catalog_usd(n_in, n_out, n_read, row[FIELD["cache_write_tokens"]], ref="openai:gpt-4.1")
        assert row[FIELD["cost_usd"]] == pytest.approx(expected, rel=1e-12)
        assert row[FIELD["cost_usd"]] == pytest.approx(((n_in - n_read) * 2.0 + n_read * 0.5 + n_out * 8.0) / 1e6,
                                                       rel=1e-12)


# -- no hit after expiry, from a trace ------------------------------------------------------------------------

def test_no_cache_hit_occurs_after_expiry():
    ttl_s, system = 240.0, 1500
    wf = workflow(
        [{"id": "classify", "llm": "fast", "prompt": 200, "output": 20, "history": "none"},
         {"id": "look", "tool": "search", "result": {"lognormal": {"median": 800, "sigma": 0.6}},
          "latency": {"exponential": {"mean": 150}}},
         {"id": "answer", "llm": "main", "prompt": 100, "output": {"lognormal": {"median": 300, "sigma": 0.5}},
          "fail": 0.3}],
        models={"fast": "anthropic:claude-haiku-4-5", "main": SONNET},
        alternatives={"one-model": {"fast": SONNET}},
        context={"system": system}, cache={"ttl_s": ttl_s, "min_prefix_tokens": 1024},
        retry={"max_attempts": 3, "backoff": {"base_s": 60, "factor": 3, "jitter": "full"}},
        profiles={"default": {"ttft_s": {"exponential": {"mean": 1}}, "tokens_per_s": 60}},
        traffic={"tasks_per_day": 400, "days": 2})
    result = run(wf, 0, seed=21, replications=2, trace=True)
    accesses = defaultdict(list)  # (alternative, replication, model) -> billed attempts in start order
    for row in result.trace:
        if row[FIELD["operation"]] == "chat" and row[FIELD["outcome_status"]] in BILLED:
            accesses[row[FIELD["alternative"]], row[FIELD["replication"]], row[FIELD["model"]]].append(row)
    hits = misses = 0
    for rows in accesses.values():
        rows.sort(key=lambda row: row[FIELD["start_s"]])
        last_use: dict = {}  # task -> start of its latest attempt on this model
        for previous, row in zip([None, *rows], rows):
            gap = math.inf if previous is None else row[FIELD["start_s"]] - previous[FIELD["start_s"]]
            read = row[FIELD["cache_read_tokens"]]
            if read:  # whatever the prefix, some use of this model's cache came within the TTL
                hits += 1
                assert gap <= ttl_s, row
                if read > system:  # the conversation: this task's own previous call, within the TTL
                    task = row[FIELD["task"]]
                    assert row[FIELD["start_s"]] - last_use[task] <= ttl_s, row
            if gap <= ttl_s:  # and conversely: the static head was alive, so it is read
                assert read >= system, row
            else:
                misses += 1
            last_use[row[FIELD["task"]]] = row[FIELD["start_s"]]
    assert hits > 100 and misses > 100  # the test saw both
