"""A run's per-task columns in shared memory: written in place by the worker processes, read by this one.

A run that keeps every task's record and runs its chunks in a local process pool would otherwise send
each chunk's columns back pickled (about 240 bytes a task per alternative) and copy them into the run's
arrays here; formatting its tasks file in the workers would send them out again, pickled, and the text
back. Instead, the parent makes one segment of shared memory (a POSIX
``shm_open`` object, in ``/dev/shm`` on Linux: :class:`SharedArrays`) holding every alternative's column
of every field of :data:`~sim.core.records.TASK_FIELDS`, at the run's length (:func:`columns_layout`); a
worker maps it by name (:func:`attach`, given the small picklable :class:`SharedRef`), writes its chunk's
rows in place and sends back only what is not a column (each block's overhead and the model calls). What
travels is a name and offsets, never an array. The workers that format the run's tasks file read the rows
from there too, and publish each piece's length in a small segment of their own.

**Memory.** The segment is sparse: a page takes memory only once written, so a field no task fills (no
cache, no traffic) costs nothing, as the zeroed arrays of a run in one process (``np.zeros``). Before
making one, :meth:`SharedArrays.create` checks that the file system of shared memory has room for the
whole segment and gives None when it has not (a container's small ``/dev/shm``): the caller then keeps
its columns in this process, as before. Writing past a full ``/dev/shm`` would kill the process with
SIGBUS; checking first is the price of never doing that.

**Lifetime.** The parent's arrays are views of its own mapping of the segment, which stays valid after the
segment's *name* is removed (``shm_unlink``), as an open file outlives its deleted name: a result's
columns stay safe for as long as anyone holds them, and the memory is freed when the last of them is
dropped. The name is needed only while workers may still attach, and is removed:

* by :meth:`SharedArrays.unlink`, which the process pool that used it calls when it closes
  (:meth:`sim.run.executor.ProcessExecutor.close`: after a normal end, an exception, Ctrl-C, or the
  command line's SIGTERM exception, once its workers have exited), and ``simulate`` on an exception;
* when the :class:`SharedArrays` is garbage-collected, or at the interpreter's exit (``weakref.finalize``);
* after a SIGKILL, by :mod:`multiprocessing`'s resource tracker, with which the parent registers the name
  when it creates it (the tracker unlinks what is still registered when this process dies, with a warning
  that it did).

Workers attach without registering the name again (on Python 3.11, ``SharedMemory(name)`` would: the
parent's tracker, which the pool's workers share, would then hold a name the parent already removed), and
keep their mappings of the last few segments they saw, so that a run's later chunks map nothing again;
mapping a new one, a worker drops those whose name is gone (its mapping alone would keep their memory).
"""

from __future__ import annotations

import mmap
import os
import secrets
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from sim.core.records import TASK_FIELDS

#: Each array starts on a page of its own, so that an array nobody writes takes no memory.
_ALIGN = mmap.PAGESIZE
#: Where POSIX shared memory lives on Linux: the file system whose free space is checked before creating.
_SHM_DIR = "/dev/shm"
#: Segments a worker keeps mapped (the last ones it attached to): a run's columns and a file's offsets.
_ATTACHED_KEPT = 4


@dataclass(frozen=True)
class SharedRef:
    """What a worker needs to map a :class:`SharedArrays`: its name and its arrays' (key, dtype, length)."""

    name: str
    arrays: tuple[tuple[str, str, int], ...]

    @property
    def size(self) -> int:
        return _layout(self.arrays)[1]


def _layout(arrays: tuple[tuple[str, str, int], ...]) -> tuple[dict[str, int], int]:
    """Each array's byte offset by key, and the segment's size."""
    offsets, at = {}, 0
    for key, dtype, length in arrays:
        offsets[key] = at
        at += -(-length * np.dtype(dtype).itemsize // _ALIGN) * _ALIGN
    return offsets, max(at, _ALIGN)


def _views(buffer: mmap.mmap, ref: SharedRef) -> dict[str, np.ndarray]:
    offsets, _ = _layout(ref.arrays)
    return {key: np.frombuffer(buffer, dtype=dtype, count=length, offset=offsets[key])
            for key, dtype, length in ref.arrays}


def _room(size: int) -> bool:
    """Whether the shared-memory file system has ``size`` bytes free (True where it cannot tell)."""
    try:
        stats = os.statvfs(_SHM_DIR)
    except (OSError, AttributeError):
        return True
    return stats.f_bavail * stats.f_frsize >= size


class SharedArrays:
    """Zeroed arrays in one segment of shared memory this process created: ``arrays[key]``, writable here
    and in any worker that maps it by ``ref`` (:func:`attach`). Make one with :meth:`create`."""

    def __init__(self, ref: SharedRef, buffer: mmap.mmap, unlink_name) -> None:
        self.ref = ref
        self.arrays = _views(buffer, ref)
        self._unlink = weakref.finalize(self, unlink_name)

    @classmethod
    def create(cls, arrays: dict[str, tuple[type, int]]) -> SharedArrays | None:
        """A new segment holding, for each key, a zeroed array of that (dtype, length); None when shared
        memory is not available here or has no room for it."""
        try:
            import _posixshmem  # noqa: F401  (POSIX shared memory: Linux, macOS; elsewhere, none)
            from multiprocessing.shared_memory import SharedMemory
        except ImportError:
            return None
        layout = tuple((key, np.dtype(dtype).str, int(length)) for key, (dtype, length) in arrays.items())
        _, size = _layout(layout)
        if not _room(size):
            return None
        try:
            # costsim-<pid>-<random>: whose it is, for whoever lists /dev/shm. Creating it registers the name
            # with the resource tracker.
            segment = SharedMemory(f"costsim-{os.getpid()}-{secrets.token_hex(6)}", create=True, size=size)
        except OSError:
            return None
        try:
            # Our own mapping of it, so that the arrays keep it alive, and closing the SharedMemory (its
            # mapping and descriptor) never meets "exported pointers exist".
            buffer = mmap.mmap(segment._fd, size)
        except BaseException:
            segment.close()
            segment.unlink()
            raise
        segment.close()
        return cls(SharedRef(segment.name, layout), buffer, _unlinker(segment))

    @property
    def linked(self) -> bool:
        """Whether workers can still map it by name (:meth:`unlink` not called yet)."""
        return self._unlink.alive

    def unlink(self) -> None:
        """Remove the segment's name (no worker can map it after); this process's arrays stay valid. Idempotent."""
        self._unlink()


def _unlinker(segment):
    def unlink() -> None:
        try:
            segment.unlink()  # shm_unlink, and the resource tracker forgets the name
        except FileNotFoundError:
            pass

    return unlink


def columns_layout(n_tasks: int, alternatives: int) -> dict[str, tuple[type, int]]:
    """The arrays of a run's columns (:func:`columns`): every field of every alternative, ``n_tasks`` long."""
    return {f"{index}.{name}": (dtype, n_tasks) for index in range(alternatives) for name, dtype in TASK_FIELDS.items()}


def columns(arrays: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """A run's columns in shared arrays laid out by :func:`columns_layout`: each alternative's, by field."""
    alternatives = len(arrays) // len(TASK_FIELDS)
    return [{name: arrays[f"{index}.{name}"] for name in TASK_FIELDS} for index in range(alternatives)]


#: This worker's mappings of the last segments it attached to, by name, the latest last.
_ATTACHED: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()


def attach(ref: SharedRef) -> dict[str, np.ndarray]:
    """In a worker: the arrays of the segment ``ref`` names, writable, mapped once per segment (the last
    few stay mapped). The name is not registered with the resource tracker (only its creator owns it)."""
    views = _ATTACHED.get(ref.name)
    if views is not None:
        _ATTACHED.move_to_end(ref.name)
        return views
    fd = _open(ref.name)
    try:
        buffer = mmap.mmap(fd, ref.size)
    finally:
        os.close(fd)
    for name in [name for name in _ATTACHED if not linked(name)]:  # a mapping would keep its memory
        del _ATTACHED[name]
    views = _ATTACHED[ref.name] = _views(buffer, ref)
    while len(_ATTACHED) > _ATTACHED_KEPT:
        _ATTACHED.popitem(last=False)
    return views


def linked(name: str) -> bool:
    """Whether the segment ``name`` still has its name (its creator has not unlinked it: the work that uses
    it is not over)."""
    try:
        os.close(_open(name))
    except FileNotFoundError:
        return False
    return True


def _open(name: str) -> int:
    """A descriptor of the existing segment ``name``, opened read-write, without telling the tracker."""
    import _posixshmem  # what SharedMemory(name) calls, less its registration

    return _posixshmem.shm_open("/" + name.lstrip("/"), os.O_RDWR, mode=0o600)
