"""Per-task budgets stop runaway tasks: never more than one attempt over the cap, counted as failed."""

from __future__ import annotations

import numpy as np
from conftest import run, workflow

from sim.core.records import FAILURE_CODE
from sim.stats.summary import summarize

# A loop that sometimes runs long, on a call that often fails: the runaway tail a budget is for.
RUNAWAY = [{"id": "loop", "repeat": {"poisson": {"mean": 6}}, "steps": [
    {"id": "turn", "llm": "main", "prompt": 500, "output": {"lognormal": {"median": 300, "sigma": 0.8}},
     "fail": 0.3}]}]


def test_cost_never_exceeds_the_cap_by_more_than_one_attempt():
    cap = 0.02
    t = run(workflow(RUNAWAY, retry={"max_attempts": 3}, budget={"max_cost_usd": cap}), 3000).baseline.tasks
    free = run(workflow(RUNAWAY, retry={"max_attempts": 3}), 3000).baseline.tasks
    stopped = t.failure == FAILURE_CODE["budget_cost"]
    assert stopped.any() and not t.success[stopped].any()
    # Every attempt sends at most 500 + 6 turns' outputs; its dearest is bounded by the uncapped run's
    # dearest single attempt, which at most costs input + output at $2/$8 per million.
    biggest_attempt_usd = (free.input_tokens.max() * 2 + free.output_tokens.max() * 8) / 1e6
    assert np.all(t.cost_usd <= cap + biggest_attempt_usd)
    # Tasks the cap did not touch cost what they cost without it (common random numbers).
    untouched = free.cost_usd < cap
    assert np.array_equal(t.cost_usd[untouched], free.cost_usd[untouched])
    # A stopped task spent at least the cap: the cap is checked before each attempt.
    assert np.all(t.cost_usd[stopped] >= cap)


def test_call_and_time_caps_and_the_summary_counts_each_cap():
    wf = workflow(RUNAWAY, retry={"max_attempts": 2, "backoff": {"base_s": 5, "jitter": "none"}},
                  budget={"max_calls": 8, "max_wall_s": 120})
    result = run(wf, 2000)
    t = result.baseline.tasks
    assert np.all(t.calls <= 8)
    by_calls = t.failure == FAILURE_CODE["budget_calls"]
    by_time = t.failure == FAILURE_CODE["budget_time"]
    assert by_calls.any() and by_time.any()
    caps = summarize(result)["alternatives"][0]["budget_caps"]
    assert caps["calls"] == by_calls.mean() and caps["time"] == by_time.mean() and caps["cost"] == 0.0


def test_a_stopped_task_is_not_re_run():
    # Re-runs remain (3 allowed), yet a task stopped by the cap ends there, with exactly the cap's calls.
    wf = workflow(RUNAWAY, task_retry={"max_attempts": 3}, budget={"max_calls": 2})
    t = run(wf, 1000).baseline.tasks
    stopped = t.failure == FAILURE_CODE["budget_calls"]
    assert stopped.any() and not t.success[stopped].any()
    assert np.all(t.calls[stopped] == 2)
    assert np.any(t.runs[stopped] < 3)
