"""A mergeable quantile sketch: a fixed log-linear histogram of non-negative values.

Quantiles of 10 million costs need not keep 10 million costs. The positive numbers are cut into fixed
bins, the same for every chunk of every run, and only the count of each bin is kept: merging two sketches
adds their counts, which is exact integer arithmetic, so the merged sketch is the same whatever the
chunking and the order of the merges (and so are the quantiles read from it).

The bins are those of HdrHistogram (and close to DDSketch's): each binade [2^e, 2^(e+1)) is cut into
:data:`SUB_BINS` equal parts. A value's bin comes from ``np.frexp`` (its exponent and mantissa) and one
multiplication by a power of two, with no logarithm, so every machine puts every value in the same bin.
A bin's width is at most 1/SUB_BINS of its lower edge, and the sketch answers with the bin's middle, so
a reported order statistic is within half that, :data:`RELATIVE_ERROR` (0.1%), of the true one. Zeros
are counted apart; the exact minimum and maximum are kept, and answers are clamped to them.

A quantile is read as ``np.quantile`` reads sorted values (its default, linear interpolation between
the order statistics at ranks ⌊h⌋ and ⌊h⌋ + 1, h = (n − 1)·q), from the order statistics the bins
give, so it is within :data:`RELATIVE_ERROR` of ``np.quantile`` of the values themselves.
"""

from __future__ import annotations

import numpy as np

#: Equal parts of each binade [2^e, 2^(e+1)); a power of two, so bin edges are exact floats.
SUB_BINS = 512
#: Largest relative error of a reported order statistic: half the widest bin over its lower edge.
RELATIVE_ERROR = 1 / (2 * SUB_BINS)
_DENSE_RANGE = 1 << 20  # count with np.bincount when the bins of a chunk span fewer than this


def bin_index(values: np.ndarray) -> np.ndarray:
    """The bin of each positive value: exponent · SUB_BINS + part of the binade (int64)."""
    mantissa, exponent = np.frexp(values)  # values = mantissa · 2**exponent, 0.5 <= mantissa < 1
    part = np.floor((mantissa - 0.5) * (2 * SUB_BINS)).astype(np.int64)  # 0 .. SUB_BINS - 1, exactly
    return exponent.astype(np.int64) * SUB_BINS + part


def bin_middle(index: np.ndarray) -> np.ndarray:
    """The middle of each bin, the value the sketch answers with."""
    exponent, part = np.divmod(np.asarray(index, dtype=np.int64), SUB_BINS)
    low = np.ldexp(0.5 + part / (2 * SUB_BINS), exponent.astype(np.int32))
    return low * (1 + 1 / (2 * SUB_BINS + 2 * part))  # low + half the width (width = 2**exponent / (2*SUB_BINS))


class LogHistogram:
    """Counts of non-negative values in fixed log-linear bins, plus the count of zeros, min and max."""

    __slots__ = ("bins", "counts", "zeros", "n", "min", "max")

    def __init__(self, bins: np.ndarray | None = None, counts: np.ndarray | None = None, zeros: int = 0,
                 minimum: float = float("inf"), maximum: float = float("-inf")) -> None:
        self.bins = np.zeros(0, dtype=np.int64) if bins is None else bins  # sorted, distinct
        self.counts = np.zeros(0, dtype=np.int64) if counts is None else counts
        self.zeros = zeros
        self.n = zeros + int(self.counts.sum())
        self.min, self.max = minimum, maximum

    @classmethod
    def of(cls, values: np.ndarray) -> LogHistogram:
        """The sketch of ``values`` (finite, non-negative)."""
        x = np.asarray(values, dtype=np.float64).ravel()
        if x.size and not (np.isfinite(x).all() and x.min() >= 0):
            raise ValueError("LogHistogram: values must be finite and non-negative")
        positive = x[x > 0]
        index = bin_index(positive)
        if index.size and int(index.max()) - int(index.min()) < _DENSE_RANGE:  # the usual case: counting is faster
            lowest = int(index.min())
            dense = np.bincount(index - lowest)
            bins = np.flatnonzero(dense)
            bins, counts = bins + lowest, dense[bins]
        else:
            bins, counts = np.unique(index, return_counts=True)
        return cls(bins.astype(np.int64), counts.astype(np.int64), int(x.size - positive.size),
                   float(x.min()) if x.size else float("inf"), float(x.max()) if x.size else float("-inf"))

    def merge(self, other: LogHistogram) -> LogHistogram:
        """A new sketch of both sets of values: counts added bin by bin."""
        bins, inverse = np.unique(np.concatenate([self.bins, other.bins]), return_inverse=True)
        counts = np.zeros(len(bins), dtype=np.int64)
        np.add.at(counts, inverse, np.concatenate([self.counts, other.counts]))
        return LogHistogram(bins, counts, self.zeros + other.zeros, min(self.min, other.min),
                            max(self.max, other.max))

    def order_statistics(self, ranks: np.ndarray) -> np.ndarray:
        """The values at 0-based ranks of the sorted values, as the bins give them (clamped to min/max)."""
        ranks = np.asarray(ranks, dtype=np.int64)
        if self.n == 0 or (ranks < 0).any() or (ranks >= self.n).any():
            raise IndexError(f"ranks must lie in 0 .. {self.n - 1}")
        ends = self.zeros + np.cumsum(self.counts)  # values in bins[: i + 1] have ranks below ends[i]
        where = np.searchsorted(ends, ranks, side="right")
        middles = bin_middle(self.bins[np.minimum(where, len(self.bins) - 1)]) if len(self.bins) else 0.0
        out = np.where(ranks < self.zeros, 0.0, np.clip(middles, self.min, self.max))
        out = np.where(ranks == 0, self.min, np.where(ranks == self.n - 1, self.max, out))  # known exactly
        return np.asarray(out, dtype=np.float64)

    def quantile(self, q: float) -> float:
        """The q-quantile as ``np.quantile`` (linear interpolation) would give it, from the bins."""
        h = (self.n - 1) * q
        below = int(np.floor(h))
        above = min(below + 1, self.n - 1)
        low, high = self.order_statistics(np.array([below, above]))
        return float(low + (h - below) * (high - low))
