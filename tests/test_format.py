"""One money formatter and one duration formatter (sim.core.format), and every table that writes an amount
or a duration goes through them: the same number reads the same in a run's table, a break-even table, a
sensitivity table, the HTML report and a plot's axis."""

from __future__ import annotations

import copy

import pytest
from rich.console import Console

from sim.core.format import plus_minus, seconds, usd


@pytest.mark.parametrize(("value", "text"), [
    (0.0102644352, "$0.0103"),  # three significant digits
    (0.0000123, "$0.0000123"),  # never an exponent ("$1.23e-05")
    (0.000054, "$0.000054"),
    (12.34, "$12.3"),
    (1.0, "$1"),  # no trailing zeros
    (99.94, "$99.9"),
    (1234.5, "$1,234"),  # from $100 up: whole dollars, with a thousands separator (banker's rounding of .5)
    (0.0, "$0"),
    (-0.5, "-$0.5"),
    (None, "n/a"),
])
def test_usd(value, text):
    assert usd(value) == text


def test_usd_options():
    assert usd(0.0021, signed=True) == "+$0.0021"  # a difference
    assert usd(-0.0021, signed=True) == "-$0.0021"
    assert usd(0.0, signed=True) == "+$0"
    assert usd(None, missing="too few tasks") == "too few tasks"
    assert usd(0.0, zero="0") == "0" and usd(0.0, signed=True, zero="0") == "0"  # no effect at all
    assert usd(0.5, zero="0") == "$0.5"
    assert usd(1.0625) == "$1.06" and usd(1.0625, digits=6) == "$1.0625"  # an axis tick keeps its digits
    assert usd(0.1 + 0.2, digits=6) == "$0.3"  # but not a float's noise
    assert usd(0.00001, digits=6) == "$0.00001"


def test_plus_minus_writes_the_half_width_of_the_interval():
    assert plus_minus(0.0102, [0.0100, 0.0104]) == "$0.0102 ± 0.0002"
    assert plus_minus(0.0102, [0.0100, 0.0104], signed=True) == "+$0.0102 ± 0.0002"
    assert plus_minus(1432.8, [1432.8, 1432.8]) == "$1,433"  # a constant: no ±
    assert plus_minus(0.0102, None) == "$0.0102"


@pytest.mark.parametrize(("value", "text"), [
    (0.4213, "0.42 s"),
    (59.994, "59.99 s"),
    (90.0, "1.5 min"),
    (3599.0, "60.0 min"),
    (7560.0, "2.1 h"),
    (4_444_200.0, "1,234.5 h"),
    (None, "too few"),
])
def test_seconds(value, text):
    assert seconds(value) == text


def test_seconds_missing():
    assert seconds(None, missing="n/a") == "n/a"


def _text(table) -> str:
    console = Console(record=True, width=250, color_system=None)
    console.print(table)
    return console.export_text()


def test_a_break_even_table_writes_small_amounts_and_latencies_as_every_other_table(breakeven_report):
    from sim.output.breakeven import breakeven_tables, capacity_lines

    report = copy.deepcopy(breakeven_report)
    first = next(iter(report["alternatives"]))
    report["alternatives"][first]["bill_usd_30d"][0] = 0.0000123  # a bill too small for "$1.23e-05"
    report["alternatives"][first]["latency_p95_s"][0] = 4.2137
    sweep, _ = breakeven_tables(report)
    text = _text(sweep)
    assert "$0.0000123" in text and "e-05" not in text
    assert "4.21 s" in text  # as a run's time table writes it (it read "4.2 s")
    assert usd(report["gpu_usd_30d"]) in _text(breakeven_tables(report)[1])
    low_load_s = report["capacity"]["latency_p95_low_load_s"]
    assert any(f"({seconds(low_load_s)})" in line for line in capacity_lines(report))


@pytest.fixture(scope="module")
def breakeven_report():
    import datetime as dt
    from pathlib import Path

    import sim

    workflow = sim.load_workflow(Path(__file__).resolve().parents[1] / "workflows" / "self-hosting.yaml")
    return sim.breakeven(workflow, "self:llama-70b", volumes=[2000, 20000], replications=1, days=0.05, seed=1,
                         prices_date=dt.date(2026, 11, 1), refine=0)
