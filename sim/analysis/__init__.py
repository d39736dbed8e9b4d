"""Questions asked of many runs: stress sweeps, sensitivity, self-hosting break-even. Each returns plain
data; presenting it is ``output``'s job. Imports ``run``, ``stats``, ``spec``, ``core``.
"""
