"""Workflow keys for the quality side of a model choice: how hard each task is, and how likely each
model is to answer it well.

A cheap model is only cheaper if it does not fail more often. ``difficulty`` gives every task a class
(or a score), drawn once per task and shared by every alternative, so a hard task is hard for every
strategy; ``quality`` gives each model's chance of a valid answer at each difficulty; a step with
``fail: quality`` then fails with probability 1 − quality(model, task's difficulty).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Discriminator, Field, PositiveFloat, Tag, model_validator

from sim.spec.base import Probability, SpecModel
from sim.spec.distributions import Distribution

#: P(valid answer) for a model the file's quality table does not list, when it has no ``default`` row:
#: an assumption (a capable mid-size model), stated here and in the README, not a measurement.
DEFAULT_QUALITY = {"easy": 0.98, "medium": 0.90, "hard": 0.70}


class Difficulty(SpecModel):
    """How hard tasks are: a class with probabilities, or a score with a distribution."""

    classes: dict[str, Probability] | None = None
    """Class name -> share of tasks, e.g. ``{easy: 0.6, medium: 0.3, hard: 0.1}``; the shares sum to 1."""
    score: Distribution | None = None
    """A difficulty score per task (e.g. ``{uniform: {low: 0, high: 1}}``); quality rows then give each
    model's ``skill`` and ``slope``: P(valid) = 1 / (1 + exp(-(skill - score) / slope))."""

    @model_validator(mode="after")
    def _one_kind(self) -> Difficulty:
        if (self.classes is None) == (self.score is None):
            raise ValueError("give exactly one of classes or score")
        if self.classes is not None:
            total = sum(self.classes.values())
            if not self.classes or abs(total - 1.0) > 1e-9:
                terms = " + ".join(f"{name} {p:g}" for name, p in self.classes.items())
                raise ValueError(f"the classes' shares must sum to 1, but {terms} = {total:g}")
        return self


class SkillRow(SpecModel):
    """A model's quality against a difficulty score."""

    skill: float
    """The score at which the model is right half the time."""
    slope: PositiveFloat = 0.1
    """How gradually its chance falls as the score passes its skill."""


def _row_kind(value) -> str:
    skill = isinstance(value, SkillRow) or (isinstance(value, dict) and "skill" in value)
    return "row:skill" if skill else "row:classes"


QualityRow = Annotated[
    Annotated[dict[str, Probability], Tag("row:classes")] | Annotated[SkillRow, Tag("row:skill")],
    Discriminator(_row_kind),
]
"""P(valid) per difficulty class (``{easy: 0.98, hard: 0.7}``), or ``{skill, slope}`` against a score."""



class TaskBudget(SpecModel):
    """Caps that stop a runaway task: it is counted as failed, and never re-run."""

    max_cost_usd: PositiveFloat | None = None
    """Stop before an attempt once the task has cost this much (it may end up to one attempt over)."""
    max_calls: int | None = Field(default=None, ge=1)
    """Stop before a model call once the task has made this many."""
    max_wall_s: PositiveFloat | None = None
    """Stop before an attempt once this many seconds have passed since the task arrived."""
