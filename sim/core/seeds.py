"""The seeds a run accepts, apart from the randomness they key (:mod:`sim.core.randomness`), so that the
command line can state the range in ``--help`` without loading NumPy."""

#: Seeds are the whole numbers 0 <= seed < SEEDS: the 64 bits that key every stream. A larger (or a
#: negative) seed would wrap onto a smaller one's numbers, so simulate and --seed refuse it.
SEEDS = 1 << 64
