"""Each provider's billing rules, one row per provider or model family, each with its source.

The price catalog (:mod:`sim.core.pricing`) says what a token costs; it does not say *when* a token is a
cache read, whether a request may use the cache at all, or whether a model still answers. Those are
rules of each provider's API, and they differ:

* **Caching mode.** OpenAI and Gemini (implicit caching, 2.5 and newer) cache every request
  automatically, with no write premium; Anthropic caches only where a request marks a breakpoint
  (``cache_control``), so a workflow says whether its developer does (``cache.breakpoints``).
* **Minimum prefix.** Nothing shorter than a model's minimum is cached: OpenAI 1,024 tokens; Claude
  512, 1,024, 2,048 or 4,096 by model; Gemini 2,048 or 4,096 by model.
* **Increments.** OpenAI reports cache hits in steps of 128 tokens above the 1,024 minimum
  (1,024, 1,152, 1,280, ...): a cached prefix of 1,300 tokens reads 1,280.
* **TTLs.** Anthropic offers exactly two: 5 minutes (write 1.25x input) and 1 hour (write 2x); a read
  is 0.1x. OpenAI keeps a prefix 5 to 10 minutes after its last use (in memory; costsim takes 5) or, with
  extended retention, up to 24 hours; neither costs anything to write. Gemini's implicit cache states no
  lifetime: costsim assumes 5 minutes.
* **Batch.** Each of the three halves the price of a batched request; on Anthropic the batch discount
  applies to cache reads and writes too (the two discounts multiply: a batched cache read is
  0.5 x 0.1 = 0.05x input).
* **Retirement.** A retired model's requests fail; a run that prices one says so, with the date and the
  provider's recommended successor.

Multipliers are kept here for the reader and for filling a rate the catalog lacks; the prices
themselves come from the catalog. Columns for the reasoning, tool and tokenizer rules (issue 12,
part B) are present and ``None`` where this table does not source them yet.

A workflow overrides any row with its ``providers:`` block (keyed by provider or ``provider:model``), and
turns the whole table off with ``provider_rules: false`` (every model then caches alike, as the
``cache:`` block says, and a missing batch price falls back silently to the standard one, as before).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["CACHING_MODES", "RULES", "ProviderRule", "describe_ttls", "rule_for"]

CachingMode = Literal["automatic", "opt_in", "none"]
CACHING_MODES: tuple[str, ...] = ("automatic", "opt_in", "none")

_READ_ON = dt.date(2026, 12, 2)

_OPENAI_CACHING = ("https://platform.openai.com/docs/guides/prompt-caching (automatic from 1,024 tokens, hits in "
                   "128-token increments, no write fee, 5-10 min in memory or 24 h extended retention), as quoted by "
                   "docs.apiyi.com/en/api-capabilities/openai/prompt-caching (June 2026)")
_OPENAI_BATCH = "https://platform.openai.com/docs/guides/batch (50% off input and output)"
_ANTHROPIC_CACHING = ("https://platform.claude.com/docs/en/build-with-claude/prompt-caching (opt-in cache_control; "
                      "TTL 5m or 1h; write 1.25x / 2x, read 0.1x; minimum prefix by model: 512 Opus 5, Fable 5, "
                      "Mythos 5; 1,024 Opus 4.8, Sonnet 5, Sonnet 4.6/4.5/4, Opus 4.1/4, Sonnet 3.7; 2,048 Opus 4.7, "
                      "Haiku 3.5/3; 4,096 Opus 4.6/4.5, Haiku 4.5), as quoted by anthropic-sdk-python issue 1194 and "
                      "dev.to/creeta 'Claude's prompt cache fails silently below 1,024 tokens' (2026)")
_ANTHROPIC_BATCH = ("https://platform.claude.com/docs/en/build-with-claude/batch-processing (50% of standard prices "
                    "on all usage, cache reads and writes included: the discounts stack)")
_ANTHROPIC_RETIRED = ("https://platform.claude.com/docs/en/about-claude/model-deprecations and the release notes "
                      "(Sonnet 4 and Opus 4 retired 2026-06-15, replacements Sonnet 4.6 and Opus 4.8; Opus 4.1 "
                      "retired 2026-08-05; Claude 3 Opus retired 2026-01-05)")
_GEMINI_CACHING = ("https://ai.google.dev/gemini-api/docs/caching (implicit caching on by default for Gemini 2.5 and "
                   "newer, no guaranteed hit; minimum input 2,048 for 2.5 Flash and 2.5 Pro, 4,096 for 3.1 Pro, "
                   "3.5-3.8 Flash, 4 Argon; last updated 2026-10-13)")
_GEMINI_BATCH = "https://ai.google.dev/gemini-api/docs/batch-mode (50% of the interactive price)"


@dataclass(frozen=True, slots=True)
class ProviderRule:
    """One row: the rules of one provider, or of the models of one provider whose id matches ``models``.

    ``models`` is ``*`` (every model of the provider), an exact model id (``claude-haiku-4-5``), or a
    prefix ending in ``*`` (``claude-3-5-haiku*``); the longest match wins. Model ids are the catalog's
    canonical ones (``costsim prices MODEL`` shows them: ``claude-sonnet-4`` is ``claude-sonnet-4-0``).
    """

    provider: str
    models: str
    caching: CachingMode
    """``automatic``: every request may hit; ``opt_in``: only requests that mark a breakpoint;
    ``none``: the provider caches nothing."""
    min_prefix_tokens: int
    """Shortest prefix the provider caches; a shorter one never hits."""
    increment_tokens: int = 1
    """A cache hit covers the minimum plus a whole number of these (OpenAI: 128); 1: any length."""
    ttls_s: tuple[float, ...] = (300.0,)
    """The lifetimes the provider offers, the default first."""
    write_multiplier: Mapping[float, float] | None = None
    """Cache write price as a multiple of the input price, by TTL (Anthropic 1.25x at 5 min, 2x at 1 h;
    OpenAI and Gemini 1.0: no premium). Used only where the catalog lacks the write price."""
    read_multiplier: float | None = None
    """Cache read price as a multiple of the input price (Anthropic 0.1); the catalog's price wins."""
    batch_price_factor: float | None = 0.5
    """A batched token's price as a share of the standard one (0.5: half price); None: no batch API."""
    batch_stacks_with_cache: bool | None = None
    """True: a batched cache read or write gets the batch discount too (derived when the catalog lacks
    the batch cache rate); False: it does not; None: not stated (the catalog's rates, else the standard
    cache rates)."""
    retired_on: dt.date | None = None
    """The day the provider stopped (or stops) answering this model."""
    successor: str | None = None
    """The ``provider:model`` the provider recommends instead."""
    reasoning_carry_over: bool | None = None
    """Part B (issue 12): whether reasoning items must be sent back within a tool loop. Not sourced here."""
    tool_overhead_tokens: int | None = None
    """Part B: input tokens the provider adds to a call that offers tools. Not sourced here."""
    tokenizer_ratio: float | None = None
    """Part B: tokens for the same text relative to o200k. Not sourced here."""
    source: str = ""
    """The documentation the row was read from."""
    read_on: dt.date = _READ_ON
    """The day it was read."""

    def matches(self, provider: str, model: str) -> int:
        """How specifically this row matches ``provider:model`` (-1: it does not)."""
        if provider != self.provider:
            return -1
        if self.models == "*":
            return 0
        if self.models.endswith("*"):
            return len(self.models) if model.startswith(self.models[:-1]) else -1
        return len(self.models) + 1000 if model == self.models else -1

    def with_changes(self, changes: Mapping[str, object]) -> ProviderRule:
        """This row with some columns replaced (a workflow's ``providers:`` entry)."""
        return dataclasses.replace(self, **dict(changes))


def _anthropic(models: str, min_prefix_tokens: int, **extra) -> ProviderRule:
    return ProviderRule("anthropic", models, "opt_in", min_prefix_tokens, 1, (300.0, 3600.0),
                        {300.0: 1.25, 3600.0: 2.0}, 0.1, 0.5, True, source=f"{_ANTHROPIC_CACHING}; {_ANTHROPIC_BATCH}"
                        + (f"; {_ANTHROPIC_RETIRED}" if "retired_on" in extra else ""), **extra)


def _gemini(models: str, min_prefix_tokens: int, note: str = "") -> ProviderRule:
    return ProviderRule("google", models, "automatic", min_prefix_tokens, 1, (300.0,), {300.0: 1.0}, None, 0.5, None,
                        source=f"{_GEMINI_CACHING}; {_GEMINI_BATCH}{note}")


#: The rules table. Rows for a provider's families come after its ``*`` row; order does not matter
#: for lookup (the most specific match wins).
RULES: tuple[ProviderRule, ...] = (
    ProviderRule("openai", "*", "automatic", 1024, 128, (300.0, 86400.0), {300.0: 1.0, 86400.0: 1.0}, None, 0.5,
                 None, source=f"{_OPENAI_CACHING}; {_OPENAI_BATCH}"),
    _anthropic("*", 1024),  # a Claude model the page does not list: its most common minimum
    _anthropic("claude-opus-5", 512),
    _anthropic("claude-fable-5", 512),
    _anthropic("claude-mythos-5*", 512),
    _anthropic("claude-sonnet-5", 1024),
    _anthropic("claude-opus-4-8", 1024),
    _anthropic("claude-opus-4-7", 2048),
    _anthropic("claude-opus-4-6", 4096),
    _anthropic("claude-opus-4-5", 4096),
    _anthropic("claude-haiku-4-5", 4096),
    _anthropic("claude-sonnet-4-6", 1024),
    _anthropic("claude-sonnet-4-5", 1024),
    _anthropic("claude-sonnet-4-0", 1024, retired_on=dt.date(2026, 6, 15), successor="anthropic:claude-sonnet-4-6"),
    _anthropic("claude-opus-4-0", 1024, retired_on=dt.date(2026, 6, 15), successor="anthropic:claude-opus-4-8"),
    _anthropic("claude-opus-4-1", 1024, retired_on=dt.date(2026, 8, 5), successor="anthropic:claude-opus-4-8"),
    _anthropic("claude-3-opus*", 1024, retired_on=dt.date(2026, 1, 5), successor="anthropic:claude-opus-4-8"),
    _anthropic("claude-3-7-sonnet*", 1024),
    _anthropic("claude-3-5-haiku*", 2048),
    _anthropic("claude-3-haiku*", 2048),
    _gemini("*", 4096, " (a Gemini model the page does not list: the newer models' minimum)"),
    _gemini("gemini-2.5-flash", 2048),
    _gemini("gemini-2.5-pro", 2048),
    _gemini("gemini-2.5-flash-lite", 2048, " (Flash-Lite is not listed: taken as 2.5 Flash's)"),
    ProviderRule("google", "gemini-1*", "none", 0, source=f"{_GEMINI_CACHING} (implicit caching: 2.5 and newer)"),
    ProviderRule("google", "gemini-2.0*", "none", 0, source=f"{_GEMINI_CACHING} (implicit caching: 2.5 and newer)"),
    # Claude on Vertex AI: Google's provider in the catalog; its caching is Anthropic's opt-in kind. Its
    # minimums are not read from Google's pages: Anthropic's commonest is assumed.
    ProviderRule("google", "claude-*", "opt_in", 1024, 1, (300.0, 3600.0), {300.0: 1.25, 3600.0: 2.0}, 0.1, 0.5, True,
                 source=f"assumed as Anthropic's rules: {_ANTHROPIC_CACHING}"),
)


def rule_for(ref: str, overrides: Mapping[str, Mapping[str, object]] | None = None,
             table: tuple[ProviderRule, ...] = RULES) -> ProviderRule | None:
    """The row that applies to the canonical ``provider:model`` ``ref``, with a workflow's overrides (keyed
    by provider, then by ``provider:model``, the more specific applied last); None for a provider the table
    does not cover (and the file does not describe)."""
    provider, _, model = ref.partition(":")
    best, score = None, -1
    for row in table:
        here = row.matches(provider, model)
        if here > score:
            best, score = row, here
    for key in (provider, ref):
        changes = (overrides or {}).get(key)
        if changes:
            if best is None:  # a provider the table lacks: the file describes it in full, from a neutral row
                best = ProviderRule(provider, "*", "none", 0, batch_price_factor=None, source="the workflow file")
            best = best.with_changes({**changes, "source": f"{best.source}; overridden by the workflow file"})
    return best


def describe_ttls(ttls_s: tuple[float, ...]) -> str:
    """``(300.0, 3600.0)`` -> ``300 s (5 min) or 3600 s (1 h)``."""
    def one(ttl_s: float) -> str:
        if ttl_s % 3600 == 0:
            return f"{ttl_s:g} s ({ttl_s / 3600:g} h)"
        return f"{ttl_s:g} s ({ttl_s / 60:g} min)" if ttl_s % 60 == 0 else f"{ttl_s:g} s"
    texts = [one(ttl) for ttl in ttls_s]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]
