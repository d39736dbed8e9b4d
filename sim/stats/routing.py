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

Everything is read through the run's view (:mod:`sim.stats.taskstats`), so it is the same from kept columns
or from merged statistics.
"""

from __future__ import annotations

from sim.core.records import FAILURE_CODE


def routing_summary(run, workflow) -> dict:
    """The routing keys of one alternative's summary entry (``run`` is an AlternativeRun)."""
    view = run.view
    n = view.n
    out: dict = {
        "retry_policy": run.retry_policy,
        "calls_by_model": {ref: calls / n for ref, calls in view.model_calls().items()} if n else {},
    }
    if not n or workflow is None or not (workflow.routing or view.maximum("escalations") > 0
                                         or view.maximum("validations") > 0):
        return out
    routing = {
        "escalations_per_task": view.mean("escalations"),
        "validations_per_task": view.mean("validations"),
        "accepted_invalid_per_task": view.mean("accepted_invalid"),
        "rejected_valid_per_task": view.mean("rejected_valid"),
        "wrong_answer_rate": view.failed_share(FAILURE_CODE["wrong_answer"]),
        "routing_usd_per_task": view.mean("routing_usd"),
    }
    if run.route_labels:
        counts = view.route_counts(len(run.route_labels))
        routing["route_shares"] = {label: int(count) / n for label, count in zip(run.route_labels, counts)}
    out["routing"] = routing
    return out
