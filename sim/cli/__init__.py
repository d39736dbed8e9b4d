"""The ``costsim`` command: the only place that prints, exits or names a flag.

:func:`console`, the executable's entry point, is defined here and imports the command line
(:mod:`sim.cli.program`: typer, rich, the commands) only when it runs, inside its handling of Ctrl-C: a
Ctrl-C while those modules load (the first tenth of a second of every command) ends the command with
"aborted" and exit code 130, as one later does, instead of a traceback. ``app`` (the typer application)
and ``main`` load on first use.
"""

import importlib
import os
import sys

from sim.cli.exits import EXIT_INTERRUPTED

__all__ = ["app", "console", "main"]


def console() -> None:
    """The ``costsim`` executable: :func:`sim.cli.program.console` (the command, then the process ends at once)."""
    try:
        from sim.cli.program import console as run_command
    except KeyboardInterrupt:  # before the command line could handle it: nothing has started, nothing is written
        print("aborted", file=sys.stderr)
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    run_command()


def __getattr__(name: str):
    if name in ("app", "main"):
        value = getattr(importlib.import_module("sim.cli.program"), name)
        globals()[name] = value  # later uses skip this function
        return value
    raise AttributeError(f"module 'sim.cli' has no attribute {name!r}")
