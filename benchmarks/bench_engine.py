"""Engine overhead: costsim against a hand-written SimPy model of the same agent, in one process.

    .venv/bin/python benchmarks/bench_engine.py [--tasks 100000] [--repeats 3] [--seed 0] [--hand-block N]

Times N tasks of workflows/support-agent.yaml through the public path (``sim.load_workflow``, then
``sim.run.simulation.simulate`` on a copy with no alternatives, so one set of models runs, as in the hand
model), and N tasks of ``hand_model`` below: the same steps, distributions, retry policy, failure rates
and prices, written the way one would by hand (one ``simpy.Environment``, one generator process per task,
a ``numpy.random.Generator``, no common-random-numbers machinery). They alternate A B A B ...; the script
prints each rate's median and the ratio costsim/hand. A ratio under 0.5 means costsim's engine overhead
needs work.

``hand/N`` is the same hand model run in a fresh environment per N tasks (default: costsim's block size),
so that both keep the same number of processes alive at once: with 100,000 live processes the one-
environment hand model is far slower per task (memory, heap and garbage collection), which flatters
costsim's ratio. Both ratios are printed; the first is the one the requirement names.

The mean costs per task are printed with their standard errors: costsim and the hand model use different
random numbers, so they must agree within a few standard errors, which shows they do the same work. The
hand model's numbers are copied from workflows/support-agent.yaml; if that file changes, this check fails.

Speed goals live here, in a script that prints figures, never in a timed unit test.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import simpy

import sim
from sim.run.simulation import DEFAULT_BLOCK_TASKS, simulate
from sim.spec.catalog import catalog_for

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflows" / "support-agent.yaml"


# -- the hand-written model ------------------------------------------------------------------------------
def _tokens(x: np.ndarray) -> list[int]:
    """Token counts are integers, rounded half up (as costsim does)."""
    return np.floor(x + 0.5).astype(np.int64).tolist()


def _normal_at_0(rng: np.random.Generator, mean: float, sd: float, size: int) -> np.ndarray:
    """Normal truncated at 0 (conditioned on >= 0, not clipped), by rejection."""
    x = rng.normal(mean, sd, size)
    while (negative := x < 0).any():
        x[negative] = rng.normal(mean, sd, int(negative.sum()))
    return x


def hand_model(
    n: int, seed: int, nano: tuple[float, float], mini: tuple[float, float], block: int = 0
) -> np.ndarray:
    """Cost per task (USD) of ``n`` support-agent tasks; ``nano``/``mini`` are USD per token (in, out).

    All tasks run in one environment, unless ``block`` > 0: then in a fresh environment per ``block`` tasks.
    """
    rng = np.random.default_rng(seed)
    attempts = 3  # retry.max_attempts, for every call and tool
    # Per-task draws, made up front for all tasks.
    head = [1200 + u for u in _tokens(rng.lognormal(math.log(200), 0.5, n))]
    classify_out = _tokens(_normal_at_0(rng, 100, 20, n))
    plan_out = _tokens(_normal_at_0(rng, 300, 80, n))
    loops = np.maximum(rng.poisson(1.8, n), 1)
    first_loop = np.concatenate([[0], np.cumsum(loops)[:-1]]).tolist()
    answer_out = _tokens(rng.lognormal(math.log(500), 0.3, (n, attempts)))
    answer_fail = (rng.random((n, attempts)) < 0.10).tolist()
    # Per-iteration draws of the tool loop (every attempt's latency, error and result).
    m = int(loops.sum())
    latency = rng.lognormal(math.log(0.8), 0.7, (m, attempts)).tolist()
    tool_fail = (rng.random((m, attempts)) < 0.05).tolist()
    result = _tokens(rng.lognormal(math.log(1000), 0.6, m))
    reprompt_out = _tokens(_normal_at_0(rng, 150, 50, m))
    loops = loops.tolist()
    nano_in, nano_out = nano
    mini_in, mini_out = mini
    cost = [0.0] * n

    def task(env: simpy.Environment, i: int):
        h = head[i]
        # classify (fast model, history: none); its prompt and output still join the conversation
        out = classify_out[i]
        usd = (h + 500) * nano_in + out * nano_out
        transcript = 500 + out
        # plan (main model, full history)
        out = plan_out[i]
        usd += (h + 800 + transcript) * mini_in + out * mini_out
        transcript += 800 + out
        # tool loop: search (latency, 5% errors, up to 3 attempts), then re-prompt with everything so far
        for j in range(first_loop[i], first_loop[i] + loops[i]):
            for a in range(attempts):
                yield env.timeout(latency[j][a])
                if not tool_fail[j][a]:
                    transcript += result[j]
                    break
            else:  # every attempt errored: the task fails (task_retry: 1 run)
                cost[i] = usd
                return
            out = reprompt_out[j]
            usd += (h + 100 + transcript) * mini_in + out * mini_out
            transcript += 100 + out
        # answer: 10% of outputs fail validation; each failed attempt is billed and re-sent as is
        input_usd = (h + 150 + transcript) * mini_in
        for a in range(attempts):
            usd += input_usd + answer_out[i][a] * mini_out
            if not answer_fail[i][a]:
                break
        cost[i] = usd

    block = block or n
    for start in range(0, n, block):
        env = simpy.Environment()
        for i in range(start, min(start + block, n)):
            env.process(task(env, i))
        env.run()
    return np.asarray(cost)


# -- timing ----------------------------------------------------------------------------------------------
def _mean_se(x: np.ndarray) -> tuple[float, float]:
    """The mean and its standard error."""
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(len(x)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks per timed run (default 100,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each model (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hand-block", type=int, default=DEFAULT_BLOCK_TASKS, metavar="N",
                        help="also time the hand model with a fresh environment per N tasks, as costsim runs its "
                             f"blocks (default: costsim's block size, {DEFAULT_BLOCK_TASKS:,}; 0: skip)")
    args = parser.parse_args(argv)

    workflow = sim.load_workflow(WORKFLOW)
    baseline = workflow.model_copy(update={"alternatives": {}})
    catalog = catalog_for(workflow)  # prices as floats, looked up once, for the hand model

    def per_token(ref: str) -> tuple[float, float]:
        rates = catalog.resolve(ref)
        assert not rates.has_tiers, ref
        return rates.input.base_usd_per_mtok / 1e6, rates.output.base_usd_per_mtok / 1e6

    nano, mini = per_token(workflow.models["fast"]), per_token(workflow.models["main"])
    runners = {
        "costsim": lambda n: simulate(baseline, tasks=n, seed=args.seed, engine="des").baseline.tasks.cost_usd,
        "hand": lambda n: hand_model(n, args.seed, nano, mini),
    }
    if args.hand_block:
        runners[f"hand/{args.hand_block}"] = lambda n: hand_model(n, args.seed, nano, mini, block=args.hand_block)

    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, {platform.system()} {platform.release()}")
    print(f"python {platform.python_version()}, simpy {simpy.__version__}, numpy {np.__version__}, "
          f"costsim {sim.__version__}")
    print(f"workflow {WORKFLOW.name}, baseline {workflow.models}, {args.tasks:,} tasks, seed {args.seed}, "
          f"{args.repeats} repeats alternating {', '.join(runners)}")
    legend = "hand = one environment for all tasks"
    if args.hand_block:
        legend += f"; hand/{args.hand_block} = a fresh environment per {args.hand_block:,} tasks"
    print(legend)

    for run in runners.values():  # warm-up, not timed: imports, first-use caches
        run(1_000)
    wall: dict[str, list[float]] = {name: [] for name in runners}  # tasks per wall-clock second
    cpu: dict[str, list[float]] = {name: [] for name in runners}  # tasks per CPU second of this process
    costs: dict[str, np.ndarray] = {}
    for repeat in range(args.repeats):
        cells = []
        for name, run in runners.items():
            w0, c0 = time.perf_counter(), time.process_time()
            costs[name] = run(args.tasks)
            w1, c1 = time.perf_counter(), time.process_time()
            wall[name].append(args.tasks / (w1 - w0))
            cpu[name].append(args.tasks / (c1 - c0))
            cells.append(f"{name} {wall[name][-1]:>7,.0f}/s")
        print(f"  repeat {repeat + 1}: " + "   ".join(cells), flush=True)

    print("mean cost per task (USD, ± standard error):")
    (m_c, se_c) = _mean_se(costs["costsim"])
    worst = 0.0
    for name in runners:
        mean, se = _mean_se(costs[name])
        z = 0.0 if name == "costsim" else (m_c - mean) / math.hypot(se_c, se)
        worst = max(worst, abs(z))
        print(f"  {name:<12} {mean:.7f} ± {se:.7f}" + ("" if name == "costsim" else f"   costsim - this: {z:+.2f} SE"))
    print(f"rates (median of {args.repeats}):")
    median = {name: statistics.median(values) for name, values in wall.items()}
    cpu_median = {name: statistics.median(values) for name, values in cpu.items()}
    for name in runners:
        print(f"  {name:<12} {median[name]:>8,.0f} tasks/s   ({cpu_median[name]:,.0f} tasks per CPU second)")
    for name in runners:
        if name != "costsim":
            print(f"ratio costsim/{name}: {median['costsim'] / median[name]:.3f}   "
                  f"(per CPU second {cpu_median['costsim'] / cpu_median[name]:.3f})")
    if worst > 4:
        print("WARNING: mean costs differ by more than 4 standard errors: the models do different work")
    if median["costsim"] / median["hand"] < 0.5:
        print("ratio costsim/hand under 0.5: costsim's engine overhead needs work")
    return 0


if __name__ == "__main__":
    sys.exit(main())
