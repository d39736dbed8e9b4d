"""Running tasks: the runtime plan and its compiler, the rules both engines share, the SimPy engine, the
vectorised engine and the world that tasks share. Imports ``spec`` and ``core``.
"""
