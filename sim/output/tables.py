"""Tables of a run for people: rich tables of the summary, and the summary as CSV.

Builds :class:`rich.table.Table` objects and text; printing them is :mod:`sim.cli`'s job. Every dollar
amount goes through :func:`usd`, so the terminal, the plots and the report write money the same way.
"""

from __future__ import annotations

import csv
import io

from rich.table import Table

from sim.core.format import plus_minus, ratio, seconds, share, share_interval, usd


def summary_tables(summary: dict) -> list[Table]:
    """Two narrow tables (cost distribution; outcomes and effort) that fit a 100-column terminal."""
    cost_table = Table(title=f"{summary['workflow']}: cost per task (USD), {summary['tasks']:,} tasks, "
                             f"seed {summary['seed']}", title_justify="left")
    effort_table = Table(title="outcomes and effort per task", title_justify="left")
    for header in ("alternative", "mean ± 95% CI", "p50", "p90", "p95", "p99", "max"):
        cost_table.add_column(header, justify="left" if header == "alternative" else "right")
    for header in ("alternative", "success", "$/success", "vs baseline ± 95% CI", "calls", "attempts",
                   "tokens in", "tokens out"):
        effort_table.add_column(header, justify="left" if header == "alternative" else "right")
    for entry in summary["alternatives"]:
        cost = entry["cost_per_task"]
        cost_table.add_row(
            entry["name"], plus_minus(cost["mean"], cost["ci95"]),
            *(usd(cost[key]) if cost[key] is not None else "too few" for key in ("p50", "p90", "p95", "p99")),
            usd(cost["max"]),
        )
        diff = entry["diff_vs_baseline"]
        effort_table.add_row(
            entry["name"], share(entry["success_rate"]), usd(entry["cost_per_success"]),
            "baseline" if diff is None else plus_minus(diff["mean"], diff["ci95"], signed=True),
            f"{entry['calls_per_task']:.2f}", f"{entry['attempts_per_task']:.2f}",
            f"{entry['input_tokens_per_task']:,.0f}", f"{entry['output_tokens_per_task']:,.0f}",
        )
    return [cost_table, effort_table]


def time_tables(summary: dict) -> list[Table]:
    """Latency, caching and, with traffic, the horizon's bill: only the columns the run has."""
    entries = summary["alternatives"]
    table = Table(title="time and the provider", title_justify="left")
    columns: list[tuple[str, callable]] = [
        ("latency p50", lambda e: seconds(e["latency_s"]["p50"])),
        ("p95", lambda e: seconds(e["latency_s"]["p95"])),
        ("p99", lambda e: seconds(e["latency_s"]["p99"])),
    ]
    if any(e["reasoning_tokens_per_task"] for e in entries):
        columns.append(("reasoning tok", lambda e: f"{e['reasoning_tokens_per_task']:,.0f}"))
    if any("cache" in e for e in entries):
        # with provider rules some alternatives' models cache and others' do not: "-" for those
        columns += [("cache hits", lambda e: share(e["cache"]["hit_rate"]) if "cache" in e else "-"),
                    ("cached input", lambda e: share(e["cache"]["cached_input_share"]) if "cache" in e else "-"),
                    ("cache saves/task", lambda e: usd(e["cache"]["saving_usd_per_task"]) if "cache" in e else "-")]
    if any("rate_limits" in e for e in entries):
        columns.append(("limit wait/task", lambda e: seconds(e["rate_limits"]["wait_s_per_task"])))
    if any(e["failures"] for e in entries):
        columns.append(("failed by", lambda e: ", ".join(f"{k} {share(v)}" for k, v in e["failures"].items()) or "-"))
    for header, _ in [("alternative", None), *columns]:
        table.add_column(header, justify="left" if header in ("alternative", "failed by") else "right")
    for e in entries:
        name = e["name"] + (" (batch)" if e.get("batched_steps") else "")
        table.add_row(name, *(cell(e) for _, cell in columns))
    tables = [table]
    if "bill" in entries[0]:
        bill = entries[0]["bill"]
        bills = Table(title=f"the bill over {bill['horizon_days']:g} days ({bill['replications']} replications)",
                      title_justify="left")
        headers = ["alternative", "mean ± 95% CI", "p5", "p50", "p95"]
        if "budget_usd" in bill:
            headers.append(f"P(> {usd(bill['budget_usd'])}) (95% CI)")
        for header in headers:
            bills.add_column(header, justify="left" if header == "alternative" else "right")
        for e in entries:
            b = e["bill"]
            row = [e["name"], plus_minus(b["mean"], b["ci95"]), usd(b["p5"]), usd(b["p50"]), usd(b["p95"])]
            if "budget_usd" in b:
                row.append(share_interval(b["p_over_budget"], b.get("p_over_budget_ci95")))
            bills.add_row(*row)
        tables.append(bills)
    return tables


def models_legend(summary: dict) -> list[str]:
    baseline_models = summary["alternatives"][0]["models"]
    lines = []
    for entry in summary["alternatives"]:
        changed = {role: ref for role, ref in entry["models"].items() if ref != baseline_models.get(role)}
        shown = changed if entry is not summary["alternatives"][0] else baseline_models
        if entry.get("retry_policy"):
            shown = {**shown, "retry": entry["retry_policy"]}
        lines.append(f"  {entry['name']}: " + ", ".join(f"{role}={ref}" for role, ref in shown.items()))
    return lines


def routing_table(summary: dict) -> Table | None:
    """Routing and quality (only when the workflow routes, escalates or falls back): each alternative's
    cost and success as shares of the baseline's, wrong answers kept, how often calls moved on to
    another model, a cascade's checks, and what routing and checking cost."""
    entries = summary["alternatives"]
    if not any("routing" in e for e in entries):
        return None
    table = Table(title="routing and quality (÷ base: as a share of the baseline's)", title_justify="left")
    for header in ("alternative", "cost ÷ base", "success ÷ base", "wrong answers", "moved on/task", "checks/task",
                   "routing $/task"):
        table.add_column(header, justify="left" if header == "alternative" else "right")
    base = entries[0]
    for e in entries:
        r = e.get("routing")
        ratios = (ratio(e["cost_per_task"]["mean"], base["cost_per_task"]["mean"]),
                  ratio(e["success_rate"], base["success_rate"]))
        if r is None:
            table.add_row(e["name"], *ratios, "-", "-", "-", "-")
            continue
        table.add_row(e["name"], *ratios, share(r["wrong_answer_rate"]), f"{r['escalations_per_task']:.2f}",
                      f"{r['validations_per_task']:.2f}", usd(r["routing_usd_per_task"]))
    return table


def answered_by_legend(summary: dict) -> list[str]:
    """Per alternative, the models that answered and their calls per task (routers and validators not
    included): where a cascade or router sent the work."""
    return [f"  {e['name']}: " + ", ".join(f"{ref} {calls:.2f}" for ref, calls in e["calls_by_model"].items())
            for e in summary["alternatives"]]


CSV_COLUMNS = ("alternative", "models", "mean_usd", "ci95_low_usd", "ci95_high_usd", "p50_usd", "p90_usd",
               "p95_usd", "p99_usd", "max_usd", "success_rate", "cost_per_success_usd", "calls_per_task",
               "attempts_per_task", "input_tokens_per_task", "output_tokens_per_task", "diff_vs_baseline_usd",
               "diff_ci95_low_usd", "diff_ci95_high_usd")


def summary_csv(summary: dict) -> str:
    """One row per alternative; empty cells where a value is not available."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in summary["alternatives"]:
        cost, diff = e["cost_per_task"], e["diff_vs_baseline"] or {"mean": None, "ci95": None}
        ci, dci = cost["ci95"] or [None, None], diff["ci95"] or [None, None]
        row = [e["name"], ";".join(f"{k}={v}" for k, v in e["models"].items()), cost["mean"], *ci,
               cost["p50"], cost["p90"], cost["p95"], cost["p99"], cost["max"], e["success_rate"],
               e["cost_per_success"], e["calls_per_task"], e["attempts_per_task"], e["input_tokens_per_task"],
               e["output_tokens_per_task"], diff["mean"], *dci]
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()


def run_lines(summary: dict, tasks_file: str = "csv") -> list[str]:
    """Lines under the tables about how the run was made: where adaptive precision stopped, and what a
    run too large to keep per-task records gives instead."""
    meta = summary.get("metadata", {})
    lines = []
    precision = meta.get("precision")
    if precision is not None:
        widths = {name: w for name, w in precision["relative_half_width"].items()}
        widest = max(widths, key=lambda name: float("inf") if widths[name] is None else widths[name])
        width = "undefined" if widths[widest] is None else f"±{widths[widest]:.2%}"
        if precision["reached"]:
            lines.append(f"precision: every mean within ±{precision['target']:.2%} (95% CI) after "
                         f"{precision['tasks']:,} tasks (widest: {widest}, {width}; checked every "
                         f"{precision['check_every_tasks']:,} tasks from {precision['min_tasks']:,})")
        else:
            lines.append(f"precision: ±{precision['target']:.2%} not reached by {precision['tasks']:,} tasks "
                         f"(--max-tasks); widest: {widest}, {width}")
    sketch = meta.get("sketch")
    if sketch is not None:
        lines.append(f"statistics: above {sketch['exact_tasks_limit']:,} tasks no per-task records are kept: means "
                     f"and intervals from exact sums, quantiles from a log-bin histogram (within "
                     f"{sketch['quantile_relative_error']:.2%}); the plot shows the first "
                     f"{sketch['plot_sample_tasks']:,} tasks" + ("; no tasks file" if tasks_file != "none" else ""))
    return lines

