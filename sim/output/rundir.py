"""Writing a run to disk: the run folder that ``costsim run`` writes, from the command line or from Python.

A run folder holds ``summary.json`` (the JSON contract), ``tasks.csv`` (one row per task per alternative;
or ``tasks.csv.gz``, or none), the cost-distribution plot (``cost-per-task.png`` and ``.svg``), the
workflow file as it was run (``workflow.yaml``) and, when asked, ``report.html``
(:mod:`sim.output.report`). :func:`write_run_folder` writes all of it in one call, the same bytes from a
notebook as from ``costsim run --out``; the functions it calls write one file each.

:func:`write_run_folder` writes only into a folder that is new, empty or holds one earlier costsim run
(recognised by its marker, ``.costsim-run``: :mod:`sim.output.layout`). It writes every file into a
temporary folder beside the target, the marker last, then swaps that folder in as one unit, under a lock
that a second writer finds taken: the folder holds one complete run, never a mix of two and never half of
one (:mod:`sim.core.files`). The tasks file's text, and how worker processes format a large one, is
:mod:`sim.output.taskfile`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from pathlib import Path

from sim.core.errors import OutputError, Parameter, ParameterError
from sim.core.files import FolderBusy, atomic_write, atomic_write_text, folder_lock, output_errors, replace_folder
from sim.core.records import OTEL_FIELDS, TRACE_FIELDS
from sim.output.layout import (
    MARKER_FILE,
    PLOT_FILE,
    REPORT_FILE,
    SUMMARY_FILE,
    TASKS_FILE,
    WORKFLOW_FILE,
    marker_text,
    read_marker,
    unlisted_files,
)
from sim.output.taskfile import formatted_by_workers, tasks_csv, write_tasks_csv, write_tasks_csv_file
from sim.run.simulation import SimulationResult
from sim.stats.summary import summarize

__all__ = ["MARKER_FILE", "PLOT_FILE", "REPORT_FILE", "SUMMARY_FILE", "TASKS_FILE", "TASKS_FILE_KINDS",
           "WORKFLOW_FILE", "check_out_dir", "check_trace", "copy_workflow", "default_out_dir", "run_costs",
           "summary_json", "tasks_csv", "trace_rows", "write_analysis_folder", "write_folder", "write_run",
           "write_run_figures", "write_run_folder", "write_tasks_csv", "write_tasks_csv_file", "write_trace"]


def default_out_dir(workflow_name: str, root: Path = Path("results")) -> Path:
    """A new folder under ``results/`` named after the workflow and the time: never overwrites a run."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", workflow_name).strip("-") or "run"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    candidate = root / f"{slug}-{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = root / f"{slug}-{stamp}-{suffix}"
    return candidate


def summary_json(summary: dict) -> str:
    """The summary as pretty, stable JSON text (keys in contract order, a trailing newline)."""
    return json.dumps(summary, indent=2, allow_nan=False) + "\n"


TASKS_FILE_KINDS = ("csv", "gz", "none")


def write_run(result: SimulationResult, summary: dict, out_dir: Path, plot: bool = True,
              tasks_file: str = "csv", executor=None) -> dict[str, Path]:
    """Write a run's files into ``out_dir``; returns their paths by kind.

    ``tasks_file``: ``csv`` writes tasks.csv, ``gz`` the same gzip-compressed as tasks.csv.gz (a run with
    traffic has a row per task of every replication: tens of megabytes), ``none`` skips it. ``executor``:
    worker processes that may format the tasks file's rows (:func:`write_tasks_csv`).
    """
    written = {"summary": _write_summary(summary, out_dir)}
    written.update(_write_tasks_file(result, out_dir, tasks_file, executor))
    if plot:
        from sim.output.plots import cost_distribution_plot  # matplotlib loads only when a plot is drawn

        written["plot"] = out_dir / PLOT_FILE
        atomic_write(written["plot"], lambda tmp: cost_distribution_plot(run_costs(result), summary, tmp))
    return written


def _write_summary(summary: dict, out_dir: Path) -> Path:
    """Write ``summary.json`` into ``out_dir``; returns its path."""
    path = out_dir / SUMMARY_FILE
    atomic_write_text(path, summary_json(summary))
    return path


def _writes_tasks(result: SimulationResult, tasks_file: str) -> bool:
    """Whether a tasks file is written: one is asked for, and the run kept per-task records (above the
    exact-tasks limit it has none)."""
    return tasks_file != "none" and result.kept_tasks


def _write_tasks_file(result: SimulationResult, out_dir: Path, tasks_file: str, executor=None) -> dict[str, Path]:
    """Write the tasks file of kind ``tasks_file`` (:func:`write_run`) into ``out_dir``: ``{"tasks": path}``,
    or nothing for ``none`` or a run that kept no per-task records."""
    if not _writes_tasks(result, tasks_file):
        return {}
    if tasks_file == "csv":
        path = out_dir / TASKS_FILE
        atomic_write(path, lambda tmp: write_tasks_csv_file(result, tmp, executor))
        return {"tasks": path}
    path = out_dir / (TASKS_FILE + ".gz")

    def write_gz(tmp: Path) -> None:  # what gzip.compress(text, mtime=0) gives, a piece at a time
        deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
        with tmp.open("wb") as handle:
            write_tasks_csv(result, lambda text: handle.write(deflate.compress(text.encode("utf-8"))),
                            executor=executor)
            handle.write(deflate.flush())

    atomic_write(path, write_gz)
    return {"tasks": path}


def trace_rows(result: SimulationResult) -> Iterator[dict]:
    """Each attempt as a dict: the fields of :data:`~sim.core.records.TRACE_FIELDS`, a wall-clock start time
    (the horizon starts at midnight UTC of the prices date) and the OpenTelemetry GenAI attribute names."""
    epoch = dt.datetime.fromisoformat(result.metadata["prices_date"]).replace(tzinfo=dt.UTC)
    for values in result.trace or ():
        row = dict(zip(TRACE_FIELDS, values))
        row["start_time"] = (epoch + dt.timedelta(seconds=row["start_s"])).isoformat().replace("+00:00", "Z")
        row.update({otel: row[field] for otel, field in OTEL_FIELDS.items()})
        # OTel splits provider and model ("openai", "gpt-4.1") and names tools apart; every row has
        # every key (None where it does not apply), so JSON Lines and Parquet hold the same table.
        if row["operation"] == "chat":
            row["gen_ai.provider.name"], _, row["gen_ai.request.model"] = row["model"].partition(":")
            row["gen_ai.tool.name"] = None
        else:
            row["gen_ai.provider.name"] = row["gen_ai.request.model"] = None
            row["gen_ai.tool.name"] = row["model"]
        yield row


def write_trace(result: SimulationResult, path: Path) -> None:
    """One row per attempt: JSON Lines, or Parquet when ``path`` ends in ``.parquet`` (needs pyarrow,
    the ``costsim[parquet]`` extra)."""
    if path.suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ParameterError(Parameter("trace"), ": writing Parquet needs pyarrow: pip install "
                                 "'costsim[parquet]' (or give a .jsonl file)") from None
        table = pa.Table.from_pylist(list(trace_rows(result)))
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        return

    def write_jsonl(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as handle:
            for row in trace_rows(result):
                handle.write(json.dumps(row, separators=(",", ":")) + "\n")

    atomic_write(path, write_jsonl)


def run_costs(result: SimulationResult) -> dict:
    """Alternative -> per-task costs, what a run's plot shows (for a run that kept no per-task records, the
    costs of its first tasks)."""
    if not result.kept_tasks:
        return dict(result.sample_cost_usd)
    return {alternative.name: alternative.tasks.cost_usd for alternative in result.alternatives}


def write_run_figures(result: SimulationResult, summary: dict, out_dir: Path,
                      drawn: dict[str, bytes] | None = None) -> dict[str, Path]:
    """Write a run's cost distribution as ``cost-per-task.png`` and ``.svg`` into ``out_dir``: the bytes
    ``drawn`` (by a :class:`~sim.output.plot_helper.PlotHelper`), or drawn here."""
    stem = out_dir / Path(PLOT_FILE).stem
    if drawn is None:
        from sim.output.plots import run_cost_figure, write_figure  # matplotlib loads only here

        written = write_figure(run_cost_figure(run_costs(result), summary), stem)
    else:
        written = {}
        for fmt, data in drawn.items():
            written[fmt] = stem.with_name(f"{stem.name}.{fmt}")
            atomic_write(written[fmt], lambda tmp, data=data: tmp.write_bytes(data))
    return {"plot": written["png"], "plot_svg": written["svg"]}


def copy_workflow(workflow: Path, out_dir: Path, text: bytes | None = None) -> Path:
    """Keep the workflow file as it was run: write its bytes (``text``, as read before the run, else the
    file's bytes now) to ``out_dir/workflow.yaml``."""
    text = Path(workflow).read_bytes() if text is None else text
    path = out_dir / WORKFLOW_FILE
    atomic_write(path, lambda tmp: tmp.write_bytes(text))
    return path


def check_out_dir(out_dir: Path | str) -> None:
    """Refuse, with a :class:`ParameterError` naming ``out_dir``, a folder a run may not be written into:
    costsim writes only into a new folder, an empty one, or one that holds one earlier costsim run (its
    marker, :data:`~sim.output.layout.MARKER_FILE`, and only the files it lists), which the run replaces.

    ``costsim run`` calls it before simulating, :func:`write_run_folder` again before writing."""
    shown = Parameter("out_dir", str(out_dir))
    target = Path(os.path.realpath(out_dir))
    if not target.exists():
        blocking = next((parent for parent in target.parents if parent.exists() and not parent.is_dir()), None)
        if blocking is not None:
            raise ParameterError(shown, f": {blocking} is a file, not a folder; give a new folder for the run's files")
        return
    if not target.is_dir():
        raise ParameterError(shown, ": is a file; give a new folder for the run's files")
    marker = read_marker(target)
    if marker is None and any(target.iterdir()):
        names = sorted(path.name for path in target.iterdir())
        raise ParameterError(shown, f": the folder holds files that are not a costsim run ({_some(names)}); "
                                    "give a new folder (costsim writes only into a folder it creates or one "
                                    "holding an earlier run, which it replaces)")
    extra = unlisted_files(target, marker) if marker is not None else []
    if extra:
        raise ParameterError(shown, f": the folder holds an earlier costsim run and files it did not write "
                                    f"({_some(extra)}), which replacing the run would delete; give a new folder, "
                                    "or move those files out")
    if marker is not None and _holds_cwd(target):
        raise ParameterError(shown, ": holds an earlier run and the current folder, which replacing the run "
                                    "would delete; give a new folder")


def _holds_cwd(target: Path) -> bool:
    return Path.cwd().resolve().is_relative_to(target)


def _some(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def write_run_folder(
    result: SimulationResult,
    out_dir: Path | str,
    *,
    summary: dict | Callable[[], dict] | None = None,
    workflow_file: Path | str | None = None,
    workflow_bytes: bytes | None = None,
    tasks_file: str = "csv",
    plot: bool = True,
    trace: Path | str | None = None,
    report: bool = False,
    executor=None,
    plotter=None,
    before_plot: Callable[[], object] | None = None,
) -> dict[str, Path]:
    """Write the run folder of ``result`` into ``out_dir``, as ``costsim run --out`` does; returns the
    paths written by kind (``summary``, ``tasks``, ``plot``, ``plot_svg``, ``workflow``, ``trace``,
    ``report``), in the order they were written.

    ``out_dir`` must be new, empty, or hold one earlier costsim run (:func:`check_out_dir`); the files are
    written into a temporary folder beside it with the marker ``.costsim-run`` (the run's identity and its
    files), which then replaces ``out_dir`` as one unit, so the folder always holds one complete run. A
    second writer of the same folder at the same time gets a :class:`ParameterError`.

    ``summary``: the run's summary (default: ``summarize(result)``; give your own for a budget,
    ``summarize(result, budget_usd=...)``), or a function that makes it, called once: when worker processes
    format the tasks file (``executor``), in a thread while they do, so that making it (half a second at
    10^6 tasks) takes a core that would idle. Its ``metadata`` gets ``workflow_file`` (when given) and
    ``created_utc`` (the time of writing, to the second), as ``costsim run`` writes them; a summary you give
    (or your function returns) is completed in place, so what you print afterwards is what the folder holds.
    ``workflow_file``: the workflow's path, copied into the folder as ``workflow.yaml`` (the report shows
    it); ``workflow_bytes``: its bytes as read when the run began (default: the file's bytes now).
    ``tasks_file``: ``csv``, ``gz`` or ``none`` (:func:`write_run`). ``plot``: the cost distribution as PNG
    and SVG. ``trace``: a file for one row per attempt (``.jsonl`` or ``.parquet``; the result must come
    from ``simulate(..., trace=True)``); inside ``out_dir`` it is part of the run. ``report``: also write
    ``report.html``. ``executor``: worker processes (:mod:`sim.run.executor`) that may format a large
    tasks file's rows; ``plotter``: a :class:`~sim.output.plot_helper.PlotHelper` that draws the plot while
    the tasks file is written. The files are the same bytes with or without either. ``before_plot``: called
    once ``summary.json`` and the tasks file are written (and the summary completed), before the plot is
    collected from ``plotter`` or drawn: what the caller does meanwhile (``costsim run`` prints its tables
    while the helper draws).
    """
    out_dir = Path(out_dir)
    if tasks_file not in TASKS_FILE_KINDS:
        raise ParameterError(Parameter("tasks_file"),
                             f": expected one of {', '.join(TASKS_FILE_KINDS)}, got {tasks_file!r}")
    if trace is not None and result.trace is None:
        raise ParameterError(Parameter("trace"), ": this result has no trace rows; simulate it with trace=True")
    check_out_dir(out_dir)
    check_trace(trace)
    target = Path(os.path.realpath(out_dir))
    trace_in_run = None  # the trace's path in the run folder, when it is written there
    if trace is not None and Path(os.path.realpath(trace)).is_relative_to(target):
        trace_in_run = Path(os.path.realpath(trace)).relative_to(target)
    def completed_summary() -> dict:
        made = summary() if callable(summary) else summarize(result) if summary is None else summary
        metadata = made.setdefault("metadata", {})
        if workflow_file is not None:
            metadata["workflow_file"] = str(workflow_file)
        metadata["created_utc"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return made

    def write_files(new: Path) -> dict[str, Path]:
        return _write_files(result, completed_summary, new, workflow_file, workflow_bytes, tasks_file, plot, trace,
                            trace_in_run, report, executor, plotter, before_plot)

    new, written = write_folder(out_dir, write_files)
    return {kind: (Path(trace) if kind == "trace" and trace_in_run is None else out_dir / path.relative_to(new))
            for kind, path in written.items()}


def write_folder(out_dir: Path | str, write_files: Callable[[Path], dict[str, Path]]) -> tuple[Path, dict[str, Path]]:
    """Write a folder of results as one unit: ``write_files(new)`` fills a new temporary folder beside
    ``out_dir`` (the marker last) and returns the paths it wrote; that folder then replaces ``out_dir``
    under its lock. ``out_dir`` must be new, empty or hold one earlier costsim result (:func:`check_out_dir`);
    a failure of the file system is an :class:`~sim.core.errors.OutputError` naming it, and leaves
    ``out_dir`` as it was. Returns the temporary folder's path (the written paths are relative to it) and
    what ``write_files`` returned.

    :func:`write_run_folder` writes a run with it; ``costsim stress``, ``sensitivity`` and ``breakeven``
    their files."""
    out_dir = Path(out_dir)
    target = Path(os.path.realpath(out_dir))
    with output_errors(out_dir), _locked(out_dir, target):
        check_out_dir(out_dir)  # again: another writer may have filled it since
        new = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
        try:
            try:
                written = write_files(new)
            except OutputError as failed:  # name the file as it would have been, not the temporary folder
                if not Path(failed.path).is_relative_to(new):
                    raise
                raise OutputError(out_dir / Path(failed.path).relative_to(new), failed.reason) from None
            if target.is_dir():
                os.chmod(new, stat.S_IMODE(target.stat().st_mode))  # the folder keeps its permissions
            else:
                os.chmod(new, 0o777 & ~_umask())  # mkdtemp makes an owner-only folder; give the usual mode
            if target.is_dir() and _holds_cwd(target):  # an empty current folder: move the files in, marker last
                for path in sorted(new.iterdir(), key=lambda path: path.name == MARKER_FILE):
                    os.rename(path, target / path.name)
                new.rmdir()
            else:
                replace_folder(new, target)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
    return new, written


def write_analysis_folder(out_dir: Path | str, report: dict, files: dict[str, Callable[[Path], None]]) -> list[Path]:
    """Write an analysis's files (``stress.json``, ``.csv``, the figures, ...) into ``out_dir`` as one unit,
    with its marker, as :func:`write_folder` does: ``files`` maps each file's name to a function that writes
    it to the path it is given. Returns the paths in ``out_dir``, in the order of ``files``."""
    def write_files(new: Path) -> dict[str, Path]:
        written = {}
        for name, write in files.items():
            written[name] = new / name
            atomic_write(written[name], write)
        identity = {"workflow": report.get("workflow", report.get("metadata", {}).get("workflow")),
                    "seed": report.get("seed", report.get("metadata", {}).get("seed")),
                    "tasks": report.get("tasks", report.get("metadata", {}).get("tasks")),
                    "metadata": {"created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}}
        atomic_write_text(new / MARKER_FILE, marker_text(identity, list(files)))
        return written

    new, written = write_folder(out_dir, write_files)
    return [Path(out_dir) / path.relative_to(new) for path in written.values()]


def check_trace(trace: Path | str | None) -> None:
    """Refuse, with a :class:`ParameterError` naming ``trace``, a trace file that cannot be written: a
    folder, or a file in a folder that is a file. ``costsim run`` calls it before simulating."""
    if trace is None:
        return
    path = Path(trace)
    if path.is_dir():
        raise ParameterError(Parameter("trace", str(trace)), ": is a folder; give a file name (trace.jsonl, or "
                                                              "trace.parquet)")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise ParameterError(Parameter("trace", str(trace)), f": {parent} is a file, not a folder")


@contextmanager
def _locked(out_dir: Path, target: Path) -> Iterator[None]:
    """Hold the lock of the run folder ``target``; a second writer gets a ParameterError naming ``out_dir``."""
    try:
        lock = folder_lock(target)
        lock.__enter__()
    except FolderBusy as busy:
        raise ParameterError(Parameter("out_dir", str(out_dir)), f": another run is writing this folder now (it "
                             f"holds {busy}); wait for it to end, or give another folder") from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def _write_files(result: SimulationResult, make_summary: Callable[[], dict], new: Path, workflow_file,
                 workflow_bytes: bytes | None, tasks_file: str, plot: bool, trace, trace_in_run: Path | None,
                 report: bool, executor=None, plotter=None,
                 before_plot: Callable[[], object] | None = None) -> dict[str, Path]:
    """Write the run's files into the new folder ``new``, its marker last; returns their paths by kind, in
    the folder's order (summary, tasks, plot, ...).

    The summary, once made, goes to ``plotter`` to draw while the rest is written. When worker processes
    format the tasks file, it is made in a thread while they do: this process only waits for them then, and
    making it alone would leave a core idle (a 2-job run of 10^6 tasks: 0.4 s of about 9). The summary's
    arithmetic is in NumPy, which lets this thread hand out the workers' next pieces meanwhile."""
    def summary_sent() -> tuple[dict, bool]:  # the summary, and whether the helper draws it meanwhile
        summary = make_summary()
        return summary, plot and plotter is not None and plotter.submit(run_costs(result), summary)

    if _writes_tasks(result, tasks_file) and formatted_by_workers(result, executor):
        made = _in_thread(summary_sent, "costsim-summary")
        try:
            tasks = _write_tasks_file(result, new, tasks_file, executor)
        except Exception:
            with suppress(Exception):  # the tasks file's error is the one to tell; the thread is done then
                made.result()
            raise
        summary, drawing = made.result()
    else:
        summary, drawing = summary_sent()
        tasks = _write_tasks_file(result, new, tasks_file, executor)
    written = {"summary": _write_summary(summary, new), **tasks}
    if before_plot is not None:
        before_plot()
    if plot:
        written.update(write_run_figures(result, summary, new, plotter.result() if drawing else None))
    if workflow_file is not None:
        written["workflow"] = copy_workflow(Path(workflow_file), new, workflow_bytes)
    if trace is not None:
        written["trace"] = new / trace_in_run if trace_in_run is not None else Path(trace)
        write_trace(result, written["trace"])

    def write_marker() -> None:
        files = [path.relative_to(new).as_posix() for path in written.values() if path.is_relative_to(new)]
        atomic_write_text(new / MARKER_FILE, marker_text(summary, files))

    write_marker()
    if report:
        from sim.output.report import write_report  # the template engine loads only when a report is made

        written["report"] = write_report(new)
        write_marker()
    return written


def _in_thread(function: Callable[[], object], name: str) -> Future:
    """``function()`` started in a daemon thread of its own (a command ending on Ctrl-C does not wait for
    it, as it would for a ``ThreadPoolExecutor``'s); its :class:`~concurrent.futures.Future` gives back its
    value or raises its exception where it is waited for."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(function())
        except BaseException as exc:  # noqa: BLE001  (raised where it is waited for, not printed by the thread)
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
