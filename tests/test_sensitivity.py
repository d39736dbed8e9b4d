"""What drives cost (sim.analysis.sensitivity and ``costsim sensitivity``).

With common random numbers an input's two runs see the same tasks, so a price change moves the mean cost
by exactly the closed form (not within noise), an input that changes nothing moves it by exactly 0, and
the ranking of big against tiny inputs is never a coin toss.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PRICES_DATE, run, workflow

from sim import load_workflow
from sim.analysis.sensitivity import plan_sensitivity, sensitivity
from sim.analysis.variants import only_alternative
from sim.cli.program import error_message
from sim.core.errors import CostsimError
from sim.output.sensitivity import sensitivity_csv

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "workflows" / "support-agent.yaml"
COSTSIM = Path(sys.executable).parent / "costsim"


def analyse(wf, delta: float = 0.2, tasks: int = 1000, **options) -> dict:
    return sensitivity(wf, delta, tasks, 7, prices_date=PRICES_DATE, **options)


def by_path(report: dict) -> dict[str, dict]:
    return {entry["path"]: entry for entry in report["inputs"]}


def one_call(output=500, prompt=1000, **extra):
    return workflow([{"id": "answer", "llm": "main", "prompt": prompt, "output": output}],
                    models={"main": "acme:m"}, prices={"acme:m": {"input": 2.0, "output": 4.0}}, **extra)


def test_doubling_the_input_price_changes_the_mean_cost_by_the_closed_form():
    # 1,000 input tokens at $2/M; the output is random. delta = 1: the input price goes to 0 and to $4/M,
    # so the mean cost moves by exactly 1,000 x $2/M either way, whatever the output did.
    wf = one_call(output={"lognormal": {"median": 500, "sigma": 0.7}})
    report = analyse(wf, delta=1.0, tasks=2000)
    entry = by_path(report)["prices.acme:m.input"]
    assert (entry["value"], entry["low"], entry["high"]) == (2.0, 0.0, 4.0)
    base = report["base"]["mean_cost_usd"]
    input_usd = 1000 * 2.0 / 1e6
    assert entry["mean_cost_usd"][0] == pytest.approx(base - input_usd, rel=1e-12)
    assert entry["mean_cost_usd"][1] == pytest.approx(base + input_usd, rel=1e-12)
    assert entry["mean_swing_usd"] == pytest.approx(2 * input_usd, rel=1e-12)
    assert entry["mean_swing_ci95"][1] - entry["mean_swing_ci95"][0] < 1e-15  # no noise at all
    # elasticity = the input's share of the cost
    assert entry["elasticity"] == pytest.approx(input_usd / base, rel=1e-12)
    # and the output price by its closed form too: mean output tokens x $4/M each way
    output = by_path(report)["prices.acme:m.output"]
    mean_output_tokens = float(np.mean(run(wf, 2000).baseline.tasks.output_tokens))
    assert output["mean_swing_usd"] == pytest.approx(2 * mean_output_tokens * 4.0 / 1e6, rel=1e-9)


def test_fixed_tokens_move_the_cost_by_exact_arithmetic():
    report = analyse(one_call(), delta=0.2, tasks=50)
    inputs = by_path(report)
    assert report["base"]["mean_cost_usd"] == pytest.approx((1000 * 2 + 500 * 4) / 1e6)
    assert inputs["steps.answer.prompt"]["mean_swing_usd"] == pytest.approx(400 * 2 / 1e6)
    assert inputs["steps.answer.output"]["mean_swing_usd"] == pytest.approx(200 * 4 / 1e6)


def test_the_output_token_mean_ranks_above_a_tiny_prompt_and_no_effect_ranks_last():
    wf = workflow(
        [{"id": "look", "tool": "search", "latency": {"exponential": {"mean": 2.0}}},  # time only: no cost
         {"id": "answer", "llm": "main", "prompt": 10, "output": {"normal": {"mean": 500, "sd": 50}}}],
        models={"main": "openai:gpt-4.1"})
    report = analyse(wf)
    ranked = [entry["path"] for entry in report["inputs"]]
    assert ranked[0] == "steps.answer.output.normal.mean"
    assert ranked.index("steps.answer.output.normal.mean") < ranked.index("steps.answer.prompt")
    latency = by_path(report)["steps.look.latency.exponential.mean"]
    assert latency["mean_swing_usd"] == 0.0 and latency["p95_swing_usd"] == 0.0  # reported, exactly 0 ...
    assert latency["rank_mean"] == len(ranked)  # ... and ranked last
    assert [entry["rank_mean"] for entry in report["inputs"]] == list(range(1, len(ranked) + 1))
    assert sorted(entry["rank_p95"] for entry in report["inputs"]) == list(range(1, len(ranked) + 1))


def test_how_each_kind_of_input_moves():
    wf = workflow(
        [{"id": "answer", "llm": "main", "output": {"poisson": {"mean": 100}, "min": 1}, "fail": 0.9},
         {"id": "route", "branch": {"a": {"p": 0.5, "steps": []}, "b": {"p": 0.5, "steps": []}}},
         {"id": "pick", "llm": "main", "output": {"empirical": {"values": [100, 300], "weights": [1, 3]}}},
         {"id": "mix", "llm": "main", "output": {"mixture": [
             {"weight": 0.7, "lognormal": {"median": 200, "sigma": 0.3}}, {"weight": 0.3, "fixed": 900}]}}],
        models={"main": "openai:gpt-4.1"}, retry={"max_attempts": 3}, task_retry={"max_attempts": 1})
    report = analyse(wf, tasks=200)
    inputs = by_path(report)
    assert (inputs["retry.max_attempts"]["low"], inputs["retry.max_attempts"]["high"]) == (2, 4)
    stays = inputs["task_retry.max_attempts"]
    assert (stays["low"], stays["high"]) == (1, 2)
    assert any("low value is not valid" in note and "must be greater than or equal to 1" in note
               for note in stays["notes"])
    fail = inputs["steps.answer.fail"]
    assert fail["low"] == pytest.approx(0.72) and fail["high"] == 1.0
    assert any("clamped to 1" in note for note in fail["notes"])
    values = inputs["steps.pick.output.empirical.values"]
    assert values["low"] == pytest.approx([80, 240]) and values["high"] == pytest.approx([120, 360])
    skipped = {entry["path"]: entry["reason"] for entry in report["skipped"]}
    assert skipped["steps.answer.output.min"] == "a clamp of a distribution"
    assert "must sum to 1" in skipped["steps.route.branch.a.p"]
    assert skipped["steps.pick.output.empirical.weights"] == "relative weights: scaling them all changes nothing"
    assert skipped["steps.mix.output.mixture.0.weight"] == "a mixture's weights must sum to 1"
    assert inputs["steps.mix.output.mixture.1.fixed"]["high"] == pytest.approx(1080)
    assert "steps.answer.prompt" not in inputs and "steps.answer.prompt" not in skipped  # a default: not written
    json.dumps(report, allow_nan=False)
    header, *rows = sensitivity_csv(report).splitlines()
    assert header.startswith("rank_mean,rank_p95,path,") and len(rows) == len(report["inputs"])


def test_an_alternative_ranks_its_own_inputs_on_the_same_tasks():
    wf = load_workflow(SUPPORT)
    alone = run(only_alternative(wf, "gpt-4.1"), 300).alternative("gpt-4.1").tasks.cost_usd
    assert np.array_equal(alone, run(wf, 300).alternative("gpt-4.1").tasks.cost_usd)
    report = analyse(wf, tasks=300, alternative="gpt-4.1")
    inputs = by_path(report)
    assert report["alternative"] == "gpt-4.1"
    assert inputs["steps.answer.fail.default"]["mean_swing_usd"] == 0.0  # not gpt-4.1's failure rate
    assert inputs["steps.answer.fail.openai:gpt-4.1"]["mean_swing_usd"] > 0
    with pytest.raises(CostsimError, match="no alternative 'gpt41'; did you mean 'gpt-4.1'"):
        analyse(wf, alternative="gpt41")


def test_the_engines_and_an_executor_give_the_same_report():
    from sim import ProcessExecutor

    wf = load_workflow(SUPPORT)
    reports = {engine: analyse(wf, tasks=300, engine=engine) for engine in ("des", "fast")}
    with ProcessExecutor(2) as pool:
        reports["fast on 2 workers"] = analyse(wf, tasks=300, engine="fast", executor=pool)
    assert [report["metadata"].pop("engine") for report in reports.values()] == ["des", "fast", "fast"]
    assert reports["des"] == reports["fast"] == reports["fast on 2 workers"]
    assert len(reports["des"]["inputs"]) > 10


def test_the_plan_and_bad_options():
    plan = plan_sensitivity(load_workflow(SUPPORT), tasks=100, prices_date=PRICES_DATE)
    assert plan.runs == 1 + sum(side is not None for pair in plan.sides for side in pair)
    for delta in (0.0, 1.5, float("nan")):
        with pytest.raises(CostsimError, match="^delta: expected a share") as caught:
            plan_sensitivity(load_workflow(SUPPORT), delta)
        assert error_message(caught.value).startswith("--delta: expected a share")


def test_with_traffic_runs_are_replications():
    wf = one_call(output={"lognormal": {"median": 500, "sigma": 0.5}}, traffic={"tasks_per_day": 200, "days": 0.5})
    report = analyse(wf, replications=2)
    assert report["tasks"] is None and report["replications"] == 2
    assert "traffic.days" in {entry["path"] for entry in report["skipped"]}
    assert by_path(report)["traffic.tasks_per_day"]["mean_swing_ci95"] is None  # different arrivals


def costsim(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([str(COSTSIM), *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


def test_cli_json_is_alone_on_stdout_and_the_tornado_is_written(tmp_path):
    proc = costsim("sensitivity", SUPPORT, "--tasks", "200", "--format", "json", "--out", tmp_path,
                   "--prices-date", "2026-11-01")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["delta"] == 0.2 and report["alternative"] == "baseline"
    assert report["inputs"][0]["path"] == "steps.tools.repeat.poisson.mean"  # the loop count drives it
    assert {p.name for p in tmp_path.iterdir()} == {"sensitivity.json", "sensitivity.csv", "tornado.png",
                                                   "tornado.svg", ".costsim-run"}
    svg = (tmp_path / "tornado.svg").read_text()
    assert svg.count('id="high:') == 15  # the 15 widest swings
    assert "wrote" in proc.stderr


def test_cli_bad_alternative_is_a_clear_error():
    proc = costsim("sensitivity", SUPPORT, "--alternative", "sonet-4.6")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: --alternative: no alternative 'sonet-4.6'; did you mean 'sonnet-4.6'?")


def test_difficulty_shares_move_together_and_quality_is_clamped():
    wf = workflow([{"id": "answer", "llm": "main", "output": {"lognormal": {"median": 300, "sigma": 0.5}},
                    "fail": "quality"}],
                  models={"main": "openai:gpt-4.1-mini"}, retry={"max_attempts": 3},
                  difficulty={"classes": {"easy": 0.6, "medium": 0.3, "hard": 0.1}},
                  quality={"openai:gpt-4.1-mini": {"easy": 0.95, "medium": 0.8, "hard": 0.5}})
    inputs = by_path(analyse(wf, tasks=500))
    hard = inputs["difficulty.classes.hard"]
    assert (hard["low"], hard["high"]) == (0.08, 0.12)
    assert hard["notes"] == ["one of shares that sum to 1: the others are rescaled to keep the sum"]
    assert hard["mean_swing_usd"] > 0  # more hard tasks: more retries
    easy = inputs["quality.openai:gpt-4.1-mini.easy"]
    assert (easy["low"], easy["high"]) == (0.76, 1.0)
    assert easy["notes"] == ["a probability: the high value is clamped to 1"]
    assert inputs["quality.openai:gpt-4.1-mini.hard"]["mean_swing_usd"] < 0  # a better model retries less
