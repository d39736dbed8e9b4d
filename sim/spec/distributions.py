"""Distributions of token counts, loop counts and latencies, as a workflow file writes them.

A scalar means a fixed value; a one-key mapping names a family and its parameters::

    output: 300                                         # fixed
    output: {normal: {mean: 300, sd: 80}}               # truncated at 0
    user:   {lognormal: {median: 200, sigma: 0.4}}
    repeat: {poisson: {mean: 1.0}, min: 1}              # optional min/max clamp any family
    output: {mixture: [{weight: 0.7, lognormal: {median: 200, sigma: 0.3}},
                       {weight: 0.3, normal: {mean: 900, sd: 100}}]}    # two populations of calls

Every family is sampled the same way: by its inverse CDF (``ppf``) applied to uniforms that
:mod:`sim.core.randomness` derives from (seed, task, source, occurrence). Inverse-CDF sampling is what makes
common random numbers work: the same uniform gives the same quantile of a distribution whatever else
changed in the run. A ``mixture`` is sampled by composition from the same single uniform (see
:class:`Mixture`): the uniform picks the component and, rescaled, its quantile.

``min``/``max`` clamp the drawn value (a draw below ``min`` becomes ``min``), and
integer quantities (tokens, loop counts) are rounded half-up after clamping.

``expected_value`` is exact, not simulated: it integrates the clamped, rounded value against the
family's CDF, so tests can compare simulated means with it.

Every number is finite (``SpecModel`` refuses ``.inf`` and ``.nan``), and no draw may exceed
:data:`DRAW_CEILING` (loop counts: :data:`LOOP_CEILING`): a distribution is refused at validation when its
``min`` or ``max`` is above the ceiling, or, without a ``max``, when its :data:`HIGH_QUANTILE` quantile
(closed form, see :meth:`_Family.high_quantile`) is. A draw past the ceiling is not a cost anyone can be
billed: it is a typo or a runaway parameter, and in integer arithmetic it overflows into negative bills.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

from sim.spec.base import SpecModel

if TYPE_CHECKING:  # NumPy loads where a distribution is first sampled: validating a file needs none of it
    import numpy as np

FAMILIES = ("normal", "lognormal", "uniform", "exponential", "poisson", "empirical", "mixture")
#: What a component of a ``mixture`` may be: any family but a mixture, and ``fixed`` (a bare number is
#: ``{weight: W, fixed: 0}`` there, e.g. the share of calls that return nothing).
COMPONENT_FAMILIES = ("fixed", *FAMILIES[:-1])

#: The largest value one draw of any distribution may take: 10^9 tokens (hundreds of times the largest
#: context window of any model, so no real call comes near it, yet a sum of 10^9 such draws stays exact in
#: int64, and a heavy-tailed size such as lognormal median 3,000, sigma 1.5 keeps its 1 - 1e-12 quantile,
#: 1.2e8, below it), 10^9 seconds (over thirty years) for latencies and delays.
DRAW_CEILING = 10**9
#: The most iterations one run of a loop (``repeat``) may draw: an agent's loop runs a handful of times,
#: a million is far past any real one.
LOOP_CEILING = 10**6
#: The quantile held against the ceiling for a distribution without ``max``: its draws pass it with
#: probability 10^-12: a run of a million tasks of a hundred draws each reaches it with chance 10^-4.
HIGH_QUANTILE = 1 - 1e-12
_TAIL = 1e-12  # 1 - HIGH_QUANTILE, exactly
#: The standard normal's :data:`_TAIL` quantile, ``scipy.special.ndtri(1e-12)`` to the last bit (a test
#: holds them equal): written out so that checking a lognormal needs no SciPy.
_Z_TAIL = float.fromhex("-0x1.c234fba57a329p+2")  # -7.034483825301131

Ceiling = Field(le=DRAW_CEILING, allow_inf_nan=False)
"""The constraint on every bound or value written in a distribution: at most :data:`DRAW_CEILING`."""

# Tail mass ignored when summing an integer-valued expectation term by term: far below any tolerance.
_TAIL_PROBABILITY = 1e-13


class _Family(SpecModel):
    """Shared by every family: the optional clamp, sampling and the exact mean."""

    min: Annotated[NonNegativeFloat, Ceiling] | None = None
    """Smallest value a draw may take; smaller draws are raised to it."""
    max: Annotated[NonNegativeFloat, Ceiling] | None = None
    """Largest value a draw may take; larger draws are lowered to it (at most 10^9)."""

    @model_validator(mode="after")
    def _min_not_above_max(self) -> _Family:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        return self

    @model_validator(mode="after")
    def _draws_below_the_ceiling(self) -> _Family:
        if problem := self.ceiling_problem(DRAW_CEILING, "one draw"):
            raise ValueError(problem)
        return self

    def ceiling_problem(self, ceiling: float, what: str) -> str | None:
        """Why this distribution's draws can exceed ``ceiling`` (None if they cannot): ``what`` is what the
        ceiling bounds, for the message ("one draw", "a loop count")."""
        if self.max is not None:
            if self.max > ceiling:
                return f"max ({self.max:g}) is above {ceiling:,}, the most {what} may be"
            return None
        if self.min is not None and self.min > ceiling:
            return f"min ({self.min:g}) is above {ceiling:,}, the most {what} may be"
        if self.quantile_bound() <= ceiling:  # the common case, decided without SciPy
            return None
        top = self.high_quantile()
        if top <= ceiling:
            return None
        if isinstance(self, Fixed):
            return f"{self.fixed:g} is above {ceiling:,}, the most {what} may be"
        reach = f"{top:.3g}" if math.isfinite(top) else "beyond 1e+308"
        return (f"{self.written()} can draw {reach} (its 1 - 1e-12 quantile), above {ceiling:,}, the most "
                f"{what} may be; give smaller parameters or a max")

    def written(self) -> str:
        """The family and its parameters as a workflow file writes them: ``{exponential: {mean: 1e+30}}``."""
        name = next(name for name in FAMILIES if name in type(self).model_fields)
        params = getattr(self, name).model_dump()
        inner = ", ".join(f"{key}: {value:g}" for key, value in params.items() if isinstance(value, float))
        return f"{{{name}: {{{inner}}}}}"

    # -- what each family provides ------------------------------------------------------------------
    def high_quantile(self) -> float:
        """The family's :data:`HIGH_QUANTILE` quantile before any clamp, in closed form (inf if it overflows)."""
        raise NotImplementedError

    def quantile_bound(self) -> float:
        """A number at least :meth:`high_quantile`, computed without SciPy (loading it costs a command line
        half a second): when the bound is under the ceiling, so is the quantile. The family's quantile
        itself, where that is plain arithmetic."""
        return self.high_quantile()

    # -- what each family provides ------------------------------------------------------------------
    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _raw_mean(self) -> float:
        raise NotImplementedError

    # -- shared behaviour -----------------------------------------------------------------------------
    def rough_mean(self) -> float:
        """The family's mean before any clamp or rounding (:meth:`expected_value` is the exact mean of what
        :meth:`sample` returns). For decisions that need only the size of the number, made before SciPy
        loads: whether a run is long enough to start worker processes (:func:`sim.run.workload.rough_calls`).
        Most families take no SciPy for it; the normal does."""
        return self._raw_mean()

    def _raw_ppf_in_place(self, u: np.ndarray) -> np.ndarray | None:
        """:meth:`_raw_ppf` computed in ``u``'s own memory (the same operations in the same order, so the
        same bits), for a family whose inverse CDF is a chain of element-wise steps; None for the others."""
        return None

    def sample(self, u: np.ndarray, integer: bool, own: bool = False) -> np.ndarray:
        """Map uniforms in (0, 1) to values: inverse CDF, then clamp, then (for counts) round half up.

        ``own``: ``u`` is a temporary of the caller's, which the mapping may overwrite; a family that can
        then works in place (no new array per step: at 10^6 draws each one saves a pass of page faults)."""
        import numpy as np
        u = np.asarray(u, dtype=np.float64)
        x = self._raw_ppf_in_place(u) if own and u.flags.writeable else None
        mine = x is not None  # x is a temporary of ours, which the steps below may overwrite
        if not mine:
            x = self._raw_ppf(u)
        if self.min is not None or self.max is not None:
            x = np.clip(x, self.min, self.max, out=x if mine else None)
            mine = True
        if integer:
            if mine:
                x += 0.5
            else:
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

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(clamp(X) <= x): the CDF of :meth:`sample`'s values before rounding (0 below ``min``, 1 from
        ``max`` on)."""
        import numpy as np
        x = np.asarray(x, dtype=np.float64)
        g = self._raw_cdf(x)
        if self.min is not None:
            g = np.where(x < self.min, 0.0, g)
        if self.max is not None:
            g = np.where(x >= self.max, 1.0, g)
        return g

    def _upper_point(self, tail: float) -> float:
        """A value of X (before any clamp) that X exceeds with probability at most ``tail``: the family's
        quantile at 1 - tail, for a family whose ``_raw_ppf`` is its inverse CDF."""
        import numpy as np
        return float(self._raw_ppf(np.array([1.0 - tail]))[0])

    def _integer_mean(self) -> float:
        # The value is k when k - 0.5 <= clamp(X) < k + 0.5, so P(k) = G(k + 0.5) - G(k - 0.5) with
        # G(t) = P(clamp(X) < t): 0 up to min, P(X < t) between, 1 past max.
        import numpy as np
        top = self._upper_point(_TAIL_PROBABILITY)
        if self.max is not None:
            top = min(top, self.max)
        if self.min is not None:
            top = max(top, self.min)
        k = np.arange(0, int(np.floor(top + 0.5)) + 1, dtype=np.float64)
        p = self._clamped_cdf_left(k + 0.5) - self._clamped_cdf_left(k - 0.5)
        return float(np.dot(k, p))

    def _clamped_cdf_left(self, t: np.ndarray) -> np.ndarray:
        """P(clamp(X) < t)."""
        import numpy as np
        g = self._raw_cdf(np.nextafter(t, -np.inf))
        if self.min is not None:
            g = np.where(t <= self.min, 0.0, g)
        if self.max is not None:
            g = np.where(t > self.max, 1.0, g)
        return g

    def _clamped_continuous_mean(self) -> float:
        import numpy as np
        u = (np.arange(200_000) + 0.5) / 200_000
        return float(np.mean(self.sample(u, integer=False)))


class Fixed(_Family):
    """A fixed value; written in a workflow file as a bare number."""

    fixed: NonNegativeFloat
    """The value (a workflow file writes it as a bare number)."""

    def high_quantile(self) -> float:
        return self.fixed

    def written(self) -> str:
        return f"{self.fixed:g}"

    @model_serializer(mode="wrap")
    def _as_written(self, handler):
        """Dump as the bare number the file wrote, so a dumped workflow validates again."""
        if self.min is None and self.max is None:
            return self.fixed
        return handler(self)

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        import numpy as np
        return np.full(u.shape, self.fixed)

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        import numpy as np
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
        import numpy as np
        from scipy import stats

        lower = (0.0 - self.normal.mean) / self.normal.sd
        return stats.truncnorm(lower, np.inf, loc=self.normal.mean, scale=self.normal.sd)

    @cached_property
    def _mass_below_0(self) -> float:
        from scipy import special

        return float(special.ndtr((0.0 - self.normal.mean) / self.normal.sd))

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        from scipy import special

        below = self._mass_below_0
        if below > 0.5:  # truncation point right of the mean: scipy's tail-safe algorithm
            return self._frozen.ppf(u)
        # Inverse CDF of the normal restricted to [0, inf): Phi^-1(Phi(a) + u (1 - Phi(a))); exact to
        # ~1e-12 relative here and 10x faster than scipy's truncnorm.ppf, which works in log space.
        return self.normal.mean + self.normal.sd * special.ndtri(below + u * (1.0 - below))

    def _raw_ppf_in_place(self, u: np.ndarray) -> np.ndarray | None:
        import numpy as np
        from scipy import special

        below = self._mass_below_0
        if below > 0.5:
            return None
        u *= 1.0 - below
        np.add(below, u, out=u)
        special.ndtri(u, out=u)
        np.multiply(self.normal.sd, u, out=u)
        np.add(self.normal.mean, u, out=u)
        return u

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        return self._frozen.cdf(x)

    def _raw_mean(self) -> float:
        return float(self._frozen.mean())

    def high_quantile(self) -> float:
        # P(X > q | X >= 0) = 1e-12  <=>  Phi((mean - q) / sd) = 1e-12 * Phi(mean / sd), in log space so
        # that a mean far below 0 (a sliver of mass above 0) stays exact.
        import numpy as np
        from scipy import special

        mean, sd = self.normal.mean, self.normal.sd
        z = float(special.ndtri_exp(math.log(_TAIL) + float(special.log_ndtr(mean / sd))))
        with np.errstate(over="ignore"):
            return float(np.float64(mean) - np.float64(sd) * z)

    def quantile_bound(self) -> float:
        # Conditioned on X >= 0, a larger mean shifts every quantile up (the family has monotone likelihood
        # ratio), so for a mean below 0 the quantile is at most the one of mean 0; for a mean at or above 0,
        # Phi(mean / sd) >= 1/2 and the quantile is at most mean - sd * ndtri(0.5e-12) = mean + 7.13 sd.
        return max(self.normal.mean, 0.0) + 7.2 * self.normal.sd


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
        import numpy as np
        from scipy import special

        return self.lognormal.median * np.exp(self.lognormal.sigma * special.ndtri(u))  # = norm.ppf, bit for bit

    def _raw_ppf_in_place(self, u: np.ndarray) -> np.ndarray | None:
        import numpy as np
        from scipy import special

        special.ndtri(u, out=u)
        np.multiply(self.lognormal.sigma, u, out=u)
        np.exp(u, out=u)
        np.multiply(self.lognormal.median, u, out=u)
        return u

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        import numpy as np
        if self.lognormal.sigma == 0:
            return (x >= self.lognormal.median).astype(np.float64)
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(x, 0.0)) - np.log(self.lognormal.median)) / self.lognormal.sigma
        from scipy import special

        return special.ndtr(z)  # = scipy.stats.norm.cdf, bit for bit, without loading scipy.stats (a test holds it)

    def _raw_mean(self) -> float:
        import numpy as np
        return float(self.lognormal.median * np.exp(self.lognormal.sigma**2 / 2))

    def rough_mean(self) -> float:
        return self.lognormal.median * math.exp(self.lognormal.sigma**2 / 2)  # no NumPy needed

    def high_quantile(self) -> float:
        log_q = math.log(self.lognormal.median) - self.lognormal.sigma * _Z_TAIL
        return math.exp(log_q) if log_q < 709 else math.inf


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
        import numpy as np
        width = self.uniform.high - self.uniform.low
        if width == 0:
            return (x >= self.uniform.low).astype(np.float64)
        return np.clip((x - self.uniform.low) / width, 0.0, 1.0)

    def _raw_mean(self) -> float:
        return (self.uniform.low + self.uniform.high) / 2

    def high_quantile(self) -> float:
        return self.uniform.low + HIGH_QUANTILE * (self.uniform.high - self.uniform.low)


class MeanParams(SpecModel):
    mean: NonNegativeFloat
    """The distribution's mean."""


class Exponential(_Family):
    """Memoryless waiting times: a good default for tool latencies."""

    exponential: MeanParams
    """The mean."""

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        import numpy as np
        return -self.exponential.mean * np.log1p(-u)

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        import numpy as np
        if self.exponential.mean == 0:
            return (x >= 0).astype(np.float64)
        return np.where(x < 0, 0.0, -np.expm1(-np.maximum(x, 0.0) / self.exponential.mean))

    def _raw_mean(self) -> float:
        return self.exponential.mean

    def high_quantile(self) -> float:
        return self.exponential.mean * -math.log(_TAIL)


class Poisson(_Family):
    """Counts of independent events: loop iterations, tool calls per task."""

    poisson: MeanParams
    """The mean count."""

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        import numpy as np
        if self.poisson.mean == 0:
            return np.zeros(u.shape)
        cdf = self._cdf_table
        if cdf is None:
            from scipy import stats

            return stats.poisson.ppf(u, self.poisson.mean)
        # The smallest k with CDF(k) >= u: what poisson.ppf returns, 50x faster than its root search.
        return np.searchsorted(cdf, u, side="left").astype(np.float64)

    @cached_property
    def _cdf_table(self) -> np.ndarray | None:
        """P(X <= k) for k = 0, 1, ... until it reaches 1.0 in floating point (None if that takes long)."""
        import numpy as np
        mean = self.poisson.mean
        if mean > 10_000:
            return None
        from scipy import special

        cdf = special.pdtr(np.arange(int(mean + 40 * np.sqrt(mean) + 40)), mean)
        return cdf if cdf[-1] == 1.0 else None

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        # scipy.stats.poisson.cdf bit for bit (a test holds it): 0 below 0, pdtr(floor(x)) from 0 on, 1 at +inf,
        # nan at nan; without loading scipy.stats, which costs a run's start-up half a second
        import numpy as np
        from scipy import special

        x = np.asarray(x, dtype=np.float64)
        counted = np.isfinite(x) & (x >= 0)
        out = np.where(x >= 0, 1.0, np.where(np.isnan(x), np.nan, 0.0))
        out[counted] = np.clip(special.pdtr(np.floor(x[counted]), self.poisson.mean), 0.0, 1.0)
        return out

    def _raw_mean(self) -> float:
        return self.poisson.mean

    def high_quantile(self) -> float:
        mean = self.poisson.mean
        if mean <= 1e9:
            from scipy import stats

            return float(stats.poisson.isf(_TAIL, mean))
        # scipy's search fails far out; the normal approximation is within 0.01% there, and such means
        # are refused either way.
        return mean - _Z_TAIL * math.sqrt(mean)

    def quantile_bound(self) -> float:
        # Bernstein: P(X >= mean + t) <= exp(-t^2 / (2 (mean + t / 3))), below 1e-12 once
        # t >= 19 + sqrt(56 mean); one more for the integer step.
        return self.poisson.mean + 20.0 + 8.0 * math.sqrt(self.poisson.mean)


class EmpiricalParams(SpecModel):
    values: list[Annotated[NonNegativeFloat, Ceiling]] = Field(min_length=1)
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
        import numpy as np
        values = np.asarray(self.empirical.values, dtype=np.float64)
        weights = np.ones_like(values) if self.empirical.weights is None else np.asarray(self.empirical.weights)
        order = np.argsort(values, kind="stable")
        cumulative = np.cumsum(weights[order]) / weights.sum()
        cumulative[-1] = 1.0
        return values[order], cumulative

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        import numpy as np
        values, cumulative = self._table
        return values[np.searchsorted(cumulative, u, side="left")]

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        import numpy as np
        values, cumulative = self._table
        index = np.searchsorted(values, x, side="right")
        return np.concatenate([[0.0], cumulative])[index]

    def _raw_mean(self) -> float:
        import numpy as np
        values, cumulative = self._table
        return float(np.dot(values, np.diff(cumulative, prepend=0.0)))

    def high_quantile(self) -> float:
        return max(self.empirical.values)

    def written(self) -> str:
        return f"{{empirical: {{values: [... up to {max(self.empirical.values):g}]}}}}"


class _Weighted(SpecModel):
    """What a family gains as a component of a mixture: its weight."""

    weight: Annotated[float, Field(gt=0.0, le=1.0)]
    """This component's share of the draws; the weights of a mixture's components sum to 1."""


class FixedComponent(_Weighted, Fixed):
    """A fixed value as a mixture's component: ``{weight: 0.1, fixed: 0}``."""

    @model_serializer(mode="wrap")
    def _as_written(self, handler):
        """A component is always a mapping (its weight beside the value)."""
        return handler(self)


class NormalComponent(_Weighted, Normal):
    """A truncated normal as a mixture's component."""


class LognormalComponent(_Weighted, Lognormal):
    """A lognormal as a mixture's component."""


class UniformComponent(_Weighted, Uniform):
    """A uniform as a mixture's component."""


class ExponentialComponent(_Weighted, Exponential):
    """An exponential as a mixture's component."""


class PoissonComponent(_Weighted, Poisson):
    """A Poisson count as a mixture's component."""


class EmpiricalComponent(_Weighted, Empirical):
    """Observed values as a mixture's component."""


def _component_tag(value: Any) -> str | None:
    """Which family a mixture's component belongs to: the one key among :data:`COMPONENT_FAMILIES` it
    holds (its other keys, ``weight``, ``min`` and ``max`` or a misspelt one, are the model's to check)."""
    if isinstance(value, _Family):
        return "part:" + next(name for name in COMPONENT_FAMILIES if name in type(value).model_fields)
    if isinstance(value, dict):
        names = [key for key in value if key in COMPONENT_FAMILIES]
        if len(names) == 1:
            return "part:" + names[0]
    return None


Component = Annotated[
    Annotated[FixedComponent, Tag("part:fixed")]
    | Annotated[NormalComponent, Tag("part:normal")]
    | Annotated[LognormalComponent, Tag("part:lognormal")]
    | Annotated[UniformComponent, Tag("part:uniform")]
    | Annotated[ExponentialComponent, Tag("part:exponential")]
    | Annotated[PoissonComponent, Tag("part:poisson")]
    | Annotated[EmpiricalComponent, Tag("part:empirical")],
    Discriminator(
        _component_tag,
        custom_error_type="mixture_component",
        custom_error_message="expected {weight: W, FAMILY: {...}} with FAMILY one of " + ", ".join(COMPONENT_FAMILIES),
    ),
]
"""One component of a mixture: a family (any but a mixture) with its ``weight`` beside it."""

#: How far the components' weights may sum from 1: rounding of written decimals (0.1 + 0.2 + 0.7).
WEIGHT_SUM_TOLERANCE = 1e-9
# The rescaled uniform handed to a component stays inside the uniforms costsim draws (the smallest is
# 2^-54) and below 1, where an unbounded family's inverse CDF is infinite.
_PART_U_MIN = 2.0**-54
_PART_U_MAX = 1.0 - 2.0**-53


class Mixture(_Family):
    """Draws from one of several distributions, each with its share: two or more populations of calls
    (short answers and long reports; cache hits and misses; a tool that errs fast or answers slowly).

    **Sampling, from one uniform per draw.** With the weights' cumulative sums ``0 = W_0 < W_1 < ... <
    W_K = 1``, a uniform ``u`` in ``[W_{k-1}, W_k)`` picks component ``k`` (probability ``w_k``), and
    ``(u - W_{k-1}) / w_k``, again uniform on (0, 1) given that ``k`` was picked and independent of which,
    goes through the component's own inverse CDF (and its clamp). The draws follow the mixture exactly and
    each is a pure function of its uniform, as every family's is, so both engines and common random
    numbers work unchanged; unlike a single family's, this map is not monotone in ``u`` (it is the
    composition method, not the mixture's inverse CDF, which has no closed form).

    **Closed forms.** The CDF is ``sum_k w_k F_k(x)`` and the mean ``sum_k w_k E[X_k]`` (each component's
    clamp included); :meth:`high_quantile` solves ``sum_k w_k (1 - F_k(q)) = 1e-12`` for ``q``. A
    mixture's own ``min``/``max`` clamp its draws like any family's.
    """

    mixture: list[Component] = Field(min_length=1)
    """The components: each a family, as a distribution writes it, with its ``weight`` (its share of the
    draws) beside it, e.g. ``{weight: 0.7, lognormal: {median: 200, sigma: 0.3}}``; the weights sum to 1."""

    @field_validator("mixture")
    @classmethod
    def _weights_sum_to_one(cls, parts: list) -> list:
        total = math.fsum(part.weight for part in parts)
        if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
            terms = " + ".join(f"{part.weight:g}" for part in parts)
            scaled = ", ".join(f"{part.weight / total:.4g}" for part in parts)
            raise ValueError(f"the components' weights must sum to 1, but {terms} = {total:g}; "
                             f"in the same proportions they are {scaled}")
        return parts

    @cached_property
    def _bounds(self) -> np.ndarray:
        """``W_0 = 0, W_1, ..., W_K = 1``: the cumulative weights, the last exactly 1."""
        import numpy as np
        weights = np.array([part.weight for part in self.mixture], dtype=np.float64)
        cumulative = np.cumsum(weights) / weights.sum()
        cumulative[-1] = 1.0
        return np.concatenate([[0.0], cumulative])

    def _raw_ppf(self, u: np.ndarray) -> np.ndarray:
        import numpy as np
        bounds = self._bounds
        k = np.minimum(np.searchsorted(bounds, u, side="right") - 1, len(self.mixture) - 1)
        lower = bounds[k]
        width = bounds[k + 1] - lower
        v = np.where(width > 0, (u - lower) / np.where(width > 0, width, 1.0), 0.5)
        np.clip(v, _PART_U_MIN, _PART_U_MAX, out=v)
        x = np.empty(np.shape(u), dtype=np.float64)
        for index, part in enumerate(self.mixture):
            chosen = k == index
            if np.any(chosen):
                x[chosen] = part.sample(v[chosen], integer=False)
        return x

    def _raw_cdf(self, x: np.ndarray) -> np.ndarray:
        import numpy as np
        weights = np.diff(self._bounds)
        return sum(weight * part.cdf(x) for weight, part in zip(weights, self.mixture, strict=True))

    def _raw_mean(self) -> float:
        import numpy as np
        weights = np.diff(self._bounds)
        return math.fsum(weight * part.expected_value(integer=False)
                         for weight, part in zip(weights, self.mixture, strict=True))

    def _upper_point(self, tail: float) -> float:
        # P(X > q) = sum_k w_k P(X_k > q) <= max_k P(X_k > q): past every component's point, past the mixture's.
        return max(_clamped(part, part._upper_point(tail)) for part in self.mixture)

    def quantile_bound(self) -> float:
        return max(_clamped(part, part.quantile_bound()) for part in self.mixture)

    def high_quantile(self) -> float:
        import numpy as np
        top = self._upper_point(_TAIL)
        if not math.isfinite(top):
            return math.inf

        def excess(q: float) -> float:  # P(X > q) - 1e-12: falls from positive to at most 0 on [0, top]
            return (1.0 - float(self._raw_cdf(np.array([q]))[0])) - _TAIL

        if excess(0.0) <= 0:
            return 0.0
        if excess(top) > 0:  # rounding of 1 - F at the 1e-16 level: top is a bound either way
            return top
        from scipy.optimize import brentq

        return float(brentq(excess, 0.0, top, xtol=1e-9, rtol=1e-12))

    def written(self) -> str:
        parts = []
        for part in self.mixture:
            text = f"fixed: {part.fixed:g}" if isinstance(part, Fixed) else part.written()[1:-1]
            parts.append(f"{{weight: {part.weight:g}, {text}}}")
        return f"{{mixture: [{', '.join(parts)}]}}"


def _clamped(part: _Family, value: float) -> float:
    """``value`` through ``part``'s own clamp."""
    if part.max is not None:
        value = min(value, part.max)
    if part.min is not None:
        value = max(value, part.min)
    return value


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
    Annotated[NonNegativeFloat, Ceiling, Tag("dist:fixed")]
    | Annotated[Fixed, Tag("dist:fixed-model")]
    | Annotated[Normal, Tag("dist:normal")]
    | Annotated[Lognormal, Tag("dist:lognormal")]
    | Annotated[Uniform, Tag("dist:uniform")]
    | Annotated[Exponential, Tag("dist:exponential")]
    | Annotated[Poisson, Tag("dist:poisson")]
    | Annotated[Empirical, Tag("dist:empirical")]
    | Annotated[Mixture, Tag("dist:mixture")],
    Discriminator(
        _family_tag,
        custom_error_type="distribution",
        custom_error_message="expected a number or one of " + ", ".join(f"{{{name}: ...}}" for name in FAMILIES),
    ),
    AfterValidator(_number_to_fixed),
]
"""A number (fixed) or a one-key mapping naming a family, with optional ``min``/``max``."""

AnyDistribution = Fixed | Normal | Lognormal | Uniform | Exponential | Poisson | Empirical | Mixture

DistributionKind = Literal["fixed", "normal", "lognormal", "uniform", "exponential", "poisson", "empirical", "mixture"]
