"""The commands that ask a question of many runs: ``breakeven``, ``stress``, ``sensitivity``."""

# No `from __future__ import annotations` in a module of commands: typer reads every command's annotations
# at each start, and evaluates string annotations twice per command (typer.utils.get_params_from_function):
# 15 to 20 ms of every command (issue 14; benchmarks/README.md). tests/test_fast_paths.py holds it.

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
    WorkflowArg,
    app,
    capped_jobs,
    parse_date,
    stderr,
    stdout,
    write_and_show,
    write_then_show,
)
from sim.core.seeds import SEEDS


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
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, max=SEEDS - 1,
                                      help="Seed (0 to 2^64 - 1): the same seed gives the same results.")] = 0,
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
    from sim.engine.choice import choose_engine
    from sim.output import breakeven as be_view
    from sim.output.plots import breakeven_plot
    from sim.output.rundir import check_out_dir, default_out_dir, summary_json
    from sim.run.executor import make_executor
    from sim.spec.loader import load_workflow

    spec = load_workflow(workflow)
    if out is not None:
        check_out_dir(out)  # before the work: a folder the files may not replace is refused at once
    grid = be.parse_volumes(volumes)
    chosen = [role.strip() for role in roles.split(",") if role.strip()] if roles else None
    chosen_engine = choose_engine(engine.value, spec)
    with make_executor(capped_jobs(jobs), scheduler) as executor, stderr.status("simulating") as status:
        report = be.breakeven(spec, model, grid, chosen, replications, seed, days, parse_date(prices_date),
                              on_volume=lambda v: status.update(f"simulating {v:,.0f} tasks/day"),
                              executor=executor, engine=chosen_engine)
    report["metadata"]["workflow_file"] = str(workflow)
    out_dir = out or default_out_dir(f"{spec.name}-breakeven")
    files = {"breakeven.json": lambda tmp: tmp.write_text(summary_json(report), encoding="utf-8"),
             "breakeven.csv": lambda tmp: tmp.write_text(be_view.breakeven_csv(report), encoding="utf-8")}
    for fmt in ("png", "svg"):
        files[f"breakeven.{fmt}"] = lambda tmp, fmt=fmt: breakeven_plot(report, tmp, fmt)

    def show() -> None:
        if output_format is OutputFormat.json:
            sys.stdout.write(summary_json(report))
        elif output_format is OutputFormat.csv:
            sys.stdout.write(be_view.breakeven_csv(report))
        else:
            for table in be_view.breakeven_tables(report):
                stdout.print(table)
            for line in be_view.capacity_lines(report):
                stdout.print(line, highlight=False)

    write_then_show(out_dir, report, files, show)


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
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, max=SEEDS - 1,
                                      help="Seed (0 to 2^64 - 1): the same seed gives the same results "
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
    from sim.cli.progress import TaskProgress
    from sim.cli.progress import wanted as progress_wanted
    from sim.engine.choice import choose_engine
    from sim.output import stress as sweep_view
    from sim.output.rundir import check_out_dir, default_out_dir
    from sim.run.executor import make_executor
    from sim.spec.loader import load_workflow

    spec = load_workflow(workflow)
    if out is not None:
        check_out_dir(out)  # before the work: a folder the files may not replace is refused at once
    plan = sweep.plan_stress(spec, [sweep.parse_vary(text) for text in vary], tasks, seed,
                             replications=replications, prices_date=parse_date(prices_date))
    with make_executor(capped_jobs(jobs), scheduler) as executor, TaskProgress(
            plan.work, f"stress {spec.name}", stderr, unit=plan.unit,
            enabled=progress_wanted(machine_output=output_format is not OutputFormat.table)) as bar:
        report = sweep.run_stress(plan, on_progress=bar, executor=executor, engine=choose_engine(engine.value, spec))
    report["metadata"]["workflow_file"] = str(workflow)
    write_and_show(report, out or default_out_dir(f"{spec.name}-stress"), "stress", sweep_view.stress_csv(report),
                    sweep_view.figures(report), sweep_view.stress_table(report), sweep_view.legend_lines(report),
                    output_format)


@app.command()
def sensitivity(
    workflow: WorkflowArg,
    delta: Annotated[float, typer.Option(help="Move each input down and up by this share (0.2: ±20%).")] = 0.2,
    alternative: Annotated[str, typer.Option(help="Whose cost per task to rank inputs by.")] = "baseline",
    tasks: Annotated[int, typer.Option("--tasks", "-n", min=1, help="Simulated tasks per run.")] = 2_000,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, max=SEEDS - 1,
                                      help="Seed (0 to 2^64 - 1): the same seed gives the same results "
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
    from sim.cli.progress import TaskProgress
    from sim.cli.progress import wanted as progress_wanted
    from sim.engine.choice import choose_engine
    from sim.output import sensitivity as sens_view
    from sim.output.rundir import check_out_dir, default_out_dir
    from sim.run.executor import make_executor
    from sim.spec.loader import load_workflow

    spec = load_workflow(workflow)
    if out is not None:
        check_out_dir(out)  # before the work: a folder the files may not replace is refused at once
    plan = sens.plan_sensitivity(spec, delta, tasks, seed, alternative=alternative, replications=replications,
                                 prices_date=parse_date(prices_date))
    with make_executor(capped_jobs(jobs), scheduler) as executor, TaskProgress(
            plan.work, f"sensitivity {spec.name}", stderr, unit=plan.unit,
            enabled=progress_wanted(machine_output=output_format is not OutputFormat.table)) as bar:
        report = sens.run_sensitivity(plan, on_progress=bar, executor=executor,
                                      engine=choose_engine(engine.value, spec))
    report["metadata"]["workflow_file"] = str(workflow)
    write_and_show(report, out or default_out_dir(f"{spec.name}-sensitivity"), "sensitivity",
                    sens_view.sensitivity_csv(report), [("tornado", sens_view.tornado(report))],
                    sens_view.sensitivity_table(report),
                    sens_view.note_lines(report), output_format)
