"""The one output schema: what is recorded for every simulated task.

Engines fill :class:`TaskColumns`, one NumPy array per field, in task order; statistics, files and plots
read them. Keeping a single flat record (as Ciw does) means every consumer agrees on the names and units.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

#: Field name -> dtype, in the order they appear in files.
TASK_FIELDS: dict[str, type] = {
    "cost_usd": np.float64,  # everything billed for the task: every attempt of every run, and paid tools
    "success": np.bool_,  # the task's last run completed every step
    "calls": np.int64,  # model calls (an escalation is a new call), over all runs
    "attempts": np.int64,  # tries of those calls, retries included
    "input_tokens": np.int64,  # input tokens billed, over all attempts
    "output_tokens": np.int64,  # output tokens billed, failed attempts included
    "tool_calls": np.int64,  # tool attempts
    "runs": np.int64,  # runs of the task (1 + task re-runs)
}


@dataclass
class TaskColumns:
    """Per-task results of one alternative: equal-length arrays, index i is task first_task + i."""

    cost_usd: np.ndarray
    success: np.ndarray
    calls: np.ndarray
    attempts: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    tool_calls: np.ndarray
    runs: np.ndarray

    @classmethod
    def from_lists(cls, values: dict[str, list]) -> "TaskColumns":
        return cls(**{name: np.asarray(values[name], dtype=dtype) for name, dtype in TASK_FIELDS.items()})

    @classmethod
    def concatenate(cls, parts: list["TaskColumns"]) -> "TaskColumns":
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def __len__(self) -> int:
        return len(self.cost_usd)

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in TASK_FIELDS}
