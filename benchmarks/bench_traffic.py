"""A month of traffic: costsim's engines against a hand-written SimPy model of the same traffic workflow.

    .venv/bin/python benchmarks/bench_traffic.py [--days 30] [--replications 200] [--des-replications 2]
        [--hand-replications 2] [--jobs 2] [--seed 0] [--skip replication,memory,month,command] [--kept]

The workflow is workflows/support-agent-month.yaml with ``days`` set to ``--days`` (30: about 30,000
tasks a replication): traffic over an office-hours profile, 4 agent workers (a concurrency limit) and a
prompt cache whose system-prompt entry every task shares. Four parts:

* **replication**: one replication of the horizon, baseline models only, in this process, timed in turn
  (A B C A B C ...): ``hand_model()`` below (the same agent written directly in SimPy: one
  ``simpy.Environment``, a process per task, a ``simpy.Resource`` for the workers, a dict for the shared
  cache entry, draws from ``numpy.random.default_rng``), costsim's SimPy engine
  (:class:`~sim.engine.des.DesEngine`, the engine that ran traffic before) and its vectorised engine
  (:class:`~sim.engine.traffic_fast.TrafficEngine`). It prints seconds per replication and the ratios,
  each model's mean cost per task with its standard error (the hand model draws other random numbers:
  the means must agree within a few standard errors, which shows it does the same work), and that the
  two costsim engines' tasks are identical.
* **memory**: the peak resident set of a child process that runs one replication of all three
  alternatives through ``sim.simulate``, against that of a child that only imports what it imports (each
  read with ``os.wait4`` on that child alone: its own ``ru_maxrss``, no other process's).
* **month**: ``--replications`` replications x 3 alternatives over ``--jobs`` worker processes
  (:class:`~sim.run.executor.ProcessExecutor`, one replication a chunk, as a run cuts them), each worker
  sending back its replication's bills: wall time, against the same work done by the SimPy engine,
  estimated from ``--des-replications`` of them timed in the same run.
* **command**: the whole user command, ``costsim run COPY.yaml --replications R --jobs J --format json``
  (COPY: the workflow with ``days`` set), in a fresh process: wall seconds, CPU seconds of it and its
  descendants, and the largest process's peak resident set (``os.wait4``: the maximum over the command
  and the processes it waited for), against the hand-written SimPy model and costsim's SimPy engine
  doing the same work (R replications x 3 alternatives on J cores, estimated from their seconds per
  replication in the replication part: the hand model runs the baseline only, so its figure is x 3).
  With ``--kept``, first the same command keeping every task's record (``--exact-tasks-limit`` above the
  run's tasks, ``--tasks-file none``): the path every traffic run took before runs were reduced, timed in
  the same run as the ratio's baseline.

Speed goals live here, in a script that prints figures, never in a timed unit test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import simpy

import sim
from sim.core.randomness import BlockDraws
from sim.engine.compiler import compile_plan
from sim.engine.des import DesEngine
from sim.engine.traffic import arrival_times_s, task_ids
from sim.engine.traffic_fast import TrafficEngine
from sim.run.executor import ProcessExecutor, stop_helpers
from sim.spec.catalog import catalog_for

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflows" / "support-agent-month.yaml"
PRICES_DATE = dt.date(2026, 11, 1)


def month_workflow(days: float):
    workflow = sim.load_workflow(WORKFLOW)
    return workflow.model_copy(update={"traffic": workflow.traffic.model_copy(update={"days": days})})


# -- the hand-written model ------------------------------------------------------------------------------
def _tokens(x) -> int:
    return int(math.floor(x + 0.5))


def hand_model(days: float, seed: int, nano, mini) -> np.ndarray:
    """Cost per task (USD) of one replication of the month workflow's baseline; ``nano``/``mini`` are
    the models' rates (costsim's catalog rows, for their prices only)."""
    rng = np.random.default_rng(seed)
    profile = np.array([0.2, 0.2, 0.2, 0.2, 0.2, 0.3, 0.5, 1.0, 2.0, 2.5, 2.5, 2.5, 1.8, 2.5, 2.5, 2.5, 2.0, 1.5,
                        1.0, 0.8, 0.6, 0.5, 0.4, 0.3])
    hours = int(days * 24)
    rates = 1000 / 24 * profile / profile.mean()
    counts = rng.poisson(rates[np.arange(hours) % 24])
    arrivals = np.sort(np.repeat(np.arange(hours), counts) * 3600.0 + rng.random(counts.sum()) * 3600.0).tolist()
    n = len(arrivals)
    ttl_s, minimum, system = 300.0, 1024, 1200
    env = simpy.Environment()
    workers = simpy.Resource(env, capacity=4)
    shared = {}  # model -> expiry of the system prompt's entry
    cost = [0.0] * n

    def normal_at_0(mean, sd):
        while (x := rng.normal(mean, sd)) < 0:
            pass
        return x

    def call(task, rates, input_tokens, output, full, ttft_s, speed):
        """One attempt: the cache's reads and writes, the price, then the answer's time."""
        ref = rates.ref
        cached = 0
        entry = task["conversation"].get(ref) if full else None
        if entry is not None and env.now <= entry[1] and entry[0] <= input_tokens:
            cached = entry[0]
        for size, store in ((task["head"], task["heads"]), (system, shared)):
            if size >= minimum:
                if env.now <= store.get(ref, -1.0) and size > cached:
                    cached = size
                store[ref] = env.now + ttl_s
        if full and input_tokens >= minimum:
            task["conversation"][ref] = (input_tokens, env.now + ttl_s)
            written = input_tokens - cached
        else:
            written = max((task["head"] if task["head"] >= minimum else 0) - cached, 0)
        task["usd"] += rates.attempt_cost_usd(input_tokens, output, cached, written)
        return env.timeout(ttft_s + output / speed)

    def mini_call(task, prompt, output, fail_p=0.0):
        for _ in range(3):
            tokens = _tokens(output())
            yield call(task, mini, task["head"] + prompt + task["transcript"], tokens, True,
                       rng.lognormal(math.log(0.93), 0.5), rng.lognormal(math.log(77.2), 0.25))
            if not (fail_p and rng.random() < fail_p):
                task["transcript"] += prompt + tokens
                return True
        return False

    def agent(i):
        yield env.timeout(arrivals[i])
        task = {"head": system + _tokens(rng.lognormal(math.log(200), 0.5)), "transcript": 0, "usd": 0.0,
                "heads": {}, "conversation": {}}
        with workers.request() as slot:
            yield slot
            out = _tokens(normal_at_0(100, 20))  # classify, on nano (0.8 s and 60 tokens/s), history none
            yield call(task, nano, task["head"] + 500, out, False, 0.8, 60.0)
            task["transcript"] += 500 + out
            yield from mini_call(task, 800, lambda: normal_at_0(300, 80))  # plan
            for _ in range(max(rng.poisson(1.8), 1)):  # the tool loop
                for _ in range(3):
                    yield env.timeout(rng.lognormal(math.log(0.8), 0.7))
                    if rng.random() >= 0.05:
                        task["transcript"] += _tokens(rng.lognormal(math.log(1000), 0.6))
                        break
                else:
                    cost[i] = task["usd"]
                    return
                yield from mini_call(task, 100, lambda: normal_at_0(150, 50))  # re-prompt
            yield from mini_call(task, 150, lambda: rng.lognormal(math.log(500), 0.3), 0.10)  # answer
            cost[i] = task["usd"]

    for i in range(n):
        env.process(agent(i))
    env.run()
    return np.asarray(cost)


# -- the month over workers -------------------------------------------------------------------------------
_PLANS: dict = {}


def replication_bills(item: tuple) -> list[float]:
    """Worker: one replication of every alternative on the vectorised engine; its bill per alternative."""
    days, seed, replication = item
    if days not in _PLANS:
        workflow = month_workflow(days)
        catalog = catalog_for(workflow, PRICES_DATE)
        _PLANS[days] = (workflow, [compile_plan(workflow, name, models, catalog, workflow.retry_policy(name))
                                   for name, models in workflow.alternative_models().items()])
    workflow, plans = _PLANS[days]
    arrivals = arrival_times_s(workflow.traffic, seed, replication)
    draws = BlockDraws(seed, task_ids(replication, len(arrivals)))
    engine = TrafficEngine()
    return [float(engine.run_block(plan, draws, arrivals.tolist(), replication).cost_usd.sum()) for plan in plans]


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(len(x)))


def replication_part(args, workflow) -> dict[str, float]:
    """Prints the one-replication comparison; returns each model's median seconds per replication of the
    baseline (``hand``, ``des``, ``fast``), for the month and command parts' estimates."""
    catalog = catalog_for(workflow, PRICES_DATE)
    plans = [compile_plan(workflow, name, models, catalog, workflow.retry_policy(name))
             for name, models in workflow.alternative_models().items()]
    baseline = plans[0]
    nano, mini = catalog.resolve(workflow.models["fast"]), catalog.resolve(workflow.models["main"])
    arrivals = {r: arrival_times_s(workflow.traffic, args.seed, r) for r in range(max(args.des_replications, 1))}

    def costsim(engine, replication):
        a = arrivals[replication]
        return engine.run_block(baseline, BlockDraws(args.seed, task_ids(replication, len(a))), a.tolist(),
                                replication)

    runners = {
        "hand": lambda r: hand_model(args.days, args.seed + r, nano, mini),
        "des": lambda r: costsim(DesEngine(), r).cost_usd,
        "fast": lambda r: costsim(TrafficEngine(), r).cost_usd,
    }
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    costs: dict[str, list[np.ndarray]] = {name: [] for name in runners}
    rounds = max(args.des_replications, args.hand_replications, 1)
    print(f"one replication ({args.days:g} days, baseline models), {rounds} rounds alternating hand, des, fast:")
    for r in range(rounds):
        cells = []
        for name, run in runners.items():
            if (name == "hand" and r >= args.hand_replications) or (name == "des" and r >= args.des_replications):
                continue
            start = time.perf_counter()
            costs[name].append(run(r))
            seconds[name].append(time.perf_counter() - start)
            cells.append(f"{name} {seconds[name][-1]:6.2f} s ({len(costs[name][-1]):,} tasks)")
        print("  " + "   ".join(cells), flush=True)
    median = {name: statistics.median(values) for name, values in seconds.items() if values}
    print("seconds per replication (median):")
    for name, value in median.items():
        print(f"  {name:<5} {value:8.3f} s")
    if "hand" in median:
        print(f"  ratio hand / fast: {median['hand'] / median['fast']:.1f}x (the vectorised engine is this many "
              "times faster than the hand-written SimPy model)")
        print(f"  ratio hand / des:  {median['hand'] / median['des']:.2f}x (costsim's SimPy engine against it)")
    print(f"  ratio des / fast:  {median['des'] / median['fast']:.1f}x (the vectorised engine against the engine "
          "that ran traffic before)")
    print("mean cost per task (USD, ± standard error):")
    for name in runners:
        mean, se = _mean_se(np.concatenate(costs[name]))
        print(f"  {name:<5} {mean:.7f} ± {se:.7f}")
    same = all(np.array_equal(costsim(DesEngine(), 0).columns[k], costsim(TrafficEngine(), 0).columns[k])
               for k in ("cost_usd", "latency_s", "cache_read_tokens", "attempts")) if args.des_replications else None
    print(f"des and fast tasks identical (replication 0: cost, latency, cache reads, attempts): {same}")
    return median


#: The launcher of a measured command: a small Python of its own that starts the command and reports
#: the command's ``os.wait4`` rusage as JSON into the file named by its first argument.
_LAUNCHER = """
import json, os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"status": os.waitstatus_to_exitcode(status), "cpu_s": usage.ru_utime + usage.ru_stime,
               "maxrss_kb": usage.ru_maxrss}, out)
"""


def _child(argv: list[str]) -> tuple[float, float, int, subprocess.CompletedProcess]:
    """Run ``argv`` as a fresh process; (wall s, CPU s of it and the processes it waited for, peak RSS in
    kB of the largest of them, its output).

    Why a launcher: Linux carries the peak resident set of the memory a process replaces at ``exec``
    into the new program's ``ru_maxrss``; a child started from this process (``fork`` or ``vfork``, then
    ``exec``) would report at least this process's own peak, which is what made an imports-only child
    read the same 299 MB as a replication. The launcher is a small new process; what it starts inherits
    only its few megabytes, and ``os.wait4`` there reads that child (and its reaped descendants) alone."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-child-") as folder:
        report, stdout, stderr = (Path(folder) / name for name in ("usage.json", "stdout", "stderr"))
        with stdout.open("w") as out, stderr.open("w") as err:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(report), *argv], stdout=out, stderr=err,
                           check=True)
            wall_s = time.perf_counter() - start
        usage = json.loads(report.read_text())
        done = subprocess.CompletedProcess(argv, usage["status"], stdout.read_text(), stderr.read_text())
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall_s, usage["cpu_s"], usage["maxrss_kb"], done


#: What both memory children run first: the imports of a run and the workflow, loaded.
_PRELUDE = ("import sim, sim.run.simulation, sim.engine.traffic_fast, scipy.stats; "
            "w = sim.load_workflow({path!r}); "
            "w = w.model_copy(update={{'traffic': w.traffic.model_copy(update={{'days': {days}}})}}); ")


def memory_part(args) -> None:
    prelude = _PRELUDE.format(path=str(WORKFLOW), days=args.days)
    run = (f"r = sim.simulate(w, 0, {args.seed}, replications=1, prices_date='{PRICES_DATE.isoformat()}'); "
           "print(r.n_tasks)")
    _, _, imports_kb, _ = _child([sys.executable, "-c", prelude + "print(0)"])
    wall_s, _, peak_kb, done = _child([sys.executable, "-c", prelude + run])
    print(f"peak memory of one {args.days:g}-day replication ({int(done.stdout):,} tasks), 3 alternatives, through "
          f"sim.simulate, in a child process (its own max RSS, os.wait4): {peak_kb / 1024:.0f} MB; a child that "
          f"only imports and loads the workflow: {imports_kb / 1024:.0f} MB; the replication adds "
          f"{(peak_kb - imports_kb) / 1024:.0f} MB ({wall_s:.1f} s wall)")


def command_part(args, per_replication_s: dict[str, float] | None) -> None:
    """The whole ``costsim run`` of the month, as a user types it, in a fresh process."""
    import tempfile

    costsim = Path(sys.executable).with_name("costsim")
    with tempfile.TemporaryDirectory(prefix="bench-traffic-") as folder:
        copy = Path(folder) / "month.yaml"
        text = WORKFLOW.read_text(encoding="utf-8")
        days_line = "  days: 7 "
        if days_line not in text:
            raise RuntimeError(f"{WORKFLOW}: no '{days_line.strip()}' line to set the horizon in")
        copy.write_text(text.replace(days_line, f"  days: {args.days:g} ", 1), encoding="utf-8")
        argv = [str(costsim), "run", str(copy), "--replications", str(args.replications), "--seed", str(args.seed),
                "--prices-date", PRICES_DATE.isoformat(), "--jobs", str(args.jobs), "--format", "json"]
        kept = None
        if args.kept:
            kept = _child([*argv, "--out", str(Path(folder) / "kept"), "--exact-tasks-limit", str(10**12),
                           "--tasks-file", "none"])
            print(f"command keeping every task (--exact-tasks-limit {10**12:.0e} --tasks-file none, the path "
                  f"before): {kept[0]:.1f} s wall, {kept[1]:.1f} s CPU, largest process {kept[2] / 1024:,.0f} MB "
                  "max RSS", flush=True)
        wall_s, cpu_s, peak_kb, done = _child([*argv, "--out", str(Path(folder) / "out")])
        files = sorted(path.name for path in (Path(folder) / "out").iterdir())
    summary = json.loads(done.stdout)
    if kept is not None:
        before = json.loads(kept[3].stdout)
        same = all(a["bill"] == b["bill"] and a["cost_per_task"]["mean"] == b["cost_per_task"]["mean"]
                   for a, b in zip(summary["alternatives"], before["alternatives"]))
    print(f"command: costsim run (days {args.days:g}) --replications {args.replications} --jobs {args.jobs} "
          f"--format json: {wall_s:.1f} s wall, {cpu_s:.1f} s CPU (it and its workers), largest process "
          f"{peak_kb / 1024:.0f} MB max RSS; {summary['tasks']:,} tasks an alternative; wrote {', '.join(files)}")
    for entry in summary["alternatives"]:
        bill = entry["bill"]
        print(f"  bill {entry['name']:<11} mean ${bill['mean']:,.2f}, p5 ${bill['p5']:,.2f}, p95 ${bill['p95']:,.2f}")
    if per_replication_s:
        work = args.replications * len(summary["alternatives"]) / args.jobs  # replications of one alternative a core
        for name, label in (("hand", "the hand-written SimPy model"), ("des", "costsim's SimPy engine")):
            if name in per_replication_s:
                estimate_s = per_replication_s[name] * work
                print(f"  {label}, the same work on {args.jobs} cores (from its seconds per replication "
                      f"above): about {estimate_s:,.0f} s; it / the command: {estimate_s / wall_s:.1f}x")
    if kept is not None:
        print(f"  keeping every task / reduced: wall {kept[0] / wall_s:.2f}x, CPU {kept[1] / cpu_s:.2f}x, largest "
              f"process {kept[2] / peak_kb:.1f}x; bills and mean costs the same: {same}")


def month_part(args, per_replication_s: dict[str, float] | None) -> None:
    items = [(args.days, args.seed, r) for r in range(args.replications)]
    with ProcessExecutor(args.jobs, preload=("sim.run.chunks", "sim.engine.traffic_fast")) as executor:
        list(executor.imap(replication_bills, [(args.days, args.seed, 10_000 + j) for j in range(args.jobs)]))  # warm
        start = time.perf_counter()
        bills = np.array(list(executor.imap(replication_bills, items)))
        wall_s = time.perf_counter() - start
    print(f"month: {args.replications} replications x {bills.shape[1]} alternatives of {args.days:g} days on "
          f"{args.jobs} worker processes: {wall_s:.1f} s wall")
    for index, name in enumerate(("baseline", "gpt-4.1", "sonnet-4.6")):
        mean, se = _mean_se(bills[:, index])
        print(f"  bill {name:<11} mean ${mean:,.2f} ± {se:.2f}, p5 ${np.quantile(bills[:, index], 0.05):,.2f}, "
              f"p95 ${np.quantile(bills[:, index], 0.95):,.2f}")
    if per_replication_s and "des" in per_replication_s:
        des_s = per_replication_s["des"] * bills.shape[1] * args.replications / args.jobs
        print(f"  the SimPy engine, for the same work on {args.jobs} workers (from its time per replication "
              f"above): about {des_s:,.0f} s; ratio {des_s / wall_s:.0f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--des-replications", type=int, default=2, help="replications timed on the SimPy engine")
    parser.add_argument("--hand-replications", type=int, default=2, help="replications of the hand model")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kept", action="store_true", help="command part: also time the command keeping every "
                        "task (the path before), as the ratio's baseline")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: replication, memory, month, "
                        "command")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; "
          f"python {platform.python_version()}, simpy {simpy.__version__}, numpy {np.__version__}, "
          f"costsim {sim.__version__}")
    workflow = month_workflow(args.days)
    per_replication_s = None if "replication" in skip else replication_part(args, workflow)
    if "memory" not in skip:
        memory_part(args)
    if "month" not in skip:
        month_part(args, per_replication_s)
    if "command" not in skip:
        command_part(args, per_replication_s)
    stop_helpers()  # the fork server and resource tracker of the month part's pool
    return 0


if __name__ == "__main__":
    sys.exit(main())
