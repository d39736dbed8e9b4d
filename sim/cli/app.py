"""The ``costsim`` command: a thin typer layer over the library.

This is the only module that prints or exits. Library errors (:class:`~sim.core.errors.CostsimError`) are
converted here, once, into a message on stderr and exit code 2; a
:class:`~sim.core.errors.ParameterError` names the library's parameters, which the message shows as the
flags that feed them (:data:`FLAG_OF_PARAMETER`). With ``--format json`` or ``csv`` stdout
holds only that output; tables, notes and file lists go to stdout only in table format, and anything
else (progress, where files went) to stderr.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sim.cli.progress import TaskProgress
from sim.cli.progress import wanted as progress_wanted
from sim.core.errors import CostsimError, ParameterError
from sim.core.pricing import Catalog
from sim.core.version import __version__
from sim.engine.choice import choose_engine, describe_choice
from sim.engine.compiler import catalog_for
from sim.output.rundir import default_out_dir, summary_json, write_run_folder
from sim.output.tables import (
    answered_by_legend,
    models_legend,
    routing_table,
    run_lines,
    summary_csv,
    summary_tables,
    time_tables,
)
from sim.run.executor import default_jobs, make_executor
from sim.run.precision import DEFAULT_MAX_TASKS, DEFAULT_MIN_TASKS, PrecisionRule
from sim.run.simulation import DEFAULT_CHUNK_TASKS, DEFAULT_REPLICATIONS, DEFAULT_TASKS, EXACT_TASKS_LIMIT, simulate
from sim.spec.loader import load_workflow
from sim.spec.templates import DEFAULT_TEMPLATE, TEMPLATES, write_template
from sim.spec.workflow import Workflow, iter_steps
from sim.stats.summary import summarize

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Simulate what an LLM agent will cost per task, as a distribution, for each model choice.",
)
stdout = Console()
if not stdout.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
    stdout = Console(width=120)
stderr = Console(stderr=True)


class TasksFile(str, Enum):
    csv = "csv"
    gz = "gz"
    none = "none"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


WorkflowArg = Annotated[Path, typer.Argument(help="The workflow file (YAML).", show_default=False, metavar="WORKFLOW")]
JobsOption = Annotated[int | None, typer.Option(
    "--jobs", "-j", help=f"Worker processes that run chunks of the work (default: all cores, {default_jobs()} here); "
                         "the results are the same for any number.", show_default=False)]
class EngineName(str, Enum):
    auto = "auto"
    des = "des"
    fast = "fast"


EngineOption = Annotated[EngineName, typer.Option(
    help="auto: the vectorised engine when it can run the workflow (no traffic), else the SimPy engine; des: "
         "the SimPy engine; fast: the vectorised engine. Both give the same results.")]
SchedulerOption = Annotated[str | None, typer.Option(
    help="Run the chunks on the Dask cluster whose scheduler listens at this address (tcp://HOST:8786; needs the "
         "distributed extra: pip install 'costsim\\[distributed]'); replaces --jobs.", show_default=False,
         metavar="ADDRESS")]


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CostsimError(f"--prices-date: expected a date like 2026-11-01, got {value!r}") from None


@app.command()
def run(
    workflow: WorkflowArg,
    tasks: Annotated[int | None, typer.Option("--tasks", "-n", min=1, help="Simulated tasks per alternative "
                                                 f"(default: {DEFAULT_TASKS:,}).", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Seed: the same seed gives the same results.")] = 0,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="What to print.")] = (
        OutputFormat.table
    ),
    out: Annotated[Path | None, typer.Option(help="Folder for the run's files (default: a new folder "
                                                     "under results/).", show_default=False)] = None,
    prices_date: Annotated[str | None, typer.Option(help="Use the catalog's prices of this date "
                                                            "(YYYY-MM-DD) (default: today).")] = None,
    replications: Annotated[int | None, typer.Option(min=1, help="With traffic: simulated horizons "
                                                        "(default: 20).", show_default=False)] = None,
    budget: Annotated[float | None, typer.Option(min=0, help="With traffic: report the probability that "
                                                    "the horizon's bill exceeds this many USD.")] = None,
    trace: Annotated[Path | None, typer.Option(help="Write one row per attempt to this file (.jsonl, or "
                                                  ".parquet with the parquet extra).")] = None,
    html_report: Annotated[bool, typer.Option("--report", help="Also write report.html (as costsim report "
                                                               "does).")] = False,
    tasks_file: Annotated[TasksFile, typer.Option(help="The per-task file: tasks.csv, gzip-compressed "
                                                  "tasks.csv.gz, or none.")] = TasksFile.csv,
    jobs: JobsOption = None,
    scheduler: SchedulerOption = None,
    engine: EngineOption = EngineName.auto,
    precision: Annotated[float | None, typer.Option(
        help="Instead of --tasks: add chunks of tasks until every alternative's mean cost has a 95% half-width "
             "within this share of it (0.01: ±1%).", show_default=False, metavar="SHARE")] = None,
    min_tasks: Annotated[int, typer.Option(help="With --precision: simulate at least this many tasks.")] = (
        DEFAULT_MIN_TASKS),
    max_tasks: Annotated[int, typer.Option(help="With --precision: stop at this many tasks even if the "
                                                "precision is not reached.")] = DEFAULT_MAX_TASKS,
    chunk_tasks: Annotated[int | None, typer.Option(
        help=f"Tasks per chunk: the unit of work of a worker, and where --precision checks its rule (default: "
             f"{DEFAULT_CHUNK_TASKS:,}; 100,000 on the vectorised engine without --precision). Results do not "
             "depend on it.", show_default=False)] = None,
    exact_tasks_limit: Annotated[int, typer.Option(help="Keep every task's record up to this many tasks; above "
                                                        "it keep merged statistics only (quantiles from a "
                                                        "sketch, no tasks file).")] = EXACT_TASKS_LIMIT,
) -> None:
    """Simulate every alternative of WORKFLOW on the same tasks and report cost per task."""
    spec = load_workflow(workflow)
    if spec.traffic is None and (replications is not None or budget is not None):
        raise CostsimError("--replications and --budget need a traffic: block in the workflow (tasks arriving "
                           "over a horizon); without it, use --tasks")
    if (chunk_tasks is not None and chunk_tasks < 1) or exact_tasks_limit < 1:
        raise CostsimError("--chunk-tasks and --exact-tasks-limit: expected 1 or more tasks")
    rule = None
    if precision is not None:
        if tasks is not None:
            raise CostsimError("--tasks and --precision exclude each other: with --precision, bound the run with "
                               "--min-tasks and --max-tasks")
        rule = PrecisionRule(precision, min_tasks, max_tasks)
        if spec.traffic is not None:
            raise CostsimError("--precision needs a workflow without traffic: with traffic each replication is "
                               "a whole horizon; set how many with --replications")
    tasks = DEFAULT_TASKS if tasks is None else tasks
    most = max_tasks if rule is not None else tasks
    if spec.traffic is None and most > exact_tasks_limit and html_report:
        raise CostsimError(f"--report needs the per-task file, which a run of more than {exact_tasks_limit:,} tasks "
                           "does not write (see --exact-tasks-limit)")
    if spec.traffic is not None:
        work, unit = replications or DEFAULT_REPLICATIONS, "replications"
    else:
        work, unit = most, "tasks"
    chosen = choose_engine(engine.value, spec, trace is not None)
    with make_executor(jobs, scheduler) as executor, TaskProgress(
            work, f"simulating {spec.name}", stderr, unit=unit,
            enabled=progress_wanted(machine_output=output_format is not OutputFormat.table)) as bar:
        result = simulate(spec, tasks, seed, replications=replications, prices_date=_date(prices_date),
                          trace=trace is not None, on_block=bar, executor=executor, chunk_tasks=chunk_tasks,
                          engine=chosen,
                          precision=rule, exact_tasks_limit=exact_tasks_limit)
    summary = summarize(result, budget)
    written = write_run_folder(result, out or default_out_dir(spec.name), summary=summary, workflow_file=workflow,
                               tasks_file=tasks_file.value, trace=trace, report=html_report)
    if output_format is OutputFormat.json:
        sys.stdout.write(summary_json(summary))
    elif output_format is OutputFormat.csv:
        sys.stdout.write(summary_csv(summary))
    else:
        routing = routing_table(summary)
        for table in [*summary_tables(summary), *([routing] if routing is not None else []), *time_tables(summary)]:
            stdout.print(table)
        stdout.print("models:\n" + "\n".join(models_legend(summary)), highlight=False)
        if routing is not None:
            stdout.print("answered by (calls per task):\n" + "\n".join(answered_by_legend(summary)), highlight=False)
        for entry in summary["alternatives"]:
            for note in entry["notes"]:
                stdout.print(f"[yellow]note[/] {entry['name']}: {note}")
        for line in [*run_lines(summary, tasks_file.value), describe_choice(engine.value, spec, trace is not None)]:
            stdout.print(line, highlight=False, markup=False)
    stderr.print(f"wrote {', '.join(str(path) for path in written.values())}", highlight=False, soft_wrap=True)


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A folder costsim run wrote (its --out).", show_default=False,
                                            metavar="RUN_DIR")],
    out: Annotated[Path | None, typer.Option(help="Where to write the HTML (default: RUN_DIR/report.html).",
                                                show_default=False)] = None,
) -> None:
    """Write one self-contained HTML report of a run: question, table, plots, workflow, metadata."""
    from sim.output.report import write_report

    path = write_report(run_dir, out)
    stderr.print(f"wrote {path}", highlight=False, soft_wrap=True)


@app.command()
def init(
    template: Annotated[str, typer.Argument(help="Which starting point: " + ", ".join(TEMPLATES) + ".",
                                            metavar="TEMPLATE")] = DEFAULT_TEMPLATE,
    path: Annotated[Path | None, typer.Argument(help="The new workflow file (default: TEMPLATE.yaml); a "
                                                        "folder gets TEMPLATE.yaml inside.", show_default=False,
                                                   metavar="PATH")] = None,
    list_templates: Annotated[bool, typer.Option("--list", help="List the templates and exit.")] = False,
) -> None:
    """Write a commented starting workflow (and the schema editors complete keys from)."""
    if list_templates:
        for name, entry in TEMPLATES.items():
            stdout.print(f"{name}: {entry.summary}", highlight=False)
        return
    written = write_template(template, path)
    stderr.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False, soft_wrap=True)
    stderr.print(f"next: costsim run {written[0]} --report", highlight=False, soft_wrap=True)


@app.command()
def validate(workflow: WorkflowArg) -> None:
    """Check WORKFLOW without running it: syntax, keys, types, roles, models."""
    spec = load_workflow(workflow)
    steps = sum(1 for _ in iter_steps(spec.steps))
    catalog = catalog_for(spec)
    models = sorted({ref if ref.startswith("route:") else catalog.resolve(ref).ref
                     for models in spec.alternative_models().values() for ref in models.values()})
    alternatives = len(spec.alternatives) + 1
    stdout.print(f"{workflow}: ok: {steps} step{'s' * (steps != 1)}, {alternatives} "
                 f"alternative{'s' * (alternatives != 1)}, models {', '.join(models)}", highlight=False, soft_wrap=True)


@app.command()
def prices(
    query: Annotated[str | None, typer.Argument(help="Only models whose provider:model contains this.")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
    workflow: Annotated[Path | None, typer.Option(help="Apply this workflow's prices: overrides.")] = None,
) -> None:
    """List catalog rates in USD per million tokens."""
    catalog = catalog_for(load_workflow(workflow)) if workflow else Catalog()
    found = catalog.search(query)
    if not found:
        raise CostsimError(f"no model matches {query!r}; try a shorter query, e.g. a provider name")
    fields = ("input", "output", "cache_read", "cache_write", "batch_input", "batch_output")
    rows = [{"model": rates.ref, **{f: _rate(getattr(rates, f)) for f in fields},
             "context_window_tokens": rates.context_window_tokens, "long_context_tiers": rates.has_tiers,
             "source": rates.source} for rates in found]
    if output_format is OutputFormat.json:
        sys.stdout.write(json.dumps({"catalog": catalog.catalog_version, "usd_per_million_tokens": rows},
                                    indent=2) + "\n")
        return
    if output_format is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
        return
    table = Table(title=f"USD per million tokens ({catalog.catalog_version}; * = higher tier above a length)",
                  title_justify="left")
    for header in ("model", "input", "output", "cache read", "cache write", "batch in", "batch out", "context"):
        table.add_column(header, justify="left" if header == "model" else "right")
    for rates, row in zip(found, rows):
        star = "*" if rates.has_tiers else ""
        table.add_row(row["model"], *(f"{row[f]:g}{star}" if row[f] is not None else "-" for f in fields),
                      f"{rates.context_window_tokens:,}" if rates.context_window_tokens else "-")
    stdout.print(table)


def _rate(rate) -> float | None:
    return None if rate is None else rate.base_usd_per_mtok


@app.command()
def schema() -> None:
    """Print the JSON Schema of workflow files (for editors and validators)."""
    sys.stdout.write(json.dumps(Workflow.model_json_schema(), indent=2) + "\n")


@app.command()
def breakeven(
    workflow: WorkflowArg,
    model: Annotated[str, typer.Option("--model", "-m", help="The self-hosted model: self:NAME, declared under "
                                                              "the workflow's self_hosted:.", show_default=False)],
    volumes: Annotated[str | None, typer.Option(help="Daily volumes: START:STOP:N, N log-spaced points "
                                                        "(default: 100:100000:12).", show_default=False)] = None,
    roles: Annotated[str | None, typer.Option(help="Put the self-hosted model only in these roles "
                                                      "(ROLE,ROLE) (default: every role).", show_default=False)] = None,
    replications: Annotated[int, typer.Option(min=1, help="Simulated horizons per volume.")] = 3,
    days: Annotated[float, typer.Option(min=0.001, help="Days per simulated horizon; bills are scaled to a "
                                                        "30-day month.")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Seed: the same seed gives the same results.")] = 0,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="What to print.")] = OutputFormat.table,
    out: Annotated[Path | None, typer.Option(help="Folder for breakeven.json, .csv, .png and .svg (default: a "
                                                     "new folder under results/).", show_default=False)] = None,
    prices_date: Annotated[str | None, typer.Option(help="Use the catalog's prices of this date "
                                                            "(YYYY-MM-DD) (default: today).")] = None,
    jobs: JobsOption = None,
    scheduler: SchedulerOption = None,
    engine: EngineOption = EngineName.auto,
) -> None:
    """Sweep daily volume: where does self-hosting MODEL become cheaper than each API alternative?"""
    from sim.analysis import breakeven as be
    from sim.core.files import atomic_write, atomic_write_text
    from sim.output import breakeven as be_view
    from sim.output.plots import breakeven_plot

    spec = load_workflow(workflow)
    grid = be.parse_volumes(volumes)
    chosen = [role.strip() for role in roles.split(",") if role.strip()] if roles else None
    chosen_engine = choose_engine(engine.value, spec)
    with make_executor(jobs, scheduler) as executor, stderr.status("simulating") as status:
        report = be.breakeven(spec, model, grid, chosen, replications, seed, days, _date(prices_date),
                              on_volume=lambda v: status.update(f"simulating {v:,.0f} tasks/day"),
                              executor=executor, engine=chosen_engine)
    report["metadata"]["workflow_file"] = str(workflow)
    out_dir = out or default_out_dir(f"{spec.name}-breakeven")
    written = [out_dir / name for name in ("breakeven.json", "breakeven.csv", "breakeven.png", "breakeven.svg")]
    atomic_write_text(written[0], summary_json(report))
    atomic_write_text(written[1], be_view.breakeven_csv(report))
    for path in written[2:]:
        atomic_write(path, lambda tmp, fmt=path.suffix[1:]: breakeven_plot(report, tmp, fmt))
    if output_format is OutputFormat.json:
        sys.stdout.write(summary_json(report))
    elif output_format is OutputFormat.csv:
        sys.stdout.write(be_view.breakeven_csv(report))
    else:
        for table in be_view.breakeven_tables(report):
            stdout.print(table)
        for line in be_view.capacity_lines(report):
            stdout.print(line, highlight=False)
    stderr.print(f"wrote {', '.join(str(path) for path in written)}", highlight=False)


@app.command()
def stress(
    workflow: WorkflowArg,
    vary: Annotated[list[str], typer.Option(
        "--vary", help="PATH=START:STOP:N (N evenly spaced values) or PATH=V1,V2,...; repeat it for a grid of "
                       "every combination. PATH names a number of the workflow: keys by name "
                       "(retry.max_attempts, prices.acme:x.input), a step by its id (steps.search.fail).",
        show_default=False, metavar="PATH=START:STOP:N")],
    tasks: Annotated[int, typer.Option("--tasks", "-n", min=1, help="Simulated tasks per alternative and grid "
                                                                    "point.")] = 2_000,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Seed: the same seed gives the same results "
                                                                  "(and the same tasks at every point).")] = 0,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="What to print.")] = OutputFormat.table,
    out: Annotated[Path | None, typer.Option(help="Folder for stress.json, .csv and the plot (.png, .svg) "
                                                     "(default: a new folder under results/).",
                                                show_default=False)] = None,
    prices_date: Annotated[str | None, typer.Option(help="Use the catalog's prices of this date "
                                                            "(YYYY-MM-DD) (default: today).")] = None,
    replications: Annotated[int | None, typer.Option(min=1, help="With traffic: simulated horizons per grid "
                                                        "point (default: 5).", show_default=False)] = None,
    jobs: JobsOption = None,
    scheduler: SchedulerOption = None,
    engine: EngineOption = EngineName.auto,
) -> None:
    """Sweep numbers of WORKFLOW over a grid: cost, tail, success, amplification and runaway tasks per point."""
    from sim.analysis import stress as sweep
    from sim.output import stress as sweep_view

    spec = load_workflow(workflow)
    plan = sweep.plan_stress(spec, [sweep.parse_vary(text) for text in vary], tasks, seed,
                             replications=replications, prices_date=_date(prices_date))
    with make_executor(jobs, scheduler) as executor, TaskProgress(
            plan.work, f"stress {spec.name}", stderr, unit=plan.unit,
            enabled=progress_wanted(machine_output=output_format is not OutputFormat.table)) as bar:
        report = sweep.run_stress(plan, on_progress=bar, executor=executor, engine=choose_engine(engine.value, spec))
    report["metadata"]["workflow_file"] = str(workflow)
    _write_and_show(report, out or default_out_dir(f"{spec.name}-stress"), "stress", sweep_view.stress_csv(report),
                    sweep_view.figures(report), sweep_view.stress_table(report), sweep_view.legend_lines(report),
                    output_format)


@app.command()
def sensitivity(
    workflow: WorkflowArg,
    delta: Annotated[float, typer.Option(help="Move each input down and up by this share (0.2: ±20%).")] = 0.2,
    alternative: Annotated[str, typer.Option(help="Whose cost per task to rank inputs by.")] = "baseline",
    tasks: Annotated[int, typer.Option("--tasks", "-n", min=1, help="Simulated tasks per run.")] = 2_000,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Seed: the same seed gives the same results "
                                                                  "(and the same tasks in every run).")] = 0,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="What to print.")] = OutputFormat.table,
    out: Annotated[Path | None, typer.Option(help="Folder for sensitivity.json, .csv and the tornado plot "
                                                     "(.png, .svg) (default: a new folder under results/).",
                                                show_default=False)] = None,
    prices_date: Annotated[str | None, typer.Option(help="Use the catalog's prices of this date "
                                                            "(YYYY-MM-DD) (default: today).")] = None,
    replications: Annotated[int | None, typer.Option(min=1, help="With traffic: simulated horizons per run "
                                                        "(default: 5).", show_default=False)] = None,
    jobs: JobsOption = None,
    scheduler: SchedulerOption = None,
    engine: EngineOption = EngineName.auto,
) -> None:
    """Rank the numbers of WORKFLOW by how much the cost per task moves when each moves by ±delta."""
    from sim.analysis import sensitivity as sens
    from sim.output import sensitivity as sens_view

    spec = load_workflow(workflow)
    plan = sens.plan_sensitivity(spec, delta, tasks, seed, alternative=alternative, replications=replications,
                                 prices_date=_date(prices_date))
    with make_executor(jobs, scheduler) as executor, TaskProgress(
            plan.work, f"sensitivity {spec.name}", stderr, unit=plan.unit,
            enabled=progress_wanted(machine_output=output_format is not OutputFormat.table)) as bar:
        report = sens.run_sensitivity(plan, on_progress=bar, executor=executor,
                                      engine=choose_engine(engine.value, spec))
    report["metadata"]["workflow_file"] = str(workflow)
    _write_and_show(report, out or default_out_dir(f"{spec.name}-sensitivity"), "sensitivity",
                    sens_view.sensitivity_csv(report), [("tornado", sens_view.tornado(report))],
                    sens_view.sensitivity_table(report),
                    sens_view.note_lines(report), output_format)


def _write_and_show(report: dict, out_dir: Path, name: str, csv_text: str, figures, table: Table,
                    lines: list[str], output_format: OutputFormat) -> None:
    """A sweep's files (NAME.json, NAME.csv, its figures as PNG and SVG), then the report on stdout in
    the format asked for, and where the files went on stderr."""
    from sim.core.files import atomic_write_text
    from sim.output.plots import write_figure

    written = [out_dir / f"{name}.json", out_dir / f"{name}.csv"]
    atomic_write_text(written[0], summary_json(report))
    atomic_write_text(written[1], csv_text)
    for stem, figure in figures:
        written.extend(write_figure(figure, out_dir / stem).values())
    if output_format is OutputFormat.json:
        sys.stdout.write(summary_json(report))
    elif output_format is OutputFormat.csv:
        sys.stdout.write(csv_text)
    else:
        stdout.print(table)
        for line in lines:
            stdout.print(line, highlight=False, markup=False)
    stderr.print(f"wrote {', '.join(str(path) for path in written)}", highlight=False, soft_wrap=True)


@app.callback(invoke_without_command=True)
def _version(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        stdout.print(f"costsim {__version__}")
        raise typer.Exit()


#: The flag that feeds each library parameter a ParameterError may name (PrecisionRule's ``target`` is
#: --precision's share).
FLAG_OF_PARAMETER = {
    "alternative": "--alternative", "days": "--days", "delta": "--delta", "engine": "--engine", "jobs": "--jobs",
    "max_tasks": "--max-tasks", "min_tasks": "--min-tasks", "model": "--model", "precision": "--precision",
    "replications": "--replications", "roles": "--roles", "scheduler": "--scheduler", "target": "--precision",
    "tasks": "--tasks", "tasks_file": "--tasks-file", "trace": "--trace", "vary": "--vary", "volumes": "--volumes",
}


def error_message(exc: CostsimError) -> str:
    """What the command line says for a library error: parameters named as the flags that feed them."""
    return exc.with_flags(FLAG_OF_PARAMETER.get) if isinstance(exc, ParameterError) else exc.message


def main() -> None:
    """Entry point: run the app, turning every CostsimError into a message and exit code 2."""
    try:
        app(standalone_mode=False)
    except CostsimError as exc:
        # The message quotes the user's file: print it as plain text, never as rich markup or emoji.
        stderr.print("[bold red]error[/]: ", end="", highlight=False)
        stderr.print(error_message(exc), markup=False, emoji=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        _show_usage_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        stderr.print("aborted")
        sys.exit(130)


def _show_usage_error(exc: Exception) -> None:
    """Show a usage error the way typer does in standalone mode (a rich panel), or plainly."""
    try:
        from typer.rich_utils import rich_format_error

        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
        else:
            rich_format_error(exc)
    except ImportError:
        exc.show()
