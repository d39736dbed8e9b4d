"""The workflow file: pydantic models of every key, the loader with located errors, cross-field checks and
the starting templates of ``costsim init``. Passive data: nothing here runs a simulation. Imports ``core``.
"""
