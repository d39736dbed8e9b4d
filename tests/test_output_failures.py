"""One error path for output failures (issue 13, item 6).

A failure of writing (a full disk, a folder without permission) is one line naming the path and exit 1; a
path the user named wrongly (``--out`` a file, ``--trace`` or ``report --out`` a folder) is one line and exit
2, before any work. Neither leaves half a folder or a temporary file, and the summary that was computed is
still printed (as JSON with ``--format json``). The analyses' folders are written the same way as a run's:
a temporary folder with the marker, swapped in. stdout closed early (``| head``) is exit 0; stdout full
(``> /dev/full``) is one line and exit 1. Never a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import costsim_in_process as costsim

from sim.core import files
from sim.output import taskfile
from sim.output.layout import MARKER_FILE, read_marker

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "workflows" / "support-agent.yaml"
COSTSIM = Path(sys.executable).parent / "costsim"


def everything(parent: Path) -> list[str]:
    return sorted(path.relative_to(parent).as_posix() for path in parent.rglob("*"))


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_is_one_line_exit_1_and_the_json_summary_is_still_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(taskfile, "write_tasks_csv", disk_full)
    code, out, err = costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "40", "--format", "json",
                             "--out", tmp_path / "run")
    assert code == 1
    assert err == f"error: {tmp_path / 'run' / 'tasks.csv'}: could not write: No space left on device\n"
    assert json.loads(out)["tasks"] == 40  # what was computed is not lost
    assert everything(tmp_path) == []  # no half folder, no temporary folder, no lock


def test_a_full_disk_still_prints_the_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(taskfile, "write_tasks_csv", disk_full)
    code, out, err = costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "40", "--out", tmp_path / "run")
    assert code == 1 and err.count("\n") == 1 and "No space left on device" in err
    assert "cost per task (USD), 40 tasks" in out


def test_a_folder_without_permission_is_one_line_exit_1_and_the_earlier_run_is_kept(tmp_path, monkeypatch,
                                                                                   capsys):
    out_dir = tmp_path / "run"
    assert costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "30", "--out", out_dir, "--format", "json")[0] == 0
    before = {path: path.read_bytes() for path in out_dir.iterdir()}

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(out_dir))

    monkeypatch.setattr(files.tempfile, "mkstemp", denied)  # as root, chmod cannot refuse: the system call does
    code, out, err = costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "40", "--out", out_dir, "--format", "json")
    assert code == 1 and err == f"error: {out_dir}: could not write: Permission denied\n"
    assert json.loads(out)["tasks"] == 40
    assert {path: path.read_bytes() for path in out_dir.iterdir()} == before
    assert [path.name for path in tmp_path.iterdir()] == ["run"]  # no temporary folder, no lock


def test_out_naming_a_file_or_a_path_through_a_file_is_exit_2_before_simulating(tmp_path, monkeypatch, capsys):
    (tmp_path / "f").write_text("mine")
    for out_dir, says in ((tmp_path / "f", "is a file"), (tmp_path / "f" / "run", f"{tmp_path / 'f'} is a file")):
        code, out, err = costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "40", "--out", out_dir)
        assert code == 2 and out == "" and err.startswith(f"error: --out {out_dir}: {says}") and err.count("\n") == 1
    assert (tmp_path / "f").read_text() == "mine"


def test_trace_naming_a_folder_is_exit_2_before_simulating(tmp_path, monkeypatch, capsys):
    (tmp_path / "t").mkdir()
    code, out, err = costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "40", "--out", tmp_path / "run",
                             "--trace", tmp_path / "t")
    assert code == 2 and out == ""
    assert err == f"error: --trace {tmp_path / 't'}: is a folder; give a file name (trace.jsonl, or trace.parquet)\n"
    assert everything(tmp_path) == ["t"]


def test_report_out_naming_a_folder_is_exit_2(tmp_path, monkeypatch, capsys):
    assert costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "30", "--out", tmp_path / "run", "-f", "json")[0] == 0
    (tmp_path / "html").mkdir()
    code, out, err = costsim(monkeypatch, capsys, "report", tmp_path / "run", "--out", tmp_path / "html")
    assert code == 2 and out == ""
    assert err == f"error: --out {tmp_path / 'html'}: is a folder; give a file name such as " \
                  f"{tmp_path / 'html' / 'report.html'}\n"


def test_report_on_a_full_disk_is_one_line_exit_1(tmp_path, monkeypatch, capsys):
    assert costsim(monkeypatch, capsys, "run", SUPPORT, "-n", "30", "--out", tmp_path / "run", "-f", "json")[0] == 0
    monkeypatch.setattr(files.tempfile, "mkstemp", disk_full)
    code, out, err = costsim(monkeypatch, capsys, "report", tmp_path / "run")
    assert code == 1 and err == f"error: {tmp_path / 'run' / 'report.html'}: could not write: No space left on device\n"
    assert not (tmp_path / "run" / "report.html").exists()


def test_stress_writes_its_folder_as_one_unit_with_a_marker_and_prints_on_a_full_disk(tmp_path, monkeypatch,
                                                                                     capsys):
    args = ("stress", SUPPORT, "--vary", "retry.max_attempts=1:2:2", "-n", "30", "-f", "json", "--out",
            tmp_path / "s")
    code, out, err = costsim(monkeypatch, capsys, *args)
    assert code == 0, err
    marker = read_marker(tmp_path / "s")
    assert marker is not None and sorted(marker["files"]) == ["stress.csv", "stress.json", "stress.png", "stress.svg"]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted([MARKER_FILE, *marker["files"]])
    before = {path.name: path.read_bytes() for path in (tmp_path / "s").iterdir()}
    monkeypatch.setattr(files.tempfile, "mkstemp", disk_full)
    code, out, err = costsim(monkeypatch, capsys, *args)
    assert code == 1 and "No space left on device" in err and err.count("\n") == 1
    assert json.loads(out)["workflow"] == "support-agent"  # the report computed is printed
    assert {path.name: path.read_bytes() for path in (tmp_path / "s").iterdir()} == before
    assert everything(tmp_path) == sorted(["s", *(f"s/{name}" for name in before)])


def test_stress_into_a_folder_of_other_files_is_refused_before_the_work(tmp_path, monkeypatch, capsys):
    (tmp_path / "mine.txt").write_text("x")
    code, out, err = costsim(monkeypatch, capsys, "stress", SUPPORT, "--vary", "retry.max_attempts=1:2:2", "-n",
                             "30", "--out", tmp_path)
    assert code == 2 and out == "" and "the folder holds files that are not a costsim run (mine.txt)" in err


def test_stdout_closed_early_is_exit_0_and_stdout_full_is_one_line_exit_1(tmp_path):
    pipe = subprocess.run(f"'{COSTSIM}' run '{SUPPORT}' -n 30 --out '{tmp_path / 'a'}' | head -1; "
                          "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True,
                          text=True, timeout=120)
    assert pipe.returncode == 0 and pipe.stderr == "" and pipe.stdout.count("\n") == 1
    marker = read_marker(tmp_path / "a")  # the reader left while the tables were shown: the folder is still whole
    assert marker is not None and all((tmp_path / "a" / name).is_file() for name in marker["files"])
    assert {"summary.json", "tasks.csv"} <= set(marker["files"]) and any(n.endswith(".png") for n in marker["files"])
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([str(COSTSIM), "run", str(SUPPORT), "-n", "30", "-f", "json", "--out",
                               str(tmp_path / "b")], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == "error: standard output: could not write: No space left on device\n"
