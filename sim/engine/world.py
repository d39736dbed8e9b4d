"""What tasks share while they run: the prompt cache's static head, rate limits, outage windows,
self-hosted servers and the concurrency limit.

One :class:`World` exists per alternative and per replication of the horizon, inside one SimPy
environment, so that tasks which overlap in time see each other: a call that refreshes the cached
system prompt helps the next task's call, a full minute of requests throttles the next one, a busy GPU
makes the next request queue.
"""

from __future__ import annotations

import bisect

import simpy

from sim.engine.plan import WorldPlan


class MinuteLimiter:
    """Requests and tokens per clock minute (minute m covers [60m, 60m + 60) seconds).

    A request is *reserved* in a minute, so no minute ever holds more than ``rpm`` requests or ``tpm``
    tokens. ``reserve`` finds the earliest minute, from now on, with room (the request waits for it);
    ``try_now`` only looks at the current minute (the request is rejected if it has no room). Minutes
    that are full are linked to the next one (a union-find with path halving), so a long backlog is
    skipped in near-constant time rather than scanned minute by minute.
    """

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self.rpm, self.tpm = rpm, tpm
        self.requests: dict[int, int] = {}
        self.tokens: dict[int, int] = {}
        self._next: dict[int, int] = {}  # full minute -> a later minute that may have room

    def _open_from(self, minute: int) -> int:
        while minute in self._next:
            after = self._next[minute]
            if after in self._next:
                self._next[minute] = self._next[after]
            minute = after
        return minute

    def _fits(self, minute: int, tokens: int) -> bool:
        if self.rpm is not None and self.requests.get(minute, 0) + 1 > self.rpm:
            return False
        return self.tpm is None or self.tokens.get(minute, 0) + tokens <= self.tpm

    def _take(self, minute: int, tokens: int) -> None:
        requests = self.requests[minute] = self.requests.get(minute, 0) + 1
        used = self.tokens[minute] = self.tokens.get(minute, 0) + tokens
        if (self.rpm is not None and requests >= self.rpm) or (self.tpm is not None and used >= self.tpm):
            self._next[minute] = minute + 1

    def can_ever_fit(self, tokens: int) -> bool:
        return self.tpm is None or tokens <= self.tpm

    def reserve(self, now_s: float, tokens: int) -> float:
        """Reserve the earliest minute with room; return when the request may start (>= now)."""
        minute = self._open_from(int(now_s // 60))
        while not self._fits(minute, tokens):
            minute = self._open_from(minute + 1)
        self._take(minute, tokens)
        return max(now_s, minute * 60.0)

    def try_now(self, now_s: float, tokens: int) -> bool:
        """Take room in the current minute if there is any."""
        minute = int(now_s // 60)
        if not self._fits(minute, tokens):
            return False
        self._take(minute, tokens)
        return True


class Server:
    """A self-hosted deployment: ``max_concurrency`` request slots and a tally of its busy time."""

    def __init__(self, env: simpy.Environment, spec) -> None:
        self.spec = spec
        self.slots = simpy.Resource(env, capacity=spec.max_concurrency)
        self.busy_s = 0.0
        self.last_end_s = 0.0  # when its last request finished

    def service_s(self, input_tokens: int, output_tokens: int) -> float:
        return input_tokens / self.spec.prefill_tokens_per_s + output_tokens / self.spec.decode_tokens_per_s


class World:
    """The shared state of one alternative over one replication (or of one isolated task block)."""

    def __init__(self, env: simpy.Environment, plan: WorldPlan, trace: list | None = None) -> None:
        self.env = env
        self.plan = plan
        self.shared = plan.shared
        self.system_cache: dict[str, float] = {}  # model ref -> expiry time of the cached system prompt
        self.limiters = {ref: MinuteLimiter(limit.rpm, limit.tpm) for ref, limit in plan.limits.items()}
        self.servers = {ref: Server(env, spec) for ref, spec in plan.self_hosted.items()}
        self.concurrency = simpy.Resource(env, capacity=plan.concurrency) if plan.concurrency else None
        self._outage_starts = {ref: [w[0] for w in windows] for ref, windows in plan.outages.items()}
        self.trace = trace

    def outage_error_rate(self, ref: str, now_s: float) -> float:
        """The error rate of ``ref`` at ``now_s``: that of the latest window containing it, else 0."""
        starts = self._outage_starts.get(ref)
        if not starts:
            return 0.0
        windows = self.plan.outages[ref]
        for index in range(bisect.bisect_right(starts, now_s) - 1, -1, -1):
            start_s, end_s, rate = windows[index]
            if start_s <= now_s < end_s:
                return rate
        return 0.0
