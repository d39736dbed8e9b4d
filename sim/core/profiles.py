"""Default per-model performance figures: how long a simulated model call takes.

Each entry gives three figures and names where they came from:

* ``ttft_s`` -- median time to first token, in seconds, *excluding* hidden reasoning;
* ``tokens_per_s`` -- median output speed once tokens flow;
* ``reasoning_tokens`` -- a rough median of hidden reasoning tokens per call at the model's default
  effort (0 for models that do not reason by default, such as GPT-4.1, GPT-4o, or Claude without
  extended thinking).

A simulated call that writes ``n`` visible tokens then takes about
``ttft_s + (reasoning_tokens + n) / tokens_per_s`` seconds.

**What these figures are.** Medians from public benchmarks of the providers' own APIs (OpenAI,
Anthropic, Google), mostly Artificial Analysis, read at one point in time: gathered in November 2026
from pages stored then; each ``source`` says which page and, where the page shows one, its own date.
They are not measurements of your workload. Real latency varies by hour, region, prompt length
(Artificial Analysis' current default workload has 10k input tokens), output length and load, and
reasoning effort changes reasoning tokens by an order of magnitude. Override any model's figures in
the workflow file when you know better.

**Reasoning models.** Benchmarks report a reasoning model's time to its first *visible* token, which
includes the hidden reasoning. Such a figure is split here into a base latency (``ttft_s``) plus
``reasoning_tokens`` generated at ``tokens_per_s``, so that the two are not counted twice; the
``source`` states the arithmetic. Those reasoning counts are derived estimates, rough to within a
factor of two or more.

**Left out.** Models for which no usable public figure was found are not in the table; they use
:data:`GENERIC`, which is an assumption, not a measurement. Left out at the time of writing:
openai:gpt-4.1-nano, openai:gpt-4o-mini, openai:gpt-5, openai:gpt-5-mini, openai:gpt-5-nano,
openai:o4-mini, anthropic:claude-sonnet-4-0, anthropic:claude-opus-4-6, google:gemini-2.5-pro.

**Reasoning defaults.** :data:`REASONING` lists every reasoning model costsim knows, with its mode, the
hidden tokens it assumes when neither this table's latency row nor the file gives any, and whether the
provider's API makes a tool loop carry the reasoning back as input; each row with its source. A
reasoning model that runs with no reasoning tokens gets a note in the summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULTS", "GENERIC", "REASONING", "DefaultProfile", "ReasoningDefault", "default_profile",
           "reasoning_default"]

@dataclass(frozen=True)
class DefaultProfile:
    """Median performance figures of one model, and where they came from."""

    ttft_s: float
    tokens_per_s: float
    reasoning_tokens: float   # median hidden reasoning tokens per call; 0 if none
    source: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ttft_s) and self.ttft_s > 0):
            raise ValueError(f"ttft_s must be finite and > 0, got {self.ttft_s!r}")
        if not (math.isfinite(self.tokens_per_s) and self.tokens_per_s > 0):
            raise ValueError(f"tokens_per_s must be finite and > 0, got {self.tokens_per_s!r}")
        if not (math.isfinite(self.reasoning_tokens) and self.reasoning_tokens >= 0):
            raise ValueError(f"reasoning_tokens must be finite and >= 0, got {self.reasoning_tokens!r}")
        if not self.source.strip():
            raise ValueError("source must name where the figures came from")


#: Used for any model not in the table: stated as an assumption, not a measurement.
GENERIC = DefaultProfile(ttft_s=0.8, tokens_per_s=60.0, reasoning_tokens=0.0,
                         source="costsim's generic assumption for models not in the table")

# Base latency borrowed for OpenAI reasoning models whose benchmark TTFT includes their reasoning:
# Artificial Analysis, GPT-5 (minimal) providers page, OpenAI provider: TTFT 0.89 s.
_OPENAI_BASE_TTFT_S = 0.89

DEFAULTS: dict[str, DefaultProfile] = {
    # --- OpenAI ---------------------------------------------------------------------------------
    "openai:gpt-4.1": DefaultProfile(
        ttft_s=0.52, tokens_per_s=89.0, reasoning_tokens=0.0,
        source="Artificial Analysis figures for GPT-4.1, OpenAI provider (0.52 s TTFT, 89 t/s), "
               "as republished on shadabchow.com's GPT-4.1 model page; seen 2026-11"),
    "openai:gpt-4.1-mini": DefaultProfile(
        ttft_s=0.93, tokens_per_s=77.2, reasoning_tokens=0.0,
        source="Artificial Analysis, GPT-4.1 mini providers page, OpenAI provider "
               "(10k-input default workload); seen 2026-11"),
    "openai:gpt-4o": DefaultProfile(
        ttft_s=0.45, tokens_per_s=131.0, reasoning_tokens=0.0,
        source="Artificial Analysis medians for GPT-4o on the OpenAI API, as cited by induwara.lk's "
               "LLM speed comparison (verified 2026-06-24); seen 2026-11"),
    "openai:o3": DefaultProfile(
        ttft_s=_OPENAI_BASE_TTFT_S, tokens_per_s=108.1, reasoning_tokens=2400.0,
        source="Artificial Analysis, o3 providers page, OpenAI provider: 108.1 t/s, TTFT 22.99 s "
               "including hidden reasoning; split as 0.89 s base (GPT-5 minimal, OpenAI, same site) "
               "+ (22.99 - 0.89) s x 108.1 t/s = ~2,400 reasoning tokens (derived); seen 2026-11"),
    # --- Anthropic (extended thinking is off by default: no reasoning tokens) ---------------------
    "anthropic:claude-sonnet-4-5": DefaultProfile(
        ttft_s=1.80, tokens_per_s=63.0, reasoning_tokens=0.0,
        source="Artificial Analysis figures for Claude Sonnet 4.5 (1.80 s TTFT, 63 t/s), as cited "
               "by lattice.uptownhr.com's Opus 4.5 speed analysis (Nov 2025); seen 2026-11"),
    "anthropic:claude-sonnet-4-6": DefaultProfile(
        ttft_s=0.74, tokens_per_s=104.0, reasoning_tokens=0.0,
        source="Artificial Analysis medians for Claude Sonnet 4.6 on the Anthropic API, as cited by "
               "induwara.lk's LLM speed comparison (verified 2026-06-24); seen 2026-11"),
    "anthropic:claude-haiku-4-5": DefaultProfile(
        ttft_s=0.48, tokens_per_s=53.0, reasoning_tokens=0.0,
        source="Artificial Analysis figures for Claude 4.5 Haiku on Anthropic's API (0.48 s TTFT, "
               "53 t/s), as republished on shadabchow.com's Claude 4.5 Haiku page; other sources "
               "report faster output, so this speed is on the slow side; seen 2026-11"),
    # --- Google (thinking is on by default for Gemini 2.5) ----------------------------------------
    "google:gemini-2.5-flash": DefaultProfile(
        ttft_s=0.40, tokens_per_s=270.6, reasoning_tokens=2900.0,
        source="Artificial Analysis figures for Gemini 2.5 Flash (0.40 s TTFT, 270.6 t/s), as cited "
               "by amallo.ai's Gemini 2.5 Flash wiki page; reasoning tokens derived from Artificial "
               "Analysis' Gemini 2.5 Flash (Sep '25 preview, reasoning) TTFT of over 11 s at ~275 t/s: "
               "(11 - 0.40) s x 270.6 t/s = ~2,900 (derived, rough); seen 2026-11"),
}


def default_profile(ref: str) -> DefaultProfile:
    """The table's entry for a canonical ref, else GENERIC."""
    return DEFAULTS.get(ref, GENERIC)


@dataclass(frozen=True)
class ReasoningDefault:
    """What a reasoning model does with hidden reasoning, and where that came from.

    * ``mode``: ``always`` (the model always reasons: OpenAI's o-series and GPT-5), ``default`` (on
      unless the request turns it off: Gemini 2.5's thinking), ``opt_in`` (off unless the request turns
      it on: Claude's extended thinking);
    * ``tokens``: the hidden reasoning tokens per call costsim assumes when the file gives none (0 for
      ``opt_in``: a file that turns thinking on says how much in ``profiles``);
    * ``carry``: the API requires the reasoning of a tool loop to be sent back with the tool results
      (OpenAI's reasoning items, Claude's thinking blocks), so with ``carry_reasoning: true`` the carried
      tokens are input on the later calls of the same turn.
    """

    mode: str
    tokens: float
    carry: bool
    source: str


_OPENAI_CARRY = ("OpenAI cookbook 'Better performance from reasoning models using the Responses API' "
                 "(May 11, 2025) and OpenAI's reasoning guide as quoted on community.openai.com: reasoning "
                 "items between a function call and the last user message must be sent back; items of earlier "
                 "turns are dropped; read 2026-11")
_OPENAI_MEDIUM = ("medium is the default reasoning effort of OpenAI's reasoning models (OpenAI reasoning "
                  "guide; pydantic-ai's reasoning-effort example repeats it); no public per-call median was "
                  "found for this model, so costsim takes o3's derived ~2,400 tokens at the same default effort "
                  "(an assumption, rough to a factor of a few)")
_CLAUDE_THINKING = ("Anthropic, 'Building with extended thinking': thinking is off unless the request sets "
                    "thinking.type enabled with budget_tokens (at least 1,024); 'Context windows': with tool use "
                    "the thinking block must be returned with the tool results and counts as input within the "
                    "turn, earlier turns' thinking is stripped; read 2026-11")

#: Reasoning models by canonical ref. A model not here is taken not to reason unless its profile says so.
REASONING: dict[str, ReasoningDefault] = {
    "openai:o3": ReasoningDefault("always", DEFAULTS["openai:o3"].reasoning_tokens, True,
                                  DEFAULTS["openai:o3"].source + "; " + _OPENAI_CARRY),
    "openai:o4-mini": ReasoningDefault("always", 2400.0, True, _OPENAI_MEDIUM + "; " + _OPENAI_CARRY),
    "openai:gpt-5": ReasoningDefault("always", 2400.0, True, _OPENAI_MEDIUM + "; " + _OPENAI_CARRY),
    "openai:gpt-5-mini": ReasoningDefault("always", 2400.0, True, _OPENAI_MEDIUM + "; " + _OPENAI_CARRY),
    "openai:gpt-5-nano": ReasoningDefault("always", 2400.0, True, _OPENAI_MEDIUM + "; " + _OPENAI_CARRY),
    "google:gemini-2.5-flash": ReasoningDefault(
        "default", DEFAULTS["google:gemini-2.5-flash"].reasoning_tokens, False,
        DEFAULTS["google:gemini-2.5-flash"].source + "; Gemini returns thought signatures, not thoughts: "
        "nothing is billed again when they are sent back (Gemini API 'Thinking' guide); read 2026-11"),
    "google:gemini-2.5-pro": ReasoningDefault(
        "default", 2900.0, False,
        "Gemini API 'Thinking' guide: 2.5 Pro thinks by default with a dynamic budget and cannot turn it "
        "off; no public per-call median was found, so costsim takes Gemini 2.5 Flash's derived ~2,900 "
        "(an assumption; Pro likely thinks more); read 2026-11"),
    **{ref: ReasoningDefault("opt_in", 0.0, True, _CLAUDE_THINKING) for ref in (
        "anthropic:claude-sonnet-4-0", "anthropic:claude-sonnet-4-5", "anthropic:claude-sonnet-4-6",
        "anthropic:claude-haiku-4-5", "anthropic:claude-opus-4-0", "anthropic:claude-opus-4-1",
        "anthropic:claude-opus-4-5", "anthropic:claude-opus-4-6")},
}


def reasoning_default(ref: str) -> ReasoningDefault | None:
    """The reasoning row of a canonical ref, or None for a model taken not to reason."""
    return REASONING.get(ref)
