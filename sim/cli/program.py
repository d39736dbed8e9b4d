"""The ``costsim`` command: a thin typer layer over the library.

This is the only module that prints or exits. Library errors (:class:`~sim.core.errors.CostsimError`) are
converted here, once, into a message on stderr and exit code 2; a
:class:`~sim.core.errors.ParameterError` names the library's parameters, which the message shows as the
flags that feed them (:data:`FLAG_OF_PARAMETER`). With ``--format json`` or ``csv`` stdout
holds only that output; tables, notes and file lists go to stdout only in table format, and anything
else (progress, where files went) to stderr.

Exit codes: 0 success (also when the reader of stdout left early: ``costsim run ... | head``); 1 a failure
of writing the output (a full disk, no permission: :class:`~sim.core.errors.OutputError`, one line naming
the path; the summary is still printed when it was computed); 2 bad input; 130 interrupted (Ctrl-C:
"aborted"); 143 terminated (SIGTERM: "terminated"). Both signals take the same orderly path: the first
one raises an exception in the main thread (:class:`KeyboardInterrupt`, :class:`Terminated`), so every
``with`` and ``finally`` runs (a half-written file's temporary is removed, the worker pool is terminated
and waited for); later ones are ignored while that cleanup runs. Before exiting, the fork server and
resource tracker are stopped too, so no process outlives the command.
"""

# No `from __future__ import annotations` in a module of commands: typer reads every command's annotations
# at each start, and evaluates string annotations twice per command (typer.utils.get_params_from_function):
# 15 to 20 ms of every command (issue 14; benchmarks/README.md). tests/test_fast_paths.py holds it.

import gc
import os
import signal
import sys
import threading
from typing import Annotated

import typer

# isort: off
from sim.cli import runs, analyses, calibration  # noqa: F401  (each registers its commands, in this order, for --help)
# isort: on
from sim.cli.argv import starts_a_run
from sim.cli.exits import EXIT_INTERRUPTED, EXIT_TERMINATED
from sim.cli.shared import FLAG_OF_PARAMETER, app, error_message, stderr, stdout
from sim.core.errors import CostsimError

__all__ = ["FLAG_OF_PARAMETER", "Terminated", "app", "error_message", "main"]

#: Container objects allocated between two collections of the youngest generation while a command runs
#: (CPython's default: 700). Start-up (importing the spec, building its pydantic schema, reading the price
#: catalog, reading the file) makes about 100,000 long-lived objects and almost no garbage: with the
#: default, 140 young and 12 middle collections and a full one scan them again and again, 35 ms of a
#: validate's 0.2 s above the imports (issue 14). Cycles are still collected, after at most this many new
#: objects instead of 700. Workers start from the fork server's fresh interpreter, with the default.
GC_YOUNG_THRESHOLD = 100_000


class Terminated(BaseException):
    """SIGTERM, raised in the main thread. A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` swallows it; typer lets it through (it converts only KeyboardInterrupt)."""


@app.callback(invoke_without_command=True)
def _version(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        from sim.core.version import __version__

        stdout.print(f"costsim {__version__}")
        raise typer.Exit()


def main() -> None:
    """Entry point: run the app, turning every CostsimError into a message and exit code 2, Ctrl-C into
    "aborted" and exit code 130, SIGTERM into "terminated" and exit code 143."""
    previous = _handle_signals()
    thresholds = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
    try:
        if starts_a_run(sys.argv):
            from sim.output.plot_helper import start_ahead

            start_ahead()  # (the executable started it already) matplotlib loads while typer parses the arguments
        code = app(standalone_mode=False)
        sys.stdout.flush()  # here, not at exit: a full or closed stdout is reported like any failure
        # Without standalone mode typer returns the exit code of a typer.Exit, and turns a
        # KeyboardInterrupt into typer.Exit(130): returned, not raised.
        if code == EXIT_INTERRUPTED:
            raise KeyboardInterrupt
        if type(code) is int and code != 0:
            sys.exit(code)
    except CostsimError as exc:
        # The message quotes the user's file: print it as plain text, never as rich markup or emoji.
        stderr.print("[bold red]error[/]: ", end="", highlight=False)
        stderr.print(error_message(exc), markup=False, emoji=False, highlight=False, soft_wrap=True)
        _flush_quietly()
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # the reader of stdout left (costsim run ... | head): what it wanted, it has
        _drop_stdout()
        sys.exit(0)
    except SystemExit as exc:  # typer turns a broken pipe into exit 1; here it is exit 0, as above
        if isinstance(exc.__context__, BrokenPipeError):
            _drop_stdout()
            sys.exit(0)
        raise
    except OSError as exc:  # writing stdout failed (a full disk: > /dev/full), or another file unforeseen
        _drop_stdout()
        where = exc.filename if isinstance(exc.filename, str) else "standard output"
        stderr.print(f"[bold red]error[/]: {where}: could not write: {exc.strerror or exc}", highlight=False,
                     markup=True, emoji=False, soft_wrap=True)
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        _show_usage_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        stderr.print("aborted", highlight=False)
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        stderr.print("terminated", highlight=False)
        sys.exit(EXIT_TERMINATED)
    finally:
        gc.set_threshold(*thresholds)
        _restore_signals(previous)
        if "sim.output.plot_helper" in sys.modules:  # a command that never loaded these started no process
            sys.modules["sim.output.plot_helper"].stop_all()
        if "sim.run.executor" in sys.modules:
            sys.modules["sim.run.executor"].stop_helpers()


def console() -> None:
    """The ``costsim`` executable: :func:`main`, then the process ends at once with its exit code.

    By then :func:`main` has flushed its output and stopped every process it started (the plot helper, the
    workers, the fork server and the resource tracker), and its files are complete on disk: what is left
    is the interpreter's teardown, which frees every object of NumPy, SciPy, pydantic and the catalog one
    by one, about 0.2 s of a command that takes one (a user's whole ``costsim validate`` is half a second).
    ``os._exit`` skips it. Where something else must run at exit (coverage measuring this process), or
    :func:`main` did not end normally (a traceback to print), the usual exit instead."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if "coverage" in sys.modules:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # what sys.exit("message") does: the message on stderr, status 1
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _flush_quietly() -> None:
    """Flush stdout before an error exit; if it cannot be written, drop what is left (the error is said)."""
    try:
        sys.stdout.flush()
    except OSError:
        _drop_stdout()


def _drop_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush of what could not be written
    neither fails nor prints a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a file (a test's capture): nothing to drop
        pass


def _on_signal(signum: int, frame) -> None:
    """The first SIGINT or SIGTERM raises in the main thread; later ones are ignored while cleanup runs."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated


def _handle_signals() -> dict | None:
    """Install :func:`_on_signal` for SIGINT and SIGTERM; return the previous handlers (None when this is
    not the main thread, where Python allows no handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number, handler in previous.items():
        if handler is not signal.SIG_IGN:  # ignored by whoever started us (a background job): keep it so
            signal.signal(number, _on_signal)
    return previous


def _restore_signals(previous: dict | None) -> None:
    if previous is not None:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def _show_usage_error(exc: Exception) -> None:
    """Show a usage error the way typer does in standalone mode (a rich panel), or plainly."""
    try:
        from typer.rich_utils import rich_format_error

        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
        else:
            rich_format_error(exc)
    except ImportError:
        exc.show()
