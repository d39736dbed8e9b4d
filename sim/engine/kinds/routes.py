"""The engine's half of each routing strategy: how a route lays out an llm call's legs.

A call's legs (:class:`~sim.engine.plan.Leg`) form a small state machine (:func:`lay_out_legs`): a model
with its attempts, then the next leg on failure, or at once on a provider error. Without a route a call
has one rung, its role's model, plus its escalation ladder; a ``cascade`` makes every rung judged by its
validator; a ``fallback`` chain moves on at once on provider errors; a ``split`` or ``router`` makes one
set of legs per option and a :class:`~sim.engine.plan.RouteChoice` that picks one per run of a task.
"""

from __future__ import annotations

from sim.core.randomness import source_key
from sim.engine.kinds.base import RouteKind, half_of, registry
from sim.engine.plan import CallModel, Draw, Leg, RouteChoice, RouterCall, ValidatorPlan
from sim.engine.rules.choice import cumulative
from sim.spec.routing import ROUTES


def lay_out_legs(rungs: list[tuple[CallModel, ValidatorPlan | None, bool]], fallbacks: list[CallModel],
                 ) -> tuple[Leg, ...]:
    """Lay out a call's legs: each rung ``(model, validator, switch_at_once)``, followed by the retry
    policy's fallback models (those that are not the rung's own model).

    On a provider error a leg switches at once to its next fallback, or, when its rung switches at once
    (a fallback route), to the next rung; any other failure of a leg (its attempts spent) moves to the
    next rung. Without fallbacks and at-once rungs the legs are the rungs, in order: leg i is the i-th
    rung, as the escalation ladder always was.
    """
    chains = [[(model, validator)] + [(f, validator) for f in fallbacks if f.ref != model.ref]
              for model, validator, _ in rungs]
    starts, position = [], 0
    for chain in chains:
        starts.append(position)
        position += len(chain)
    legs = []
    for j, (chain, (_, _, at_once)) in enumerate(zip(chains, rungs)):
        next_rung = starts[j + 1] if j + 1 < len(starts) else None
        for p, (model, validator) in enumerate(chain):
            switch = starts[j] + p + 1 if p + 1 < len(chain) else (next_rung if at_once else None)
            legs.append(Leg(model, validator, switch, next_rung))
    return tuple(legs)


def _cascade(compiler, route, step, source: str, name: str, extra: list, fallbacks: list) -> tuple:
    spec = route.validator
    model = None if spec.llm is None else compiler.call_model(spec.llm, None, f"{source}.validator")
    validator = ValidatorPlan(model, Draw.of(f"{source}.validator.prompt", spec.prompt, integer=True),
                              Draw.of(f"{source}.validator.output", spec.output, integer=True), spec.cost_usd,
                              spec.false_accept, spec.false_reject, source_key(f"{source}.validator"))
    rungs = [(compiler.call_model(member, step, source), validator, False) for member in route.cascade]
    return lay_out_legs(rungs + [(model, validator, False) for model, _, _ in extra], fallbacks), (), None


def _fallback(compiler, route, step, source: str, name: str, extra: list, fallbacks: list) -> tuple:
    rungs = [(compiler.call_model(member, step, source), None, True) for member in route.fallback]
    return lay_out_legs(rungs + extra, fallbacks), (), None


def _choice(compiler, step, source: str, name: str, extra: list, fallbacks: list, labels: tuple, options: tuple,
            rows: tuple, router: RouterCall | None) -> tuple:
    """The legs of each option of a per-task choice, and the choice."""
    choices = tuple(lay_out_legs([(compiler.call_model(member, step, source), None, False)] + extra, fallbacks)
                    for member in options)
    choice = RouteChoice(step.llm, name, source_key(f"roles.{step.llm}.route"), labels, rows, router)
    return choices[0], choices, choice


def _split(compiler, route, step, source: str, name: str, extra: list, fallbacks: list) -> tuple:
    labels = tuple(route.split)
    return _choice(compiler, step, source, name, extra, fallbacks, labels, labels,
                   (cumulative(route.split.values()),), None)


def _router(compiler, route, step, source: str, name: str, extra: list, fallbacks: list) -> tuple:
    router = route.router
    labels = tuple(router.routes)
    classes = tuple(compiler.workflow.difficulty.classes)
    rows = tuple(cumulative(router.confusion[c].get(label, 0.0) for label in labels) for c in classes)
    base = f"roles.{step.llm}.router"
    model = None if router.llm is None else compiler.call_model(router.llm, None, base)
    call = RouterCall(model, Draw.of(f"{base}.prompt", router.prompt, integer=True),
                      Draw.of(f"{base}.output", router.output, integer=True), router.cost_usd)
    return _choice(compiler, step, source, name, extra, fallbacks, labels,
                   tuple(router.routes[label] for label in labels), rows, call)


#: The engine halves of the routing strategies, by key (checked against :data:`sim.spec.routing.ROUTES`).
KINDS = registry(ROUTES, (RouteKind("split", _split), RouteKind("cascade", _cascade), RouteKind("router", _router),
                          RouteKind("fallback", _fallback)))


def route_kind(route) -> RouteKind:
    """The engine half of a route (a spec model of :data:`sim.spec.routing.ROUTES`)."""
    return half_of(ROUTES, KINDS, route)
