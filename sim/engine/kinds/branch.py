"""The ``branch`` step (intent routing): one arm runs, drawn by the arms' probabilities once per run of
the branch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.randomness import source_key
from sim.engine.kinds.base import StepKind
from sim.engine.rules.choice import cumulative, pick, pick_array


@dataclass(frozen=True, slots=True)
class Branch:
    kind = "branch"
    id: str
    key: int
    arm_names: tuple[str, ...]
    cumulative: tuple[float, ...]  # upper edges of the arms' probability intervals
    arms: tuple[tuple, ...]


def compile_branch(compiler, step, source: str) -> Branch:
    names = tuple(step.branch)
    arms = tuple(compiler.steps(step.branch[name].steps, source) for name in names)
    return Branch(step.id, source_key(f"{source}.branch"), names,
                  cumulative(step.branch[name].p for name in names), arms)


def run_des(runner, step: Branch, base: tuple, state):
    arm = pick(step.cumulative, runner.draws.uniform(state.offset, step.key, base))
    return (yield from runner.steps(step.arms[arm], base, state))


def run_fast(block, step: Branch, base: tuple, idx: np.ndarray) -> np.ndarray:
    arm = pick_array(step.cumulative, block.uniform(step.key, base, idx))
    done = np.zeros(len(idx), dtype=bool)
    for index, steps in enumerate(step.arms):
        position = np.flatnonzero(arm == index)
        if position.size:
            done[position] = block.steps(steps, base, idx[position])
    return done


KIND = StepKind("branch", compile_branch, run_des, run_fast, children=lambda node: node.arms)
