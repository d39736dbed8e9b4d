"""Routing strategies (split, cascade, router, fallback) against the single models they route between.

Every strategy runs on the same tasks as the single-model alternatives: the same difficulty, the same
request sizes and the same validity draw per attempt. So most properties hold task by task, exactly:
a task a split sends to the strong model is that task on the strong model; a cascade with a perfect
validator succeeds exactly where the strong model does; one that accepts everything is the weak model
plus the validator's price. Where a property is a mean (a cascade's cost, a router's shares) it is held
to its closed form within 4 standard errors, with fixed seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import PRICES_DATE, run, within_sigmas, workflow

from sim.core.records import FAILURE_CODE
from sim.spec.catalog import catalog_for

STRONG, WEAK = "openai:gpt-4.1", "openai:gpt-4.1-nano"
CLASSES = {"easy": 0.6, "medium": 0.3, "hard": 0.1}
QUALITY = {STRONG: {"easy": 0.99, "medium": 0.93, "hard": 0.80},
           WEAK: {"easy": 0.92, "medium": 0.65, "hard": 0.25}}
SYSTEM, USER, PROMPT, OUTPUT = 400, 150, 250, 300


def rates(ref: str, wf=None):
    return catalog_for(wf or workflow([{"id": "a", "llm": "main", "output": 1}]), PRICES_DATE).resolve(ref)


def call_usd(ref: str, input_tokens: int, output_tokens: int) -> float:
    return rates(ref).attempt_cost_usd(input_tokens, output_tokens)


def standard_error(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


def routed(routing: dict, alternatives: dict | None = None, output=OUTPUT, **extra):
    """One answer step on role ``main``; alternatives strong, weak and those given."""
    return workflow(
        [{"id": "answer", "llm": "main", "prompt": PROMPT, "output": output, "fail": "quality"}],
        models={"main": WEAK},
        alternatives={"strong": {"main": STRONG}, **(alternatives or {})},
        difficulty={"classes": CLASSES}, quality=QUALITY, routing=routing,
        context={"system": SYSTEM, "user": USER}, **extra)


def cascade(validator: dict, **extra):
    return routed({"c": {"cascade": [WEAK, STRONG], "validator": validator}}, {"cascade": {"main": "route:c"}},
                  **extra)


def test_difficulty_is_drawn_once_per_task_and_shared_by_every_alternative():
    result = run(cascade({"false_accept": 0.2}), 4000, seed=3)
    difficulty = [run_.tasks.difficulty for run_ in result.alternatives]
    for other in difficulty[1:]:
        assert np.array_equal(other, difficulty[0])
    shares = np.bincount(difficulty[0].astype(int), minlength=3) / len(difficulty[0])
    for share, p in zip(shares, CLASSES.values()):
        assert within_sigmas(share, p, math.sqrt(p * (1 - p) / len(difficulty[0])))


def test_a_task_the_strong_model_fails_fails_every_strategy_that_gives_it_to_the_strong_model():
    wf = routed({"half": {"split": {WEAK: 0.5, STRONG: 0.5}},
                 "r": {"router": {"routes": {"weak": WEAK, "strong": STRONG},
                                  "confusion": {"easy": {"weak": 0.8, "strong": 0.2},
                                                "medium": {"weak": 0.5, "strong": 0.5},
                                                "hard": {"weak": 0.1, "strong": 0.9}}}}},
                {"split": {"main": "route:half"}, "router": {"main": "route:r"}})
    result = run(wf, 6000, seed=5)
    strong, weak = result.alternative("strong").tasks, result.alternative("baseline").tasks
    assert (~strong.success).sum() > 50  # the property is not vacuous
    for name, strong_option in (("split", 1), ("router", 1)):
        t = result.alternative(name).tasks
        to_strong = t.route == strong_option
        assert 0 < to_strong.sum() < len(t)
        # The same task on the same model: the same outcome and the same cost, exactly.
        assert np.array_equal(t.success[to_strong], strong.success[to_strong])
        assert np.array_equal(t.success[~to_strong], weak.success[~to_strong])
        assert np.allclose(t.cost_usd[to_strong], strong.cost_usd[to_strong], rtol=1e-12, atol=0)
        # Nothing the strong model gets wrong is right for a strategy that uses it on that task.
        assert not np.any(t.success & to_strong & ~strong.success)
    # And nothing the strong model fails is passed by the weak model (nested validity draws).
    assert not np.any(weak.success & ~strong.success)


def test_a_perfect_validator_cascade_succeeds_exactly_where_the_strong_model_does():
    result = run(cascade({}), 6000, seed=11)
    c, strong = result.alternative("cascade").tasks, result.alternative("strong").tasks
    assert np.array_equal(c.success, strong.success)
    assert c.accepted_invalid.sum() == 0 and c.rejected_valid.sum() == 0
    # It calls the strong model only where the weak one was wrong.
    weak = result.alternative("baseline").tasks
    assert np.array_equal(c.escalations, (~weak.success).astype(np.int64))


def test_a_cascade_that_accepts_everything_is_the_weak_model_plus_the_validators_price():
    check_usd = 0.0004
    result = run(cascade({"false_accept": 1.0, "cost_usd": check_usd}), 6000, seed=12)
    c, weak = result.alternative("cascade").tasks, result.alternative("baseline").tasks
    assert np.array_equal(c.success, weak.success)
    assert np.allclose(c.cost_usd, weak.cost_usd + check_usd, rtol=1e-12, atol=0)
    assert np.all(c.escalations == 0) and np.all(c.validations == 1)
    # The weak model's wrong answers are kept, and counted as wrong answers, not as rejections.
    assert np.array_equal(c.failure == FAILURE_CODE["wrong_answer"], ~weak.success)


@pytest.mark.parametrize("false_accept, false_reject", [(0.0, 0.0), (0.15, 0.05), (0.4, 0.2)])
def test_two_stage_cascade_cost_matches_its_closed_form(false_accept, false_reject):
    validator = {"llm": WEAK, "prompt": 120, "output": 4, "false_accept": false_accept, "false_reject": false_reject}
    result = run(cascade(validator), 20_000, seed=21)
    t = result.alternative("cascade").tasks
    head = SYSTEM + USER
    c_weak, c_strong = call_usd(WEAK, head + PROMPT, OUTPUT), call_usd(STRONG, head + PROMPT, OUTPUT)
    c_check = call_usd(WEAK, head + 120 + OUTPUT, 4)
    # Stage 1 is rejected when its answer is invalid and the validator sees it, or valid and it errs.
    p_reject = sum(share * ((1 - QUALITY[WEAK][d]) * (1 - false_accept) + QUALITY[WEAK][d] * false_reject)
                   for d, share in CLASSES.items())
    exact = c_weak + c_check + p_reject * (c_strong + c_check)
    assert within_sigmas(t.cost_usd.mean(), exact, standard_error(t.cost_usd))
    assert within_sigmas(t.escalations.mean(), p_reject, standard_error(t.escalations))
    # The validator's price is what routing_usd holds.
    assert np.allclose(t.routing_usd, c_check * t.validations, rtol=1e-12, atol=0)


def test_cascade_success_rate_matches_its_closed_form():
    fa, fr = 0.2, 0.1
    t = run(cascade({"false_accept": fa, "false_reject": fr}), 20_000, seed=22).alternative("cascade").tasks
    # Nested draws: u < 1 - q is invalid. Stage 1 kept and valid: u >= 1-qw and not rejected. Stage 2 is
    # reached after a rejection; its answer (same u) is valid when u >= 1-qs, and then kept unless rejected.
    exact = 0.0
    for d, share in CLASSES.items():
        qw, qs = QUALITY[WEAK][d], QUALITY[STRONG][d]
        valid_kept_1 = qw * (1 - fr)
        reach_2_valid = qw * fr + (qs - qw) * (1 - fa)  # rejected though valid; or invalid on 1, valid on 2
        exact += share * (valid_kept_1 + reach_2_valid * (1 - fr))
    assert within_sigmas(t.success.mean(), exact, math.sqrt(exact * (1 - exact) / len(t)))


def test_split_sends_its_shares_and_each_task_is_that_models_task():
    wf = routed({"s": {"split": {WEAK: 0.7, STRONG: 0.3}}}, {"split": {"main": "route:s"}})
    result = run(wf, 10_000, seed=4)
    t = result.alternative("split").tasks
    share = (t.route == 1).mean()
    assert within_sigmas(share, 0.3, math.sqrt(0.3 * 0.7 / len(t)))
    assert result.summary()["alternatives"][2]["routing"]["route_shares"] == {
        WEAK: float((t.route == 0).mean()), STRONG: float(share)}


def test_router_follows_its_confusion_matrix_and_bills_its_call():
    confusion = {"easy": {"weak": 0.9, "strong": 0.1}, "medium": {"weak": 0.6, "strong": 0.4},
                 "hard": {"weak": 0.05, "strong": 0.95}}
    wf = routed({"r": {"router": {"llm": WEAK, "prompt": 200, "output": 2, "routes": {"weak": WEAK, "strong": STRONG},
                                  "confusion": confusion}}}, {"router": {"main": "route:r"}})
    result = run(wf, 20_000, seed=9)
    t = result.alternative("router").tasks
    for index, name in enumerate(CLASSES):
        in_class = t.difficulty == index
        p = confusion[name]["strong"]
        observed = (t.route[in_class] == 1).mean()
        assert within_sigmas(observed, p, math.sqrt(p * (1 - p) / in_class.sum()))
    router_usd = call_usd(WEAK, SYSTEM + USER + 200, 2)
    assert np.allclose(t.routing_usd, router_usd, rtol=1e-12, atol=0)
    strong, weak = result.alternative("strong").tasks, result.alternative("baseline").tasks
    expected = np.where(t.route == 1, strong.cost_usd, weak.cost_usd) + router_usd
    assert np.allclose(t.cost_usd, expected, rtol=1e-12, atol=0)
    assert np.all(t.calls == 2)  # the router's call and the answer


def test_router_choice_is_made_once_per_run_and_kept_for_every_call_of_the_role():
    wf = workflow([{"id": "loop", "repeat": 3, "steps": [
                      {"id": "turn", "llm": "main", "output": 10, "history": "none"}]}],
                  models={"main": "route:s"}, routing={"s": {"split": {WEAK: 0.5, STRONG: 0.5}}})
    result = run(wf, 400, seed=1, trace=True)
    by_task: dict[int, set] = {}
    for row in result.trace:
        by_task.setdefault(row[2], set()).add(row[6])
    assert all(len(models) == 1 for models in by_task.values())
    assert {next(iter(m)) for m in by_task.values()} == {"openai:gpt-4.1", "openai:gpt-4.1-nano"}


def test_a_fallback_route_is_the_same_as_escalating_along_the_same_models():
    chain = routed({"chain": {"fallback": [WEAK, "openai:gpt-4.1-mini", STRONG]}},
                   {"chain": {"main": "route:chain"}}, retry={"max_attempts": 2})
    ladder = routed({}, retry={"max_attempts": 2,
                               "on_exhausted": {"escalate": ["openai:gpt-4.1-mini", STRONG]}})
    a = run(chain, 5000, seed=2).alternative("chain").tasks
    b = run(ladder, 5000, seed=2).baseline.tasks
    for name in ("cost_usd", "success", "attempts", "calls", "escalations", "input_tokens", "output_tokens"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_the_summary_says_which_models_answered_and_what_routing_cost():
    result = run(cascade({"llm": WEAK, "prompt": 100, "output": 3}), 3000, seed=6)
    entry = result.summary()["alternatives"][2]
    t = result.alternative("cascade").tasks
    assert entry["name"] == "cascade"
    assert entry["calls_by_model"][WEAK] == 1.0
    assert entry["calls_by_model"][STRONG] == pytest.approx(t.escalations.mean(), rel=1e-12)
    assert entry["routing"]["routing_usd_per_task"] == pytest.approx(t.routing_usd.mean(), rel=1e-12)
    assert entry["routing"]["validations_per_task"] == pytest.approx(1 + t.escalations.mean(), rel=1e-12)
    # Validator calls are calls the provider bills: in calls and attempts, not in calls_by_model.
    assert np.array_equal(t.calls, 1 + 2 * t.escalations + 1)
    assert result.summary()["alternatives"][0].get("routing") is not None  # the workflow routes
