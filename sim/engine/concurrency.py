"""A concurrency limit as a recursion over sorted arrivals: when each task gets one of ``c`` slots.

Under ``traffic.concurrency: c`` a task takes a slot when it arrives, or waits, first come first served,
for the first slot to free; it holds the slot until it ends. With tasks in order of arrival that is the
recursion of a first-come-first-served queue with ``c`` servers::

    start[k] = max(arrival[k], earliest time a slot is free once tasks 0 .. k-1 have taken theirs)
    end[k]   = start[k] + wait_1 + wait_2 + ...   (the task's own waits, added one by one)

The SimPy engine plays it out event by event. :func:`fifo_starts` solves it for a whole replication
and keeps every float the SimPy engine's: a task's end is its waits added to its start one at a time
(not start + their total, which rounds differently), and a task's waits do not depend on when it
starts (nothing else in the task looks at the clock: rate limits, outages and servers are not here).

* Where fewer than ``c`` tasks are in flight at an arrival, the task starts on arrival. Which tasks
  those are is found for all tasks at once, from their ends when started on arrival (one run of every
  task): the count of earlier tasks still running at each arrival is an index in the sorted ends.
* Only the bursts where every slot is busy are walked task by task, with a heap of the slots' free
  times; a task that waits gets its end by adding its recorded waits to its start (:class:`WaitLog`).
  A burst ends when no task that waited is still running and a slot is free.

A slot freed at the very instant another task arrives, or a task that takes no time, would make the
order of simultaneous events matter; :func:`fifo_starts` then returns None and the caller runs the
SimPy engine.
"""

from __future__ import annotations

import heapq

import numpy as np


class WaitLog:
    """Every wait of every task of one run, in the order they were added to the task's clock."""

    def __init__(self) -> None:
        self._positions: list[np.ndarray] = []
        self._seconds: list[np.ndarray] = []
        self._sorted: tuple[np.ndarray, list[float]] | None = None

    def add(self, positions: np.ndarray, seconds) -> None:
        """Tasks ``positions`` waited ``seconds`` (a scalar, or one per task; a wait of 0 or less adds nothing)."""
        seconds = np.broadcast_to(np.asarray(seconds, dtype=np.float64), np.shape(positions))
        waited = seconds > 0
        self._positions.append(np.asarray(positions)[waited])
        self._seconds.append(seconds[waited])

    def end_s(self, task: int, start_s: float) -> float:
        """When ``task`` ends if it starts at ``start_s``: its waits added to the start one by one."""
        if self._sorted is None:
            positions = np.concatenate(self._positions) if self._positions else np.zeros(0, dtype=np.int64)
            seconds = np.concatenate(self._seconds) if self._seconds else np.zeros(0)
            order = np.argsort(positions, kind="stable")  # each task's waits together, in their order
            self._sorted = (positions[order], seconds[order].tolist())
        positions, seconds = self._sorted
        first, last = np.searchsorted(positions, [task, task + 1])
        clock_s = float(start_s)
        for wait_s in seconds[first:last]:
            clock_s += wait_s
        return clock_s


def fifo_starts(arrivals_s: np.ndarray, ends_s: np.ndarray, slots: int, log: WaitLog):
    """Each task's (start, end) under ``slots`` first-come-first-served slots, or None.

    ``arrivals_s`` are sorted; ``ends_s`` are the tasks' ends when each starts on arrival; ``log`` has
    their waits. None when two events the SimPy engine would order by its queue fall on one instant."""
    n = len(arrivals_s)
    if np.any(ends_s <= arrivals_s):  # a task that takes no time releases its slot as it takes it
        return None
    starts, ends = arrivals_s.copy(), ends_s.copy()
    if n > slots:
        # Earlier tasks still running at each arrival, if no task had waited (a task ends after it arrives,
        # so the tasks ended by an arrival are all earlier ones).
        in_flight = np.arange(n) - np.searchsorted(np.sort(ends_s), arrivals_s, side="right")
        settled = 0  # tasks before it are settled, and no task that waited is running at its arrival
        for first in np.flatnonzero(in_flight >= slots):
            if first < settled:
                continue
            # Every slot is busy at this arrival, each with an earlier task that started on arrival.
            running = ends_s[:first][ends_s[:first] > arrivals_s[first]]
            heap = np.sort(running).tolist()
            waited_until_s = -np.inf  # the latest end of a task that waited
            k = first
            while k < n:
                arrival_s = float(arrivals_s[k])
                if waited_until_s <= arrival_s and in_flight[k] < slots:
                    break  # back to the counts: every task running now started on arrival
                start_s = max(arrival_s, heap[0])
                if start_s > arrival_s:
                    end_s = log.end_s(k, start_s)
                    starts[k], ends[k] = start_s, end_s
                    waited_until_s = max(waited_until_s, end_s)
                else:
                    end_s = float(ends_s[k])
                heapq.heapreplace(heap, end_s)
                k += 1
            settled = k
    if np.any(np.isin(ends, arrivals_s)):  # a slot freed as a task arrives
        return None
    return starts, ends
