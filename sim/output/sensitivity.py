"""Sensitivity for people: the ranked table, the CSV and the tornado figure of a ``costsim sensitivity``
report (plain data made by :mod:`sim.analysis.sensitivity`).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
from rich.table import Table

from sim.analysis.sensitivity import TORNADO_INPUTS
from sim.core.format import usd


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:,.6g}" for v in value[:3]) + (", ...]" if len(value) > 3 else "]")
    return f"{value:,.6g}" if isinstance(value, float) else str(value)


#: How the table writes an amount: "too few" for a quantile of too few tasks, "0" for no effect at all.
_AMOUNT = {"missing": "too few", "zero": "0"}

CSV_COLUMNS = ("rank_mean", "rank_p95", "path", "value", "low", "high", "mean_low_usd", "mean_high_usd",
               "mean_swing_usd", "swing_ci95_low_usd", "swing_ci95_high_usd", "p95_low_usd", "p95_high_usd",
               "p95_swing_usd", "elasticity")


def sensitivity_csv(report: dict) -> str:
    """One row per input, ranked by the effect on the mean; lists of values joined by ``;``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def cell(value: Any) -> Any:
        return "" if value is None else ";".join(map(str, value)) if isinstance(value, list) else value

    for e in report["inputs"]:
        ci = e["mean_swing_ci95"] or [None, None]
        row = [e["rank_mean"], e["rank_p95"], e["path"], e["value"], e["low"], e["high"], *e["mean_cost_usd"],
               e["mean_swing_usd"], *ci, *e["p95_cost_usd"], e["p95_swing_usd"], e["elasticity"]]
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue()


def sensitivity_table(report: dict) -> Table:
    """The ranked inputs (the elasticities are in the JSON and CSV). Numbers are never cut; long input
    names fold. A cost or a swing reads "too few" where a quantile has too few tasks, "0" for no effect."""
    runs = report["replications"] if report["tasks"] is None else report["tasks"]
    size = f"{runs:,} {'task' if report['tasks'] is not None else 'replication'}{'s' if runs != 1 else ''}"
    base = report["base"]
    table = Table(title=f"{report['workflow']} ({report['alternative']}): what drives the cost per task, each input "
                        f"±{report['delta']:.0%}, {size} a run, seed {report['seed']}; base mean "
                        f"{usd(base['mean_cost_usd'], **_AMOUNT)}, p95 {usd(base['p95_cost_usd'], **_AMOUNT)}",
                  title_justify="left")
    rows = []
    for e in report["inputs"]:
        ci = e["mean_swing_ci95"]
        half = None if ci is None else (ci[1] - ci[0]) / 2
        swing = usd(e["mean_swing_usd"], signed=True, **_AMOUNT)
        if half:
            swing += f" ± {np.format_float_positional(float(f'{half:.2g}'), trim='-')}"
        p95_swing = "n/a" if e["p95_swing_usd"] is None else usd(e["p95_swing_usd"], signed=True, **_AMOUNT)
        rows.append([str(e["rank_mean"]), e["path"], f"{_value(e['low'])} / {_value(e['value'])} / {_value(e['high'])}",
                     swing, p95_swing, str(e["rank_p95"])])
    headers = ("#", "input", "low / file / high", "mean swing ± 95% CI", "p95 swing", "p95 #")
    for index, header in enumerate(headers):
        if header == "input":
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, justify="right", min_width=max([len(r[index]) for r in rows] + [len(header)]))
    for row in rows:
        table.add_row(*row)
    return table


def note_lines(report: dict) -> list[str]:
    lines = [f"note: {e['path']}: {note}" for e in report["inputs"] for note in e["notes"]]
    if report["skipped"]:
        lines.append(f"not varied: {len(report['skipped'])} inputs (" + "; ".join(
            f"{s['path']}: {s['reason']}" for s in report["skipped"][:6]) + ("; ..." if len(report["skipped"]) > 6
                                                                            else "") + ")")
    return lines


def tornado(report: dict, limit: int = TORNADO_INPUTS):
    """The tornado figure of the mean cost: the ``limit`` inputs with the widest swing."""
    from sim.output.plots import tornado_figure

    shown = [e for e in report["inputs"] if e["mean_swing_usd"] != 0][:limit] or report["inputs"][:limit]
    effects = {f"{e['path']} {_value(e['low'])} / {_value(e['high'])}": tuple(e["mean_cost_usd"]) for e in shown}
    more = len(report["inputs"]) - len(shown)
    title = (f"{report['workflow']} ({report['alternative']}): what drives the mean cost per task\n"
             f"each input ±{report['delta']:.0%}" + (f"; {more} with smaller effects not shown" if more else ""))
    figure = tornado_figure(effects, report["base"]["mean_cost_usd"], title)
    axes = figure.axes[0]
    # right-aligned, so that a long title runs over the labels' margin instead of off the figure
    axes.set_title(title, loc="right", fontsize=axes.title.get_fontsize(), fontweight="bold")
    axes.set_title("")
    return figure
