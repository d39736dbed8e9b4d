"""The one exception family costsim raises for a user's mistake.

Library code raises :class:`CostsimError` (or a subclass) with a message written for the person who wrote
the workflow file: what is wrong, where, and what to do instead. The CLI converts it, once, at the edge,
into a message on stderr and exit code 2 (1 for an :class:`OutputError`); nothing else in ``sim`` prints or exits.

A bad argument of a library function is a :class:`ParameterError`. The library speaks Python: its message
names the parameter and the value (``engine='fast': ...; use engine='des'``). The CLI knows which flag
feeds which parameter and shows the same message with the flags (``--engine fast: ...; use --engine
des``): each mention of a parameter is kept as a :class:`Parameter` among the message's parts, so the
CLI can render it either way without rewriting text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.core.suggest import did_you_mean


class CostsimError(Exception):
    """A problem with the user's input, explained in words rather than a traceback."""

    exit_code = 2
    """The command line's exit code for it: 2, bad input."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OutputError(CostsimError):
    """Writing a result failed for a reason of the machine, not of the input: a full disk, a folder without
    write permission, an input/output error. The message names the path; the command line exits 1 (a path
    the user named wrongly, a folder given for a file, is a :class:`ParameterError` instead: exit 2)."""

    exit_code = 1

    def __init__(self, path, reason: str) -> None:
        super().__init__(f"{path}: could not write: {reason}")
        self.path = path
        self.reason = reason


class WorkflowError(CostsimError):
    """A workflow file that cannot be read or does not validate; the message names file, line and field."""


class UnknownModelError(CostsimError):
    """A ``provider:model`` reference the catalog and the file's ``prices`` do not know."""

    def __init__(self, ref: str, suggestions: list[str]) -> None:
        super().__init__(f"unknown model {ref!r}{did_you_mean(suggestions, quote=False)}")
        self.ref = ref
        self.suggestions = suggestions


@dataclass(frozen=True)
class Parameter:
    """A mention of a library function's parameter in a message, with the value it had (or should have).

    ``Parameter("engine", "des")`` reads ``engine='des'`` in Python and ``--engine des`` on the command
    line; ``Parameter("jobs")`` reads ``jobs`` and ``--jobs``.
    """

    name: str
    value: Any = ...
    """The value to show; ``...`` (the default) shows the name alone."""

    def in_python(self) -> str:
        return self.name if self.value is ... else f"{self.name}={self.value!r}"

    def as_flag(self, flag: str) -> str:
        return flag if self.value is ... else f"{flag} {self.value}"


class ParameterError(CostsimError):
    """A bad argument: a message made of text and :class:`Parameter` mentions.

    ``message`` names the parameters as Python does; :meth:`with_flags` as the command line does.
    ``parameter`` is the name of the first parameter mentioned: the one whose value is wrong.
    """

    def __init__(self, *parts: str | Parameter) -> None:
        mentioned = [part.name for part in parts if isinstance(part, Parameter)]
        if not mentioned:
            raise TypeError("a ParameterError mentions at least one Parameter")
        super().__init__("".join(part if isinstance(part, str) else part.in_python() for part in parts))
        self.parts = parts
        self.parameter = mentioned[0]

    def __reduce__(self):  # rebuilt from its parts when it crosses to another process
        return type(self), self.parts

    def with_flags(self, flag_of: Callable[[str], str | None]) -> str:
        """The message with each parameter shown as its flag (``flag_of(name)``; None keeps the Python)."""
        return "".join(part if isinstance(part, str) else
                       part.in_python() if (flag := flag_of(part.name)) is None else part.as_flag(flag)
                       for part in self.parts)
