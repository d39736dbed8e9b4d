"""Where one ``costsim run`` spends its time: each phase's wall seconds in the command's own process, and
the CPU seconds of that process against those of the processes it started (the worker pool, its fork
server, the plot helper).

    .venv/bin/python benchmarks/bench_run_phases.py [costsim run arguments ...]
    .venv/bin/python benchmarks/bench_run_phases.py workflows/support-agent.yaml --tasks 1000000 \\
        --format json --out /tmp/phases --jobs 2

The command runs in this process (``sim.cli.program.main``), with ``simulate``, ``summarize``,
``write_run_folder`` and, inside it, the tasks file and the figures timed as they are called (start and
wall seconds since this script started, and this process's CPU seconds during each). At the end: the wall
time, this process's CPU seconds (``RUSAGE_SELF``: the parent's serial work, and what it does while the
workers run) and its children's (``RUSAGE_CHILDREN``: every process it waited for, and the processes they
waited for: workers are the fork server's children). With a pool, the parent's serial wall time is the
run's wall time less the phases in which it only waits for workers (the simulation and the tasks file).
"""

from __future__ import annotations

import resource
import sys
import time

T0 = time.perf_counter()
PHASES: list[tuple[str, float, float, float]] = []

TIMED = (("sim.run.simulation", "simulate"), ("sim.stats.summary", "summarize"),
         ("sim.output.rundir", "write_run_folder"), ("sim.output.rundir", "write_tasks_csv_file"),
         ("sim.output.rundir", "write_run_figures"))


def timed(module_name: str, name: str) -> None:
    """Replace ``module.name`` with a wrapper that records its phase (the command imports it when it runs)."""
    module = __import__(module_name, fromlist=[name])
    function = getattr(module, name)

    def wrapper(*args, **kwargs):
        start_s, cpu_s = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            PHASES.append((name, start_s - T0, time.perf_counter() - start_s, time.process_time() - cpu_s))

    setattr(module, name, wrapper)


def main() -> None:
    for module_name, name in TIMED:
        timed(module_name, name)
    from sim.cli.program import main as costsim

    sys.argv = ["costsim", "run", *sys.argv[1:]]
    try:
        costsim()
    except SystemExit as end:
        if end.code:
            raise
    wall_s = time.perf_counter() - T0
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    for name, start_s, phase_s, cpu_s in PHASES:
        print(f"  {name:22s} from {start_s:6.2f} s: {phase_s:6.2f} s wall, {cpu_s:6.2f} s CPU here", file=sys.stderr)
    print(f"wall {wall_s:.2f} s; CPU: this process {own.ru_utime + own.ru_stime:.2f} s, the processes it started "
          f"{children.ru_utime + children.ru_stime:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
