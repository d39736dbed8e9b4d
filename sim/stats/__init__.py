"""Statistics of simulated tasks: summaries, intervals, paired comparisons, exact mergeable sums and quantile
sketches. Reads per-task columns or merged statistics; imports ``core`` only.
"""
