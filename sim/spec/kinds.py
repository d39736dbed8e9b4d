"""Unions told apart by a key: a step is ``llm``, ``tool``, ``repeat``, ... by which of those keys it has; a
route is ``split``, ``cascade``, ``router`` or ``fallback`` the same way.

A :class:`Kinds` registry is the one list of such a union's members, key -> pydantic model. Everything
else is made from it: the union type pydantic validates (:meth:`Kinds.union`), its discriminator
(:func:`kind_by_key`), its "expected one of ..." message, and the lookup from a model back to its key
(:meth:`Kinds.key_of`), which the engine's half of each kind (``sim.engine.kinds``) is matched by. A new
kind is one entry in its registry, and nothing in the spec has to be told about it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Union

from pydantic import BaseModel, Discriminator, Tag


def kind_by_key(prefix: str, kinds: tuple[str, ...]) -> Callable[[Any], str | None]:
    """A discriminator: ``value`` -> ``f"{prefix}:{key}"`` for its one key among ``kinds``, else None.

    A model instance is told by its fields; a mapping by its keys, and one with no kind key or with
    several gets None, so that pydantic reports the union's own message instead of every member's
    complaints.
    """

    def kind(value: Any) -> str | None:
        if isinstance(value, BaseModel):
            return f"{prefix}:" + next(key for key in kinds if key in type(value).model_fields)
        if isinstance(value, dict):
            present = [key for key in kinds if key in value]
            if len(present) == 1:
                return f"{prefix}:{present[0]}"
        return None

    return kind


def one_of(words: tuple[str, ...]) -> str:
    """``("a", "b", "c")`` -> ``"a, b or c"``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


class Kinds:
    """The registry of one union's kinds: ``prefix`` names the union (``step``, ``route``), ``members``
    maps each kind's key to its pydantic model, in the order messages list them."""

    def __init__(self, prefix: str, members: dict[str, type[BaseModel]]) -> None:
        for key, model in members.items():
            if key not in model.model_fields:
                raise TypeError(f"{prefix} kind {key!r}: {model.__name__} has no field {key!r} to be told apart by")
        self.prefix = prefix
        self.members = dict(members)
        self._keys_of = {model: key for key, model in members.items()}

    @property
    def keys(self) -> tuple[str, ...]:
        """The kinds' keys, in order."""
        return tuple(self.members)

    def __iter__(self) -> Iterator[tuple[str, type[BaseModel]]]:
        return iter(self.members.items())

    def key_of(self, value: BaseModel | type[BaseModel]) -> str:
        """The key of a member model, or of an instance of one; KeyError for anything else."""
        model = value if isinstance(value, type) else type(value)
        try:
            return self._keys_of[model]
        except KeyError:
            raise KeyError(f"{model.__name__} is not a registered {self.prefix} kind "
                           f"(kinds: {', '.join(self.keys)})") from None

    @property
    def message(self) -> str:
        """What a value that is none of the kinds is told: ``a step needs exactly one of the keys ...``."""
        return f"a {self.prefix} needs exactly one of the keys {one_of(self.keys)}"

    def union(self) -> Any:
        """The tagged union pydantic validates: each member tagged ``PREFIX:KEY``, told apart by its key."""
        members = tuple(Annotated[model, Tag(f"{self.prefix}:{key}")] for key, model in self.members.items())
        return Annotated[Union[members],  # noqa: UP007  (a union of a tuple of members needs Union[...])
                         Discriminator(kind_by_key(self.prefix, self.keys), custom_error_type=f"{self.prefix}_kind",
                                       custom_error_message=self.message)]

    def any(self) -> Any:
        """The plain union of the member models, for type hints."""
        return Union[tuple(self.members.values())]  # noqa: UP007
