"""Signals and processes: Ctrl-C exits 130 with one line ("aborted"), SIGTERM 143 ("terminated"); neither
leaves a temporary file or a live process, and no command leaves any process behind when it ends.

Each command runs in its own session (``start_new_session``), so every process it starts (the workers,
the plot helper, the resource tracker, a fork server where one is used) carries the session id of the
command, even once orphaned: the test finds them all by that id, and kills any left over so that a failure
does not leak processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.run.executor import ProcessExecutor

ROOT = Path(__file__).resolve().parents[1]
COSTSIM = Path(sys.executable).parent / "costsim"
WORKFLOW = ROOT / "workflows" / "support-agent.yaml"

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")


def _session(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``, from /proc/PID/stat."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] not in "ZX":
            found.append(int(entry))
    return found


def _until(condition, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


def _kill_left_over(sid: int) -> None:
    for pid in _session(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen:
    """Start costsim in a session of its own; stdout and stderr go to files (an orphaned worker holding a
    pipe open could otherwise keep the test waiting)."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    return subprocess.Popen([str(COSTSIM), *args], stdout=(tmp_path / "stdout").open("wb"),
                            stderr=(tmp_path / "stderr").open("wb"), start_new_session=True, env=env, cwd=tmp_path)


@pytest.mark.parametrize(("signum", "code", "line"), [(signal.SIGINT, 130, "aborted"),
                                                      (signal.SIGTERM, 143, "terminated")],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_while_computing_exits_with_one_line_and_leaves_nothing(tmp_path, signum, code, line):
    out = tmp_path / "run"
    child = _start(["run", str(WORKFLOW), "--tasks", "2000000", "--engine", "des", "--jobs", "2",
                    "--out", str(out)], tmp_path)
    try:
        # computing: the command, its plot helper and both workers (forked from it) exist, and the resource
        # tracker once it has made shared memory (elsewhere than Linux, the workers' fork server as well)
        assert _until(lambda: len(_session(child.pid)) >= 4, 20), "the worker pool never started"
        time.sleep(0.5)
        os.kill(child.pid, signum)
        assert child.wait(timeout=15) == code
        assert (tmp_path / "stderr").read_text().splitlines() == [line]
        assert _until(lambda: not _session(child.pid), 5), f"left running: {_session(child.pid)}"
        assert not out.exists() or not [p.name for p in out.iterdir() if p.name.startswith(".")]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        _kill_left_over(child.pid)


def test_a_finished_run_leaves_no_process(tmp_path):
    """When costsim exits, its fork server, resource tracker and workers have exited already."""
    child = _start(["run", str(WORKFLOW), "--tasks", "4000", "--chunk-tasks", "1000", "--engine", "des",
                    "--jobs", "2", "--format", "json", "--tasks-file", "none", "--out", str(tmp_path / "run")],
                   tmp_path)
    try:
        assert child.wait(timeout=60) == 0, (tmp_path / "stderr").read_text()
        assert _session(child.pid) == []
    finally:
        _kill_left_over(child.pid)


def test_leaving_a_process_executor_on_an_exception_terminates_running_workers():
    """A chunk that would run for 30 s does not hold up an interrupted run: its worker is terminated."""
    started = time.monotonic()
    with pytest.raises(RuntimeError), ProcessExecutor(2) as executor:  # noqa: PT012
        pool = executor._started()
        futures = [pool.submit(time.sleep, 30) for _ in range(3)]
        assert _until(lambda: len(pool._processes) == 2 and futures[1].running(), 10)
        workers, manager = list(pool._processes.values()), pool._executor_manager_thread
        raise RuntimeError("interrupted")
    assert time.monotonic() - started < 15
    # the pool's manager thread reaps workers too: until it has ended, a worker it reaped may read as alive
    assert not manager.is_alive()
    assert not any(worker.is_alive() for worker in workers)


@pytest.mark.parametrize(("signum", "code", "line"), [(signal.SIGINT, 130, "aborted"),
                                                      (signal.SIGTERM, 143, "terminated")],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_while_writing_removes_the_temporary_file(tmp_path, signum, code, line):
    """Interrupted while the per-task file is half written (in the run's hidden temporary folder beside
    ``--out``): the temporary file and folder are removed, and ``--out`` is not created."""
    out = tmp_path / "run"
    child = _start(["run", str(WORKFLOW), "--tasks", "200000", "--engine", "fast", "--jobs", "1",
                    "--format", "json", "--out", str(out)], tmp_path)

    def writing() -> bool:
        return any(p.name.startswith(".tasks.csv") for p in tmp_path.rglob(".tasks.csv*"))

    try:
        assert _until(writing, 30, step_s=0.01), "never saw the per-task file being written"
        os.kill(child.pid, signum)
        assert child.wait(timeout=15) == code
        assert (tmp_path / "stderr").read_text().splitlines() == [line]
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder, no lock
        assert not out.exists()
        assert _until(lambda: not _session(child.pid), 5), f"left running: {_session(child.pid)}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        _kill_left_over(child.pid)


def _segments(pid: int) -> list[str]:
    """The shared memory segments process ``pid`` made (costsim names them costsim-<pid>-<random>)."""
    return sorted(p.name for p in Path("/dev/shm").glob(f"costsim-{pid}-*"))


def _sharing_run(tmp_path: Path) -> subprocess.Popen:
    """A run whose two workers write its columns into shared memory for a while (the SimPy engine: slow)."""
    return _start(["run", str(WORKFLOW), "--tasks", "400000", "--engine", "des", "--jobs", "2",
                   "--chunk-tasks", "20000", "--format", "json", "--out", str(tmp_path / "run")], tmp_path)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="lists /dev/shm (Linux)")
@pytest.mark.parametrize(("signum", "code", "line"), [(signal.SIGINT, 130, "aborted"),
                                                      (signal.SIGTERM, 143, "terminated")],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_while_workers_write_shared_memory_unlinks_it(tmp_path, signum, code, line):
    child = _sharing_run(tmp_path)
    try:
        assert _until(lambda: _segments(child.pid) and len(_session(child.pid)) >= 5, 30), "no pool, or no segment"
        time.sleep(0.5)
        os.kill(child.pid, signum)
        assert child.wait(timeout=15) == code
        assert (tmp_path / "stderr").read_text().splitlines() == [line]  # no warning of a leaked segment
        assert _segments(child.pid) == []
        assert _until(lambda: not _session(child.pid), 5), f"left running: {_session(child.pid)}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        _kill_left_over(child.pid)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="lists /dev/shm (Linux)")
def test_after_a_sigkill_the_workers_exit_and_the_resource_tracker_unlinks_the_segment(tmp_path):
    """Nothing runs to unlink it; the workers see their caller gone and exit, and the resource tracker, which
    the caller registered the name with, then finds its last user gone and unlinks it."""
    child = _sharing_run(tmp_path)
    try:
        assert _until(lambda: _segments(child.pid) and len(_session(child.pid)) >= 5, 30), "no pool, or no segment"
        time.sleep(0.5)
        child.kill()  # the command alone, not its session: its helpers are orphaned
        child.wait()
        assert _until(lambda: not _session(child.pid), 15), f"left running: {_session(child.pid)}"
        assert _segments(child.pid) == []
    finally:
        _kill_left_over(child.pid)



def test_the_fork_server_ignores_sigint_while_it_imports_and_this_process_keeps_its_handler(tmp_path, monkeypatch):
    # a Ctrl-C while the fork server imported its preload printed the server's traceback under "aborted": it
    # must start with SIGINT ignored (a preloaded probe reports it), while this process keeps its handler and
    # its signal mask
    from sim.run import executor

    executor.stop_helpers()  # no pool is open here: the fork server of earlier tests stops
    monkeypatch.setattr(executor, "fork_safe", lambda: False)  # as when a thread runs: the pool uses a fork server
    probe = tmp_path / "sigint"
    monkeypatch.setenv("COSTSIM_TEST_PROBE", str(probe))
    # the fork server finds the probe by PYTHONPATH (on Python 3.11 it does not take this process's sys.path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    handler, mask = signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, set())
    try:
        with ProcessExecutor(2, preload=("forkserver_probe", *executor.PRELOAD)) as pool:
            assert list(pool.imap(abs, [-1, -2, -3])) == [1, 2, 3]
            assert probe.read_text() == repr(signal.SIG_IGN)
            assert signal.getsignal(signal.SIGINT) is handler
            assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == mask
    finally:
        executor.stop_helpers()  # later tests get a fork server without the probe


def _dispositions(_: object) -> tuple[str, str, bool, bool]:
    """In a worker: how it treats SIGINT and SIGTERM, and whether it blocks either."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    return (repr(signal.getsignal(signal.SIGINT)), repr(signal.getsignal(signal.SIGTERM)),
            signal.SIGINT in blocked, signal.SIGTERM in blocked)


def test_workers_forked_from_this_process_ignore_sigint_and_end_on_sigterm():
    # forked from the command, a worker would inherit its handlers (a Ctrl-C printed the worker's traceback,
    # a SIGTERM raised the command's exception in it) and the mask held while forking; this process keeps
    # its own handlers and mask
    from sim.run import executor

    if not executor.fork_safe():
        pytest.skip("workers are not forked here (not Linux, or a thread runs)")

    def on_term(*_):
        raise SystemExit(143)

    previous_term = signal.signal(signal.SIGTERM, on_term)
    handler, mask = signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, set())
    try:
        with ProcessExecutor(2) as pool:
            pool.start()
            assert pool._pool._mp_context.get_start_method() == "fork"
            assert set(pool.imap(_dispositions, range(4))) == {
                (repr(signal.SIG_IGN), repr(signal.SIG_DFL), False, False)}
        assert signal.getsignal(signal.SIGINT) is handler and signal.getsignal(signal.SIGTERM) is on_term
        assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == mask
    finally:
        signal.signal(signal.SIGTERM, previous_term)


# A Ctrl-C while the command line's modules load (typer, rich, the commands: the first tenth of a second of
# every command) reaches the executable before the command can handle signals. Made to happen there for
# certain: importing sim.cli.program raises KeyboardInterrupt, as the signal would.
_INTERRUPTED_WHILE_LOADING = """
import sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "sim.cli.program":
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
sys.argv = ["costsim", "run", sys.argv[1]]
from sim.cli import console
console()
"""


def test_ctrl_c_while_the_command_line_loads_is_aborted_not_a_traceback(tmp_path):
    # `costsim run` has forked its plot helper by then: it is stopped, not left to end on its own. The output
    # goes to files, not pipes, so that the command's end is seen when its own process ends, and any process
    # of its session still running then is seen too.
    cwd, out, err = tmp_path / "cwd", tmp_path / "out", tmp_path / "err"
    cwd.mkdir()
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_WHILE_LOADING, str(WORKFLOW)], stdout=stdout,
                                stderr=stderr, cwd=cwd, start_new_session=True)
        code = proc.wait(60)
    left = [stat.parent.name for stat in Path("/proc").glob("[0-9]*/stat") if _session_of(stat) == proc.pid]
    assert (code, err.read_text(), out.read_text(), left) == (130, "aborted\n", "", [])
    assert list(cwd.iterdir()) == []  # nothing written (no results/ folder)


def _session_of(stat: Path) -> int | None:
    """The session id of the process whose /proc/PID/stat is ``stat`` (None if it has ended)."""
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[3])  # after the name: state, ppid, pgrp, session
    except (OSError, IndexError, ValueError):
        return None


def test_the_packages_app_and_main_are_the_command_lines_whatever_was_imported_first():
    # sim.cli loads its names on first use; no submodule of that name may shadow them once imported
    code = ("import typer, sim.cli.program\nfrom sim import cli\nfrom sim.cli import main\n"
            "assert isinstance(cli.app, typer.Typer) and cli.app is sim.cli.program.app\n"
            "assert main is sim.cli.program.main and cli.console is not sim.cli.program.console\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
