"""The commands that tie forecasts to traces of a real agent: ``calibrate`` and ``backtest``."""

# No `from __future__ import annotations` in a module of commands: typer reads every command's annotations
# at each start, and evaluates string annotations twice per command (typer.utils.get_params_from_function):
# 15 to 20 ms of every command (issue 14; benchmarks/README.md). tests/test_fast_paths.py holds it.

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from sim.cli.shared import EngineName, EngineOption, OutputFormat, app, parse_date, stderr, stdout
from sim.core.errors import CostsimError
from sim.core.seeds import SEEDS

#: The first words of every file ``costsim calibrate`` writes: the mark that lets it replace one.
CALIBRATED_MARK = "# Calibrated by costsim"


class GroupBy(str, Enum):
    trace = "trace"
    conversation = "conversation"


TracesArg = Annotated[list[Path], typer.Argument(help="Trace files: OpenTelemetry GenAI spans as OTLP JSON (what "
                                                      "the Collector's file exporter writes), or costsim --trace "
                                                      "output (JSON Lines or Parquet).", show_default=False)]
GroupByOption = Annotated[GroupBy, typer.Option("--group-by", help="One task per trace id, or per "
                                                                   "gen_ai.conversation.id.")]
SeedOption = Annotated[int, typer.Option("--seed", "-s", min=0, max=SEEDS - 1,
                                         help="Seed (0 to 2^64 - 1): the same seed gives the same results.")]


@app.command()
def calibrate(
    traces: TracesArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="The fitted workflow file to write.", show_default=False)],
    name: Annotated[str, typer.Option(help="The fitted workflow's name.")] = "calibrated-agent",
    group_by: GroupByOption = GroupBy.trace,
    resamples: Annotated[int, typer.Option(min=0, max=10_000, help="Bootstrap resamples costsim run makes of the "
                                                                   "traced tasks (0: no fit uncertainty).")] = 200,
    seed: SeedOption = 0,
    prices_date: Annotated[str | None, typer.Option(help="Price the traces with the catalog of this date "
                                                            "(YYYY-MM-DD) (default: today).")] = None,
) -> None:
    """Fit a workflow to traces of a real agent (its calls, tool calls, user turns, failures), check it in
    sample, and write it to OUT: a workflow to edit and run like any other."""
    from sim.calibration.backtest import backtest
    from sim.calibration.document import calibrated_yaml
    from sim.calibration.fit import calibrate as fit
    from sim.calibration.traces import read_traces
    from sim.core.files import atomic_write_text
    from sim.core.pricing import Catalog
    from sim.spec.workflow import Workflow

    _check_out(out)
    traced = read_traces(traces, group_by=group_by.value)
    date = parse_date(prices_date)
    calibration = fit(traced, name=name, catalog=Catalog(prices_date=date), resamples=resamples)
    workflow = Workflow.model_validate(calibration.workflow)  # as written below; no need to parse it back
    check = backtest(workflow, traced, tasks=10_000, seed=seed, prices_date=date, resamples=0).as_dict()
    calibration.header[-4:-4] = ["", "In sample (the fitted workflow, 10,000 simulated tasks, against the traces):",
                                 *(f"  {key}: forecast {_plain(check['forecast'][key])}, traced "
                                   f"{_plain(check['actual'][key])}" + _relative(error["relative_error"])
                                   for key, error in check["errors"].items()), ""]
    text = calibrated_yaml(calibration)
    atomic_write_text(out, text)
    from sim.output.calibration_views import backtest_table

    stdout.print(backtest_table({**check, "forecast": {**check["forecast"], "alternative": "in sample"}}))
    counts = calibration.counts
    stdout.print(f"{len(calibration.evidence):,} traced tasks ({traced.format}); model calls failed "
                 f"{counts.llm_failed:,} of {counts.llm_attempts:,} attempts, tool calls {counts.tool_failed:,} of "
                 f"{counts.tool_attempts:,}; {sum(e.unbilled_errors for e in calibration.evidence):,} errored "
                 "attempts recorded no usage (not billed)", highlight=False, markup=False)
    for reason, count in sorted(traced.skipped.items()):
        stdout.print(f"not used: {count:,} {reason}", highlight=False, markup=False)
    stderr.print(f"wrote {out}", highlight=False, soft_wrap=True)
    stderr.print(f"next: costsim run {out}   (add alternatives with other models first, to compare)",
                 highlight=False, soft_wrap=True)


def _plain(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _relative(value: float | None) -> str:
    return "" if value is None else f" ({value:+.1%})"


def _check_out(out: Path) -> None:
    """costsim replaces only a file it wrote: refuse a folder, or a file that does not start with its mark."""
    if out.is_dir():
        raise CostsimError(f"{out}: is a folder; --out names the workflow file to write")
    if out.exists():
        try:
            head = out.read_text(encoding="utf-8", errors="replace")[:len(CALIBRATED_MARK)]
        except OSError as exc:
            raise CostsimError(f"{out}: cannot read it ({exc.strerror})") from None
        if head != CALIBRATED_MARK:
            raise CostsimError(f"{out}: exists and was not written by costsim calibrate; give another --out or "
                               "remove it")
    if not out.parent.exists():
        raise CostsimError(f"{out.parent}: no such folder")


@app.command()
def backtest(
    workflow: Annotated[Path, typer.Argument(help="The workflow to test (usually one costsim calibrate wrote).",
                                             show_default=False)],
    traces: TracesArg,
    tasks: Annotated[int, typer.Option("--tasks", "-n", min=100, max=10_000_000,
                                       help="Tasks to simulate for the forecast.")] = 10_000,
    alternative: Annotated[str | None, typer.Option(help="The alternative to compare (default: the baseline).",
                                                    show_default=False)] = None,
    group_by: GroupByOption = GroupBy.trace,
    resamples: Annotated[int | None, typer.Option(min=0, max=10_000, help="Bootstrap resamples for the fit's "
                                                  "uncertainty (default: the file's calibration.resamples).",
                                                  show_default=False)] = None,
    seed: SeedOption = 0,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="What to print.")] = OutputFormat.table,
    plot: Annotated[Path | None, typer.Option(help="Also write the two distributions of cost per task as an image "
                                                   "(.png or .svg).", show_default=False)] = None,
    prices_date: Annotated[str | None, typer.Option(help="Use the catalog's prices of this date (YYYY-MM-DD) "
                                                            "(default: today).")] = None,
    engine: EngineOption = EngineName.auto,
) -> None:
    """Forecast against actual: WORKFLOW's forecast next to traced tasks it was not fitted on, each figure
    with a 95% prediction interval for the mean (or quantile) of that many tasks."""
    from sim.calibration.backtest import backtest as run_backtest
    from sim.calibration.traces import read_traces
    from sim.engine.choice import choose_engine
    from sim.output.rundir import summary_json
    from sim.spec.loader import load_workflow

    spec = load_workflow(workflow)
    if spec.traffic is not None:
        raise CostsimError(f"{workflow}: backtest compares tasks, not horizons: give a workflow without traffic")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise CostsimError(f"--plot {plot}: give a .png or .svg file")
    traced = read_traces(traces, group_by=group_by.value)
    result = run_backtest(spec, traced, tasks=tasks, seed=seed, engine=choose_engine(engine.value, spec),
                          prices_date=parse_date(prices_date), resamples=resamples, alternative=alternative)
    report = result.as_dict()
    if plot is not None:
        from sim.core.files import atomic_write
        from sim.output.calibration_views import backtest_figure

        figure = backtest_figure(result.actual_costs_usd, result.forecast_costs_usd,
                                 f"{spec.name}: forecast against {report['actual']['tasks']:,} traced tasks")
        atomic_write(plot, lambda tmp: figure.savefig(tmp, format=plot.suffix[1:].lower(), dpi=110))
    if output_format is OutputFormat.json:
        sys.stdout.write(summary_json(report))
    else:
        from sim.output.calibration_views import backtest_table

        stdout.print(backtest_table(report))
        inside = sum(error["inside"] for error in report["errors"].values())
        stdout.print(f"{inside} of {len(report['errors'])} figures inside their 95% interval", highlight=False)
    if plot is not None:
        stderr.print(f"wrote {plot}", highlight=False, soft_wrap=True)
