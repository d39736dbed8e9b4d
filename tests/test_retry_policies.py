"""Retry policies: named and chosen per alternative, escalation ladders, error feedback, fallback on
provider errors, backoff on every leg, and budgets that hold with all of them (fixed seeds; closed forms
within 4 standard errors, exact values where the arithmetic is exact)."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from conftest import run, within_sigmas, workflow

from sim.core.records import FAILURE_CODE, TRACE_FIELDS

FIELD = {name: index for index, name in enumerate(TRACE_FIELDS)}
MINI, BIG, SONNET = "openai:gpt-4.1-mini", "openai:gpt-4.1", "anthropic:claude-sonnet-4-6"


def standard_error(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


def rows_by_task(trace, step: str | None = None) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for row in trace:
        if step is None or row[FIELD["step"]] == step:
            out[(row[FIELD["alternative"]], row[FIELD["task"]])].append(row)
    return out


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_each_alternative_runs_its_named_policy_on_the_same_tasks(p):
    wf = workflow([{"id": "a", "llm": "main", "output": 100, "fail": p}],
                  alternatives={"patient": {"retry": "patient"}, "hasty": {"retry": "hasty"}},
                  retry={"max_attempts": 2},
                  retry_policies={"patient": {"max_attempts": 5}, "hasty": {"max_attempts": 1}})
    result = run(wf, 20_000, seed=3)
    for name, k in (("baseline", 2), ("patient", 5), ("hasty", 1)):
        t = result.alternative(name).tasks
        assert within_sigmas(t.attempts.mean(), (1 - p**k) / (1 - p), standard_error(t.attempts)), name
        assert within_sigmas((~t.success).mean(), p**k, math.sqrt(p**k * (1 - p**k) / len(t))), name
    # The same tasks: where the hasty policy succeeds, every policy succeeds at its first attempt.
    hasty, patient = result.alternative("hasty").tasks, result.alternative("patient").tasks
    assert np.all(patient.attempts[hasty.success] == 1)
    summary = result.summary()["alternatives"]
    assert [e["retry_policy"] for e in summary] == [None, "patient", "hasty"]


def test_a_steps_own_retry_keys_override_the_alternatives_policy():
    wf = workflow([{"id": "a", "llm": "main", "output": 10, "fail": 1.0, "retry": {"max_attempts": 2}},
                   ], alternatives={"patient": {"retry": "patient"}},
                  retry_policies={"patient": {"max_attempts": 6, "on_exhausted": {"escalate": MINI}}})
    t = run(wf, 10).alternative("patient").tasks
    assert np.all(t.attempts == 4)  # 2 on the step's model, then 2 on the policy's escalation target
    assert np.all(t.calls == 2)


def test_an_escalation_ladder_moves_on_after_k_failures_and_follows_the_nested_closed_form():
    # fail per model: mini 0.6, big 0.3, sonnet 0.1. The validity draw of attempt a is shared by all
    # models, so reaching rung r means every attempt failed on the rungs before, and an attempt fails on
    # rung r with conditional probability p_r / p_(r-1).
    k, p = 2, {MINI: 0.6, BIG: 0.3, SONNET: 0.1}
    wf = workflow([{"id": "a", "llm": "main", "output": 100, "fail": {"default": 0.0, **p}}],
                  models={"main": MINI}, retry={"max_attempts": k, "on_exhausted": {"escalate": [BIG, SONNET]}})
    t = run(wf, 40_000, seed=8).baseline.tasks
    p1, p2, p3 = p.values()
    reach2, reach3 = p1**k, p2**k
    exact_attempts = (sum(p1**a for a in range(k)) + reach2 * sum((p2 / p1) ** a for a in range(k))
                      + reach3 * sum((p3 / p2) ** a for a in range(k)))
    assert within_sigmas(t.attempts.mean(), exact_attempts, standard_error(t.attempts))
    assert within_sigmas((~t.success).mean(), p3**k, math.sqrt(p3**k / len(t)))
    assert within_sigmas(t.calls.mean(), 1 + reach2 + reach3, standard_error(t.calls))
    assert np.array_equal(t.escalations, t.calls - 1)


def test_error_feedback_grows_each_retrys_input_by_the_failed_answer_and_the_message():
    head, prompt, output, message = 500, 200, 80, 40
    wf = workflow([{"id": "a", "llm": "main", "prompt": prompt, "output": output, "fail": 1.0}],
                  context={"system": head}, retry={"max_attempts": 4, "error_feedback": message})
    result = run(wf, 50, trace=True)
    for rows in rows_by_task(result.trace).values():
        sent = [row[FIELD["prompt_tokens"]] for row in rows]
        assert sent == [head + prompt + j * (output + message) for j in range(4)]
    t = result.baseline.tasks
    assert np.all(t.input_tokens == 4 * (head + prompt) + 6 * (output + message))
    # Without it every retry re-sends the same input.
    plain = workflow([{"id": "a", "llm": "main", "prompt": prompt, "output": output, "fail": 1.0}],
                     context={"system": head}, retry={"max_attempts": 4})
    assert np.all(run(plain, 50).baseline.tasks.input_tokens == 4 * (head + prompt))


def test_error_feedback_tokens_are_drawn_per_retry():
    wf = workflow([{"id": "a", "llm": "main", "prompt": 100, "output": 50, "fail": 1.0}],
                  retry={"max_attempts": 3, "error_feedback": {"poisson": {"mean": 30}}})
    t = run(wf, 20_000, seed=4).baseline.tasks
    exact = 3 * 100 + (1 + 2) * (50 + 30)  # retry 1 carries one failed answer and message, retry 2 two
    assert within_sigmas(t.input_tokens.mean(), exact, standard_error(t.input_tokens))


OUTAGE = {"model": BIG, "start_h": 0, "duration_min": 24 * 60, "error_rate": 1.0}  # down all day


def outage_workflow(retry: dict):
    return workflow([{"id": "a", "llm": "main", "prompt": 300, "output": 100}], models={"main": BIG},
                    outages=[OUTAGE], traffic={"tasks_per_day": 500, "days": 0.2},
                    retry={"max_attempts": 3, "backoff": {"base_s": 4, "jitter": "none"}, **retry})


def test_fallback_on_a_provider_error_switches_at_once_without_retrying_into_the_outage():
    result = run(outage_workflow({"fallback": SONNET}), 0, seed=2, replications=2, trace=True)
    t = result.baseline.tasks
    assert t.success.all() and len(t) > 100
    assert np.all(t.provider_errors == 1) and np.all(t.calls == 2) and np.all(t.escalations == 1)
    for rows in rows_by_task(result.trace).values():
        (error, answer) = rows
        assert error[FIELD["model"]] == BIG and error[FIELD["outcome_status"]] == "provider_error"
        assert answer[FIELD["model"]] == SONNET and answer[FIELD["outcome_status"]] == "ok"
        assert answer[FIELD["start_s"]] == error[FIELD["end_s"]]  # no backoff before the switch
    # Escalating instead retries into the outage first: 3 errors and 8 s of backoff, then the switch.
    escalating = run(outage_workflow({"on_exhausted": {"escalate": SONNET}}), 0, seed=2, replications=2).baseline.tasks
    assert np.all(escalating.provider_errors == 3) and escalating.success.all()
    np.testing.assert_allclose(escalating.latency_s - t.latency_s, 4 + 8, rtol=0, atol=1e-9)


def test_a_fallback_chain_moves_along_while_providers_are_down_and_fails_when_all_are():
    down_too = {**OUTAGE, "model": SONNET}
    wf = workflow([{"id": "a", "llm": "main", "prompt": 300, "output": 100}], models={"main": BIG},
                  outages=[OUTAGE, down_too], traffic={"tasks_per_day": 500, "days": 0.2},
                  retry={"max_attempts": 2, "backoff": {"base_s": 0, "jitter": "none"}, "fallback": [SONNET, MINI]})
    t = run(wf, 0, seed=3, replications=1).baseline.tasks
    assert t.success.all() and np.all(t.calls == 3) and np.all(t.provider_errors == 2)
    # The last model of the chain is down as well: it is retried, then the call fails.
    all_down = workflow([{"id": "a", "llm": "main", "prompt": 300, "output": 100}], models={"main": BIG},
                        outages=[OUTAGE, down_too], traffic={"tasks_per_day": 500, "days": 0.2},
                        retry={"max_attempts": 2, "backoff": {"base_s": 0, "jitter": "none"}, "fallback": SONNET})
    t = run(all_down, 0, seed=3, replications=1).baseline.tasks
    assert not t.success.any() and np.all(t.provider_errors == 1 + 2)
    assert np.all(t.failure == FAILURE_CODE["provider_error"])


def test_invalid_answers_do_not_trigger_the_fallback():
    wf = workflow([{"id": "a", "llm": "main", "output": 10, "fail": 1.0}],
                  retry={"max_attempts": 3, "fallback": SONNET})
    t = run(wf, 20).baseline.tasks
    assert np.all(t.calls == 1) and np.all(t.attempts == 3)


def test_backoff_follows_the_schedule_on_every_leg_of_a_ladder():
    # Every attempt takes exactly 1 s; the first model always fails, the second always succeeds.
    wf = workflow([{"id": "a", "llm": "main", "prompt": 10, "output": 100, "fail": {"default": 0.0, MINI: 1.0}}],
                  models={"main": MINI}, profiles={"default": {"ttft_s": 0, "tokens_per_s": 100}},
                  retry={"max_attempts": 3, "on_exhausted": {"escalate": BIG},
                         "backoff": {"base_s": 2, "factor": 3, "max_s": 100, "jitter": "none"}})
    result = run(wf, 20, trace=True)
    for rows in rows_by_task(result.trace).values():
        starts = [row[FIELD["start_s"]] for row in rows]
        # mini: attempts at 0, 1 + 2, 4 + 6; then gpt-4.1 at once (a new call waits for nothing).
        assert starts == [0.0, 3.0, 10.0, 11.0]


def test_budgets_hold_with_validators_feedback_and_ladders():
    # Every answer attempt starts only while the task has cost less than the cap.
    cap = 0.01
    wf = workflow([{"id": "loop", "repeat": {"poisson": {"mean": 5}}, "steps": [
                      {"id": "turn", "llm": "main", "prompt": 300,
                       "output": {"lognormal": {"median": 300, "sigma": 0.8}},
                       "fail": "quality"}]}],
                  models={"main": "route:c"}, difficulty={"classes": {"easy": 0.5, "hard": 0.5}},
                  quality={MINI: {"easy": 0.8, "hard": 0.3}, BIG: {"easy": 0.95, "hard": 0.7}},
                  routing={"c": {"cascade": [MINI, BIG], "validator": {"llm": MINI, "prompt": 50, "output": 3,
                                                                       "false_accept": 0.1, "false_reject": 0.1}}},
                  retry={"max_attempts": 2, "error_feedback": 60}, budget={"max_cost_usd": cap})
    result = run(wf, 2000, seed=5, trace=True)
    t = result.baseline.tasks
    assert (t.failure == FAILURE_CODE["budget_cost"]).any()
    for rows in rows_by_task(result.trace).values():
        spent = 0.0
        for row in rows:
            if row[FIELD["step"]] == "turn":
                assert spent < cap
            spent += row[FIELD["cost_usd"]]
