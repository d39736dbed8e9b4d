"""Picking one of several options by their shares: the difficulty class of a task, the arm of a branch,
the route of a split or a router.

Shares become the upper edges of consecutive intervals of [0, 1] (:func:`cumulative`), the last edge
exactly 1 so that it catches every uniform whatever the rounding of the sum; a uniform ``u`` picks the
interval it falls in: the number of edges at or below it, capped at the last option.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np


def cumulative(shares) -> tuple[float, ...]:
    """Upper edges of consecutive probability intervals; the last is 1 so it catches every uniform."""
    edges, total = [], 0.0
    for share in shares:
        total += share
        edges.append(total)
    edges[-1] = 1.0
    return tuple(edges)


def pick(edges: tuple[float, ...], u: float) -> int:
    """The option whose interval holds ``u``."""
    return min(bisect_right(edges, u), len(edges) - 1)


def pick_array(edges: tuple[float, ...], u: np.ndarray) -> np.ndarray:
    """:func:`pick` for many uniforms, one set of edges. The edges at or below ``u`` are counted one edge
    at a time (the last one never counts: it is the cap), which for the few options a choice has is
    several times quicker than a binary search per uniform and gives the same index, the edges being
    sorted."""
    if len(edges) > 8:  # many options (a file's recorded conversations): the binary search
        return np.minimum(np.searchsorted(np.asarray(edges), u, side="right"), len(edges) - 1)
    picked = np.zeros(np.shape(u), dtype=np.int64)
    for edge in edges[:-1]:
        picked += u >= edge
    return picked


def pick_by_row_array(rows: tuple[tuple[float, ...], ...], row: np.ndarray, u: np.ndarray) -> np.ndarray:
    """:func:`pick` for many uniforms, each with its own row of edges (``rows[row[i]]``: a router's
    confusion row for the task's difficulty class). As :func:`pick_array`, the last edge of a row never
    counts: a row is sorted, so when it is at or below u every edge is, and the cap gives the last option."""
    table = np.asarray(rows)
    picked = np.zeros(len(u), dtype=np.int64)
    for edge in table.T[:-1]:  # the edges at or below u, counted one option at a time (no n x options array)
        picked += edge[row] <= u
    return picked
