"""What a call sends: the head of the conversation, its own prompt and, by its ``history``, the transcript.

``history: full`` sends the whole transcript of this run (earlier prompts, answers, tool results, user
turns); ``none`` only the head (system prompt and user's request) and the step's prompt; ``window`` is
like full, but when that does not fit the model's context window the oldest turns are dropped until it
does, so the call sends exactly the window. An input that does not fit (or, with ``window``, whose head
and prompt alone do not) fails the call: no retry can help.

Every attempt is checked, not only the first: a retry after an invalid answer with ``error_feedback``
also sends the failed answers and the error messages (``feedback``, the newest part of the input, never
dropped), and when that no longer fits the attempt fails the call the same way.

Sizes are counted in the file's reference tokenizer; the model reads ``ratio`` of its own tokens per
reference token (:mod:`sim.core.tokenizers`), so the input is scaled before it is held against the
window. ``carried``: reasoning a reasoning model carries through a tool loop, already in its own tokens,
sent with any history but ``none``.
"""

from __future__ import annotations

import numpy as np

from sim.core.tokenizers import scale_tokens, scale_tokens_array


def input_tokens(head: int, prompt: int, transcript: int, history: str, window: int | None,
                 feedback: int = 0, ratio: float = 1.0, carried: int = 0) -> int | None:
    """Tokens one attempt sends (in the model's tokens), or None when they cannot fit ``window`` (None:
    no limit); ``feedback``: the failed answers and error messages a retry carries."""
    tokens = head + prompt + feedback
    if history != "none":
        tokens = scale_tokens(tokens + transcript, ratio) + carried
    else:
        tokens = scale_tokens(tokens, ratio)
    if window is None or tokens <= window:
        return tokens
    if history == "window" and scale_tokens(head + prompt + feedback, ratio) <= window:
        return window  # the oldest turns are dropped until the input fits
    return None


def input_tokens_array(head: np.ndarray, prompt: np.ndarray, transcript: np.ndarray, history: str,
                       window: int | None, feedback: np.ndarray | int = 0, ratio: float = 1.0,
                       carried: np.ndarray | int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`input_tokens` for many attempts: (tokens, fits); where ``fits`` is False the tokens mean nothing."""
    tokens = head + prompt  # a new array: the sums below go into it (integers: exact in any order)
    if np.ndim(feedback) or feedback:
        tokens += feedback
    if history != "none":
        tokens += transcript
        tokens = scale_tokens_array(tokens, ratio)
        if np.ndim(carried) or carried:
            tokens = tokens + carried
    else:
        tokens = scale_tokens_array(tokens, ratio)
    if window is None:
        return tokens, np.ones(np.shape(tokens), dtype=bool)
    over = tokens > window
    if history == "window":
        shortened = over & (scale_tokens_array(head + prompt + feedback, ratio) <= window)
        tokens = np.where(shortened, window, tokens)
        over = over & ~shortened
    return tokens, ~over
