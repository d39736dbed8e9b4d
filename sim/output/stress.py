"""Stress sweeps for people: the table, the CSV and the figures of a ``costsim stress`` report.

The report itself is plain data made by :mod:`sim.analysis.stress`; this module only presents it.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re

from rich.table import Table

from sim.analysis.stress import DEFINITIONS
from sim.core.format import plus_minus, share, usd

CSV_COLUMNS = ("alternative", "mean_cost_usd", "ci95_low_usd", "ci95_high_usd", "p95_cost_usd", "p99_cost_usd",
               "success_rate", "cost_per_success_usd", "no_failure_mean_cost_usd", "cost_amplification",
               "runaway_threshold_usd", "runaway_share", "diff_vs_first_usd", "diff_ci95_low_usd",
               "diff_ci95_high_usd", "budget_capped_share")


def stress_csv(report: dict) -> str:
    """One row per grid point and alternative: the varied values first, then :data:`CSV_COLUMNS`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    paths = [axis["path"] for axis in report["vary"]]
    writer.writerow([*paths, *CSV_COLUMNS])
    for point in report["points"]:
        for e in point["alternatives"]:
            ci = e["mean_ci95"] or [None, None]
            diff = e["diff_vs_first"] or {"mean": None, "ci95": None}
            dci = diff["ci95"] or [None, None]
            row = [*(point["values"][p] for p in paths), e["name"], e["mean_cost_usd"], *ci, e["p95_cost_usd"],
                   e["p99_cost_usd"], e["success_rate"], e["cost_per_success_usd"], e["no_failure_mean_cost_usd"],
                   e["cost_amplification"], e["runaway_threshold_usd"], e["runaway_share"], diff["mean"], *dci,
                   _capped(e)]
            writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()


def _capped(entry: dict) -> float | None:
    """The share of tasks a per-task budget stopped (any cap), or None without budgets."""
    caps = entry.get("budget_caps")
    return None if caps is None else float(sum(caps.values()))


def short_names(paths: list[str]) -> list[str]:
    """The shortest tails of the paths that still tell them apart: steps.search.fail, retry.max_attempts ->
    fail, max_attempts."""
    for k in range(1, max(len(p.split(".")) for p in paths) + 1):
        names = [".".join(p.split(".")[-k:]) for p in paths]
        if len(set(names)) == len(names):
            return names
    return paths


def stress_table(report: dict) -> Table:
    """One row per grid point and alternative; the varied numbers' columns are headed by their short names
    (:func:`short_names`), the title names them in full. Numbers are never cut: names wrap instead."""
    runs = report["replications"] if report["tasks"] is None else report["tasks"]
    size = f"{runs:,} {'task' if report['tasks'] is not None else 'replication'}{'s' if runs != 1 else ''}"
    paths = [axis["path"] for axis in report["vary"]]
    table = Table(title=f"{report['workflow']}: cost per task (USD) as {', '.join(paths)} "
                        f"{'vary' if len(paths) > 1 else 'varies'}, {size} a point, seed {report['seed']}",
                  title_justify="left")
    rows, sections = [], []
    budgets = any("budget_caps" in e for p in report["points"] for e in p["alternatives"])
    for point in report["points"]:
        for i, e in enumerate(point["alternatives"]):
            amplification = e["cost_amplification"]
            rows.append([
                *(f"{point['values'][p]:g}" if i == 0 else "" for p in paths), e["name"],
                plus_minus(e["mean_cost_usd"], e["mean_ci95"]), usd(e["p95_cost_usd"]), usd(e["p99_cost_usd"]),
                share(e["success_rate"]), usd(e["cost_per_success_usd"]),
                "n/a" if amplification is None else f"{amplification:.2f}x", share(e["runaway_share"]),
                *([] if not budgets else [share(_capped(e) or 0.0)])])
            sections.append(i == len(point["alternatives"]) - 1)
    headers = [*short_names(paths), "alternative", "mean ± 95% CI", "p95", "p99", "success", "$/success",
               "×no-fail", "runaway", *(["capped"] if budgets else [])]
    for index, header in enumerate(headers):
        text = header == "alternative"
        widest = max([len(row[index]) for row in rows] + [len(header)])
        table.add_column(header, justify="left" if text else "right", min_width=None if text else widest)
    for row, end in zip(rows, sections):
        table.add_row(*row, end_section=end)
    return table


def legend_lines(report: dict) -> list[str]:
    """What the derived columns mean, and the report's notes, for the table format."""
    factor = f"{report['runaway_factor']:g}"
    paths = [axis["path"] for axis in report["vary"]]
    columns = [f"{name} = {path}" for name, path in zip(short_names(paths), paths) if name != path]
    return [*(["columns: " + ", ".join(columns)] if columns else []),
            f"×no-fail: cost amplification, {DEFINITIONS['cost_amplification']}",
            f"runaway: {DEFINITIONS['runaway_share'].replace('runaway_factor', factor)}",
            *(["capped: share of tasks a per-task budget stopped (counted as failed)"]
              if any("budget_caps" in e for p in report["points"] for e in p["alternatives"]) else []),
            *(["n/a: a quantile with fewer than 10 tasks beyond it (p99 needs 1,000 tasks)"]
              if any(e["p99_cost_usd"] is None for p in report["points"] for e in p["alternatives"]) else []),
            *(f"note: {note}" for note in report["notes"])]


def figures(report: dict) -> list[tuple[str, object]]:
    """(file stem, figure) pairs: cost and success against the first varied number; with more than one
    ``--vary``, one figure for each combination of the other numbers' values."""
    from sim.output.plots import sweep_figure

    first, *others = report["vary"]
    combos = list(itertools.product(*(axis["values"] for axis in others)))
    out = []
    for combo in combos:
        fixed = dict(zip((axis["path"] for axis in others), combo))
        points = [p for p in report["points"] if all(p["values"][k] == v for k, v in fixed.items())]
        series: dict[str, dict[str, list]] = {}
        for point in points:
            for e in point["alternatives"]:
                s = series.setdefault(e["name"], {"mean_cost_usd": [], "p95_cost_usd": [], "success_rate": []})
                s["mean_cost_usd"].append(e["mean_cost_usd"])
                s["p95_cost_usd"].append(math.nan if e["p95_cost_usd"] is None else e["p95_cost_usd"])
                s["success_rate"].append(e["success_rate"])
        where = ", ".join(f"{k}={v:g}" for k, v in fixed.items())
        title = f"{report['workflow']}: cost and success as {first['path']} changes" + (f" ({where})" if where else "")
        stem = "stress" if not fixed else "stress-" + re.sub(r"[^A-Za-z0-9_.=-]+", "_", where.replace(", ", "-"))
        out.append((stem, sweep_figure(first["path"], [p["values"][first["path"]] for p in points], series, title)))
    return out
