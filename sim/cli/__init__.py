"""The ``costsim`` command: the only place that prints, exits or names a flag."""

from sim.cli.app import app, console, main

__all__ = ["app", "console", "main"]
