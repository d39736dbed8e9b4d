"""The commands about one run and its files: ``run``, ``report``, ``init``, ``validate``, ``prices``,
``schema``."""

# No `from __future__ import annotations` in a module of commands: typer reads every command's annotations
# at each start, and evaluates string annotations twice per command (typer.utils.get_params_from_function):
# 15 to 20 ms of every command (issue 14; benchmarks/README.md). tests/test_fast_paths.py holds it.

import csv
import functools
import io
import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from sim.cli.shared import (
    EngineName,
    EngineOption,
    JobsOption,
    OutputFormat,
    SchedulerOption,
    TasksFile,
    WorkflowArg,
    app,
    capped_jobs,
    describe_choice,
    parse_date,
    print_line,
    stderr,
    stdout,
    wide_stdout,
)
from sim.core.errors import CostsimError
from sim.core.seeds import SEEDS
from sim.run.defaults import (
    DEFAULT_CHUNK_TASKS,
    DEFAULT_MAX_TASKS,
    DEFAULT_MIN_TASKS,
    DEFAULT_TASKS,
    EXACT_TASKS_LIMIT,
)
from sim.spec.templates import DEFAULT_TEMPLATE, TEMPLATES

# Each command imports what it runs when it runs (``--help`` and ``validate`` load no engine, no SciPy, no
# matplotlib); the module level holds only what the commands' signatures show.


@app.command()
def run(
    workflow: WorkflowArg,
    tasks: Annotated[int | None, typer.Option("--tasks", "-n", min=1, help="Simulated tasks per alternative "
                                                 f"(default: {DEFAULT_TASKS:,}).", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, max=SEEDS - 1,
                                      help="Seed (0 to 2^64 - 1): the same seed gives the same results.")] = 0,
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
             f"{DEFAULT_CHUNK_TASKS:,}; 100,000 on the vectorised engine without --precision, and on workers "
             "down to 5,000 for at least 4 chunks a worker). Results do not depend on it.",
        show_default=False)] = None,
    exact_tasks_limit: Annotated[int, typer.Option(help="Keep every task's record up to this many tasks; above "
                                                        "it keep merged statistics only (quantiles from a "
                                                        "sketch, no tasks file); with traffic, the expected "
                                                        "tasks of all replications.")] = EXACT_TASKS_LIMIT,
) -> None:
    """Simulate every alternative of WORKFLOW on the same tasks and report cost per task."""
    from sim.output.plot_helper import PlotHelper

    plotter = PlotHelper.start()  # loads matplotlib while the run goes on, then draws its plot
    from sim.run.defaults import DEFAULT_REPLICATIONS
    from sim.run.executor import make_executor, warm_for
    from sim.run.workload import MAX_CALLS, check_workload, estimate, rough_calls
    from sim.spec.loader import load_workflow

    # What loads NumPy, SciPy and the engines comes after the workflow is read: a run long enough for worker
    # processes starts their fork server first (warm_for), which imports the same while this process does.
    try:  # the workflow as run: its bytes now, copied into the run folder whatever happens to the file later
        workflow_bytes = workflow.read_bytes()
    except OSError:
        workflow_bytes = None  # load_workflow says what is wrong
    spec = load_workflow(workflow)
    if spec.traffic is None and (replications is not None or budget is not None):
        raise CostsimError("--replications and --budget need a traffic: block in the workflow (tasks arriving "
                           "over a horizon); without it, use --tasks")
    if budget is not None and not math.isfinite(budget):
        raise CostsimError(f"--budget: expected a finite number of USD, got {budget}")
    if (chunk_tasks is not None and chunk_tasks < 1) or exact_tasks_limit < 1:
        raise CostsimError("--chunk-tasks and --exact-tasks-limit: expected 1 or more tasks")
    rule = None
    if precision is not None:
        if tasks is not None:
            raise CostsimError("--tasks and --precision exclude each other: with --precision, bound the run with "
                               "--min-tasks and --max-tasks")
        from sim.run.precision import PrecisionRule

        rule = PrecisionRule(precision, min_tasks, max_tasks)
        if spec.traffic is not None:
            raise CostsimError("--precision needs a workflow without traffic: with traffic each replication is "
                               "a whole horizon; set how many with --replications")
    tasks = DEFAULT_TASKS if tasks is None else tasks
    most = max_tasks if rule is not None else tasks
    jobs = capped_jobs(jobs)
    rough = rough_calls(spec, most, replications or DEFAULT_REPLICATIONS)
    # a pool of workers for a run long enough (where they cannot fork from here, its fork server starts now)
    pooled = scheduler is None and rough <= MAX_CALLS and warm_for(rough, jobs)
    check_workload(spec, most, replications or DEFAULT_REPLICATIONS)  # refuses too much
    from sim.cli.progress import TaskProgress
    from sim.cli.progress import wanted as progress_wanted
    from sim.engine.choice import choose_engine
    from sim.output.rundir import check_out_dir, check_trace, default_out_dir, write_run_folder
    from sim.run.simulation import simulate
    from sim.stats.summary import summarize

    if html_report and estimate(spec, most, replications or DEFAULT_REPLICATIONS).tasks > exact_tasks_limit:
        raise CostsimError(f"--report needs the per-task file, which a run of more than {exact_tasks_limit:,} tasks "
                           "(with traffic: expected, over all replications) does not write (see --exact-tasks-limit)")
    if spec.traffic is not None:
        work, unit = replications or DEFAULT_REPLICATIONS, "replications"
    else:
        work, unit = most, "tasks"
    chosen = choose_engine(engine.value, spec, trace is not None)
    out_dir = out or default_out_dir(spec.name)
    check_out_dir(out_dir)  # before simulating: a folder the run may not replace is refused at once
    check_trace(trace)
    with make_executor(jobs, scheduler) as executor:  # its workers also format a large tasks file
        if pooled:
            executor.start()  # forked now, holding what this process loaded, before the progress bar's thread
        with TaskProgress(work, f"simulating {spec.name}", stderr, unit=unit,
                          enabled=progress_wanted(machine_output=output_format is not OutputFormat.table)) as bar:
            result = simulate(spec, tasks, seed, replications=replications, prices_date=parse_date(prices_date),
                              trace=trace is not None, on_block=bar, executor=executor, chunk_tasks=chunk_tasks,
                              engine=chosen,
                              precision=rule, exact_tasks_limit=exact_tasks_limit)
        @functools.cache
        def summary() -> dict:  # made once: while the workers write a large tasks file (write_run_folder), or here
            made = summarize(result, budget)
            for warning in made.get("warnings", ()):
                stderr.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
            return made

        if _fit_uncertainty_wanted(spec, result):
            from sim.calibration.uncertainty import fit_uncertainty

            resamples = spec.calibration.resamples
            with TaskProgress(resamples, "resampling the traced tasks", stderr, unit="resamples",
                              enabled=progress_wanted(machine_output=output_format is not OutputFormat.table)) as bar:
                uncertainty = fit_uncertainty(spec, result, seed, engine=chosen,
                                              prices_date=parse_date(prices_date), on_resample=bar)
            summary()["calibration"] = uncertainty.as_dict()
        shown = []
        stdout_failed: list[OSError] = []  # stdout's reader left (| head) or stdout is full: after the folder

        def show() -> None:  # once: while the plot is drawn (before_plot), or before the error if the folder fails
            if not shown:
                shown.append(True)
                try:
                    _show_run(summary(), output_format, tasks_file.value,
                              describe_choice(engine.value, spec, trace is not None))
                except OSError as exc:  # not the folder's failure: the folder is still written, then this raised
                    stdout_failed.append(exc)

        try:
            written = write_run_folder(result, out_dir, summary=summary, workflow_file=workflow,
                                       workflow_bytes=workflow_bytes, tasks_file=tasks_file.value, trace=trace,
                                       report=html_report, executor=executor, plotter=plotter, before_plot=show)
        except CostsimError:  # the folder could not be written: show what was computed all the same
            show()
            raise
        if stdout_failed:
            raise stdout_failed[0]
    if plotter is not None:
        plotter.close()  # on an error, the command line's exit stops it (sim.output.plot_helper.stop_all)
    stderr.print(f"wrote {', '.join(str(path) for path in written.values())}", highlight=False, soft_wrap=True)


def _show_run(summary: dict, output_format: OutputFormat, tasks_file: str, engine_line: str) -> None:
    """A run's summary on stdout, in the format asked for."""
    from sim.output.rundir import summary_json
    from sim.output.tables import (
        answered_by_legend,
        models_legend,
        routing_table,
        run_lines,
        summary_csv,
        summary_tables,
        time_tables,
    )

    if output_format is OutputFormat.json:
        sys.stdout.write(summary_json(summary))
    elif output_format is OutputFormat.csv:
        sys.stdout.write(summary_csv(summary))
    else:
        routing = routing_table(summary)
        for table in [*summary_tables(summary), *([routing] if routing is not None else []), *time_tables(summary)]:
            stdout.print(table)
        if "calibration" in summary:
            from sim.output.calibration_views import fit_uncertainty_table

            stdout.print(fit_uncertainty_table(summary["calibration"]))
        stdout.print("models:\n" + "\n".join(models_legend(summary)), highlight=False)
        if routing is not None:
            stdout.print("answered by (calls per task):\n" + "\n".join(answered_by_legend(summary)), highlight=False)
        for entry in summary["alternatives"]:
            for note in entry["notes"]:
                stdout.print(f"[yellow]note[/] {entry['name']}: {note}")
        for line in [*run_lines(summary, tasks_file), engine_line]:
            stdout.print(line, highlight=False, markup=False)


def _fit_uncertainty_wanted(spec, result) -> bool:
    """A calibrated workflow, resamples asked for, and per-task columns to combine (no traffic)."""
    return (spec.calibration is not None and spec.calibration.resamples > 0 and spec.traffic is None
            and all(run.tasks is not None for run in result.alternatives))


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A folder costsim run wrote (its --out).", show_default=False,
                                            metavar="RUN_DIR")],
    out: Annotated[Path | None, typer.Option(help="Where to write the HTML (default: RUN_DIR/report.html).",
                                                show_default=False)] = None,
) -> None:
    """Write one self-contained HTML report of a run: question, table, plots, workflow, metadata."""
    from sim.output.report import write_report

    if out is not None and out.is_dir():
        raise CostsimError(f"--out {out}: is a folder; give a file name such as {out / 'report.html'}")
    path = write_report(run_dir, out)
    stderr.print(f"wrote {path}", highlight=False, soft_wrap=True)


@app.command()
def init(
    template: Annotated[str, typer.Argument(help="Which starting point: " + ", ".join(TEMPLATES) + ".",
                                            metavar="TEMPLATE")] = DEFAULT_TEMPLATE,
    path: Annotated[str | None, typer.Argument(help="The new workflow file (default: TEMPLATE.yaml); a "
                                                       "folder (or a new one written DIR/) gets TEMPLATE.yaml "
                                                       "inside.", show_default=False, metavar="PATH")] = None,
    list_templates: Annotated[bool, typer.Option("--list", help="List the templates and exit.")] = False,
) -> None:
    """Write a commented starting workflow (and the schema editors complete keys from)."""
    from sim.spec.schema import schema_text
    from sim.spec.templates import SCHEMA_FILE, write_template

    if list_templates:
        for name, entry in TEMPLATES.items():
            stdout.print(f"{name}: {entry.summary}", highlight=False)
        return
    written = write_template(template, path)
    stderr.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False, soft_wrap=True)
    if len(written) == 1:  # the folder has a schema already: init never overwrites a file
        schema_path = written[0].parent / SCHEMA_FILE
        same = schema_path.is_file() and schema_path.read_text(encoding="utf-8", errors="replace") == schema_text()
        stderr.print(f"kept {schema_path}" + ("" if same else f" as it was (it is not this costsim's schema; "
                     f"costsim schema > {schema_path} replaces it)"), highlight=False, soft_wrap=True)
    stderr.print(f"next: costsim run {written[0]} --report", highlight=False, soft_wrap=True)


@app.command()
def validate(workflow: WorkflowArg) -> None:
    """Check WORKFLOW without running it: syntax, keys, types, roles, models."""
    from sim.spec.catalog import catalog_for
    from sim.spec.loader import load_workflow
    from sim.spec.workflow import iter_steps

    spec = load_workflow(workflow)
    steps = sum(1 for _ in iter_steps(spec.steps))
    catalog = catalog_for(spec)
    models = sorted({ref if ref.startswith("route:") else catalog.resolve(ref).ref
                     for models in spec.alternative_models().values() for ref in models.values()})
    alternatives = len(spec.alternatives) + 1
    print_line(f"{workflow}: ok: {steps} step{'s' * (steps != 1)}, {alternatives} "
               f"alternative{'s' * (alternatives != 1)}, models {', '.join(models)}")


@app.command()
def prices(
    query: Annotated[str | None, typer.Argument(help="Only models whose provider:model contains this.")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
    workflow: Annotated[Path | None, typer.Option(help="Apply this workflow's prices: overrides.")] = None,
) -> None:
    """List catalog rates in USD per million tokens."""
    from rich.table import Table

    from sim.core.pricing import Catalog
    from sim.spec.catalog import catalog_for
    from sim.spec.loader import load_workflow

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
    # Piped or redirected, a model id is never cut ("…"): it is what the reader copies into a workflow.
    piped = not stdout.is_terminal
    for header in ("model", "input", "output", "cache read", "cache write", "batch in", "batch out", "context"):
        table.add_column(header, justify="left" if header == "model" else "right",
                         no_wrap=piped and header == "model")
    for rates, row in zip(found, rows):
        star = "*" if rates.has_tiers else ""
        table.add_row(row["model"], *(f"{row[f]:g}{star}" if row[f] is not None else "-" for f in fields),
                      f"{rates.context_window_tokens:,}" if rates.context_window_tokens else "-")
    longest = max(len(row["model"]) for row in rows)
    (wide_stdout(longest + PRICES_COLUMNS_WIDTH) if piped else stdout).print(table)


#: Room for the prices table's columns other than the model id, borders included (7 numbers of at most
#: 11 characters and their padding), so that a piped table fits the longest id whole.
PRICES_COLUMNS_WIDTH = 7 * 14 + 4


def _rate(rate) -> float | None:
    return None if rate is None else rate.base_usd_per_mtok


@app.command()
def schema() -> None:
    """Print the JSON Schema of workflow files (for editors and validators)."""
    from sim.spec.schema import schema_text

    sys.stdout.write(schema_text())
