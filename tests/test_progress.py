"""The progress bar: shown for long runs on a terminal, on stderr; never in machine output or short runs.

The decision and the drawing are tested in-process with a fake clock and a rich console writing to a
string; one end-to-end test runs ``costsim run`` with stdout and stderr on pseudo-terminals, as a
person at a terminal would, and once more with ``--format json``.
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from sim.cli.progress import TaskProgress, wanted

ROOT = Path(__file__).resolve().parents[1]
COSTSIM = Path(sys.executable).parent / "costsim"


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def terminal_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, color_system=None, width=100), buffer


def simulate_blocks(bar: TaskProgress, clock: FakeClock, total: int, block: int, block_s: float) -> None:
    for done in range(block, total + 1, block):
        clock.now_s += block_s
        bar(done)


def test_a_long_run_shows_a_bar_on_the_console():
    clock, (console, buffer) = FakeClock(), terminal_console()
    with TaskProgress(10_000, "simulating support-agent", console, clock=clock) as bar:
        simulate_blocks(bar, clock, 10_000, 1_000, block_s=0.3)  # 3 s in all
    assert bar.shown
    assert "simulating support-agent" in buffer.getvalue() and "/10000" in buffer.getvalue()


def test_a_short_run_shows_nothing():
    clock, (console, buffer) = FakeClock(), terminal_console()
    with TaskProgress(10_000, "simulating", console, clock=clock) as bar:
        simulate_blocks(bar, clock, 10_000, 1_000, block_s=0.05)  # 0.5 s in all
    assert not bar.shown and buffer.getvalue() == ""


def test_a_run_of_one_block_shows_nothing_however_long():
    clock, (console, buffer) = FakeClock(), terminal_console()
    with TaskProgress(1_000, "simulating", console, clock=clock) as bar:
        simulate_blocks(bar, clock, 1_000, 1_000, block_s=5.0)  # finished at the first report: no bar
    assert not bar.shown and buffer.getvalue() == ""


def test_a_disabled_bar_shows_nothing_however_long():
    clock, (console, buffer) = FakeClock(), terminal_console()
    with TaskProgress(10_000, "simulating", console, enabled=False, clock=clock) as bar:
        simulate_blocks(bar, clock, 10_000, 1_000, block_s=1.0)
    assert not bar.shown and buffer.getvalue() == ""


def test_wanted_only_for_human_output_on_terminals():
    master, slave = pty.openpty()
    try:
        with open(slave, "w", closefd=False) as tty, io.StringIO() as pipe:
            assert wanted(machine_output=False, stdout=tty, stderr=tty)
            assert not wanted(machine_output=True, stdout=tty, stderr=tty)  # JSON or CSV
            assert not wanted(machine_output=False, stdout=pipe, stderr=tty)  # stdout piped or redirected
            assert not wanted(machine_output=False, stdout=tty, stderr=pipe)  # stderr to a log file
    finally:
        os.close(master)
        os.close(slave)


def run_on_terminals(*args: str) -> subprocess.Popen:
    """Start costsim with stdout and stderr each on its own pseudo-terminal; :func:`finish` reads them."""
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    # The bar waits for runs that look longer than a second; on a fast machine these may not, so show it
    # from the start (the one-second rule itself is tested in-process above).
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "NO_COLOR": "1", "COSTSIM_PROGRESS_AFTER_S": "0"}
    env.pop("FORCE_COLOR", None)
    proc = subprocess.Popen([str(COSTSIM), *args], stdout=out_slave, stderr=err_slave, stdin=subprocess.DEVNULL,
                            cwd=ROOT, env=env)
    os.close(out_slave)
    os.close(err_slave)
    proc.terminals = (out_master, err_master)
    return proc


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    """Read both terminals until the child closes them: (exit code, stdout, stderr)."""
    chunks = {fd: [] for fd in proc.terminals}
    open_fds = set(chunks)
    while open_fds:  # read both, so the child never blocks on a full terminal
        for fd in select.select(list(open_fds), [], [], 60)[0]:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child is gone
                data = b""
            if data:
                chunks[fd].append(data)
            else:
                open_fds.discard(fd)
                os.close(fd)
    code = proc.wait(timeout=60)
    out, err = (b"".join(chunks[fd]).decode("utf-8", "replace").replace("\r\n", "\n") for fd in proc.terminals)
    return code, out, err


MANY_CALLS = """\
name: many-calls
models: {main: openai:gpt-4.1-mini}
alternatives: {big: {main: openai:gpt-4.1}}
steps:
  - id: loop
    repeat: 40
    steps:
      - {id: call, llm: main, output: 50, history: none, fail: 0.1}
retry: {max_attempts: 3}
"""


@pytest.fixture(scope="module")
def terminal_runs(tmp_path_factory):
    """A table run and a JSON run of a few seconds each (5,000 tasks of 40 calls), side by side on terminals."""
    out = tmp_path_factory.mktemp("terminal")
    (out / "many-calls.yaml").write_text(MANY_CALLS)
    common = ["run", str(out / "many-calls.yaml"), "-n", "5000", "--engine", "des"]  # seconds, not milliseconds
    table = run_on_terminals(*common, "--out", str(out / "table"))
    as_json = run_on_terminals(*common, "--format", "json", "--out", str(out / "json"))
    return finish(table), finish(as_json)


def test_costsim_run_on_a_terminal_shows_the_bar_on_stderr_only(terminal_runs):
    (code, stdout, stderr), _ = terminal_runs
    assert code == 0, stderr
    assert "simulating many-calls" in stderr and "/5000 tasks" in stderr
    assert "simulating" not in stdout and "cost per task" in stdout


def test_costsim_run_json_on_a_terminal_shows_no_bar(terminal_runs):
    _, (code, stdout, stderr) = terminal_runs
    assert code == 0, stderr
    assert "simulating" not in stderr
    assert json.loads(stdout)["tasks"] == 5_000


def test_a_bar_counts_replications_for_a_run_with_traffic():
    clock, (console, buffer) = FakeClock(), terminal_console()
    with TaskProgress(20, "simulating chatbot-month", console, unit="replications", clock=clock) as bar:
        simulate_blocks(bar, clock, 20, 1, block_s=0.5)
    assert "/20 replications" in buffer.getvalue()
