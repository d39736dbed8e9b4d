"""What the executable reads of its command line before typer parses it (:func:`sim.cli.console` and
:func:`sim.cli.program.main` both ask, without importing each other)."""

from __future__ import annotations


def starts_a_run(argv: list[str]) -> bool:
    """Whether the command line ``argv`` runs a simulation that draws a plot (``costsim run``, not its help):
    the command for which a plot helper is started before the arguments are parsed
    (:func:`sim.output.plot_helper.start_ahead`)."""
    return argv[1:2] == ["run"] and "--help" not in argv
