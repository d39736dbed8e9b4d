"""Each rule both engines apply, scalar beside its array twin, on the same inputs: the twin equals the scalar
applied element by element, to the bit (sim/engine/rules/, and the prompt cache in sim/engine/caching.py).

The inputs are drawn at random (a fixed seed) with the edge cases put in on purpose: zero tokens, a
speed of 0, inputs exactly at the context window, uniforms exactly on an interval's edge, caps exactly
reached.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import PRICES_DATE, workflow

from sim.core.records import FAILURE_CODE
from sim.engine import caching
from sim.engine.compiler import compile_plan
from sim.engine.plan import CachePlan
from sim.engine.rules import budget, choice, context, cost, duration, odds
from sim.spec.catalog import catalog_for
from sim.spec.quality import TaskBudget

N = 2000


@pytest.fixture
def rng():
    return np.random.default_rng(20260101)


def bits(values) -> np.ndarray:
    """Values as their bit patterns (floats) or as themselves (ints, bools), for exact comparison."""
    array = np.asarray(values)
    return array.astype(np.float64).view(np.int64) if array.dtype.kind == "f" else array


def assert_same(scalar_results: list, array_result) -> None:
    expected = np.asarray(scalar_results)
    got = np.broadcast_to(np.asarray(array_result), expected.shape)
    assert expected.dtype.kind == got.dtype.kind or {expected.dtype.kind, got.dtype.kind} <= {"i", "u"}
    assert np.array_equal(bits(expected), bits(got))


# -- context window and history ------------------------------------------------------------------------------


@pytest.mark.parametrize("feedback", [False, True])
@pytest.mark.parametrize("history", ["full", "none", "window"])
@pytest.mark.parametrize("window", [None, 1, 3000, 6000])
def test_input_tokens_and_the_context_window(rng, history, window, feedback):
    head = rng.integers(0, 3000, N)
    prompt = rng.integers(0, 2000, N)
    transcript = rng.integers(0, 4000, N)
    extra = rng.integers(0, 3000, N) if feedback else np.zeros(N, dtype=np.int64)
    if window is not None:  # inputs exactly at the window, with and without the transcript
        head[:10], prompt[:10], extra[:10] = window - 5, 5, 0
        head[10:20], prompt[10:20], transcript[10:20], extra[10:20] = window - 20, 10, 10, 0
    expected = [context.input_tokens(int(h), int(p), int(t), history, window, int(f))
                for h, p, t, f in zip(head, prompt, transcript, extra)]
    tokens, fits = context.input_tokens_array(head, prompt, transcript, history, window, extra)
    assert fits.tolist() == [value is not None for value in expected]
    assert tokens[fits].tolist() == [value for value in expected if value is not None]
    if window is not None and history != "none":
        assert not fits.all() or history == "window"
    if window is not None:  # feedback counts against the window whatever the history
        assert np.all(tokens[fits] <= window)
        if feedback:
            assert not fits[head + prompt + extra > window].any()


# -- call duration ----------------------------------------------------------------------------------------


def test_call_duration(rng):
    ttft = rng.lognormal(-0.7, 0.5, N)
    speed = rng.lognormal(4, 0.5, N)
    speed[:20] = 0.0  # a stalled model: 1e-9 tokens per second
    billed = rng.integers(0, 3000, N)
    billed[20:60] = 0  # no tokens: the time to first token alone
    expected = [duration.call_duration_s(t, s, int(b)) for t, s, b in zip(ttft.tolist(), speed.tolist(), billed)]
    assert_same(expected, duration.call_duration_s_array(ttft, speed, billed))
    assert duration.call_duration_s(0.5, 100.0, 0) == 0.5
    assert duration.call_duration_s(0.5, 0.0, 1) == 0.5 + 1 / 1e-9


# -- budget checks ------------------------------------------------------------------------------------------


CAPS = [None, TaskBudget(max_cost_usd=0.01), TaskBudget(max_calls=4), TaskBudget(max_wall_s=30.0),
        TaskBudget(max_cost_usd=0.01, max_calls=4, max_wall_s=30.0)]


@pytest.mark.parametrize("cap", CAPS, ids=["none", "cost", "calls", "time", "all"])
@pytest.mark.parametrize("new_call", [False, True])
def test_budget_stops(rng, cap, new_call):
    cost_usd = rng.uniform(0, 0.02, N)
    calls = rng.integers(0, 8, N)
    elapsed_s = rng.uniform(0, 60, N)
    cost_usd[:10], calls[10:20], elapsed_s[20:30] = 0.01, 4, 30.0  # exactly at a cap: stopped
    expected = [budget.budget_stop(cap, c, int(k), e, new_call)
                for c, k, e in zip(cost_usd.tolist(), calls, elapsed_s.tolist())]
    got = budget.budget_stop_array(cap, N, lambda: cost_usd, lambda: calls, lambda: elapsed_s, new_call)
    assert got.tolist() == expected
    if cap is not None and cap.max_calls is None:
        assert set(expected) <= {0, FAILURE_CODE["budget_cost"], FAILURE_CODE["budget_time"]}


def test_the_first_cap_reached_names_the_failure():
    caps = CAPS[-1]
    assert budget.budget_stop(caps, 0.01, 9, 99.0, True) == FAILURE_CODE["budget_cost"]
    assert budget.budget_stop(caps, 0.0, 9, 99.0, True) == FAILURE_CODE["budget_calls"]
    assert budget.budget_stop(caps, 0.0, 9, 99.0, False) == FAILURE_CODE["budget_time"]
    assert budget.budget_stop(caps, 0.0, 3, 29.9, True) == 0


# -- failure odds and verdicts ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def call_models():
    """Compiled models: flat-priced, long-context tiers, batched, reasoning, by the compiler itself."""
    wf = workflow(
        [{"id": "flat", "llm": "main", "output": 10},
         {"id": "tiered", "llm": "google:gemini-2.5-pro", "output": 10},
         {"id": "batched", "llm": "main", "output": 10, "batch": True},
         {"id": "reasons", "llm": "openai:o3-mini", "output": 10},
         {"id": "cached", "llm": "anthropic:claude-sonnet-4-6", "output": 10}])
    plan = compile_plan(wf, "baseline", dict(wf.models), catalog_for(wf, PRICES_DATE))
    return {node.id: node.legs[0].model for node in plan.steps}


def test_failure_odds_by_difficulty(rng, call_models):
    base = call_models["flat"]
    by_class = dataclasses.replace(base, quality_fail=(0.05, 0.3, 0.9))
    by_score = dataclasses.replace(base, quality_skill=(0.6, 0.15))
    flat = dataclasses.replace(base, fail_probability=0.2)
    classes = rng.integers(0, 3, N)
    scores = rng.uniform(-1, 2, N)
    assert_same([odds.fail_probability(by_class, int(c)) for c in classes],
                odds.fail_probability_array(by_class, classes.astype(float)))
    assert_same([odds.fail_probability(by_score, s) for s in scores.tolist()],
                odds.fail_probability_array(by_score, scores))
    assert odds.fail_probability_array(flat, scores) == odds.fail_probability(flat, 0.7) == 0.2
    assert odds.fail_probability(by_score, 0.6) == 0.5  # at its skill a model is right half the time


def test_invalid_answers_and_the_validators_verdict(rng):
    p = rng.choice([0.0, 0.05, 0.5, 1.0], N)
    u = rng.uniform(0, 1, N)
    u[:10] = p[:10]  # exactly on the edge: u < p is false
    assert_same([odds.invalid(a, b) for a, b in zip(p.tolist(), u.tolist())], odds.invalid_array(p, u))
    invalid = rng.integers(0, 2, N).astype(bool)
    assert_same([odds.accepted(bool(i), b, 0.2, 0.1) for i, b in zip(invalid, u.tolist())],
                odds.accepted_array(invalid, u, 0.2, 0.1))


# -- route choice, branch arms, difficulty classes ---------------------------------------------------------


def test_picking_an_interval(rng):
    shares = [0.1, 0.0, 0.25, 0.3, 0.35]  # an empty interval too
    edges = choice.cumulative(shares)
    assert edges[-1] == 1.0 and len(edges) == len(shares)
    u = rng.uniform(0, 1, N)
    u[:len(edges)] = edges  # exactly on an edge: the next interval
    assert_same([choice.pick(edges, x) for x in u.tolist()], choice.pick_array(edges, u))
    rows = (choice.cumulative([0.9, 0.1]), choice.cumulative([0.2, 0.8]), choice.cumulative([0.5, 0.5]))
    row = rng.integers(0, 3, N)
    assert_same([choice.pick(rows[r], x) for r, x in zip(row, u.tolist())], choice.pick_by_row_array(rows, row, u))
    assert choice.pick(edges, 0.1) == 2 and choice.pick(edges, 0.0999) == 0
    many = choice.cumulative([1 / 12] * 12)  # more options than pick_array counts one by one: its binary search
    u[:len(many)] = many
    assert_same([choice.pick(many, x) for x in u.tolist()], choice.pick_array(many, u))


# -- the attempt's cost ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["flat", "tiered", "batched", "reasons", "cached"])
@pytest.mark.parametrize("write_1h", [False, True])
def test_attempt_cost(rng, call_models, name, write_1h):
    model = call_models[name]
    input_tokens = rng.integers(0, 400_000, N)  # across gemini-2.5-pro's 200k tier
    output_tokens = rng.integers(0, 5000, N)
    output_tokens[:5] = 0
    read = np.where(rng.uniform(size=N) < 0.4, rng.integers(0, 1 + input_tokens // 2), 0)
    written = np.where(rng.uniform(size=N) < 0.4, (input_tokens - read) // 3, 0)
    plain = [cost.attempt_cost_usd(model, int(i), int(o)) for i, o in zip(input_tokens, output_tokens)]
    assert_same(plain, cost.attempt_cost_usd_array(model, input_tokens, output_tokens))
    cached = [cost.attempt_cost_usd(model, int(i), int(o), int(r), int(w), write_1h)
              for i, o, r, w in zip(input_tokens, output_tokens, read, written)]
    assert_same(cached, cost.attempt_cost_usd_array(model, input_tokens, output_tokens, read, written, write_1h))
    one_output = int(output_tokens[7])  # a fixed output: a scalar that broadcasts
    assert_same([cost.attempt_cost_usd(model, int(i), one_output, int(r), int(w), write_1h)
                 for i, r, w in zip(input_tokens, read, written)],
                cost.attempt_cost_usd_array(model, input_tokens, one_output, read, written, write_1h))


def test_the_cost_without_a_cache_is_the_models_rates(call_models):
    flat, tiered = call_models["flat"], call_models["tiered"]
    assert cost.attempt_cost_usd(flat, 1000, 100) == 1000 * flat.input_usd_per_token + 100 * flat.output_usd_per_token
    assert flat.input_usd_per_token == 2.0 / 1e6  # openai:gpt-4.1
    assert cost.attempt_cost_usd(tiered, 300_000, 10) == tiered.rates.attempt_cost_usd(300_000, 10)


# -- the prompt cache ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("minimum,ttl_s", [(0, 300), (1024, 300), (1024, 3600), (4000, 5)])
def test_the_prompt_cache(rng, minimum, ttl_s):
    """caching.use task by task against TaskCaches.use over the same attempts: two models, calls with and
    without history, re-runs that drop the conversation, tasks that skip attempts, time passing."""
    plan = CachePlan(ttl_s, minimum, ttl_s > 300)
    n = 300
    system = rng.integers(0, 3000, n)
    head = system + rng.integers(0, 1500, n)
    caches = caching.TaskCaches(plan, system, head)
    states = [SimpleNamespace(system_tokens=int(s), head_tokens=int(h), system_cache={}, head_cache={},
                              conversation_cache={}) for s, h in zip(system, head)]
    now_s = np.zeros(n)
    transcript = np.zeros(n, dtype=np.int64)
    hits = 0
    for step in range(40):
        if step % 13 == 12:  # a re-run of some tasks
            again = np.flatnonzero(rng.uniform(size=n) < 0.5)
            caches.new_run(again)
            for task in again:
                states[task].conversation_cache.clear()
            transcript[again] = 0
        idx = np.flatnonzero(rng.uniform(size=n) < 0.7)
        ref = ["a:x", "b:y"][step % 3 == 0]
        full = bool(step % 4)
        now_s[idx] += rng.exponential(60, len(idx))
        sent = head[idx] + (transcript[idx] if full else 0) + rng.integers(0, 500, len(idx))
        read, written = caches.use(ref, idx, sent, full, now_s[idx])
        expected = [caching.use(plan, states[task], ref, int(tokens), full, float(now_s[task]))
                    for task, tokens in zip(idx, sent)]
        assert list(zip(read.tolist(), written.tolist())) == expected
        hits += int((read > 0).sum())
        transcript[idx] = sent - head[idx] + rng.integers(0, 300, len(idx))
    assert hits > 0  # the cache was read, not only written
