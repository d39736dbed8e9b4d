"""The tasks file: one row per task per alternative, as CSV text, formatted here or by worker processes.

``tasks.csv`` holds ``task, alternative`` then every field of the task record
(:data:`~sim.core.records.TASK_FIELDS`), success as 0/1, each number as ``str`` writes it: the text the
:mod:`csv` module writes for those rows, made column by column (:func:`tasks_csv`, :func:`write_tasks_csv`).
Formatting numbers as text is most of the time a large run takes to write, so a local pool's workers
format and write a large file themselves (:func:`write_tasks_csv_file`): each takes a piece of up to
:data:`CSV_PIECE_ROWS` rows straight from the columns in shared memory, and writes it at its place in
the file once the lengths of the pieces before it are known. The same bytes wherever it is formatted.

:mod:`sim.output.rundir` writes the file into a run folder.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Iterator
from itertools import repeat
from pathlib import Path

import numpy as np

from sim.core.records import TASK_FIELDS, TaskColumns
from sim.run.executor import PARALLEL_MIN_WORK_S
from sim.run.shared import SharedRef, attach, columns_layout, linked
from sim.run.shared import columns as shared_columns
from sim.run.simulation import SimulationResult

__all__ = ["CSV_PIECE_ROWS", "CSV_ROWS_PER_S", "formatted_by_workers", "tasks_csv", "write_tasks_csv",
           "write_tasks_csv_file"]


def tasks_csv(result: SimulationResult) -> str:
    """One row per task per alternative: ``task, alternative`` then every field of the task record."""
    buffer = io.StringIO()
    write_tasks_csv(result, buffer.write)
    return buffer.getvalue()


#: Rows of the tasks file a worker process formats at a time (about 12 MB of text).
CSV_PIECE_ROWS = 100_000
#: About how many rows of the tasks file one core formats a second (the support agent's, measured 2026-12-03
#: on a 2-core machine: 3 million rows in 17.2 s of CPU, against 24.8 s before each distinct value was
#: formatted once): the estimate that decides whether worker processes format them.
CSV_ROWS_PER_S = 170_000


def write_tasks_csv(result: SimulationResult, write: Callable[[str], object], rows_at_once: int = 10_000,
                    executor=None) -> None:
    """The text of :func:`tasks_csv`, handed to ``write`` a few thousand rows at a time (so a large run's
    file is never held in memory whole).

    With ``executor`` (:mod:`sim.run.executor`) and rows enough to be worth its workers, pieces of up to
    :data:`CSV_PIECE_ROWS` rows (:func:`_piece_rows`) are formatted in the worker processes and written
    here in order: the same text, as each row's text depends on that row alone. Formatting numbers as
    text is most of the time a large run takes to write. The workers read the rows from the run's shared memory when its
    pool wrote them there (:attr:`SimulationResult.shared`), else get them pickled."""
    write(_csv_text([["task", "alternative", *TASK_FIELDS]]))
    if formatted_by_workers(result, executor):
        for text in executor.imap(_csv_piece, _csv_pieces(result, _piece_rows(result, executor), _shared_ref(result))):
            write(text)
        return
    for piece in _csv_pieces(result, rows_at_once):
        write(_csv_piece(piece))


def formatted_by_workers(result: SimulationResult, executor) -> bool:
    """Whether ``executor``'s workers should format the tasks file: rows enough to be worth them; a pool
    not yet running starts only for long work, even if asked for."""
    rows = result.n_tasks * len(result.alternatives)
    work_s = rows / CSV_ROWS_PER_S
    return (executor is not None and rows > CSV_PIECE_ROWS and executor.worth(work_s)
            and (getattr(executor, "started", True) or work_s >= PARALLEL_MIN_WORK_S))


#: When a pool formats the file: at least this many pieces a worker, so that the last pieces to finish leave
#: no worker idle for long (9 pieces of a 3 x 300,000-row file on 2 workers: one formats 5, the other 4).
PIECES_PER_WORKER = 8


def _piece_rows(result: SimulationResult, executor) -> int:
    """Rows per piece that ``executor``'s workers format: :data:`CSV_PIECE_ROWS`, or fewer (down to
    :data:`CSV_FORMAT_ROWS`) so that each worker gets at least :data:`PIECES_PER_WORKER` pieces."""
    workers = max(1, int(getattr(executor, "workers", 1)))
    wanted = -(-result.n_tasks * len(result.alternatives) // (workers * PIECES_PER_WORKER))
    return min(CSV_PIECE_ROWS, max(CSV_FORMAT_ROWS, wanted))


def _shared_ref(result: SimulationResult) -> SharedRef | None:
    """What workers map the result's columns by, while they can (its pool is open), else None."""
    shared = result.shared
    return shared.ref if shared is not None and shared.linked else None


def write_tasks_csv_file(result: SimulationResult, path: Path, executor=None) -> None:
    """Write the text of :func:`tasks_csv` to the file ``path``.

    When the rows are enough to be worth a local pool's workers (``executor``), the workers format the
    file and write it too (:func:`_csv_piece_at`): each formats a piece of up to :data:`CSV_PIECE_ROWS` rows
    straight from the columns in shared memory, publishes the piece's length in bytes, and writes it at its
    place in the file once the lengths of the pieces before it are known; until then it keeps the piece and
    formats the next, and a last round of tasks (:func:`_csv_pieces_flush`, one a worker) writes what is
    still kept. This process only writes the header and waits: it neither sends the columns nor receives
    the text. The columns are in shared memory already when the pool ran the simulation and is still open
    (``costsim run``); else they are copied there first (a small part of formatting them: only the columns
    that are not all zeros). Without shared memory (Dask, or no room for it) as :func:`write_tasks_csv`."""
    shared = None
    if formatted_by_workers(result, executor) and hasattr(executor, "share"):
        rows = _piece_rows(result, executor)
        pieces = -(-result.n_tasks // rows) * len(result.alternatives)
        ref = _shared_ref(result)
        if ref is not None:
            shared = executor.share({"bytes": ("int64", pieces), "written": ("int64", pieces)})
        else:
            shared = executor.share({**columns_layout(result.n_tasks, len(result.alternatives)),
                                     "bytes": ("int64", pieces), "written": ("int64", pieces)})
            if shared is not None:
                _copy_columns(result, shared_columns(shared.arrays))
                ref = shared.ref
    if shared is None:
        with path.open("w", encoding="utf-8", newline="") as handle:
            write_tasks_csv(result, handle.write, executor=executor)
        return
    try:
        header = _csv_text([["task", "alternative", *TASK_FIELDS]]).encode("utf-8")
        path.write_bytes(header)
        work = [(str(path), len(header), shared.ref, index, piece)
                for index, piece in enumerate(_csv_pieces(result, rows, ref))]
        for _ in executor.imap(_csv_piece_at, work):
            pass
        # every piece is formatted; one task a worker writes what the workers still keep (each waits until all
        # are written, so no worker takes two, and every worker that keeps a piece gets one)
        for _ in executor.imap(_csv_pieces_flush, [shared.ref] * executor.workers):
            pass
    finally:
        shared.unlink()


def _copy_columns(result: SimulationResult, columns: list[dict]) -> None:
    """Copy each alternative's columns into ``columns`` (zeroed), but those that are all zeros."""
    for run, target in zip(result.alternatives, columns):
        for name, column in run.tasks.columns.items():
            if column.strides == (0,) and not column[:1].any():
                continue
            bits = column.view(f"i{column.itemsize}") if column.dtype.kind == "f" else column
            if bits.any():
                target[name][:] = column


#: How long a worker that has nothing else to do sleeps between looks at the pieces not yet written.
_PIECE_POLL_S = 0.0005

#: In a worker: the pieces it has formatted and not yet written, because the length of a piece before them
#: was not yet known: (segment of the lengths, piece index) -> (file, header length, text).
_kept_pieces: dict[tuple[str, int], tuple[str, int, bytes]] = {}


def _csv_piece_at(work: tuple[str, int, SharedRef, int, tuple]) -> None:
    """In a worker: format piece ``index`` (:func:`_csv_piece`), publish its length in the shared array of
    lengths (length + 1: 0 is "not yet", -1 "failed"), and write it into the file at the header's length
    plus the lengths of the pieces before it, if they are all published; else keep it and return, to
    format the next piece meanwhile (a worker that waited here idled for as long as the other took longer
    to format the piece before: 4 to 7% of the workers' time in a 2-job run of 10^6 tasks). The pieces a
    worker keeps are written at its next task, or at the last one (:func:`_csv_pieces_flush`).

    A piece that fails says so (-1), and the pieces after it fail too instead of being written."""
    path, start, ref, index, piece = work
    for key in [key for key in _kept_pieces if key[0] != ref.name and not linked(key[0])]:
        del _kept_pieces[key]  # left from a file that failed (its writer unlinked the segment of its lengths)
    arrays = attach(ref)  # the pieces' lengths and whether each is written: in the segment named ref
    try:
        data = _csv_piece_bytes(piece)
    except BaseException:
        arrays["bytes"][index] = -1
        raise
    arrays["bytes"][index] = len(data) + 1
    _kept_pieces[(ref.name, index)] = (path, start, data)
    _write_kept(ref.name, arrays)


def _write_kept(name: str, arrays: dict) -> None:
    """Write each piece this worker keeps for the segment ``name`` whose place is known (every piece before
    it published). Raises if a piece before one it keeps failed."""
    published, written = arrays["bytes"], arrays["written"]
    for key in sorted(key for key in _kept_pieces if key[0] == name):
        index = key[1]
        before = published[:index]
        if not before.all():
            continue
        path, start, data = _kept_pieces.pop(key)
        if (before < 0).any():
            raise RuntimeError(f"an earlier piece of {path} failed; piece {index} is not written")
        offset = start + int(before.sum()) - index  # each published length is one more than the piece's
        fd = os.open(path, os.O_WRONLY)
        try:
            view, done = memoryview(data), 0
            while done < len(data):
                done += os.pwrite(fd, view[done:], offset + done)
        finally:
            os.close(fd)
        written[index] = 1


def _csv_pieces_flush(ref: SharedRef) -> None:
    """In a worker, once every piece is formatted: write the pieces it still keeps, then wait until every
    worker has written its own (so that this task holds this worker, and the next such task goes to
    another). Raises if a piece failed."""
    arrays = attach(ref)
    published, written = arrays["bytes"], arrays["written"]
    while True:
        if (published < 0).any():
            for key in [key for key in _kept_pieces if key[0] == ref.name]:
                del _kept_pieces[key]
            raise RuntimeError("a piece of the tasks file failed")
        _write_kept(ref.name, arrays)
        if written.all():
            return
        time.sleep(_PIECE_POLL_S)


#: Rows a worker formats at once within its piece (:func:`_csv_piece_bytes`): about a megabyte of text at a
#: time instead of twelve. In one process, 10,000 rows at a time took 15% less CPU than 100,000 (medians of 5
#: interleaved rounds, the support agent, 2026-12-02); in a 2-job run of 10^6 tasks the tasks file's phase
#: took about 3% less wall time.
CSV_FORMAT_ROWS = 10_000


def _csv_piece_bytes(piece: tuple[str, TaskColumns | tuple, int], rows: int = CSV_FORMAT_ROWS) -> bytes:
    """The text of :func:`_csv_piece` for ``piece``, in UTF-8, formatted ``rows`` rows at a time."""
    name, tasks, first = piece
    if isinstance(tasks, TaskColumns):
        columns = tasks.columns
        parts = [(name, TaskColumns({field: column[at:at + rows] for field, column in columns.items()}), first + at)
                 for at in range(0, len(tasks), rows)]
    else:
        ref, index, low, high = tasks
        parts = [(name, (ref, index, at, min(at + rows, high)), at) for at in range(low, high, rows)]
    return b"".join([_csv_piece(part).encode("utf-8") for part in parts])


def _csv_pieces(result: SimulationResult, rows: int,
                ref: SharedRef | None = None) -> Iterator[tuple[str, TaskColumns | tuple, int]]:
    """The tasks file's rows after its header, as (alternative, its columns' rows, first task) pieces. With
    ``ref``, the result's columns in shared memory (:func:`~sim.run.shared.columns_layout`) that a worker
    may map, a piece's rows are named, not held: (``ref``, the alternative's index, first task, last + 1)."""
    for index, run in enumerate(result.alternatives):
        for first in range(0, result.n_tasks, rows):
            last = min(first + rows, result.n_tasks)
            if ref is not None:
                yield run.name, (ref, index, first, last), first
            else:
                yield run.name, TaskColumns({name: run.tasks.columns[name][first:last] for name in TASK_FIELDS}), first


def _csv_piece(piece: tuple[str, TaskColumns | tuple, int]) -> str:
    """The rows of one piece (:func:`_csv_pieces`): ``task, alternative`` then every field, success as 0/1.

    The text :mod:`csv` writes for these rows (``csv.writer(...).writerows``), made column by column: a
    number's text is ``str`` of it, as the csv module writes it, and only the alternative's name may need
    quoting (done once, by the csv module). Each distinct value's text is made once
    (:func:`_column_texts`), and the columns that hold one value throughout (most of a run's columns: no
    traffic, no routing, no reasoning) are joined once into one text, so that a row is joined from fewer
    parts. In one process this takes about 35% less time than ``str`` of every value joined a row at a time
    (100,000 rows of the support agent, 2026-12-03: 0.64-0.73 s against 0.91-1.08 s).
    """
    name, tasks, first = piece
    if not isinstance(tasks, TaskColumns):  # rows in shared memory: map them (once per worker and run)
        ref, index, first, last = tasks
        tasks = TaskColumns({field: column[first:last] for field, column in shared_columns(attach(ref))[index].items()})
    n = len(tasks)
    if n == 0:
        return ""
    texts: list = [list(map(str, range(first, first + n)))]
    same = [_csv_text([[0, name]])[2:-1]]  # the name as the csv module writes it after another field
    for field in TASK_FIELDS:
        column_texts = _column_texts(tasks.columns[field])
        if isinstance(column_texts, str):  # one value throughout: joined with its neighbours of one value
            same.append(column_texts)
            continue
        if same:
            texts.append(repeat(",".join(same), n))
            same = []
        texts.append(column_texts)
    if same:
        texts.append(repeat(",".join(same), n))
    return "\n".join(map(",".join, zip(*texts))) + "\n"


def _column_texts(column: np.ndarray) -> str | list[str]:
    """``str`` of every value of a numeric column (a boolean's as 0 or 1), or the one text of a column that
    holds one value throughout.

    Each distinct value is formatted once when at most half the values are distinct (token counts,
    attempts, a saving that takes a few values): ``str`` of a float costs about a microsecond, sorting
    the column to find its distinct values a few percent of that a value. Values are told apart by their
    bits, so that -0.0 keeps its own text ("-0.0", where 0.0 == -0.0)."""
    if column.dtype == bool:
        column = column.view(np.uint8)
    bits = column.view(f"i{column.itemsize}") if column.dtype.kind == "f" else column
    if column.strides == (0,) or not bits.any():  # one value broadcast, or all zeros (+0.0, not -0.0)
        return str(column[:1].tolist()[0])
    distinct, where = np.unique(bits, return_inverse=True)
    if len(distinct) == 1:
        return str(column[:1].tolist()[0])
    if 2 * len(distinct) <= len(column):
        texts = np.array(list(map(str, distinct.view(column.dtype).tolist())), dtype=object)
        return texts[where].tolist()
    return list(map(str, column.tolist()))


def _csv_text(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
