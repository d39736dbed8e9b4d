"""The exit codes of a command stopped by a signal: 128 + the signal's number, as a shell reports it.

A module of its own, with nothing heavy to import, so that the executable's entry point (:func:`sim.cli.console`)
and the command line (:mod:`sim.cli.program`) share them.
"""

import signal

#: Ctrl-C (SIGINT): "aborted".
EXIT_INTERRUPTED = 128 + signal.SIGINT
#: SIGTERM: "terminated".
EXIT_TERMINATED = 128 + signal.SIGTERM
