"""A progress bar for long simulations: on stderr, only on a terminal, only when the run is worth it.

:class:`TaskProgress` is the ``on_block(done)`` callback :func:`sim.run.simulation.simulate` calls after
each block of work (tasks, or replications of a horizon when the workflow has traffic). It stays
invisible until the run looks longer than ``min_seconds`` (projected from the first blocks: elapsed ×
total / done), so short runs print nothing at all, and it is transient: the bar is erased when the run
ends, leaving the terminal as if it had never been there.

Whether to show one at all is :func:`wanted`'s decision: never when stdout is not a terminal (a pipe, a
file, a test) or when the output is JSON or CSV meant for a program, and never when stderr is not a
terminal either (a bar is not worth keeping in a log file).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # rich.progress loads when a bar first shows: most runs never show one (50 ms of a start)
    from rich.console import Console
    from rich.progress import Progress

#: Show the bar once a run looks longer than this; COSTSIM_PROGRESS_AFTER_S overrides it (0: always).
MIN_SECONDS = float(os.environ.get("COSTSIM_PROGRESS_AFTER_S", "1.0"))


def wanted(machine_output: bool, stdout: TextIO | None = None, stderr: TextIO | None = None) -> bool:
    """Show a bar only for human output, with both stdout and stderr on a terminal."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    return not machine_output and _isatty(stdout) and _isatty(stderr)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class TaskProgress:
    """``with TaskProgress(total, "simulating", console) as on_block: simulate(..., on_block=on_block)``."""

    def __init__(
        self,
        total: int,
        description: str,
        console: Console,
        *,
        unit: str = "tasks",
        enabled: bool = True,
        min_seconds: float = MIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.description = description
        self.unit = unit
        self.console = console
        self.enabled = enabled
        self.min_seconds = min_seconds
        self.clock = clock
        self.shown = False  # did the bar ever appear?
        self._progress: Progress | None = None
        self._task_id = None
        self._started_s = 0.0

    def __enter__(self) -> TaskProgress:
        self._started_s = self.clock()
        return self

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            if done >= self.total or not self._looks_long(done):
                return
            self._start()
        self._progress.update(self._task_id, completed=done)

    def _looks_long(self, done: int) -> bool:
        elapsed_s = self.clock() - self._started_s
        projected_s = elapsed_s * self.total / max(done, 1)
        return projected_s >= self.min_seconds

    def _start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit),
            TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
            console=self.console, transient=True,
        )
        self._task_id = self._progress.add_task(self.description, total=self.total)
        self._progress.start()
        self.shown = True

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
