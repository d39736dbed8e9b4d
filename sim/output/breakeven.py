"""Break-even for people: the tables, the CSV and the capacity sentences of a ``costsim breakeven``
report (plain data made by :mod:`sim.analysis.breakeven`).
"""

from __future__ import annotations

import csv
import io

from rich.table import Table

from sim.core.format import seconds, share, usd

CSV_COLUMNS = ("tasks_per_day", "alternative", "bill_usd_30d", "bill_ci95_low_usd", "bill_ci95_high_usd",
               "tokens_per_month", "latency_p95_s", "utilisation")


def breakeven_csv(report: dict) -> str:
    """One row per (volume, alternative); empty cells where a value is not available."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i, volume in enumerate(report["volumes"]):
        for alt, entry in report["alternatives"].items():
            ci = entry["bill_usd_30d_ci95"][i] or [None, None]
            utilisation = entry["utilisation"][i] if "utilisation" in entry else None
            row = [volume, alt, entry["bill_usd_30d"][i], *ci, entry["tokens_per_month"][i],
                   entry["latency_p95_s"][i], utilisation]
            writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()


def _count(value: float | None, unit: str = "") -> str:
    """1,234 / 12.3K / 563M / 1.2B with a unit, or n/a."""
    if value is None:
        return "n/a"
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= factor:
            return f"{value / factor:.3g}{suffix}{unit}"
    return f"{value:,.0f}{unit}"


def _volume(tasks_per_day: float) -> str:
    """A daily volume: whole tasks from 10 up (12,345), three significant digits below (0.5, 2.37)."""
    return f"{tasks_per_day:,.0f}" if tasks_per_day >= 10 else f"{tasks_per_day:.3g}"


def breakeven_tables(report: dict) -> list[Table]:
    """Two rich tables: the monthly bills over the grid, and the break-even against each API alternative."""
    self_name = report["self_hosted"]
    sweep = Table(title=f"{report['workflow']}: bill per {report['month_days']:g}-day month (USD) by daily volume; "
                        f"{report['self_hosted']} = {report['model']} in {', '.join(report['roles'])}",
                  title_justify="left")
    sweep.add_column("tasks/day", justify="right")
    sweep.add_column("tokens/month", justify="right")
    for alt in report["alternatives"]:
        sweep.add_column(alt, justify="right")
    sweep.add_column("GPU busy", justify="right")
    sweep.add_column("self p95 latency", justify="right")
    self_entry = report["alternatives"][self_name]
    empty = set(report.get("volumes_without_tasks", []))
    for i, volume in enumerate(report["volumes"]):
        latency = self_entry["latency_p95_s"][i]
        bills = [usd(entry["bill_usd_30d"][i]) if alt == self_name or volume not in empty else "no tasks"
                 for alt, entry in report["alternatives"].items()]
        sweep.add_row(_volume(volume), _count(self_entry["tokens_per_month"][i]), *bills,
                      share(self_entry["utilisation"][i], decimals=0), seconds(latency, missing="n/a"))
    table = Table(title=f"where {self_name} becomes cheaper (GPU rent {usd(report['gpu_usd_30d'])} a month)",
                  title_justify="left")
    for header in ("vs alternative", "tasks/day", "tokens/month", "note"):
        table.add_column(header, justify="left" if header in ("vs alternative", "note") else "right")
    for alt, found in report["breakeven"].items():
        note = {"crosses": "", "never_cheaper_on_grid": f"{self_name} is dearer at every volume simulated",
                "cheaper_on_whole_grid": f"{self_name} is cheaper at every volume simulated"}[found["status"]]
        if found["within_capacity"] is False:
            note = (f"beyond one server's capacity ({report['capacity']['tasks_per_day']:,.0f} tasks/day): "
                    "it needs more GPUs there")
        models = ", ".join(sorted(set(report["alternatives"][alt]["models"].values())))
        volume = found["tasks_per_day"]
        table.add_row(f"{alt} ({models})", "n/a" if volume is None else f"{volume:,.0f}",
                      _count(found["tokens_per_month"]), note)
    return [sweep, table]


def capacity_lines(report: dict) -> list[str]:
    """Plain sentences about the server's capacity, for the table format."""
    capacity = report["capacity"]
    lines = []
    if capacity["tasks_per_day"] is not None:
        lines.append(f"capacity of {report['model']} ({capacity['slots']} slots): "
                     f"{capacity['tasks_per_day']:,.0f} tasks/day, {_count(capacity['tokens_per_month'])} "
                     f"tokens/month at 100% busy")
    if capacity["latency_ok_up_to_tasks_per_day"] is not None:
        lines.append(f"{report['self_hosted']} p95 latency stays within {capacity['latency_factor']:g}x its "
                     f"low-load value ({seconds(capacity['latency_p95_low_load_s'])}) up to "
                     f"{capacity['latency_ok_up_to_tasks_per_day']:,.0f} tasks/day of those simulated")
    empty = report.get("volumes_without_tasks", [])
    if empty:
        lines.append(f"no task arrived at {len(empty)} of the {len(report['volumes'])} volumes simulated (up to "
                     f"{_volume(max(empty))} tasks/day): their API bills are not a month's and the break-even "
                     "passes over them; simulate more --days or --replications for those volumes")
    lines.append(f"bills: mean of {report['replications']} simulated {report['days_simulated']:g}-day horizons "
                 f"x {report['month_days'] / report['days_simulated']:g}")
    return lines
