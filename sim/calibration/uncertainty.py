"""Intervals that include what the traces leave unknown: bootstrap over the traced tasks.

A workflow fitted from ``n`` traced tasks is one draw of what those tasks could have been: a different
month of traffic would have given another fit and another forecast. The bootstrap measures that spread.
Each resample draws ``n`` traced tasks with replacement, **refits** (the conversation shapes and the
failure rates, :func:`sim.calibration.fit.refit`), **simulates** ``resample_tasks`` tasks of it, every
alternative on the same tasks (common random numbers within each resample), and the spread of its
statistics across resamples is the fit's variance plus each resample's own simulation noise. Where the
fit has a cache whose ``hit_probability`` it measured on ``calibration.cache_calls`` traced calls, each
resample also redraws that probability as a binomial share of as many calls (a parametric bootstrap: the
shapes do not record which of their calls read the cache).

**Combine.** For each statistic (mean, p50, p90, p95, cost per success, calls, tokens, success):

    var_fit   = max(variance across resamples - simulation variance of one resample, 0) * n / (n - 1)
    var_total = var_fit + simulation variance of the main run
    interval  = value * exp(+/- t * sqrt(var_total) / value)     (t: Student's, n - 1 degrees of freedom)

For the **mean**, when each simulated task's traced conversation is known (the conversation step draws
without weights, and tasks are not retried whole), the fit's variance is split in two. Which
conversations happened to be traced is computed exactly, as the variance of the mean of the ``n``
conversations' mean costs in the main run (``s^2 / n``); what the refitted failure rates and cache hit
share add is what is left of each resample's mean once the mean cost of the conversations it picked is
taken off (a control variate), less its simulation noise. The bootstrap's own noise (a few hundred
resamples estimate a variance to about +/-10%) then touches only that second, usually small, part.

The factor n / (n - 1) undoes the bootstrap's plug-in bias; the interval is on the log scale because a
mean of right-skewed costs is itself skewed to the right (for a statistic that is not positive, the
symmetric value +/- t * sqrt(var_total)). Over 3,000 samples of 100 tasks of a skewed agent (skewness
2.5), this form covered the true mean 94.0% of the time where value +/- 1.96 sd covered 93.2%.

The simulation variance of one resample is the main run's scaled by the ratio of their task counts (the
variance of a mean or a quantile falls as 1/tasks). The part with the larger variance *dominates*; since
the fit's variance falls as 1/n, halving the interval's half-width takes the total variance to a quarter,
which more traced tasks can do only while the simulation noise is below that quarter: then
``n * var_fit / (var_total / 4 - var_sim) - n`` more tasks are needed; otherwise more simulated tasks
(``--tasks``) come first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.calibration.fit import refit
from sim.engine.kinds.conversation import shapes_of_tasks
from sim.run.simulation import SimulationResult, simulate
from sim.spec.conversation import parse_shape_full
from sim.spec.workflow import ConversationStep, Workflow

Z95 = 1.959963984540054
STATISTICS = ("mean", "p50", "p90", "p95", "cost_per_success", "calls", "input_tokens", "output_tokens",
              "success")
#: Per-task columns whose mean is a statistic of its own.
MEAN_COLUMNS = ("calls", "input_tokens", "output_tokens", "success")
#: A stream of its own for choosing resamples, apart from every simulated draw (a constant, so that the
#: same seed gives the same resamples).
_RESAMPLE_STREAM = 0x_CA1_1B12A7E


@dataclass(frozen=True)
class Combined:
    """One statistic of one alternative, with the simulation's and the fit's variance."""

    value: float
    ci95: list[float]
    var_sim: float
    var_fit: float
    more_tasks_to_halve: int | None  # more traced tasks that would halve the half-width; None: they cannot

    @property
    def dominant(self) -> str:
        return "fit" if self.var_fit > self.var_sim else "simulation"

    def as_dict(self) -> dict:
        return {"value": self.value, "ci95": self.ci95, "sd_simulation": math.sqrt(self.var_sim),
                "sd_fit": math.sqrt(self.var_fit), "dominant": self.dominant,
                "more_traced_tasks_to_halve": self.more_tasks_to_halve}


def statistics_of(tasks) -> dict[str, float]:
    """The statistics whose intervals are combined, for one alternative's tasks (a TaskColumns)."""
    cost_usd, success = np.asarray(tasks.cost_usd, dtype=float), tasks.success
    successes = float(np.sum(success))
    return {
        **{name: float(np.mean(getattr(tasks, name))) for name in MEAN_COLUMNS},
        "mean": float(np.mean(cost_usd)),
        "p50": float(np.quantile(cost_usd, 0.5)),
        "p90": float(np.quantile(cost_usd, 0.9)),
        "p95": float(np.quantile(cost_usd, 0.95)),
        "cost_per_success": float(np.sum(cost_usd) / successes) if successes else math.nan,
    }


def simulation_variances(tasks) -> dict[str, float]:
    """The simulation variance of each statistic, from one run's tasks: of a mean, s^2/N; of a
    quantile, from its 95% order-statistic interval; of cost per success, by the delta method."""
    from sim.stats.intervals import quantile_ci95

    cost_usd, success = np.asarray(tasks.cost_usd, dtype=float), tasks.success
    n = len(cost_usd)
    ordered = np.sort(cost_usd)
    result = {"mean": float(np.var(cost_usd, ddof=1)) / n if n > 1 else 0.0}
    for name in MEAN_COLUMNS:
        result[name] = float(np.var(np.asarray(getattr(tasks, name), dtype=float), ddof=1)) / n if n > 1 else 0.0
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95)):
        lo, hi = quantile_ci95(ordered, q)
        result[name] = ((hi - lo) / (2 * Z95)) ** 2
    share = float(np.mean(success))
    if share > 0 and n > 1:
        ratio = float(np.sum(cost_usd)) / float(np.sum(success))
        result["cost_per_success"] = float(np.var(cost_usd - ratio * success, ddof=1)) / n / share**2
    else:
        result["cost_per_success"] = math.nan
    return result


def per_shape_means(cost_usd: np.ndarray, shape_of_task: np.ndarray, n_shapes: int) -> np.ndarray | None:
    """Each traced conversation's mean simulated cost in the main run. A conversation the run never drew
    (likely when the traced tasks are many and the run is short) gets the mean of the others: which are
    missing is chance, unrelated to their cost. None when fewer than 3 were drawn."""
    counts = np.bincount(shape_of_task, minlength=n_shapes)
    drawn = counts > 0
    if np.count_nonzero(drawn) < 3:
        return None
    means = np.bincount(shape_of_task, weights=cost_usd, minlength=n_shapes) / np.maximum(counts, 1)
    means[~drawn] = means[drawn].mean()
    return means


def mean_t_quantiles(per_shape: np.ndarray, seed: int, resamples: int = 2_000) -> tuple[float, float] | None:
    """The 2.5% and 97.5% quantiles of the bootstrap-t statistic of the log of the mean, from each traced
    conversation's mean simulated cost: how skewed the mean of ``n`` such conversations is. A mean of
    right-skewed costs misses high more often than low; these quantiles move the interval to match
    (a studentized bootstrap, whose coverage is right to second order)."""
    n_shapes = len(per_shape)
    mean = float(per_shape.mean())
    if not mean > 0:
        return None
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _RESAMPLE_STREAM, 2])))
    picked = per_shape[rng.integers(0, n_shapes, size=(resamples, n_shapes))]
    means = picked.mean(axis=1)
    sds = picked.std(axis=1, ddof=1) / math.sqrt(n_shapes)
    usable = (means > 0) & (sds > 0)
    t = (np.log(means[usable]) - math.log(mean)) / (sds[usable] / means[usable])
    low, high = np.quantile(t, [0.025, 0.975])
    return float(low), float(high)


def interval(value: float, variance: float, traced_tasks: int) -> list[float]:
    """95% interval of a statistic with this variance: Student's t with ``traced_tasks - 1`` degrees of
    freedom, on the log scale for a positive statistic (a mean of skewed costs is skewed to the right,
    and so is its interval), else symmetric."""
    from scipy.special import stdtrit

    t = float(stdtrit(max(traced_tasks - 1, 1), 0.975)) if traced_tasks > 1 else Z95
    sd = math.sqrt(variance)
    if value > 0 and math.isfinite(value):
        spread = math.exp(t * sd / value)
        return [value / spread, value * spread]
    return [value - t * sd, value + t * sd]


@dataclass
class FitUncertainty:
    """The combined intervals of every alternative, and how they were made."""

    resamples: int
    resample_tasks: int
    traced_tasks: int
    alternatives: dict[str, dict[str, Combined]]

    def as_dict(self) -> dict:
        return {"method": "bootstrap over the traced tasks: refit, simulate, combine",
                "resamples": self.resamples, "resample_tasks": self.resample_tasks,
                "traced_tasks": self.traced_tasks,
                "alternatives": {name: {key: value.as_dict() for key, value in stats.items()}
                                 for name, stats in self.alternatives.items()}}


def conversation_step(workflow: Workflow) -> ConversationStep:
    step_id = workflow.calibration.step
    return next(step for step in workflow.steps if isinstance(step, ConversationStep) and step.id == step_id)


def resample_workflows(workflow: Workflow, seed: int, resamples: int):
    """The refitted workflow of each resample, in order (a generator)."""
    for _, resampled in resamples_of(workflow, seed, resamples):
        yield resampled


def resamples_of(workflow: Workflow, seed: int, resamples: int):
    """Each resample's picked traced tasks (indices into the conversation step's shapes) and its refitted
    workflow, in order (a generator)."""
    step = conversation_step(workflow)
    shapes = [parse_shape_full(text) for text in step.conversation]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _RESAMPLE_STREAM])))
    cache_calls = workflow.calibration.cache_calls if workflow.cache is not None else None
    cache_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _RESAMPLE_STREAM, 3])))
    for _ in range(resamples):
        picked = rng.integers(0, len(shapes), size=len(shapes))
        update = refit([shapes[i] for i in picked], last_fail=step.last_fail is not None)
        for key in ("fail", "last_fail"):  # a failure rate given per model is the user's, not the fit's
            if key in update and not isinstance(getattr(step, key), float | int):
                del update[key]
        new_step = step.model_copy(update=update)
        steps = [new_step if s is step else s for s in workflow.steps]
        update_workflow: dict = {"steps": steps}
        if cache_calls:  # a parametric bootstrap of the hit share: the shapes do not record which calls hit
            hits = int(cache_rng.binomial(cache_calls, workflow.cache.hit_probability))
            update_workflow["cache"] = workflow.cache.model_copy(update={"hit_probability": hits / cache_calls})
        yield picked, workflow.model_copy(update=update_workflow)


def fit_uncertainty(workflow: Workflow, main: SimulationResult, seed: int, *, engine="auto", prices_date=None,
                    resamples: int | None = None, resample_tasks: int | None = None,
                    on_resample: Callable[[int], None] | None = None) -> FitUncertainty:
    """Combined intervals for a calibrated workflow's run ``main`` (see the module's text)."""
    calibration = workflow.calibration
    resamples = calibration.resamples if resamples is None else resamples
    resample_tasks = calibration.resample_tasks if resample_tasks is None else resample_tasks
    names = [run.name for run in main.alternatives]
    per_resample: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    picks: list[np.ndarray] = []
    seeds = np.random.SeedSequence([seed, _RESAMPLE_STREAM, 1]).generate_state(max(resamples, 1), np.uint64)
    for index, (picked, resampled) in enumerate(resamples_of(workflow, seed, resamples)):
        picks.append(picked)
        result = simulate(resampled, resample_tasks, int(seeds[index]), engine=engine, prices_date=prices_date)
        for run in result.alternatives:
            per_resample[run.name].append(statistics_of(run.tasks))
        if on_resample is not None:
            on_resample(index + 1)
    combined: dict[str, dict[str, Combined]] = {}
    n_traced = calibration.traced_tasks
    step = conversation_step(workflow)
    shape_of_task = None
    if step.weights is None and workflow.task_retry.max_attempts == 1:
        shape_of_task = shapes_of_tasks(step, seed, np.arange(len(main.alternatives[0].tasks)))
    plug_in = n_traced / (n_traced - 1) if n_traced > 1 else 1.0  # the bootstrap's plug-in is biased low
    for run in main.alternatives:
        values = statistics_of(run.tasks)
        var_main = simulation_variances(run.tasks)
        scale = len(run.tasks) / resample_tasks
        per_shape = None
        if shape_of_task is not None and values["mean"] > 0:
            per_shape = per_shape_means(np.asarray(run.tasks.cost_usd, dtype=float), shape_of_task,
                                        len(step.conversation))
        stats: dict[str, Combined] = {}
        for key in STATISTICS:
            draws = np.array([row[key] for row in per_resample[run.name]], dtype=float)
            if key == "mean" and per_shape is not None and len(draws) > 1:
                # The mean's fit variance in two parts: which conversations were traced, exactly (the
                # variance of the mean of n per-conversation costs), and what the refit rates add, from
                # the resamples less the part their picked conversations explain (a control variate).
                var_shapes = float(np.var(per_shape, ddof=1)) / len(per_shape)
                residual = draws - np.array([per_shape[picked].mean() for picked in picks])
                var_rates = max(float(np.var(residual, ddof=1)) - var_main[key] * scale, 0.0) * plug_in
                var_fit = var_shapes + var_rates
            else:
                draws = draws[np.isfinite(draws)]
                var_between = float(np.var(draws, ddof=1)) if len(draws) > 1 else 0.0
                var_fit = (max(var_between - var_main[key] * scale, 0.0) if math.isfinite(var_main[key])
                           else var_between) * plug_in
            var_sim = var_main[key] if math.isfinite(var_main[key]) else 0.0
            total = var_fit + var_sim
            target = total / 4 - var_sim
            more = math.ceil(n_traced * var_fit / target - n_traced) if var_fit > 0 and target > 0 else None
            ci95 = interval(values[key], total, n_traced)
            if key == "mean" and per_shape is not None:
                quantiles = mean_t_quantiles(per_shape, seed)
                if quantiles is not None:
                    relative_sd = math.sqrt(total) / values[key]
                    ci95 = [values[key] * math.exp(-quantiles[1] * relative_sd),
                            values[key] * math.exp(-quantiles[0] * relative_sd)]
            stats[key] = Combined(values[key], ci95, var_sim, var_fit, more)
        combined[run.name] = stats
    return FitUncertainty(resamples, resample_tasks, n_traced, combined)
