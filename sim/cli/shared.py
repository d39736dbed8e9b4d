"""What every ``costsim`` command shares: the typer app, the consoles, the option types, the one place
that turns library errors into the command line's words (:func:`error_message`), and how an analysis's
files are written and shown."""

from __future__ import annotations

import datetime as dt
import errno
import functools
import os
import re
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.core.errors import CostsimError, ParameterError

if TYPE_CHECKING:  # a table is made by the command that shows one: validate and --help load no rich.table
    from rich.console import Console
    from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Simulate what an LLM agent will cost per task, as a distribution, for each model choice.",
)


@functools.cache
def _stdout_class() -> type[Console]:
    """rich's console, but a reader that left (``costsim run ... | head``) raises BrokenPipeError, which
    :func:`sim.cli.program.main` turns into exit 0, instead of rich's own exit 1."""
    from rich.console import Console

    class _Stdout(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return _Stdout


def _make_stdout() -> Console:
    console = _stdout_class()()
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = _stdout_class()(width=120)
    return console


def _make_stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


class _LazyConsole:
    """A rich console made the first time it is used: importing rich.console costs 15 to 25 ms, which
    a command that prints one plain line (:func:`print_line`: ``costsim validate``) need not pay. Every
    attribute is the console's own, and ``with console:`` (rich's Live, behind the progress bar, holds
    the console it is given that way) enters the console's own."""

    def __init__(self, make) -> None:
        self._make = make
        self._console: Console | None = None

    def _get(self) -> Console:
        if self._console is None:
            self._console = self._make()
        return self._console

    def __getattr__(self, name: str):
        return getattr(self._get(), name)

    def __enter__(self) -> Console:
        return self._get().__enter__()

    def __exit__(self, *exc_info) -> None:
        self._get().__exit__(*exc_info)


stdout: Console = _LazyConsole(_make_stdout)  # type: ignore[assignment]
stderr: Console = _LazyConsole(_make_stderr)  # type: ignore[assignment]

#: What rich would read in a plain line: a markup tag (``[bold]``, ``[/]``) or an emoji code
#: (``:smile:``, any text between two colons without a space).
_RICH_SYNTAX = re.compile(r"\[|:\S*:")


def print_line(line: str) -> None:
    """Print ``line`` on stdout as ``stdout.print(line, highlight=False, soft_wrap=True)`` does, markup and
    emoji codes included, but without loading rich for a line in which rich would change nothing (no
    markup, no emoji code, only printable characters)."""
    if line.isprintable() and not _RICH_SYNTAX.search(line):
        sys.stdout.write(line + "\n")
    else:
        stdout.print(line, highlight=False, soft_wrap=True)


def wide_stdout(width: int) -> Console:
    """A console on stdout at least ``width`` columns wide, for a table whose cells must never be cut when
    piped (``costsim prices | grep``): rich fits a table to its console, and the piped one is 120 wide."""
    return stdout if stdout.width >= width else _stdout_class()(width=width)


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


def capped_jobs(jobs: int | None) -> int | None:
    """``--jobs``, at most the cores available (more workers than cores only compete for them), with a
    note on stderr when it was lowered."""
    from sim.run.executor import default_jobs

    cores = default_jobs()
    if jobs is not None and jobs > cores:
        stderr.print(f"note: --jobs {jobs}: {cores} core{'s' * (cores != 1)} here; running {cores} worker "
                     f"process{'es' * (cores != 1)}", highlight=False, soft_wrap=True)
        return cores
    return jobs


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CostsimError(f"--prices-date: expected a date like 2026-11-01, got {value!r}") from None


def describe_choice(engine: str, workflow, trace: bool = False) -> str:
    """One line for people: which engine ran, and why when ``auto`` could not take the vectorised one."""
    from sim.engine.traffic_fast import unsupported

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
    "alternative": "--alternative", "budget_usd": "--budget", "days": "--days", "delta": "--delta",
    "engine": "--engine", "group_by": "--group-by", "jobs": "--jobs", "max_tasks": "--max-tasks",
    "min_tasks": "--min-tasks", "model": "--model", "out_dir": "--out", "path": "--out", "paths": "TRACES",
    "precision": "--precision", "prices_date": "--prices-date", "replications": "--replications",
    "roles": "--roles", "scheduler": "--scheduler", "seed": "--seed", "target": "--precision", "tasks": "--tasks",
    "tasks_file": "--tasks-file", "trace": "--trace", "varies": "--vary", "vary": "--vary", "volumes": "--volumes",
    "workflow": "WORKFLOW",
}


def error_message(exc: CostsimError) -> str:
    """What the command line says for a library error: parameters named as the flags that feed them."""
    return exc.with_flags(FLAG_OF_PARAMETER.get) if isinstance(exc, ParameterError) else exc.message


def write_and_show(report: dict, out_dir: Path, name: str, csv_text: str, figures, table: Table,
                    lines: list[str], output_format: OutputFormat) -> None:
    """A sweep's files (NAME.json, NAME.csv, its figures as PNG and SVG) written into ``out_dir`` as one
    unit with its marker, then the report on stdout in the format asked for, and where the files went on
    stderr."""
    from sim.output.plots import figure_bytes
    from sim.output.rundir import summary_json

    files = {f"{name}.json": lambda tmp: tmp.write_text(summary_json(report), encoding="utf-8"),
             f"{name}.csv": lambda tmp: tmp.write_text(csv_text, encoding="utf-8")}
    for stem, figure in figures:
        for fmt in ("png", "svg"):
            data = figure_bytes(figure, fmt)
            files[f"{stem}.{fmt}"] = lambda tmp, data=data: tmp.write_bytes(data)
    write_then_show(out_dir, report, files, lambda: _show(report, csv_text, table, lines, output_format))


def _show(report: dict, csv_text: str, table: Table, lines: list[str], output_format: OutputFormat) -> None:
    from sim.output.rundir import summary_json

    if output_format is OutputFormat.json:
        sys.stdout.write(summary_json(report))
    elif output_format is OutputFormat.csv:
        sys.stdout.write(csv_text)
    else:
        stdout.print(table)
        for line in lines:
            stdout.print(line, highlight=False, markup=False)


def write_then_show(out_dir: Path, report: dict, files: dict, show) -> None:
    """Write an analysis's ``files`` into ``out_dir`` (:func:`~sim.output.rundir.write_analysis_folder`),
    then ``show()`` the report; when writing failed, show the report all the same, then raise the error."""
    from sim.output.rundir import write_analysis_folder

    try:
        written = write_analysis_folder(out_dir, report, files)
    except CostsimError:
        show()
        raise
    show()
    stderr.print(f"wrote {', '.join(str(path) for path in written)}", highlight=False, soft_wrap=True)
