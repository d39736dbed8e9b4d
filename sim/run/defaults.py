"""How big a run is when its caller does not say: tasks, replications, blocks, chunks, and what is kept.

Plain numbers with no imports, so that the command line can show them in ``--help`` without loading the
simulation. :mod:`sim.run.simulation` and :mod:`sim.run.precision` use them and export them under the same
names.
"""

DEFAULT_TASKS = 10_000
DEFAULT_REPLICATIONS = 20
DEFAULT_BLOCK_TASKS = 1_000
#: Tasks per chunk: the unit of work sent to a worker, and where --precision checks its rule.
DEFAULT_CHUNK_TASKS = 10_000
#: Above this many tasks a run keeps no per-task columns, only merged statistics (None: always keep).
EXACT_TASKS_LIMIT = 1_000_000
#: Without per-task columns, the costs of tasks 0 .. SAMPLE_TASKS - 1 are kept for the plot.
SAMPLE_TASKS = 100_000
#: With --precision: the fewest and the most tasks a run simulates.
DEFAULT_MIN_TASKS = 10_000
DEFAULT_MAX_TASKS = 1_000_000
