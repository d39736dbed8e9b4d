"""The ``costsim`` command: the only place that prints, exits or names a flag.

:func:`console`, the executable's entry point, is defined here and imports the command line
(:mod:`sim.cli.program`: typer, rich, the commands) only when it runs, inside its handling of Ctrl-C: a
Ctrl-C while those modules load (the first tenth of a second of every command) ends the command with
"aborted" and exit code 130, as one later does, instead of a traceback. ``app`` (the typer application)
and ``main`` load on first use. For ``costsim run`` it first forks the run's plot helper
(:func:`sim.output.plot_helper.start_ahead`), which loads matplotlib while the command line loads.
"""

import importlib
import os
import sys

from sim.cli.argv import starts_a_run
from sim.cli.exits import EXIT_INTERRUPTED

__all__ = ["app", "console", "main"]


def console() -> None:
    """The ``costsim`` executable: :func:`sim.cli.program.console` (the command, then the process ends at once)."""
    try:
        if starts_a_run(sys.argv):
            # The plot helper's matplotlib (half a second) is the longest road of a default run: started
            # here, it loads while typer, rich and the commands do (0.07 s sooner than from main).
            from sim.output.plot_helper import start_ahead

            start_ahead()
        from sim.cli.program import console as run_command
    except KeyboardInterrupt:  # before the command line could handle it: nothing is written
        if "sim.output.plot_helper" in sys.modules:
            sys.modules["sim.output.plot_helper"].stop_all()
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
