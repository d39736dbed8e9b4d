"""Quantities that may depend on the model: a distribution, or ``{default: D, provider:model: D, ...}``.

The per-model form is the one ``fail`` has: each listed model takes its own distribution, any other model
the ``default`` (required). The engine maps one stream of uniforms (the step's source key, the same in
every alternative) through the distribution of the model that answers, so two alternatives still see
the same tasks: a model that writes twice as much writes twice as much on the same task, quantile for
quantile.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Discriminator, Tag

from sim.spec.distributions import AnyDistribution, Distribution

DEFAULT_KEY = "default"


def _needs_default(value: dict) -> dict:
    if DEFAULT_KEY not in value:
        raise ValueError("a per-model distribution needs a default: {default: D, provider:model: D}")
    return value


def _tag(value: Any) -> str:
    per_model = isinstance(value, dict) and any(key == DEFAULT_KEY or ":" in str(key) for key in value)
    return "per-model" if per_model else "one"


ModelDistribution = Annotated[
    Annotated[Distribution, Tag("one")]
    | Annotated[dict[str, Distribution], AfterValidator(_needs_default), Tag("per-model")],
    Discriminator(_tag),
]
"""A distribution, or one per model with a ``default``: ``{default: 300, anthropic:claude-sonnet-4-5: 420}``."""


def is_per_model(value: Any) -> bool:
    """Whether ``value`` (a validated field) gives a distribution per model."""
    return isinstance(value, dict)


def default_of(value: AnyDistribution | dict[str, AnyDistribution]) -> AnyDistribution:
    """The distribution for a model the field does not list."""
    return value[DEFAULT_KEY] if isinstance(value, dict) else value


def members(value: AnyDistribution | dict[str, AnyDistribution]) -> list[AnyDistribution]:
    """Every distribution the field gives (one, or each model's and the default)."""
    return list(value.values()) if isinstance(value, dict) else [value]


def model_keys(value: Any) -> list[str]:
    """The ``provider:model`` keys of a per-model field (none for a plain distribution)."""
    return [key for key in value if key != DEFAULT_KEY] if isinstance(value, dict) else []
