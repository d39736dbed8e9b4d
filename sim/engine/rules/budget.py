"""Per-task budget caps: before each attempt (and each new call), a task that has spent its budget of
cost, calls or wall time stops, counted as failed for that reason, and is not re-run.

The caps are checked in that order; the first one reached names the failure. Calls are only checked
before a new call (a retry of the current call is not a new call).
"""

from __future__ import annotations

import numpy as np

from sim.core.records import FAILURE_CODE

BUDGET_COST, BUDGET_CALLS, BUDGET_TIME = (FAILURE_CODE[f"budget_{cap}"] for cap in ("cost", "calls", "time"))


def budget_stop(budget, cost_usd: float, calls: int, elapsed_s: float, new_call: bool) -> int:
    """The failure code of the cap that stops the task now, or 0 when it may go on (``budget`` None: no caps)."""
    if budget is None:
        return 0
    if budget.max_cost_usd is not None and cost_usd >= budget.max_cost_usd:
        return BUDGET_COST
    if new_call and budget.max_calls is not None and calls >= budget.max_calls:
        return BUDGET_CALLS
    if budget.max_wall_s is not None and elapsed_s >= budget.max_wall_s:
        return BUDGET_TIME
    return 0


def budget_stop_array(budget, n: int, cost_usd, calls, elapsed_s, new_call: bool) -> np.ndarray:
    """:func:`budget_stop` for ``n`` tasks: an array of failure codes, 0 where a task may go on.
    ``cost_usd``, ``calls`` and ``elapsed_s`` are callables that return the tasks' arrays, so that a cap
    that is not set reads nothing."""
    code = np.zeros(n, dtype=np.int64)
    if budget is None or not n:
        return code
    caps = ((budget.max_cost_usd, cost_usd, BUDGET_COST),
            (budget.max_calls if new_call else None, calls, BUDGET_CALLS),
            (budget.max_wall_s, elapsed_s, BUDGET_TIME))
    for cap, current, reason in caps:
        if cap is not None:
            code[(code == 0) & (current() >= cap)] = reason
    return code
