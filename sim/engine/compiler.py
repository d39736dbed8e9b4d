"""Compile a workflow and one alternative's models into the runtime plan an engine executes.

The spec (:mod:`sim.spec.workflow`) is passive data in the file's terms: roles, per-model failure tables, retry
policies with per-step overrides, routes, per-model profiles with a default. :func:`compile_plan`
resolves all of that for one alternative into a :class:`sim.engine.plan.Plan`: each call knows its model's
float rates, its failure probability, its attempts and its legs (escalation, cascade, fallback), its
latency and reasoning distributions, its context window and whether it is batched; each random quantity
knows its source key. Engines read plans and never look back at the spec, so every engine agrees on
what the file means.
"""

from __future__ import annotations

from sim.core.pricing import Catalog
from sim.core.profiles import default_profile, reasoning_default
from sim.core.randomness import source_key
from sim.core.tokenizers import GENERIC_RATIO, default_ratio
from sim.engine import kinds
from sim.engine.kinds.llm import call_models
from sim.engine.plan import CachePlan, CallModel, DifficultyPlan, Draw, Plan, RetryWait, WorldPlan
from sim.engine.rules.choice import cumulative
from sim.spec.distributions import Fixed
from sim.spec.permodel import default_of, is_per_model
from sim.spec.quality import DEFAULT_QUALITY, SkillRow
from sim.spec.routing import route_name
from sim.spec.timing import Backoff, Batch, self_hosted_name, self_hosted_ref
from sim.spec.workflow import Escalate, LlmStep, RetryPolicy, ToolStep, Workflow

_DEFAULT_BATCH = Batch()


def _fail_probability(fail: float | dict[str, float], ref: str, catalog: Catalog) -> float:
    if not isinstance(fail, dict):
        return fail
    for key, probability in fail.items():
        if key != "default" and catalog.resolve(key).ref == ref:
            return probability
    return fail.get("default", 0.0)


class Compiler:
    """Resolves one alternative: roles to models, profiles, retry policies; then compiles the steps, each
    by its kind's compile function (:data:`sim.engine.kinds.STEPS`), which calls back for models and policies."""

    def __init__(self, workflow: Workflow, models: dict[str, str], catalog: Catalog,
                 policy: RetryPolicy | None = None) -> None:
        self.workflow, self.models, self.catalog = workflow, models, catalog
        self.policy = workflow.retry if policy is None else policy
        self.profiles = {("default" if ref == "default" else catalog.resolve(ref).ref): profile
                         for ref, profile in workflow.profiles.items()}
        self.batched: list[str] = []
        self.notes: list[str] = []  # for the summary, each once
        self.token_ratios: dict[str, dict[str, float]] = {}  # model -> content -> ratio, where not 1
        self.file_ratios = {catalog.resolve(ref).ref: given for ref, given in workflow.tokenizer.ratios.items()}

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def per_model(self, value, ref: str | None):
        """The distribution (or price) a per-model field gives model ``ref`` (None: a route's, the default)."""
        if not is_per_model(value):
            return value
        for key, given in value.items():
            if key != "default" and ref is not None and self.catalog.resolve(key).ref == ref:
                return given
        return default_of(value)

    def role_ref(self, name: str) -> str | None:
        """The canonical model of a role or reference in this alternative (None when a route answers it)."""
        target = self.models.get(name, name)
        return None if route_name(target) is not None else self.catalog.resolve(target).ref

    def token_ratio(self, ref: str, content: str, hosted: bool) -> float:
        """The model's tokens per reference token for ``content`` (1 with ``tokenizer.reference: none``)."""
        if self.workflow.tokenizer.reference == "none":
            return 1.0
        given = self.file_ratios.get(ref)
        if isinstance(given, float):
            ratio = given
        else:
            row = GENERIC_RATIO if hosted else default_ratio(ref)
            ratio = (given or {}).get(content, row.of(content))
        if ratio != 1.0:
            self.token_ratios.setdefault(ref, {})[content] = ratio
        return ratio

    def _profile_value(self, ref: str, name: str):
        for key in (ref, "default"):
            value = getattr(self.profiles[key], name, None) if key in self.profiles else None
            if value is not None:
                return value
        return None

    def call_model(self, name: str, step: LlmStep | None, source: str) -> CallModel:
        """The model a role or reference ``name`` stands for, as ``step`` calls it (``step`` None: a
        router's or validator's call, which never fails and is never batched)."""
        rates = self.catalog.resolve(self.models.get(name, name))
        ref = rates.ref
        hosted = self.workflow.self_hosted.get(name) if (name := self_hosted_name(ref)) is not None else None
        table = default_profile(ref)
        ttft = self._profile_value(ref, "ttft_s")
        speed = self._profile_value(ref, "tokens_per_s")
        reasoning = self._profile_value(ref, "reasoning_tokens")
        if ttft is None:
            ttft = Fixed(fixed=0.0 if hosted else table.ttft_s)
        if speed is None:
            speed = Fixed(fixed=hosted.decode_tokens_per_s if hosted else table.tokens_per_s)
        row = None if hosted else reasoning_default(ref)
        if reasoning is None and table.reasoning_tokens and not hosted:
            reasoning = Fixed(fixed=table.reasoning_tokens)
        elif reasoning is None and row is not None and row.tokens:
            reasoning = Fixed(fixed=row.tokens)
        if row is not None and row.mode != "opt_in" and (reasoning is None or reasoning.expected_value(True) == 0):
            how = "always reasons" if row.mode == "always" else "thinks by default"
            self.note(f"{ref} is a reasoning model ({how}) but runs with no reasoning tokens: give "
                      "profiles.reasoning_tokens")
        carry = bool(self.workflow.carry_reasoning and row is not None and row.carry and reasoning is not None)
        content = (step.content if isinstance(step, LlmStep) and step.content is not None
                   else self.workflow.content)
        output = None
        if isinstance(step, LlmStep) and is_per_model(step.output):
            output = Draw.of(f"{source}.output", self.per_model(step.output, ref), integer=True)
        window = self._profile_value(ref, "context_window_tokens")
        if window is None:
            window = hosted.context_window_tokens if hosted else rates.context_window_tokens
        batch = False if step is None else step.batch if step.batch is not None else self.workflow.batch
        batch_spec = (batch if isinstance(batch, Batch) else _DEFAULT_BATCH) if batch and not hosted else None
        if batch_spec is not None and step.id not in self.batched:
            self.batched.append(step.id)
        flat = not rates.has_tiers and batch_spec is None
        per_token = 1.0 / 1e6
        fail = 0.0 if step is None else step.fail
        quality_fail, quality_skill = self.quality(ref) if fail == "quality" else (None, None)
        return CallModel(
            ref, rates, 0.0 if fail == "quality" else _fail_probability(fail, ref, self.catalog),
            rates.input.base_usd_per_mtok * per_token if flat else None,
            rates.output.base_usd_per_mtok * per_token if flat else None,
            Draw.of(f"{source}.ttft", ttft, integer=False),
            Draw.of(f"{source}.speed", speed, integer=False),
            None if reasoning is None else Draw.of(f"{source}.reasoning", reasoning, integer=True),
            window,
            None if batch_spec is None else Draw.of(f"{source}.batch_delay", batch_spec.delay_s, integer=False),
            hosted is not None,
            quality_fail,
            quality_skill,
            self.token_ratio(ref, content, hosted is not None),
            output,
            carry,
        )

    def quality(self, ref: str) -> tuple[tuple[float, ...] | None, tuple[float, float] | None]:
        """The quality row of ``ref`` (its own, else ``default``, else DEFAULT_QUALITY) as failure odds."""
        rows = {("default" if key == "default" else self.catalog.resolve(key).ref): row
                for key, row in self.workflow.quality.items()}
        row = rows.get(ref, rows.get("default", DEFAULT_QUALITY))
        difficulty = self.workflow.difficulty
        if isinstance(row, SkillRow):
            return None, (row.skill, row.slope)
        names = tuple(difficulty.classes) if difficulty is not None and difficulty.classes else tuple(row)
        return tuple(1.0 - row[name] for name in names), None

    def retry(self, step: LlmStep | ToolStep, source: str) -> tuple[int, Escalate | None, RetryWait, RetryPolicy]:
        """The step's attempts, escalation, backoff, and the alternative's policy with the step's keys."""
        policy: RetryPolicy = self.policy
        if step.retry is not None:
            given = {key: getattr(step.retry, key) for key in type(step.retry).model_fields}
            policy = policy.model_copy(update={key: value for key, value in given.items() if value is not None})
        wait = _retry_wait(policy.backoff, f"{source}.backoff")
        on_exhausted = policy.on_exhausted
        return policy.max_attempts, on_exhausted if isinstance(on_exhausted, Escalate) else None, wait, policy

    def steps(self, steps, prefix: str) -> tuple:
        """The plan nodes of spec ``steps``; ``prefix`` (``steps``, or the enclosing step's source) prefixes
        each step's source ``PREFIX.ID``, the root of its draws' keys."""
        return tuple(kinds.step_kind(step).compile(self, step, f"{prefix}.{step.id}") for step in steps)


def _retry_wait(backoff: Backoff, source: str) -> RetryWait:
    return RetryWait(backoff.base_s, backoff.factor, backoff.max_s, backoff.jitter, source_key(source))


def world_plan(workflow: Workflow, catalog: Catalog) -> WorldPlan:
    traffic = workflow.traffic
    cache = None
    if workflow.cache is not None:
        cache = CachePlan(workflow.cache.ttl_s, workflow.cache.min_prefix_tokens, workflow.cache.ttl_s > 300,
                          workflow.cache.hit_probability)
    outages: dict[str, list] = {}
    for outage in workflow.outages:
        start_s = outage.start_h * 3600
        outages.setdefault(catalog.resolve(outage.model).ref, []).append(
            (start_s, start_s + outage.duration_min * 60, outage.error_rate))
    return WorldPlan(
        shared=traffic is not None,
        horizon_s=None if traffic is None else traffic.days * 86400,
        concurrency=None if traffic is None else traffic.concurrency,
        cache=cache,
        limits={catalog.resolve(ref).ref: limit for ref, limit in workflow.limits.items()},
        outages={ref: tuple(sorted(windows)) for ref, windows in outages.items()},
        self_hosted={self_hosted_ref(name): spec for name, spec in workflow.self_hosted.items()},
    )


def compile_plan(workflow: Workflow, alternative: str, models: dict[str, str], catalog: Catalog,
                 retry: RetryPolicy | None = None) -> Plan:
    """The plan of ``workflow`` for one alternative (``models`` maps every role to a model ref or a
    ``route:NAME``; ``retry`` is the alternative's call-level policy, default the workflow's)."""
    compiler = Compiler(workflow, models, catalog, retry)
    steps = compiler.steps(workflow.steps, "steps")
    return Plan(
        alternative=alternative,
        models={role: ref if route_name(ref) else catalog.resolve(ref).ref for role, ref in models.items()},
        system=Draw.of("context.system", workflow.context.system, integer=True),
        user=Draw.of("context.user", workflow.context.user, integer=True),
        steps=steps,
        task_attempts=workflow.task_retry.max_attempts,
        world=world_plan(workflow, catalog),
        batched_steps=tuple(compiler.batched),
        task_type=workflow.name,
        difficulty=_difficulty_plan(workflow),
        budget=workflow.budget,
        self_hosted_refs=tuple(sorted({model.ref for model in _ladders(steps) if model.self_hosted})),
        route_labels=_route_labels(steps),
        notes=tuple(compiler.notes),
        token_ratios=compiler.token_ratios,
    )


def _route_labels(steps: tuple) -> tuple[str, ...]:
    """The options of the plan's per-task choice, when exactly one role is routed by a split or router."""
    found = {(call.route.role, call.route.labels) for call in _llm_calls(steps) if call.route is not None}
    return next(iter(found))[1] if len(found) == 1 else ()


def _llm_calls(steps: tuple):
    return (node for node in kinds.walk(steps) if node.kind == "llm")


def _difficulty_plan(workflow: Workflow) -> DifficultyPlan | None:
    difficulty = workflow.difficulty
    if difficulty is None:
        return None
    if difficulty.score is not None:
        return DifficultyPlan(source_key("task.difficulty"), score=Draw.of("task.difficulty", difficulty.score, False))
    return DifficultyPlan(source_key("task.difficulty"), tuple(difficulty.classes),
                          cumulative(difficulty.classes.values()))


def _ladders(steps: tuple):
    """Every CallModel of every llm call in ``steps`` (validators' and routers' too), nested ones included."""
    for node in _llm_calls(steps):
        yield from call_models(node)


def catalog_for(workflow: Workflow, prices_date=None) -> Catalog:
    """The catalog with the workflow's own ``prices`` applied, and its self-hosted models at $0 a token."""
    overrides = {ref: price.model_dump(exclude_none=True) for ref, price in workflow.prices.items()}
    for name in workflow.self_hosted:
        overrides[self_hosted_ref(name)] = {"input": 0.0, "output": 0.0}
    return Catalog(overrides, prices_date=prices_date)
