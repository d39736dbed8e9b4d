"""A helper process that draws a run's plot while the run goes on.

Loading matplotlib takes about half a second and drawing the cost distribution as PNG and SVG about as
long again: at the default 10,000 tasks, more than the simulation and every other file together. So
``costsim run`` starts this helper first thing; it loads matplotlib (:mod:`sim.output.plots`) while the
command loads the workflow and simulates, then waits for the costs to plot. :func:`write_run_folder
<sim.output.rundir.write_run_folder>` hands them over (:meth:`PlotHelper.submit`) before it writes the
tasks file, and collects the PNG and SVG bytes after (:meth:`PlotHelper.result`): the same code draws them,
so they are the same bytes as drawn in this process.

The helper is a child forked from this process (``fork``: it starts in milliseconds, with what this
process has loaded), so it is only started where forking is safe: a platform that has it, and no other
thread running (:meth:`PlotHelper.start` returns None otherwise, and the plot is drawn here). It ignores
SIGINT (a Ctrl-C reaches the whole process group; the command handles it), and it never outlives the
command: :meth:`PlotHelper.close` (or leaving its ``with`` block) terminates it if it is still running and
waits for it, and :func:`stop_all`, which the command line calls before it exits whatever the reason,
closes any helper still open; if this process dies first, the helper finds its pipe closed and exits.
Anything that goes wrong in the helper makes :meth:`PlotHelper.result` return None: the caller then
draws the plot itself, so the helper can only save time.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Mapping

#: How long a helper asked to stop gets before it is killed.
STOP_GRACE_S = 2.0

#: Helpers started and not yet closed (:func:`stop_all`).
_open: set[PlotHelper] = set()
#: A helper started ahead of the command's arguments, for the run to take (:func:`start_ahead`).
_ahead: list[PlotHelper] = []


def start_ahead() -> None:
    """Start a helper now, for the next :meth:`PlotHelper.start` to take (none if one is waiting already).

    ``costsim run`` calls it before the command line loads (typer, rich, the commands: 0.07 s) and its
    arguments are parsed (which loads pydantic: 0.1 to 0.2 s): matplotlib loads in the helper meanwhile,
    and the helper draws as soon as the costs come. At the default 10,000 tasks the helper's road (loading
    matplotlib, then drawing) is the longer one, so every hundredth of a second it starts sooner is one off
    the command. A helper nobody takes is closed by :func:`stop_all` (a command that fails first).
    """
    if _ahead:
        return
    helper = PlotHelper.start()
    if helper is not None:
        _ahead.append(helper)


def stop_all() -> None:
    """Close every helper this process started and has not closed (the command line calls it on exit)."""
    for helper in list(_open):
        helper.close()


class PlotHelper:
    """``with PlotHelper.start() as helper:`` ... ``helper.submit(costs, summary)`` ... ``helper.result()``."""

    def __init__(self, process, connection) -> None:
        self._process = process
        self._connection = connection
        self._submitted = False

    @classmethod
    def start(cls) -> PlotHelper | None:
        """A running helper (the one started ahead, if any: :func:`start_ahead`), or None where one cannot be
        forked safely (or there is one core only)."""
        if _ahead:
            return _ahead.pop()
        if ("fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1
                or (os.cpu_count() or 1) < 2):
            return None
        for stream in (sys.stdout, sys.stderr):  # nothing buffered may be written twice, once by the child
            stream.flush()
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs, ours), name="costsim-plot", daemon=True)
        process.start()
        theirs.close()
        helper = cls(process, ours)
        _open.add(helper)
        return helper

    def submit(self, costs_usd: Mapping, summary: dict) -> bool:
        """Send the costs to plot (alternative -> per-task costs) and the run's summary; False if the
        helper is gone (draw here then)."""
        try:
            self._connection.send((dict(costs_usd), summary))
        except (OSError, ValueError):
            return False
        self._submitted = True
        return True

    def result(self) -> dict[str, bytes] | None:
        """The plot as ``{"png": bytes, "svg": bytes}``; None if the helper failed or is gone."""
        if not self._submitted:
            return None
        try:
            reply = self._connection.recv()
        except (EOFError, OSError):
            return None
        return reply if isinstance(reply, dict) else None

    def close(self) -> None:
        """Stop the helper (if it still runs) and wait until it has exited."""
        _open.discard(self)
        if self in _ahead:
            _ahead.remove(self)
        self._connection.close()
        process = self._process
        process.join(0.05 if self._submitted else 0)
        if process.is_alive():
            process.terminate()
            process.join(STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()

    def __enter__(self) -> PlotHelper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve(connection, parent_end) -> None:
    """The helper: load matplotlib, wait for one plot, draw it as PNG and SVG, send the bytes back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command acts on Ctrl-C, and stops this helper
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the command's handler, inherited by the fork
    parent_end.close()
    received: list = []
    # The costs are read as soon as they are sent, while matplotlib loads: the command's send would
    # otherwise wait until the pipe is read (a default run's costs are four times a pipe's buffer), and
    # with it the command, whose tasks file is still to write. Joined before the figure's SVG child is forked.
    receiver = threading.Thread(target=_receive, args=(connection, received), name="costsim-plot-receiver", daemon=True)
    receiver.start()
    from sim.output import plots  # the slow part, while the command runs

    plots.prepare()
    receiver.join()
    if not received:  # the command ended without a plot
        return
    costs_usd, summary = received[0]
    try:
        reply: dict[str, bytes] | str = _draw(plots, costs_usd, summary)
    except Exception as exc:  # noqa: BLE001  (any failure: the command draws the plot itself)
        reply = f"{type(exc).__name__}: {exc}"
    try:
        connection.send(reply)
    except OSError:
        pass


def _receive(connection, received: list) -> None:
    """Append what the command sends (the costs and the summary) to ``received``; nothing if it sends none."""
    try:
        received.append(connection.recv())
    except (EOFError, OSError):
        pass


def _draw(plots, costs_usd, summary: dict) -> dict[str, bytes]:
    """The plot as PNG and SVG bytes: the figure built once, then its SVG rendered by a child forked from
    this helper while the helper renders its PNG. The command has nothing left to do but wait for them (a
    default run's files are written by then), so the two renderings, a quarter of a second each, take the
    two cores. The bytes are those of rendering both in turn: neither rendering changes the figure. If the
    child fails, the SVG is rendered here."""
    figure = plots.run_cost_figure(costs_usd, summary)
    read_end, write_end = os.pipe()
    # SIGTERM is held from before the fork until the handler that ends the child too is in place: one
    # arriving in between would end this helper alone and leave the child rendering, orphaned.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        child = os.fork()
        if child == 0:
            _render_svg(plots, figure, read_end, write_end)  # (never returns)
        previous = signal.signal(signal.SIGTERM, functools.partial(_end_with_child, child))
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # one held meanwhile is handled now
    os.close(write_end)
    source = os.fdopen(read_end, "rb")
    try:
        try:
            png = plots.figure_bytes(figure, "png")
            svg = source.read()
        finally:
            source.close()  # (after a failure here, a child still writing gets a broken pipe and ends)
            _, status = os.waitpid(child, 0)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        svg = plots.figure_bytes(figure, "svg")
    return {"png": png, "svg": svg}


def _render_svg(plots, figure, read_end: int, write_end: int) -> None:
    """The SVG child: the figure's SVG into the pipe, then out at once (nothing of the helper's to clean)."""
    code = 1
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # the default: a SIGTERM ends it
        os.close(read_end)
        with os.fdopen(write_end, "wb") as out:
            out.write(plots.figure_bytes(figure, "svg"))
        code = 0
    finally:
        os._exit(code)


def _end_with_child(child: int, *_) -> None:
    """The helper's SIGTERM handler while its SVG child renders: the child goes too, now, and is reaped (no
    zombie left)."""
    os.kill(child, signal.SIGKILL)
    try:
        os.waitpid(child, 0)
    except ChildProcessError:
        pass
    os._exit(1)
