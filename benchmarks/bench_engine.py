"""Engine overhead: costsim against a hand-written SimPy model of the same agent, in one process.

    .venv/bin/python benchmarks/bench_engine.py [--tasks 100000] [--repeats 3] [--seed 0]

Times N tasks of workflows/support-agent.yaml through the public path (``sim.load_workflow``, then
``sim.montecarlo.simulate`` on a copy with no alternatives, so one model set runs, as in the hand model),
and N tasks of ``hand_model`` below: the same steps, distributions, retry policy, failure rates and
prices, written the way one would by hand (one ``simpy.Environment``, one generator process per task,
a ``numpy.random.Generator``, no common-random-numbers machinery). The two alternate A B A B ...; the
script prints each rate's median and the ratio costsim/hand. A ratio under 0.5 means costsim's engine
overhead needs work. The two mean costs per task are printed with their standard errors: they must agree
within a few standard errors, which shows the two models do the same work.

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
from sim.montecarlo import simulate
from sim.plan import catalog_for

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


def hand_model(n: int, seed: int, nano: tuple[float, float], mini: tuple[float, float]) -> np.ndarray:
    """Cost per task (USD) of ``n`` support-agent tasks; ``nano``/``mini`` are USD per token (in, out)."""
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

    env = simpy.Environment()

    def task(i: int):
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

    for i in range(n):
        env.process(task(i))
    env.run()
    return np.asarray(cost)


# -- timing ----------------------------------------------------------------------------------------------
def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(len(x)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    workflow = sim.load_workflow(WORKFLOW)
    baseline = workflow.model_copy(update={"alternatives": {}})
    catalog = catalog_for(workflow)  # prices as floats, looked up once, for the hand model

    def per_token(ref: str) -> tuple[float, float]:
        rates = catalog.resolve(ref)
        assert not rates.has_tiers, ref
        return rates.input.base_usd_per_mtok / 1e6, rates.output.base_usd_per_mtok / 1e6

    nano, mini = per_token(workflow.models["fast"]), per_token(workflow.models["main"])

    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, {platform.system()} {platform.release()}")
    print(f"python {platform.python_version()}, simpy {simpy.__version__}, numpy {np.__version__}, "
          f"costsim {sim.__version__}")
    print(f"workflow {WORKFLOW.name}, baseline {workflow.models}, {args.tasks:,} tasks, seed {args.seed}, "
          f"{args.repeats} repeats alternating costsim, hand")

    simulate(baseline, tasks=1_000, seed=args.seed)  # warm-up, not timed: imports, first-use caches
    hand_model(1_000, args.seed, nano, mini)
    rates: dict[str, list[float]] = {"costsim": [], "hand": []}
    costs: dict[str, np.ndarray] = {}
    for repeat in range(args.repeats):
        t0 = time.perf_counter()
        result = simulate(baseline, tasks=args.tasks, seed=args.seed)
        t1 = time.perf_counter()
        costs["hand"] = hand_model(args.tasks, args.seed, nano, mini)
        t2 = time.perf_counter()
        costs["costsim"] = result.baseline.tasks.cost_usd
        rates["costsim"].append(args.tasks / (t1 - t0))
        rates["hand"].append(args.tasks / (t2 - t1))
        print(f"  repeat {repeat + 1}: costsim {rates['costsim'][-1]:>9,.0f} tasks/s   "
              f"hand {rates['hand'][-1]:>9,.0f} tasks/s   ratio {rates['costsim'][-1] / rates['hand'][-1]:.3f}",
              flush=True)

    (m_c, se_c), (m_h, se_h) = _mean_se(costs["costsim"]), _mean_se(costs["hand"])
    z = (m_c - m_h) / math.hypot(se_c, se_h)
    median_c, median_h = statistics.median(rates["costsim"]), statistics.median(rates["hand"])
    ratios = [c / h for c, h in zip(rates["costsim"], rates["hand"])]
    print(f"mean cost per task: costsim {m_c:.7f} ± {se_c:.7f} USD, hand {m_h:.7f} ± {se_h:.7f} USD "
          f"(difference {z:+.2f} standard errors)")
    print(f"costsim: {median_c:,.0f} tasks/s (median of {args.repeats})")
    print(f"hand:    {median_h:,.0f} tasks/s (median of {args.repeats})")
    print(f"ratio costsim/hand: {median_c / median_h:.3f} (ratio of medians); "
          f"pairwise median {statistics.median(ratios):.3f}")
    if abs(z) > 4:
        print("WARNING: the mean costs differ by more than 4 standard errors: the two models do different work")
    if median_c / median_h < 0.5:
        print("ratio under 0.5: costsim's engine overhead needs work")
    return 0


if __name__ == "__main__":
    sys.exit(main())
