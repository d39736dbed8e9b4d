"""The runtime plan an engine executes: one alternative of a workflow with everything resolved.

A :class:`Plan` is plain frozen data, made by :func:`sim.engine.compiler.compile_plan` from the spec: each call
knows its model's float rates, its failure probability, its attempts and its legs (a model, then
escalation, cascade or fallback legs), its latency and reasoning distributions, its context window and
whether it is batched; each random quantity (:class:`Draw`) knows its source key. Both engines
(:mod:`sim.engine.des`, :mod:`sim.engine.fast`) read plans and never look back at the spec, so they agree
on what the file means.

This module holds what steps share (draws, backoff, models, legs, routes) and the plan's frame; each
step kind's own node (``LlmCall``, ``ToolCall``, ...) lives with its kind in :mod:`sim.engine.kinds`, and
carries the kind's key as ``node.kind``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from sim.core.pricing import ModelRates
from sim.core.randomness import source_key
from sim.spec.distributions import AnyDistribution, Fixed
from sim.spec.quality import TaskBudget
from sim.spec.timing import Limit, SelfHosted


@dataclass(frozen=True, slots=True)
class Draw:
    """A random quantity: its distribution, its source key, and its value when it is fixed.

    ``key`` names the stream of uniforms (the same in every alternative); ``value_key`` also names the
    distribution, so two alternatives that map one stream through different distributions (two models'
    latencies for the same step) never share a cached column of values.
    """

    source: str
    key: int
    value_key: int
    dist: AnyDistribution
    integer: bool
    fixed: float | int | None
    #: Set for a size recorded in a ``conversation`` step: the value for each shape (the task's shape, drawn
    #: by the step, picks it); ``dist`` is then unused.
    by_shape: np.ndarray | None = field(default=None, compare=False, hash=False)

    @classmethod
    def of(cls, source: str, dist: AnyDistribution, integer: bool) -> Draw:
        fixed = None
        if isinstance(dist, Fixed) and dist.min is None and dist.max is None:
            fixed = int(dist.sample(np.array([0.5]), integer=True)[0]) if integer else dist.fixed
        key = source_key(source)
        digest = hashlib.blake2b(f"{dist.model_dump_json()}|{integer}".encode(), digest_size=8).digest()
        return cls(source, key, key ^ int.from_bytes(digest, "little"), dist, integer, fixed)

    @classmethod
    def recorded(cls, source: str, values: np.ndarray, integer: bool) -> Draw:
        """A size that a conversation's shape records: ``values[shape]`` for a task on that shape."""
        key = source_key(source)
        return cls(source, key, key, None, integer, None, values)


@dataclass(frozen=True, slots=True)
class RetryWait:
    """A compiled backoff: the wait before retry ``n`` (n >= 1) is min(max_s, base_s * factor^(n-1))."""

    base_s: float
    factor: float
    max_s: float
    jitter: str
    key: int  # source key of the jitter uniforms

    def wait_s(self, retry: int, u: float) -> float:
        wait = min(self.max_s, self.base_s * self.factor ** (retry - 1))
        if self.jitter == "full":
            return wait * u
        if self.jitter == "equal":
            return wait / 2 + wait / 2 * u
        return wait


@dataclass(frozen=True, slots=True)
class CallModel:
    """One rung of a call's ladder: a model, its rates, its chance of an unusable answer, its timing."""

    ref: str
    rates: ModelRates
    fail_probability: float
    input_usd_per_token: float | None  # set for a flat-priced, unbatched model: the fast path
    output_usd_per_token: float | None
    ttft: Draw
    speed: Draw  # output tokens per second
    reasoning: Draw | None
    context_window_tokens: int | None
    batch_delay: Draw | None  # set when the call goes through the batch API
    self_hosted: bool
    quality_fail: tuple[float, ...] | None = None  # with fail: quality and difficulty classes: P(fail) by class
    quality_skill: tuple[float, float] | None = None  # with fail: quality and a difficulty score: (skill, slope)
    token_ratio: float = 1.0  # the model's tokens per reference token, for this call's content type
    output: Draw | None = None  # this model's own output distribution (a per-model ``output``); None: the step's
    carry_reasoning: bool = False  # its kept reasoning is input on its later calls of the turn


@dataclass(frozen=True, slots=True)
class ValidatorPlan:
    """A cascade's check of each answer: an optional model call, a flat price, and its error rates."""

    model: CallModel | None
    prompt: Draw
    output: Draw
    cost_usd: float
    false_accept: float
    false_reject: float
    key: int  # uniforms of the verdicts


@dataclass(frozen=True, slots=True)
class Leg:
    """One model's turn at a call: up to the call's ``max_attempts`` attempts, then another leg or none.

    A call's legs form a small state machine. Escalation (``on_exhausted: {escalate: [...]}``), a cascade
    and a fallback chain are all legs in a row; they differ in when a leg gives up (``on_provider_error``
    set: at once, on the first provider error or rate-limit rejection) and in who judges an answer
    (``validator`` set: a cascade's imperfect check; None: the step's own check, which sees every
    invalid answer).
    """

    model: CallModel
    validator: ValidatorPlan | None
    on_provider_error: int | None  # the leg to switch to at once on a provider error or rejection
    on_failure: int | None  # the leg after this leg's attempts fail; None: the call fails


@dataclass(frozen=True, slots=True)
class RouterCall:
    """The classifier call a router makes once per run of a task, before the first call it routes."""

    model: CallModel | None
    prompt: Draw
    output: Draw
    cost_usd: float


@dataclass(frozen=True, slots=True)
class RouteChoice:
    """A per-task choice between ladders (a ``split``, or a ``router``'s decision), made once per run of
    a task for the role and kept for every call of the role in that run."""

    role: str
    route: str  # the route's name
    key: int  # uniforms of the choice, by role: the same in every alternative that routes this role
    labels: tuple[str, ...]  # what each option is called (a model, or a router's route name)
    cumulative: tuple[tuple[float, ...], ...]  # upper edges per difficulty class (one row for a split)
    router: RouterCall | None = None


@dataclass(frozen=True, slots=True)
class ModelCache:
    """How calls on one model use the prompt cache: its provider's rules, with the file's overrides."""

    min_prefix_tokens: int
    increment_tokens: int  # a hit reads the minimum plus a whole number of these (OpenAI: 128)
    ttl_s: float
    write_1h: bool  # bill writes at the 1-hour price (TTL above five minutes)
    hit_probability: float = 1.0  # P(a call finds a prefix that is in the cache)
    mode: str = "uniform"  # automatic, opt_in, or uniform (the cache: block alike for every model)


@dataclass(frozen=True, slots=True)
class CachePlan:
    """The prompt cache of one alternative: each caching model's :class:`ModelCache` in ``models``; a
    model not in it uses ``default`` (None: it does not cache). The scalar fields are the ``cache:``
    block's, the rules every model follows with ``provider_rules: false``."""

    ttl_s: float
    min_prefix_tokens: int
    write_1h: bool  # bill writes at the 1-hour price (TTL above five minutes)
    hit_probability: float = 1.0  # P(a call finds a prefix that is in the cache)
    increment_tokens: int = 1
    models: dict = field(default_factory=dict, compare=False, hash=False)  # ref -> ModelCache
    default: ModelCache | None = None

    def rule(self, ref: str) -> ModelCache | None:
        """How calls on ``ref`` use the cache; None: they do not."""
        return self.models.get(ref, self.default)


@dataclass(frozen=True, slots=True)
class DifficultyPlan:
    """How each task's difficulty is drawn: a class by its share, or a score from a distribution."""

    key: int
    class_names: tuple[str, ...] = ()
    cumulative: tuple[float, ...] = ()  # upper edges of the classes' shares
    score: Draw | None = None


@dataclass(frozen=True)
class WorldPlan:
    """What tasks share: traffic, the prompt cache, rate limits, outages, self-hosted servers."""

    shared: bool  # tasks arrive over time and may share state
    horizon_s: float | None
    concurrency: int | None
    cache: CachePlan | None
    limits: dict[str, Limit] = field(default_factory=dict)
    outages: dict[str, tuple[tuple[float, float, float], ...]] = field(default_factory=dict)
    self_hosted: dict[str, SelfHosted] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """Everything an engine needs to run one alternative."""

    alternative: str
    models: dict[str, str]
    system: Draw
    user: Draw
    steps: tuple
    task_attempts: int
    world: WorldPlan
    batched_steps: tuple[str, ...] = ()
    task_type: str = ""  # the workflow's name, for traces
    difficulty: DifficultyPlan | None = None
    budget: TaskBudget | None = None
    self_hosted_refs: tuple[str, ...] = ()  # the self-hosted deployments this alternative rents
    route_labels: tuple[str, ...] = ()  # the options of its split or router, when it routes one role so
    notes: tuple[str, ...] = ()  # what the summary should say about this alternative (reasoning, tool prices,
    #                               retired models, batch fallbacks)
    #: model -> content type -> tokenizer ratio applied, where a ratio other than 1 applied
    token_ratios: dict[str, dict[str, float]] = field(default_factory=dict)
