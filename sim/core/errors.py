"""The one exception family costsim raises for a user's mistake.

Library code raises :class:`CostsimError` (or a subclass) with a message written for the person who wrote
the workflow file: what is wrong, where, and what to do instead. The CLI converts it, once, at the edge,
into a message on stderr and exit code 2; nothing else in ``sim`` prints or exits.
"""

from __future__ import annotations

from sim.core.suggest import did_you_mean


class CostsimError(Exception):
    """A problem with the user's input, explained in words rather than a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WorkflowError(CostsimError):
    """A workflow file that cannot be read or does not validate; the message names file, line and field."""


class UnknownModelError(CostsimError):
    """A ``provider:model`` reference the catalog and the file's ``prices`` do not know."""

    def __init__(self, ref: str, suggestions: list[str]) -> None:
        super().__init__(f"unknown model {ref!r}{did_you_mean(suggestions, quote=False)}")
        self.ref = ref
        self.suggestions = suggestions
