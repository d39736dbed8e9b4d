"""The workflow file: pydantic models of every key, with the field docstrings as the JSON Schema's text.

The models are passive data, validated once; :mod:`sim.engine.des` compiles them into runtime objects.
Reading a file (YAML, line numbers, messages that name file, line, column and field) lives in
:mod:`sim.spec.loader`; checks that need more than one field (roles, step ids, model references) live in
:mod:`sim.spec.checks`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Discriminator, Field, NonNegativeFloat, Tag, field_validator, model_validator

from sim.core.tokenizers import CONTENT_TYPES, REFERENCES
from sim.core.tools import PROVIDER_TOOLS
from sim.spec.base import Price, Probability, SpecModel, empty_dict, empty_list
from sim.spec.conversation import parse_shape, parse_shape_full
from sim.spec.distributions import LOOP_CEILING, Distribution
from sim.spec.kinds import Kinds
from sim.spec.permodel import ModelDistribution, members
from sim.spec.quality import Difficulty, QualityRow, TaskBudget
from sim.spec.routing import Route
from sim.spec.timing import (
    Backoff,
    BatchSetting,
    Cache,
    Limit,
    ModelProfile,
    Outage,
    ProviderOverride,
    SelfHosted,
    Traffic,
)

BASELINE = "baseline"
#: The key of an alternative that names a retry policy (``{retry: patient}``) instead of a role's model.
RETRY_KEY = "retry"

StepId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=64)]
ContentType = Literal[CONTENT_TYPES]
Ratio = Annotated[float, Field(gt=0, le=10)]  # a model's tokens per reference token
ToolPrice = Annotated[
    Annotated[Price, Tag("price:number")] | Annotated[dict[str, Price], Tag("price:per-model")],
    Discriminator(lambda v: "price:per-model" if isinstance(v, dict) else "price:number",
                  custom_error_type="cost_usd",
                  custom_error_message="expected a price in USD or {default: USD, provider:model: USD, ...}"),
]


class Escalate(SpecModel):
    """Move the call to a stronger model once its attempts are spent."""

    escalate: str | list[str]
    """A role (resolved per alternative) or a ``provider:model`` reference; or a list of them, an
    escalation ladder: after ``max_attempts`` failed attempts on one model the call moves to the next."""

    def targets(self) -> list[str]:
        """The ladder's models (roles or references), in order."""
        return [self.escalate] if isinstance(self.escalate, str) else list(self.escalate)


OnExhausted = Annotated[
    Annotated[Literal["fail_task"], Tag("when:fail_task")] | Annotated[Escalate, Tag("when:escalate")],
    Discriminator(
        lambda v: "when:escalate" if isinstance(v, (dict, Escalate)) else "when:fail_task",
        custom_error_type="on_exhausted",
        custom_error_message="expected fail_task or {escalate: ROLE_OR_MODEL}",
    ),
]


class RetryPolicy(SpecModel):
    """How a call (or tool call) that fails is retried."""

    max_attempts: int = Field(default=1, ge=1, le=100)
    """Attempts per call, the first included: 3 means up to 2 retries. Each retry re-sends the same input."""
    on_exhausted: OnExhausted = "fail_task"
    """What happens when every attempt failed: ``fail_task`` ends this run of the task as failed;
    ``{escalate: ROLE_OR_MODEL}`` makes the call again on that model, with ``max_attempts`` attempts of
    its own, and fails the task if those fail too. Tool steps cannot escalate."""
    backoff: Backoff = Field(default_factory=Backoff)
    """How long each retry waits first (simulated time only: waiting costs nothing)."""
    error_feedback: Distribution | None = None
    """Tokens of the error message (a validator's or parser's complaint) sent with each retry after an
    invalid answer, together with that answer: a retry's input grows by the failed output plus this, for
    every failed attempt before it on the same model. Omitted: a retry re-sends the same input."""
    fallback: str | list[str] | None = None
    """A model (role or ``provider:model``), or a chain of them, that takes over at once when a call
    meets a provider error (an outage) or a rate-limit rejection: a new call on the next model of the
    chain, with attempts of its own, instead of retrying into the error. Invalid answers still follow
    ``max_attempts`` and ``on_exhausted``."""

    def fallbacks(self) -> list[str]:
        """The fallback chain (roles or references), in order; empty when there is none."""
        if self.fallback is None:
            return []
        return [self.fallback] if isinstance(self.fallback, str) else list(self.fallback)


class RetryOverride(SpecModel):
    """A step's own retry policy: the keys it gives replace the workflow's, the rest are inherited."""

    max_attempts: int | None = Field(default=None, ge=1, le=100)
    """Attempts per call for this step."""
    on_exhausted: OnExhausted | None = None
    """``fail_task`` or ``{escalate: ROLE_OR_MODEL}`` for this step."""
    backoff: Backoff | None = None
    """This step's retry waits."""
    error_feedback: Distribution | None = None
    """Tokens of the error message sent with each retry of this step after an invalid answer."""
    fallback: str | list[str] | None = None
    """This step's fallback model or chain on provider errors and rate-limit rejections."""


class TaskRetry(SpecModel):
    """Whole-task re-runs: when a run of the task fails, everything is done again from the first step."""

    max_attempts: int = Field(default=1, ge=1, le=100)
    """Runs of the task, the first included: 1 means no re-runs."""


FailSpec = Annotated[
    Annotated[Probability, Tag("fail:number")]
    | Annotated[dict[str, Probability], Tag("fail:per-model")]
    | Annotated[Literal["quality"], Tag("fail:quality")],
    Discriminator(
        lambda v: "fail:per-model" if isinstance(v, dict) else "fail:quality" if isinstance(v, str) else "fail:number",
        custom_error_type="fail",
        custom_error_message="expected a probability, {default: P, provider:model: P, ...} or quality",
    ),
]


class _StepSpec(SpecModel):
    """What every step kind has: an id, and the step lists nested in it (none but in loops and branches)."""

    def nested(self) -> tuple[tuple[tuple, list[Step]], ...]:
        """``(path from this step, steps)`` of each step list inside this step, in file order."""
        return ()


class LlmStep(_StepSpec):
    """One call to a model. Its input is the context (see ``history``) plus its own prompt."""

    id: StepId
    """Unique name of the step, used in messages, traces and random-number sources."""
    llm: str
    """The role whose model makes the call (``main``), or a ``provider:model`` reference."""
    prompt: Distribution = 0
    """Tokens of this step's own instructions, sent once per call (the same on every retry)."""
    output: ModelDistribution
    """Tokens the model writes, drawn afresh on every attempt; per model as ``{default: D,
    provider:model: D}`` when models answer at different lengths (one stream of uniforms, mapped through
    each model's distribution)."""
    content: ContentType | None = None
    """What this call's text is, for tokenizer ratios: ``prose``, ``code`` or ``math``; default: the
    workflow's ``content``."""
    history: Literal["none", "full", "window"] = "full"
    """``full``: the input carries every earlier step's prompt, output and tool result of this task run;
    ``none``: only the system prompt, the user's request and this step's prompt; ``window``: like full,
    but the oldest turns are dropped so the input fits the model's context window."""
    fail: FailSpec = 0.0
    """Probability an attempt's output is unusable (fails validation), as one number, per model with a
    ``default`` for models not listed (0 when there is no default), or ``quality``: 1 − the model's
    quality at the task's difficulty. A failed attempt is billed in full. The draw is shared by all
    models: an attempt that fails a model also fails every model with a higher failure probability."""
    retry: RetryOverride | None = None
    """This step's own retry policy; keys not given come from the workflow's ``retry``."""
    batch: BatchSetting | None = None
    """Send this step through the batch API (``true`` or ``{delay_s: ...}``); default: the workflow's."""


class ToolStep(_StepSpec):
    """A tool call (search, database, API): it costs time, not tokens, and its result joins the context."""

    id: StepId
    """Unique name of the step."""
    tool: str
    """The tool's name, for reports and traces."""
    result: Distribution = 0
    """Tokens the tool's result adds to the conversation (only a successful attempt's result is kept)."""
    latency: Distribution = 0
    """Seconds one attempt takes."""
    fail: Probability = 0.0
    """Probability an attempt errors; errors are retried under the retry policy."""
    cost_usd: ToolPrice = 0.0
    """Price of one attempt in USD, for paid tools (e.g. a web search at $10 per 1,000 is 0.01); or per
    model of the step's ``called_by`` as ``{default: USD, provider:model: USD}``. With ``provider_tool`` it is
    the fallback where the catalog has no price for the model."""
    provider_tool: Literal[PROVIDER_TOOLS] | None = None
    """A tool the model's provider runs and bills per call (``web_search``, ``code_execution``,
    ``file_search``): priced from the catalog for the model of ``called_by`` in each alternative, and billed
    only for the calls the provider bills (not failed ones, unless its rule says so)."""
    called_by: str | None = None
    """The role (or ``provider:model``) whose model calls this tool, for ``provider_tool`` and per-model
    ``cost_usd``; default: the role ``main`` if there is one, else the first role of ``models``."""
    bill_failed: bool | None = None
    """Whether a failed attempt is billed; default: yes for a tool of your own, the provider's rule for a
    ``provider_tool``."""
    retry: RetryOverride | None = None
    """This step's own retry policy (``max_attempts``; a tool cannot escalate)."""


class UserStep(_StepSpec):
    """A message from the person the agent serves (a follow-up, an answer to a clarifying question): its
    tokens join the conversation like a tool's result. No model is called: it costs nothing, takes no
    time and cannot fail."""

    id: StepId
    """Unique name of the step."""
    user: Distribution
    """Tokens of the user's message, drawn once per run of the step (a distribution, like a tool's
    ``result``); every later call with ``history: full`` or ``window`` carries them."""


class ConversationStep(_StepSpec):
    """Recorded conversations, one drawn whole for each run of a task: the events of a traced task in
    order (model calls, tool calls, user turns), with their sizes. ``costsim calibrate`` writes this step
    from traces; see :mod:`sim.spec.conversation` for how a shape is written. Each model call is an
    ``llm`` step with ``history: full`` (or ``none``) on its role's model, with this step's failure rate
    and retry policy; each tool call a ``tool`` step with ``tool_fail``."""

    id: StepId
    """Unique name of the step."""
    conversation: list[str] = Field(min_length=1, max_length=100_000)
    """The shapes, one per recorded task: ``"llm:main:120:900 tool:search:1500:0.8 user:40 llm:main:300"``."""
    weights: list[NonNegativeFloat] | None = None
    """How often each shape is drawn, relative to the others (default: equally often)."""
    fail: FailSpec = 0.0
    """Probability a model call's attempt is unusable, as for an ``llm`` step (one number, or per model)."""
    last_fail: FailSpec | None = None
    """The same for the last model call of each conversation, when it differs: an agent's final answer is
    often checked (a schema, a validator) and fails more often than the calls before it. Omitted: ``fail``."""
    tool_fail: Probability = 0.0
    """Probability a tool call's attempt errors."""
    retry: RetryOverride | None = None
    """This step's own retry policy; keys not given come from the workflow's ``retry``."""
    batch: BatchSetting | None = None
    """Send this step's model calls through the batch API; default: the workflow's."""

    @field_validator("conversation")
    @classmethod
    def _shapes_parse(cls, shapes: list[str]) -> list[str]:
        for index, text in enumerate(shapes):
            try:
                parse_shape_full(text)
            except ValueError as exc:
                raise ValueError(f"shape {index}: {exc}") from None
        return shapes

    @model_validator(mode="after")
    def _one_weight_a_shape(self):
        if self.weights is not None:
            if len(self.weights) != len(self.conversation):
                raise ValueError(f"weights has {len(self.weights)} numbers for {len(self.conversation)} shapes")
            if not sum(self.weights) > 0:
                raise ValueError("the weights must not all be 0")
        return self

    def roles(self) -> list[str]:
        """The roles the shapes' model calls name, in order of first appearance."""
        seen: dict[str, None] = {}
        for text in self.conversation:
            for event in parse_shape(text):
                if event.kind == "llm":
                    seen.setdefault(event.label, None)
        return list(seen)


class LoopStep(_StepSpec):
    """Repeat a sequence of steps a random number of times (an agent's tool loop)."""

    id: StepId
    """Unique name of the loop."""
    repeat: ModelDistribution
    """How many times the inner steps run, drawn once per run of the loop and rounded to an integer;
    e.g. ``{poisson: {mean: 1.0}, min: 1}``; at most 10^6. Per model as ``{default: D, provider:model:
    D}``: the model of the loop's first llm step (the agent that decides when to stop) picks it."""
    steps: list[Step] = Field(min_length=1)
    """The steps of one iteration."""

    @field_validator("repeat")
    @classmethod
    def _loop_count_below_the_ceiling(cls, repeat):
        for count in members(repeat):
            if problem := count.ceiling_problem(LOOP_CEILING, "a loop count"):
                raise ValueError(problem)
        return repeat

    def nested(self) -> tuple[tuple[tuple, list[Step]], ...]:
        return ((("steps",), self.steps),)


class BranchArm(SpecModel):
    """One way a branch can go."""

    p: Probability
    """Probability this arm is taken; the arms' probabilities sum to 1."""
    steps: list[Step] = Field(default_factory=empty_list)
    """The steps this arm runs (may be empty)."""


class BranchStep(_StepSpec):
    """Pick one of several named sequences with given probabilities (intent routing)."""

    id: StepId
    """Unique name of the branch."""
    branch: dict[str, BranchArm] = Field(min_length=1)
    """Arm name -> its probability and steps."""

    @field_validator("branch")
    @classmethod
    def _probabilities_sum_to_one(cls, branch: dict[str, BranchArm]) -> dict[str, BranchArm]:
        total = sum(arm.p for arm in branch.values())
        if abs(total - 1.0) > 1e-9:
            terms = " + ".join(f"{name} {arm.p:g}" for name, arm in branch.items())
            raise ValueError(f"the arms' probabilities must sum to 1, but {terms} = {total:g}")
        return branch

    def nested(self) -> tuple[tuple[tuple, list[Step]], ...]:
        return tuple((("branch", name, "steps"), arm.steps) for name, arm in self.branch.items())


#: The step kinds, key -> model: the one list the ``Step`` union, its discriminator and its message are
#: made from (the engine's half of each kind, in ``sim.engine.kinds``, is matched to it by key).
STEPS = Kinds("step", {"llm": LlmStep, "tool": ToolStep, "repeat": LoopStep, "branch": BranchStep,
                       "user": UserStep, "conversation": ConversationStep})
STEP_KINDS = STEPS.keys

Step = STEPS.union()
"""A step is told apart by its key: one of :data:`STEP_KINDS`."""


class Context(SpecModel):
    """Tokens at the head of every call."""

    system: Distribution = 0
    """The system prompt (drawn once per task, the same in every call)."""
    user: Distribution = 0
    """The user's request (drawn once per task, carried in every call)."""


class PriceOverride(SpecModel):
    """USD per million tokens; for a catalog model the keys given replace the catalog's."""

    input: Price | None = None
    """Uncached input tokens."""
    output: Price | None = None
    """Output tokens."""
    cache_read: Price | None = None
    """Input tokens read from the prompt cache."""
    cache_write: Price | None = None
    """Input tokens written to the prompt cache (5-minute TTL)."""
    cache_write_1h: Price | None = None
    """Input tokens written to the prompt cache with a 1-hour TTL."""
    batch_input: Price | None = None
    """Input tokens through the batch API."""
    batch_output: Price | None = None
    """Output tokens through the batch API."""
    batch_cache_read: Price | None = None
    """Input tokens read from the prompt cache by a batched request."""
    batch_cache_write: Price | None = None
    """Input tokens written to the prompt cache (5-minute TTL) by a batched request."""
    batch_cache_write_1h: Price | None = None
    """Input tokens written to the prompt cache with a 1-hour TTL by a batched request."""


class TokenizerSetting(SpecModel):
    """Which tokenizer the file's sizes are counted in, and how each model's tokenizer compares."""

    reference: Literal[REFERENCES] = "o200k"
    """``o200k`` (OpenAI's o200k_base): each model's counts are scaled by its ratio to it; ``none``: the
    sizes are already each model's own (no scaling)."""
    ratios: dict[str, Ratio | dict[ContentType, Ratio]] = Field(default_factory=empty_dict)
    """``provider:model`` -> tokens per reference token, one number or per content type (``{prose: 1.16,
    code: 1.3}``; types not given keep the built-in ratio), replacing the built-in table."""


class Calibration(SpecModel):
    """Where a calibrated workflow came from (``costsim calibrate``), and how ``costsim run`` resamples its
    evidence to put the uncertainty of the fit into every interval."""

    step: StepId
    """The ``conversation`` step whose shapes are the evidence: one per traced task."""
    traced_tasks: int = Field(ge=1)
    """How many traced tasks the fit used."""
    resamples: int = Field(default=200, ge=0, le=10_000)
    """Bootstrap resamples of the traced tasks (each refitted and simulated); 0: intervals of the
    simulation noise alone, as for a hand-written workflow."""
    resample_tasks: int = Field(default=2_000, ge=100, le=1_000_000)
    """Tasks simulated for each resample."""
    cache_calls: int | None = Field(default=None, ge=1)
    """Traced calls that could have read the cache (the denominator of ``cache.hit_probability``): each
    resample redraws the hit probability as a binomial share of that many calls, so that its uncertainty
    is in the intervals too. None: the hit probability is taken as known."""
    source: str = ""
    """The traces it was fitted from, for people."""


#: The longest workflow name: it starts the run folder's name (NAME-YYYYMMDD-HHMMSS), and a file name may
#: have at most 255 bytes on the usual file systems (ext4, APFS, NTFS).
MAX_NAME_CHARS = 100


class Workflow(SpecModel):
    """An agent's steps, its model choices and its failure and retry behaviour."""

    model_config = ConfigDict(  # merged with SpecModel's settings
        json_schema_extra={"title": "costsim workflow", "$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    name: str = Field(min_length=1)
    """Short name of the workflow, used in reports and in the name of its run folder (at most
    :data:`MAX_NAME_CHARS` characters, no control characters)."""
    description: str = ""
    """What the agent does, in a sentence or two."""
    models: dict[str, str] = Field(min_length=1)
    """Role -> ``provider:model``: the baseline alternative."""
    alternatives: dict[str, dict[str, str]] = Field(default_factory=empty_dict)
    """Named variants, each overriding some roles' models (a ``provider:model``, or ``route:NAME`` for a
    routing strategy) and, with the key ``retry``, naming one of ``retry_policies`` in place of
    ``retry``; every alternative runs on the same tasks."""
    prices: dict[str, PriceOverride] = Field(default_factory=empty_dict)
    """``provider:model`` -> prices overriding or adding to the catalog's."""
    context: Context = Field(default_factory=Context)
    """Tokens at the head of every call."""
    steps: list[Step] = Field(min_length=1)
    """The agent's steps, run in order."""
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    """The call-level retry policy (the baseline's); a step may override it."""
    retry_policies: dict[str, RetryPolicy] = Field(default_factory=empty_dict)
    """Named retry policies, to compare: an alternative takes one with ``{retry: NAME}``; steps' own
    ``retry`` keys still override it."""
    routing: dict[str, Route] = Field(default_factory=empty_dict)
    """Named routing strategies (``split``, ``cascade``, ``router``, ``fallback``); a role takes one as
    ``route:NAME``, in ``models`` or in an alternative."""
    task_retry: TaskRetry = Field(default_factory=TaskRetry)
    """Whole-task re-runs after a failed run."""

    @field_validator("name")
    @classmethod
    def _name_fits_a_file_name(cls, name: str) -> str:
        if len(name) > MAX_NAME_CHARS:
            raise ValueError(f"at most {MAX_NAME_CHARS} characters (it names the run's folder), got {len(name)}")
        if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in name):
            raise ValueError(f"a control character in the name ({name[:40]!r}); write plain text")
        return name
    budget: TaskBudget | None = None
    """Per-task caps on cost, calls and wall time that stop a runaway task (counted as failed)."""
    traffic: Traffic | None = None
    """Tasks arriving over time; needed by anything shared between tasks (limits, outages, self-hosted
    models, a cache shared across tasks) and for the monthly bill."""
    profiles: dict[str, ModelProfile] = Field(default_factory=empty_dict)
    """``default`` or ``provider:model`` -> latency, reasoning tokens and context window, overriding the
    built-in table."""
    cache: Cache | None = None
    """Prompt caching. With provider rules, models whose provider caches automatically (OpenAI, Gemini)
    cache without it; providers that need breakpoints (Anthropic) cache only with it. Without provider
    rules, off when omitted."""
    provider_rules: bool = True
    """Bill each model by its provider's rules (``sim/core/providers.py``: caching mode, minimum prefix,
    increments and TTLs per model; batch discounts; retirement warnings). ``false``: every model alike,
    as costsim did before the rules table (caching only with a ``cache:`` block, the same minimum for
    all, a missing batch price silently the standard price)."""
    providers: dict[str, ProviderOverride] = Field(default_factory=empty_dict)
    """``provider`` or ``provider:model`` -> columns replacing the rules table's for it."""
    limits: dict[str, Limit] = Field(default_factory=empty_dict)
    """``provider:model`` -> requests and tokens per minute."""
    outages: list[Outage] = Field(default_factory=empty_list)
    """Windows in which a model's calls fail."""
    batch: BatchSetting = False
    """Send every llm step through the batch API (a step may say otherwise)."""
    tokenizer: TokenizerSetting = Field(default_factory=lambda: TokenizerSetting())
    """The tokenizer the file's sizes are counted in, and per-model ratios replacing the built-in table."""
    content: ContentType = "prose"
    """What the agent's text mostly is, for tokenizer ratios: ``prose``, ``code`` or ``math`` (an llm
    step may say otherwise)."""
    carry_reasoning: bool = False
    """Carry a reasoning model's hidden reasoning through a tool loop as its API requires (OpenAI's
    reasoning items, Claude's thinking blocks): a kept answer's reasoning tokens are input on the later
    calls of the same model in the same turn (history full or window), until a user step starts a new
    turn."""
    self_hosted: dict[str, SelfHosted] = Field(default_factory=empty_dict)
    """Name -> a model served on rented GPUs; refer to it as ``self:NAME``."""
    difficulty: Difficulty | None = None
    """How hard each task is (drawn once per task, the same for every alternative)."""
    quality: dict[str, QualityRow] = Field(default_factory=empty_dict)
    """``provider:model`` or ``default`` -> P(valid answer) per difficulty class (or ``{skill, slope}``
    against a score), used by steps with ``fail: quality``."""
    calibration: Calibration | None = None
    """Written by ``costsim calibrate``: the evidence the workflow was fitted from, resampled by
    ``costsim run`` so that its intervals include what the traces leave unknown."""

    def alternative_models(self) -> dict[str, dict[str, str]]:
        """Every alternative's full role -> model (or ``route:NAME``) map, the baseline first."""
        merged = {BASELINE: dict(self.models)}
        for name, overrides in self.alternatives.items():
            merged[name] = {**self.models, **{k: v for k, v in overrides.items() if k != RETRY_KEY}}
        return merged

    def retry_policy_name(self, alternative: str) -> str | None:
        """The name of the retry policy an alternative takes (None: the workflow's ``retry``)."""
        return None if alternative == BASELINE else self.alternatives[alternative].get(RETRY_KEY)

    def retry_policy(self, alternative: str) -> RetryPolicy:
        """The call-level retry policy of an alternative (before steps' own overrides)."""
        name = self.retry_policy_name(alternative)
        return self.retry if name is None else self.retry_policies[name]


# No model_rebuild() here: every SpecModel is built on first use (``defer_build``, sim/spec/base.py), when
# the forward references above (LoopStep's and BranchArm's steps) resolve; building them now would cost
# every command that imports the spec the schema of the whole format.

AnyStep = STEPS.any()


def iter_steps(steps: list[AnyStep], path: tuple = ("steps",)):
    """Yield ``(step, path, parent_ids)`` for every step, nested ones included, in file order.

    ``path`` is the step's location in the file's data (``("steps", 2, "steps", 0)``) and ``parent_ids``
    the ids of the loops and branches around it.
    """
    yield from _walk(steps, path, ())


def _walk(steps, path, parent_ids):
    for index, step in enumerate(steps):
        here = (*path, index)
        yield step, here, parent_ids
        for where, nested in step.nested():
            yield from _walk(nested, (*here, *where), (*parent_ids, step.id))


def dotted(path: tuple) -> str:
    """A data path as a person reads it: ``("steps", 1, "output")`` -> ``steps[1].output``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return text or "(top level)"
