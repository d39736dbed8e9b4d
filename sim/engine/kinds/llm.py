"""The ``llm`` step: one model call, with its retries, escalation, cascade, fallbacks and routes.

Its input is the head (system prompt and user's request) plus its own prompt and, by ``history``, the
transcript (:mod:`sim.engine.rules.context`). Each attempt may first wait (retry backoff, a rate limit's
next free minute, a self-hosted server's queue), may be rejected (rate limit) or errored (outage), and
otherwise takes time-to-first-token plus its output and hidden reasoning tokens over the model's speed
(or the batch delay, or the server's service time). It draws whether its output is usable; a failed
attempt is billed in full, its output is not kept, and the retry re-sends the same input (plus, with
``error_feedback``, the failed answers and the complaints). When ``max_attempts`` attempts fail the call
moves to its next leg (escalation, cascade, fallback) or the run of the task fails.

The SimPy handler is in :mod:`sim.engine.kinds.llm_des`, the vectorised one in
:mod:`sim.engine.kinds.llm_fast`; the routes' legs in :mod:`sim.engine.kinds.routes`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.core.randomness import source_key
from sim.engine.kinds import llm_des, llm_fast
from sim.engine.kinds.base import StepKind
from sim.engine.kinds.routes import lay_out_legs, route_kind
from sim.engine.plan import Draw, Leg, RetryWait, RouteChoice
from sim.spec.permodel import default_of
from sim.spec.routing import route_name


@dataclass(frozen=True, slots=True)
class LlmCall:
    kind = "llm"
    id: str
    prompt: Draw
    output: Draw
    fail_key: int
    error_key: int  # uniforms for provider errors during outages
    history: str  # none | full | window
    max_attempts: int
    legs: tuple[Leg, ...]  # the model, then escalation, cascade or fallback legs
    retry_wait: RetryWait
    feedback: Draw | None = None  # error-message tokens added to a retry's input after an invalid answer
    choices: tuple[tuple[Leg, ...], ...] = ()  # with ``route``: the legs of each option
    route: RouteChoice | None = None
    cache_key: int = 0  # uniforms of whether an attempt finds its cached prefix (with a hit_probability)


def compile_llm(compiler, step, source: str) -> LlmCall:
    attempts, escalate, wait, policy = compiler.retry(step, source)
    escalation = [] if escalate is None else escalate.targets()
    fallbacks = [compiler.call_model(name, step, source) for name in policy.fallbacks()]
    name = route_name(compiler.models.get(step.llm, step.llm))
    extra = [(compiler.call_model(target, step, source), None, False) for target in escalation]
    if name is None:
        legs = lay_out_legs([(compiler.call_model(step.llm, step, source), None, False)] + extra, fallbacks)
        choices, choice = (), None
    else:
        route = compiler.workflow.routing[name]
        legs, choices, choice = route_kind(route).compile(compiler, route, step, source, name, extra, fallbacks)
    feedback = None
    if policy.error_feedback is not None:
        feedback = Draw.of(f"{source}.feedback", policy.error_feedback, integer=True)
    return LlmCall(
        step.id, Draw.of(f"{source}.prompt", step.prompt, integer=True),
        Draw.of(f"{source}.output", default_of(step.output), integer=True), source_key(f"{source}.fail"),
        source_key(f"{source}.provider_error"), step.history, attempts, legs, wait, feedback, choices, choice,
        source_key(f"{source}.cache_hit"))


def call_models(node: LlmCall):
    """Every model the call may bill: each leg's, its validators' and its router's."""
    for legs in (node.legs, *node.choices):
        for leg in legs:
            yield leg.model
            if leg.validator is not None and leg.validator.model is not None:
                yield leg.validator.model
    if node.route is not None and node.route.router is not None and node.route.router.model is not None:
        yield node.route.router.model


KIND = StepKind("llm", compile_llm, llm_des.run, llm_fast.run, columns=(
    "calls", "attempts", "input_tokens", "output_tokens", "reasoning_tokens", "billed_attempts",
    "cache_read_tokens", "cache_write_tokens", "cache_hits", "cache_saving_usd", "throttled", "throttle_wait_s",
    "provider_errors", "gpu_s", "escalations", "validations", "accepted_invalid", "rejected_valid", "routing_usd",
    "route"))
