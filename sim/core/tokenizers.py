"""How many tokens each model's tokenizer makes of text that a reference tokenizer counts as one token.

A workflow file writes every size (prompts, outputs, tool results, user turns) in one *reference*
tokenizer, named by its ``tokenizer.reference`` (default ``o200k``: OpenAI's o200k_base, the tokenizer of
GPT-4o, GPT-4.1, GPT-5, o3 and o4-mini). A model whose tokenizer cuts the same text finer sees, and is
billed for, more tokens: a call on it sends ``round(n * ratio)`` tokens where the file says ``n``
(:mod:`sim.engine.rules.tokens`). The ratio depends on what the text is, so each row gives one per
content type: ``prose`` (English text), ``code`` and ``math``; a workflow names its content type at the
top (``content:``) or per llm step.

Each row carries where its figures come from and the date they were read. They are measurements on one
corpus, not a law: a workload far from it (another language, JSON, long numbers) can differ by more than
the gap between two rows. A workflow file's ``tokenizer.ratios`` replaces any row for one model.

**Left out.** Anthropic's newest tokenizer (said to cut finer again on the latest Opus models) has no
published ratio that was found; those models take the Anthropic row. Models of other providers (Mistral,
DeepSeek, Meta, self-hosted) take 1.0, an assumption the summary names as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CONTENT_TYPES", "GENERIC_RATIO", "PROVIDER_RATIOS", "REFERENCES", "TokenRatio", "default_ratio",
           "scale_tokens", "scale_tokens_array"]

#: The content types a workflow may name (``content: prose|code|math``).
CONTENT_TYPES = ("prose", "code", "math")
#: The reference tokenizers a file may name: ``o200k`` (the table's reference), or ``none``: every size
#: is already in each model's own tokens (no scaling, costsim before tokenizer ratios).
REFERENCES = ("o200k", "none")


@dataclass(frozen=True)
class TokenRatio:
    """Tokens a model's tokenizer makes per o200k token, by content type, and where that came from."""

    prose: float
    code: float
    math: float
    source: str

    def __post_init__(self) -> None:
        for name in CONTENT_TYPES:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        if not self.source.strip():
            raise ValueError("source must name where the ratios came from")

    def of(self, content: str) -> float:
        """The ratio for one content type (``prose``, ``code`` or ``math``)."""
        return getattr(self, content)


#: For a model of a provider not in the table: the same count as o200k, an assumption.
GENERIC_RATIO = TokenRatio(1.0, 1.0, 1.0, "costsim's assumption: the same count as o200k (no measurement)")

#: By provider (the part of ``provider:model`` before the colon).
PROVIDER_RATIOS: dict[str, TokenRatio] = {
    "openai": TokenRatio(
        1.0, 1.0, 1.0,
        source="o200k_base is the reference: OpenAI's tokenizer for GPT-4o, GPT-4.1, GPT-5, o3 and o4-mini "
               "(tiktoken's model table); older models on cl100k_base (GPT-4, GPT-3.5) are not rescaled; "
               "read 2026-11"),
    "anthropic": TokenRatio(
        1.16, 1.30, 1.21,
        source="Lavanya Gupta, 'Hidden costs in AI deployment: why Claude models may be 20-30% more expensive "
               "than GPT in enterprise settings' (VentureBeat, May 2025; republished widely): Claude 3.5 "
               "Sonnet's tokenizer against GPT-4o's (o200k) on the same texts, about +16% for English "
               "articles, +21% for math, +30% for Python code; Claude 4.x is taken to share the tokenizer; "
               "read 2026-11"),
    "google": TokenRatio(
        1.075, 1.075, 1.075,
        source="techcompare.app, 'Gemini tokenization' (token-counter guide): Gemini's SentencePiece "
               "tokenizer makes roughly 5-10% more tokens than o200k_base for English; midpoint 7.5% taken "
               "for every content type (no per-type figure found; rough); read 2026-11"),
}


def default_ratio(ref: str) -> TokenRatio:
    """The table's row for a canonical ``provider:model`` ref (by its provider), else GENERIC_RATIO."""
    return PROVIDER_RATIOS.get(ref.partition(":")[0], GENERIC_RATIO)


def scale_tokens(tokens: int, ratio: float) -> int:
    """``tokens`` reference tokens in a model's tokens: ``tokens * ratio`` rounded half up (unchanged at 1)."""
    if ratio == 1.0:
        return tokens
    return int(math.floor(tokens * ratio + 0.5))


def scale_tokens_array(tokens, ratio: float):
    """:func:`scale_tokens` for an array (or scalar): the same float arithmetic, so the same integers."""
    import numpy as np
    if ratio == 1.0:
        return tokens
    return np.floor(np.asarray(tokens) * ratio + 0.5).astype(np.int64)
