"""Writing files so that a reader never sees half of one: a temporary file beside the target, then a rename.

A rename within one folder is atomic on POSIX file systems: the path holds the old file or the new one,
never a mix, and a write that fails leaves no temporary file behind. A folder is replaced the same way,
as one unit (:func:`replace_folder`), under a lock that a second writer finds taken (:func:`folder_lock`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sim.core.errors import OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None


@contextmanager
def output_errors(path: Path | str) -> Iterator[None]:
    """Turn a failure of the file system inside the block (a full disk, no permission, an input/output
    error: any :class:`OSError`) into one :class:`~sim.core.errors.OutputError` naming ``path`` (or the
    file the error names, when it names one)."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) and not _is_temporary(exc.filename) else path
        raise OutputError(where, exc.strerror or str(exc) or type(exc).__name__) from None


def _is_temporary(name: str) -> bool:
    base = os.path.basename(name)
    return base.startswith(".") and (base.endswith(".tmp") or ".new-" in base or ".old-" in base)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``. A failure of the
    file system is an :class:`~sim.core.errors.OutputError` naming ``path``; no temporary file is left."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "is a folder; give a file name")
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; give the usual mode
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


class FolderBusy(Exception):
    """Another writer holds the lock of a folder (:func:`folder_lock`); the argument is the lock's path."""


@contextmanager
def folder_lock(folder: Path) -> Iterator[Path]:
    """Hold the lock of ``folder`` (a file ``.NAME.lock`` beside it) while the block runs, or raise
    :class:`FolderBusy` at once when another writer, thread or process, holds it.

    The lock is an ``flock`` on that file, so it is released when its holder ends, however it ends; the
    file is removed when the block ends. Where ``flock`` does not exist the file's creation is the lock.
    """
    lock = folder.parent / f".{folder.name}.lock"
    folder.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover (no flock: Windows)
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise FolderBusy(str(lock)) from None
    else:
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise FolderBusy(str(lock)) from None
            try:  # the holder before us may have removed the file after we opened it: lock the file now there
                if os.path.samestat(os.fstat(fd), os.stat(lock)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def replace_folder(new: Path, target: Path) -> None:
    """Put the folder ``new`` at ``target`` (same parent), replacing what ``target`` holds as one unit: the
    old folder is renamed aside, the new one renamed in, then the old one removed. A reader sees the old
    folder or the new one, whole (for an instant, between the renames, no folder)."""
    if not (target.exists() or target.is_symlink()):
        os.rename(new, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    try:
        os.rename(target, aside / target.name)
        try:
            os.rename(new, target)
        except BaseException:
            os.rename(aside / target.name, target)
            raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)
