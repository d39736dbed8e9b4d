"""Provider tools: the server-side tools a model's provider runs and bills per call (web search, code
execution, file search), how the price catalog prices them, and which calls the provider bills.

A ``tool`` step that names a ``provider_tool`` is priced for the alternative's model: the catalog's
per-model price where it has one (genai-prices gives USD per 1,000 calls: ``web_searches_kcount``,
``code_executions_kcount``, ``storage_searches_kcount``), else the step's own ``cost_usd``. Whether a
failed call is billed is the provider's rule in :data:`FAILED_CALLS_BILLED`; each row names its source
and the date read.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOG_KEYS", "FAILED_CALLS_BILLED", "PROVIDER_TOOLS", "FailedCallRule", "failed_calls_billed"]

#: The provider tools a step may name.
PROVIDER_TOOLS = ("web_search", "code_execution", "file_search")
#: The catalog's price key of each (USD per 1,000 calls).
CATALOG_KEYS = {"web_search": "web_searches_kcount", "code_execution": "code_executions_kcount",
                "file_search": "storage_searches_kcount"}


@dataclass(frozen=True)
class FailedCallRule:
    """Whether a provider bills a tool call that errored, and where that came from."""

    billed: bool
    source: str


#: By provider. A provider not listed: failed calls are not billed (an assumption the README states).
FAILED_CALLS_BILLED: dict[str, FailedCallRule] = {
    "anthropic": FailedCallRule(False, "Anthropic, 'Web search tool' (pricing): $10 per 1,000 searches; a search "
                                       "that errors is not billed; read 2026-11"),
    "openai": FailedCallRule(False, "OpenAI pricing page, built-in tools: web search and file search billed "
                                    "per call made; an errored call returns no results and is taken as "
                                    "unbilled (not stated; assumption); read 2026-11"),
    "google": FailedCallRule(False, "Google AI pricing, grounding with Google Search: billed per grounded "
                                    "prompt (search query on Gemini 3); a failed grounding is taken as "
                                    "unbilled (not stated; assumption); read 2026-11"),
}


def failed_calls_billed(ref: str) -> bool:
    """Whether the provider of ``ref`` bills a provider tool's failed call."""
    rule = FAILED_CALLS_BILLED.get(ref.partition(":")[0])
    return False if rule is None else rule.billed
