"""The SimPy engine against hand arithmetic and closed forms (fixed seeds, tolerances in standard errors)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from conftest import PRICES_DATE, run, within_sigmas, workflow
from genai_prices import Usage, calc_price

GPT41_IN, GPT41_OUT = 2.0 / 1e6, 8.0 / 1e6  # USD per token, the catalog's $2 / $8 per million


def standard_error(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


@pytest.mark.parametrize("tasks", [1, 7, 1000])
def test_fixed_tokens_give_exact_arithmetic_for_any_number_of_tasks(tasks):
    # 1,000 tokens in and 500 out on GPT-4.1: 1000 * $2/M + 500 * $8/M = $0.006.
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 1000, "output": 500}])
    costs = run(wf, tasks).baseline.tasks.cost_usd
    assert np.all(np.abs(costs - 0.006) <= 1e-15)
    assert round(float(costs.sum()), 2) == round(0.006 * tasks, 2)


def test_one_call_costs_what_the_catalogs_own_calculator_says():
    wf = workflow([{"id": "ask", "llm": "main", "prompt": {"lognormal": {"median": 3000, "sigma": 1.0}},
                    "output": {"lognormal": {"median": 400, "sigma": 0.8}}}],
                  models={"main": "google:gemini-2.5-pro"})  # has a 200K-token price tier
    t = run(wf, 300).baseline.tasks
    when = dt.datetime.combine(PRICES_DATE, dt.time(12, tzinfo=dt.UTC))
    # Gemini 2.5 Pro thinks by default: its hidden reasoning tokens are billed as output.
    assert t.reasoning_tokens.min() > 0
    for cost, n_in, n_out, n_reasoning in zip(t.cost_usd, t.input_tokens, t.output_tokens, t.reasoning_tokens):
        usage = Usage(input_tokens=int(n_in), output_tokens=int(n_out + n_reasoning))
        expected = float(calc_price(usage, "gemini-2.5-pro", provider_id="google",
                                    genai_request_timestamp=when).total_price)
        assert cost == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("p, k", [(0.3, 3), (0.5, 2), (0.1, 1)])
def test_retries_match_the_geometric_closed_forms(p, k):
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 100, "output": 10, "fail": p}],
                  retry={"max_attempts": k})
    t = run(wf, 20_000, seed=11).baseline.tasks
    assert within_sigmas(t.attempts.mean(), (1 - p**k) / (1 - p), standard_error(t.attempts))
    failed = ~t.success
    assert within_sigmas(failed.mean(), p**k, math.sqrt(p**k * (1 - p**k) / len(t)))
    # A failed attempt is billed in full: cost is exactly attempts times one attempt's price.
    assert np.allclose(t.cost_usd, t.attempts * (100 * GPT41_IN + 10 * GPT41_OUT), rtol=1e-12, atol=0)


def test_escalation_retries_on_the_next_model_then_fails():
    # Attempt j of a call draws one uniform u_j shared by every model: it fails a model with failure
    # probability r iff u_j < r. The cheap model (p) is exhausted iff all k draws fall below p; the strong
    # one (q < p) then sees the same draws, each below q with probability q/p given it is below p.
    p, q, k = 0.4, 0.2, 2
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 100, "output": 10,
                    "fail": {"default": p, "openai:gpt-4.1": q}}],
                  models={"main": "openai:gpt-4.1-mini", "big": "openai:gpt-4.1"},
                  retry={"max_attempts": k, "on_exhausted": {"escalate": "big"}})
    t = run(wf, 20_000, seed=5).baseline.tasks
    p_escalate = p**k
    assert within_sigmas(t.calls.mean(), 1 + p_escalate, standard_error(t.calls))
    p_fail = q**k  # every draw below q: below p too
    assert within_sigmas((~t.success).mean(), p_fail, math.sqrt(p_fail * (1 - p_fail) / len(t)))
    r = q / p
    expected_attempts = (1 - p**k) / (1 - p) + p_escalate * (1 - r**k) / (1 - r)
    assert within_sigmas(t.attempts.mean(), expected_attempts, standard_error(t.attempts))


def test_task_retries_rerun_everything():
    p, runs = 0.5, 3
    wf = workflow([{"id": "first", "llm": "main", "prompt": 10, "output": 10},
                   {"id": "second", "llm": "main", "prompt": 10, "output": 10, "fail": p}],
                  task_retry={"max_attempts": runs})
    t = run(wf, 20_000, seed=3).baseline.tasks
    assert within_sigmas((~t.success).mean(), p**runs, math.sqrt(p**runs / len(t)))
    # every run repeats both calls: calls = 2 * runs
    assert np.array_equal(t.calls, 2 * t.runs)
    assert within_sigmas(t.runs.mean(), (1 - p**runs) / (1 - p), standard_error(t.runs))


@pytest.mark.parametrize("calls", [1, 2, 5, 12])
def test_context_grows_quadratically_with_history_full(calls):
    # Head s = system + user + prompt; each call adds its output D: input total = T*s + D*T*(T-1)/2.
    s_system, s_user, delta = 1200, 200, 300
    wf = workflow([{"id": "loop", "repeat": calls,
                    "steps": [{"id": "turn", "llm": "main", "output": delta}]}],
                  context={"system": s_system, "user": s_user})
    t = run(wf, 5).baseline.tasks
    s = s_system + s_user
    assert np.all(t.input_tokens == calls * s + delta * calls * (calls - 1) // 2)
    # With history none every call sends only the head.
    wf_none = workflow([{"id": "loop", "repeat": calls,
                         "steps": [{"id": "turn", "llm": "main", "output": delta, "history": "none"}]}],
                       context={"system": s_system, "user": s_user})
    assert np.all(run(wf_none, 5).baseline.tasks.input_tokens == calls * s)


def test_tool_results_and_earlier_steps_join_the_conversation():
    wf = workflow([{"id": "a", "llm": "main", "prompt": 100, "output": 50, "history": "none"},
                   {"id": "t", "tool": "search", "result": 1000},
                   {"id": "b", "llm": "main", "prompt": 10, "output": 5}],
                  context={"system": 7})
    t = run(wf, 3).baseline.tasks
    # a: 7 + 100; b: 7 + (100 + 50) + 1000 + 10
    assert np.all(t.input_tokens == (7 + 100) + (7 + 150 + 1000 + 10))
    assert np.all(t.tool_calls == 1)


def test_walds_identity_for_random_loop_counts():
    # E[cost] = E[N] * E[cost of one iteration] when iterations are i.i.d. and independent of N.
    lam = 2.5
    output = {"lognormal": {"median": 200, "sigma": 0.7}}
    wf = workflow([{"id": "loop", "repeat": {"poisson": {"mean": lam}},
                    "steps": [{"id": "turn", "llm": "main", "prompt": 300, "output": output, "history": "none"}]}])
    t = run(wf, 20_000, seed=21).baseline.tasks
    from sim.spec.distributions import Lognormal

    mean_output = Lognormal.model_validate(output).expected_value(integer=True)
    exact = lam * (300 * GPT41_IN + mean_output * GPT41_OUT)
    assert within_sigmas(t.cost_usd.mean(), exact, standard_error(t.cost_usd))


def test_tool_failures_retry_and_fail_the_task_and_paid_tools_are_billed():
    p, k = 0.3, 2
    wf = workflow([{"id": "t", "tool": "search", "fail": p, "cost_usd": 0.01}], retry={"max_attempts": k})
    t = run(wf, 20_000, seed=2).baseline.tasks
    assert within_sigmas((~t.success).mean(), p**k, math.sqrt(p**k / len(t)))
    assert np.allclose(t.cost_usd, 0.01 * t.tool_calls, rtol=1e-12)


def test_branches_follow_their_probabilities():
    wf = workflow([{"id": "route", "branch": {
        "cheap": {"p": 0.7, "steps": [{"id": "small", "llm": "main", "output": 1}]},
        "dear": {"p": 0.3, "steps": [{"id": "large", "llm": "main", "output": 1000}]}}}])
    t = run(wf, 20_000, seed=8).baseline.tasks
    share_dear = (t.output_tokens == 1000).mean()
    assert within_sigmas(share_dear, 0.3, math.sqrt(0.3 * 0.7 / len(t)))


def test_tool_latency_advances_simulated_time_without_changing_cost():
    fast = workflow([{"id": "t", "tool": "db", "latency": 0}, {"id": "a", "llm": "main", "output": 5}])
    slow = workflow([{"id": "t", "tool": "db", "latency": {"exponential": {"mean": 3}}},
                     {"id": "a", "llm": "main", "output": 5}])
    assert np.array_equal(run(fast, 500).baseline.tasks.cost_usd, run(slow, 500).baseline.tasks.cost_usd)
