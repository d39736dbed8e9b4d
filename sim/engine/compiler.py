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
from sim.core.profiles import default_profile
from sim.core.randomness import source_key
from sim.engine.plan import (
    BRANCH,
    LLM,
    LOOP,
    Branch,
    CachePlan,
    CallModel,
    DifficultyPlan,
    Draw,
    Leg,
    LlmCall,
    Loop,
    Plan,
    RetryWait,
    RouteChoice,
    RouterCall,
    ToolCall,
    ValidatorPlan,
    WorldPlan,
)
from sim.spec.distributions import Fixed
from sim.spec.quality import DEFAULT_QUALITY, SkillRow
from sim.spec.routing import CascadeRoute, FallbackRoute, RouterRoute, SplitRoute, Validator, route_name
from sim.spec.timing import Backoff, Batch, self_hosted_name, self_hosted_ref
from sim.spec.workflow import Escalate, LlmStep, LoopStep, RetryPolicy, ToolStep, Workflow

_DEFAULT_BATCH = Batch()


def _fail_probability(fail: float | dict[str, float], ref: str, catalog: Catalog) -> float:
    if not isinstance(fail, dict):
        return fail
    for key, probability in fail.items():
        if key != "default" and catalog.resolve(key).ref == ref:
            return probability
    return fail.get("default", 0.0)


class _Compiler:
    """Resolves one alternative: roles to models, profiles, retry policies; then compiles the steps."""

    def __init__(self, workflow: Workflow, models: dict[str, str], catalog: Catalog,
                 policy: RetryPolicy | None = None) -> None:
        self.workflow, self.models, self.catalog = workflow, models, catalog
        self.policy = workflow.retry if policy is None else policy
        self.profiles = {("default" if ref == "default" else catalog.resolve(ref).ref): profile
                         for ref, profile in workflow.profiles.items()}
        self.batched: list[str] = []

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
        if reasoning is None and table.reasoning_tokens and not hosted:
            reasoning = Fixed(fixed=table.reasoning_tokens)
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

    def llm_call(self, step: LlmStep, source: str) -> LlmCall:
        attempts, escalate, wait, policy = self.retry(step, source)
        escalation = [] if escalate is None else escalate.targets()
        fallbacks = [self.call_model(name, step, source) for name in policy.fallbacks()]
        role_value = self.models.get(step.llm, step.llm)
        route_key = route_name(role_value)
        route = None if route_key is None else self.workflow.routing[route_key]
        extra = [(self.call_model(name, step, source), None, False) for name in escalation]
        choices: tuple = ()
        choice = None
        if isinstance(route, CascadeRoute):
            validator = self.validator(route.validator, source)
            rungs = [(self.call_model(name, step, source), validator, False) for name in route.cascade]
            legs = _legs(rungs + [(model, validator, False) for model, _, _ in extra], fallbacks)
        elif isinstance(route, FallbackRoute):
            rungs = [(self.call_model(name, step, source), None, True) for name in route.fallback]
            legs = _legs(rungs + extra, fallbacks)
        elif isinstance(route, (SplitRoute, RouterRoute)):
            labels, options, rows, router = self.choice_options(route, step.llm, route_key)
            choices = tuple(_legs([(self.call_model(name, step, source), None, False)] + extra, fallbacks)
                            for name in options)
            choice = RouteChoice(step.llm, route_key, source_key(f"roles.{step.llm}.route"), labels, rows, router)
            legs = choices[0]
        else:
            legs = _legs([(self.call_model(step.llm, step, source), None, False)] + extra, fallbacks)
        feedback = None
        if policy.error_feedback is not None:
            feedback = Draw.of(f"{source}.feedback", policy.error_feedback, integer=True)
        return LlmCall(
            step.id, Draw.of(f"{source}.prompt", step.prompt, integer=True),
            Draw.of(f"{source}.output", step.output, integer=True), source_key(f"{source}.fail"),
            source_key(f"{source}.provider_error"), step.history, attempts, legs, wait, feedback, choices, choice)

    def validator(self, spec: Validator, source: str) -> ValidatorPlan:
        model = None if spec.llm is None else self.call_model(spec.llm, None, f"{source}.validator")
        return ValidatorPlan(model, Draw.of(f"{source}.validator.prompt", spec.prompt, integer=True),
                             Draw.of(f"{source}.validator.output", spec.output, integer=True), spec.cost_usd,
                             spec.false_accept, spec.false_reject, source_key(f"{source}.validator"))

    def choice_options(self, route: SplitRoute | RouterRoute, role: str, name: str):
        """(labels, the model each option calls, cumulative rows, router call) of a per-task choice."""
        if isinstance(route, SplitRoute):
            return tuple(route.split), tuple(route.split), (_cumulative(route.split.values()),), None
        router = route.router
        labels = tuple(router.routes)
        classes = tuple(self.workflow.difficulty.classes)
        rows = tuple(_cumulative(router.confusion[c].get(label, 0.0) for label in labels) for c in classes)
        base = f"roles.{role}.router"
        model = None if router.llm is None else self.call_model(router.llm, None, base)
        call = RouterCall(model, Draw.of(f"{base}.prompt", router.prompt, integer=True),
                          Draw.of(f"{base}.output", router.output, integer=True), router.cost_usd)
        return labels, tuple(router.routes[label] for label in labels), rows, call

    def steps(self, steps, prefix: str) -> tuple:
        compiled = []
        for step in steps:
            source = f"{prefix}.{step.id}"
            if isinstance(step, LlmStep):
                compiled.append(self.llm_call(step, source))
            elif isinstance(step, ToolStep):
                attempts, _, wait, _ = self.retry(step, source)
                compiled.append(ToolCall(
                    step.id, step.tool, Draw.of(f"{source}.result", step.result, integer=True),
                    Draw.of(f"{source}.latency", step.latency, integer=False), source_key(f"{source}.fail"),
                    step.fail, attempts, step.cost_usd, wait))
            elif isinstance(step, LoopStep):
                compiled.append(Loop(step.id, Draw.of(f"{source}.repeat", step.repeat, integer=True),
                                     self.steps(step.steps, source)))
            else:
                names = tuple(step.branch)
                edges, total = [], 0.0
                for name in names:
                    total += step.branch[name].p
                    edges.append(total)
                edges[-1] = 1.0  # arms sum to 1 up to rounding; make the last edge catch every uniform
                arms = tuple(self.steps(step.branch[name].steps, source) for name in names)
                compiled.append(Branch(step.id, source_key(f"{source}.branch"), names, tuple(edges), arms))
        return tuple(compiled)


def _cumulative(shares) -> tuple[float, ...]:
    """Upper edges of consecutive probability intervals; the last is 1 so it catches every uniform."""
    edges, total = [], 0.0
    for share in shares:
        total += share
        edges.append(total)
    edges[-1] = 1.0
    return tuple(edges)


def _legs(rungs: list[tuple[CallModel, ValidatorPlan | None, bool]], fallbacks: list[CallModel]) -> tuple[Leg, ...]:
    """Lay out a call's legs: each rung ``(model, validator, switch_at_once)``, followed by the retry
    policy's fallback models (those that are not the rung's own model).

    On a provider error a leg switches at once to its next fallback, or, when its rung switches at once
    (a fallback route), to the next rung; any other failure of a leg (its attempts spent) moves to the
    next rung. Without fallbacks and at-once rungs the legs are the rungs, in order: leg i is the i-th
    rung, as the escalation ladder always was.
    """
    chains = [[(model, validator)] + [(f, validator) for f in fallbacks if f.ref != model.ref]
              for model, validator, _ in rungs]
    starts, position = [], 0
    for chain in chains:
        starts.append(position)
        position += len(chain)
    legs = []
    for j, (chain, (_, _, at_once)) in enumerate(zip(chains, rungs)):
        next_rung = starts[j + 1] if j + 1 < len(starts) else None
        for p, (model, validator) in enumerate(chain):
            switch = starts[j] + p + 1 if p + 1 < len(chain) else (next_rung if at_once else None)
            legs.append(Leg(model, validator, switch, next_rung))
    return tuple(legs)


def _retry_wait(backoff: Backoff, source: str) -> RetryWait:
    return RetryWait(backoff.base_s, backoff.factor, backoff.max_s, backoff.jitter, source_key(source))


def world_plan(workflow: Workflow, catalog: Catalog) -> WorldPlan:
    traffic = workflow.traffic
    cache = None
    if workflow.cache is not None:
        cache = CachePlan(workflow.cache.ttl_s, workflow.cache.min_prefix_tokens, workflow.cache.ttl_s > 300)
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
    compiler = _Compiler(workflow, models, catalog, retry)
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
    )


def _route_labels(steps: tuple) -> tuple[str, ...]:
    """The options of the plan's per-task choice, when exactly one role is routed by a split or router."""
    found = {(call.route.role, call.route.labels) for call in _llm_calls(steps) if call.route is not None}
    return next(iter(found))[1] if len(found) == 1 else ()


def _llm_calls(steps: tuple):
    for step in steps:
        if step.kind is LLM:
            yield step
        elif step.kind is LOOP:
            yield from _llm_calls(step.steps)
        elif step.kind is BRANCH:
            for arm in step.arms:
                yield from _llm_calls(arm)


def _difficulty_plan(workflow: Workflow) -> DifficultyPlan | None:
    difficulty = workflow.difficulty
    if difficulty is None:
        return None
    if difficulty.score is not None:
        return DifficultyPlan(source_key("task.difficulty"), score=Draw.of("task.difficulty", difficulty.score, False))
    return DifficultyPlan(source_key("task.difficulty"), tuple(difficulty.classes),
                          _cumulative(difficulty.classes.values()))


def _ladders(steps: tuple):
    """Every CallModel of every llm call in ``steps`` (validators' and routers' too), nested ones included."""
    for step in _llm_calls(steps):
        for legs in (step.legs, *step.choices):
            for leg in legs:
                yield leg.model
                if leg.validator is not None and leg.validator.model is not None:
                    yield leg.validator.model
        if step.route is not None and step.route.router is not None and step.route.router.model is not None:
            yield step.route.router.model


def catalog_for(workflow: Workflow, prices_date=None) -> Catalog:
    """The catalog with the workflow's own ``prices`` applied, and its self-hosted models at $0 a token."""
    overrides = {ref: price.model_dump(exclude_none=True) for ref, price in workflow.prices.items()}
    for name in workflow.self_hosted:
        overrides[self_hosted_ref(name)] = {"input": 0.0, "output": 0.0}
    return Catalog(overrides, prices_date=prices_date)
