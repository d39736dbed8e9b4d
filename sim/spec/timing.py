"""Workflow keys for the costs that depend on *when* calls happen: traffic, latency, caching, batch,
rate limits, outages and self-hosted models.

These are passive pydantic models like those of :mod:`sim.spec.workflow`, which includes them in a workflow.
Anything that couples tasks through shared state (a prompt cache shared by all tasks, a rate limit, an
outage window, a self-hosted server's queue) needs ``traffic``, so that tasks arrive over time.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
)

from sim.spec.base import Price, Probability, SpecModel
from sim.spec.distributions import Distribution


class Backoff(SpecModel):
    """How long a retry waits: ``min(max_s, base_s * factor^(retry - 1))``, then jittered."""

    base_s: NonNegativeFloat = 1.0
    """Wait before the first retry, in seconds (before jitter)."""
    factor: float = Field(default=2.0, ge=1.0, le=100.0)
    """Each further retry waits this many times longer (at most 100: 100^99, the 100th attempt's factor,
    is still a number)."""
    max_s: NonNegativeFloat = 60.0
    """No wait is longer than this, in seconds."""
    jitter: Literal["full", "equal", "none"] = "full"
    """``full``: a uniform share of the wait (0 to all of it); ``equal``: half of it plus a uniform share
    of the other half; ``none``: exactly the wait."""


class Traffic(SpecModel):
    """Tasks arriving over time: each replication of a run simulates the whole horizon."""

    tasks_per_day: PositiveFloat
    """Mean arrivals per day: a Poisson process at this rate (shaped by ``profile``)."""
    profile: list[NonNegativeFloat] | None = Field(default=None, min_length=24, max_length=24)
    """24 hourly weights, the shape of a day (e.g. busier in office hours); flat when omitted."""
    days: PositiveFloat = 30.0
    """The horizon of one simulated run, in days: the bill covers this period."""
    concurrency: PositiveInt | None = None
    """Most tasks in flight at once; further arrivals queue (first come, first served)."""

    @field_validator("profile")
    @classmethod
    def _some_weight(cls, profile: list[float] | None) -> list[float] | None:
        if profile is not None and sum(profile) <= 0:
            raise ValueError("the profile's weights must not all be zero")
        return profile


class ModelProfile(SpecModel):
    """How one model behaves in time, and what it adds beyond the visible output."""

    ttft_s: Distribution | None = None
    """Seconds to the first token of each attempt (default: the model's row of the built-in table)."""
    tokens_per_s: Distribution | None = None
    """Output speed in tokens per second (default: the built-in table)."""
    reasoning_tokens: Distribution | None = None
    """Hidden reasoning tokens per attempt: billed as output, never kept in the conversation."""
    context_window_tokens: PositiveInt | None = None
    """Largest input a call may send (default: the catalog's context window, if it has one)."""

    @field_validator("tokens_per_s")
    @classmethod
    def _speed_can_be_positive(cls, speed):
        if speed is not None and speed.expected_value(integer=False) <= 0:
            raise ValueError("tokens_per_s must be above 0")
        return speed


class Cache(SpecModel):
    """Prompt caching as providers bill it: cached prefixes read at the cache-read price.

    With provider rules (the default) OpenAI and Gemini models cache without this block, each by its
    provider's rules (``sim/core/providers.py``); the block turns on caching for providers that need
    breakpoints (Anthropic) and may override the rules' TTL and minimum for every model."""

    ttl_s: PositiveFloat = 300.0
    """Seconds a cached prefix lives after its last use (every hit refreshes it). Above 300 s writes are
    billed at the model's 1-hour cache-write price where the catalog has one. With provider rules: when
    given, every caching model uses it and its provider must offer it (Anthropic: 300 or 3600); when
    omitted, each provider's default."""
    min_prefix_tokens: NonNegativeInt = 1024
    """Shortest prefix a provider caches; shorter inputs never hit. With provider rules: when given, it
    replaces every model's own minimum; when omitted, each model's minimum from the rules table."""
    breakpoints: Literal["all", "none"] | list[str] = "all"
    """With provider rules: which calls mark cache breakpoints on providers that cache only where asked
    (Anthropic): ``all``, ``none``, or a list of roles, ``provider`` or ``provider:model`` names."""
    hit_probability: Probability = 1.0
    """Probability that a call finds a prefix that is in the cache: providers' automatic caches are best
    effort (a request may reach a server without it), so a traced agent may read the cache on only some
    of the calls that could. ``costsim calibrate`` measures it. A miss reads nothing and writes anew."""


class Limit(SpecModel):
    """A model's rate limits, counted per clock minute."""

    rpm: PositiveInt | None = None
    """Requests per minute."""
    tpm: PositiveInt | None = None
    """Tokens (input plus output) per minute."""
    on_limit: Literal["wait", "reject"] = "wait"
    """``wait``: a throttled request waits for the next minute with room; ``reject``: it fails with a
    rate-limit error (not billed) and is retried under the retry policy."""


class Outage(SpecModel):
    """A window in which a model's calls fail with a probability (provider errors are not billed)."""

    model: str
    """The ``provider:model`` that is down."""
    start_h: NonNegativeFloat
    """Hours from the start of the horizon to the start of the outage."""
    duration_min: PositiveFloat
    """Length of the outage in minutes."""
    error_rate: Probability = 1.0
    """Probability that an attempt inside the window fails."""


class Batch(SpecModel):
    """The batch API: its prices, and results that come back after a delay."""

    delay_s: Distribution = Field(
        default_factory=lambda: {"lognormal": {"median": 1800, "sigma": 1.0}, "max": 86400}
    )
    """Seconds until a batched request completes (default: lognormal, median 30 minutes, at most the
    24 hours providers promise; an assumption, not a measurement)."""
    missing_rate: Literal["error", "full_price", "provider_discount"] = "error"
    """With provider rules, a batched model the catalog (and ``prices:``) give no batch price: ``error``
    (the default) refuses the run; ``full_price`` bills the standard price, ``provider_discount`` the
    standard price times the provider's batch discount (the rules table's), each with a note."""


class ProviderOverride(SpecModel):
    """A workflow's change to a row of the provider rules table (``sim/core/providers.py``); keys left out
    keep the table's value."""

    caching: Literal["automatic", "opt_in", "none"] | None = None
    """``automatic`` (every request may hit), ``opt_in`` (only with breakpoints) or ``none``."""
    min_prefix_tokens: NonNegativeInt | None = None
    """Shortest prefix the provider caches."""
    increment_tokens: PositiveInt | None = None
    """A hit covers the minimum plus a whole number of these tokens (OpenAI: 128)."""
    ttls_s: list[PositiveFloat] | None = Field(default=None, min_length=1)
    """The cache lifetimes the provider offers, in seconds, the default first."""
    batch_price_factor: float | None = Field(default=None, ge=0.0, le=1.0)
    """A batched token's price as a share of the standard price (0.5: half price)."""
    batch_stacks_with_cache: bool | None = None
    """Whether batched cache reads and writes get the batch discount too."""
    retired_on: dt.date | None = None
    """The day the provider stops answering the model: a run priced after it warns."""
    successor: str | None = None
    """The ``provider:model`` to suggest instead of a retired one."""

    def changes(self) -> dict:
        """The columns given, in the rules table's types."""
        out = self.model_dump(exclude_none=True)
        if "ttls_s" in out:
            out["ttls_s"] = tuple(float(ttl) for ttl in out["ttls_s"])
        return out


BatchSetting = bool | Batch

SELF_HOSTED_PROVIDER = "self"
"""The provider of a model under ``self_hosted``: a workflow refers to model ``NAME`` as ``self:NAME``."""


def self_hosted_ref(name: str) -> str:
    """``NAME`` of ``self_hosted`` -> the reference ``self:NAME``."""
    return f"{SELF_HOSTED_PROVIDER}:{name}"


def self_hosted_name(ref: str) -> str | None:
    """``self:NAME`` -> ``NAME``; any other reference -> None."""
    prefix = self_hosted_ref("")
    return ref[len(prefix):] if ref.startswith(prefix) else None


def is_self_hosted(ref: str) -> bool:
    """Whether ``ref`` names a model served on the workflow's own GPUs (``self:NAME``)."""
    return self_hosted_name(ref) is not None


class SelfHosted(SpecModel):
    """A model served on rented GPUs: priced by GPU time over the horizon, not by tokens."""

    gpu_hour_usd: Price
    """Rental price of one GPU for one hour."""
    gpus: PositiveInt = 1
    """GPUs the deployment rents, for the whole horizon (idle or not)."""
    prefill_tokens_per_s: PositiveFloat
    """Input tokens a request processes per second."""
    decode_tokens_per_s: PositiveFloat
    """Output tokens a request generates per second."""
    max_concurrency: PositiveInt = 1
    """Requests the deployment serves at once; more wait in a queue."""
    context_window_tokens: PositiveInt | None = None
    """Largest input a call may send."""
