"""Stress sweeps (sim.sweep, sim.analysis.variants and ``costsim stress``).

What must hold: a sweep point at a failure rate of 0 is exactly a plain run of the workflow with that
rate written in the file (the same per-task costs); cost grows with the failure rate as the closed form of
a retried call says, E[cost] = c(1 − p^k)/(1 − p), within 4 standard errors, and task by task (the
points share their random numbers); paths name any number of the file, and a wrong one is reported with
the close names that exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PRICES_DATE, run, within_sigmas, workflow
from scipy import stats as sps

from sim import load_workflow, parse_workflow, summarize
from sim.analysis.stress import parse_vary, plan_stress, run_stress, stress
from sim.analysis.variants import data_of, label, numeric_leaves, resolve, with_values, without_failures
from sim.cli.program import error_message
from sim.core.errors import CostsimError
from sim.output.stress import short_names, stress_csv

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "workflows" / "support-agent.yaml"
COSTSIM = Path(sys.executable).parent / "costsim"

# One call: 1,000 input tokens at $1/M and 500 output tokens at $2/M: $0.002 an attempt, every attempt.
ATTEMPT_USD = (1000 * 1.0 + 500 * 2.0) / 1e6


def one_call(fail: float = 0.0, attempts: int = 3, **extra):
    return workflow([{"id": "answer", "llm": "main", "prompt": 1000, "output": 500, "fail": fail}],
                    models={"main": "acme:m"}, prices={"acme:m": {"input": 1.0, "output": 2.0}},
                    retry={"max_attempts": attempts}, **extra)


def sweep(wf, *varies: str, tasks: int = 2000, seed: int = 7, keep: dict | None = None, **options) -> dict:
    on_result = None if keep is None else (lambda values, result: keep.__setitem__(tuple(values.values()), result))
    return stress(wf, [parse_vary(text) for text in varies], tasks, seed, prices_date=PRICES_DATE,
                  on_result=on_result, **options)


def se_of(entry: dict, tasks: int) -> float:
    """The standard error behind an entry's 95% t-interval."""
    low, high = entry["mean_ci95"]
    return (high - low) / 2 / sps.t.ppf(0.975, tasks - 1)


# -- a failure rate of 0 is a plain run ------------------------------------------------------------------


def test_the_sweep_at_a_failure_rate_of_0_equals_a_plain_run():
    text = SUPPORT.read_text()
    assert text.count("fail: 0.05") == 1
    plain_zero = parse_workflow(text.replace("fail: 0.05", "fail: 0"), "zero.yaml")
    kept: dict = {}
    report = sweep(load_workflow(SUPPORT), "steps.search.fail=0,0.05,0.2", tasks=1500, keep=kept)
    for value, plain_wf in ((0.0, plain_zero), (0.05, load_workflow(SUPPORT))):
        plain = run(plain_wf, 1500)
        swept = kept[(value,)]
        for a, b in zip(plain.alternatives, swept.alternatives):
            assert a.name == b.name
            for column in ("cost_usd", "success", "attempts", "input_tokens", "output_tokens"):
                assert np.array_equal(getattr(a.tasks, column), getattr(b.tasks, column)), (value, a.name, column)
        # ... and the report's numbers are the plain run's summary
        point = next(p for p in report["points"] if p["values"]["steps.search.fail"] == value)
        for entry, alt in zip(point["alternatives"], summarize(plain)["alternatives"]):
            assert entry["mean_cost_usd"] == alt["cost_per_task"]["mean"]
            assert entry["p95_cost_usd"] == alt["cost_per_task"]["p95"]
            assert entry["p99_cost_usd"] == alt["cost_per_task"]["p99"]
            assert entry["success_rate"] == alt["success_rate"]
            assert entry["cost_per_success_usd"] == alt["cost_per_success"]


def test_with_every_failure_at_0_amplification_is_1_and_nothing_runs_away():
    report = sweep(one_call(fail=0.3), "steps.answer.fail=0", tasks=200)
    (entry,) = report["points"][0]["alternatives"]
    assert entry["cost_amplification"] == 1.0
    assert entry["no_failure_mean_cost_usd"] == pytest.approx(ATTEMPT_USD, rel=1e-12)
    assert entry["runaway_share"] == 0.0
    assert entry["success_rate"] == 1.0


def test_the_no_failure_case_zeroes_every_fail_whatever_its_form():
    reference = without_failures(load_workflow(SUPPORT))
    data = data_of(reference)
    assert data["steps"][2]["steps"][0]["fail"] == 0.0  # a tool's
    assert data["steps"][3]["fail"] == 0.0  # was a per-model mapping
    assert run(reference, 300).baseline.tasks.success.all()
    quality = workflow([{"id": "answer", "llm": "main", "output": 100, "fail": "quality"}],
                       difficulty={"classes": {"easy": 0.5, "hard": 0.5}},
                       quality={"openai:gpt-4.1": {"easy": 0.9, "hard": 0.3}})
    assert not run(quality, 300).baseline.tasks.success.all()
    assert run(without_failures(quality), 300).baseline.tasks.success.all()


# -- the closed form of a retried call ---------------------------------------------------------------------


def test_cost_grows_with_the_failure_rate_as_the_closed_form_says():
    k, tasks = 3, 4000
    kept: dict = {}
    report = sweep(one_call(attempts=k), "steps.answer.fail=0:0.6:7", tasks=tasks, keep=kept)
    ps = report["vary"][0]["values"]
    assert ps == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    means = []
    for p, point in zip(ps, report["points"]):
        (entry,) = point["alternatives"]
        exact = ATTEMPT_USD * (1 - p ** k) / (1 - p)
        assert within_sigmas(entry["mean_cost_usd"], exact, se_of(entry, tasks) + 1e-15), (p, entry, exact)
        assert within_sigmas(entry["success_rate"], 1 - p ** k, np.sqrt(p ** k * (1 - p ** k) / tasks) + 1e-12)
        # the no-failure case costs one attempt; amplification is E[attempts]
        assert entry["no_failure_mean_cost_usd"] == pytest.approx(ATTEMPT_USD, rel=1e-12)
        assert entry["cost_amplification"] == pytest.approx(entry["mean_cost_usd"] / ATTEMPT_USD)
        means.append(entry["mean_cost_usd"])
    assert all(a < b for a, b in zip(means, means[1:]))  # strictly increasing
    # common random numbers across the grid: every task costs at least as much at a higher failure rate
    costs = [kept[(p,)].baseline.tasks.cost_usd for p in ps]
    assert all(np.all(a <= b) for a, b in zip(costs, costs[1:]))
    # so the paired difference from the first point is measured far more tightly than the means
    last = report["points"][-1]["alternatives"][0]
    diff = last["diff_vs_first"]
    assert diff["mean"] == pytest.approx(last["mean_cost_usd"] - ATTEMPT_USD, rel=1e-9)
    assert diff["ci95"][1] - diff["ci95"][0] < last["mean_ci95"][1] - last["mean_ci95"][0] + 1e-15


def test_max_attempts_takes_whole_values_and_follows_the_closed_form():
    p, tasks = 0.5, 4000
    report = sweep(one_call(fail=p), "retry.max_attempts=1:4:3", tasks=tasks)
    axis = report["vary"][0]
    assert axis["integer"] is True and axis["file_value"] == 3
    assert axis["values"] == [1, 3, 4]  # 2.5 rounds half up
    assert any("whole numbers" in note and "1, 3, 4" in note for note in report["notes"])
    for k, point in zip(axis["values"], report["points"]):
        (entry,) = point["alternatives"]
        exact = ATTEMPT_USD * (1 - p ** k) / (1 - p)
        assert within_sigmas(entry["mean_cost_usd"], exact, se_of(entry, tasks) + 1e-15), (k, entry, exact)


def test_runaway_share_is_the_share_above_ten_times_the_no_failure_median():
    # 20 attempts at p = 0.8: a task runs away (costs more than 10 attempts) when its first 10 attempts fail
    p, tasks = 0.8, 4000
    report = sweep(one_call(fail=p, attempts=20), f"steps.answer.fail={p}", tasks=tasks)
    (entry,) = report["points"][0]["alternatives"]
    assert entry["runaway_threshold_usd"] == pytest.approx(10 * ATTEMPT_USD)
    assert within_sigmas(entry["runaway_share"], p ** 10, np.sqrt(p ** 10 * (1 - p ** 10) / tasks))


def test_budget_caps_are_reported_when_the_workflow_has_budgets():
    # at p = 0.8 and 20 attempts, a $0.005 budget stops the tasks that need more than 2.5 attempts' cost
    wf = one_call(fail=0.8, attempts=20, budget={"max_cost_usd": 0.005})
    report = sweep(wf, "budget.max_cost_usd=0.005,0.1", tasks=2000)
    tight, loose = (p["alternatives"][0] for p in report["points"])
    assert set(tight["budget_caps"]) == {"cost", "calls", "time"}
    assert tight["budget_caps"]["cost"] > 0.3 and loose["budget_caps"]["cost"] < tight["budget_caps"]["cost"]
    assert tight["success_rate"] + tight["budget_caps"]["cost"] == pytest.approx(1.0)
    assert stress_csv(report).splitlines()[1].endswith(str(tight["budget_caps"]["cost"]))
    assert "budget_caps" not in sweep(one_call(), "steps.answer.fail=0", tasks=10)["points"][0]["alternatives"][0]


def test_several_varies_give_the_full_grid_last_axis_fastest():
    report = sweep(one_call(), "steps.answer.fail=0,0.5", "retry.max_attempts=1,2,3", tasks=100)
    assert [tuple(p["values"].values()) for p in report["points"]] == [
        (0.0, 1), (0.0, 2), (0.0, 3), (0.5, 1), (0.5, 2), (0.5, 3)]
    json.dumps(report, allow_nan=False)


def test_the_plan_validates_every_point_before_running_and_counts_the_runs():
    plan = plan_stress(load_workflow(SUPPORT), [parse_vary("steps.search.fail=0:0.3:4")], 100,
                       prices_date=PRICES_DATE)
    assert plan.runs == 4 + 1  # the no-failure case is the same at every point: simulated once
    assert plan.work == 5 * 100
    seen = []
    run_stress(plan, on_progress=seen.append)
    assert seen[-1] == plan.work and seen == sorted(seen)


def test_with_traffic_points_are_replications():
    wf = one_call(fail=0.2, traffic={"tasks_per_day": 300, "days": 0.5})
    report = sweep(wf, "traffic.tasks_per_day=100,300", replications=2)
    assert report["tasks"] is None and report["replications"] == 2
    first, second = (p["alternatives"][0] for p in report["points"])
    assert "bill_mean_usd" in first
    assert second["diff_vs_first"] is None  # different arrivals: not paired
    with pytest.raises(CostsimError, match="^replications needs a traffic") as caught:
        sweep(one_call(), "steps.answer.fail=0", replications=2)
    assert error_message(caught.value).startswith("--replications needs a traffic")


# -- paths ---------------------------------------------------------------------------------------------


def test_paths_name_keys_steps_by_id_and_keys_with_dots_or_colons():
    wf = load_workflow(SUPPORT)
    assert resolve(wf, "steps.search.fail").location == ("steps", 2, "steps", 0, "fail")
    assert resolve(wf, "steps.tools.steps.search.fail").location == ("steps", 2, "steps", 0, "fail")
    assert resolve(wf, "steps.2.steps.0.fail").location == ("steps", 2, "steps", 0, "fail")
    assert resolve(wf, "steps.answer.fail.openai:gpt-4.1").value == 0.04
    assert resolve(wf, "context.user.lognormal.median").value == 200.0
    number = resolve(wf, "retry.max_attempts")
    assert (number.value, number.integer) == (3, True)
    priced = one_call().model_copy()
    data = data_of(priced)
    data["prices"]["openai:gpt-4.1"] = {"input": 1.8}
    assert resolve(data, "prices.openai:gpt-4.1.input").value == 1.8
    assert resolve(data, "prices.acme:m.output").value == 2.0


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "workflows").glob("*.yaml")))
def test_every_number_of_every_example_has_a_path_that_names_it(name):
    data = data_of(load_workflow(ROOT / "workflows" / name))
    for location in numeric_leaves(data):
        assert resolve(data, label(data, location)).location == location


def test_a_value_set_through_a_path_reads_back_through_the_loader():
    wf = load_workflow(SUPPORT)
    assert with_values(wf, {}) == wf
    changed = with_values(wf, {resolve(wf, "steps.search.fail").location: 0.3})
    assert changed.steps[2].steps[0].fail == 0.3


@pytest.mark.parametrize(("path", "fragments"), [
    ("steps.serch.fail", ["no step with id 'serch'", "did you mean 'search'?", "step ids: classify, plan"]),
    ("retry.max_attemps", ["retry has no key 'max_attemps'", "did you mean 'max_attempts'?"]),
    ("contxt.user", ["the workflow has no key 'contxt'", "did you mean 'context' or 'content'?"]),
    ("steps.search.fial", ["steps.search has no key 'fial'", "did you mean 'fail'?"]),
    ("steps.plan.output", ["is a distribution (normal), not a number", "steps.plan.output.normal.mean"]),
    ("steps.answer.fail", ["is a mapping, not a number", "steps.answer.fail.default"]),
    ("name", ["is a text ('support-agent'), not a number"]),
    ("steps.9.output", ["steps has 4 items (0 to 3), not 10"]),
    ("traffic.tasks_per_day", ["traffic is not set in this workflow"]),
    ("prices.acme:x.input", ["prices is empty in this workflow"]),
    ("retry.max_attempts.x", ["retry.max_attempts is 3, which has no 'x'"]),
    ("steps..fail", ["expected a dotted path"]),
])
def test_a_bad_path_names_the_failing_segment_and_suggests(path, fragments):
    with pytest.raises(CostsimError) as caught:
        sweep(load_workflow(SUPPORT), f"{path}=0:1:2", tasks=10)
    message = caught.value.message
    assert message.startswith(f"vary {path}: ")
    assert error_message(caught.value) == f"--{message}"
    for fragment in fragments:
        assert fragment in message, message


def test_a_value_the_workflow_rejects_gets_the_loaders_message():
    with pytest.raises(CostsimError) as caught:
        sweep(load_workflow(SUPPORT), "steps.search.fail=0:1.5:4", tasks=10)
    message = caught.value.message
    assert message.startswith("vary='steps.search.fail=1.5': steps[2].steps[0].fail: ")
    assert error_message(caught.value).startswith("--vary steps.search.fail=1.5: steps[2].steps[0].fail: ")
    assert "is a probability: it must be between 0 and 1 (got 1.5)" in message
    assert "<variant>" not in message


@pytest.mark.parametrize(("text", "fragment"), [
    ("steps.search.fail", "expected PATH=START:STOP:N"),
    ("steps.search.fail=a:b:3", "expected PATH=START:STOP:N"),
    ("steps.search.fail=0:1", "expected PATH=START:STOP:N"),
    ("steps.search.fail=0:1:0", "N must be at least 1"),
    ("steps.search.fail=0:1:1", "Give N >= 2"),
    ("steps.search.fail=0,nan", "finite"),
])
def test_a_bad_grid_is_explained(text, fragment):
    with pytest.raises(CostsimError, match="^vary") as caught:
        parse_vary(text)
    assert fragment in caught.value.message
    assert error_message(caught.value).startswith("--vary")


def test_grids_are_clean_numbers():
    assert parse_vary("steps.search.fail=0:0.3:4") == ("steps.search.fail", [0.0, 0.1, 0.2, 0.3])
    assert parse_vary("prices.acme:m.input=1,2.5") == ("prices.acme:m.input", [1.0, 2.5])
    assert parse_vary("x=0.5:0.5:1") == ("x", [0.5])
    assert short_names(["steps.search.fail", "retry.max_attempts"]) == ["fail", "max_attempts"]
    assert short_names(["steps.a.fail", "steps.b.fail"]) == ["a.fail", "b.fail"]


# -- the command ----------------------------------------------------------------------------------------


def costsim(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([str(COSTSIM), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


def test_cli_json_is_alone_on_stdout_and_the_files_are_written(tmp_path):
    proc = costsim("stress", SUPPORT, "--vary", "steps.search.fail=0:0.2:3", "--tasks", "200", "--seed", "3",
                   "--prices-date", "2026-11-01", "--format", "json", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["seed"] == 3 and report["tasks"] == 200
    assert [p["values"]["steps.search.fail"] for p in report["points"]] == [0.0, 0.1, 0.2]
    assert [e["name"] for e in report["points"][0]["alternatives"]] == ["baseline", "gpt-4.1", "sonnet-4.6"]
    assert {path.name for path in tmp_path.iterdir()} == {"stress.json", "stress.csv", "stress.png", "stress.svg",
                                                          ".costsim-run"}  # the marker: the folder is one result
    assert json.loads((tmp_path / "stress.json").read_text())["points"] == report["points"]
    svg = (tmp_path / "stress.svg").read_text()
    assert all(f'id="{kind}:{name}"' in svg for kind in ("mean", "p95", "success")
               for name in ("baseline", "gpt-4.1", "sonnet-4.6"))
    assert "wrote" in proc.stderr


def test_cli_table_a_plot_per_other_value_and_csv(tmp_path):
    proc = costsim("stress", SUPPORT, "--vary", "steps.search.fail=0,0.3", "--vary", "retry.max_attempts=1,3",
                   "--tasks", "100", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "×no-fail" in proc.stdout and "columns: fail = steps.search.fail" in proc.stdout
    assert {p.name for p in tmp_path.glob("*.png")} == {"stress-retry.max_attempts=1.png",
                                                       "stress-retry.max_attempts=3.png"}
    lines = (tmp_path / "stress.csv").read_text().splitlines()
    assert lines[0].startswith("steps.search.fail,retry.max_attempts,alternative,mean_cost_usd,")
    assert len(lines) == 1 + 4 * 3


def test_cli_bad_path_is_a_clear_error():
    proc = costsim("stress", SUPPORT, "--vary", "steps.serch.fail=0:0.3:4")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: --vary steps.serch.fail: no step with id 'serch'; did you mean 'search'?")
    assert "Traceback" not in proc.stderr
