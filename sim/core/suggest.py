"""The "did you mean" of every message about a misspelt name: a key, a role, a model, a template, a route.

Two steps, so that a caller can use the guesses for something else too (the catalog tries other guesses
when no name is close): :func:`close_matches` finds the known names closest to what the user wrote, and
:func:`did_you_mean` turns guesses into the hint a message ends with::

    >>> close_matches("promt", ["prompt", "output", "history"])
    ['prompt']
    >>> f"unknown key 'promt'{did_you_mean(['prompt'])}"
    "unknown key 'promt'; did you mean 'prompt'?"
    >>> did_you_mean([])
    ''

Closeness is :func:`difflib.get_close_matches`'s ratio (twice the matching characters over the total):
``promt``/``prompt`` scores 0.91, ``colour``/``output`` 0.33. :data:`CUTOFF` keeps typos and drops
unrelated words.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: The least similarity (0 to 1) a known name needs to be offered as a guess.
CUTOFF = 0.6


def close_matches(word: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """Up to ``n`` of ``candidates`` closest to ``word`` (best first); empty when none is close."""
    return difflib.get_close_matches(str(word), list(candidates), n=n, cutoff=CUTOFF)


def did_you_mean(guesses: Iterable[str], *, quote: bool = True) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the guesses (quoted as Python reprs, or as written when
    ``quote`` is false: model references read better bare), or ``""`` when there is none."""
    shown = [repr(guess) if quote else guess for guess in guesses]
    return f"; did you mean {' or '.join(shown)}?" if shown else ""


def suggest(word: str, candidates: Iterable[str], n: int = 1, *, quote: bool = True) -> str:
    """The hint for ``word`` among ``candidates``: :func:`did_you_mean` of :func:`close_matches`."""
    return did_you_mean(close_matches(word, candidates, n), quote=quote)
