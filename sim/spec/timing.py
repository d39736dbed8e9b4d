"""Workflow keys for the costs that depend on *when* calls happen: traffic, latency, caching, batch,
rate limits, outages and self-hosted models.

These are passive pydantic models like those of :mod:`sim.spec.workflow`, which includes them in a workflow.
Anything that couples tasks through shared state (a prompt cache shared by all tasks, a rate limit, an
outage window, a self-hosted server's queue) needs ``traffic``, so that tasks arrive over time.
"""

from __future__ import annotations

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
    """Prompt caching as providers bill it: cached prefixes read at the cache-read price."""

    ttl_s: PositiveFloat = 300.0
    """Seconds a cached prefix lives after its last use (every hit refreshes it). Above 300 s writes are
    billed at the model's 1-hour cache-write price where the catalog has one."""
    min_prefix_tokens: NonNegativeInt = 1024
    """Shortest prefix a provider caches; shorter inputs never hit."""
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
