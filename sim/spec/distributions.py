"""Distributions of token counts, loop counts and latencies, as a workflow file writes them.

A scalar means a fixed value; a one-key mapping names a family and its parameters::

    output: 300                                         # fixed
    output: {normal: {mean: 300, sd: 80}}               # truncated at 0
    user:   {lognormal: {median: 200, sigma: 0.4}}
    repeat: {poisson: {mean: 1.0}, min: 1}              # optional min/max clamp any family

Every family is sampled the same way: by its inverse CDF (``ppf``) applied to uniforms that
:mod:`sim.core.randomness` derives from (seed, task, source, occurrence). Inverse-CDF sampling is what makes
common random numbers work: the same uniform gives the same quantile of a distribution whatever else
changed in the run. ``min``/``max`` clamp the drawn value (a draw below ``min`` becomes ``min``), and
integer quantities (tokens, loop counts) are rounded half-up after clamping.

``expected_value`` is exact, not simulated: it integrates the clamped, rounded value against the
family's CDF, so tests can compare simulated means with it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    Tag,
    model_serializer,
    model_validator,
)
from scipy import special, stats

from sim.spec.base import SpecModel

FAMILIES = ("normal", "lognormal", "uniform", "exponential", "poisson", "empirical")

# Tail mass ignored when summing an integer-valued expectation term by term: far below any tolerance.
_TAIL_PROBABILITY = 1e-13


class _Family(SpecModel):
    """Shared by every family: the optional clamp, sampling and the exact mean."""

    min: NonNegativeFloat | None = None
    """Smallest value a draw may take; smaller draws are raised to it."""
    max: NonNegativeFloat | None = None
    """Largest value a draw may take; larger draws are lowered to it."""

    @model_validator(mode="after")
    def _min_not_above_max(self) -> _Family:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        return self

    # -- what each family provides ------------------------------------------------------------------
    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _raw_mean(self) -> float:
        raise NotImplementedError

    # -- shared behaviour -----------------------------------------------------------------------------
    def sample(self, u: np.ndarray, integer: bool) -> np.ndarray:
        """Map uniforms in (0, 1) to values: inverse CDF, then clamp, then (for counts) round half up."""
        x = self._raw_ppf(np.asarray(u, dtype=np.float64))
        if self.min is not None or self.max is not None:
            x = np.clip(x, self.min, self.max)
        if integer:
            x = x + 0.5  # a new array: the family's ppf may have returned a cached one
            np.floor(x, out=x)
            return x.astype(np.int64)
        return x

    def expected_value(self, integer: bool) -> float:
        """The exact mean of :meth:`sample`'s output (clamp and rounding included)."""
        if not integer and self.min is None and self.max is None:
            return self._raw_mean()
        if integer:
            return self._integer_mean()
        return self._clamped_continuous_mean()

    def _integer_mean(self) -> float:
        # The value is k when k - 0.5 <= clamp(X) < k + 0.5, so P(k) = G(k + 0.5) - G(k - 0.5) with
        # G(t) = P(clamp(X) < t): 0 up to min, P(X < t) between, 1 past max.
        top = float(self._raw_ppf(np.array([1.0 - _TAIL_PROBABILITY]))[0])
        if self.max is not None:
            top = min(top, self.max)
        if self.min is not None:
            top = max(top, self.min)
        k = np.arange(0, int(np.floor(top + 0.5)) + 1, dtype=np.float64)
        p = self._clamped_cdf_left(k + 0.5) - self._clamped_cdf_left(k - 0.5)
        return float(np.dot(k, p))

    def _clamped_cdf_left(self, t: np.ndarray) -> np.ndarray:
        """P(clamp(X) < t)."""
        g = self._raw_cdf(np.nextafter(t, -np.inf))
        if self.min is not None:
            g = np.where(t <= self.min, 0.0, g)
        if self.max is not None:
            g = np.where(t > self.max, 1.0, g)
        return g

    def _clamped_continuous_mean(self) -> float:
        u = (np.arange(200_000) + 0.5) / 200_000
        return float(np.mean(self.sample(u, integer=False)))


class Fixed(_Family):
    """A fixed value; written in a workflow file as a bare number."""

    fixed: NonNegativeFloat
    """The value (a workflow file writes it as a bare number)."""

    @model_serializer(mode="wrap")
    def _as_written(self, handler):
        """Dump as the bare number the file wrote, so a dumped workflow validates again."""
        if self.min is None and self.max is None:
            return self.fixed
        return handler(self)

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        return np.full(u.shape, self.fixed)

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        return (x >= self.fixed).astype(np.float64)

    def _raw_mean(self) -> float:
        return self.fixed


class NormalParams(SpecModel):
    mean: float
    """Mean of the untruncated normal."""
    sd: PositiveFloat
    """Standard deviation of the untruncated normal."""


class Normal(_Family):
    """A normal distribution truncated at 0 (conditioned on being non-negative, not clipped)."""

    normal: NormalParams
    """Mean and standard deviation before truncation at 0."""

    @cached_property
    def _frozen(self) -> Any:
        lower = (0.0 - self.normal.mean) / self.normal.sd
        return stats.truncnorm(lower, np.inf, loc=self.normal.mean, scale=self.normal.sd)

    @cached_property
    def _mass_below_0(self) -> float:
        return float(special.ndtr((0.0 - self.normal.mean) / self.normal.sd))

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        below = self._mass_below_0
        if below > 0.5:  # truncation point right of the mean: scipy's tail-safe algorithm
            return self._frozen.ppf(u)
        # Inverse CDF of the normal restricted to [0, inf): Phi^-1(Phi(a) + u (1 - Phi(a))); exact to
        # ~1e-12 relative here and 10x faster than scipy's truncnorm.ppf, which works in log space.
        return self.normal.mean + self.normal.sd * special.ndtri(below + u * (1.0 - below))

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        return self._frozen.cdf(x)

    def _raw_mean(self) -> float:
        return float(self._frozen.mean())


class LognormalParams(SpecModel):
    median: PositiveFloat
    """Median (e^mu): half the draws fall below it."""
    sigma: NonNegativeFloat
    """Standard deviation of the log; 0.4 puts 90% of draws within about x0.5 to x1.9 of the median."""


class Lognormal(_Family):
    """A lognormal distribution given by its median and the spread of its log."""

    lognormal: LognormalParams
    """Median and the spread of the log."""

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        return self.lognormal.median * np.exp(self.lognormal.sigma * special.ndtri(u))  # = norm.ppf, bit for bit

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        if self.lognormal.sigma == 0:
            return (x >= self.lognormal.median).astype(np.float64)
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(x, 0.0)) - np.log(self.lognormal.median)) / self.lognormal.sigma
        return stats.norm.cdf(z)

    def _raw_mean(self) -> float:
        return float(self.lognormal.median * np.exp(self.lognormal.sigma**2 / 2))


class UniformParams(SpecModel):
    low: NonNegativeFloat
    """Smallest value."""
    high: NonNegativeFloat
    """Largest value."""

    @model_validator(mode="after")
    def _ordered(self) -> UniformParams:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is greater than high ({self.high:g})")
        return self


class Uniform(_Family):
    """Every value between low and high equally likely."""

    uniform: UniformParams
    """The range."""

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        return self.uniform.low + u * (self.uniform.high - self.uniform.low)

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        width = self.uniform.high - self.uniform.low
        if width == 0:
            return (x >= self.uniform.low).astype(np.float64)
        return np.clip((x - self.uniform.low) / width, 0.0, 1.0)

    def _raw_mean(self) -> float:
        return (self.uniform.low + self.uniform.high) / 2


class MeanParams(SpecModel):
    mean: NonNegativeFloat
    """The distribution's mean."""


class Exponential(_Family):
    """Memoryless waiting times: a good default for tool latencies."""

    exponential: MeanParams
    """The mean."""

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        return -self.exponential.mean * np.log1p(-u)

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        if self.exponential.mean == 0:
            return (x >= 0).astype(np.float64)
        return np.where(x < 0, 0.0, -np.expm1(-np.maximum(x, 0.0) / self.exponential.mean))

    def _raw_mean(self) -> float:
        return self.exponential.mean


class Poisson(_Family):
    """Counts of independent events: loop iterations, tool calls per task."""

    poisson: MeanParams
    """The mean count."""

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        if self.poisson.mean == 0:
            return np.zeros(u.shape)
        cdf = self._cdf_table
        if cdf is None:
            return stats.poisson.ppf(u, self.poisson.mean)
        # The smallest k with CDF(k) >= u: what poisson.ppf returns, 50x faster than its root search.
        return np.searchsorted(cdf, u, side="left").astype(np.float64)

    @cached_property
    def _cdf_table(self) -> np.ndarray | None:
        """P(X <= k) for k = 0, 1, ... until it reaches 1.0 in floating point (None if that takes long)."""
        mean = self.poisson.mean
        if mean > 10_000:
            return None
        cdf = special.pdtr(np.arange(int(mean + 40 * np.sqrt(mean) + 40)), mean)
        return cdf if cdf[-1] == 1.0 else None

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        return stats.poisson.cdf(x, self.poisson.mean)

    def _raw_mean(self) -> float:
        return self.poisson.mean


class EmpiricalParams(SpecModel):
    values: list[NonNegativeFloat] = Field(min_length=1)
    """Observed values, e.g. token counts from production logs."""
    weights: list[NonNegativeFloat] | None = None
    """Relative weight of each value (same length as values); equal weights when omitted."""

    @model_validator(mode="after")
    def _weights_match(self) -> EmpiricalParams:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(f"weights has {len(self.weights)} entries but values has {len(self.values)}")
            if sum(self.weights) <= 0:
                raise ValueError("weights must not all be zero")
        return self


class Empirical(_Family):
    """Resample observed values with the given weights."""

    empirical: EmpiricalParams
    """The values and their weights."""

    @cached_property
    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        values = np.asarray(self.empirical.values, dtype=np.float64)
        weights = np.ones_like(values) if self.empirical.weights is None else np.asarray(self.empirical.weights)
        order = np.argsort(values, kind="stable")
        cumulative = np.cumsum(weights[order]) / weights.sum()
        cumulative[-1] = 1.0
        return values[order], cumulative

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        values, cumulative = self._table
        return values[np.searchsorted(cumulative, u, side="left")]

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        values, cumulative = self._table
        index = np.searchsorted(values, x, side="right")
        return np.concatenate([[0.0], cumulative])[index]

    def _raw_mean(self) -> float:
        values, cumulative = self._table
        return float(np.dot(values, np.diff(cumulative, prepend=0.0)))


def _family_tag(value: Any) -> str | None:
    """Which family a raw value (or an already-built distribution) belongs to; None if none fits."""
    if isinstance(value, Fixed):
        return "dist:fixed-model"  # a number already turned into Fixed (serialising, re-validating)
    if isinstance(value, _Family):
        return "dist:" + next(name for name in FAMILIES if name in type(value).model_fields)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return "dist:fixed"
    if isinstance(value, dict):
        names = [key for key in value if key not in ("min", "max")]
        if len(names) == 1 and names[0] in FAMILIES:
            return "dist:" + names[0]
        if names == ["fixed"]:
            return "dist:fixed-model"
    return None


def _number_to_fixed(value: Any) -> Any:
    return Fixed(fixed=value) if isinstance(value, (int, float)) else value


Distribution = Annotated[
    Annotated[NonNegativeFloat, Tag("dist:fixed")]
    | Annotated[Fixed, Tag("dist:fixed-model")]
    | Annotated[Normal, Tag("dist:normal")]
    | Annotated[Lognormal, Tag("dist:lognormal")]
    | Annotated[Uniform, Tag("dist:uniform")]
    | Annotated[Exponential, Tag("dist:exponential")]
    | Annotated[Poisson, Tag("dist:poisson")]
    | Annotated[Empirical, Tag("dist:empirical")],
    Discriminator(
        _family_tag,
        custom_error_type="distribution",
        custom_error_message="expected a number or one of " + ", ".join(f"{{{name}: ...}}" for name in FAMILIES),
    ),
    AfterValidator(_number_to_fixed),
]
"""A number (fixed) or a one-key mapping naming a family, with optional ``min``/``max``."""

AnyDistribution = Fixed | Normal | Lognormal | Uniform | Exponential | Poisson | Empirical

DistributionKind = Literal["fixed", "normal", "lognormal", "uniform", "exponential", "poisson", "empirical"]
