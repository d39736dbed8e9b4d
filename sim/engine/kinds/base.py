"""What the engine must know of each kind of step or route: the engine's half of a kind (its spec half,
the pydantic model, lives in :mod:`sim.spec`), and the registry that pairs the halves by key.

A :class:`StepKind` names the spec key it runs (``llm``, ``tool``, ...), its compile function (spec step
-> plan node), its SimPy handler and its vectorised handler, the per-task record fields it fills, and the
step lists nested in its plan node. A :class:`RouteKind` names a routing strategy's key and its compile
function (the route -> the call's legs, and its per-task choice if it makes one). :func:`registry`
checks the halves against the spec's registry, so a kind the spec knows and the engine does not fails
at import, naming the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.spec.kinds import Kinds


class KindError(LookupError):
    """A kind of step or route that the spec registers and the engine cannot run (or the reverse): a bug
    in costsim, not in a workflow file."""


def _no_children(node) -> tuple:
    return ()


@dataclass(frozen=True)
class StepKind:
    """The engine's half of a step kind.

    * ``compile(compiler, spec_step, source) -> node``: the plan node (``source`` prefixes its draws'
      source keys; ``compiler`` is :class:`sim.engine.compiler.Compiler`);
    * ``des(runner, node, base, state)``: a generator for :class:`sim.engine.des.Runner` that runs the
      step for one task and returns whether it completed;
    * ``fast(block, node, base, idx) -> mask``: the same for tasks ``idx`` of a
      :class:`sim.engine.fast.Block`, returning which of them completed it;
    * ``columns``: the per-task record fields (:data:`sim.core.records.TASK_FIELDS`) the step fills;
    * ``children(node)``: the step tuples nested in the node (a loop's body, a branch's arms).

    ``base`` is the occurrence of the step's draws: ``(run, *loop iterations)``.
    """

    key: str
    compile: Callable[[Any, Any, str], Any]
    des: Callable[..., Any]
    fast: Callable[..., Any]
    columns: tuple[str, ...] = ()
    children: Callable[[Any], tuple] = _no_children


@dataclass(frozen=True)
class RouteKind:
    """The engine's half of a routing strategy: ``compile(compiler, route, step, source, name, extra,
    fallbacks) -> (legs, choices, choice)`` lays out an llm call's legs (see
    :func:`sim.engine.kinds.routes.lay_out_legs`), and with a per-task choice the legs of each option and
    the :class:`~sim.engine.plan.RouteChoice`."""

    key: str
    compile: Callable[..., tuple]


def registry(spec: Kinds, halves: tuple) -> dict[str, Any]:
    """The engine halves by key, after checking that they and the spec's registry name the same kinds."""
    by_key: dict[str, Any] = {}
    for half in halves:
        if half.key in by_key:
            raise KindError(f"{spec.prefix} kind {half.key!r} has two engine halves")
        by_key[half.key] = half
    for key in by_key:
        if key not in spec.members:
            raise KindError(f"{spec.prefix} kind {key!r} has an engine half but the spec does not register it")
    for key in spec.keys:
        if key not in by_key:
            raise KindError(f"{spec.prefix} kind {key!r} is registered in the spec but has no engine half "
                            "(a module in sim/engine/kinds/, listed in its registry)")
    return by_key


def half_of(spec: Kinds, halves: dict[str, Any], value) -> Any:
    """The engine half of a spec model instance; :class:`KindError` naming the kind if there is none."""
    try:
        key = spec.key_of(value)
    except KeyError as exc:
        raise KindError(exc.args[0]) from None
    try:
        return halves[key]
    except KeyError:
        raise KindError(f"{spec.prefix} kind {key!r} has no engine half") from None
