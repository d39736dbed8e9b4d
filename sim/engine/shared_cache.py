"""The system prompt's cache entry that tasks share under ``traffic``, resolved from the calls' times.

Every call of every task on a model refreshes one shared entry, the system prompt's (when it is at least
``min_prefix_tokens`` long; :mod:`sim.engine.caching`). A call finds it warm when the entry's expiry,
set by the *previous* call on that model (whichever task made it) to that call's time plus the TTL, is
at or after its own time. So the only thing tasks share through the cache is a question of gaps: sort
the calls on each model by time, and each call's answer is its predecessor's time plus the TTL, compared
with its own time. Cache lookups change what a call costs, never when anything happens, so the calls'
times can be found first (a run that looks nothing up) and the costs second (a run that looks each call
up in the sorted times).

:class:`SharedSystemStore` is that entry for one model, as the vectorised engine's
:class:`~sim.engine.caching.TaskCaches` reads and writes it (``expiry[idx]`` before a call,
``expiry[idx] = now + ttl`` after): while *recording* it notes every refresh (which task, at what time)
and reads as cold; once :meth:`SharedSystemStore.freeze` has sorted what was recorded it reads, for each
task asking, the expiry the previous refresh before that task's clock left. :class:`SharedCaches` is
TaskCaches with that store in place of each task's own system entry.

Two refreshes at the same instant would make the answer depend on which the SimPy engine processed
first; :meth:`SharedSystemStore.freeze` reports them (``False``) and the caller runs the SimPy engine.
"""

from __future__ import annotations

import numpy as np

from sim.engine.caching import TaskCaches


class SharedSystemStore:
    """One model's shared system-prompt entry: records refreshes, then answers lookups by time.

    ``clock`` is the block's array of task clocks: a lookup for tasks ``idx`` happens at ``clock[idx]``
    (the time the vectorised engine passes to the cache), so indexing needs no other argument.
    """

    def __init__(self, clock: np.ndarray, ttl_s: float) -> None:
        self.clock, self.ttl_s = clock, ttl_s
        self._positions: list[np.ndarray] = []
        self._times_s: list[np.ndarray] = []
        self.times_s: np.ndarray | None = None  # sorted refresh times, once frozen
        self.expiries_s: np.ndarray | None = None  # the expiry each of them set

    # -- the protocol TaskCaches uses: expiry[idx] and expiry[idx] = values --------------------------------
    def __getitem__(self, idx) -> np.ndarray:
        now_s = self.clock[idx]
        if self.times_s is None:  # recording: every lookup is cold (its cost is not kept)
            return np.full(np.shape(now_s), np.nan)
        before = np.searchsorted(self.times_s, now_s, side="left") - 1  # the last refresh strictly before
        expiry_s = self.expiries_s[np.maximum(before, 0)]
        return np.where(before >= 0, expiry_s, np.nan)

    def __setitem__(self, idx, expiry_s) -> None:
        if self.times_s is None:
            self.record(np.asarray(idx), self.clock[idx])

    # -- recording -----------------------------------------------------------------------------------------
    def record(self, positions: np.ndarray, times_s: np.ndarray) -> None:
        self._positions.append(np.array(positions, dtype=np.int64))
        self._times_s.append(np.array(times_s, dtype=np.float64))

    def recorded(self) -> tuple[np.ndarray, np.ndarray]:
        """Every refresh recorded so far: (task positions, times)."""
        if not self._positions:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(self._positions), np.concatenate(self._times_s)

    def freeze(self, times_s: np.ndarray | None = None) -> bool:
        """Sort the refreshes (those recorded, or ``times_s``) and answer lookups from them from now on.
        False when two share an instant (the SimPy engine's event order would decide between them)."""
        if times_s is None:
            times_s = self.recorded()[1]
        times_s = np.sort(times_s)
        self.times_s = times_s
        self.expiries_s = times_s + self.ttl_s  # as the SimPy engine computes each expiry: now + TTL
        return not bool(np.any(times_s[1:] == times_s[:-1]))


class SharedCaches(TaskCaches):
    """Each task's own head and conversation entries (as :class:`TaskCaches`), and the system prompt's
    entry shared by all tasks of the block: a :class:`SharedSystemStore` per model."""

    def __init__(self, cache, system_tokens: np.ndarray, head_tokens: np.ndarray, clock: np.ndarray,
                 frozen: dict[str, np.ndarray] | None = None) -> None:
        super().__init__(cache, system_tokens, head_tokens)
        self.clock = clock
        self.stores: dict[str, SharedSystemStore] = {}
        self.distinct = True  # no two refreshes of one model at the same instant
        for ref, times_s in (frozen or {}).items():
            self.distinct &= self._store(ref).freeze(times_s)
        self.frozen = frozen is not None

    def _store(self, ref: str) -> SharedSystemStore:
        store = self.stores.get(ref)
        if store is None:
            rule = self.cache.rule(ref) or self.cache  # the model's own TTL under the provider rules
            store = self.stores[ref] = SharedSystemStore(self.clock, rule.ttl_s)
            if getattr(self, "frozen", False):  # a model no recorded call refreshed: always cold
                store.freeze(np.zeros(0))
        return store

    def _expiry(self, store: dict, ref: str):
        if store is self.system_expiry:
            return self._store(ref)
        return super()._expiry(store, ref)
