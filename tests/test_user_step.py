"""The ``user`` step: a message from the person the agent serves. Its tokens join the conversation (later
calls with full history carry them, as a tool's result); no model is called, nothing is billed, no time
passes, nothing fails; it counts as ``user_turns``. Checked against closed forms, on both engines.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import PRICES_DATE, run, within_sigmas, workflow

from sim.core.pricing import Catalog
from sim.engine.fast import FastEngine
from sim.spec.loader import parse_workflow
from sim.stats.summary import summarize

ENGINES = [pytest.param({}, id="des"), pytest.param({"engine": FastEngine(), "block_tasks": 333}, id="fast")]
GPT41_INPUT, GPT41_OUTPUT = 2.00 / 1e6, 8.00 / 1e6  # openai:gpt-4.1, USD per token


def test_the_step_reads_as_the_readme_writes_it():
    wf = parse_workflow(json.dumps({
        "name": "chat", "models": {"main": "openai:gpt-4.1"},
        "steps": [{"id": "answer", "llm": "main", "output": 100},
                  {"id": "followup", "user": {"lognormal": {"median": 40, "sigma": 0.5}}}]}))
    assert wf.steps[1].user.lognormal.median == 40


@pytest.mark.parametrize("engine", ENGINES)
def test_later_calls_carry_the_users_tokens_exactly(engine):
    # system 100 + request 50; a: prompt 10, output 20; the user says 40; b (full history): prompt 5,
    # output 7, so b sends 150 + 5 + (10 + 20) + 40 = 225; c (no history) sends 150 + 3 = 153.
    wf = workflow([{"id": "a", "llm": "main", "prompt": 10, "output": 20},
                   {"id": "followup", "user": 40},
                   {"id": "b", "llm": "main", "prompt": 5, "output": 7},
                   {"id": "c", "llm": "main", "prompt": 3, "output": 1, "history": "none"}],
                  context={"system": 100, "user": 50})
    tasks = run(wf, 500, **engine).baseline.tasks
    inputs = 160 + 225 + 153
    assert (tasks.input_tokens == inputs).all() and (tasks.output_tokens == 28).all()
    assert (tasks.user_turns == 1).all() and (tasks.calls == 3).all() and (tasks.tool_calls == 0).all()
    np.testing.assert_allclose(tasks.cost_usd, inputs * GPT41_INPUT + 28 * GPT41_OUTPUT, rtol=1e-12, atol=0)
    assert GPT41_INPUT == Catalog(prices_date=PRICES_DATE).resolve("openai:gpt-4.1").input.base_usd_per_mtok / 1e6


@pytest.mark.parametrize("engine", ENGINES)
def test_a_user_turn_costs_nothing_takes_no_time_and_cannot_fail(engine):
    wf = workflow([{"id": "hello", "user": {"poisson": {"mean": 30}}}, {"id": "again", "user": 12}],
                  budget={"max_wall_s": 1e-9, "max_calls": 1, "max_cost_usd": 1e-12})  # nothing spent: no cap hit
    tasks = run(wf, 400, **engine).baseline.tasks
    assert tasks.success.all() and (tasks.user_turns == 2).all() and (tasks.runs == 1).all()
    for name in ("cost_usd", "calls", "attempts", "input_tokens", "latency_s", "tool_calls", "failure"):
        assert not tasks.columns[name].any(), name


@pytest.mark.parametrize("engine", ENGINES)
def test_a_window_call_drops_the_oldest_turns_user_turns_included(engine):
    # gpt-4.1-nano with a 1,000-token window: head 600 + prompt 100 + 3 user turns of 200 = 1,300 > 1,000,
    # so the window call sends exactly 1,000; a full-history call of the same size cannot fit.
    steps = [{"id": "talk", "repeat": 3, "steps": [{"id": "say", "user": 200}]},
             {"id": "w", "llm": "main", "prompt": 100, "output": 5, "history": "window"},
             {"id": "f", "llm": "main", "prompt": 100, "output": 5, "history": "full"}]
    wf = workflow(steps, models={"main": "openai:gpt-4.1-nano"}, context={"system": 500, "user": 100},
                  profiles={"openai:gpt-4.1-nano": {"context_window_tokens": 1000}})
    tasks = run(wf, 200, **engine).baseline.tasks
    assert (tasks.user_turns == 3).all() and (tasks.input_tokens == 1000).all()
    assert not tasks.success.any() and (tasks.attempts == 2).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_turns_in_a_loop_average_the_loops_mean_count(engine):
    mean = 2.5
    wf = workflow([{"id": "chat", "repeat": {"poisson": {"mean": mean}}, "steps": [
        {"id": "ask", "llm": "main", "output": 10},
        {"id": "reply", "user": {"lognormal": {"median": 40, "sigma": 0.5}}}]}])
    tasks = run(wf, 4000, seed=3, **engine).baseline.tasks
    turns = tasks.user_turns
    assert within_sigmas(turns.mean(), mean, math.sqrt(mean / len(turns)))
    assert (turns == tasks.calls).all()  # one reply per question


@pytest.mark.parametrize("engine", ENGINES)
def test_turns_in_a_branch_follow_its_probability(engine):
    p = 0.3
    wf = workflow([{"id": "a", "llm": "main", "output": 10},
                   {"id": "b", "branch": {"unclear": {"p": p, "steps": [{"id": "clarify", "user": 25},
                                                                       {"id": "again", "llm": "main", "output": 10}]},
                                          "clear": {"p": 1 - p}}}], context={"user": 100})
    tasks = run(wf, 4000, seed=5, **engine).baseline.tasks
    turns = tasks.user_turns
    assert within_sigmas(turns.mean(), p, math.sqrt(p * (1 - p) / len(turns)))
    clarified = turns == 1
    # the second call carries request 100 + first answer 10 + the user's 25
    assert (tasks.input_tokens[clarified] == 100 + 135).all() and (tasks.input_tokens[~clarified] == 100).all()


def test_both_engines_agree_and_the_summary_counts_turns():
    wf = workflow([{"id": "chat", "repeat": {"poisson": {"mean": 1.5}}, "steps": [
        {"id": "ask", "llm": "main", "output": {"lognormal": {"median": 80, "sigma": 0.6}}, "fail": 0.2},
        {"id": "reply", "user": {"lognormal": {"median": 40, "sigma": 0.5}}}]}],
                  retry={"max_attempts": 2}, task_retry={"max_attempts": 2},
                  cache={"ttl_s": 300, "min_prefix_tokens": 0})
    des, fast = run(wf, 1500, seed=9), run(wf, 1500, seed=9, engine=FastEngine(), block_tasks=512)
    for name in ("user_turns", "input_tokens", "cost_usd", "cache_read_tokens", "success"):
        assert np.array_equal(des.baseline.tasks.columns[name], fast.baseline.tasks.columns[name]), name
    entry = summarize(des)["alternatives"][0]
    assert entry["user_turns_per_task"] == pytest.approx(des.baseline.tasks.user_turns.mean(), rel=1e-12)
    keys = list(entry)
    assert keys.index("user_turns_per_task") == keys.index("tool_calls_per_task") + 1
    assert entry["tool_calls_per_task"] == 0
