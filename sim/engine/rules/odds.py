"""How likely an answer is unusable, and what a cascade's validator makes of it.

A model's failure probability is one number, or, with ``fail: quality``, 1 − its quality at the task's
difficulty: a table by difficulty class, or a logistic curve of a difficulty score,
1 − 1 / (1 + e^(−(skill − score) / slope)). Whether an attempt is invalid is then ``u < p`` for a
uniform ``u`` shared by every model (so a stronger model never fails where a weaker one succeeds).

A validator errs both ways: it accepts an invalid answer with probability ``false_accept`` and rejects
a valid one with probability ``false_reject``.
"""

from __future__ import annotations

import math

import numpy as np


def fail_probability(model, difficulty) -> float:
    """P(an attempt on ``model`` (a :class:`~sim.engine.plan.CallModel`) is unusable) for a task of this
    difficulty (its class index, or its score)."""
    if model.quality_fail is not None:
        return model.quality_fail[difficulty]
    if model.quality_skill is not None:
        skill, slope = model.quality_skill
        return 1.0 - 1.0 / (1.0 + math.exp(-(skill - difficulty) / slope))
    return model.fail_probability


def fail_probability_array(model, difficulty: np.ndarray):
    """:func:`fail_probability` for many tasks (``difficulty``: class indices or scores): a scalar when
    it does not depend on the task. The logistic curve goes through :func:`math.exp` task by task, for
    odds equal to the scalar's to the bit."""
    if model.quality_fail is not None:
        return np.asarray(model.quality_fail)[np.asarray(difficulty, dtype=np.int64)]
    if model.quality_skill is not None:
        return np.array([fail_probability(model, d) for d in np.asarray(difficulty).tolist()], dtype=float)
    return model.fail_probability


def invalid(p: float, u: float) -> bool:
    """Whether an attempt with failure probability ``p`` and uniform ``u`` is unusable."""
    return bool(p) and u < p


def invalid_array(p, u: np.ndarray) -> np.ndarray:
    """:func:`invalid` for many attempts."""
    if np.ndim(p) == 0:  # one chance for all: no mask of where it is 0
        return u < p if p else np.zeros(np.shape(u), dtype=bool)
    return (np.asarray(p) != 0) & (u < p)


def accepted(is_invalid: bool, u: float, false_accept: float, false_reject: float) -> bool:
    """Whether a validator keeps an answer, given whether it is invalid and the verdict's uniform ``u``."""
    return u < false_accept if is_invalid else u >= false_reject


def accepted_array(is_invalid: np.ndarray, u: np.ndarray, false_accept: float, false_reject: float) -> np.ndarray:
    """:func:`accepted` for many answers."""
    return np.where(is_invalid, u < false_accept, u >= false_reject)
