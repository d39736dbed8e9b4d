"""Every random number in costsim is a pure function of (seed, task, source, occurrence).

* ``seed`` is the run's seed;
* ``task`` is the task's index, 0 .. N-1;
* ``source`` is a stable name of what is being drawn, such as ``steps.tools.search.result``: the same in
  every alternative, so all alternatives see the same request sizes, tool results and failure draws
  (common random numbers), and never Python's salted ``hash``;
* ``occurrence`` tells apart the repeats of one source inside one task: the task re-run, the loop
  iteration(s), the call attempt and the escalation level that asked for it.

A uniform is made by mixing these integers with SplitMix64's finaliser (a strong 64-bit integer hash)
and keeping 53 bits. Nothing here has state that survives a call: there is no generator to advance, so
results cannot depend on the order in which tasks, chunks, workers or alternatives run.

:class:`BlockDraws` is the engine's view: it computes uniforms (and the values a distribution maps them
to) for a whole block of tasks at once, the first time any task of the block asks, and caches them.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from sim.core.seeds import SEEDS  # noqa: F401  (the seeds' range: exported here too, where it has always been)

_MASK64 = (1 << 64) - 1
_GOLDEN64 = 0x9E3779B97F4A7C15  # 2^64 / golden ratio: the SplitMix64 increment
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_TWO_TO_MINUS_53 = 2.0**-53
_TWO_TO_MINUS_54 = 2.0**-54


def source_key(source: str) -> int:
    """A stable 64-bit key for a source name (BLAKE2b, the same on every machine and Python run)."""
    return int.from_bytes(hashlib.blake2b(source.encode("utf-8"), digest_size=8).digest(), "little")


def _mix_int(x: int) -> int:
    """SplitMix64's finaliser on a Python int (scalar part of the key)."""
    x = (x + _GOLDEN64) & _MASK64
    x = ((x ^ (x >> 30)) * _MIX1) & _MASK64
    x = ((x ^ (x >> 27)) * _MIX2) & _MASK64
    return x ^ (x >> 31)


def _mix_array(x: np.ndarray, own: bool = False) -> np.ndarray:
    """The same finaliser on a uint64 array (wrapping arithmetic, as in C), on a new array, in place
    after the first step (one temporary instead of eight); ``own``: ``x`` is a temporary of the caller's,
    mixed in place."""
    x = np.add(x, _U_GOLDEN, out=x if own else None)
    _mix_rest(x, np.empty_like(x))
    return x


def _mix_rest(x: np.ndarray, shifted: np.ndarray) -> None:
    """The finaliser after its first step (the increment), in place in ``x``; ``shifted``: scratch of x's shape."""
    np.right_shift(x, _U30, out=shifted)
    np.bitwise_xor(x, shifted, out=x)
    np.multiply(x, _U_MIX1, out=x)
    np.right_shift(x, _U27, out=shifted)
    np.bitwise_xor(x, shifted, out=x)
    np.multiply(x, _U_MIX2, out=x)
    np.right_shift(x, _U31, out=shifted)
    np.bitwise_xor(x, shifted, out=x)


# The constants as NumPy scalars, made once (making one costs about as much as hashing a hundred uniforms).
_U10, _U27, _U30, _U31 = (np.uint64(shift) for shift in (10, 27, 30, 31))
_U_ONE, _U_GOLDEN, _U_MIX1, _U_MIX2 = np.uint64(1), np.uint64(_GOLDEN64), np.uint64(_MIX1), np.uint64(_MIX2)


@functools.lru_cache(maxsize=1 << 16)
def stream_key(seed: int, source: int, occurrence: tuple[int, ...]) -> int:
    """Fold seed, source key and occurrence into the 64-bit key of one stream of per-task uniforms.

    Remembered (a pure function of its arguments): every block of a run asks for the same streams, and
    folding a long occurrence in Python costs about as much as hashing a few hundred uniforms."""
    key = _mix_int((seed & _MASK64) ^ _mix_int(source))
    for index in occurrence:
        key = _mix_int(key ^ ((index + 1) * _GOLDEN64 & _MASK64))
    return key


def uniforms(seed: int, tasks: np.ndarray, source: int, occurrence: tuple[int, ...] = ()) -> np.ndarray:
    """Uniforms in the open interval (0, 1), one per task index in ``tasks``.

    >>> u = uniforms(42, np.arange(3), source_key("steps.plan.output"), (0, 0))
    >>> bool(np.all((u > 0) & (u < 1)))
    True
    """
    return uniforms_of_mixed(mixed_tasks(tasks), seed, source, occurrence)


def mixed_tasks(tasks: np.ndarray) -> np.ndarray:
    """The first half of :func:`uniforms`' hash, which depends on the task only: worth keeping for a
    block of tasks that draws many streams."""
    return _mix_array(np.asarray(tasks, dtype=np.uint64))


#: Uniforms hashed at a time by :func:`uniforms_of_mixed`: a chunk's two scratch arrays (256 KB each) stay in
#: the CPU's cache through the hash's dozen steps, where a whole block's would go to memory at every step
#: (at 10^6 tasks the hash takes about half the time; measured 2026-12 on the benchmark machine).
_CHUNK = 32_768


def uniforms_of_mixed(mixed: np.ndarray, seed: int, source: int, occurrence: tuple[int, ...] = (),
                      at: np.ndarray | None = None) -> np.ndarray:
    """:func:`uniforms` from :func:`mixed_tasks` of the task indices (the same values, bit for bit): of
    every task of ``mixed``, or of those at positions ``at`` only. A new array, the caller's to overwrite."""
    n = len(mixed) if at is None else len(at)
    if n <= _FEW:
        return _few_uniforms(mixed if at is None else mixed[at], stream_key(seed, source, occurrence))
    key = np.uint64(stream_key(seed, source, occurrence))
    u = np.empty(n)
    hashed = np.empty(min(n, _CHUNK), dtype=np.uint64)
    shifted = np.empty_like(hashed)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        x, scratch, out = hashed[:stop - start], shifted[:stop - start], u[start:stop]
        if at is None:
            np.bitwise_xor(mixed[start:stop], key, out=x)
        else:
            np.take(mixed, at[start:stop], out=x)
            np.bitwise_xor(x, key, out=x)
        np.add(x, _U_GOLDEN, out=x)
        _mix_rest(x, scratch)
        _to_unit(x, out)
    return u


#: Up to this many uniforms are hashed in Python, one at a time: the last retries of a block ask for a
#: handful, and a dozen NumPy calls cost more than hashing them one by one (about 1 us each).
_FEW = 8


def _few_uniforms(mixed: np.ndarray, key: int) -> np.ndarray:
    """:func:`uniforms_of_mixed` of a few tasks, in Python integers: the same finaliser (``_mix_int`` begins
    with the increment) and the same float arithmetic (k exact as a double, + 0.5 rounded to nearest, the
    power of two exact), so the same bits."""
    return np.array([((_mix_int(m ^ key) >> 11) + 0.5) * _TWO_TO_MINUS_53 for m in mixed.tolist()], dtype=np.float64)


def _to_unit(x: np.ndarray, out: np.ndarray) -> None:
    """The top 53 bits k of each hash in ``x`` (which it overwrites) as the uniform (k + 0.5) * 2^-53, into
    ``out``: (k + 0.5) * 2^-53 = (2k + 1) * 2^-54, and 2k + 1 is the top 54 bits with the lowest set.
    Converting 2k + 1 to a double rounds it exactly as adding 0.5 to the double k did (both round the same
    real number, 2k + 1 or k + 1/2, to 53 bits, to nearest even), and the scalings by powers of two are
    exact, so the bits are those of ``(float(k) + 0.5) * 2**-53``; 2k + 1 < 2^54 converts as a signed
    integer, which NumPy does faster than an unsigned one."""
    np.right_shift(x, _U10, out=x)
    np.bitwise_or(x, _U_ONE, out=x)
    out[...] = x.view(np.int64)
    out *= _TWO_TO_MINUS_54  # exact


class BlockDraws:
    """Draws for a block of tasks (given by their task ids), computed a whole block at a time.

    The engine asks for one task's value by the task's position in the block (its ``offset``); the first
    request for a (source, occurrence) pair computes it for every task of the block with one vectorised
    inverse-CDF call and keeps the result as a Python list, so later requests are a dictionary look-up
    and a list index. All alternatives of a run share one ``BlockDraws`` per block, so the work is done
    once however many alternatives there are.
    """

    __slots__ = ("seed", "task_ids", "n_tasks", "_cache", "_mixed")

    def __init__(self, seed: int, task_ids: np.ndarray) -> None:
        self.seed = seed
        self.task_ids = np.asarray(task_ids, dtype=np.uint64)
        self.n_tasks = len(self.task_ids)
        self._cache: dict[tuple, list] = {}
        self._mixed: np.ndarray | None = None

    def _uniforms(self, source: int, occurrence: tuple[int, ...]) -> np.ndarray:
        if self._mixed is None:
            self._mixed = mixed_tasks(self.task_ids)
        return uniforms_of_mixed(self._mixed, self.seed, source, occurrence)

    @classmethod
    def for_range(cls, seed: int, first_task: int, n_tasks: int) -> BlockDraws:
        """Tasks ``first_task .. first_task + n_tasks - 1``."""
        return cls(seed, np.arange(first_task, first_task + n_tasks, dtype=np.uint64))

    def uniform(self, offset: int, source: int, occurrence: tuple[int, ...]) -> float:
        """One task's uniform for a source and occurrence."""
        cache_key = (source, occurrence, None)
        column = self._cache.get(cache_key)
        if column is None:
            column = self._uniforms(source, occurrence).tolist()
            self._cache[cache_key] = column
        return column[offset]

    def value(self, offset: int, draw, occurrence: tuple[int, ...]) -> float | int:
        """One task's draw of a :class:`~sim.engine.des.plan.Draw` (its ``key`` names the uniforms, its
        ``value_key`` the uniforms and the distribution together) for an occurrence."""
        cache_key = (draw.value_key, occurrence)
        column = self._cache.get(cache_key)
        if column is None:
            u = self._uniforms(draw.key, occurrence)
            column = draw.dist.sample(u, integer=draw.integer).tolist()
            self._cache[cache_key] = column
        return column[offset]
