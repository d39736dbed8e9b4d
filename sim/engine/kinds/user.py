"""The ``user`` step: a message from the person the agent serves (a follow-up question, an answer to the
agent's clarifying question). Its tokens, drawn once per run of the step, join the conversation like a
tool's result, so every later call with ``history: full`` (or ``window``) carries them. No model is
called: it costs nothing, takes no time and cannot fail. Each one counts as a ``user_turns`` of the task.
It starts a new turn: reasoning carried through the last one (``carry_reasoning``) is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.engine.kinds.base import StepKind
from sim.engine.plan import Draw
from sim.engine.updates import add_at


@dataclass(frozen=True, slots=True)
class UserTurn:
    kind = "user"
    id: str
    tokens: Draw


def compile_user(compiler, step, source: str) -> UserTurn:
    return UserTurn(step.id, Draw.of(f"{source}.user", step.user, integer=True))


def run_des(runner, step: UserTurn, base: tuple, state):
    yield from ()  # nothing to wait for (a generator, as every SimPy handler is)
    state.transcript_tokens += runner.value(state, step.tokens, base)
    state.user_turns += 1
    state.carried = None  # a new turn: the reasoning of the last one is not sent again
    return True


def run_fast(block, step: UserTurn, base: tuple, idx: np.ndarray) -> np.ndarray:
    cur = block.at(idx)
    add_at(block.transcript, cur, block.counts(step.tokens, base, idx))
    add_at(block.user_turns, cur, 1)
    for carried in block.carried.values():  # a new turn: the reasoning of the last one is not sent again
        carried[cur] = 0
    return np.ones(len(idx), dtype=bool)


KIND = StepKind("user", compile_user, run_des, run_fast, columns=("user_turns",))
