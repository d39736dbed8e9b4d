"""Smaller silent wrongs (issue 13, item 9): a share never reads 100.0% beside a failure nor 0.0% beside a
success; P(bill > budget) is shown with its interval and the replications it rests on; a break-even sweep
in which no task arrived does not report a bill of $0 a month as if it were one."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import typer
from conftest import PRICES_DATE, run, workflow
from conftest import costsim_in_process as costsim
from rich.console import Console

import sim
from sim.analysis.breakeven import breakeven
from sim.cli.program import app
from sim.core.errors import ParameterError
from sim.core.format import share, share_interval
from sim.engine.fast import FastEngine
from sim.output.breakeven import breakeven_tables, capacity_lines
from sim.output.report import _alternative, _latency
from sim.output.stress import stress_table
from sim.output.tables import summary_tables, time_tables
from sim.run.simulation import DEFAULT_CHUNK_TASKS, DEFAULT_REPLICATIONS
from sim.spec.loader import load_workflow
from sim.stats.intervals import tasks_needed
from sim.stats.summary import summarize

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def rendered(tables) -> str:
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    for table in tables:
        console.print(table)
    return console.export_text()


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0.0%"), (0.0004, "<0.1%"), (0.5, "50.0%"), (0.9994, "99.9%"), (0.9995, ">99.9%"),
    (0.99999, ">99.9%"), (1.0, "100.0%"), (None, "n/a"),
])
def test_a_share_never_rounds_onto_a_bound_it_is_not_on(value, text):
    assert share(value) == text


def test_a_share_with_other_decimals_and_an_interval():
    assert share(0.996, decimals=0) == ">99%" and share(0.004, decimals=0) == "<1%" and share(1.0, decimals=0) == "100%"
    assert share_interval(0.2, [0.005, 0.716]) == "20.0% (0.5–71.6%)"
    assert share_interval(0.0, [0.0, 0.522]) == "0.0% (0.0–52.2%)"
    assert share_interval(0.4, None) == "40.0%"


@pytest.fixture(scope="module")
def nearly_always():
    """A summary whose success is 99.95% with 0.05% of tasks failed by invalid output (the run's own
    numbers, but these two set: a run of 2,000 tasks with exactly one failure would need a lucky seed)."""
    summary = summarize(run(workflow([{"id": "ask", "llm": "main", "prompt": 10, "output": 10}]), 40))
    summary = copy.deepcopy(summary)
    entry = summary["alternatives"][0]
    entry["success_rate"] = 0.9995
    entry["failures"] = {"invalid_output": 0.0005}
    return summary


def test_success_beside_a_failure_never_reads_100_percent_in_the_tables(nearly_always):
    text = rendered([*summary_tables(nearly_always), *time_tables(nearly_always)])
    assert ">99.9%" in text and "invalid_output 0.1%" in text
    assert "100.0%" not in text


def test_success_beside_a_failure_never_reads_100_percent_in_the_report(nearly_always):
    entry = nearly_always["alternatives"][0]
    shown = _alternative(0, entry, entry["models"])["success"]
    assert shown.text == ">99.9%" and shown.value == 0.9995  # the exact value stays in data-value
    (failure,) = _latency(nearly_always["alternatives"])[0]["failures"]
    assert failure[1].text == "0.1%"


def test_success_beside_a_failure_never_reads_100_percent_in_a_stress_table():
    point = {"values": {"fail": 0.0005}, "alternatives": [{
        "name": "baseline", "mean_cost_usd": 0.01, "mean_ci95": [0.009, 0.011], "p95_cost_usd": 0.02,
        "p99_cost_usd": 0.03, "success_rate": 0.9995, "cost_per_success_usd": 0.01, "cost_amplification": 1.0,
        "runaway_share": 0.0}]}
    report = {"workflow": "w", "tasks": 2000, "replications": None, "seed": 0, "vary": [{"path": "fail"}],
              "points": [point]}
    text = rendered([stress_table(report)])
    assert ">99.9%" in text and "100.0%" not in text


def test_the_chance_of_going_over_budget_shows_its_interval_and_replications():
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 1000, "output": 200}],
                  traffic={"tasks_per_day": 50, "days": 1})
    summary = summarize(run(wf, 0, seed=3, replications=5), budget_usd=50 * (1000 * 2e-6 + 200 * 8e-6))
    bill = summary["alternatives"][0]["bill"]
    low, high = bill["p_over_budget_ci95"]
    assert 0 < high - low  # five replications: a wide interval, which the table must show
    text = rendered(time_tables(summary))
    assert "(5 replications)" in text and "(95% CI)" in text
    assert f"{bill['p_over_budget']:.1%} ({low * 100:.1f}–{high:.1%})" in text


# -- break-even with no arrivals ------------------------------------------------------------------------------

SELF_HOSTING = Path(__file__).resolve().parents[1] / "workflows" / "self-hosting.yaml"


def test_a_break_even_where_no_task_arrived_at_any_volume_is_refused(monkeypatch, capsys, tmp_path):
    # 1e-6 and 1e-5 tasks a day over a day: P(any arrival) < 2e-5 in each horizon, so no bill is a month's
    with pytest.raises(ParameterError, match=r"^volumes: no task arrived at any volume simulated \(1e-06 to 1e-05 "
                                             r"tasks a day, 2 horizons of 1 day each\), so every API bill would "
                                             r"read \$0 a month; .* or more days$"):
        breakeven(load_workflow(SELF_HOSTING), "self:llama-70b", [1e-6, 1e-5], replications=2, days=1.0,
                  prices_date=PRICES_DATE)
    code, out, err = costsim(monkeypatch, capsys, "breakeven", SELF_HOSTING, "-m", "self:llama-70b",
                             "--volumes", "0.000001:0.00001:2", "--out", tmp_path / "be")
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith("error: --volumes: no task arrived at any volume simulated") and err.endswith(
        "or more --days\n")
    assert not (tmp_path / "be").exists()


def test_a_volume_where_no_task_arrived_shows_no_tasks_not_a_bill_of_zero():
    report = breakeven(load_workflow(SELF_HOSTING), "self:llama-70b", [1e-6, 2000.0], replications=1, days=0.25,
                       prices_date=PRICES_DATE, refine=0)
    assert report["volumes_without_tasks"] == [1e-6]
    assert report["alternatives"]["baseline"]["bill_usd_30d"][0] == 0.0  # the data keeps what was simulated
    text = rendered(breakeven_tables(report))
    first = next(line for line in text.splitlines() if line.startswith("│") and "1e-06" in line)
    assert first.count("no tasks") == 2 and "$0 " not in first  # both API alternatives; the GPU rent stays
    (line,) = [line for line in capacity_lines(report) if line.startswith("no task arrived")]
    assert line.startswith("no task arrived at 1 of the 2 volumes simulated (up to 1e-06 tasks/day)")


# -- conventions (issue 13, item 10) --------------------------------------------------------------------------

SUPPORT = Path(__file__).resolve().parents[1] / "workflows" / "support-agent.yaml"


@pytest.mark.parametrize(("call", "message"), [
    (lambda wf: sim.simulate(str(SUPPORT)), rf"^workflow='{re.escape(str(SUPPORT))}': simulate takes a loaded "
                                            r"workflow, not a path; load it first: simulate\(load_workflow\("),
    (lambda wf: sim.simulate(SUPPORT), r"^workflow=.*: simulate takes a loaded workflow, not a path"),
    (lambda wf: sim.simulate({"name": "x"}), r"^workflow: simulate takes a Workflow \(from load_workflow or "
                                             r"parse_workflow\), got dict$"),
    (lambda wf: sim.simulate(wf, "10"), r"^tasks='10': expected a whole number, 0 or more, got str$"),
    (lambda wf: sim.simulate(wf, 0), r"^tasks=0: expected 1 or more tasks$"),
    (lambda wf: sim.simulate(wf, 5, prices_date="1 Nov 2026"),
     r"^prices_date='1 Nov 2026': expected a date: datetime.date\(2026, 11, 1\) or '2026-11-01'$"),
    (lambda wf: sim.simulate(wf, 5, prices_date=20261101), r"^prices_date=20261101: expected a date"),
    (lambda wf: sim.sensitivity(str(SUPPORT)), r"^workflow='.*': sensitivity takes a loaded workflow, not a path"),
    (lambda wf: sim.stress(str(SUPPORT), []), r"^workflow='.*': stress takes a loaded workflow, not a path"),
    (lambda wf: sim.stress(wf, "retry.max_attempts=1:3:3"), r"^varies='retry.max_attempts=1:3:3': expected a list "
                                                            r"of \(path, values\) pairs"),
    (lambda wf: sim.breakeven(str(SELF_HOSTING), "self:llama-70b"), r"^workflow='.*': breakeven takes a loaded "
                                                                   r"workflow, not a path"),
], ids=["simulate-path-text", "simulate-path", "simulate-dict", "tasks-text", "tasks-zero", "date-text",
        "date-number", "sensitivity-path", "stress-path", "stress-vary-text", "breakeven-path"])
def test_the_public_api_refuses_a_wrong_type_with_a_clear_message(call, message):
    wf = load_workflow(SUPPORT)
    with pytest.raises(ParameterError, match=message):
        call(wf)


def test_the_api_takes_a_date_as_iso_text():
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 10, "output": 10}])
    as_text = sim.simulate(wf, 20, prices_date="2026-11-01", engine="fast")
    as_date = sim.simulate(wf, 20, prices_date=PRICES_DATE, engine="fast")
    assert as_text.metadata["prices_date"] == "2026-11-01"
    assert as_text.summary()["alternatives"] == as_date.summary()["alternatives"]


def test_prices_piped_prints_every_model_id_whole(monkeypatch, capsys):
    code, out, _ = costsim(monkeypatch, capsys, "prices", "-f", "json")
    ids = [row["model"] for row in json.loads(out)["usd_per_million_tokens"]]
    assert code == 0 and max(map(len, ids)) > 60  # ids longer than a 120-column table leaves them
    code, out, _ = costsim(monkeypatch, capsys, "prices")
    assert code == 0 and "…" not in out
    cells = {line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")}
    assert set(ids) <= cells


def test_the_readme_and_the_summary_give_the_same_replications_for_tails():
    needed = tasks_needed(0.95)
    wf = workflow([{"id": "ask", "llm": "main", "prompt": 10, "output": 10}], traffic={"tasks_per_day": 20, "days": 1})
    note = summarize(run(wf, 0, replications=3))["alternatives"][0]["bill"]["note"]
    assert f"use --replications {needed} or more" in note
    readme = " ".join(README.split())
    assert f"p5 and p95 are worth quoting only from {needed} replications" in readme
    assert f"the default is {DEFAULT_REPLICATIONS}" in readme
    assert not re.search(r"p5/p95 need \d+", readme)


def test_the_readme_and_help_give_the_same_default_chunk():
    readme = " ".join(README.split())
    from sim.output.taskfile import CSV_PIECE_ROWS, PIECES_PER_WORKER
    from sim.run.simulation import CHUNKS_PER_WORKER, MIN_SPREAD_CHUNK_TASKS

    fast, default = FastEngine.chunk_tasks, DEFAULT_CHUNK_TASKS
    assert (f"(`--chunk-tasks`: {default:,} tasks, or {fast:,} on the vectorised engine without `--precision`; "
            f"spread over workers, smaller when that gives each worker at least {CHUNKS_PER_WORKER} chunks, down "
            f"to {MIN_SPREAD_CHUNK_TASKS:,} tasks)" in readme)
    assert f"in pieces of up to {CSV_PIECE_ROWS:,} rows (at least {PIECES_PER_WORKER} a worker)" in readme
    (option,) = [p for p in typer.main.get_command(app).commands["run"].params if p.name == "chunk_tasks"]
    assert (f"(default: {default:,}; {fast:,} on the vectorised engine without --precision, and on workers down "
            f"to {MIN_SPREAD_CHUNK_TASKS:,} for at least {CHUNKS_PER_WORKER} chunks a worker)" in option.help)
