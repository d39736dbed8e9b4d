"""A budget for the work itself (issue 13, item 7): a run is estimated before it starts (alternatives x
tasks x expected calls a task, from the loop counts' means and the branch shares) and refused above stated
limits, naming what drives it; grids and volume sweeps have a most number of points; --jobs is capped at
the cores available."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import costsim_in_process as costsim
from conftest import workflow

from sim.analysis.breakeven import parse_volumes
from sim.analysis.stress import MAX_GRID_POINTS, parse_vary
from sim.core.errors import CostsimError, ParameterError
from sim.run.executor import default_jobs
from sim.run.simulation import simulate
from sim.run.workload import MAX_CALLS, MAX_HORIZON_TASKS, check_workload, estimate

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "workflows" / "support-agent.yaml"
LOOPS = workflow([
    {"id": "plan", "llm": "main", "output": 10},
    {"id": "outer", "repeat": 4, "steps": [
        {"id": "inner", "repeat": {"uniform": {"low": 0, "high": 20}}, "steps": [{"id": "call", "llm": "main",
                                                                                   "output": 10}]},
        {"id": "pick", "branch": {"a": {"p": 0.25, "steps": [{"id": "t", "tool": "search"}]},
                                  "b": {"p": 0.75, "steps": [{"id": "u", "llm": "main", "output": 1}]}}},
    ]},
], alternatives={"mini": {"main": "openai:gpt-4.1-mini"}})


def test_the_estimate_is_the_expected_calls_from_the_means():
    # 1 + 4 x (E[round(U(0, 20))] + 0.25 x 1 + 0.75 x 1) = 1 + 4 x (10 + 1) = 45 calls a task
    work = estimate(LOOPS, 1_000, 1)
    assert work.calls_per_task == pytest.approx(45.0, rel=1e-9)
    assert work.calls == pytest.approx(2 * 1_000 * 45.0, rel=1e-9)
    assert (work.driver, work.driver_mean) == ("steps.outer.steps.inner.repeat", pytest.approx(10.0))


def test_a_run_above_the_limit_is_refused_naming_tasks_and_the_loop():
    tasks = int(MAX_CALLS / (2 * 45)) + 1_000
    with pytest.raises(ParameterError, match=r"^tasks=\d+: about 1e\+09 calls \(2 alternatives x [\d,]+ tasks x 45 "
                                             r"calls a task\), more than 1e\+09, .*the loop count that multiplies "
                                             r"it most is steps.outer.steps.inner.repeat \(mean 10\); simulate fewer "
                                             "tasks"):
        simulate(LOOPS, tasks, 0)
    assert check_workload(LOOPS, int(MAX_CALLS / (2 * 45)) - 1_000, 1).calls <= MAX_CALLS


def test_tasks_1e20_is_refused_at_once(monkeypatch, capsys, tmp_path):
    code, out, err = costsim(monkeypatch, capsys, "run", SUPPORT, "--tasks", str(10**20), "--out", tmp_path / "r")
    assert code == 2 and out == "" and err.startswith(f"error: --tasks {10**20}: about 2.08e+21 calls")
    assert err.count("\n") == 1 and not (tmp_path / "r").exists()


def test_a_traffic_horizon_above_the_limit_is_refused():
    flood = workflow([{"id": "a", "llm": "main", "output": 5}], traffic={"tasks_per_day": 1e9, "days": 1})
    with pytest.raises(CostsimError, match=rf"^traffic: a horizon of 1,000,000,000 tasks \(tasks_per_day x days\), "
                                           rf"more than {MAX_HORIZON_TASKS:,}"):
        simulate(flood, 10, 0)


def test_grids_and_volume_sweeps_have_a_most_number_of_points():
    with pytest.raises(ParameterError, match=rf"vary='x': N = 1,000,000,000 points, more than {MAX_GRID_POINTS:,}"):
        parse_vary("x=1:3:1000000000")
    with pytest.raises(ParameterError, match=r"volumes: N = 1,000 volumes, more than 100"):
        parse_volumes("10:1000:1000")


def test_breakeven_volumes_up_to_a_billion_a_day_are_refused(monkeypatch, capsys, tmp_path):
    code, out, err = costsim(monkeypatch, capsys, "breakeven", ROOT / "workflows" / "self-hosting.yaml", "--model",
                             "self:llama-70b", "--volumes", "10:1e9:2", "--out", tmp_path / "b")
    assert code == 2 and err.startswith("error: --volumes: 1,000,000,000 tasks a day for 1 days is a horizon of")


def test_jobs_above_the_cores_are_capped_with_a_note(monkeypatch, capsys, tmp_path):
    from sim.cli import shared

    seen = []
    monkeypatch.setattr("sim.run.executor.make_executor", lambda jobs, scheduler: seen.append(jobs) or
                        __import__("sim.run.executor", fromlist=["SerialExecutor"]).SerialExecutor())
    code, out, err = costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "20", "-j", "1000", "--out", tmp_path / "r")
    cores = default_jobs()
    assert code == 0 and seen == [cores]
    assert f"note: --jobs 1000: {cores} core{'s' * (cores != 1)} here; running {cores} worker" in err
    assert shared.capped_jobs(None) is None
