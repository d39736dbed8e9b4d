"""A concurrency limit as a recursion over sorted arrivals: when each task gets one of ``c`` slots.

Under ``traffic.concurrency: c`` a task takes a slot when it arrives, or waits, first come first served,
for the first slot to free; it holds the slot until it ends. With tasks in order of arrival that is the
recursion of a first-come-first-served queue with ``c`` servers::

    start[k] = max(arrival[k], earliest time a slot is free after tasks 0 .. k-1 took theirs)
    end[k]   = start[k] + the task's own time

The SimPy engine plays it out event by event. Here it is solved for a whole replication at once, in a
way that keeps every float exactly the SimPy engine's, since a task's end is the sum of its waits added
one by one to its start (not start + a duration, which rounds differently):

* :func:`fifo_starts` applies the recursion given each task's end *for the start it was run at*: a task
  that starts then keeps that end; one that starts at another time gets start + (end - its old start),
  an estimate. Where fewer than ``c`` tasks are in flight at an arrival the task starts on arrival, which
  is found for all tasks at once (a count of earlier tasks still running, by sorting); only the bursts
  where all slots are busy are walked task by task, with a heap of the slots' free times.
* :func:`solve` iterates: run every task from its arrival; apply the recursion; run again, from their
  new starts, only the tasks whose start changed (their ends are now exact); repeat until no start
  changes. A burst of ``L`` tasks queued behind each other settles in about ``L`` rounds, each a run of
  just the tasks that moved.

A release at the very instant of another task's arrival, or a task that takes no time, would make the
order of simultaneous events matter; :func:`solve` then returns None and the caller runs the SimPy engine.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np

#: Rounds of :func:`solve` before it gives up (a burst this long is left to the SimPy engine).
MAX_ROUNDS = 64


def fifo_starts(arrivals_s: np.ndarray, run_starts_s: np.ndarray, run_ends_s: np.ndarray, slots: int) -> np.ndarray:
    """Each task's start under ``slots`` first-come-first-served slots (tasks sorted by arrival, distinct
    arrivals), given each task's end when started at ``run_starts_s`` (see the module's docstring)."""
    n = len(arrivals_s)
    starts = arrivals_s.copy()
    if n <= slots:
        return starts
    # Ends if every task started on arrival: exact where it was run from its arrival, else an estimate.
    ends0 = np.where(run_starts_s == arrivals_s, run_ends_s, arrivals_s + (run_ends_s - run_starts_s))
    # Tasks in flight at each arrival (earlier tasks not yet ended), if none had waited.
    ended = np.searchsorted(np.sort(ends0), arrivals_s, side="right")
    in_flight = np.arange(n) - ended
    busy = np.flatnonzero(in_flight >= slots)
    position = 0  # tasks before it are settled, and no task that waited is in flight at its arrival
    for first in busy:
        if first < position:
            continue
        # Every slot is busy at this arrival, each with an earlier task that started on arrival.
        heap = np.sort(ends0[:first][ends0[:first] > arrivals_s[first]]).tolist()
        waited_until_s = -np.inf  # the latest end of a task that waited
        k = first
        while k < n:
            arrival_s = float(arrivals_s[k])
            if waited_until_s <= arrival_s and in_flight[k] < slots:
                break  # nobody who waited is still running, and a slot is free: back to the counts
            start_s = max(arrival_s, heap[0])
            if start_s == run_starts_s[k]:
                end_s = float(run_ends_s[k])
            else:
                end_s = start_s + float(run_ends_s[k] - run_starts_s[k])
            starts[k] = start_s
            if start_s > arrival_s:
                waited_until_s = max(waited_until_s, end_s)
            heapq.heapreplace(heap, end_s)
            k += 1
        position = k
    return starts


def solve(arrivals_s: np.ndarray, slots: int, run: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    """Each task's start and end under the limit, or None (simultaneous events: use the SimPy engine).

    ``run(positions, starts_s)`` runs those tasks from those starts and returns their ends (exact)."""
    n = len(arrivals_s)
    every = np.arange(n)
    starts = arrivals_s.copy()
    ends = run(every, starts)
    rounds = 0
    while True:
        if np.any(ends <= starts) or np.any(np.isin(ends, arrivals_s)):
            return None
        new = fifo_starts(arrivals_s, starts, ends, slots)
        moved = np.flatnonzero(new != starts)
        if not moved.size:
            return starts, ends
        rounds += 1
        if rounds > MAX_ROUNDS:
            return None
        starts[moved] = new[moved]
        ends[moved] = run(moved, starts[moved])
