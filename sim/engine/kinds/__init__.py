"""The engine's half of every kind of step and route, one module per kind, paired with the spec's half
(the pydantic models registered in :data:`sim.spec.workflow.STEPS` and :data:`sim.spec.routing.ROUTES`)
by key.

The compiler and both engines dispatch through :data:`STEPS`: a step's plan node carries its kind's key
(``node.kind``), and ``STEPS[node.kind].des`` / ``.fast`` run it. Adding a kind is a module here (its
plan node, compile function, SimPy and vectorised handlers, the record fields it fills), one line in the
tuple below, and its pydantic model in the spec's registry; a kind the spec registers without an engine
half stops the import of this package with a :class:`~sim.engine.kinds.base.KindError` naming it.
"""

from __future__ import annotations

from sim.engine.kinds import branch, conversation, llm, repeat, tool, user
from sim.engine.kinds.base import KindError, StepKind, half_of, registry
from sim.engine.kinds.routes import KINDS as ROUTES
from sim.spec.workflow import STEPS as SPEC_STEPS

#: The engine halves of the step kinds, by key (checked against :data:`sim.spec.workflow.STEPS`).
STEPS: dict[str, StepKind] = registry(SPEC_STEPS, (llm.KIND, tool.KIND, repeat.KIND, branch.KIND, user.KIND,
                                                   conversation.KIND))


def step_kind(step) -> StepKind:
    """The engine half of a spec step (an instance of a model in :data:`sim.spec.workflow.STEPS`)."""
    return half_of(SPEC_STEPS, STEPS, step)


def walk(nodes: tuple):
    """Every plan node in ``nodes``, nested ones included, in order."""
    for node in nodes:
        yield node
        for children in STEPS[node.kind].children(node):
            yield from walk(children)


__all__ = ["ROUTES", "STEPS", "KindError", "StepKind", "step_kind", "walk"]
