"""Prompt caching as providers bill it.

A provider caches a *prefix* of a request's input once it is at least ``min_prefix_tokens`` long; a
later request that starts with a cached prefix reads those tokens at the cache-read price, and every use
refreshes the entry's time to live. costsim models the two prefixes an agent reuses:

* the **static head**, the system prompt, the same text at the start of every call of every task: it is
  shared across tasks (with ``traffic``), so its hit rate depends on how often calls arrive;
* the **conversation**: with ``history: full`` each call's input starts with the previous call's input
  (the transcript only grows), so the next call of the same task on the same model reads that prefix.

Whatever a call sends beyond the cached prefix is written (billed at the cache-write price where the
provider has one, at the input price where it does not): the whole input for a full-history call, only
the head for any other call, as a developer who marks cache breakpoints would do.
"""

from __future__ import annotations

from sim.plan import CachePlan


def use(cache: CachePlan, state, ref: str, input_tokens: int, head_tokens: int, full_history: bool,
        now_s: float) -> tuple[int, int]:
    """Look up, refresh and write ``state``'s cache entries for one attempt on model ``ref``.

    ``state`` holds ``head_cache`` (model -> expiry, shared by all tasks when traffic is on) and
    ``conversation_cache`` (model -> (prefix tokens, expiry), this task's own). Returns the tokens read
    from the cache and the tokens written to it.
    """
    cached_tokens = 0
    entry = state.conversation_cache.get(ref) if full_history else None
    if entry is not None and now_s <= entry[1] and entry[0] <= input_tokens:
        cached_tokens = entry[0]
    head_cacheable = head_tokens >= cache.min_prefix_tokens
    if head_cacheable:
        expiry_s = state.head_cache.get(ref)
        if expiry_s is not None and now_s <= expiry_s and head_tokens > cached_tokens:
            cached_tokens = head_tokens
        state.head_cache[ref] = now_s + cache.ttl_s  # written or refreshed
    if full_history and input_tokens >= cache.min_prefix_tokens:
        state.conversation_cache[ref] = (input_tokens, now_s + cache.ttl_s)
        return cached_tokens, input_tokens - cached_tokens
    if head_cacheable and cached_tokens < head_tokens:
        return cached_tokens, head_tokens - cached_tokens
    return cached_tokens, 0
