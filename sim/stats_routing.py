"""Summaries of routing and retry strategies: where calls went, what checking answers cost and missed.

For each alternative (extra keys of its summary entry, after the JSON contract's):

* ``retry_policy``: the named policy it runs (``null``: the workflow's ``retry``);
* ``calls_by_model``: model -> calls it answered per task (routers' and validators' calls not included),
  so a cascade shows how often the big model was needed;
* ``routing`` (when the workflow routes, escalates or falls back): ``escalations_per_task`` (times a call
  moved on to another model), ``validations_per_task`` (a cascade's checks), ``accepted_invalid_per_task``
  and ``rejected_valid_per_task`` (the validator's two kinds of error, as they happened),
  ``wrong_answer_rate`` (tasks that ended with an invalid answer a validator accepted),
  ``routing_usd_per_task`` (routers and validators: the price of deciding) and, when the alternative
  routes one role by a split or router, ``route_shares`` (share of task runs per option, last run).
"""

from __future__ import annotations

import numpy as np

from sim.records import FAILURE_CODE


def routing_summary(run, workflow) -> dict:
    """The routing keys of one alternative's summary entry (``run`` is an AlternativeRun)."""
    t = run.tasks
    n = len(t)
    out: dict = {
        "retry_policy": getattr(run, "retry_policy", None),
        "calls_by_model": {ref: calls / n for ref, calls in t.model_calls.items()} if n else {},
    }
    escalates = bool(n) and bool(np.any(t.escalations))
    if workflow is None or not (workflow.routing or escalates or np.any(t.validations)):
        return out
    routing = {
        "escalations_per_task": float(np.mean(t.escalations)),
        "validations_per_task": float(np.mean(t.validations)),
        "accepted_invalid_per_task": float(np.mean(t.accepted_invalid)),
        "rejected_valid_per_task": float(np.mean(t.rejected_valid)),
        "wrong_answer_rate": float(np.mean(t.failure == FAILURE_CODE["wrong_answer"])),
        "routing_usd_per_task": float(np.mean(t.routing_usd)),
    }
    labels = getattr(run, "route_labels", ())
    if labels:
        counts = np.bincount(t.route[t.route >= 0].astype(np.int64), minlength=len(labels))
        routing["route_shares"] = {label: int(count) / n for label, count in zip(labels, counts)}
    out["routing"] = routing
    return out
