"""Prompt caching as providers bill it.

A provider caches a *prefix* of a request's input once it is at least ``min_prefix_tokens`` long; a
later request that starts with a cached prefix reads those tokens at the cache-read price, and every use
refreshes the entry's time to live. An agent's calls reuse three prefixes, each a prefix of the next:

* the **system prompt**, the same text at the start of every call of every task: with ``traffic`` it
  is shared across tasks, so its hit rate depends on how often calls arrive (1 − e^(−λτ) for Poisson
  calls at rate λ and a TTL τ);
* the **head** of one task, system prompt plus the user's request, at the start of each of its calls;
* the **conversation**: with ``history: full`` each call's input starts with the previous call's input
  (the transcript only grows), so the next call of the same task on the same model reads that prefix.

Whatever a call sends beyond the cached prefix is written (billed at the cache-write price where the
provider has one, at the input price where it does not): the whole input for a full-history call, the
head for any other call, as a developer who marks cache breakpoints would do.

Each model follows its own rules (:class:`sim.engine.plan.ModelCache`, from the provider rules table
:mod:`sim.core.providers`): its minimum prefix, its TTL, and its increment: OpenAI reads a cached prefix
in whole steps of 128 tokens above its 1,024-token minimum, so a cached prefix of 1,300 tokens reads
1,024 + 2 x 128 = 1,280 and the other 20 are billed (and written) as uncached input.
"""

from __future__ import annotations

import numpy as np

from sim.core.tokenizers import scale_tokens, scale_tokens_array
from sim.engine.plan import CachePlan


def use(cache: CachePlan, state, ref: str, input_tokens: int, full_history: bool, now_s: float,
        found: bool = True, ratio: float = 1.0) -> tuple[int, int]:
    """Look up, refresh and write ``state``'s cache entries for one attempt on model ``ref``.

    ``state`` holds ``system_tokens`` and ``head_tokens`` (system + user), ``system_cache`` (model ->
    expiry; shared by all tasks with traffic), ``head_cache`` (model -> expiry) and ``conversation_cache``
    (model -> (prefix tokens, expiry)), the last two this task's own. Returns the tokens read from the
    cache and the tokens written to it. ``input_tokens`` is in the model's tokens; the head and system
    sizes are scaled by ``ratio`` (the model's tokens per reference token) to match.
    """
    minimum, ttl_s = cache.min_prefix_tokens, cache.ttl_s
    cached_tokens = 0
    entry = state.conversation_cache.get(ref) if full_history else None
    if entry is not None and now_s <= entry[1] and entry[0] <= input_tokens:
        cached_tokens = entry[0]
    head_tokens = scale_tokens(state.head_tokens, ratio)
    for size, store in ((head_tokens, state.head_cache), (scale_tokens(state.system_tokens, ratio),
                                                          state.system_cache)):
        if size >= minimum:
            expiry_s = store.get(ref)
            if expiry_s is not None and now_s <= expiry_s and size > cached_tokens:
                cached_tokens = size
            store[ref] = now_s + ttl_s  # written or refreshed: every call starts with this prefix
    step = cache.increment_tokens
    if step > 1 and cached_tokens:  # the provider reads whole increments above its minimum
        cached_tokens = minimum + (cached_tokens - minimum) // step * step
    if not found:  # the cache had the prefix, but this request did not find it (hit_probability)
        cached_tokens = 0
    if full_history and input_tokens >= minimum:
        state.conversation_cache[ref] = (input_tokens, now_s + ttl_s)
        return cached_tokens, input_tokens - cached_tokens
    written_to = head_tokens if head_tokens >= minimum else 0
    return cached_tokens, max(written_to - cached_tokens, 0)


class TaskCaches:
    """Each task's own prompt-cache entries, per model, as arrays: :func:`use` for many tasks at once
    (the vectorised engine's caches).

    Without traffic nothing is shared between tasks, so the system prompt's entry is the task's own too.
    An entry that was never written has expiry NaN, which no time is at or before.
    """

    def __init__(self, cache, system_tokens: np.ndarray, head_tokens: np.ndarray) -> None:
        self.cache = cache
        self.system, self.head = system_tokens, head_tokens
        self.n = len(head_tokens)
        self.system_expiry: dict[str, np.ndarray] = {}
        self.head_expiry: dict[str, np.ndarray] = {}
        self.conversation: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # model -> (prefix tokens, expiry)

    def _expiry(self, store: dict, ref: str) -> np.ndarray:
        if ref not in store:
            store[ref] = np.full(self.n, np.nan)
        return store[ref]

    def new_run(self, idx: np.ndarray) -> None:
        """A re-run starts a new conversation: its prefix entries are gone (head and system stay)."""
        for tokens, expiry in self.conversation.values():
            tokens[idx] = -1
            expiry[idx] = np.nan

    def use(self, ref: str, idx: np.ndarray, input_tokens: np.ndarray, full_history: bool, now_s: np.ndarray,
            found: np.ndarray | None = None, ratio: float = 1.0, rule=None):
        """Cache reads and writes of one attempt on ``ref`` for tasks ``idx`` (arrays aligned with ``idx``);
        ``found``: which attempts find a prefix that is cached (None: all); ``rule``: the model's
        :class:`~sim.engine.plan.ModelCache` (None: the cache plan's own fields)."""
        rule = self.cache if rule is None else rule
        minimum, ttl_s = rule.min_prefix_tokens, rule.ttl_s
        cached = np.zeros(len(idx), dtype=np.int64)
        if full_history:
            if ref not in self.conversation:
                self.conversation[ref] = (np.full(self.n, -1, dtype=np.int64), np.full(self.n, np.nan))
            prefix, prefix_expiry = self.conversation[ref]
            entry = prefix[idx]  # gathered once for the three uses below
            hit = (entry >= 0) & (now_s <= prefix_expiry[idx]) & (entry <= input_tokens)
            cached = np.where(hit, entry, 0)
        for sizes, store in ((self.head, self.head_expiry), (self.system, self.system_expiry)):
            size = scale_tokens_array(sizes[idx], ratio)
            long_enough = size >= minimum
            if not long_enough.any():
                continue
            expiry = self._expiry(store, ref)
            hit = long_enough & (now_s <= expiry[idx]) & (size > cached)
            cached = np.where(hit, size, cached)
            expiry[idx[long_enough]] = now_s[long_enough] + ttl_s
        step = rule.increment_tokens
        if step > 1:  # the provider reads whole increments above its minimum
            cached = np.where(cached != 0, minimum + (cached - minimum) // step * step, 0)
        if found is not None:
            cached = np.where(found, cached, 0)
        head = scale_tokens_array(self.head[idx], ratio)
        written = np.maximum(np.where(head >= minimum, head, 0) - cached, 0)
        if full_history:
            whole = input_tokens >= minimum
            prefix[idx[whole]] = input_tokens[whole]
            prefix_expiry[idx[whole]] = now_s[whole] + ttl_s
            written = np.where(whole, input_tokens - cached, written)
        return cached, written
