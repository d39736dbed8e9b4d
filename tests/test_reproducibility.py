"""Same seed, same bytes: files written by two runs are identical apart from the creation time."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run

from sim.output.rundir import SUMMARY_FILE, TASKS_FILE, write_run
from sim.spec.loader import load_workflow
from sim.stats.summary import summarize

EXAMPLE = Path(__file__).resolve().parents[1] / "workflows" / "support-agent.yaml"


def _write(tmp: Path, seed: int, block_tasks: int = 10_000) -> Path:
    result = run(load_workflow(EXAMPLE), 1500, seed=seed, block_tasks=block_tasks)
    summary = summarize(result)
    summary["metadata"]["created_utc"] = "2026-01-01T00:00:00Z"  # the one field allowed to differ
    write_run(result, summary, tmp, plot=False)
    return tmp


def test_same_seed_gives_the_same_bytes_whatever_the_block_size(tmp_path):
    a = _write(tmp_path / "a", seed=5)
    b = _write(tmp_path / "b", seed=5, block_tasks=250)
    for name in (SUMMARY_FILE, TASKS_FILE):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_another_seed_gives_other_tasks(tmp_path):
    a = json.loads((_write(tmp_path / "a", seed=5) / SUMMARY_FILE).read_text())
    b = json.loads((_write(tmp_path / "b", seed=6) / SUMMARY_FILE).read_text())
    assert a["alternatives"][0]["cost_per_task"]["mean"] != b["alternatives"][0]["cost_per_task"]["mean"]


def test_no_temporary_files_are_left_behind(tmp_path):
    out = _write(tmp_path / "a", seed=1)
    assert sorted(p.name for p in out.iterdir()) == sorted([SUMMARY_FILE, TASKS_FILE])


def test_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        out = _write(tmp_path / "a", seed=1)
    finally:
        os.umask(mask)
    assert stat.S_IMODE((out / SUMMARY_FILE).stat().st_mode) == 0o644
