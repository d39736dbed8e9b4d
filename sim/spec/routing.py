"""Workflow keys for routing: which model answers a call, decided per task or per call.

A role's model is usually one ``provider:model``: the *static* strategy. A role may instead name a
route, ``route:NAME``, declared under the workflow's ``routing:`` key, so that an alternative can swap a
whole strategy the way it swaps a model::

    models: {main: openai:gpt-4.1-mini}
    alternatives:
      cascade: {main: route:cascade}
    routing:
      cascade:
        cascade: [openai:gpt-4.1-nano, openai:gpt-4.1]        # cheapest first
        validator: {llm: openai:gpt-4.1-nano, prompt: 200, output: 5, false_accept: 0.1, false_reject: 0.05}

Four kinds, told apart by their key (like steps):

* ``split``: a share of tasks to each model (``{openai:gpt-4.1-mini: 0.8, openai:gpt-4.1: 0.2}``),
  drawn once per run of a task, so every call of the role in that run goes to the same model;
* ``cascade``: try the models in order; after each answer a validator (with its own cost, and its own
  false-accept and false-reject rates) decides whether to keep it or move to the next model;
* ``router``: a classifier call (with its own cost) picks a route once per run of a task; which route
  it picks depends on the task's difficulty through a confusion matrix;
* ``fallback``: a chain of models; a call that fails on one (its attempts spent, or at once on a provider
  error or rate-limit rejection) moves to the next.

Whether an answer is *valid* is the same draw for every strategy (see :mod:`sim.spec.quality`); the
validator of a cascade only decides whether the agent *believes* it. An invalid answer it accepts is
kept: the task runs to its end and is counted as failed (``wrong_answer``), as a user would see it.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from sim.spec.base import Price, Probability, SpecModel
from sim.spec.distributions import Distribution
from sim.spec.kinds import Kinds

ROUTE_PREFIX = "route:"


def _shares_sum_to_one(shares: dict[str, float], what: str) -> dict[str, float]:
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-9:
        terms = " + ".join(f"{name} {p:g}" for name, p in shares.items())
        raise ValueError(f"the {what} must sum to 1, but {terms} = {total:g}")
    return shares


class Validator(SpecModel):
    """What checks a cascade's answers: a model call (``llm``), a flat price per check, or both."""

    llm: str | None = None
    """The validator's model (a role or ``provider:model``); omit it for a check that calls no model
    (a schema, a unit test, a reward model priced by ``cost_usd``)."""
    prompt: Distribution = 0
    """Tokens of the validator's own instructions. Its input is the system prompt, the user's request,
    this prompt and the answer it judges."""
    output: Distribution = 0
    """Tokens the validator writes (its verdict)."""
    cost_usd: Price = 0.0
    """A flat price per check in USD, added to any model call's cost."""
    false_accept: Probability = 0.0
    """P(the validator accepts an invalid answer): the answer is kept and the task ends wrong."""
    false_reject: Probability = 0.0
    """P(the validator rejects a valid answer): the call moves on to the next model regardless."""


class SplitRoute(SpecModel):
    """A share of tasks to each model."""

    split: dict[str, Probability] = Field(min_length=1)
    """Model (role or ``provider:model``) -> share of task runs; the shares sum to 1."""

    @field_validator("split")
    @classmethod
    def _sum(cls, split: dict[str, float]) -> dict[str, float]:
        return _shares_sum_to_one(split, "shares")


class CascadeRoute(SpecModel):
    """Try the cheapest model first; a validator decides whether to keep its answer or escalate."""

    cascade: list[str] = Field(min_length=2)
    """The models in the order they are tried (roles or ``provider:model``), cheapest first. Each gets
    the step's ``max_attempts`` attempts; every answer is judged by the validator, the last model's too
    (a rejected answer on the last model fails the call, as the step's retry policy says)."""
    validator: Validator = Field(default_factory=Validator)
    """The check after each answer (default: free and perfect)."""


class Router(SpecModel):
    """A classifier call that picks a route per task from the task's difficulty, with errors."""

    llm: str | None = None
    """The router's model (a role or ``provider:model``); omit it for a router that calls no model."""
    prompt: Distribution = 0
    """Tokens of the router's instructions; its input is the system prompt, the user's request and this."""
    output: Distribution = 0
    """Tokens the router writes (its decision)."""
    cost_usd: Price = 0.0
    """A flat price per routing decision in USD, added to any model call's cost."""
    routes: dict[str, str] = Field(min_length=1)
    """Route name -> the model it sends the task to (a role or ``provider:model``)."""
    confusion: dict[str, dict[str, Probability]] = Field(min_length=1)
    """Difficulty class -> P(each route): row ``hard: {weak: 0.2, strong: 0.8}`` says a hard task goes to
    the weak model one time in five. Every difficulty class needs a row; each row sums to 1."""

    @field_validator("confusion")
    @classmethod
    def _rows_sum(cls, confusion: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for name, row in confusion.items():
            _shares_sum_to_one(row, f"probabilities of row {name!r}")
        return confusion


class RouterRoute(SpecModel):
    """Route each task by a classifier's decision."""

    router: Router
    """The router's call, its routes and its confusion matrix."""


class FallbackRoute(SpecModel):
    """A chain of models tried in turn."""

    fallback: list[str] = Field(min_length=2)
    """The models in order (roles or ``provider:model``). A call moves to the next once its attempts on
    one are spent (invalid answers, errors), and at once on a provider error or rate-limit rejection."""


#: The routing strategies, key -> model: the one list the ``Route`` union, its discriminator and its
#: message are made from (the engine's half of each, in ``sim.engine.kinds.routes``, is matched by key).
ROUTES = Kinds("route", {"split": SplitRoute, "cascade": CascadeRoute, "router": RouterRoute,
                         "fallback": FallbackRoute})
ROUTE_KINDS = ROUTES.keys

Route = ROUTES.union()
"""A routing strategy, told apart by its key: one of :data:`ROUTE_KINDS`."""

AnyRoute = ROUTES.any()


def route_name(ref: str) -> str | None:
    """``route:NAME`` -> ``NAME``; anything else -> None."""
    return ref[len(ROUTE_PREFIX):] if ref.startswith(ROUTE_PREFIX) else None
