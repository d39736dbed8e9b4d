"""The HTML report of a run: one self-contained file that anyone can open in a browser, offline.

A forecast is read by people who did not run it. :func:`write_report` turns a run folder (what
``costsim run`` wrote: ``summary.json``, ``tasks.csv`` and ``workflow.yaml``, and the marker that lists them;
it refuses a folder that is not one complete run) into ``report.html``:

1. the question the run answered: the workflow's name and description, how many tasks, which
   alternatives;
2. the table of alternatives, every number with its 95% interval;
3. the plots (:mod:`sim.output.plots`), inlined as base64 ``data:`` URIs;
4. the workflow file as it was run;
5. the run's metadata (seed, tasks, costsim and catalog versions, date) and every number of
   ``summary.json``, exactly as the file has it.

Self-contained means no network: the CSS is inline, the images are data URIs, there is no script, and a
Content-Security-Policy forbids loading anything else. Every number shown carries its exact value in a
``data-value`` attribute (the text of ``summary.json``), so the table can be rounded for reading
without losing what the file says. The same run folder always gives the same bytes.

How it is made: this module reads the run folder and chooses what to show, each number as a
:class:`Shown` (its place in ``summary.json``, its exact value, its text for people: money through
:func:`sim.core.format.usd`, durations through :func:`sim.core.format.seconds`); the words and the markup
are a Jinja2 template, ``templates/report.html.j2``, shipped with the package. Every value the template
writes is escaped (:func:`html.escape`, and the engine's autoescape behind it), so a workflow named
``<b>`` shows as typed.
"""

from __future__ import annotations

import base64
import csv
import functools
import gzip
import html
import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import numpy as np

from sim.core.errors import CostsimError, Parameter, ParameterError
from sim.core.files import FolderBusy, atomic_write_text, folder_lock
from sim.core.format import seconds, share, usd
from sim.core.version import __version__
from sim.output.layout import (
    MARKER_FILE,
    MARKER_KEYS,
    REPORT_FILE,
    SUMMARY_FILE,
    TASKS_FILE,
    WORKFLOW_FILE,
    missing_files,
    read_marker,
    unlisted_files,
)

TEMPLATE = "report.html.j2"

__all__ = ["REPORT_FILE", "WORKFLOW_FILE", "RunFolder", "Shown", "number_paths", "read_run", "render_report",
           "write_report"]


@dataclass
class RunFolder:
    """What a report is made of, read back from a run folder."""

    folder: Path
    summary: dict
    costs_usd: dict[str, np.ndarray]  # alternative -> per-task cost, from tasks.csv
    workflow_text: str | None  # workflow.yaml, or None for a folder without one


# -- reading and writing run folders -------------------------------------------------------------------


def read_run(folder: Path) -> RunFolder:
    """Read a run folder; a folder that is not one complete run (:mod:`sim.output.layout`: its marker, every
    file the marker lists and no other, a per-task file with the summary's number of tasks) raises
    :class:`CostsimError` saying what is wrong."""
    folder = Path(folder)
    if not folder.exists():
        raise CostsimError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CostsimError(f"{folder}: is a file; give a run folder (what costsim run or write_run_folder writes)")
    marker = read_marker(folder)
    if marker is None:
        raise CostsimError(f"{folder}: not a costsim run folder (no {MARKER_FILE}, which costsim run and "
                           "write_run_folder write with a complete run); give a run folder, or run the workflow again")
    missing = missing_files(folder, marker)
    if missing:
        raise CostsimError(f"{folder}: not a complete run: {', '.join(missing)} missing, which {MARKER_FILE} lists; "
                           "run the workflow again")
    extra = unlisted_files(folder, marker)
    if extra:
        raise CostsimError(f"{folder}: not one complete run: it holds files the run did not write "
                           f"({', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}); run the workflow again "
                           "into a new folder")
    summary_path = folder / SUMMARY_FILE
    tasks_path = next((path for path in (folder / TASKS_FILE, folder / (TASKS_FILE + ".gz")) if path.is_file()),
                      folder / TASKS_FILE)
    for path in (summary_path, tasks_path):
        if not path.is_file():
            raise CostsimError(f"{folder}: no {path.name} here; give a run folder (what costsim run or "
                               "write_run_folder writes)" + (" with a per-task file" if path is tasks_path else ""))
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CostsimError(f"{summary_path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(summary, dict) or not {"workflow", "seed", "tasks", "alternatives"} <= summary.keys():
        raise CostsimError(f"{summary_path}: not a costsim summary (it needs workflow, seed, tasks, alternatives)")
    identity = {key: summary.get("metadata", {}).get(key) if key == "created_utc" else summary[key]
                for key in MARKER_KEYS}
    differ = [key for key in MARKER_KEYS if marker.get(key) != identity[key]]
    if differ:
        raise CostsimError(f"{summary_path}: not the run {MARKER_FILE} describes ({', '.join(differ)} differ); "
                           "run the workflow again")
    workflow_path = folder / WORKFLOW_FILE
    workflow_text = workflow_path.read_text(encoding="utf-8") if workflow_path.is_file() else None
    return RunFolder(folder, summary, _read_costs(tasks_path, summary), workflow_text)


def _cost_usd(text: str | None, tasks_path: Path, line: int) -> float:
    """A row's cost_usd as a number, or a CostsimError naming the file and line."""
    try:
        cost = float(text)
    except (TypeError, ValueError):
        cost = float("nan")
    if not (math.isfinite(cost) and cost >= 0):
        raise CostsimError(f"{tasks_path}:{line}: cost_usd: expected a finite number of USD, 0 or more, got "
                           f"{text!r}; is the file a costsim tasks.csv?")
    return cost


def _read_costs(tasks_path: Path, summary: dict) -> dict[str, np.ndarray]:
    costs: dict[str, list[float]] = {entry["name"]: [] for entry in summary["alternatives"]}
    opener = gzip.open if tasks_path.suffix == ".gz" else open
    try:
        with opener(tasks_path, "rt", newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not {"alternative", "cost_usd"} <= set(reader.fieldnames or ()):
                raise CostsimError(f"{tasks_path}: no alternative and cost_usd columns; is it a costsim tasks.csv?")
            for row in reader:
                if row["alternative"] in costs:
                    costs[row["alternative"]].append(_cost_usd(row["cost_usd"], tasks_path, reader.line_num))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:  # not text, not gzip, not CSV
        raise CostsimError(f"{tasks_path}: not a costsim tasks file ({exc}); run the workflow again") from None
    empty = [name for name, values in costs.items() if not values]
    if empty:
        raise CostsimError(f"{tasks_path}: no tasks of {', '.join(empty)}, which summary.json lists")
    for name, values in costs.items():
        if len(values) != summary["tasks"]:
            raise CostsimError(f"{tasks_path}: {len(values):,} tasks of {name}, but summary.json says "
                               f"{summary['tasks']:,}: not one run; run the workflow again")
    return {name: np.array(values) for name, values in costs.items()}


def write_report(folder: Path, path: Path | None = None) -> Path:
    """Write the report of the run in ``folder`` to ``path`` (default ``folder/report.html``)."""
    folder = Path(folder)
    if path is not None and Path(path).is_dir():
        raise ParameterError(Parameter("path", str(path)), f": is a folder; give a file name such as "
                                                           f"{Path(path) / REPORT_FILE}")
    run = read_run(folder)
    path = Path(path) if path is not None else folder / REPORT_FILE
    text = render_report(run)
    if os.path.realpath(path.parent) == os.path.realpath(folder):  # into the run: while no run replaces it
        try:
            with folder_lock(Path(os.path.realpath(folder))):
                atomic_write_text(path, text)
        except FolderBusy as busy:
            raise CostsimError(f"{folder}: a run is writing this folder now (it holds {busy}); wait for it to "
                               "end") from None
    else:
        atomic_write_text(path, text)
    return path


# -- numbers as shown ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A number of ``summary.json`` as the report shows it: its place in the file (``key``, a path such as
    ``alternatives.0.cost_per_task.mean``), its exact ``value`` (None for null), the ``text`` people read
    and, below it, its 95% interval when it has one (two more :class:`Shown`, the ends)."""

    key: str
    value: Any
    text: str
    interval: tuple[Shown, Shown] | None = None

    @property
    def exact(self) -> str:
        """The value exactly as summary.json writes it."""
        return json.dumps(self.value)


def _shown(key: str, value: Any, show: Callable[[Any], str], bounds_key: str | None = None,
           bounds: list | None = None, show_bounds: Callable[[Any], str] | None = None) -> Shown:
    """``value`` at ``key`` written by ``show``; with ``bounds`` (at ``bounds_key``), its interval too,
    written by ``show_bounds`` (default: ``show``)."""
    interval = None
    if bounds is not None:
        low, high = bounds
        show_bounds = show_bounds or show
        interval = (Shown(f"{bounds_key}.0", low, show_bounds(low)), Shown(f"{bounds_key}.1", high, show_bounds(high)))
    return Shown(key, value, show(value), interval)


def _exact(value: Any) -> str:
    return json.dumps(value)


def _signed_usd(value: float) -> str:
    return usd(value, signed=True)


def _usd_or_too_few(value: float | None) -> str:
    """A quantile of cost: null in summary.json when too few tasks lie beyond it."""
    return usd(value, missing="too few tasks")


def _days(days: float) -> str:
    return f"{days:g} day" + ("" if days == 1 else "s")


# -- what the page shows -------------------------------------------------------------------------------


def _escaped(value: Any) -> markupsafe.Markup:
    """A value as the template writes it: text escaped as the standard library escapes it (``&quot;``,
    ``&#x27;``), markup the template made itself (a macro's output) as it is."""
    if hasattr(value, "__html__"):
        return value
    return markupsafe.Markup(html.escape(str(value)))


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("sim.output", "templates"),
        autoescape=True,  # a value that _escaped let through unescaped would still be escaped
        finalize=_escaped,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.get_template(TEMPLATE)


def render_report(run: RunFolder) -> str:
    """The report of ``run`` as HTML text."""
    summary = run.summary
    return _template().render(
        name=summary["workflow"],
        version=__version__,
        summary_file=SUMMARY_FILE,
        tasks_file=TASKS_FILE,
        workflow_file=WORKFLOW_FILE,
        description=_description(run.workflow_text),
        **_question(summary),
        alternatives=[_alternative(index, entry, summary["alternatives"][0]["models"])
                      for index, entry in enumerate(summary["alternatives"])],
        notes=[(e["name"], note) for e in summary["alternatives"] for note in e.get("notes", [])],
        latency=_latency(summary["alternatives"]),
        bill=_bill(summary["alternatives"]),
        plots=_plots(run),
        workflow_text=run.workflow_text,
        workflow_source=str(summary.get("metadata", {}).get("workflow_file", "unknown")),
        run_rows=_run_rows(summary),
        every_number=[Shown(path, value, _exact(value)) for path, value in _leaves(summary)],
    )


def _description(workflow_text: str | None) -> str:
    if not workflow_text:
        return ""
    from ruamel.yaml import YAML, YAMLError

    try:
        data = YAML(typ="safe").load(workflow_text)
    except YAMLError:
        return ""
    description = data.get("description") if isinstance(data, dict) else None
    return description if isinstance(description, str) else ""


def _question(summary: dict) -> dict:
    """The numbers of the opening paragraph: how many tasks, the horizon, the cheapest and the surest."""
    entries = summary["alternatives"]
    cheapest = min(range(len(entries)), key=lambda i: entries[i]["cost_per_task"]["mean"])
    surest = max(range(len(entries)), key=lambda i: entries[i]["success_rate"])
    tasks, seed = summary["tasks"], summary["seed"]
    traffic, replications = summary.get("traffic"), summary.get("replications")
    horizon = None
    if traffic and replications:
        days, per_day = traffic["days"], traffic["tasks_per_day"]
        horizon = {"replications": Shown("replications", replications, str(replications)),
                   "days": Shown("traffic.days", days, f"{days:g}"), "day_word": "day" if days == 1 else "days",
                   "tasks_per_day": Shown("traffic.tasks_per_day", per_day, f"{per_day:,g}")}
    return {
        "tasks": Shown("tasks", tasks, f"{tasks:,}"),
        "seed": Shown("seed", seed, str(seed)),
        "horizon": horizon,
        "cheapest": {"name": entries[cheapest]["name"],
                     "number": _shown(f"alternatives.{cheapest}.cost_per_task.mean",
                                      entries[cheapest]["cost_per_task"]["mean"], usd)},
        "surest": {"name": entries[surest]["name"],
                   "number": _shown(f"alternatives.{surest}.success_rate", entries[surest]["success_rate"],
                                    share)},
    }


def _alternative(index: int, e: dict, baseline_models: dict[str, str]) -> dict:
    """One alternative's rows of the cost table and the outcomes-and-effort table."""
    key = f"alternatives.{index}"
    cost = e["cost_per_task"]
    models = e["models"] if index == 0 else {r: m for r, m in e["models"].items() if m != baseline_models.get(r)}
    quantile_ci95 = e.get("quantile_ci95", {})
    diff = e["diff_vs_baseline"]
    return {
        "name": e["name"],
        "models": list(models.items()),  # empty: "as baseline"
        "cost": [
            _shown(f"{key}.cost_per_task.mean", cost["mean"], usd, f"{key}.cost_per_task.ci95", cost.get("ci95")),
            *(_shown(f"{key}.cost_per_task.{q}", cost.get(q), _usd_or_too_few, f"{key}.quantile_ci95.{q}",
                     quantile_ci95.get(q), usd) for q in ("p50", "p90", "p95", "p99")),
            _shown(f"{key}.cost_per_task.max", cost["max"], usd),
        ],
        "success": _shown(f"{key}.success_rate", e["success_rate"], share, f"{key}.success_rate_ci95",
                          e.get("success_rate_ci95")),
        "cost_per_success": _shown(f"{key}.cost_per_success", e["cost_per_success"], usd),
        "diff": None if diff is None else _shown(f"{key}.diff_vs_baseline.mean", diff["mean"], _signed_usd,
                                                 f"{key}.diff_vs_baseline.ci95", diff.get("ci95")),
        "effort": [
            Shown(f"{key}.calls_per_task", e["calls_per_task"], f"{e['calls_per_task']:.2f}"),
            Shown(f"{key}.attempts_per_task", e["attempts_per_task"], f"{e['attempts_per_task']:.2f}"),
            Shown(f"{key}.input_tokens_per_task", e["input_tokens_per_task"], f"{e['input_tokens_per_task']:,.0f}"),
            Shown(f"{key}.output_tokens_per_task", e["output_tokens_per_task"],
                  f"{e['output_tokens_per_task']:,.0f}"),
        ],
    }


def _latency(entries: list[dict]) -> list[dict] | None:
    """Latency per task and the failures by reason, when every alternative has them."""
    if not all("latency_s" in e for e in entries):
        return None
    rows = []
    for index, e in enumerate(entries):
        key, latency = f"alternatives.{index}.latency_s", e["latency_s"]
        rows.append({
            "name": e["name"],
            "numbers": [Shown(f"{key}.{q}", latency.get(q), seconds(latency.get(q), missing="too few tasks"))
                        for q in ("mean", "p50", "p95", "p99")],
            "failures": [(reason, Shown(f"alternatives.{index}.failures.{reason}", part, share(part)))
                         for reason, part in e.get("failures", {}).items()],
        })
    return rows


def _bill(entries: list[dict]) -> dict | None:
    """The horizon's bill of a run with traffic: mean, p5, p50, p95 and the chance of going over budget."""
    if not all("bill" in e for e in entries):
        return None
    first = entries[0]["bill"]
    rows = []
    for index, e in enumerate(entries):
        key, bill = f"alternatives.{index}.bill", e["bill"]
        numbers = [_shown(f"{key}.mean", bill["mean"], usd, f"{key}.ci95", bill.get("ci95")),
                   *(Shown(f"{key}.{q}", bill[q], usd(bill[q])) for q in ("p5", "p50", "p95"))]
        if "budget_usd" in bill:
            numbers.append(_shown(f"{key}.p_over_budget", bill["p_over_budget"], share,
                                  f"{key}.p_over_budget_ci95", bill.get("p_over_budget_ci95")))
        rows.append({"name": e["name"], "numbers": numbers})
    return {"period": _days(first["horizon_days"]), "replications": first["replications"],
            "budget": usd(first["budget_usd"]) if "budget_usd" in first else None, "rows": rows}


def _png(figure) -> str:
    from sim.output import plots

    return base64.b64encode(plots.figure_bytes(figure)).decode("ascii")


def _plots(run: RunFolder) -> dict[str, str | None]:
    """The figures as base64 PNG: the cost distribution; the Pareto front (two or more alternatives); the
    spread of the bill (a run with traffic)."""
    from sim.output import plots

    summary, name = run.summary, run.summary["workflow"]
    entries = summary["alternatives"]
    pareto = bill = None
    if len(entries) > 1:
        points = {e["name"]: (e["cost_per_task"]["mean"], e["success_rate"]) for e in entries}
        pareto = _png(plots.cost_success_figure(points, f"{name}: cost against success"))
    if all("bill" in e for e in entries):
        period = _days(entries[0]["bill"]["horizon_days"])
        bill = _png(plots.monthly_bill_figure({e["name"]: e["bill"] for e in entries},
                                              f"{name}: the bill over {period}", period=period))
    return {"cost": _png(plots.run_cost_figure(run.costs_usd, summary)), "pareto": pareto, "bill": bill}


def _run_rows(summary: dict) -> list[tuple[str, Shown | str]]:
    """The run's seed, tasks and metadata: numbers as :class:`Shown`, anything else as its text."""
    tasks, seed = summary["tasks"], summary["seed"]
    rows: list[tuple[str, Shown | str]] = [("seed", Shown("seed", seed, str(seed))),
                                           ("tasks per alternative", Shown("tasks", tasks, f"{tasks:,}"))]
    for key, value in summary.get("metadata", {}).items():
        rows.append((key, Shown(f"metadata.{key}", value, _exact(value)) if isinstance(value, int | float)
                     else str(value)))
    return rows


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every (path, value) of a JSON value's numbers, in file order (booleans are not numbers here)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path, value


def number_paths(summary: dict) -> dict[str, float]:
    """Path (``alternatives.0.cost_per_task.mean``) -> value, for every number in a summary."""
    return dict(_leaves(summary))
