"""Where chunks of work run: in this process, in a pool of local processes, or on a Dask cluster.

An executor has one job: ``imap(fn, items)`` calls ``fn(item)`` for every item, somewhere, and yields
the results **in the order of the items**, whatever order they finish in. Callers (``simulate``) merge
results as they come, so a run gives the same bytes on 1 worker or 20: nothing downstream ever sees
completion order. ``imap`` keeps only a bounded number of items in flight (a few per worker), so a run
of 10 million tasks never holds more than a few chunks' results at once, and a caller that stops early
(adaptive precision) can close the iterator: the work not yet started is cancelled.

* :class:`SerialExecutor`: in this process, one item after another (what ``--jobs 1`` gives).
* :class:`ProcessExecutor`: a :class:`concurrent.futures.ProcessPoolExecutor` of ``jobs`` processes.
  On Linux, when the pool starts in the main thread and no other thread runs (:func:`fork_safe`), its
  workers are forked from this process (``fork``): they start in milliseconds holding everything it has
  loaded, so a run's chunks begin as soon as it asks (``costsim run`` starts its pool before its
  progress bar's thread, :meth:`ProcessExecutor.start`). Otherwise never plain ``fork``: forking a
  process that runs threads (a progress bar's refresh thread, a Dask client's event loop, a test
  runner's) can copy a lock in its held state and hang the child. Then the ``forkserver`` method where
  the platform has it (Linux, macOS), ``spawn`` elsewhere: the fork server is a fresh, single-threaded
  process that imports costsim once (preloaded), about a second of one core, after which each worker
  starts in milliseconds instead of re-importing NumPy, SciPy and SimPy.
* :class:`DaskExecutor`: the tasks of a ``dask.distributed`` cluster, given the scheduler's address
  (the optional extra ``costsim[distributed]``).

``fn`` and the items must be picklable (a module-level function and plain data). Executors are context
managers; :func:`make_executor` builds the one the command-line flags ask for.

**Workers that never lose.** Starting a pool costs about a second of one core (the fork server imports
NumPy, SciPy and costsim; each worker then starts in milliseconds), and a chunk's results travel back
pickled (but the columns of a run that keeps them: the workers write those in shared memory,
:meth:`ProcessExecutor.share`). So a caller says how long its work would take here
(:meth:`ProcessExecutor.worth`, an estimate:
``simulate`` counts tasks x steps x alternatives at the engine's measured rate), and a pool whose
``min_work_s`` is above it is never started: the work runs in this process. The default of the command
line (no ``--jobs``) is a pool of all cores with ``min_work_s`` = :data:`PARALLEL_MIN_WORK_S`, so a
small run never pays for a pool, and a large one uses every core; an explicit ``--jobs N`` (or a
``ProcessExecutor(N)`` built in Python) starts its pool for a run of two chunks or more. Work that is not
the run itself (formatting a tasks file) starts a pool only past :data:`PARALLEL_MIN_WORK_S`, whatever
``min_work_s``, and uses one already running.

No process outlives its executor: leaving a :class:`ProcessExecutor`'s ``with`` block normally waits for
the workers to finish and exit; leaving it on an exception (a failed chunk, ``KeyboardInterrupt``, the
command line's SIGTERM exception) terminates them first, then waits. Workers ignore SIGINT, so a Ctrl-C
sent to the whole terminal's process group reaches only the caller, which shuts them down; and they exit
when the caller ends without closing them (a SIGKILL), so that nothing of a run outlives it. The fork server
and the resource tracker that :mod:`multiprocessing` starts once per process would otherwise live until
this process ends; :func:`stop_helpers` stops them and waits (the command line calls it before it exits).

**Shared memory.** A pool's workers can write a run's columns in place instead of sending them back
(:meth:`ProcessExecutor.share`, :mod:`sim.run.shared`); no segment's name outlives its executor either:
closing it, normally or on an exception, unlinks them once the workers are gone.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import importlib
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor

from sim.core.errors import Parameter, ParameterError

#: Items in flight per worker: enough to keep workers busy while the caller merges a result.
IN_FLIGHT_PER_WORKER = 2
#: How long to wait for a Dask scheduler to answer, and then for a first worker; COSTSIM_SCHEDULER_TIMEOUT_S
#: overrides it.
SCHEDULER_TIMEOUT_S = float(os.environ.get("COSTSIM_SCHEDULER_TIMEOUT_S", "10"))
#: On an abnormal exit, how long a terminated worker (SIGTERM) gets before it is killed (SIGKILL).
TERMINATE_GRACE_S = 2.0
#: The least work, in seconds of one core, the default pool starts its workers for. Starting them costs
#: about 1.5 s of CPU (the fork server's imports, each worker's, pickling chunks and results), close to
#: a second of wall time on 2 cores; below 3 s of work two cores gained nothing, and on a machine busy
#: with other work they lost (benchmarks/bench_startup.py, 2026-12, 2-core machine: 10^5 tasks of the
#: support agent, whose tasks.csv is 2.4 s of formatting, ran 0.80x as fast with a pool started for it).
PARALLEL_MIN_WORK_S = 3.0
#: What the fork server imports once, so that every worker it forks starts with them loaded: the chunk
#: runner, both engines (unpickling a run's spec needs them) and SciPy's special functions the draws use.
PRELOAD = ("sim.run.chunks", "sim.engine.fast", "sim.engine.des", "scipy.special")

#: Local pools open now in this process (:func:`stop_helpers` leaves the fork server alone while any is).
_open_pools: weakref.WeakSet = weakref.WeakSet()


def default_jobs() -> int:
    """All cores this process may run on: ``os.sched_getaffinity`` where it exists, else ``os.cpu_count()``
    (1 when it cannot tell)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class SerialExecutor:
    """Runs each item in this process, in order, when the caller asks for its result."""

    name = "serial"
    workers = 1

    def worth(self, work_s: float) -> bool:
        """Never worth other processes: there are none."""
        return False

    def imap(self, fn: Callable, items: Iterable) -> Iterator:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        pass

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _ordered(submit: Callable, cancel: Callable, result: Callable, items: Iterable,
             window: Callable[[], int]) -> Iterator:
    """Yield results in item order, keeping at most ``window()`` items submitted and not yet yielded."""
    pending: collections.deque = collections.deque()
    iterator = iter(items)
    try:
        for item in iterator:
            pending.append(submit(item))
            if len(pending) >= window():
                yield result(pending.popleft())
        while pending:
            yield result(pending.popleft())
    finally:  # the caller stopped early, or a chunk failed: drop what is still queued
        for future in pending:
            cancel(future)


def _start_worker(caller_pid: int) -> None:
    """Worker initializer. Ignore SIGINT: a Ctrl-C on the terminal goes to the whole process group; only the
    caller acts on it. And exit when the caller ends without closing the pool (SIGKILL): the worker's
    parent is the fork server, not the caller, and it holds both ends of its queues, so nothing else
    would tell it; an orphaned worker would also keep the resource tracker from cleaning up after the caller
    (the shared memory it made, :mod:`sim.run.shared`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # forked while the caller held them (_held_for_fork)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    if os.name == "posix":  # (on Windows os.kill(pid, 0) would end the caller, not look at it)
        threading.Thread(target=_exit_with, args=(caller_pid,), name="costsim-caller-watch", daemon=True).start()


#: How often a worker looks whether its caller still runs, where it cannot be told (no pidfd).
CALLER_POLL_S = 1.0


def _exit_with(caller_pid: int) -> None:
    """Wait until process ``caller_pid`` ends, then end this process at once."""
    try:
        pidfd = os.pidfd_open(caller_pid)  # Linux 5.3+: readable when the process ends
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        select.select([pidfd], [], [])
    else:
        while True:
            time.sleep(CALLER_POLL_S)
            try:
                os.kill(caller_pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:  # pragma: no cover (alive, another user's: never our caller)
                pass
    os._exit(1)


class ProcessExecutor:
    """A pool of ``jobs`` local worker processes, started on first use and kept until :meth:`close`."""

    name = "processes"

    def __init__(self, jobs: int, preload: tuple[str, ...] = PRELOAD, min_work_s: float = 0.0) -> None:
        if jobs < 1:
            raise ParameterError(Parameter("jobs"), f": expected 1 or more worker processes, got {jobs}")
        self.workers = jobs
        self.preload = preload
        self.min_work_s = min_work_s
        self._pool: ProcessPoolExecutor | None = None
        self._shared: list = []  # SharedColumns its work uses: unlinked when it closes

    def share(self, arrays: dict[str, tuple[type, int]]):
        """Zeroed arrays, by key (dtype, length), in shared memory that its workers map and write in place
        (:class:`sim.run.shared.SharedArrays`), or None where shared memory has no room. Their name lives
        until :meth:`close`; the arrays this process holds stay valid after."""
        from sim.run.shared import SharedArrays

        shared = SharedArrays.create(arrays)
        if shared is not None:
            self._shared = [segment for segment in self._shared if segment.linked] + [shared]
        return shared

    def worth(self, work_s: float) -> bool:
        """Whether work that would take ``work_s`` seconds here should go to the workers: always once the
        pool runs, else when it is at least ``min_work_s`` (and there is more than one worker)."""
        return self.workers > 1 and (self.started or work_s >= self.min_work_s)

    @property
    def started(self) -> bool:
        """Whether the workers run now (they start at the first :meth:`imap`)."""
        return self._pool is not None

    def _context(self):
        if fork_safe():
            return multiprocessing.get_context("fork")
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(self.preload))
            return context
        return multiprocessing.get_context("spawn")

    def start(self) -> None:
        """Start the workers now instead of at the first :meth:`imap`. Forked from this process (see the
        module's docstring), they hold what it has loaded, so start them before any thread: ``costsim run``
        does, before its progress bar's thread, once it knows the run is long enough for them."""
        self._started()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = self._context()
            if context.get_start_method() == "forkserver":
                _ensure_fork_server()
            pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                       initializer=_start_worker, initargs=(os.getpid(),))
            if context.get_start_method() == "fork":
                for module in self.preload:  # loaded once here rather than once in every worker
                    importlib.import_module(module)
                for stream in (sys.stdout, sys.stderr):  # nothing buffered may be written twice
                    stream.flush()
                with _held_for_fork():
                    pool.submit(int)  # forks every worker now, before the pool starts its own threads
            self._pool = pool
            _open_pools.add(pool)
        return self._pool

    def imap(self, fn: Callable, items: Iterable) -> Iterator:
        pool = self._started()
        window = self.workers * IN_FLIGHT_PER_WORKER
        return _ordered(lambda item: pool.submit(fn, item), lambda future: future.cancel(),
                        lambda future: future.result(), items, lambda: window)

    def close(self, abort: bool = False) -> None:
        """Shut the pool down and wait until every worker has exited, then unlink the shared memory its work
        used (:meth:`share`). With ``abort`` (leaving on an exception), terminate the workers first instead
        of letting running chunks finish."""
        pool, self._pool = self._pool, None
        try:
            if pool is not None:
                try:
                    if abort:
                        _terminate_workers(pool)
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
                    _open_pools.discard(pool)
        finally:
            shared, self._shared = self._shared, []
            for segment in shared:
                segment.unlink()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(abort=exc_type is not None)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool``'s workers now, running chunks or not, and wait for them to exit.

    Python 3.14 has ``terminate_workers``. Before it, the pool's manager thread, finding workers gone,
    fails every future it still holds, and raises ``InvalidStateError`` on one that was cancelled: so
    first let it cancel and drop the queued ones (a shutdown with ``cancel_futures``), then terminate.
    """
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + TERMINATE_GRACE_S
    while manager is not None and manager.is_alive() and time.monotonic() < deadline and any(
            item.future.cancelled() for item in list(getattr(manager, "pending_work_items", {}).values())):
        time.sleep(0.005)
    _terminate(processes)
    if manager is not None:
        # The first shutdown let go of the manager thread, so the pool's own shutdown no longer waits for it;
        # it reaps the workers as this thread does, and one of the two may not have recorded an exit yet.
        manager.join(TERMINATE_GRACE_S)


def _terminate(processes: list) -> None:
    """SIGTERM each worker, give them :data:`TERMINATE_GRACE_S` together, SIGKILL the rest; wait for all."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + TERMINATE_GRACE_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()


def stop_helpers() -> None:
    """Stop the fork server and the resource tracker this process started, and wait for them to exit.

    :mod:`multiprocessing` starts them once per process and leaves them running until this process ends
    (they exit shortly after it). Call this when no more pools will be used, as the command line does
    before it exits; while a :class:`ProcessExecutor` of this process is open it does nothing. Both are
    started again on next use.
    """
    if _open_pools:
        return
    from multiprocessing import forkserver, resource_tracker

    gc.collect()  # finalize the closed pools' queues: their semaphores leave the resource tracker's books
    server = getattr(forkserver, "_forkserver", None)
    if getattr(server, "_forkserver_pid", None) is not None:
        # Ended at once, not asked: no pool is open, so it has nothing left to fork, and asking waits for it
        # to finish importing its preload (up to a second) and to serve the requests it has queued, which
        # after a Ctrl-C are those of workers whose pool is gone (each would print a traceback and exit).
        try:
            os.kill(server._forkserver_pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        server._stop()
    tracker = getattr(resource_tracker, "_resource_tracker", None)
    if getattr(tracker, "_fd", None) is not None:
        tracker._stop()


class DaskExecutor:
    """The workers of a running ``dask.distributed`` scheduler at ``address`` (``tcp://host:8786``).

    Give ``client`` instead to use a :class:`distributed.Client` the caller already has (it is then not
    closed here). Every worker needs costsim installed, at the same version as this process.
    """

    name = "dask"

    def __init__(self, address: str | None = None, *, client=None, timeout_s: float = SCHEDULER_TIMEOUT_S) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ParameterError(Parameter("scheduler"), " needs dask.distributed: pip install "
                                 "'costsim[distributed]'") from None
        if client is None:
            try:
                client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ParameterError(Parameter("scheduler", address), ": cannot reach a Dask scheduler there "
                                     f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'})"
                                     ) from None
            self._owned = True
        else:
            self._owned = False
        self.client = client
        self.address = address or client.scheduler.address
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except TimeoutError:
            self.close()
            raise ParameterError(Parameter("scheduler", self.address), ": no worker joined the scheduler within "
                                 f"{timeout_s:g} s; start one with: dask worker {self.address}") from None

    @property
    def workers(self) -> int:
        """Worker threads of the cluster now (workers may join or leave while a run goes on)."""
        return max(1, sum(self.client.nthreads().values()))

    def worth(self, work_s: float) -> bool:
        """A cluster the caller chose: always worth it."""
        return True

    def imap(self, fn: Callable, items: Iterable) -> Iterator:
        return _ordered(lambda item: self.client.submit(fn, item, pure=False), lambda future: future.cancel(),
                        lambda future: future.result(), items, lambda: self.workers * IN_FLIGHT_PER_WORKER)

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


Executor = SerialExecutor | ProcessExecutor | DaskExecutor


#: About how many model, tool and user calls the vectorised engine simulates a second on one core (the
#: support agent: :data:`sim.run.workload.MAX_CALLS`'s measure, 2026-12): what :func:`warm_for` estimates
#: a run's work with before any engine is loaded.
CALLS_PER_S = 1_000_000


def warm_for(calls: float, jobs: int | None = None) -> bool:
    """Whether a run of about ``calls`` model, tool and user calls (:func:`sim.run.workload.estimate`) with
    ``jobs`` (as :func:`make_executor` takes it) will start a pool: at least :data:`PARALLEL_MIN_WORK_S` of
    work and more than one worker; if so, and its workers cannot be forked from this process
    (:func:`fork_safe`), start the fork server now. Its imports (:data:`PRELOAD`, about a second of one
    core) then run while this process loads and compiles the run, instead of after; the pool's workers
    fork from it in milliseconds. Nothing else starts: the workers, at :meth:`ProcessExecutor.start` or the
    first chunk; :func:`stop_helpers` stops the server.

    Only an estimate, made before any engine is loaded: ``simulate`` decides from tasks x steps at the
    engine's rate, the tasks file from its rows. Where they disagree (a loop of many iterations per task,
    whose calls count here and not there), a fork server may start that no worker uses: about a second of
    another core, never a different result."""
    workers = default_jobs() if jobs is None else jobs
    if workers < 2 or calls / CALLS_PER_S < PARALLEL_MIN_WORK_S:
        return False
    if fork_safe():
        return True  # nothing to warm: the workers will hold what this process has loaded by then
    if "forkserver" in multiprocessing.get_all_start_methods():
        multiprocessing.get_context("forkserver").set_forkserver_preload(list(PRELOAD))
        _ensure_fork_server()
    return True


def fork_safe() -> bool:
    """Whether a pool may fork its workers from this process now: on Linux (where Python's own default
    is ``fork``; macOS's system libraries are not safe to fork), from the main thread, with no other
    thread running (a thread's lock copied in its held state could hang a worker)."""
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and threading.current_thread() is threading.main_thread() and threading.active_count() == 1)


@contextlib.contextmanager
def _held_for_fork() -> Iterator[None]:
    """While workers are forked from this process: SIGINT and SIGTERM blocked here (a signal meanwhile is
    delivered when the block ends, not lost), with the dispositions a worker must start with (SIGINT
    ignored: a Ctrl-C in its first instants printed a traceback; SIGTERM the default, not this process's
    handler). A worker inherits both and the mask; its initializer (:func:`_start_worker`) unblocks them."""
    held = {signal.SIGINT, signal.SIGTERM}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    handlers = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
                signal.SIGTERM: signal.signal(signal.SIGTERM, signal.SIG_DFL)}
    try:
        yield
    finally:
        for number, handler in handlers.items():
            if handler is not None:  # (None: a handler not set from Python, which cannot be put back)
                signal.signal(number, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Block SIGINT in this process while the block runs (in the main thread; elsewhere a no-op): a Ctrl-C
    meanwhile is not lost but delivered, as KeyboardInterrupt, when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _ensure_fork_server() -> None:
    """Start this process's fork server, if it does not run, with SIGINT ignored from its first instruction.

    A Ctrl-C on the terminal goes to the whole process group. The fork server spends its first second
    importing :data:`PRELOAD` and only then ignores SIGINT itself, so a Ctrl-C in that second printed its
    traceback under the command's one line "aborted". A signal ignored when a program is executed stays
    ignored in it, and the fork server's children (the workers) start with the dispositions it started with.
    Meanwhile SIGINT is blocked in this process, not ignored: a Ctrl-C in those milliseconds arrives as
    soon as the server has started."""
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():  # signals can be set in the main thread only
        forkserver.ensure_running()
        return
    with _sigint_deferred():
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGINT, handler)


def make_executor(jobs: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor for ``--jobs`` and ``--scheduler``: Dask when a scheduler is given, else a local
    pool of ``jobs`` processes, or this process alone for one job. Without ``jobs``: a pool of all cores
    that starts only for work of :data:`PARALLEL_MIN_WORK_S` or more (see the module's docstring)."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    if jobs is None:
        jobs = default_jobs()
        return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs, min_work_s=PARALLEL_MIN_WORK_S)
    if jobs < 1:
        raise ParameterError(Parameter("jobs"), f": expected 1 or more worker processes, got {jobs}")
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs)
