"""The HTML report of a run: one self-contained file that anyone can open in a browser, offline.

A forecast is read by people who did not run it. :func:`write_report` turns a run folder (what
``costsim run`` wrote: ``summary.json``, ``tasks.csv`` and ``workflow.yaml``) into ``report.html``:

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
"""

from __future__ import annotations

import base64
import csv
import gzip
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from sim.core.errors import CostsimError
from sim.core.files import atomic_write, atomic_write_text
from sim.core.version import __version__
from sim.output.rundir import SUMMARY_FILE, TASKS_FILE

REPORT_FILE = "report.html"
WORKFLOW_FILE = "workflow.yaml"  # the workflow as run, copied into the run folder by costsim run


@dataclass
class RunFolder:
    """What a report is made of, read back from a run folder."""

    folder: Path
    summary: dict
    costs_usd: dict[str, np.ndarray]  # alternative -> per-task cost, from tasks.csv
    workflow_text: str | None  # workflow.yaml, or None for a folder without one


# -- reading and writing run folders -------------------------------------------------------------------


def copy_workflow(workflow: Path, out_dir: Path) -> Path:
    """Keep the workflow file as it was run: write its text to ``out_dir/workflow.yaml``."""
    text = workflow.read_bytes()
    path = out_dir / WORKFLOW_FILE
    atomic_write(path, lambda tmp: tmp.write_bytes(text))
    return path


def read_run(folder: Path) -> RunFolder:
    """Read a run folder; a folder that is not one raises :class:`CostsimError` saying what is missing."""
    if not folder.exists():
        raise CostsimError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CostsimError(f"{folder}: is a file; give the folder costsim run wrote (its --out)")
    summary_path = folder / SUMMARY_FILE
    tasks_path = next((path for path in (folder / TASKS_FILE, folder / (TASKS_FILE + ".gz")) if path.is_file()),
                      folder / TASKS_FILE)
    for path in (summary_path, tasks_path):
        if not path.is_file():
            raise CostsimError(f"{folder}: no {path.name} here; give a folder written by costsim run (its --out)"
                               + (" with a per-task file (not --tasks-file none)" if path is tasks_path else ""))
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CostsimError(f"{summary_path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(summary, dict) or not {"workflow", "seed", "tasks", "alternatives"} <= summary.keys():
        raise CostsimError(f"{summary_path}: not a costsim summary (it needs workflow, seed, tasks, alternatives)")
    workflow_path = folder / WORKFLOW_FILE
    workflow_text = workflow_path.read_text(encoding="utf-8") if workflow_path.is_file() else None
    return RunFolder(folder, summary, _read_costs(tasks_path, summary), workflow_text)


def _read_costs(tasks_path: Path, summary: dict) -> dict[str, np.ndarray]:
    costs: dict[str, list[float]] = {entry["name"]: [] for entry in summary["alternatives"]}
    opener = gzip.open if tasks_path.suffix == ".gz" else open
    with opener(tasks_path, "rt", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not {"alternative", "cost_usd"} <= set(reader.fieldnames or ()):
            raise CostsimError(f"{tasks_path}: no alternative and cost_usd columns; is it a costsim tasks.csv?")
        for row in reader:
            if row["alternative"] in costs:
                costs[row["alternative"]].append(float(row["cost_usd"]))
    empty = [name for name, values in costs.items() if not values]
    if empty:
        raise CostsimError(f"{tasks_path}: no tasks of {', '.join(empty)}, which summary.json lists")
    return {name: np.array(values) for name, values in costs.items()}


def write_report(folder: Path, path: Path | None = None) -> Path:
    """Write the report of the run in ``folder`` to ``path`` (default ``folder/report.html``)."""
    run = read_run(folder)
    path = path or folder / REPORT_FILE
    atomic_write_text(path, render_report(run))
    return path


# -- numbers as text -----------------------------------------------------------------------------------


def usd(value: float | None) -> str:
    """Dollars as everything else in costsim writes them (:func:`sim.output.tables.usd`), or n/a."""
    from sim.core.format import usd as usd_text

    return "n/a" if value is None else usd_text(value)


def _percent(value: float) -> str:
    """A share with one decimal, or more when one would round a non-zero gap to 0.0% or 100.0%."""
    for decimals in (1, 2, 3):
        text = f"{value:.{decimals}%}"
        if not ((text == f"{1:.{decimals}%}" and value < 1) or (text == f"{0:.{decimals}%}" and value > 0)):
            break
    return text


def _exact(value) -> str:
    """A number exactly as summary.json writes it."""
    return json.dumps(value)


def _num(key: str, value, shown: str) -> str:
    """A shown number that carries its exact value (and its place in summary.json) in attributes."""
    if value is None:
        return f'<span class="na" data-key="{escape(key)}" data-value="null">{escape(shown)}</span>'
    exact = escape(_exact(value))
    return f'<span class="n" data-key="{escape(key)}" data-value="{exact}" title="{exact}">{escape(shown)}</span>'


def _interval(key: str, bounds: list | None, show) -> str:
    if bounds is None:
        return ""
    low, high = bounds
    return f'<br><small class="ci">{_num(f"{key}.0", low, show(low))} – {_num(f"{key}.1", high, show(high))}</small>'


# -- the page ------------------------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 2em auto; padding: 0 1.2em; }
h1 { margin-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.lede { font-size: 1.1em; color: #444; margin-top: 0; }
.question { background: #f3f6fa; border-left: 4px solid #0072B2; padding: .7em 1em; }
table { border-collapse: collapse; margin: .8em 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #e2e2e2; padding: .35em .7em; text-align: right; vertical-align: top; }
th { background: #fafafa; font-weight: 600; } th:first-child, td:first-child { text-align: left; }
small { color: #666; } .ci { white-space: nowrap; } .na { color: #999; } .models { color: #555; font-size: .85em; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: .93em; max-width: 60em; }
pre { background: #f7f7f7; border: 1px solid #e5e5e5; padding: .8em 1em; overflow-x: auto; font-size: .85em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1.2em; } dt { color: #555; }
dd { margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
details table td { text-align: left; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
footer { margin-top: 3em; color: #888; font-size: .85em; }
"""
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render_report(run: RunFolder) -> str:
    """The report of ``run`` as HTML text."""
    summary = run.summary
    name = summary["workflow"]
    sections = [
        _question(summary, _description(run.workflow_text)),
        _alternatives(summary),
        _time_and_bill(summary),
        _plots(run),
        _workflow(run.workflow_text, summary.get("metadata", {})),
        _metadata(summary),
        _every_number(summary),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(name)}: cost per task (costsim report)</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(sections)
        + f"\n<footer>Written by costsim {escape(__version__)} (<code>costsim report</code>) from "
        f"{escape(SUMMARY_FILE)} and {escape(TASKS_FILE)}. Intervals describe simulation noise only, not whether "
        "the workflow's token counts and failure rates are right.</footer>\n</body>\n</html>\n"
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


def _question(summary: dict, description: str) -> str:
    entries = summary["alternatives"]
    names = ", ".join(f"<b>{escape(e['name'])}</b>" for e in entries)
    cheapest = min(range(len(entries)), key=lambda i: entries[i]["cost_per_task"]["mean"])
    surest = max(range(len(entries)), key=lambda i: entries[i]["success_rate"])
    mean_usd, success = entries[cheapest]["cost_per_task"]["mean"], entries[surest]["success_rate"]
    answer = (f"Lowest mean cost per task: <b>{escape(entries[cheapest]['name'])}</b> at "
              f"{_num(f'alternatives.{cheapest}.cost_per_task.mean', mean_usd, usd(mean_usd))}. "
              f"Highest success rate: <b>{escape(entries[surest]['name'])}</b> at "
              f"{_num(f'alternatives.{surest}.success_rate', success, _percent(success))}.")
    tasks, seed = summary["tasks"], summary["seed"]
    traffic, replications = summary.get("traffic"), summary.get("replications")
    horizon = ""
    if traffic and replications:
        days, per_day = traffic["days"], traffic["tasks_per_day"]
        horizon = (f" ({_num('replications', replications, str(replications))} replications of "
                   f"{_num('traffic.days', days, f'{days:g}')} day{'' if days == 1 else 's'} at "
                   f"{_num('traffic.tasks_per_day', per_day, f'{per_day:,g}')} tasks a day on average)")
    return (
        f"<h1>{escape(summary['workflow'])}</h1>\n"
        + (f"<p class=\"lede\">{escape(description)}</p>\n" if description else "")
        + f"<p class=\"question\">What does one task cost, and how often does it succeed, on each of "
        f"{len(entries)} alternative{'s' if len(entries) != 1 else ''} ({names})? "
        f"{_num('tasks', tasks, f'{tasks:,}')} simulated tasks{horizon}, every alternative on the "
        f"same tasks, seed {_num('seed', seed, str(seed))}.<br>{answer}</p>"
    )


def _alternatives(summary: dict) -> str:
    baseline_models = summary["alternatives"][0]["models"]
    cost_rows, effort_rows = [], []
    for index, e in enumerate(summary["alternatives"]):
        key = f"alternatives.{index}"
        cost = e["cost_per_task"]
        changed = e["models"] if index == 0 else {r: m for r, m in e["models"].items() if m != baseline_models.get(r)}
        models = ", ".join(f"{escape(role)}={escape(ref)}" for role, ref in changed.items()) or "as baseline"
        name = f"<b>{escape(e['name'])}</b>"
        label = f"<td>{name}<br><span class=\"models\">{models}</span></td>"
        cells = [_num(f"{key}.cost_per_task.mean", cost["mean"], usd(cost["mean"]))
                 + _interval(f"{key}.cost_per_task.ci95", cost.get("ci95"), usd)]
        for q in ("p50", "p90", "p95", "p99"):
            shown = usd(cost.get(q)) if cost.get(q) is not None else "too few tasks"
            cells.append(_num(f"{key}.cost_per_task.{q}", cost.get(q), shown)
                         + _interval(f"{key}.quantile_ci95.{q}", e.get("quantile_ci95", {}).get(q), usd))
        cells.append(_num(f"{key}.cost_per_task.max", cost["max"], usd(cost["max"])))
        cost_rows.append("<tr>" + label + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        diff = e["diff_vs_baseline"]
        signed = lambda v: ("+" if v >= 0 else "") + usd(v)  # noqa: E731
        effort = [
            _num(f"{key}.success_rate", e["success_rate"], _percent(e["success_rate"]))
            + _interval(f"{key}.success_rate_ci95", e.get("success_rate_ci95"), _percent),
            _num(f"{key}.cost_per_success", e["cost_per_success"], usd(e["cost_per_success"])),
            "baseline" if diff is None else _num(f"{key}.diff_vs_baseline.mean", diff["mean"], signed(diff["mean"]))
            + _interval(f"{key}.diff_vs_baseline.ci95", diff.get("ci95"), signed),
            _num(f"{key}.calls_per_task", e["calls_per_task"], f"{e['calls_per_task']:.2f}"),
            _num(f"{key}.attempts_per_task", e["attempts_per_task"], f"{e['attempts_per_task']:.2f}"),
            _num(f"{key}.input_tokens_per_task", e["input_tokens_per_task"], f"{e['input_tokens_per_task']:,.0f}"),
            _num(f"{key}.output_tokens_per_task", e["output_tokens_per_task"], f"{e['output_tokens_per_task']:,.0f}"),
        ]
        effort_rows.append(f"<tr><td>{name}</td>" + "".join(f"<td>{c}</td>" for c in effort) + "</tr>")
    notes = [f"<li><b>{escape(e['name'])}</b>: {escape(note)}</li>"
             for e in summary["alternatives"] for note in e.get("notes", [])]
    return (
        "<h2>Cost per task (USD)</h2>\n<p>One row per alternative; every row ran on the same simulated tasks. "
        "Below each value, its 95% interval (for the mean, from the t distribution; for quantiles, from "
        "order statistics). Half of all tasks cost less than p50; one in twenty more than "
        "p95.</p>\n<table id=\"cost\"><thead><tr><th>alternative</th><th>mean</th><th>p50</th><th>p90</th>"
        "<th>p95</th><th>p99</th><th>max</th></tr></thead><tbody>\n" + "\n".join(cost_rows) + "\n</tbody></table>\n"
        "<h2>Outcomes and effort per task</h2>\n<p><i>$/success</i> divides the whole bill by the tasks that "
        "succeeded. <i>vs baseline</i> is the paired difference in mean cost per task over the same tasks.</p>\n"
        "<table id=\"effort\"><thead><tr><th>alternative</th><th>success</th><th>$/success</th>"
        "<th>vs baseline</th><th>calls</th><th>attempts</th><th>tokens in</th><th>tokens out</th></tr></thead>"
        "<tbody>\n" + "\n".join(effort_rows) + "\n</tbody></table>\n"
        + (f"<p>Notes:</p><ul>{''.join(notes)}</ul>\n" if notes else "")
    )


def _days(days: float) -> str:
    return f"{days:g} day" + ("" if days == 1 else "s")


def _seconds(value: float | None) -> str:
    if value is None:
        return "too few tasks"
    return f"{value:.2f} s" if value < 60 else f"{value / 60:.1f} min" if value < 3600 else f"{value / 3600:.1f} h"


def _row(name: str, cells: list[str]) -> str:
    return f"<tr><td><b>{escape(name)}</b></td>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _time_and_bill(summary: dict) -> str:
    """Latency per task and, for a run with traffic, the horizon's bill (only what the run has)."""
    entries = summary["alternatives"]
    parts = []
    if all("latency_s" in e for e in entries):
        parts.append(
            "<h2>Time per task</h2>\n<p>From the task's start to its end, waits for tools, retries and queues "
            "included; and the share of tasks that failed, by reason.</p>\n<table id=\"time\"><thead><tr>"
            "<th>alternative</th><th>mean</th><th>p50</th><th>p95</th><th>p99</th><th>failed by</th></tr></thead>"
            "<tbody>\n" + "\n".join(_row(e["name"], _time_cells(i, e)) for i, e in enumerate(entries))
            + "\n</tbody></table>")
    if all("bill" in e for e in entries):
        first = entries[0]["bill"]
        over = f"<th>P(bill &gt; {escape(usd(first['budget_usd']))})</th>" if "budget_usd" in first else ""
        parts.append(
            f"<h2>The bill over {_days(first['horizon_days'])}</h2>\n<p>Each of {first['replications']} "
            "replications simulates the whole period with tasks arriving at random; the bill differs from one "
            "to the next. Half of them came in under p50; one in twenty above p95.</p>\n<table id=\"bill\"><thead>"
            f"<tr><th>alternative</th><th>mean</th><th>p5</th><th>p50</th><th>p95</th>{over}</tr></thead><tbody>\n"
            + "\n".join(_row(e["name"], _bill_cells(i, e["bill"])) for i, e in enumerate(entries))
            + "\n</tbody></table>")
    return "\n".join(parts)


def _time_cells(index: int, entry: dict) -> list[str]:
    key, latency = f"alternatives.{index}.latency_s", entry["latency_s"]
    cells = [_num(f"{key}.{q}", latency.get(q), _seconds(latency.get(q))) for q in ("mean", "p50", "p95", "p99")]
    failures = [f"{escape(reason)} {_num(f'alternatives.{index}.failures.{reason}', share, _percent(share))}"
                for reason, share in entry.get("failures", {}).items()]
    return [*cells, ", ".join(failures) or "none"]


def _bill_cells(index: int, bill: dict) -> list[str]:
    key = f"alternatives.{index}.bill"
    cells = [_num(f"{key}.mean", bill["mean"], usd(bill["mean"])) + _interval(f"{key}.ci95", bill.get("ci95"), usd)]
    cells += [_num(f"{key}.{q}", bill[q], usd(bill[q])) for q in ("p5", "p50", "p95")]
    if "budget_usd" in bill:
        cells.append(_num(f"{key}.p_over_budget", bill["p_over_budget"], _percent(bill["p_over_budget"]))
                     + _interval(f"{key}.p_over_budget_ci95", bill.get("p_over_budget_ci95"), _percent))
    return cells


def _image(data: bytes, alt: str, caption: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return (f"<figure><img alt=\"{escape(alt)}\" src=\"data:image/png;base64,{encoded}\">"
            f"<figcaption>{caption}</figcaption></figure>")


def _plots(run: RunFolder) -> str:
    from sim.output import plots

    summary = run.summary
    figures = [_image(
        plots.figure_bytes(plots.run_cost_figure(run.costs_usd, summary)),
        f"{summary['workflow']}: histogram and cumulative distribution of cost per task per alternative",
        "Left: how often each cost occurs. Right: the share of tasks costing at most x; read across at 50% "
        "for the typical task and at 95% for the expensive tail. Circles mark p50, triangles p95, squares "
        "p99.",
    )]
    if len(summary["alternatives"]) > 1:
        points = {e["name"]: (e["cost_per_task"]["mean"], e["success_rate"]) for e in summary["alternatives"]}
        figures.append(_image(
            plots.figure_bytes(plots.cost_success_figure(points, f"{summary['workflow']}: cost against success")),
            f"{summary['workflow']}: mean cost per task against success rate, with the Pareto front",
            "Each point is an alternative. Filled points are on the Pareto front: no other alternative is both "
            "cheaper and more successful. Hollow points are dominated: another alternative is at least as good "
            "on both counts.",
        ))
    if all("bill" in e for e in summary["alternatives"]):
        bills = {e["name"]: e["bill"] for e in summary["alternatives"]}
        days = summary["alternatives"][0]["bill"]["horizon_days"]
        figures.append(_image(
            plots.figure_bytes(plots.monthly_bill_figure(bills, f"{summary['workflow']}: the bill over {_days(days)}",
                                                         period=_days(days))),
            f"{summary['workflow']}: the spread of the bill over {_days(days)} per alternative",
            "Each bar spans the 5th to the 95th percentile of the bill over the replications; the dot is the "
            "median. Wide bars mean the bill depends on how busy the period turns out to be.",
        ))
    return "<h2>Plots</h2>\n" + "\n".join(figures)


def _workflow(workflow_text: str | None, metadata: dict) -> str:
    if workflow_text is None:
        source = escape(str(metadata.get("workflow_file", "unknown")))
        return (f"<h2>The workflow as run</h2>\n<p>This run folder holds no {WORKFLOW_FILE}; the run read "
                f"<code>{source}</code>, which may have changed since.</p>")
    return f"<h2>The workflow as run</h2>\n<pre><code>{escape(workflow_text)}</code></pre>"


def _metadata(summary: dict) -> str:
    tasks, seed = summary["tasks"], summary["seed"]
    rows = [("seed", _num("seed", seed, str(seed))), ("tasks per alternative", _num("tasks", tasks, f"{tasks:,}"))]
    for key, value in summary.get("metadata", {}).items():
        shown = _num(f"metadata.{key}", value, _exact(value)) if isinstance(value, int | float) else escape(str(value))
        rows.append((key, shown))
    return "<h2>Run</h2>\n<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _leaves(value, path: str = ""):
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


def _every_number(summary: dict) -> str:
    rows = "".join(f"<tr><td>{escape(path)}</td><td>{_num(path, value, _exact(value))}</td></tr>"
                   for path, value in _leaves(summary))
    return (f"<h2>Every number</h2>\n<details><summary>All numbers of {SUMMARY_FILE}, exactly as the file has "
            f"them</summary>\n<table id=\"numbers\"><tbody>{rows}</tbody></table></details>")
