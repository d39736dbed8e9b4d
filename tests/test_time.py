"""Time: traffic (Poisson arrivals, the daily profile), call latency, hidden reasoning tokens, retry
backoff, the context window and the batch API, against hand arithmetic, the catalog's own calculator
and closed forms (fixed seeds; statistical tolerances of 4 standard errors)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from conftest import PRICES_DATE, run, within_sigmas, workflow
from genai_prices import Usage, calc_price

from sim.core.profiles import DEFAULTS
from sim.core.records import TRACE_FIELDS
from sim.engine.traffic import arrival_times_s
from sim.spec.timing import Traffic
from sim.stats.summary import summarize

WHEN = dt.datetime.combine(PRICES_DATE, dt.time(12, tzinfo=dt.UTC))
GPT41_IN, GPT41_OUT = 2.0 / 1e6, 8.0 / 1e6  # USD per token: the catalog's $2 / $8 per million
FIELD = {name: index for index, name in enumerate(TRACE_FIELDS)}


def catalog_usd(ref: str, n_in: int, n_out: int, batch: bool = False) -> float:
    provider_id, _, model = ref.partition(":")
    result = calc_price(Usage(input_tokens=n_in, output_tokens=n_out), model, provider_id=provider_id,
                        genai_request_timestamp=WHEN, price_context={"processing": "batch"} if batch else None)
    return float(result.total_price)


def standard_error(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


# -- traffic ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tasks_per_day, days", [(100, 1.0), (40, 2.5), (200, 0.51)])
def test_mean_arrivals_per_replication_is_rate_times_horizon(tasks_per_day, days):
    traffic = Traffic(tasks_per_day=tasks_per_day, days=days)
    replications = 2000
    counts = np.array([len(arrival_times_s(traffic, 3, r)) for r in range(replications)])
    expected = tasks_per_day * days  # Poisson: mean = variance = rate x horizon
    assert within_sigmas(counts.mean(), expected, math.sqrt(expected / replications))
    # Poisson dispersion: the sample variance over the mean is 1, with SE about sqrt(2 / (R - 1)).
    assert within_sigmas(counts.var(ddof=1) / expected, 1.0, math.sqrt(2 / (replications - 1)))
    last = max(float(arrival_times_s(traffic, 3, r).max(initial=0.0)) for r in range(50))
    assert 0.0 <= last < days * 86400


def test_arrivals_follow_the_hourly_profile():
    weights = [0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 8, 6, 5, 8, 8, 6, 4, 3, 2, 1, 1, 0.5, 0, 0]
    traffic = Traffic(tasks_per_day=500, days=3, profile=weights)
    times = np.concatenate([arrival_times_s(traffic, 11, r) for r in range(40)])
    hour = (times // 3600).astype(int) % 24
    counts = np.bincount(hour, minlength=24)
    n = len(times)
    share = np.asarray(weights) / sum(weights)
    # The total is Poisson(500 x 3 x 40); given the total, each hour's count is binomial.
    assert within_sigmas(n, 500 * 3 * 40, math.sqrt(500 * 3 * 40))
    for h in range(24):
        if share[h] == 0:
            assert counts[h] == 0, f"hour {h} has weight 0 but {counts[h]} arrivals"
        else:
            assert within_sigmas(counts[h], n * share[h], math.sqrt(n * share[h] * (1 - share[h]))), h


def test_simulated_tasks_are_the_arrivals_in_order():
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 10, "output": 10}],
                  traffic={"tasks_per_day": 300, "days": 1})
    result = run(wf, 0, seed=4, replications=3)
    t = result.baseline.tasks
    assert result.replications == 3
    for r in range(3):
        expected = arrival_times_s(wf.traffic, 4, r)
        np.testing.assert_array_equal(t.arrival_s[t.replication == r], expected)


# -- latency -----------------------------------------------------------------------------------------------

LATENCY_STEPS = [
    {"id": "a", "llm": "main", "prompt": 300, "output": {"lognormal": {"median": 100, "sigma": 0.5}}},
    {"id": "look", "tool": "search", "latency": 2.5, "result": 400},
    {"id": "b", "llm": "main", "prompt": 50, "output": 40},
]


@pytest.mark.parametrize("traffic", [None, {"tasks_per_day": 2000, "days": 0.5}])
def test_task_latency_is_ttft_plus_tokens_over_speed_plus_tools(traffic):
    extra = {"traffic": traffic} if traffic else {}
    wf = workflow(LATENCY_STEPS, profiles={"default": {"ttft_s": 0.5, "tokens_per_s": 50}}, **extra)
    t = run(wf, 500, replications=2).baseline.tasks
    assert len(t) > 100
    # two calls: 2 x 0.5 s to the first token, every visible output token at 50/s, and the tool's 2.5 s
    expected = 2 * 0.5 + t.output_tokens / 50 + 2.5
    np.testing.assert_allclose(t.latency_s, expected, rtol=0, atol=1e-8)
    assert len(set(t.output_tokens.tolist())) > 10  # the output really varies


def test_summary_latency_quantiles_are_those_of_the_tasks():
    wf = workflow(LATENCY_STEPS, profiles={"default": {"ttft_s": {"exponential": {"mean": 0.7}},
                                                       "tokens_per_s": {"uniform": {"low": 40, "high": 90}}}})
    result = run(wf, 2000)
    latency = result.baseline.tasks.latency_s
    summary = summarize(result)["alternatives"][0]["latency_s"]
    assert summary["mean"] == pytest.approx(float(latency.mean()), rel=1e-12)
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        assert summary[name] == pytest.approx(float(np.quantile(latency, q)), rel=1e-12)


def test_latency_defaults_come_from_the_table_and_a_model_profile_beats_the_default():
    steps = [{"id": "a", "llm": "small", "prompt": 10, "output": 120},
             {"id": "b", "llm": "main", "prompt": 10, "output": 60}]
    models = {"small": "openai:gpt-4.1-mini", "main": "openai:gpt-4.1"}
    table = run(workflow(steps, models=models), 3).baseline.tasks.latency_s
    mini, big = DEFAULTS["openai:gpt-4.1-mini"], DEFAULTS["openai:gpt-4.1"]
    expected = mini.ttft_s + 120 / mini.tokens_per_s + big.ttft_s + 60 / big.tokens_per_s
    np.testing.assert_allclose(table, expected, rtol=1e-12)
    profiles = {"default": {"ttft_s": 1.0, "tokens_per_s": 10}, "openai:gpt-4.1": {"tokens_per_s": 30}}
    overridden = run(workflow(steps, models=models, profiles=profiles), 3).baseline.tasks.latency_s
    # gpt-4.1 takes its speed from its own entry and its ttft from the default entry
    np.testing.assert_allclose(overridden, (1.0 + 120 / 10) + (1.0 + 60 / 30), rtol=1e-12)


def test_reasoning_tokens_are_billed_as_output_not_kept_and_reported_apart():
    reasoning = 200
    steps = [{"id": "a", "llm": "main", "prompt": 300, "output": {"lognormal": {"median": 100, "sigma": 0.5}}},
             {"id": "b", "llm": "main", "prompt": 50, "output": 40}]
    profile = {"ttft_s": 0.5, "tokens_per_s": 50}
    context = {"system": 1000, "user": 100}
    # the catalog's price of each call as a whole: no automatic prompt cache (provider rules off)
    with_r = workflow(steps, context=context, profiles={"openai:gpt-4.1": {**profile, "reasoning_tokens": reasoning}},
                      provider_rules=False)
    without = workflow(steps, context=context, profiles={"openai:gpt-4.1": profile}, provider_rules=False)
    result = run(with_r, 400)
    t, plain = result.baseline.tasks, run(without, 400).baseline.tasks
    o1 = t.output_tokens - 40
    # not kept: the second call's input grows by the first call's visible output only
    first_in, second_in = 1000 + 100 + 300, 1000 + 100 + 300 + o1 + 50
    np.testing.assert_array_equal(t.input_tokens, first_in + second_in)
    np.testing.assert_array_equal(t.input_tokens, plain.input_tokens)
    np.testing.assert_array_equal(t.output_tokens, plain.output_tokens)
    # reported apart
    assert np.all(t.reasoning_tokens == 2 * reasoning)
    assert summarize(result)["alternatives"][0]["reasoning_tokens_per_task"] == 2 * reasoning
    # billed as output (per call, by the catalog), and generated at the model's speed
    for cost, a_out, a_in, b_in in list(zip(t.cost_usd, o1, np.full(len(t), first_in), second_in))[:50]:
        expected = (catalog_usd("openai:gpt-4.1", int(a_in), int(a_out) + reasoning)
                    + catalog_usd("openai:gpt-4.1", int(b_in), 40 + reasoning))
        assert cost == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(t.cost_usd - plain.cost_usd, 2 * reasoning * GPT41_OUT, rtol=1e-9)
    np.testing.assert_allclose(t.latency_s, 2 * 0.5 + (t.output_tokens + 2 * reasoning) / 50, rtol=1e-12)


def test_random_reasoning_tokens_cost_their_draws():
    wf = workflow([{"id": "a", "llm": "main", "prompt": 500, "output": 100}],
                  profiles={"default": {"reasoning_tokens": {"poisson": {"mean": 300}}}})
    t = run(wf, 2000).baseline.tasks
    assert np.all(t.input_tokens == 500) and np.all(t.output_tokens == 100)
    np.testing.assert_allclose(t.cost_usd, 500 * GPT41_IN + (100 + t.reasoning_tokens) * GPT41_OUT, rtol=1e-12)
    assert within_sigmas(t.reasoning_tokens.mean(), 300, math.sqrt(300 / len(t)))


# -- retry backoff ------------------------------------------------------------------------------------------

def backoff_workflow(jitter: str):
    # every attempt takes exactly 1 s (no ttft, 100 tokens at 100/s)
    return workflow([{"id": "a", "llm": "main", "prompt": 10, "output": 100, "fail": 0.5}],
                    profiles={"default": {"ttft_s": 0, "tokens_per_s": 100}},
                    retry={"max_attempts": 4, "backoff": {"base_s": 1, "factor": 3, "max_s": 5, "jitter": jitter}})


def test_backoff_without_jitter_follows_the_schedule_exactly():
    t = run(backoff_workflow("none"), 4000, seed=2).baseline.tasks
    waits = [0.0, 1.0, 1.0 + 3.0, 1.0 + 3.0 + 5.0]  # before retries 1, 2, 3: min(5, 1 x 3^(n-1))
    expected = t.attempts + np.asarray(waits)[t.attempts - 1]
    np.testing.assert_allclose(t.latency_s, expected, rtol=0, atol=1e-12)
    assert set(t.attempts.tolist()) == {1, 2, 3, 4}
    assert np.all(t.attempts[~t.success] == 4) and (~t.success).any()


@pytest.mark.parametrize("jitter, low, high", [("full", 0.0, 1.0), ("equal", 0.5, 1.0)])
def test_jittered_backoff_is_uniform_over_its_range(jitter, low, high):
    t = run(backoff_workflow(jitter), 8000, seed=2).baseline.tasks
    twice = t.attempts == 2
    wait = t.latency_s[twice] - 2  # the one wait, before retry 1 (1 s before jitter)
    assert np.all((wait >= low - 1e-12) & (wait <= high + 1e-12))
    width = high - low
    assert within_sigmas(wait.mean(), (low + high) / 2, width / math.sqrt(12 * len(wait)))
    # three waits of 1, 3 and min(5, 9) = 5 s before jitter, each jittered into [low, high] x its length
    waits = t.latency_s[t.attempts == 4] - 4
    assert np.all((waits >= (1 + 3 + 5) * low - 1e-9) & (waits <= (1 + 3 + 5) * high + 1e-9))


# -- the context window -------------------------------------------------------------------------------------

WINDOW_STEPS = [{"id": "a", "llm": "main", "prompt": 600, "output": 300, "history": "none"},
                {"id": "b", "llm": "main", "prompt": 200, "output": {"poisson": {"mean": 50}}}]


def test_a_call_over_the_context_window_fails_with_that_reason():
    wf = workflow(WINDOW_STEPS, profiles={"openai:gpt-4.1": {"context_window_tokens": 1000}},
                  retry={"max_attempts": 3})
    result = run(wf, 200)
    t = result.baseline.tasks
    # b's input would be 600 + 300 + 200 = 1,100 > 1,000: it fails, unbilled, and retrying cannot help
    assert not t.success.any()
    assert np.all(t.attempts == 2) and np.all(t.billed_attempts == 1)
    np.testing.assert_allclose(t.cost_usd, 600 * GPT41_IN + 300 * GPT41_OUT, rtol=1e-12)
    assert summarize(result)["alternatives"][0]["failures"] == {"context_exceeded": 1.0}


def test_history_window_truncates_the_input_to_the_window():
    steps = [WINDOW_STEPS[0], {**WINDOW_STEPS[1], "history": "window"}]
    wf = workflow(steps, profiles={"openai:gpt-4.1": {"context_window_tokens": 1000}})
    t = run(wf, 200).baseline.tasks
    assert t.success.all()
    np.testing.assert_array_equal(t.input_tokens, 600 + 1000)  # b sends exactly the window
    np.testing.assert_allclose(t.cost_usd, (600 + 1000) * GPT41_IN + t.output_tokens * GPT41_OUT, rtol=1e-12)
    # a window too small for even system + user + the step's own prompt still fails: nothing to drop
    steps = [{"id": "a", "llm": "main", "prompt": 100, "output": 50},
             {"id": "b", "llm": "main", "prompt": 400, "output": 50, "history": "window"}]
    small = workflow(steps, context={"system": 200, "user": 100},
                     profiles={"openai:gpt-4.1": {"context_window_tokens": 650}})
    t = run(small, 20).baseline.tasks  # a sends 400 tokens; b would need 700 even with no history
    assert not t.success.any()
    assert np.all(t.billed_attempts == 1) and np.all(t.input_tokens == 400)


def test_history_window_leaves_an_input_that_fits_alone():
    steps = [WINDOW_STEPS[0], {**WINDOW_STEPS[1], "history": "window"}]
    wf = workflow(steps, profiles={"openai:gpt-4.1": {"context_window_tokens": 5000}})
    t = run(wf, 50).baseline.tasks
    np.testing.assert_array_equal(t.input_tokens, 600 + (600 + 300 + 200))


@pytest.mark.parametrize("engine", ["des", "fast"])
def test_a_retry_that_grows_past_the_window_through_error_feedback_fails_unbilled(engine):
    """Issue 13: the window held only for the first attempt, so a third attempt of 1.2M tokens was billed."""
    steps = [{"id": "a", "llm": "main", "output": 300_000, "fail": 1.0}]
    wf = workflow(steps, context={"user": 400_000}, profiles={"openai:gpt-4.1": {"context_window_tokens": 1_000_000}},
                  retry={"max_attempts": 3, "error_feedback": 100_000, "backoff": {"base_s": 0}})
    t = run(wf, 20, engine=engine).baseline.tasks
    # attempt 1 sends 400k; attempt 2 400k + 300k (its failed answer) + 100k (the complaint) = 800k;
    # attempt 3 would send 1.2M > 1M: it fails the call with context_exceeded, unbilled
    assert not t.success.any()
    assert np.all(t.attempts == 3) and np.all(t.billed_attempts == 2)
    np.testing.assert_array_equal(t.input_tokens, 400_000 + 800_000)
    np.testing.assert_array_equal(t.output_tokens, 2 * 300_000)
    np.testing.assert_allclose(t.cost_usd, 1_200_000 * GPT41_IN + 600_000 * GPT41_OUT, rtol=1e-12)
    assert summarize(run(wf, 20, engine=engine))["alternatives"][0]["failures"] == {"context_exceeded": 1.0}


@pytest.mark.parametrize("engine", ["des", "fast"])
def test_with_history_window_a_retry_drops_old_turns_to_fit_its_feedback(engine):
    steps = [{"id": "a", "llm": "main", "prompt": 300_000, "output": 300_000},
             {"id": "b", "llm": "main", "output": 200_000, "fail": 1.0, "history": "window"}]
    wf = workflow(steps, profiles={"openai:gpt-4.1": {"context_window_tokens": 1_000_000}},
                  retry={"max_attempts": 4, "error_feedback": 100_000, "backoff": {"base_s": 0}})
    t = run(wf, 10, engine=engine).baseline.tasks
    # b: 600k of history; its retries add 300k of feedback each: 600k, 900k, then the window twice (the
    # oldest turns dropped; 1.2M and 1.5M before), never more than the window
    np.testing.assert_array_equal(t.input_tokens, 300_000 + 600_000 + 900_000 + 2 * 1_000_000)
    assert np.all(t.billed_attempts == 5)


def test_the_default_context_window_is_the_catalogs():
    ref, model = "anthropic:claude-sonnet-4", "claude-sonnet-4"
    window = calc_price(Usage(input_tokens=1, output_tokens=1), model, provider_id="anthropic",
                        genai_request_timestamp=WHEN).model.context_window
    assert window
    own = {"reference": "none"}  # sizes in Claude's own tokens, as the catalog's window counts them
    fits = run(workflow([{"id": "a", "llm": "main", "prompt": window, "output": 1}], models={"main": ref},
                        tokenizer=own), 2)
    over = run(workflow([{"id": "a", "llm": "main", "prompt": window + 1, "output": 1}], models={"main": ref},
                        tokenizer=own), 2)
    assert fits.baseline.tasks.success.all()
    assert not over.baseline.tasks.success.any()
    assert summarize(over)["alternatives"][0]["failures"] == {"context_exceeded": 1.0}


# -- batch --------------------------------------------------------------------------------------------------

def test_batch_with_fixed_tokens_costs_the_catalogs_batch_price_and_its_fixed_delay():
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 1200, "output": 300}], batch={"delay_s": 900})
    result = run(wf, 100)
    t = result.baseline.tasks
    batch_usd = catalog_usd("openai:gpt-4.1", 1200, 300, batch=True)
    assert batch_usd < catalog_usd("openai:gpt-4.1", 1200, 300)  # the catalog has a batch discount
    np.testing.assert_allclose(t.cost_usd, batch_usd, rtol=1e-12)
    np.testing.assert_array_equal(t.latency_s, 900.0)  # the delay replaces ttft + output time
    summary = summarize(result)["alternatives"][0]
    assert summary["batched_steps"] == ["ask"]


def test_a_batched_step_is_batched_and_named_alone():
    wf = workflow([{"id": "plan", "llm": "main", "prompt": 1000, "output": 100},
                   {"id": "bulk", "llm": "main", "prompt": 500, "output": 200, "history": "none",
                    "batch": {"delay_s": {"uniform": {"low": 60, "high": 120}}}},
                   {"id": "skip", "llm": "main", "prompt": 10, "output": 10, "history": "none", "batch": False}],
                  profiles={"default": {"ttft_s": 0.5, "tokens_per_s": 100}})
    result = run(wf, 2000, trace=True)
    t = result.baseline.tasks
    expected = (catalog_usd("openai:gpt-4.1", 1000, 100) + catalog_usd("openai:gpt-4.1", 500, 200, batch=True)
                + catalog_usd("openai:gpt-4.1", 10, 10))
    np.testing.assert_allclose(t.cost_usd, expected, rtol=1e-12)
    delay = t.latency_s - (0.5 + 100 / 100) - (0.5 + 10 / 100)
    assert np.all((delay >= 60) & (delay <= 120))
    assert within_sigmas(delay.mean(), 90, 60 / math.sqrt(12 * len(t)))
    assert summarize(result)["alternatives"][0]["batched_steps"] == ["bulk"]
    flags = {(row[FIELD["step"]], row[FIELD["batch"]]) for row in result.trace}
    assert flags == {("plan", False), ("bulk", True), ("skip", False)}


def test_an_unbatched_run_lists_no_batched_steps():
    result = run(workflow([{"id": "ask", "llm": "main", "prompt": 10, "output": 10}]), 5)
    assert "batched_steps" not in summarize(result)["alternatives"][0]
