"""Run folders that cannot be corrupted (issue 13, item 2).

costsim writes only into a folder that is new, empty or holds one earlier costsim run (its marker,
``.costsim-run``); a run replaces such a folder as one unit (a temporary folder beside it, swapped in); a
second writer at the same time gets a clear error; ``costsim report`` refuses a folder that is not one
complete run; the workflow is copied as read, before simulating.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path

import pytest
from conftest import costsim_in_process as costsim
from conftest import run, workflow

from sim.core.errors import CostsimError, OutputError, ParameterError
from sim.output import rundir
from sim.output.layout import MARKER_FILE
from sim.output.report import read_run
from sim.output.rundir import write_run_folder

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "workflows" / "support-agent.yaml"
WF = workflow([{"id": "a", "llm": "main", "output": {"lognormal": {"median": 300, "sigma": 0.5}}}],
              alternatives={"mini": {"main": "openai:gpt-4.1-mini"}})



def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


def leftovers(parent: Path) -> list[str]:
    """Hidden temporary folders, old folders and locks beside the run folders."""
    return sorted(path.name for path in parent.iterdir() if path.name.startswith("."))


# -- what costsim writes into ----------------------------------------------------------------------------


def test_out_dot_does_not_overwrite_the_users_files(tmp_path, monkeypatch, capsys):
    shutil.copy(SUPPORT, tmp_path / "workflow.yaml")
    (tmp_path / "summary.json").write_text("my own notes\n")
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out, err = costsim(monkeypatch, capsys, "run", "workflow.yaml", "-n", "50", "--out", ".")
    assert code == 2 and out == ""
    assert err == ("error: --out .: the folder holds files that are not a costsim run (summary.json, workflow.yaml); "
                   "give a new folder (costsim writes only into a folder it creates or one holding an earlier run, "
                   "which it replaces)\n")
    assert snapshot(tmp_path) == before


def test_the_library_names_the_parameter(tmp_path):
    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(ParameterError, match=r"^out_dir='.*': the folder holds files that are not a costsim run "
                                             r"\(mine.txt\)") as caught:
        write_run_folder(run(WF, 20), tmp_path, plot=False)
    assert caught.value.parameter == "out_dir"
    assert (tmp_path / "mine.txt").read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_a_file_as_out_dir_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ParameterError, match="out_dir=.*: is a file; give a new folder"):
        write_run_folder(run(WF, 20), tmp_path / "f", plot=False)
    assert (tmp_path / "f").read_text() == "x"


def test_files_added_to_an_earlier_run_are_not_deleted_by_a_rerun(tmp_path):
    out = tmp_path / "run"
    write_run_folder(run(WF, 20), out, plot=False)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ParameterError, match=r"holds an earlier costsim run and files it did not write \(notes.txt\)"):
        write_run_folder(run(WF, 30), out, plot=False)
    assert (out / "notes.txt").read_text() == "mine"


def test_an_empty_folder_and_a_new_one_take_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        written = write_run_folder(run(WF, 20), out, plot=False)
        assert sorted(p.name for p in out.iterdir()) == [MARKER_FILE, "summary.json", "tasks.csv"]
        assert written == {"summary": out / "summary.json", "tasks": out / "tasks.csv"}
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "new") == []


# -- a rerun replaces the whole run --------------------------------------------------------------------------


def test_a_rerun_replaces_the_earlier_run_as_one_unit(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, _, err = costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "60", "--out", out, "--format", "json")
    assert code == 0, err
    code, stdout, err = costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "80", "--out", out, "--format", "json",
                                "--tasks-file", "gz")
    assert code == 0, err
    assert err == (f"wrote {out}/summary.json, {out}/tasks.csv.gz, {out}/cost-per-task.png, {out}/cost-per-task.svg, "
                   f"{out}/workflow.yaml\n")
    names = sorted(p.name for p in out.iterdir())
    assert names == [MARKER_FILE, "cost-per-task.png", "cost-per-task.svg", "summary.json", "tasks.csv.gz",
                     "workflow.yaml"]  # no tasks.csv of the first run beside the new tasks.csv.gz
    marker = json.loads((out / MARKER_FILE).read_text())
    summary = json.loads(stdout)
    assert marker == {"costsim_run": 1, "workflow": "support-agent", "seed": 0, "tasks": 80,
                      "created_utc": summary["metadata"]["created_utc"], "files": names[1:]}
    assert read_run(out).summary == summary
    assert leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_earlier_run_whole(tmp_path, monkeypatch):
    out = tmp_path / "run"
    write_run_folder(run(WF, 20), out, plot=False)
    before = snapshot(out)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rundir, "write_run_figures", broken)
    with pytest.raises(OutputError, match="run: could not write: disk full"):
        write_run_folder(run(WF, 30), out)
    assert snapshot(out) == before and leftovers(tmp_path) == []


def test_before_plot_runs_once_the_summary_and_tasks_file_are_written(tmp_path):
    # what costsim run prints while the plot is drawn: the summary is complete (as in the folder) and its
    # files are on disk in the folder being written, the plot not yet
    out, seen = tmp_path / "run", []

    def before_plot():
        (new,) = tmp_path.glob(".run.new-*")
        seen.append((sorted(path.name for path in new.iterdir()), dict(summary["metadata"])))

    summary = rundir.summarize(run(WF, 20))
    write_run_folder(run(WF, 20), out, summary=summary, workflow_file=SUPPORT, before_plot=before_plot)
    assert len(seen) == 1
    files, metadata = seen[0]
    assert files == ["summary.json", "tasks.csv"]
    assert metadata == summary["metadata"] and "created_utc" in metadata and metadata["workflow_file"] == str(SUPPORT)
    assert json.loads((out / "summary.json").read_text())["metadata"] == metadata


def test_a_run_whose_plot_cannot_be_written_shows_its_tables_once(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rundir, "write_run_figures", broken)
    code, out, err = costsim(monkeypatch, capsys, "run", str(SUPPORT), "-n", "50", "--out", str(tmp_path / "run"))
    assert code == 1 and out.count("models:") == 1 and "cost per task" in out.lower()
    assert err.endswith("could not write: No space left on device\n") and not (tmp_path / "run").exists()


def test_a_trace_inside_the_run_folder_is_part_of_the_run(tmp_path):
    out = tmp_path / "run"
    written = write_run_folder(run(WF, 20, trace=True), out, plot=False, trace=out / "trace.jsonl")
    assert written["trace"] == out / "trace.jsonl" and written["trace"].is_file()
    assert "trace.jsonl" in json.loads((out / MARKER_FILE).read_text())["files"]
    write_run_folder(run(WF, 20, trace=True), out, plot=False, trace=out / "trace.jsonl")  # and a rerun replaces it
    assert read_run(out).summary["tasks"] == 20


# -- two writers at once ---------------------------------------------------------------------------------


def test_two_writers_at_once_one_wins_and_the_folder_holds_its_run(tmp_path, monkeypatch):
    """The first writer is held inside its write until the second has tried: the second must be refused."""
    out = tmp_path / "run"
    first_writing, second_done = threading.Event(), threading.Event()
    real_write_tasks_file = rundir._write_tasks_file

    def slow_write_tasks_file(result, folder, *args, **kwargs):
        if result.n_tasks == 40:  # the first writer
            first_writing.set()
            assert second_done.wait(30)
        return real_write_tasks_file(result, folder, *args, **kwargs)

    monkeypatch.setattr(rundir, "_write_tasks_file", slow_write_tasks_file)
    first, second = run(WF, 40, seed=1), run(WF, 70, seed=2)
    outcome: dict[str, object] = {}

    def write(name, result):
        try:
            outcome[name] = write_run_folder(result, out, plot=False)
        except CostsimError as exc:
            outcome[name] = exc

    thread = threading.Thread(target=write, args=("first", first))
    thread.start()
    assert first_writing.wait(30)
    write("second", second)
    second_done.set()
    thread.join(30)
    assert isinstance(outcome["first"], dict)
    error = outcome["second"]
    assert isinstance(error, ParameterError) and error.parameter == "out_dir"
    assert error.message == (f"out_dir={str(out)!r}: another run is writing this folder now (it holds "
                             f"{tmp_path}/.run.lock); wait for it to end, or give another folder")
    assert read_run(out).summary["tasks"] == 40  # one complete run: the winner's
    assert leftovers(tmp_path) == []  # no lock, no temporary folder


def test_a_writer_in_another_process_is_refused_and_a_dead_ones_lock_is_free(tmp_path):
    """The lock holds across processes (``costsim run`` while this process holds it: exit 2, nothing written),
    and dies with its holder (a process killed while holding it leaves the folder free to write)."""
    import signal
    import subprocess

    from sim.core.files import folder_lock

    out = tmp_path / "run"
    command = [str(Path(sys.executable).parent / "costsim"), "run", str(SUPPORT), "-n", "30", "--out", str(out),
               "--format", "json"]
    with folder_lock(out):
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and json.loads(proc.stdout)["tasks"] == 30  # computed, so still printed
    assert proc.stderr == (f"error: --out {out}: another run is writing this folder now (it holds "
                           f"{tmp_path}/.run.lock); wait for it to end, or give another folder\n")
    assert not out.exists()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from sim.core.files import folder_lock\n"
                               "with folder_lock(Path(sys.argv[1])): print('held', flush=True); time.sleep(300)",
                               str(out)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    holder.send_signal(signal.SIGKILL)
    holder.wait(30)
    holder.stdout.close()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert read_run(out).summary == json.loads(proc.stdout)
    assert leftovers(tmp_path) == []


# -- the workflow as read -------------------------------------------------------------------------------------


def test_the_workflow_is_copied_as_read_before_simulating(tmp_path, monkeypatch, capsys):
    source = tmp_path / "wf.yaml"
    shutil.copy(SUPPORT, source)
    import sim.run.simulation  # the command imports simulate from here when it runs

    real_simulate = sim.run.simulation.simulate

    def edit_then_simulate(*args, **kwargs):
        source.write_text("# edited while the run was simulating\n")
        return real_simulate(*args, **kwargs)

    monkeypatch.setattr(sim.run.simulation, "simulate", edit_then_simulate)
    code, _, err = costsim(monkeypatch, capsys, "run", source, "-n", "30", "--out", tmp_path / "run")
    assert code == 0, err
    assert (tmp_path / "run" / "workflow.yaml").read_bytes() == SUPPORT.read_bytes()


# -- report refuses what is not one complete run --------------------------------------------------------------


def test_report_refuses_a_folder_without_the_marker(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    write_run_folder(run(WF, 20), out, plot=False)
    (out / MARKER_FILE).unlink()
    code, stdout, err = costsim(monkeypatch, capsys, "report", out)
    assert code == 2 and stdout == ""
    assert err == (f"error: {out}: not a costsim run folder (no .costsim-run, which costsim run and write_run_folder "
                   "write with a complete run); give a run folder, or run the workflow again\n")


def test_report_refuses_files_the_marker_does_not_list(tmp_path):
    out = tmp_path / "run"
    write_run_folder(run(WF, 20), out, plot=False, tasks_file="gz")
    write_run_folder(run(WF, 30), tmp_path / "other", plot=False)
    shutil.copy(tmp_path / "other" / "tasks.csv", out / "tasks.csv")  # an older run's tasks.csv beside tasks.csv.gz
    with pytest.raises(CostsimError, match=r"not one complete run: it holds files the run did not write "
                                           r"\(tasks.csv\); run the workflow again into a new folder"):
        read_run(out)


def test_report_refuses_a_missing_file(tmp_path):
    out = tmp_path / "run"
    write_run_folder(run(WF, 20), out, plot=False)
    (out / "tasks.csv").unlink()
    with pytest.raises(CostsimError, match=r"not a complete run: tasks.csv missing, which .costsim-run lists"):
        read_run(out)


def test_report_refuses_a_summary_and_a_tasks_file_of_different_runs(tmp_path):
    out, other = tmp_path / "run", tmp_path / "other"
    write_run_folder(run(WF, 500), out, plot=False)
    write_run_folder(run(WF, 2000), other, plot=False)
    shutil.copy(other / "tasks.csv", out / "tasks.csv")
    with pytest.raises(CostsimError, match=r"tasks.csv: 2,000 tasks of baseline, but summary.json says 500: not one "
                                           r"run"):
        read_run(out)
    shutil.copy(other / "summary.json", out / "summary.json")  # both from the other run, the marker from this one
    with pytest.raises(CostsimError, match=r"summary.json: not the run .costsim-run describes \(tasks(, created_utc)? "
                                           r"differ\)"):
        read_run(out)


def test_a_report_written_later_belongs_to_the_run(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    write_run_folder(run(WF, 20), out, plot=False)
    code, _, err = costsim(monkeypatch, capsys, "report", out)
    assert code == 0, err
    assert read_run(out).summary["tasks"] == 20  # report.html is the one file a run folder may gain
    write_run_folder(run(WF, 30), out, plot=False)  # and a rerun replaces it with the rest
    assert not (out / "report.html").exists()


def test_an_empty_current_folder_takes_a_run_but_an_earlier_run_there_is_kept(tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    write_run_folder(run(WF, 20), ".", plot=False)  # mkdir here; cd here; costsim run ... --out .
    assert Path.cwd() == here and read_run(here).summary["tasks"] == 20
    before = snapshot(here)
    with pytest.raises(ParameterError, match=r"^out_dir='.': holds an earlier run and the current folder"):
        write_run_folder(run(WF, 30), ".", plot=False)
    assert snapshot(here) == before and leftovers(tmp_path) == []
