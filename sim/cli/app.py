"""The ``costsim`` command: a thin typer layer over the library.

This is the only module that prints or exits. Library errors (:class:`~sim.core.errors.CostsimError`) are
converted here, once, into a message on stderr and exit code 2; a
:class:`~sim.core.errors.ParameterError` names the library's parameters, which the message shows as the
flags that feed them (:data:`FLAG_OF_PARAMETER`). With ``--format json`` or ``csv`` stdout
holds only that output; tables, notes and file lists go to stdout only in table format, and anything
else (progress, where files went) to stderr.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

# isort: off
from sim.cli import runs, analyses  # noqa: F401  (each registers its commands, in this order, for --help)
# isort: on
from sim.cli.shared import FLAG_OF_PARAMETER, app, error_message, stderr, stdout
from sim.core.errors import CostsimError
from sim.core.version import __version__

__all__ = ["FLAG_OF_PARAMETER", "app", "error_message", "main"]


@app.callback(invoke_without_command=True)
def _version(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        stdout.print(f"costsim {__version__}")
        raise typer.Exit()


def main() -> None:
    """Entry point: run the app, turning every CostsimError into a message and exit code 2."""
    try:
        app(standalone_mode=False)
    except CostsimError as exc:
        # The message quotes the user's file: print it as plain text, never as rich markup or emoji.
        stderr.print("[bold red]error[/]: ", end="", highlight=False)
        stderr.print(error_message(exc), markup=False, emoji=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        _show_usage_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        stderr.print("aborted")
        sys.exit(130)


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
