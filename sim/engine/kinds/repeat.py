"""The ``repeat`` step (a loop): its inner steps run a drawn number of times, drawn once per run of the
loop; each iteration's draws have the iteration in their occurrence. A failed iteration ends the loop
and the run of the task. A count given per model is the one of the model of the loop's first llm step
(the agent that decides when to stop) in the alternative; a route there takes the ``default``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.engine.kinds.base import StepKind
from sim.engine.plan import Draw
from sim.spec.permodel import is_per_model
from sim.spec.workflow import LlmStep, iter_steps


@dataclass(frozen=True, slots=True)
class Loop:
    kind = "repeat"
    id: str
    count: Draw
    steps: tuple


def compile_loop(compiler, step, source: str) -> Loop:
    count = step.repeat
    if is_per_model(count):
        agent = next((inner for inner, _, _ in iter_steps(step.steps) if isinstance(inner, LlmStep)), None)
        count = compiler.per_model(count, None if agent is None else compiler.role_ref(agent.llm))
    return Loop(step.id, Draw.of(f"{source}.repeat", count, integer=True), compiler.steps(step.steps, source))


def run_des(runner, step: Loop, base: tuple, state):
    ok = True
    for iteration in range(runner.value(state, step.count, base)):
        ok = yield from runner.steps(step.steps, (*base, iteration), state)
        if not ok:
            break
    return ok


def run_fast(block, step: Loop, base: tuple, idx: np.ndarray) -> np.ndarray:
    count = block.counts(step.count, base, idx)
    done = np.ones(len(idx), dtype=bool)  # a task completes the loop unless one of its iterations fails
    position = np.flatnonzero(count > 0)
    left = count[position]  # each iteration's tasks' counts, kept in step with position (no look-ups)
    iteration = 0
    while position.size:
        ok = block.steps(step.steps, (*base, iteration), idx[position])
        iteration += 1
        going = left > iteration  # the others have just run their last iteration (left == iteration)
        if not ok.all():  # (rare: a failed iteration ends the loop and the run)
            done[position[~ok]] = False
            going &= ok
        going = np.flatnonzero(going)  # positions, once: a scattered mask indexes slower than they do
        position, left = position[going], left[going]
    return done


KIND = StepKind("repeat", compile_loop, run_des, run_fast, children=lambda node: (node.steps,))
