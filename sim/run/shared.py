"""A run's per-task columns in shared memory: written in place by the worker processes, read by this one.

A run that keeps every task's record and runs its chunks in a local process pool would otherwise send
each chunk's columns back pickled (about 240 bytes a task per alternative) and copy them into the run's
arrays here; formatting its tasks file in the workers would send them out again, pickled, and the text
back. Instead, the parent makes one segment of shared memory (:class:`SharedColumns`, a POSIX
``shm_open`` object, in ``/dev/shm`` on Linux) holding every alternative's column of every field of
:data:`~sim.core.records.TASK_FIELDS`, at the run's length; a worker maps it by name (:func:`attach`, given
the small picklable :class:`SharedRef`), writes its chunk's rows in place and sends back only what is not
a column (each block's overhead and the model calls). What travels is a name and offsets, never an array.

**Memory.** The segment is sparse: a page takes memory only once written, so a field no task fills (no
cache, no traffic) costs nothing, as the zeroed arrays of a run in one process (``np.zeros``). Before
making one, :meth:`SharedColumns.create` checks that the file system of shared memory has room for the
whole segment and gives None when it has not (a container's small ``/dev/shm``): the caller then keeps
its columns in this process, as before. Writing past a full ``/dev/shm`` would kill the process with
SIGBUS; checking first is the price of never doing that.

**Lifetime.** The parent's arrays are views of its own mapping of the segment, which stays valid after the
segment's *name* is removed (``shm_unlink``), as an open file outlives its deleted name: a result's
columns stay safe for as long as anyone holds them, and the memory is freed when the last of them is
dropped. The name is needed only while workers may still attach, and is removed:

* by :meth:`SharedColumns.unlink`, which the process pool that used it calls when it closes
  (:meth:`sim.run.executor.ProcessExecutor.close`: after a normal end, an exception, Ctrl-C, or the
  command line's SIGTERM exception, once its workers have exited), and ``simulate`` on an exception;
* when the :class:`SharedColumns` is garbage-collected, or at the interpreter's exit (``weakref.finalize``);
* after a SIGKILL, by :mod:`multiprocessing`'s resource tracker, with which the parent registers the name
  when it creates it (the tracker unlinks what is still registered when this process dies, with a warning
  that it did).

Workers attach without registering the name again (on Python 3.11, ``SharedMemory(name)`` would: the
parent's tracker, which the pool's workers share, would then hold a name the parent already removed), and
keep their mapping of the last segment they saw, so that a run's later chunks map nothing again.
"""

from __future__ import annotations

import mmap
import os
import secrets
import weakref
from dataclasses import dataclass

import numpy as np

from sim.core.records import TASK_FIELDS

#: Each column starts on a page of its own, so that a column nobody writes takes no memory.
_ALIGN = mmap.PAGESIZE
#: Where POSIX shared memory lives on Linux: the file system whose free space is checked before creating.
_SHM_DIR = "/dev/shm"


@dataclass(frozen=True)
class SharedRef:
    """What a worker needs to map a :class:`SharedColumns`: its name, the run's length and alternatives."""

    name: str
    n_tasks: int
    alternatives: int

    @property
    def size(self) -> int:
        return _layout(self.n_tasks, self.alternatives)[1]


def _layout(n_tasks: int, alternatives: int) -> tuple[list[dict[str, int]], int]:
    """Each alternative's byte offset of each field's column, and the segment's size."""
    offsets, at = [], 0
    for _ in range(alternatives):
        fields = {}
        for name, dtype in TASK_FIELDS.items():
            fields[name] = at
            at += -(-n_tasks * np.dtype(dtype).itemsize // _ALIGN) * _ALIGN
        offsets.append(fields)
    return offsets, max(at, _ALIGN)


def _views(buffer: mmap.mmap, ref: SharedRef) -> list[dict[str, np.ndarray]]:
    offsets, _ = _layout(ref.n_tasks, ref.alternatives)
    return [{name: np.frombuffer(buffer, dtype=TASK_FIELDS[name], count=ref.n_tasks, offset=at)
             for name, at in fields.items()} for fields in offsets]


def _room(size: int) -> bool:
    """Whether the shared-memory file system has ``size`` bytes free (True where it cannot tell)."""
    try:
        stats = os.statvfs(_SHM_DIR)
    except (OSError, AttributeError):
        return True
    return stats.f_bavail * stats.f_frsize >= size


class SharedColumns:
    """Every alternative's columns of one run, in one segment of shared memory this process created.

    ``columns[a][field]``: alternative ``a``'s column of ``field``, zeros until written (by this process or
    a worker); ``ref``: what a worker maps it by. Make one with :meth:`create`."""

    def __init__(self, ref: SharedRef, buffer: mmap.mmap, unlink_name) -> None:
        self.ref = ref
        self.columns = _views(buffer, ref)
        self._unlink = weakref.finalize(self, unlink_name)

    @classmethod
    def create(cls, n_tasks: int, alternatives: int) -> SharedColumns | None:
        """A new zeroed segment for ``alternatives`` columns of ``n_tasks`` tasks, or None when shared memory
        is not available here or has no room for it."""
        try:
            import _posixshmem  # noqa: F401  (POSIX shared memory: Linux, macOS; elsewhere, none)
            from multiprocessing.shared_memory import SharedMemory
        except ImportError:
            return None
        _, size = _layout(n_tasks, alternatives)
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
        return cls(SharedRef(segment.name, n_tasks, alternatives), buffer, _unlinker(segment))

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


#: This worker's mapping of the last segment it attached to: (name, views).
_ATTACHED: list[tuple[str, list[dict[str, np.ndarray]]]] = []


def attach(ref: SharedRef) -> list[dict[str, np.ndarray]]:
    """In a worker: every alternative's columns of the segment ``ref`` names, writable, mapped once per
    segment. The name is not registered with the resource tracker (only its creator owns it)."""
    if _ATTACHED and _ATTACHED[0][0] == ref.name:
        return _ATTACHED[0][1]
    fd = _open(ref.name)
    try:
        buffer = mmap.mmap(fd, ref.size)
    finally:
        os.close(fd)
    views = _views(buffer, ref)
    _ATTACHED[:] = [(ref.name, views)]
    return views


def _open(name: str) -> int:
    """A descriptor of the existing segment ``name``, opened read-write, without telling the tracker."""
    import _posixshmem  # what SharedMemory(name) calls, less its registration

    return _posixshmem.shm_open("/" + name.lstrip("/"), os.O_RDWR, mode=0o600)


def detach() -> None:
    """In a worker: drop its mapping of the last segment (its memory is freed once the name is gone too)."""
    _ATTACHED.clear()
