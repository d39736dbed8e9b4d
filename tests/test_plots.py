"""Every plot is built from real simulate() runs and has the series it should, one per alternative or input.

Series are counted by their ``gid`` (``ecdf:NAME``, ``point:NAME``, ...), which sim.output.plots gives every data
series; the tests also check that a series holds the data it was given (the ECDF is the sorted costs up to
``ECDF_MOST_STEPS`` tasks, and within 1/ECDF_MOST_STEPS of them above; the Pareto point is the summary's mean
and success rate), so a figure that merely has the right number of lines would still fail. Plots without a
producer yet (sweeps, monthly bills, tornado) are fed here by small sweeps of real runs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import run, workflow
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.output import plots
from sim.spec.loader import load_workflow
from sim.stats.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "workflows" / "support-agent.yaml"


def series(fig, prefix: str) -> dict[str, object]:
    """gid -> artist for every artist of the figure whose gid starts with ``prefix``."""
    found = {}
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.patches]:
            gid = artist.get_gid()
            if gid and gid.startswith(prefix):
                assert gid not in found, f"two series named {gid}"
                found[gid] = artist
    return found


@pytest.fixture(scope="module")
def support_run():
    """600 tasks of the support agent: enough for p50 and p95, too few for p99 (it needs 1,000)."""
    result = run(load_workflow(SUPPORT), 600, seed=3)
    summary = summarize(result)
    costs = {alternative.name: alternative.tasks.cost_usd for alternative in result.alternatives}
    return result, summary, costs


# -- the cost distribution ---------------------------------------------------------------------------


def test_cost_distribution_has_a_histogram_and_an_ecdf_per_alternative(support_run):
    _, summary, costs = support_run
    fig = plots.run_cost_figure(costs, summary)
    names = [entry["name"] for entry in summary["alternatives"]]
    assert len(fig.axes) == 2  # histogram and ECDF panels
    assert set(series(fig, "hist:")) == {f"hist:{n}" for n in names}
    ecdf = series(fig, "ecdf:")
    assert set(ecdf) == {f"ecdf:{n}" for n in names}
    for name in names:
        np.testing.assert_array_equal(ecdf[f"ecdf:{name}"].get_xdata(), np.sort(costs[name]))
        assert ecdf[f"ecdf:{name}"].get_ydata()[-1] == 1.0


def test_cost_distribution_marks_the_summary_quantiles_and_skips_missing_ones(support_run):
    _, summary, costs = support_run
    fig = plots.run_cost_figure(costs, summary)
    marks = series(fig, "mark:")
    # 600 tasks: p50 and p95 are in the summary, p99 is null (too few tasks beyond it): 2 marks each.
    assert len(marks) == 2 * len(summary["alternatives"])
    for entry in summary["alternatives"]:
        assert entry["cost_per_task"]["p99"] is None
        for key, share in (("p50", 0.50), ("p95", 0.95)):
            mark = marks[f"mark:{entry['name']}:{key}"]
            assert (mark.get_xdata()[0], mark.get_ydata()[0]) == (entry["cost_per_task"][key], share)


def _drawn_share(x_steps: np.ndarray, y_steps: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The height at ``at`` of the curve ``step(x_steps, y_steps, where="post")`` (0 left of its first step)."""
    index = np.searchsorted(x_steps, at, side="right") - 1
    return np.where(index >= 0, y_steps[np.maximum(index, 0)], 0.0)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(0, 40), min_size=1, max_size=400), most=st.integers(2, 60))
def test_ecdf_steps_stay_within_one_step_of_the_exact_ecdf(values, most):
    # small integers: many ties, as costs made of whole tokens have
    ordered = np.sort(np.asarray(values, dtype=float))
    x, y = plots.ecdf_steps(ordered, most)
    n = ordered.size
    assert x.size == y.size <= max(most, 1)
    assert x[-1] == ordered[-1] and y[-1] == 1.0 and x[0] == ordered[0]
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) > 0)
    # the exact ECDF, evaluated at every value and between them, against the curve drawn from the steps
    probes = np.concatenate([ordered, (ordered[:-1] + ordered[1:]) / 2, [ordered[0] - 1, ordered[-1] + 1]])
    exact = np.searchsorted(ordered, probes, side="right") / n
    bound = 0.0 if n <= most else 1 / (most - 1)
    assert np.max(np.abs(_drawn_share(x, y, probes) - exact)) <= bound + 1e-12


def test_an_ecdf_of_a_large_run_is_drawn_with_at_most_its_most_steps():
    costs = {"baseline": np.random.default_rng(5).lognormal(-5, 0.5, 3 * plots.ECDF_MOST_STEPS)}
    line = series(plots.cost_distribution_figure(costs), "ecdf:")["ecdf:baseline"]
    expected_x, expected_y = plots.ecdf_steps(np.sort(costs["baseline"]))
    assert expected_x.size == plots.ECDF_MOST_STEPS
    np.testing.assert_array_equal(line.get_xdata(), expected_x)
    np.testing.assert_array_equal(line.get_ydata(), expected_y)


def test_cost_distribution_without_a_summary_marks_p50_p95_p99():
    result = run(workflow([{"id": "a", "llm": "main", "output": {"lognormal": {"median": 300, "sigma": 0.5}}}]),
                 400)
    fig = plots.cost_distribution_figure({"baseline": result.baseline.tasks.cost_usd})
    assert sorted(series(fig, "mark:")) == ["mark:baseline:p50", "mark:baseline:p95", "mark:baseline:p99"]


@pytest.mark.parametrize("costs_usd", [
    pytest.param({"a": np.geomspace(1e-4, 1e-1, 300), "b": np.geomspace(3e-4, 2e-1, 300)}, id="log-axis"),
    pytest.param({"a": np.linspace(0.010, 0.012, 300)}, id="linear-axis"),
    pytest.param({"a": np.geomspace(1e-9, 1e3, 400)}, id="more-ticks-than-made-ahead"),
    pytest.param({"a": np.full(50, 0.002), "b": np.zeros(50)}, id="constant-and-zero"),
])
def test_a_figure_made_ahead_by_prepare_draws_the_same_bytes(costs_usd):
    # what the plot helper does: prepare() while it waits, then the run's figure on the blank made ahead
    drawn_now = plots.cost_distribution_figure(costs_usd, title="t")
    plots.prepare()
    made_ahead = plots._blanks_ahead[0][0]
    drawn_on_blank = plots.cost_distribution_figure(costs_usd, title="t")
    assert drawn_on_blank is made_ahead and not plots._blanks_ahead  # the blank is used once
    assert plots.cost_distribution_figure(costs_usd, title="t") is not made_ahead
    for fmt in plots.FORMATS:
        assert plots.figure_bytes(drawn_on_blank, fmt) == plots.figure_bytes(drawn_now, fmt), fmt


# -- cost against success: the Pareto front ----------------------------------------------------------


def test_pareto_front_by_hand():
    points = {"cheap-bad": (0.5, 0.50), "a": (1.0, 0.90), "b": (2.0, 0.95), "dominated": (2.0, 0.90),
              "tie": (1.0, 0.90)}
    # "tie" and "a" dominate neither each other; "dominated" costs as much as b and succeeds less often.
    assert plots.pareto_front(points) == ["cheap-bad", "a", "tie", "b"]


def test_cost_success_figure_from_a_run(support_run):
    _, summary, _ = support_run
    points = {e["name"]: (e["cost_per_task"]["mean"], e["success_rate"]) for e in summary["alternatives"]}
    points["expensive-and-worse"] = (max(c for c, _ in points.values()) * 2, min(s for _, s in points.values()) - 0.1)
    fig = plots.cost_success_figure(points)
    drawn = series(fig, "point:")
    assert set(drawn) == {f"point:{name}" for name in points}
    front = plots.pareto_front(points)
    assert "expensive-and-worse" not in front and len(front) >= 1
    (front_line,) = series(fig, "front").values()
    assert list(front_line.get_xdata()) == [points[name][0] for name in front]
    for name, (cost, success) in points.items():
        point = drawn[f"point:{name}"]
        assert (point.get_xdata()[0], point.get_ydata()[0]) == (cost, success)
        hollow = point.get_markerfacecolor() == "white"
        assert hollow == (name not in front), name


# -- cost and success against a swept parameter -------------------------------------------------------


def sweep_workflow(fail: float):
    return workflow(
        # Only the answer fails: a failing tool would end tasks before their paid call and could lower the
        # mean, while failed answers are retried and billed, so cost rises with the rate task by task.
        [{"id": "search", "tool": "search", "result": 800},
         {"id": "answer", "llm": "main", "prompt": 200, "output": {"normal": {"mean": 300, "sd": 60}},
          "fail": fail}],
        models={"main": "openai:gpt-4.1-mini"}, alternatives={"gpt-4.1": {"main": "openai:gpt-4.1"}},
        retry={"max_attempts": 2},
    )


def test_sweep_figure_from_runs_at_three_failure_rates():
    fail_rates = [0.05, 0.2, 0.4]
    sweep: dict[str, dict[str, list[float]]] = {}
    for fail in fail_rates:
        for entry in summarize(run(sweep_workflow(fail), 1000))["alternatives"]:
            values = sweep.setdefault(entry["name"], {"mean_cost_usd": [], "p95_cost_usd": [], "success_rate": []})
            values["mean_cost_usd"].append(entry["cost_per_task"]["mean"])
            values["p95_cost_usd"].append(entry["cost_per_task"]["p95"])
            values["success_rate"].append(entry["success_rate"])
    fig = plots.sweep_figure("failure rate of every call", fail_rates, sweep)
    for kind, key in (("mean", "mean_cost_usd"), ("p95", "p95_cost_usd"), ("success", "success_rate")):
        drawn = series(fig, f"{kind}:")
        assert set(drawn) == {f"{kind}:baseline", f"{kind}:gpt-4.1"}
        for name, values in sweep.items():
            assert list(drawn[f"{kind}:{name}"].get_xdata()) == fail_rates
            assert list(drawn[f"{kind}:{name}"].get_ydata()) == values[key]
    # what the sweep shows: more failures, more retries billed and fewer tasks finished
    assert sweep["baseline"]["mean_cost_usd"] == sorted(sweep["baseline"]["mean_cost_usd"])
    assert sweep["baseline"]["success_rate"] == sorted(sweep["baseline"]["success_rate"], reverse=True)


def test_sweep_figure_without_p95_draws_no_p95_series():
    fig = plots.sweep_figure("x", [1, 2], {"a": {"mean_cost_usd": [1.0, 2.0], "success_rate": [0.9, 0.8]}})
    assert series(fig, "p95:") == {} and len(series(fig, "mean:")) == 1


# -- the monthly bill's spread -------------------------------------------------------------------------


def test_monthly_bill_figure_from_a_run_with_traffic():
    wf = workflow([{"id": "answer", "llm": "main", "output": {"lognormal": {"median": 300, "sigma": 0.5}}}],
                  alternatives={"mini": {"main": "openai:gpt-4.1-mini"}},
                  traffic={"tasks_per_day": 200, "days": 2})
    summary = summarize(run(wf, 1, replications=8))
    bills = {entry["name"]: entry["bill"] for entry in summary["alternatives"]}  # p5, p50, p95 of the bill
    fig = plots.monthly_bill_figure(bills, period="2 days")
    intervals, medians = series(fig, "interval:"), series(fig, "median:")
    assert len(intervals) == len(medians) == 2
    for name, bill in bills.items():
        assert list(intervals[f"interval:{name}"].get_xdata()) == [bill["p5"], bill["p95"]]
        assert medians[f"median:{name}"].get_xdata()[0] == bill["p50"]
        assert bill["p5"] < bill["p50"] < bill["p95"]  # arrivals are random: the bill varies
    assert medians["median:baseline"].get_ydata()[0] == 1  # the first alternative on top
    assert "USD per 2 days" in fig.axes[0].get_xlabel()


# -- what drives cost: the tornado ---------------------------------------------------------------------


def test_tornado_from_one_input_at_a_time():
    base = {"user": 300, "output": 400, "loops": 2.0}

    def mean_cost(user=base["user"], output=base["output"], loops=base["loops"]) -> float:
        wf = workflow([{"id": "loop", "repeat": {"poisson": {"mean": loops}, "min": 1},
                        "steps": [{"id": "call", "llm": "main", "output": output}]}],
                      context={"system": 500, "user": user})
        return float(run(wf, 300).baseline.tasks.cost_usd.mean())

    effects = {  # the widest swing (the loop) first: the figure, not the input's order, puts it on top
        "loop mean 1 / 4": (mean_cost(loops=1.0), mean_cost(loops=4.0)),
        "user tokens 100 / 900": (mean_cost(user=100), mean_cost(user=900)),
        "output tokens 200 / 800": (mean_cost(output=200), mean_cost(output=800)),
    }
    fig = plots.tornado_figure(effects, mean_cost())
    lows, highs = series(fig, "low:"), series(fig, "high:")
    assert len(lows) == len(highs) == len(effects)
    base_usd = mean_cost()
    for label, (low, high) in effects.items():
        assert lows[f"low:{label}"].get_x() + lows[f"low:{label}"].get_width() == pytest.approx(low)
        assert highs[f"high:{label}"].get_x() == pytest.approx(base_usd)
        assert high > base_usd > low, label  # more of each input costs more
    # the widest swing is drawn on top (the largest y)
    widest = max(effects, key=lambda k: effects[k][1] - effects[k][0])
    assert widest == "loop mean 1 / 4"
    assert highs[f"high:{widest}"].get_y() == max(bar.get_y() for bar in highs.values())


# -- style and files -----------------------------------------------------------------------------------


def test_an_alternative_has_the_same_colour_in_every_figure(support_run):
    _, summary, costs = support_run
    points = {e["name"]: (e["cost_per_task"]["mean"], e["success_rate"]) for e in summary["alternatives"]}
    ecdf = series(plots.run_cost_figure(costs, summary), "ecdf:")
    drawn = series(plots.cost_success_figure(points), "point:")
    for name in points:
        assert ecdf[f"ecdf:{name}"].get_color() == drawn[f"point:{name}"].get_color()


def test_figures_are_written_as_png_and_svg_byte_for_byte_reproducibly(support_run, tmp_path):
    _, summary, costs = support_run
    first = plots.write_figure(plots.run_cost_figure(costs, summary), tmp_path / "a" / "cost")
    second = plots.write_figure(plots.run_cost_figure(costs, summary), tmp_path / "b" / "cost")
    assert sorted(first) == ["png", "svg"]
    assert first["png"].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    svg = ET.fromstring(first["svg"].read_bytes())
    ids = {element.get("id") for element in svg.iter()}
    assert {f"ecdf:{e['name']}" for e in summary["alternatives"]} <= ids  # series are named in the SVG
    for fmt in ("png", "svg"):
        assert first[fmt].read_bytes() == second[fmt].read_bytes(), fmt
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["cost.png", "cost.svg"]  # no temporary files
