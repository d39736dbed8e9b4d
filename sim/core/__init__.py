"""The bottom layer: what every other layer shares and that depends on nothing else of costsim.

Errors, the per-task record schema, randomness, prices, provider figures, number formats and atomic file
writes. Nothing here imports another layer of ``sim``.
"""
