"""Smaller silent wrongs (issue 13, item 9): a share never reads 100.0% beside a failure nor 0.0% beside a
success; P(bill > budget) is shown with its interval and the replications it rests on; a break-even sweep
in which no task arrived does not report a bill of $0 a month as if it were one."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from conftest import PRICES_DATE, run, workflow
from conftest import costsim_in_process as costsim
from rich.console import Console

from sim.analysis.breakeven import breakeven
from sim.core.errors import ParameterError
from sim.core.format import share, share_interval
from sim.output.breakeven import breakeven_tables, capacity_lines
from sim.output.report import _alternative, _latency
from sim.output.stress import stress_table
from sim.output.tables import summary_tables, time_tables
from sim.spec.loader import load_workflow
from sim.stats.summary import summarize


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
