"""Monte Carlo over alternatives: common random numbers, paired intervals, block-size independence."""

from __future__ import annotations

import numpy as np
from conftest import run, workflow
from scipy import stats

from sim.core.records import TASK_FIELDS
from sim.stats.summary import summarize

STEPS = [
    {"id": "classify", "llm": "fast", "prompt": 500, "output": {"normal": {"mean": 100, "sd": 20}},
     "history": "none", "fail": 0.1},
    {"id": "loop", "repeat": {"poisson": {"mean": 1.5}, "min": 1}, "steps": [
        {"id": "search", "tool": "search", "result": {"lognormal": {"median": 800, "sigma": 0.6}}, "fail": 0.1},
        {"id": "think", "llm": "main", "output": {"lognormal": {"median": 150, "sigma": 0.5}}, "fail": 0.2}]},
    {"id": "answer", "llm": "main", "output": {"lognormal": {"median": 400, "sigma": 0.4}}, "fail": 0.1},
]


def test_changing_one_roles_model_leaves_every_draw_unchanged():
    # The failure rates do not depend on the model here, so every token, call and attempt count must be
    # identical task by task; only the price and the speed of the changed role differ.
    wf = workflow(STEPS, models={"fast": "openai:gpt-4.1-nano", "main": "openai:gpt-4.1-mini"},
                  alternatives={"big": {"main": "openai:gpt-4.1"}, "other-fast": {"fast": "openai:gpt-4o-mini"}},
                  retry={"max_attempts": 2})
    result = run(wf, 3000)
    base = result.baseline.tasks
    for alternative in result.alternatives[1:]:
        for name in TASK_FIELDS:
            if name not in ("cost_usd", "latency_s", "cache_saving_usd"):  # money and time depend on the model
                assert np.array_equal(getattr(alternative.tasks, name), getattr(base, name)), name
        assert not np.array_equal(alternative.tasks.cost_usd, base.cost_usd)


def test_results_do_not_depend_on_block_size():
    wf = workflow(STEPS, models={"fast": "openai:gpt-4.1-nano", "main": "openai:gpt-4.1-mini"},
                  retry={"max_attempts": 2}, task_retry={"max_attempts": 2})
    one_block = run(wf, 1000, block_tasks=1000).baseline.tasks
    small_blocks = run(wf, 1000, block_tasks=37).baseline.tasks
    for name in TASK_FIELDS:
        assert np.array_equal(getattr(one_block, name), getattr(small_blocks, name)), name


def test_paired_interval_is_far_narrower_than_an_unpaired_one_for_nearly_equal_prices():
    # Two in-house models 1% apart in price: the per-task costs vary a lot, their difference hardly.
    wf = workflow(STEPS, models={"fast": "acme:a", "main": "acme:a"},
                  alternatives={"b": {"fast": "acme:b", "main": "acme:b"}},
                  prices={"acme:a": {"input": 1.0, "output": 4.0}, "acme:b": {"input": 1.01, "output": 4.04}},
                  retry={"max_attempts": 2})
    result = run(wf, 4000)
    summary = summarize(result)
    paired = summary["alternatives"][1]["diff_vs_baseline"]["ci95"]
    paired_half_width = (paired[1] - paired[0]) / 2
    a, b = result.alternatives[0].tasks.cost_usd, result.alternatives[1].tasks.cost_usd
    # The interval an analyst would get from two independent samples (Welch's t).
    se_unpaired = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    unpaired_half_width = stats.t.ppf(0.975, len(a) - 1) * se_unpaired
    assert paired_half_width < 0.05 * unpaired_half_width
    # Exactly 1% dearer on every task, so the paired difference is 1% of the baseline mean.
    assert np.allclose(b, 1.01 * a, rtol=1e-12)


def test_independent_draws_would_give_a_wider_interval_than_common_random_numbers():
    # Run the alternative under another seed (independent tasks) and compare the difference's spread.
    wf_a = workflow(STEPS, models={"fast": "openai:gpt-4.1-nano", "main": "openai:gpt-4.1-mini"},
                    retry={"max_attempts": 2})
    wf_b = workflow(STEPS, models={"fast": "openai:gpt-4.1-nano", "main": "openai:gpt-4.1"},
                    retry={"max_attempts": 2})
    a = run(wf_a, 3000, seed=1).baseline.tasks.cost_usd
    b_same_tasks = run(wf_b, 3000, seed=1).baseline.tasks.cost_usd
    b_other_tasks = run(wf_b, 3000, seed=2).baseline.tasks.cost_usd
    # Var(b - a) = Var(a) + Var(b) - 2 Cov(a, b): common tasks make the covariance positive. With a 5x
    # price gap Var(b) dominates, so the gain is modest here (about 0.65 at this seed), unlike above.
    assert np.var(b_same_tasks - a) < 0.8 * np.var(b_other_tasks - a)
