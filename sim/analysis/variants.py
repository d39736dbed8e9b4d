"""Workflow variants: a number of the workflow, named by a dotted path, set to another value.

``costsim stress`` and ``costsim sensitivity`` both change numbers of a workflow and run it again. They
work on the workflow's data (``Workflow.model_dump()``, every key with its default filled in), set the
value, and read the result back through the loader (:func:`sim.spec.loader.parse_workflow`), so a value the
format rejects (``fail: 1.5``) gets the loader's own message.

Path syntax (:func:`resolve`): keys separated by dots, as in the file.

* ``retry.max_attempts``, ``traffic.tasks_per_day``, ``context.user.lognormal.median``;
* a key that itself holds dots or colons is matched whole: ``prices.openai:gpt-4.1.input``,
  ``steps.answer.fail.openai:gpt-4.1``;
* under ``steps``, a step is named by its id wherever it is nested (in a loop, in a branch arm):
  ``steps.search.fail`` is the ``fail`` of the step whose id is ``search``;
* a list item by its index: ``outages.0.error_rate``, ``steps.0.output``.

A path must end at a number (or at an optional number not set in the file, such as
``traffic.concurrency``). A distribution is not a number: name one of its parameters
(``steps.plan.output.normal.mean``); a fixed value (``output: 300``) is one. A wrong segment gets an
error that names it and suggests the close names that exist there.

:func:`label` turns a location back into the shortest path (``steps.search.fail``), so every variant
is named the same way the user would name it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.core.errors import CostsimError, Parameter, ParameterError, WorkflowError
from sim.core.suggest import suggest
from sim.run.simulation import SimulationResult, simulate_many
from sim.spec.loader import parse_workflow
from sim.spec.workflow import BASELINE, Workflow

#: Keys that say how often something fails: the no-failure variant sets each to 0, whatever its form (a
#: probability, a per-model mapping, ``quality``); a validator's errors count as failures too.
FAILURE_KEYS = ("fail", "false_accept", "false_reject")

_VARIANT = "<variant>"
Location = tuple  # keys and list indices into the workflow's data


def clean(value: float) -> float:
    """12 significant digits: 0.8 * 0.8 is 0.64, not 0.6400000000000001 (arithmetic noise, never a value)."""
    return float(f"{value:.12g}")


class RunCount:
    """For a plan of several runs (``runs``, each of ``tasks`` tasks or ``replications`` horizons): the
    unit and the total work, for a progress bar."""

    runs: int
    tasks: int
    replications: int | None

    @property
    def unit(self) -> str:
        return "tasks" if self.replications is None else "replications"

    @property
    def work(self) -> int:
        """Total work in :attr:`unit`."""
        return self.runs * (self.tasks if self.replications is None else self.replications)


class VariantRunner:
    """Runs variants with one seed (so every variant sees the same tasks), reporting progress across all
    of them, and keeps the runs' metadata. ``executor`` (:mod:`sim.run.executor`) runs the chunks: with
    :meth:`many`, the chunks of every variant at once, so a grid of small runs fills every worker.
    Sweeps read per-task costs, so these runs always keep their per-task columns."""

    def __init__(self, tasks: int, seed: int, replications: int | None, prices_date: dt.date,
                 on_progress: Callable[[int], None] | None = None, executor=None, engine="auto") -> None:
        self.tasks, self.seed, self.replications, self.prices_date = tasks, seed, replications, prices_date
        self.engine = engine  # as simulate() takes it: a name (auto, des, fast) or an engine
        self.on_progress = on_progress
        self.executor = executor
        self.runs_done = 0
        self.metadata: dict = {}

    def _per_run(self) -> int:
        return self.tasks if self.replications is None else self.replications

    def __call__(self, variant: Workflow) -> SimulationResult:
        return self.many([variant])[0]

    def many(self, variants: list[Workflow]) -> list[SimulationResult]:
        """Run every variant; the results in the same order, each as :func:`simulate` gives it."""
        offset = self.runs_done * self._per_run()
        on_progress = self.on_progress
        results = simulate_many(variants, self.tasks, self.seed, replications=self.replications,
                                prices_date=self.prices_date, executor=self.executor, exact_tasks_limit=None,
                                engine=self.engine,
                                on_block=None if on_progress is None else lambda done: on_progress(offset + done))
        self.runs_done += len(variants)
        for result in results:
            self.metadata.update(result.metadata)
        return results


@dataclass(frozen=True)
class Number:
    """A number of the workflow: the path that named it, where it is, its value in the file (``None``
    for an optional number the file does not set) and whether it takes whole numbers."""

    path: str
    location: Location
    value: float | int | None
    integer: bool


def data_of(workflow: Workflow) -> dict:
    """The workflow as plain data (JSON types), every key present."""
    return workflow.model_dump(mode="json")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- paths --------------------------------------------------------------------------------------------


def step_locations(data: dict) -> dict[str, Location]:
    """Step id -> location of the step, for every step, nested ones included (any list under a
    ``steps`` key holds steps)."""
    found: dict[str, Location] = {}

    def walk(node: Any, location: Location, key: Any) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                if key == "steps" and isinstance(item, dict) and isinstance(item.get("id"), str):
                    found.setdefault(item["id"], (*location, index))
                walk(item, (*location, index), None)
        elif isinstance(node, dict):
            for child_key, child in node.items():
                walk(child, (*location, child_key), child_key)

    walk(data.get("steps"), ("steps",), "steps")
    return found


def _node(data: Any, location: Location) -> Any:
    for part in location:
        data = data[part]
    return data


def label(data: dict, location: Location) -> str:
    """The shortest path naming ``location``: a step by its id, keys by name, list items by index."""
    parts: list[str] = []
    node: Any = data
    parent_key: Any = None
    for part in location:
        child = node[part]
        if parent_key == "steps" and isinstance(part, int) and isinstance(child, dict) and "id" in child:
            parts = ["steps", str(child["id"])]
        else:
            parts.append(str(part))
        parent_key = part if isinstance(node, dict) else None
        node = child
    return ".".join(parts)


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def numeric_leaves(node: Any, location: Location = ()) -> list[Location]:
    """Locations of every number under ``node`` (booleans and texts excluded)."""
    if is_number(node):
        return [location]
    if isinstance(node, dict):
        return [found for key, child in node.items() for found in numeric_leaves(child, (*location, key))]
    if isinstance(node, list):
        return [found for index, child in enumerate(node) for found in numeric_leaves(child, (*location, index))]
    return []


def resolve(workflow: Workflow | dict, path: str) -> Number:
    """The number ``path`` names; a :class:`CostsimError` naming the failing segment otherwise."""
    data = data_of(workflow) if isinstance(workflow, Workflow) else workflow
    if not path or path.strip() != path or ".." in path or path.startswith(".") or path.endswith("."):
        raise CostsimError(f"{path}: expected a dotted path such as steps.search.fail or retry.max_attempts")
    segments = path.split(".")
    node: Any = data
    location: Location = ()
    parent_key: Any = None
    i = 0
    while i < len(segments):
        done = ".".join(segments[:i]) or "(top level)"
        segment = segments[i]
        if isinstance(node, dict):
            key, used = _match_key(node, segments[i:])
            if key is None:
                names = [str(k) for k in node]
                where = "the workflow" if not location else done
                if not names:
                    raise CostsimError(f"{path}: {where} is empty in this workflow, so it has no {segment!r}")
                raise CostsimError(f"{path}: {where} has no key {segment!r}{suggest(segment, names, 3)} "
                                   f"(its keys: {_listing(names)})")
            location, node, parent_key, i = (*location, key), node[key], key, i + used
        elif isinstance(node, list):
            if re.fullmatch(r"\d+", segment):
                index = int(segment)
                if index >= len(node):
                    raise CostsimError(f"{path}: {done} has {len(node)} items (0 to {len(node) - 1}), "
                                       f"not {index + 1}")
                location, node = (*location, index), node[index]
            elif parent_key == "steps":
                steps = step_locations(data)
                if segment not in steps or steps[segment][:len(location)] != location:
                    inside = [sid for sid, where in steps.items() if where[:len(location)] == location]
                    raise CostsimError(f"{path}: no step with id {segment!r}{suggest(segment, inside, 3)} "
                                       f"(step ids: {_listing(inside)})")
                location = steps[segment]
                node = _node(data, location)
            else:
                raise CostsimError(f"{path}: {done} is a list; name an item by its index, 0 to {len(node) - 1}")
            parent_key = None
            i += 1
        elif node is None:
            raise CostsimError(f"{path}: {done} is not set in this workflow, so it has no {segment!r}; "
                               "set it in the file first")
        else:
            raise CostsimError(f"{path}: {done} is {_shown(node)}, which has no {segment!r}")
    if is_number(node) or node is None:
        return Number(path, location, node, isinstance(node, int))
    if isinstance(node, dict):
        inner = [label(data, found) for found in numeric_leaves(node, location)]
        family = [key for key in node if key not in ("min", "max")]
        what = f"a distribution ({family[0]})" if set(node) >= {"min", "max"} and len(family) == 1 else "a mapping"
        hint = f"; name one of its numbers: {_listing(inner, 6)}" if inner else ""
        raise CostsimError(f"{path}: is {what}, not a number{hint}")
    raise CostsimError(f"{path}: is {_shown(node)}, not a number")


def _match_key(node: dict, rest: list[str]) -> tuple[Any, int]:
    """The key of ``node`` that the next segments name (the longest run of segments joined by dots that is
    a key: model names hold dots), and how many segments it used."""
    for used in range(len(rest), 0, -1):
        candidate = ".".join(rest[:used])
        if candidate in node:
            return candidate, used
    return None, 0


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"a text ({value!r})"
    if isinstance(value, bool):
        return f"a yes/no value ({str(value).lower()})"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# -- variants -----------------------------------------------------------------------------------------


def validate(data: dict, what: str | Parameter) -> Workflow:
    """Read ``data`` back through the loader; a :class:`CostsimError` with the loader's message (without
    its line numbers, which would point into generated text), prefixed by ``what``, if it is rejected
    (a :class:`ParameterError` when ``what`` is the parameter whose value made ``data``)."""
    try:
        return parse_workflow(json.dumps(data), _VARIANT)
    except WorkflowError as exc:
        lines = [re.sub(rf"^{re.escape(_VARIANT)}:(\d+:\d+: )?", "", line) for line in exc.message.splitlines()]
        if isinstance(what, Parameter):
            raise ParameterError(what, ": " + "\n".join(lines)) from None
        raise CostsimError(f"{what}: " + "\n".join(lines)) from None


def set_values(data: dict, values: dict[Location, Any]) -> dict:
    """A deep copy of ``data`` with each location set to its value."""
    copy = json.loads(json.dumps(data))
    for location, value in values.items():
        _node(copy, location[:-1])[location[-1]] = value
    return copy


def with_values(workflow: Workflow | dict, values: dict[Location, Any], what: str | Parameter = "variant") -> Workflow:
    """``workflow`` with the numbers at the given locations replaced, validated by the loader."""
    data = data_of(workflow) if isinstance(workflow, Workflow) else workflow
    return validate(set_values(data, values), what)


def failure_locations(data: dict) -> list[Location]:
    """Every failure setting of the workflow (the keys in :data:`FAILURE_KEYS`, whatever their form: a
    number, a per-model mapping, ``quality``)."""
    found: list[Location] = []

    def walk(node: Any, location: Location) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                if key in FAILURE_KEYS and child is not None:
                    found.append((*location, key))
                else:
                    walk(child, (*location, key))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, (*location, index))

    walk(data, ())
    return found


def without_failures(workflow: Workflow | dict) -> Workflow:
    """The same workflow with every failure setting replaced by 0: the no-failure reference."""
    data = data_of(workflow) if isinstance(workflow, Workflow) else workflow
    return validate(set_values(data, {location: 0.0 for location in failure_locations(data)}), "no-failure case")


def only_alternative(workflow: Workflow, name: str) -> Workflow:
    """The workflow with only the baseline and alternative ``name`` (only the baseline for ``baseline``):
    the same tasks, fewer runs. Draws do not depend on which alternatives run."""
    names = [BASELINE, *workflow.alternatives]
    if name not in names:
        raise ParameterError(Parameter("alternative"), f": no alternative {name!r}{suggest(name, names, 3)} "
                             f"(alternatives: {', '.join(names)})")
    data = data_of(workflow)
    data["alternatives"] = {} if name == BASELINE else {name: data["alternatives"][name]}
    return validate(data, f"alternative {name}")
