"""How long an answer takes: time to first token, then its output (hidden reasoning included) at the
model's speed in tokens per second (a speed of 0 counts as 1e-9, so a stalled model takes very long
rather than dividing by zero)."""

from __future__ import annotations

import numpy as np

MIN_SPEED = 1e-9  # tokens per second


def call_duration_s(ttft_s: float, tokens_per_s: float, billed_output_tokens: int) -> float:
    """Seconds of one answer of ``billed_output_tokens`` (output plus reasoning)."""
    if billed_output_tokens:
        return ttft_s + billed_output_tokens / max(tokens_per_s, MIN_SPEED)
    return ttft_s


def call_duration_s_array(ttft_s, tokens_per_s, billed_output_tokens) -> np.ndarray:
    """:func:`call_duration_s` for many answers (no tokens: ttft + 0.0, exactly the scalar's ttft)."""
    return ttft_s + billed_output_tokens / np.maximum(tokens_per_s, MIN_SPEED)
