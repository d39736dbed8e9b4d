"""What every ``costsim`` command shares: the typer app, the consoles, the option types, the one place
that turns library errors into the command line's words (:func:`error_message`), and how an analysis's
files are written and shown."""

from __future__ import annotations

import datetime as dt
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sim.core.errors import CostsimError, ParameterError

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
    "--jobs", "-j", help="Worker processes that run chunks of the work (default: all cores, "
                         f"{os.cpu_count() or 1} here, for work long enough to gain from them; shorter work runs "
                         "in this process); the results are the same for any number.", show_default=False)]
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


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CostsimError(f"--prices-date: expected a date like 2026-11-01, got {value!r}") from None


def describe_choice(engine: str, workflow, trace: bool = False) -> str:
    """One line for people: which engine ran, and why when ``auto`` could not take the vectorised one."""
    from sim.engine.fast import unsupported

    feature = unsupported(workflow, trace)
    if engine == "des":
        return "engine: des (the SimPy engine" + (
            "; --engine fast is the vectorised one, with the same results)" if feature is None else ")")
    if feature is None:
        return "engine: fast (vectorised; --engine des gives the same results with the SimPy engine)"
    return f"engine: des (the SimPy engine: this workflow uses {feature})"


#: The flag that feeds each library parameter a ParameterError may name (PrecisionRule's ``target`` is
#: --precision's share).
FLAG_OF_PARAMETER = {
    "alternative": "--alternative", "days": "--days", "delta": "--delta", "engine": "--engine", "jobs": "--jobs",
    "max_tasks": "--max-tasks", "min_tasks": "--min-tasks", "model": "--model", "out_dir": "--out",
    "precision": "--precision", "replications": "--replications", "roles": "--roles", "scheduler": "--scheduler",
    "seed": "--seed", "target": "--precision", "tasks": "--tasks", "tasks_file": "--tasks-file", "trace": "--trace",
    "vary": "--vary", "volumes": "--volumes",
}


def error_message(exc: CostsimError) -> str:
    """What the command line says for a library error: parameters named as the flags that feed them."""
    return exc.with_flags(FLAG_OF_PARAMETER.get) if isinstance(exc, ParameterError) else exc.message


def write_and_show(report: dict, out_dir: Path, name: str, csv_text: str, figures, table: Table,
                    lines: list[str], output_format: OutputFormat) -> None:
    """A sweep's files (NAME.json, NAME.csv, its figures as PNG and SVG), then the report on stdout in
    the format asked for, and where the files went on stderr."""
    from sim.core.files import atomic_write_text
    from sim.output.plots import write_figure
    from sim.output.rundir import summary_json

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
