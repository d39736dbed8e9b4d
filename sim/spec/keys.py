"""Which block of the workflow format a pydantic error location points into, and so which keys it allows.

pydantic reports where a value failed as a location tuple that mixes three kinds of parts: a key or a list
index of the file's data (``"routing"``, ``"c"``, ``0``), the tag of a member of a union told apart by a
key (``"route:cascade"``, ``"step:llm"``, ``"dist:normal"``) and, for a plain union such as
``bool | Batch``, the name of the member it tried (``"bool"``, ``"Batch"``, ``"list[str]"``)::

    ("routing", "c", "route:cascade", "validator", "false_acept")

:func:`trace` follows such a location through the annotations of :class:`~sim.spec.workflow.Workflow`,
as pydantic did, and returns the models it ends in (``Validator`` here) and where it passed a union
member. The loader lists those models' fields as the keys allowed beside an unknown one, so a typo in
any block, however deeply nested, is compared with that block's own keys.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Annotated, Any, ForwardRef, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag

from sim.spec.workflow import Workflow

Shape = Literal["mapping", "list", "scalar"]


@dataclass
class Trace:
    """Where a location leads: the models at its end, and the union members it passed through."""

    models: list[type[BaseModel]] = field(default_factory=list)
    """The models the location ends in (several when a union left the choice open)."""
    members: dict[int, Shape] = field(default_factory=dict)
    """Position in the location of each plain-union member name -> the shape of value that member takes."""
    tags: set[int] = field(default_factory=set)
    """Positions in the location of union tags (``step:llm``) and member names: parts the file has not."""

    def keys(self) -> list[str]:
        """The keys a mapping at the location may hold, sorted (empty when it is not a model's)."""
        return sorted({name for model in self.models for name in model.model_fields})


def trace(loc: tuple, root: type[BaseModel] = Workflow) -> Trace:
    """Follow ``loc`` (a pydantic error location, or a part of one) from ``root``."""
    result = Trace()
    current: list[Any] = [root]
    for position, part in enumerate(loc):
        members = [member for annotation in current for member in _members(annotation)]
        if isinstance(part, str):
            tagged = [kind for tag, kind in members if tag == part]
            named = [kind for tag, kind in members if tag is None and _name(kind) == part]
            if tagged or named:
                result.tags.add(position)
                if named and len(members) > 1:
                    result.members[position] = _shape(named[0])
                current = tagged or named
                continue
        current = [child for _, kind in members for child in _children(kind, part)]
    result.models = [kind for annotation in current for _, kind in _members(annotation) if _is_model(kind)]
    return result


def _members(annotation: Any) -> list[tuple[str | None, Any]]:
    """A union flattened into (tag or None, type) pairs, ``Annotated`` and ``None`` removed."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        tag = next((item.tag for item in metadata if isinstance(item, Tag)), None)
        if tag is not None and _is_union(inner):  # a tagged member that is itself a union: one step of the path
            return [(tag, inner)]
        return [(tag or inner_tag, kind) for inner_tag, kind in _members(inner)]
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) if arg is not type(None) for member in _members(arg)]
    return [(None, annotation)]


def _is_union(annotation: Any) -> bool:
    """Whether ``annotation``, its ``Annotated`` layers removed, is a union."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return get_origin(annotation) is Union or get_origin(annotation) is types.UnionType


def _children(kind: Any, part: str | int) -> list[Any]:
    """The annotation of ``part`` inside a value of type ``kind``: a field, a mapping's value, a list's item."""
    if _is_model(kind):
        if part not in kind.model_fields:
            return []
        if isinstance(kind.model_fields[part].annotation, ForwardRef):
            # a class defined after this model (a loop's or an arm's steps), resolved when the model is
            # built, which waits for its first use (defer_build, sim/spec/base.py): build it now
            kind.model_rebuild()
        return [kind.model_fields[part].annotation]
    origin = get_origin(kind)
    if origin is dict:
        return [get_args(kind)[1]]
    if origin is list and isinstance(part, int):
        return [get_args(kind)[0]]
    return []


def _name(kind: Any) -> str:
    """The name pydantic gives a plain union's member in a location: ``Batch``, ``bool``, ``list[str]``."""
    return kind.__name__ if isinstance(kind, type) else str(kind)


def _shape(kind: Any) -> Shape:
    if _is_model(kind) or get_origin(kind) is dict:
        return "mapping"
    return "list" if get_origin(kind) is list else "scalar"


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)
