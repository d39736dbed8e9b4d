"""The ``costsim`` command: the only place that prints, exits or names a flag."""

from sim.cli.app import app, main

__all__ = ["app", "main"]
