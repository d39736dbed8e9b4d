"""Fit a workflow to traces: what ``costsim calibrate`` does.

The fitted workflow has one ``conversation`` step whose shapes are the traced tasks
(:mod:`sim.calibration.evidence`), drawn whole: the empirical distribution over *conversations*, the
family chosen when every task is its own evidence. It keeps what per-step distributions cannot (sizes
that depend on the place in the conversation, long conversations that carry long tool results, user
turns between tool calls) and reproduces the traces' mean, tails and calls per task in sample. What
stays parametric is what a user changes to forecast: the models (roles), the failure rates (``fail``,
``tool_fail``, counted from the retries the traces show) and the retry policy, the prompt cache, and
per-model reasoning volumes and speeds.

Each per-event distribution (outputs by role, tool results and latencies by tool, user turns, calls per
task) is also fitted among the workflow's families (:mod:`sim.calibration.families`) and written in the
file's comments, with its sample size and fit test: what the traces say, to read or to use in a
hand-written variant.

:func:`refit` is the same fit on a resample of the traced tasks, for the bootstrap that puts the fit's
uncertainty into ``costsim run``'s intervals (:mod:`sim.calibration.uncertainty`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np

from sim.calibration.evidence import (
    CACHE_MIN_PREFIX_TOKENS,
    TaskEvidence,
    actual_columns,
    evidence_of,
)
from sim.calibration.families import FamilyFit, choose_family
from sim.calibration.traces import TraceError, TraceSet
from sim.core.errors import CostsimError
from sim.core.pricing import Catalog
from sim.core.tokenizers import default_ratio
from sim.core.version import __version__
from sim.spec.conversation import Shape, format_shape

#: The step a calibrated workflow keeps its evidence in.
STEP_ID = "conversation"
#: A cache block is written when the traces read this share of their input tokens from a prompt cache.
CACHE_SHARE_MIN = 0.02
DEFAULT_RESAMPLES = 200


@dataclass(frozen=True)
class FailureCounts:
    """Failed attempts among attempts, for model calls and tool calls."""

    llm_failed: int
    llm_attempts: int
    tool_failed: int
    tool_attempts: int
    most_attempts: int  # the most attempts one call took
    last_failed: int = 0  # of the model-call attempts above: those of each conversation's last call
    last_attempts: int = 0

    @property
    def other_rate(self) -> float:
        """The rate of the calls before each conversation's last."""
        attempts = self.llm_attempts - self.last_attempts
        return (self.llm_failed - self.last_failed) / attempts if attempts else 0.0

    @property
    def last_rate(self) -> float:
        return self.last_failed / self.last_attempts if self.last_attempts else 0.0

    def last_differs(self) -> bool:
        """Whether the last call's rate differs from the others' by more than 3 standard errors (a
        two-proportion test): then it gets a ``last_fail`` of its own."""
        others = self.llm_attempts - self.last_attempts
        if not self.last_attempts or not others:
            return False
        pooled = self.llm_rate
        se = (pooled * (1 - pooled) * (1 / self.last_attempts + 1 / others)) ** 0.5
        return se > 0 and abs(self.last_rate - self.other_rate) > 3 * se

    @property
    def llm_rate(self) -> float:
        return self.llm_failed / self.llm_attempts if self.llm_attempts else 0.0

    @property
    def tool_rate(self) -> float:
        return self.tool_failed / self.tool_attempts if self.tool_attempts else 0.0


def failure_counts(shapes: list[Shape]) -> FailureCounts:
    """Count failed attempts from the shapes' marks: an event with ``!N`` failed N times before the
    attempt that worked; the last model call of a shape marked ``failed`` never worked."""
    llm_failed = llm_attempts = tool_failed = tool_attempts = last_failed = last_attempts = 0
    most = 1
    for shape in shapes:
        last_llm = max((i for i, event in enumerate(shape.events) if event.kind == "llm"), default=-1)
        for index, event in enumerate(shape.events):
            worked = 0 if (shape.failed and index == last_llm) else 1
            if event.kind == "llm":
                llm_failed += event.failed_attempts
                llm_attempts += event.failed_attempts + worked
                if index == last_llm:
                    last_failed += event.failed_attempts
                    last_attempts += event.failed_attempts + worked
            elif event.kind == "tool":
                tool_failed += event.failed_attempts
                tool_attempts += event.failed_attempts + 1
            most = max(most, event.failed_attempts + worked)
    return FailureCounts(llm_failed, llm_attempts, tool_failed, tool_attempts, most, last_failed, last_attempts)


def to_reference(shape: Shape, ratio: float) -> Shape:
    """``shape`` with its token counts divided by the traced model's tokenizer ratio (its tokens per o200k
    token): in the reference tokenizer a workflow counts in, so that each alternative's model scales them
    by its own ratio."""
    return Shape(tuple(replace(event, size=round(event.size / ratio), prompt=round(event.prompt / ratio))
                       for event in shape.events), shape.failed)


def refit(shapes: list[Shape], last_fail: bool | None = None) -> dict:
    """The fitted keys of the conversation step for these shapes (a resample of the traced tasks).
    ``last_fail``: give the last call its own failure rate (None: when the shapes show it differs)."""
    counts = failure_counts(shapes)
    if last_fail is None:
        last_fail = counts.last_differs()
    update = {"conversation": [format_shape(shape) for shape in shapes], "tool_fail": round(counts.tool_rate, 6)}
    if last_fail:
        update.update(fail=round(counts.other_rate, 6), last_fail=round(counts.last_rate, 6))
    else:
        update["fail"] = round(counts.llm_rate, 6)
    return update


@dataclass
class Calibration:
    """A fitted workflow (its data, with the comments that go above it) and the evidence behind it."""

    workflow: dict
    header: list[str]
    evidence: list[TaskEvidence]
    roles: dict[str, str]
    fits: dict[str, FamilyFit] = field(default_factory=dict)
    counts: FailureCounts | None = None
    traced_cache_share: float = 0.0


def calibrate(traces: TraceSet, name: str = "calibrated-agent", catalog: Catalog | None = None,
              resamples: int = DEFAULT_RESAMPLES) -> Calibration:
    """Fit a workflow to ``traces`` (see the module's text)."""
    catalog = catalog or Catalog()
    tasks = {task: calls for task, calls in traces.tasks.items() if any(c.kind == "llm" for c in calls)}
    without_calls = len(traces.tasks) - len(tasks)
    if not tasks:
        raise TraceError(f"{traces.files[0]}: no traced task has a model call; nothing to calibrate")
    _check_models(tasks, catalog)
    evidence, roles, system, unusable = evidence_of(tasks, catalog)
    if not evidence:
        raise TraceError(f"{traces.files[0]}: no traced task has a model call with token counts")
    shapes = [item.shape for item in evidence]
    main_ref = next(ref for ref, role in roles.items() if role == "main")
    ratio = default_ratio(catalog.resolve(main_ref).ref).prose
    if ratio != 1.0:  # a workflow counts tokens in o200k: the traced model's tokens, converted
        shapes = [to_reference(shape, ratio) for shape in shapes]
        system = round(system / ratio)
    counts = failure_counts(shapes)
    fits = _describe(evidence)
    input_total = sum(item.actual.input_tokens for item in evidence)
    cache_share = sum(item.cache_read_tokens for item in evidence) / input_total if input_total else 0.0
    step = {"id": STEP_ID, **refit(shapes)}
    step_order = {"id": step["id"], "fail": step["fail"],
                  **({"last_fail": step["last_fail"]} if "last_fail" in step else {}),
                  "tool_fail": step["tool_fail"], "conversation": step["conversation"]}
    workflow: dict = {
        "name": name,
        "description": f"Fitted by costsim calibrate from {len(evidence):,} traced tasks.",
        "models": {role: ref for ref, role in roles.items()},
        "context": {"system": system},
        "steps": [step_order],
        "retry": {"max_attempts": max(counts.most_attempts, 2 if counts.llm_failed or counts.tool_failed else 1)},
    }
    eligible = sum(item.cache_eligible for item in evidence)
    hits = sum(item.cache_hits for item in evidence)
    if cache_share >= CACHE_SHARE_MIN and eligible:
        workflow["cache"] = {"ttl_s": 300, "min_prefix_tokens": CACHE_MIN_PREFIX_TOKENS,
                             "hit_probability": round(hits / eligible, 4)}
    else:  # the traces read (almost) no cache: neither does the fit, whatever a provider caches by itself
        workflow["provider_rules"] = False
    profiles = _profiles(tasks, fits)
    if profiles:
        workflow["profiles"] = profiles
    workflow["calibration"] = {"step": STEP_ID, "traced_tasks": len(evidence), "resamples": resamples,
                               **({"cache_calls": eligible} if "cache" in workflow else {}),
                               "source": ", ".join(traces.files)}
    skipped = dict(traces.skipped)
    if without_calls:
        skipped["traces without a model call"] = skipped.get("traces without a model call", 0) + without_calls
    if unusable:
        skipped["traces whose model calls have no token counts"] = unusable
    header = _header(traces, evidence, counts, fits, skipped, cache_share, system, (hits, eligible))
    if ratio != 1.0:
        header.insert(2, f"Token counts are in o200k tokens, the workflow's reference: the traces' counts (in "
                         f"{main_ref}'s tokenizer) divided by its ratio {ratio:g} for prose "
                         "(sim/core/tokenizers.py gives the source).")
    return Calibration(workflow, header, evidence, roles, fits, counts, cache_share)


def _check_models(tasks: dict, catalog: Catalog) -> None:
    for calls in tasks.values():
        for call in calls:
            if call.kind == "llm" and call.model:
                try:
                    catalog.resolve(call.model)
                except CostsimError as exc:
                    raise TraceError(f"{call.where}: span {call.name!r}: {exc}; give its price in the "
                                     "fitted file's prices: block, or map it with --model OLD=provider:model"
                                     ) from None
            elif call.kind == "llm":
                raise TraceError(f"{call.where}: span {call.name!r} names no model")


def _describe(evidence: list[TaskEvidence]) -> dict[str, FamilyFit]:
    """Every per-step distribution the traces show (by span name: a costsim trace's step id, an
    OpenTelemetry span's ``chat MODEL`` or ``execute_tool NAME``), fitted by the families' criterion."""
    groups: dict[str, list[float]] = {}
    integer: dict[str, bool] = {}
    for item in evidence:
        for (kind, name), values in item.by_name.items():
            if kind == "attempts":
                continue
            key = {"output": "output tokens", "result": "result tokens", "latency_s": "latency_s"}[kind] + f" ({name})"
            groups.setdefault(key, []).extend(values)
            integer[key] = kind != "latency_s"
        events = item.shape.events
        counts = {"model calls per task": 0, "tool calls per task": 0, "messages between calls per task": 0}
        for event in events:
            if event.kind == "llm":
                counts["model calls per task"] += 1
            elif event.kind == "tool":
                counts["tool calls per task"] += 1
            else:
                groups.setdefault("message tokens between calls (user turns, the agent's prompts)", []).append(
                    event.size)
                counts["messages between calls per task"] += 1
        for key, value in counts.items():
            groups.setdefault(key, []).append(value)
        groups.setdefault("first prompt tokens", []).append(events[0].prompt if events[0].kind == "llm" else 0)
    return {key: choose_family(values, integer.get(key, True)) for key, values in groups.items() if values}


def attempts_by_name(evidence: list[TaskEvidence]) -> dict[str, tuple[int, int]]:
    """Span name -> (failed attempts, attempts), over every traced task."""
    totals: dict[str, list[int]] = {}
    for item in evidence:
        for (_, name), (failed, attempts) in ((k, v) for k, v in item.by_name.items() if k[0] == "attempts"):
            total = totals.setdefault(name, [0, 0])
            total[0] += failed
            total[1] += attempts
    return {name: (failed, attempts) for name, (failed, attempts) in totals.items()}


#: Fewest successful calls of a model, with different output sizes, to fit its latency from their spans.
LATENCY_MIN_CALLS = 10


def _profiles(tasks: dict, fits: dict) -> dict:
    """Per model: reasoning tokens where the traces record them, and its latency where its spans time
    enough calls (:func:`latency_profile`)."""
    reasoning: dict[str, list[int]] = {}
    timed: dict[str, list[tuple[float, int]]] = {}
    for calls in tasks.values():
        for call in calls:
            if call.kind == "llm" and not call.error and call.output_tokens:
                reasoning.setdefault(call.model, []).append(call.reasoning_tokens)
                # a trace's output tokens include the reasoning ones, as costsim's latency counts them
                timed.setdefault(call.model, []).append((call.end_s - call.start_s, call.output_tokens))
    profiles: dict[str, dict] = {}
    for ref, values in sorted(reasoning.items()):
        if any(values):
            fit = choose_family(values)
            fits[f"reasoning tokens ({ref})"] = fit
            profiles.setdefault(ref, {})["reasoning_tokens"] = fit.spec
    for ref, pairs in sorted(timed.items()):
        latency = latency_profile([d for d, _ in pairs], [t for _, t in pairs])
        if latency is not None:
            ttft, tokens_per_s = latency
            fits[f"time to first token, s ({ref})"] = ttft
            profiles.setdefault(ref, {}).update(ttft_s=ttft.spec, tokens_per_s=tokens_per_s)
    return profiles


def latency_profile(durations_s: list[float], tokens: list[int]) -> tuple[FamilyFit, float] | None:
    """A model's latency as costsim models it, ``ttft_s + tokens / tokens_per_s`` (tokens: output and
    reasoning), from its calls' span durations: ``tokens_per_s`` is one over the least-squares slope of
    duration on tokens, and ``ttft_s`` the distribution (by the families' criterion) of what is left of
    each duration, to the millisecond. None with fewer than :data:`LATENCY_MIN_CALLS` calls, outputs all
    of one size, or a slope or intercept that is not positive (spans that do not time the generation,
    e.g. streamed calls ended early): the model then keeps its built-in latency row."""
    if len(durations_s) < LATENCY_MIN_CALLS:
        return None
    seconds, count = np.asarray(durations_s, dtype=float), np.asarray(tokens, dtype=float)
    spread = float(np.var(count))
    if spread <= 0:
        return None
    slope = float(np.mean((count - count.mean()) * (seconds - seconds.mean()))) / spread
    if not slope > 0:
        return None
    rest_s = seconds - slope * count
    if not float(rest_s.mean()) > 0:
        return None
    rest_s = np.maximum(np.round(rest_s, 3), 0.001)  # to the millisecond: finer is the clocks' noise
    return choose_family(rest_s, integer=False), float(f"{1 / slope:.4g}")


def _header(traces: TraceSet, evidence: list[TaskEvidence], counts: FailureCounts, fits: dict,
            skipped: dict, cache_share: float, system: int, cache_hits: tuple[int, int]) -> list[str]:
    actual = actual_columns(evidence)
    cost = actual["cost_usd"]
    n = len(evidence)
    lines = [
        f"Calibrated by costsim {__version__} on {dt.date.today().isoformat()} from {', '.join(traces.files)}",
        f"({traces.format}): {n:,} tasks, {int(actual['calls'].sum()):,} model calls, "
        f"{int(sum(e.actual.tool_calls for e in evidence)):,} tool calls.",
    ]
    models: dict[str, int] = {}
    for item in evidence:
        for event in item.shape.events:
            if event.kind == "llm":
                models[event.label] = models.get(event.label, 0) + 1
    lines.append("Models seen (role: calls): " + ", ".join(f"{role} {calls:,}" for role, calls in models.items())
                 + "; the models: block below names each role's model.")
    if skipped:
        lines.append("Not used: " + "; ".join(f"{count:,} {reason}" for reason, count in sorted(skipped.items()))
                     + ".")
    lines += [
        "",
        f"What the traces cost (catalog prices): mean ${cost.mean():.4g} a task "
        f"(sd ${cost.std(ddof=1) if n > 1 else 0:.3g}), "
        f"p50 ${np.quantile(cost, 0.5):.4g}, p95 ${np.quantile(cost, 0.95):.4g}; "
        f"{actual['calls'].mean():.3g} model calls a task; success {actual['success'].mean():.1%}.",
        "",
        "The model: one conversation step holding every traced task's shape, drawn whole (the empirical",
        "distribution over conversations), so sizes that depend on the place in a conversation, long",
        "conversations with long tool results and user turns between tool calls are all kept. Failure rates",
        "and the retry policy stay parameters to change:",
        f"  model calls: {counts.llm_failed:,} failed of {counts.llm_attempts:,} attempts ({counts.llm_rate:.2%}); "
        f"tool calls: {counts.tool_failed:,} failed of {counts.tool_attempts:,} ({counts.tool_rate:.2%}).",
        f"  each conversation's last model call: {counts.last_failed:,} failed of {counts.last_attempts:,} "
        f"({counts.last_rate:.2%}), the calls before it {counts.other_rate:.2%}"
        + (": different (over 3 standard errors), so last_fail." if counts.last_differs() else ": one fail."),
        f"  errored attempts with no usage (the provider answered nothing, nothing billed; retried, not "
        f"modelled): {sum(item.unbilled_errors for item in evidence):,}.",
        f"  system prompt: {system:,} tokens (the least input of any call: what every call sends).",
        f"  prompt cache: {cache_share:.1%} of traced input tokens were cache reads; {cache_hits[0]:,} of "
        f"{cache_hits[1]:,} calls that could read one did"
        + (" (cache: on, with that hit_probability)." if cache_share >= CACHE_SHARE_MIN and cache_hits[1]
           else " (cache: off)."),
        "",
        "Each quantity fitted among the workflow's families (least AIC; a mixture of two lognormals only if it",
        "also passes a likelihood-ratio test at 1%; with at least 200 values where the best family fails a KS",
        "test at 1%, the mixture if it passes that test, else empirical), for reading or a hand-written variant:",
    ]
    lines += [f"  {key}: {fit.describe()}" for key, fit in fits.items()]
    lines += [f"  failed attempts ({name}): {failed:,} of {attempts:,} ({failed / attempts:.2%})"
              for name, (failed, attempts) in attempts_by_name(evidence).items() if failed]
    lines += [
        "",
        "costsim run on this file resamples the traced tasks (calibration.resamples times: refit, simulate,",
        "combine), so its intervals include the uncertainty of the fit. Add alternatives with other models,",
        "change retry or fail, and forecast as with any workflow.",
    ]
    return lines
