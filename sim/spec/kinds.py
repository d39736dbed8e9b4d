"""Unions told apart by a key: a step is ``llm``, ``tool``, ``repeat`` or ``branch`` by which of those keys
it has; a route is ``split``, ``cascade``, ``router`` or ``fallback`` the same way.

:func:`kind_by_key` makes the discriminator pydantic calls for such a union: the tag ``PREFIX:KEY`` of the
one kind key a mapping (or a model) has, or None when it has none or several, so that pydantic reports the
union's own message instead of every member's complaints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel


def kind_by_key(prefix: str, kinds: tuple[str, ...]) -> Callable[[Any], str | None]:
    """A discriminator: ``value`` -> ``f"{prefix}:{key}"`` for its one key among ``kinds``, else None."""

    def kind(value: Any) -> str | None:
        if isinstance(value, BaseModel):
            return f"{prefix}:" + next(key for key in kinds if key in type(value).model_fields)
        if isinstance(value, dict):
            present = [key for key in kinds if key in value]
            if len(present) == 1:
                return f"{prefix}:{present[0]}"
        return None

    return kind
