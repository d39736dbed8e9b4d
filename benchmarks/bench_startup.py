"""How long costsim's commands take as a user runs them: whole processes, start-up included, and how a run
scales with worker processes.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 5] [--skip startup,jobs]
        [--jobs-sizes 100000,1000000,3000000] [--jobs-repeats 3] [--costsim PATH]

Two parts, in one run; every command is a fresh process (``subprocess``), timed from outside: wall-clock
seconds, and CPU seconds of it and its children (``os.wait4``). The commands of a part run in turn, one
round after another (A B C A B C ...), after one warm-up round that is not counted, so a drift of the
machine's speed hits them all alike; each figure is the median over the rounds, and each ratio the median
of the rounds' ratios.

1. **startup**: ``python -c pass`` (the interpreter alone: the floor), ``python -c "import pydantic,
   ruamel.yaml, genai_prices"`` (the packages validation needs: the import baseline), ``costsim --help``,
   ``costsim validate workflows/support-agent.yaml`` and ``costsim run workflows/support-agent.yaml`` at its
   default 10,000 tasks, writing its files and plot into a temporary folder. Targets (issue 14): help under
   0.3 s; validate within 0.2 s of the import baseline; the run under 1.5 s.
2. **jobs**: ``costsim run workflows/support-agent.yaml --tasks N --format json`` with ``--jobs 1``, with the
   default (no ``--jobs``: all cores, for work long enough to gain from them) and with ``--jobs 2``, at each
   N of ``--jobs-sizes`` (10^6 writes a tasks.csv of 3 million rows; above 10^6 a run keeps merged
   statistics only). Ratios against ``--jobs 1`` of the same round. Targets: the default never slower than
   one job; 2 jobs at least 1.7x one job at 10^6 tasks and more (on 2 cores).

   After the rounds, **the machine's ceiling** for that work, measured in the same run: the formatting that
   is most of a large run (the text of a tasks file of 300,000 rows, :func:`sim.output.taskfile.write_tasks_csv`,
   thrown away) done twice by one process, against once each by two processes at the same time, forked
   from this one with nothing to share or wait for. Its ratio is the most two processes can give this work
   on this machine at this hour (a virtual machine's two vCPUs need not double it); a 2-job run, which also
   simulates, summarizes and starts alone, gets less.

``--costsim PATH`` times another installation's ``costsim`` (its interpreter is the one beside it);
``--before PATH`` adds a second installation's commands to the same rounds (named ``before:``), e.g. a
checkout of an earlier commit, for a before-and-after table measured in one run. Byte-code caching is left on
(``PYTHONDONTWRITEBYTECODE`` is removed from the commands' environment), as a user's installation has it;
the warm-up round writes the caches. Speed goals live here, never in timed unit tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflows" / "support-agent.yaml"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Run ``command`` to its end, output thrown away: (wall seconds, CPU seconds of it and its children,
    exit code)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    wall_s = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    # wait4 reports the process's own usage; its children (workers, fork server) it reaped are included.
    return wall_s, usage.ru_utime + usage.ru_stime, process.returncode


def rounds(commands: dict[str, list[str]], repeats: int, env: dict[str, str], prepare=None) -> dict[str, list]:
    """Each command ``repeats`` times, in turn, after one warm-up round; (wall, cpu) per round by name."""
    figures: dict[str, list] = {name: [] for name in commands}
    for round_ in range(repeats + 1):
        for name, command in commands.items():
            if prepare is not None:
                prepare()
            wall_s, cpu_s, code = timed(command, env)
            if code != 0:
                raise SystemExit(f"{name}: exit code {code}: {' '.join(command)}")
            if round_ > 0:
                figures[name].append((wall_s, cpu_s))
    return figures


def median(values) -> float:
    return statistics.median(values)


def show(figures: dict[str, list], baseline: str) -> None:
    """Each command's median wall and CPU seconds and its median ratio to ``baseline`` (round by round)."""
    base = figures[baseline]
    print(f"  {'command':<34} {'wall s':>8} {'cpu s':>8} {'wall / ' + baseline:>22}  (min-max wall)")
    for name, runs in figures.items():
        walls = [wall for wall, _ in runs]
        ratio = median(wall / base_wall for (wall, _), (base_wall, _) in zip(runs, base))
        print(f"  {name:<34} {median(walls):8.3f} {median(cpu for _, cpu in runs):8.3f} {ratio:22.2f}  "
              f"({min(walls):.3f}-{max(walls):.3f})")


def startup(costsim: str, python: str, repeats: int, env: dict[str, str], before: str | None = None) -> None:
    out = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    run_dir = out / "run"
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "import pydantic, ruamel.yaml, genai_prices": [python, "-c", "import pydantic, ruamel.yaml, genai_prices"],
        "costsim --help": [costsim, "--help"],
        "costsim validate": [costsim, "validate", str(WORKFLOW)],
        "costsim run (10,000 tasks)": [costsim, "run", str(WORKFLOW), "--out", str(run_dir)],
    }
    if before is not None:
        commands.update({"before: costsim --help": [before, "--help"],
                         "before: costsim validate": [before, "validate", str(WORKFLOW)],
                         "before: costsim run (10,000 tasks)": [before, "run", str(WORKFLOW), "--out", str(run_dir)]})
    try:
        figures = rounds(commands, repeats, env, prepare=lambda: shutil.rmtree(run_dir, ignore_errors=True))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"startup: {repeats} rounds (+1 warm-up), medians")
    show(figures, "python -c pass")
    imports = figures["import pydantic, ruamel.yaml, genai_prices"]
    extra = median(v[0] - i[0] for v, i in zip(figures["costsim validate"], imports))
    help_s = median(wall for wall, _ in figures["costsim --help"])
    run_s = median(wall for wall, _ in figures["costsim run (10,000 tasks)"])
    print(f"  validate - import baseline (median of the rounds' differences): {extra:+.3f} s (target <= 0.2)")
    if before is not None:
        extra = median(v[0] - i[0] for v, i in zip(figures["before: costsim validate"], imports))
        print(f"  before: validate - import baseline: {extra:+.3f} s")
    print(f"  help {help_s:.3f} s (target < 0.3); run {run_s:.3f} s (target < 1.5)")


def jobs(costsim: str, sizes: list[int], repeats: int, env: dict[str, str], before: str | None = None) -> None:
    out = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    try:
        for tasks in sizes:
            configs = {"--jobs 1": ["--jobs", "1"], "default": [], "--jobs 2": ["--jobs", "2"]}
            commands = {name: [costsim, "run", str(WORKFLOW), "--tasks", str(tasks), "--format", "json", "--out",
                               str(out / name.replace(" ", "").replace("-", "")), *flags]
                        for name, flags in configs.items()}
            if before is not None:
                commands.update({f"before: {name}": [before, "run", str(WORKFLOW), "--tasks", str(tasks), "--format",
                                                     "json", "--out", str(out / f"before{index}"), *flags]
                                 for index, (name, flags) in enumerate(configs.items())})
            figures = rounds(commands, repeats, env,
                             prepare=lambda: [shutil.rmtree(path, ignore_errors=True) for path in out.iterdir()])
            print(f"jobs at {tasks:,} tasks: {repeats} rounds (+1 warm-up), medians")
            show(figures, "--jobs 1")
            base = figures["--jobs 1"]
            for name in ("default", "--jobs 2"):
                speedup = median(b[0] / r[0] for r, b in zip(figures[name], base))
                print(f"  speed-up {name} over --jobs 1: {speedup:.2f}x")
                if before is not None:
                    speedup = median(b[0] / r[0] for r, b in zip(figures[f"before: {name}"],
                                                                 figures["before: --jobs 1"]))
                    print(f"  before: speed-up {name} over --jobs 1: {speedup:.2f}x")
        ceiling(repeats)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def ceiling(repeats: int) -> None:
    """The machine's speed-up for formatting a tasks file with two processes at once (see the docstring):
    ``repeats`` rounds after a warm-up, one process then two in each."""
    import multiprocessing

    from sim import load_workflow, simulate
    from sim.output.taskfile import write_tasks_csv

    result = simulate(load_workflow(WORKFLOW), 100_000, 0)  # 300,000 rows: 3 alternatives

    def format_file(times: int) -> None:
        for _ in range(times):
            write_tasks_csv(result, lambda text: None)

    def wall_of(processes: int, times: int) -> float:
        context = multiprocessing.get_context("fork")
        children = [context.Process(target=format_file, args=(times,)) for _ in range(processes)]
        start = time.perf_counter()
        for child in children:
            child.start()
        for child in children:
            child.join()
            if child.exitcode != 0:
                raise SystemExit(f"ceiling: a formatting process ended with exit code {child.exitcode}")
        return time.perf_counter() - start

    ratios, ones, twos = [], [], []
    for round_ in range(repeats + 1):
        one_s, two_s = wall_of(1, 2), wall_of(2, 1)
        if round_ > 0:
            ratios.append(one_s / two_s)
            ones.append(one_s)
            twos.append(two_s)
    print(f"machine ceiling: a tasks file's formatting twice in one process {median(ones):.2f} s, once in each of "
          f"two at once {median(twos):.2f} s: {median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x over "
          f"{repeats} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="counted rounds of the startup part")
    parser.add_argument("--jobs-repeats", type=int, default=3, help="counted rounds of each size of the jobs part")
    parser.add_argument("--jobs-sizes", default="100000,1000000,3000000")
    parser.add_argument("--skip", default="", help="parts to skip: startup, jobs")
    parser.add_argument("--before", default=None, help="a second costsim timed in the same rounds")
    parser.add_argument("--costsim", default=str(Path(sys.executable).with_name("costsim")),
                        help="the costsim to time (default: the one beside this interpreter)")
    args = parser.parse_args()
    costsim = str(Path(args.costsim).absolute())
    python = str(Path(costsim).with_name("python"))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["COLUMNS"] = "120"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"Python {platform.python_version()}; costsim: {costsim}")
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    if "startup" not in skip:
        startup(costsim, python, args.repeats, env, args.before)
    if "jobs" not in skip:
        jobs(costsim, [int(size) for size in args.jobs_sizes.split(",")], args.jobs_repeats, env, args.before)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
