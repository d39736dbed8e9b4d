"""Self-hosted models and concurrency limits against queueing theory (Erlang C for M/M/c), and the GPU
bill: GPU-hours over the horizon, idle time included, whatever the traffic (fixed seeds; 4 SE)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import run, within_sigmas, workflow

from sim.core.records import TRACE_FIELDS
from sim.spec.distributions import Exponential
from sim.stats.summary import summarize

FIELD = {name: index for index, name in enumerate(TRACE_FIELDS)}
GPT41_IN, GPT41_OUT = 2.0 / 1e6, 8.0 / 1e6


def erlang_c(c: int, offered: float) -> float:
    """P(an arrival waits) in M/M/c with offered load a = lambda / mu < c (Erlang's C formula)."""
    top = offered**c / math.factorial(c) * c / (c - offered)
    return top / (sum(offered**k / math.factorial(k) for k in range(c)) + top)


def mmc_mean_wait(c: int, arrival_rate: float, mean_service_s: float) -> tuple[float, float]:
    """(P(wait > 0), E[wait in queue]) of M/M/c."""
    offered = arrival_rate * mean_service_s
    p_wait = erlang_c(c, offered)
    return p_wait, p_wait / (c / mean_service_s - arrival_rate)


def check_erlang_c(t, service_s: np.ndarray, c: int, arrival_rate: float, mean_service_s: float,
                   replications: int, warm_up_s: float) -> None:
    """Mean queue wait and P(wait > 0), per replication after a warm-up (the queue starts empty), against
    Erlang C; the SE comes from the spread of the replications' means (waits within one are correlated)."""
    wait = t.latency_s - service_s
    assert wait.min() > -1e-6
    keep = t.arrival_s >= warm_up_s
    mean_wait = np.array([wait[keep & (t.replication == r)].mean() for r in range(replications)])
    p_wait = np.array([(wait[keep & (t.replication == r)] > 1e-9).mean() for r in range(replications)])
    exact_p, exact_wait = mmc_mean_wait(c, arrival_rate, mean_service_s)
    se = float(np.std(mean_wait, ddof=1)) / math.sqrt(replications)
    assert within_sigmas(mean_wait.mean(), exact_wait, se), (mean_wait.mean(), exact_wait, se)
    se_p = float(np.std(p_wait, ddof=1)) / math.sqrt(replications)
    assert within_sigmas(p_wait.mean(), exact_p, se_p), (p_wait.mean(), exact_p, se_p)


@pytest.mark.parametrize("c", [1, 4])
def test_a_self_hosted_server_matches_erlang_c(c):
    utilisation, decode_per_s, mean_tokens = 0.7, 100.0, 1000
    # no prefill (no system prompt, no prompt) and exponential output: the service time is exponential
    # (its tokens are rounded to integers, which changes the mean by far less than a standard error)
    mean_service_s = Exponential(exponential={"mean": mean_tokens}).expected_value(integer=True) / decode_per_s
    arrival_rate = utilisation * c / mean_service_s
    wf = workflow([{"id": "gen", "llm": "main", "prompt": 0, "output": {"exponential": {"mean": mean_tokens}},
                    "history": "none"}],
                  models={"main": "self:llama"},
                  self_hosted={"llama": {"gpu_hour_usd": 1.99, "prefill_tokens_per_s": 3000,
                                         "decode_tokens_per_s": decode_per_s, "max_concurrency": c}},
                  traffic={"tasks_per_day": arrival_rate * 86400, "days": 0.4})
    replications = 20
    t = run(wf, 0, seed=17, replications=replications).baseline.tasks
    np.testing.assert_allclose(t.gpu_s, t.output_tokens / decode_per_s, rtol=1e-12)  # service = tokens / speed
    check_erlang_c(t, t.gpu_s, c, arrival_rate, mean_service_s, replications, warm_up_s=3600)


def test_a_concurrency_limit_queues_tasks_like_erlang_c():
    c, utilisation, speed, mean_tokens = 3, 0.7, 50.0, 500
    mean_service_s = Exponential(exponential={"mean": mean_tokens}).expected_value(integer=True) / speed
    arrival_rate = utilisation * c / mean_service_s
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 100, "output": {"exponential": {"mean": mean_tokens}}}],
                  profiles={"default": {"ttft_s": 0, "tokens_per_s": speed}},
                  traffic={"tasks_per_day": arrival_rate * 86400, "days": 0.4, "concurrency": c})
    replications = 20
    t = run(wf, 0, seed=19, replications=replications).baseline.tasks
    check_erlang_c(t, t.output_tokens / speed, c, arrival_rate, mean_service_s, replications, warm_up_s=3600)


# -- the GPU bill --------------------------------------------------------------------------------------------

def mixed_workflow(tasks_per_day: float, days: float, tool_after_s: float = 0.0):
    steps = [{"id": "route", "llm": "api", "prompt": 1000, "output": 100},
             {"id": "gen", "llm": "main", "prompt": 100, "output": {"lognormal": {"median": 200, "sigma": 0.7}}}]
    if tool_after_s:
        steps.append({"id": "deliver", "tool": "email", "latency": tool_after_s})
    return workflow(steps, models={"main": "self:llama", "api": "openai:gpt-4.1"},
                    alternatives={"all-api": {"main": "openai:gpt-4.1-mini"}},
                    profiles={"default": {"ttft_s": 0.5, "tokens_per_s": 100}},
                    self_hosted={"llama": {"gpu_hour_usd": 1.99, "gpus": 2, "prefill_tokens_per_s": 3000,
                                           "decode_tokens_per_s": 300, "max_concurrency": 4}},
                    traffic={"tasks_per_day": tasks_per_day, "days": days})


def test_the_gpu_bill_is_gpu_hours_over_the_horizon_idle_time_included():
    days, replications = 2.0, 4
    result = run(mixed_workflow(300, days), 0, seed=2, replications=replications, trace=True)
    # the server's work ends inside the horizon (checked, so the expected bill is the horizon's)
    assert max(row[FIELD["end_s"]] for row in result.trace if row[FIELD["model"]] == "self:llama") < days * 86400
    t = result.baseline.tasks
    route_usd = 1000 * GPT41_IN + 100 * GPT41_OUT
    gpu_usd = 1.99 * 2 * days * 24  # $/GPU-hour x GPUs x hours, busy or idle
    for r in range(replications):
        mine = t.replication == r
        assert t.cost_usd[mine].sum() == pytest.approx(mine.sum() * route_usd + gpu_usd, rel=1e-12)
    # the server is idle most of the time, and the bill does not care
    busy = t.gpu_s.sum() / replications
    assert busy < 0.05 * days * 86400
    # divided over the tasks it served in proportion to their GPU time
    share = (t.cost_usd - route_usd) / t.gpu_s
    for r in range(replications):
        np.testing.assert_allclose(share[t.replication == r], gpu_usd / t.gpu_s[t.replication == r].sum(), rtol=1e-9)
    # the API-only alternative pays no GPU at all
    api = result.alternatives[1].tasks
    assert api.gpu_s.sum() == 0
    assert summarize(result)["alternatives"][0]["self_hosted"]["gpu_s_per_task"] == pytest.approx(
        float(t.gpu_s.mean()), rel=1e-12)


def test_service_time_is_prefill_plus_decode():
    result = run(mixed_workflow(300, 1.0), 0, seed=2, replications=1)
    t = result.baseline.tasks
    gen_output = t.output_tokens - 100  # the api step writes 100
    gen_input = 1000 + 100 + 100  # route's prompt and output, then gen's prompt (history full)
    np.testing.assert_allclose(t.gpu_s, gen_input / 3000 + gen_output / 300, rtol=1e-12)


def test_work_after_the_gpu_step_does_not_lengthen_the_gpu_bill():
    days = 1.0
    result = run(mixed_workflow(300, days, tool_after_s=7200), 0, seed=2, replications=1, trace=True)
    assert max(row[FIELD["end_s"]] for row in result.trace if row[FIELD["model"]] == "self:llama") < days * 86400
    t = result.baseline.tasks
    route_usd = 1000 * GPT41_IN + 100 * GPT41_OUT
    assert t.cost_usd.sum() == pytest.approx(len(t) * route_usd + 1.99 * 2 * days * 24, rel=1e-12)


def test_gpus_rented_for_a_horizon_without_traffic_are_still_billed():
    replications = 6
    result = run(mixed_workflow(0.5, 1.0), 0, seed=2, replications=replications)
    counts = np.bincount(result.baseline.tasks.replication, minlength=replications)
    assert (counts == 0).any()  # some replications saw no task at all
    bills = result.baseline.bills_usd(replications)
    route_usd = 1000 * GPT41_IN + 100 * GPT41_OUT
    np.testing.assert_allclose(bills, counts * route_usd + 1.99 * 2 * 24, rtol=1e-12)


def test_a_self_hosted_reference_is_self_colon_name():
    from sim.spec.timing import SELF_HOSTED_PROVIDER, is_self_hosted, self_hosted_name, self_hosted_ref

    assert SELF_HOSTED_PROVIDER == "self"
    assert self_hosted_ref("llama") == "self:llama"
    assert self_hosted_name("self:llama") == "llama"
    assert [self_hosted_name(ref) for ref in ("openai:gpt-4.1", "self", "selfish:x", "llama")] == [None] * 4
    assert is_self_hosted("self:llama") and not is_self_hosted("openai:self")
