"""The one output schema: what is recorded for every simulated task, and for every attempt (traces).

Engines fill :class:`TaskColumns`, one NumPy array per field, in task order; statistics, files and plots
read them. Keeping a single flat record (as Ciw does) means every consumer agrees on the names and units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Why a task failed (the ``failure`` column): the reason of the last failed call of its last run, or
#: ``wrong_answer`` when every step completed but a validator accepted an invalid answer on the way.
FAILURE_REASONS = ("none", "invalid_output", "tool_error", "provider_error", "rate_limited", "context_exceeded",
                   "budget_cost", "budget_calls", "budget_time", "wrong_answer")
FAILURE_CODE = {reason: code for code, reason in enumerate(FAILURE_REASONS)}

#: Field name -> dtype, in the order they appear in files.
TASK_FIELDS: dict[str, type] = {
    "cost_usd": np.float64,  # everything billed for the task, self-hosted GPU time included
    "success": np.bool_,  # the task's last run completed every step
    "calls": np.int64,  # model calls (an escalation is a new call), over all runs
    "attempts": np.int64,  # tries of those calls, retries included (rejected and errored ones too)
    "input_tokens": np.int64,  # input tokens billed, over all attempts (cached ones included)
    "output_tokens": np.int64,  # visible output tokens billed, failed attempts included
    "tool_calls": np.int64,  # tool attempts
    "runs": np.int64,  # runs of the task (1 + task re-runs)
    "reasoning_tokens": np.int64,  # hidden reasoning tokens, billed as output
    "cache_read_tokens": np.int64,  # input tokens read from the prompt cache
    "cache_write_tokens": np.int64,  # input tokens written to the prompt cache
    "cache_hits": np.int64,  # billed attempts that read from the cache
    "billed_attempts": np.int64,  # attempts the provider billed (not rejected, errored or too long)
    "cache_saving_usd": np.float64,  # what the same attempts would cost with no cache, minus their cost
    "throttled": np.int64,  # attempts rejected by a rate limit
    "throttle_wait_s": np.float64,  # seconds spent waiting for a rate limit's next minute
    "provider_errors": np.int64,  # attempts failed by an outage
    "failure": np.int8,  # index into FAILURE_REASONS
    "latency_s": np.float64,  # arrival to completion (queueing, calls, tools, backoff, batch delays)
    "arrival_s": np.float64,  # arrival time within the horizon (0 without traffic)
    "replication": np.int64,  # which replication of the horizon (0 without traffic)
    "gpu_s": np.float64,  # seconds of self-hosted service the task used
    "escalations": np.int64,  # times a call moved on to another model (escalation, cascade, fallback)
    "validations": np.int64,  # answers a cascade's validator judged
    "accepted_invalid": np.int64,  # invalid answers a validator accepted (kept: the task ends wrong)
    "rejected_valid": np.int64,  # valid answers a validator rejected
    "routing_usd": np.float64,  # what routers and validators cost (included in cost_usd)
    "route": np.int8,  # option a split or router chose in the task's last run (the last choice); -1: none
    "difficulty": np.float64,  # the task's difficulty: its class index, or its score (0 without difficulty)
    "user_turns": np.int64,  # messages from the user (user steps) after the request, over all runs
}

#: Field name -> the value a task's record starts from: zero of the field's type, but ``route`` -1 (none).
TASK_START: dict[str, bool | int | float] = {name: dtype(0).item() for name, dtype in TASK_FIELDS.items()}
TASK_START["route"] = -1


@dataclass
class TaskColumns:
    """Per-task results of one alternative: equal-length arrays, one per field of TASK_FIELDS."""

    columns: dict[str, np.ndarray]
    #: Cost of each block that no task carries (GPUs rented for a horizon in which no task used them).
    overhead_usd: list[float] = field(default_factory=list)
    #: Model ref -> calls that model answered (routers' and validators' calls not included), all tasks.
    model_calls: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_lists(cls, values: dict[str, list], overhead_usd: float = 0.0,
                   model_calls: dict[str, int] | None = None) -> TaskColumns:
        return cls({name: np.asarray(values[name], dtype=dtype) for name, dtype in TASK_FIELDS.items()},
                   [overhead_usd], dict(sorted((model_calls or {}).items())))

    @classmethod
    def concatenate(cls, parts: list[TaskColumns]) -> TaskColumns:
        if len(parts) == 1:  # nothing to join: no copy
            return parts[0]
        model_calls: dict[str, int] = {}
        for part in parts:
            for ref, calls in part.model_calls.items():
                model_calls[ref] = model_calls.get(ref, 0) + calls
        return cls({name: _join([part.columns[name] for part in parts]) for name in TASK_FIELDS},
                   [cost for part in parts for cost in part.overhead_usd], dict(sorted(model_calls.items())))

    def __getstate__(self) -> dict:
        """For pickling (a worker's results on their way back): all-zero columns travel as their length."""
        n = len(self)
        packed = {name: (None if not column.any() else column) for name, column in self.columns.items()}
        return {"n": n, "columns": packed, "overhead_usd": self.overhead_usd, "model_calls": self.model_calls}

    def __setstate__(self, state: dict) -> None:
        n = state["n"]
        self.columns = {name: zeros(n, TASK_FIELDS.get(name, np.float64)) if column is None else column
                        for name, column in state["columns"].items()}
        self.overhead_usd, self.model_calls = state["overhead_usd"], state["model_calls"]

    def __getattr__(self, name: str) -> np.ndarray:  # noqa: D105
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __len__(self) -> int:
        return len(self.columns["cost_usd"])

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(self.columns)


def zeros(n: int, dtype) -> np.ndarray:
    """A column of ``n`` zeros that takes no memory (a read-only broadcast of one zero): what an engine
    returns for a field its run cannot fill (no cache, no rate limits)."""
    return np.broadcast_to(np.zeros(1, dtype=dtype), (n,))


def _join(columns: list[np.ndarray]) -> np.ndarray:
    """Blocks' columns end to end; columns of :func:`zeros` stay zeros that take no memory to write."""
    if all(column.strides == (0,) and not column[:1].any() for column in columns):
        return np.zeros(sum(len(column) for column in columns), dtype=columns[0].dtype)  # lazily zeroed pages
    return np.concatenate(columns)


#: One row per attempt (llm or tool) in a trace: the fields production teams record, then the
#: OpenTelemetry GenAI semantic-convention names of the same facts.
TRACE_FIELDS = (
    "alternative", "replication", "task", "run", "step", "operation", "model", "attempt", "retries",
    "start_s", "end_s", "latency_s", "task_type", "prompt_tokens", "completion_tokens", "reasoning_tokens",
    "cache_read_tokens", "cache_write_tokens", "cache_hit", "tool_calls", "outcome_status", "cost_usd",
    "batch",
)
OTEL_FIELDS = {
    "gen_ai.operation.name": "operation",
    "gen_ai.request.model": "model",
    "gen_ai.usage.input_tokens": "prompt_tokens",
    "gen_ai.usage.output_tokens": "completion_tokens",
    "gen_ai.usage.cache_read.input_tokens": "cache_read_tokens",
}
