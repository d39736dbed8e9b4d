"""Shared memory between a run and its worker processes (sim/run/shared.py): the columns the workers write
in place, and the tasks file they format from them and write at its place, are the same bytes as a run in
one process; no segment's name outlives its pool, on a normal end or an exception; a result's columns stay
valid after the pool closes."""

from __future__ import annotations

import gzip
import os
import pickle
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import run

import sim
from sim.engine.fast import FastEngine
from sim.output import rundir, taskfile
from sim.output.rundir import SUMMARY_FILE, TASKS_FILE, write_run
from sim.run.executor import ProcessExecutor
from sim.run.shared import SharedArrays, attach, columns_layout
from sim.stats.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = sim.load_workflow(ROOT / "workflows" / "support-agent.yaml")

pytestmark = pytest.mark.skipif(SharedArrays.create({"probe": ("int64", 1)}) is None,
                                reason="no POSIX shared memory here")


def _segments() -> list[str]:
    """This process's segments (costsim names them costsim-<pid>-<random>)."""
    folder = Path("/dev/shm")
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f"costsim-{os.getpid()}-")) \
        if folder.is_dir() else []


@pytest.fixture
def pool():
    with ProcessExecutor(2) as executor:
        yield executor
    assert _segments() == []  # closing the pool unlinked every segment its work used


def _assert_same_columns(a, b) -> None:
    assert [alt.name for alt in a.alternatives] == [alt.name for alt in b.alternatives]
    for x, y in zip(a.alternatives, b.alternatives):
        assert x.tasks.columns.keys() == y.tasks.columns.keys()
        for name, column in x.tasks.columns.items():
            assert column.dtype == y.tasks.columns[name].dtype
            assert np.array_equal(column, y.tasks.columns[name]), name
        assert x.tasks.model_calls == y.tasks.model_calls
        assert x.tasks.overhead_usd == y.tasks.overhead_usd


@pytest.mark.parametrize("engine", ["fast", "des"])
def test_workers_write_the_same_columns_into_shared_memory(pool, engine):
    # fast: the engine fills the shared columns in place; des: the worker copies its blocks' columns there
    tasks, chunk = (30_000, 7_000) if engine == "fast" else (2_000, 700)
    here = run(SUPPORT, tasks, engine=engine, chunk_tasks=chunk)
    there = run(SUPPORT, tasks, engine=engine, chunk_tasks=chunk, executor=pool)
    assert here.shared is None
    assert there.shared is not None and there.shared.linked  # the pool is open: workers may still map it
    assert len(_segments()) == 1
    _assert_same_columns(here, there)
    assert rundir.summary_json(summarize(here)) == rundir.summary_json(summarize(there))


def test_the_tasks_file_the_workers_write_is_the_same_bytes(pool, tmp_path, monkeypatch):
    monkeypatch.setattr(taskfile, "CSV_PIECE_ROWS", 700)  # 15 pieces of a 3 x 3,000-row file: odd sizes
    here = run(SUPPORT, 3_000, engine="fast", chunk_tasks=1_000)
    there = run(SUPPORT, 3_000, engine="fast", chunk_tasks=1_000, executor=pool)
    written = {}
    # "copied": columns made in this process, copied into shared memory for the workers to format
    for name, result, executor in (("here", here, None), ("there", there, pool), ("copied", here, pool)):
        for kind in ("csv", "gz"):
            folder = tmp_path / f"{name}-{kind}"
            write_run(result, summarize(result), folder, plot=False, tasks_file=kind, executor=executor)
            written[name, kind] = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert written["here", "csv"] == written["there", "csv"] == written["copied", "csv"]
    assert written["here", "gz"] == written["there", "gz"] == written["copied", "gz"]
    assert sorted(written["there", "csv"]) == [SUMMARY_FILE, TASKS_FILE]  # no part file, no temporary file
    assert gzip.decompress(written["there", "gz"][TASKS_FILE + ".gz"]) == written["here", "csv"][TASKS_FILE]
    rows = written["there", "csv"][TASKS_FILE].decode().splitlines()
    assert len(rows) == 1 + 3 * 3_000 and rows[1].startswith("0,baseline,")
    assert len(_segments()) == 1  # the run's; the pieces' lengths (and the copy) had their own, unlinked after


def test_a_piece_formatted_a_few_rows_at_a_time_is_the_same_text(pool):
    # a worker formats its piece CSV_FORMAT_ROWS rows at a time: the concatenation must be the piece's text,
    # whether the rows are named in shared memory or held (7 rows at a time: pieces of 700 split unevenly)
    there = run(SUPPORT, 2_000, engine="fast", chunk_tasks=1_000, executor=pool)
    ref = taskfile._shared_ref(there)
    for named in (list(taskfile._csv_pieces(there, 700, ref)), list(taskfile._csv_pieces(there, 700))):
        assert len(named) == 3 * 3
        for piece in named:
            whole = taskfile._csv_piece(piece).encode("utf-8")
            assert taskfile._csv_piece_bytes(piece, rows=7) == whole
            assert whole.count(b"\n") == len(range(piece[2], min(piece[2] + 700, 2_000)))



def test_the_summary_is_made_while_the_workers_format_the_tasks_file(pool, tmp_path, monkeypatch):
    # each side waits (up to 30 s) until the other has begun: made before the tasks file, or after it, the
    # summary would not see the tasks file begun; the folder is the one a summary made first gives
    monkeypatch.setattr(taskfile, "CSV_PIECE_ROWS", 700)
    result = run(SUPPORT, 3_000, engine="fast", chunk_tasks=1_000, executor=pool)
    assert taskfile.formatted_by_workers(result, pool)
    summary_begun, tasks_begun = threading.Event(), threading.Event()
    seen: dict[str, bool] = {}
    real_write_tasks_file = rundir._write_tasks_file

    def write_tasks_file(*args, **kwargs):
        tasks_begun.set()
        seen["summary begun first"] = summary_begun.wait(30)
        return real_write_tasks_file(*args, **kwargs)

    def make_summary() -> dict:
        summary_begun.set()
        seen["tasks begun first"] = tasks_begun.wait(30)
        seen["in a thread of its own"] = threading.current_thread() is not threading.main_thread()
        return summarize(result)

    monkeypatch.setattr(rundir, "_write_tasks_file", write_tasks_file)
    written = rundir.write_run_folder(result, tmp_path / "meanwhile", summary=make_summary, plot=False,
                                      executor=pool)
    assert seen == {"summary begun first": True, "tasks begun first": True, "in a thread of its own": True}
    assert list(written) == ["summary", "tasks"]
    monkeypatch.setattr(rundir, "_write_tasks_file", real_write_tasks_file)
    rundir.write_run_folder(result, tmp_path / "first", summary=summarize(result), plot=False)
    for name in (TASKS_FILE, SUMMARY_FILE):
        made = [(tmp_path / folder / name).read_text() for folder in ("meanwhile", "first")]
        if name == SUMMARY_FILE:  # the time of writing aside
            made = [re.sub(r'"created_utc": "[^"]*"', "", text) for text in made]
        assert made[0] == made[1]


@pytest.mark.parametrize("failing", ["summary", "tasks file"])
def test_a_failure_while_the_summary_is_made_meanwhile_leaves_no_folder(pool, tmp_path, monkeypatch, failing):
    # the summary's error, or the tasks file's (told first, once the summary's thread is done), and no folder
    monkeypatch.setattr(taskfile, "CSV_PIECE_ROWS", 700)
    result = run(SUPPORT, 3_000, engine="fast", chunk_tasks=1_000, executor=pool)
    made = []

    def make_summary() -> dict:
        made.append(summarize(result))
        if failing == "summary":
            raise ValueError("the summary failed")
        return made[-1]

    def failed_tasks_file(*args, **kwargs):
        raise ValueError("the tasks file failed")

    if failing == "tasks file":
        monkeypatch.setattr(rundir, "_write_tasks_file", failed_tasks_file)
    with pytest.raises(ValueError, match=f"the {failing} failed"):
        rundir.write_run_folder(result, tmp_path / "run", summary=make_summary, plot=False, executor=pool)
    assert len(made) == 1  # made once, and done before the error came out
    assert sorted(tmp_path.iterdir()) == []

def test_a_result_outlives_its_pool(tmp_path):
    """The columns are this process's mapping of the segment, valid after its name is gone."""
    with ProcessExecutor(2) as executor:
        result = run(SUPPORT, 4_000, engine="fast", chunk_tasks=1_000, executor=executor)
        name = result.shared.ref.name
    assert _segments() == [] and not result.shared.linked
    assert not (Path("/dev/shm") / name).exists()
    _assert_same_columns(result, run(SUPPORT, 4_000, engine="fast", chunk_tasks=1_000))
    write_run(result, summarize(result), tmp_path / "after", plot=False)  # written here, from the mapping
    assert (tmp_path / "after" / TASKS_FILE).read_bytes() == taskfile.tasks_csv(result).encode()
    copy = pickle.loads(pickle.dumps(result))  # a result pickles as before: its arrays, not the segment
    assert copy.shared is None
    _assert_same_columns(result, copy)


class _FailingEngine(FastEngine):
    """The vectorised engine, failing on the block of tasks from 2,000 (in a worker)."""

    def run_block_into(self, plan, draws, out):
        if draws.task_ids[0] >= 2_000:
            raise RuntimeError("a chunk failed")
        return super().run_block_into(plan, draws, out)


def test_a_failed_chunk_leaves_no_segment():
    with ProcessExecutor(2) as executor:
        with pytest.raises(RuntimeError, match="a chunk failed"):
            run(SUPPORT, 5_000, engine=_FailingEngine(), chunk_tasks=1_000, executor=executor)
        assert _segments() == []  # simulate unlinked it at once, before the pool closes


def test_a_worker_maps_a_segment_by_name_without_owning_it():
    arrays = SharedArrays.create(columns_layout(10, 2))
    try:
        assert _segments() == [arrays.ref.name]
        mapped = attach(arrays.ref)  # as a worker does (here: this process, a second mapping)
        mapped["1.cost_usd"][:] = 2.5
        assert arrays.arrays["1.cost_usd"].tolist() == [2.5] * 10
        assert not arrays.arrays["0.cost_usd"].any()
        kept = arrays.arrays["1.cost_usd"]
    finally:
        arrays.unlink()
        arrays.unlink()  # idempotent
    assert _segments() == []
    del arrays
    assert kept.sum() == 25.0  # still mapped


def test_a_worker_drops_its_mapping_of_a_segment_whose_name_is_gone():
    from sim.run import shared

    first = SharedArrays.create({"a": ("int64", 4)})
    attach(first.ref)
    first.unlink()
    second = SharedArrays.create({"b": ("int64", 4)})
    try:
        attach(second.ref)
        assert first.ref.name not in shared._ATTACHED and second.ref.name in shared._ATTACHED
    finally:
        second.unlink()


def test_a_traced_run_on_workers_keeps_its_trace_and_its_columns(pool):
    here = run(SUPPORT, 1_500, chunk_tasks=500, trace=True)
    there = run(SUPPORT, 1_500, chunk_tasks=500, trace=True, executor=pool)
    assert there.shared is not None
    assert here.trace == there.trace and here.trace
    _assert_same_columns(here, there)


def test_pieces_formatted_out_of_order_are_kept_then_written_at_their_place(tmp_path):
    # the workers' protocol, played in this process in a scrambled order: a piece whose place is not yet
    # known is kept (not written, and nothing waits for it), written as soon as the pieces before it are
    # formatted, and the last round writes what is left; the file is the one-process text
    result = run(SUPPORT, 1_000, engine="fast")
    pieces = list(taskfile._csv_pieces(result, 400))  # 3 alternatives x 3 pieces (400, 400, 200 rows)
    shared = SharedArrays.create({"bytes": ("int64", len(pieces)), "written": ("int64", len(pieces))})
    path = tmp_path / "tasks.csv"
    header = taskfile.tasks_csv(result).split("\n", 1)[0].encode() + b"\n"
    path.write_bytes(header)
    try:
        order = [4, 2, 7, 0, 8, 1, 3, 6, 5]
        for step, index in enumerate(order):
            taskfile._csv_piece_at((str(path), len(header), shared.ref, index, pieces[index]))
            known = {i for i in order[:step + 1]}
            placeable = {i for i in known if set(range(i)) <= known}  # every piece before it formatted
            kept = {key[1] for key in taskfile._kept_pieces if key[0] == shared.ref.name}
            assert kept == known - placeable
            assert set(np.flatnonzero(shared.arrays["written"])) == placeable
        taskfile._csv_pieces_flush(shared.ref)
        assert not taskfile._kept_pieces
        assert path.read_bytes() == taskfile.tasks_csv(result).encode()
    finally:
        shared.unlink()


# The two tests below patch the formatter in this process, which the pool's workers see only when forked from
# it; a thread left running by an earlier test would make the pool use its fork server instead (fork_safe).
# So each runs in a fresh interpreter, where the workers are forked: the same code, whatever ran before.
_POOL_SCRIPT = """
import sys, time
from pathlib import Path
import sim
from sim.output import taskfile
from sim.output.rundir import TASKS_FILE, write_run
from sim.run import executor as executors
from sim.run.executor import ProcessExecutor
from sim.run.simulation import simulate
from sim.stats.summary import summarize

tmp = Path(sys.argv[1])
taskfile.CSV_PIECE_ROWS = 500
formatted = taskfile._csv_piece_bytes
marker = tmp / "fail"
SUPPORT = sim.load_workflow(Path("workflows/support-agent.yaml"))
"""


def _in_fresh_interpreter(tmp_path, code: str) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _POOL_SCRIPT + code, str(tmp_path)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr


def test_a_slow_first_piece_does_not_hold_the_other_worker(tmp_path):
    # the first piece takes long: the other worker formats the rest meanwhile and keeps them; the file is still
    # the one-process text
    _in_fresh_interpreter(tmp_path, """
def slow_first(piece, rows=taskfile.CSV_FORMAT_ROWS):
    if piece[0] == "baseline" and piece[2] == 0:
        time.sleep(0.5)
    return formatted(piece, rows)

taskfile._csv_piece_bytes = slow_first
assert executors.fork_safe()
with ProcessExecutor(2) as pool:
    result = simulate(SUPPORT, 2_000, 0, engine="fast", chunk_tasks=1_000, executor=pool)
    write_run(result, summarize(result), tmp / "run", plot=False, executor=pool)
    assert (tmp / "run" / TASKS_FILE).read_bytes() == taskfile.tasks_csv(result).encode()
print("ok")
""")


def test_a_failed_piece_fails_the_file_and_the_next_file_is_whole(tmp_path):
    # a piece that fails fails the write (its error, not a hang: no worker waits for it), leaves no file, and
    # the pieces the workers kept of that file do not leak into the next one; the formatter fails while a
    # marker file exists
    _in_fresh_interpreter(tmp_path, """
def failing(piece, rows=taskfile.CSV_FORMAT_ROWS):
    if piece[0] == "gpt-4.1" and piece[2] == 500 and marker.exists():
        raise ValueError("boom")
    return formatted(piece, rows)

taskfile._csv_piece_bytes = failing
assert executors.fork_safe()
with ProcessExecutor(2) as pool:
    result = simulate(SUPPORT, 2_000, 0, engine="fast", chunk_tasks=1_000, executor=pool)
    marker.touch()
    try:
        write_run(result, summarize(result), tmp / "failed", plot=False, executor=pool)
    except ValueError as error:
        assert "boom" in str(error)
    else:
        raise AssertionError("the failed piece did not fail the file")
    assert not (tmp / "failed" / TASKS_FILE).exists()
    marker.unlink()
    write_run(result, summarize(result), tmp / "then", plot=False, executor=pool)
    assert (tmp / "then" / TASKS_FILE).read_bytes() == taskfile.tasks_csv(result).encode()
print("ok")
""")
