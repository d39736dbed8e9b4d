"""Compile a workflow and one alternative's models into the runtime plan an engine executes.

The spec (:mod:`sim.spec`) is passive data in the file's terms: roles, per-model failure tables, a
workflow-level retry policy with per-step overrides. A plan is the same workflow with all of that
resolved for one alternative: each call knows its model's float rates, its failure probability, its
attempts and its escalation ladder; each random quantity knows its source key. Engines read plans and
never look back at the spec, so every engine agrees on what the file means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.distributions import AnyDistribution, Fixed
from sim.pricing import Catalog, ModelRates
from sim.randomness import source_key
from sim.spec import Escalate, LlmStep, LoopStep, RetryPolicy, ToolStep, Workflow

LLM, TOOL, LOOP, BRANCH = "llm", "tool", "loop", "branch"


@dataclass(frozen=True, slots=True)
class Draw:
    """A random quantity: its distribution, its source key, and its value when it is fixed."""

    source: str
    key: int
    dist: AnyDistribution
    integer: bool
    fixed: float | int | None

    @classmethod
    def of(cls, source: str, dist: AnyDistribution, integer: bool) -> "Draw":
        fixed = None
        if isinstance(dist, Fixed) and dist.min is None and dist.max is None:
            fixed = int(dist.sample(np.array([0.5]), integer=True)[0]) if integer else dist.fixed
        return cls(source, source_key(source), dist, integer, fixed)


@dataclass(frozen=True, slots=True)
class CallModel:
    """One rung of a call's ladder: a model, its rates and its chance of an unusable answer."""

    ref: str
    rates: ModelRates
    fail_probability: float
    input_usd_per_token: float | None  # set when the model has no tiers: the fast path
    output_usd_per_token: float | None

    def attempt_cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        if self.input_usd_per_token is not None:
            return input_tokens * self.input_usd_per_token + output_tokens * self.output_usd_per_token
        return self.rates.attempt_cost_usd(input_tokens, output_tokens)


@dataclass(frozen=True, slots=True)
class LlmCall:
    kind = LLM
    id: str
    prompt: Draw
    output: Draw
    fail_key: int
    full_history: bool
    max_attempts: int
    ladder: tuple[CallModel, ...]  # the model, then the escalation target if any


@dataclass(frozen=True, slots=True)
class ToolCall:
    kind = TOOL
    id: str
    tool: str
    result: Draw
    latency: Draw
    fail_key: int
    fail_probability: float
    max_attempts: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Loop:
    kind = LOOP
    id: str
    count: Draw
    steps: tuple


@dataclass(frozen=True, slots=True)
class Branch:
    kind = BRANCH
    id: str
    key: int
    arm_names: tuple[str, ...]
    cumulative: tuple[float, ...]  # upper edges of the arms' probability intervals
    arms: tuple[tuple, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything an engine needs to run one alternative."""

    alternative: str
    models: dict[str, str]
    system: Draw
    user: Draw
    steps: tuple
    task_attempts: int


def _fail_probability(fail: float | dict[str, float], ref: str, catalog: Catalog) -> float:
    if not isinstance(fail, dict):
        return fail
    for key, probability in fail.items():
        if key != "default" and catalog.resolve(key).ref == ref:
            return probability
    return fail.get("default", 0.0)


def _call_model(name: str, models: dict[str, str], fail, catalog: Catalog) -> CallModel:
    rates = catalog.resolve(models.get(name, name))
    p = _fail_probability(fail, rates.ref, catalog)
    if rates.has_tiers:
        return CallModel(rates.ref, rates, p, None, None)
    per_token = 1.0 / 1e6
    return CallModel(
        rates.ref, rates, p, rates.input.base_usd_per_mtok * per_token, rates.output.base_usd_per_mtok * per_token
    )


def _retry(policy: RetryPolicy, step: LlmStep | ToolStep) -> tuple[int, Escalate | None]:
    attempts, on_exhausted = policy.max_attempts, policy.on_exhausted
    if step.retry is not None:
        attempts = step.retry.max_attempts or attempts
        on_exhausted = step.retry.on_exhausted or on_exhausted
    return attempts, on_exhausted if isinstance(on_exhausted, Escalate) else None


def _compile_steps(steps, prefix: str, workflow: Workflow, models: dict[str, str], catalog: Catalog) -> tuple:
    compiled = []
    for step in steps:
        source = f"{prefix}.{step.id}"
        if isinstance(step, LlmStep):
            attempts, escalate = _retry(workflow.retry, step)
            ladder = [_call_model(step.llm, models, step.fail, catalog)]
            if escalate is not None:
                ladder.append(_call_model(escalate.escalate, models, step.fail, catalog))
            compiled.append(
                LlmCall(
                    step.id,
                    Draw.of(f"{source}.prompt", step.prompt, integer=True),
                    Draw.of(f"{source}.output", step.output, integer=True),
                    source_key(f"{source}.fail"),
                    step.history == "full",
                    attempts,
                    tuple(ladder),
                )
            )
        elif isinstance(step, ToolStep):
            attempts, _ = _retry(workflow.retry, step)
            compiled.append(
                ToolCall(
                    step.id,
                    step.tool,
                    Draw.of(f"{source}.result", step.result, integer=True),
                    Draw.of(f"{source}.latency", step.latency, integer=False),
                    source_key(f"{source}.fail"),
                    step.fail,
                    attempts,
                    step.cost_usd,
                )
            )
        elif isinstance(step, LoopStep):
            inner = _compile_steps(step.steps, source, workflow, models, catalog)
            compiled.append(Loop(step.id, Draw.of(f"{source}.repeat", step.repeat, integer=True), inner))
        else:
            names = tuple(step.branch)
            edges, total = [], 0.0
            for name in names:
                total += step.branch[name].p
                edges.append(total)
            edges[-1] = 1.0  # arms sum to 1 up to rounding; make the last edge catch every uniform
            arms = tuple(_compile_steps(step.branch[n].steps, source, workflow, models, catalog) for n in names)
            compiled.append(Branch(step.id, source_key(f"{source}.branch"), names, tuple(edges), arms))
    return tuple(compiled)


def compile_plan(workflow: Workflow, alternative: str, models: dict[str, str], catalog: Catalog) -> Plan:
    """The plan of ``workflow`` for one alternative (``models`` maps every role to a model ref)."""
    return Plan(
        alternative=alternative,
        models={role: catalog.resolve(ref).ref for role, ref in models.items()},
        system=Draw.of("context.system", workflow.context.system, integer=True),
        user=Draw.of("context.user", workflow.context.user, integer=True),
        steps=_compile_steps(workflow.steps, "steps", workflow, models, catalog),
        task_attempts=workflow.task_retry.max_attempts,
    )


def catalog_for(workflow: Workflow, prices_date=None) -> Catalog:
    """The catalog with the workflow's own ``prices`` applied."""
    overrides = {ref: price.model_dump(exclude_none=True) for ref, price in workflow.prices.items()}
    return Catalog(overrides, prices_date=prices_date)
