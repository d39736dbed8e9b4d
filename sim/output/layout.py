"""What a run folder holds: the names of its files, in one place for the module that writes a folder
(:mod:`sim.output.rundir`) and the one that reads it back (:mod:`sim.output.report`), and the marker that
makes a folder a costsim run.

The marker, ``.costsim-run``, is JSON: the run's identity (``workflow``, ``seed``, ``tasks``,
``created_utc``, as ``summary.json`` has them) and ``files``, every file the run wrote, by its path in the
folder. A folder is one complete run when it has the marker, every file the marker lists and no other
(``report.html``, which ``costsim report`` adds, excepted). costsim writes only into a folder that is new,
empty or one complete run, and replaces such a folder as one unit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SUMMARY_FILE = "summary.json"  # the JSON contract: costsim run --format json
TASKS_FILE = "tasks.csv"  # one row per task per alternative (tasks.csv.gz when compressed)
PLOT_FILE = "cost-per-task.png"  # the cost distribution (and cost-per-task.svg beside it)
WORKFLOW_FILE = "workflow.yaml"  # the workflow as run, copied into the run folder
REPORT_FILE = "report.html"  # the HTML report (costsim report, or costsim run --report)
MARKER_FILE = ".costsim-run"  # the run's identity and the list of its files: what makes a folder a run
MARKER_FORMAT = 1  # the marker's "costsim_run" value
MARKER_KEYS = ("workflow", "seed", "tasks", "created_utc")  # the run's identity in the marker

_TEMPORARY = re.compile(r"^\..+\.tmp$")  # a file being written (sim.core.files.atomic_write)


def marker_text(summary: dict, files: list[str]) -> str:
    """The marker of a run with this summary and these files (paths in the folder, ``/``-separated)."""
    identity = {key: summary[key] for key in MARKER_KEYS[:3]}
    identity["created_utc"] = summary.get("metadata", {}).get("created_utc")
    return json.dumps({"costsim_run": MARKER_FORMAT, **identity, "files": sorted(files)}, indent=2) + "\n"


def read_marker(folder: Path) -> dict | None:
    """The marker of ``folder``, or None when it has none (or one costsim did not write)."""
    try:
        marker = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if (not isinstance(marker, dict) or marker.get("costsim_run") != MARKER_FORMAT
            or not isinstance(marker.get("files"), list) or not all(isinstance(f, str) for f in marker["files"])):
        return None
    return marker


def folder_files(folder: Path) -> set[str]:
    """Every file under ``folder`` by its path in it, but the marker and files being written."""
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")
            if not path.is_dir() and path.name != MARKER_FILE and not _TEMPORARY.match(path.name)}


def unlisted_files(folder: Path, marker: dict) -> list[str]:
    """The files of ``folder`` its marker does not list (``report.html`` may be there without)."""
    return sorted(folder_files(folder) - set(marker["files"]) - {REPORT_FILE})


def missing_files(folder: Path, marker: dict) -> list[str]:
    """The files ``folder``'s marker lists that are not there."""
    return sorted(name for name in marker["files"] if not (folder / name).is_file())
