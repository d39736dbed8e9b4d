"""Performance and scale of costsim on the support agent: engines against hand-written models, scaling in
tasks, speed-up with workers, peak memory at 10 million tasks.

    .venv/bin/python benchmarks/bench_scale.py [--tasks 100000] [--fast-tasks 1000000] [--repeats 3]
        [--sizes 10000,100000,1000000]
        [--jobs-tasks 1000000] [--memory-tasks 10000000] [--quick] [--skip memory,jobs,...]

Five parts, in one run (each figure is the median of ``--repeats`` timed runs, alternating models):

1. **engines**: tasks per second on ``--tasks`` tasks (``--fast-tasks`` for the vectorised models, which
   are too quick to time on fewer) of workflows/support-agent.yaml with the baseline models only, of
   costsim's SimPy engine (``sim.run.simulation.simulate``, in this process), of the vectorised
   engine when ``sim.engine.fast.FastEngine`` exists ("not available" otherwise), of the
   hand-written SimPy model of benchmarks/bench_engine.py (imported, not copied; one environment for all
   tasks, and one per 1,000-task block), and of :func:`numpy_model` below, the same agent written by hand
   with NumPy arrays; then the ratios. Every model's mean cost per task is printed with its standard
   error, and the hand models must agree with costsim within 4 standard errors (they draw other random
   numbers, so this shows they do the same work).
2. **agents**: the vectorised engine on three agents (the support agent, benchmarks/retry-loop.yaml and
   benchmarks/routed-agent.yaml, baseline models only, ``--fast-tasks`` tasks) against two hand-written
   NumPy models of each: one that computes only each task's cost (:func:`numpy_model`,
   :func:`retry_loop_model`, :func:`routed_model`), and one that computes the record costsim reports,
   :data:`FULL_FIELDS` (cost, latency, calls, tokens in and out, success: :func:`numpy_record`,
   :func:`retry_loop_record`, :func:`routed_record`), the like-for-like baseline. Tasks per second of wall
   time and per CPU second, the ratios against both, and every field's mean against costsim's within 4
   standard errors.
3. **scaling**: each of ``--engines`` (all alternatives, this process) at each of ``--sizes`` (10 times
   those for the vectorised engine), the sizes in turn round after round (so that a drift of the machine's
   speed hits every size alike); tasks/s at
   each size, and a flag on any step where the rate falls by more than 20% (super-linear time). At the
   largest size (10^6 by default) it also compares the quantile sketch with the exact quantiles of the
   same run's costs.
4. **jobs**: for each engine, ``--jobs-tasks`` tasks (all alternatives) with 1 job (this process) and with 2 worker
   processes (``sim.run.executor.ProcessExecutor``); the speed-up.
5. **memory**: for each engine, ``costsim run`` of ``--memory-tasks`` tasks (all alternatives, ``--jobs 2``) in a child
   process; its peak memory: the largest resident set of any one process of the run (getrusage of the
   children, exact) and the peak of the sums over the run's processes of RSS and of PSS (sampled from
   /proc every 0.2 s).

``--quick`` shrinks everything for a smoke run (10^4 tasks, sizes up to 10^5, memory at 10^6).
Speed goals live here, in a script that prints figures, never in a timed unit test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import _normal_at_0, hand_model  # noqa: E402  (the hand-written SimPy model)

import sim  # noqa: E402
from sim.core.profiles import default_profile  # noqa: E402
from sim.run.executor import ProcessExecutor  # noqa: E402
from sim.run.simulation import simulate  # noqa: E402
from sim.spec.catalog import catalog_for  # noqa: E402
from sim.stats.sketch import LogHistogram  # noqa: E402

try:
    from sim.engine.fast import FastEngine
except ImportError:
    FastEngine = None

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflows" / "support-agent.yaml"
#: The agents of part "agents" besides the support agent, each with its hand NumPy model below.
AGENTS = {name: ROOT / "benchmarks" / f"{name}.yaml" for name in ("retry-loop", "routed-agent")}
#: Prices of one date, so that every run of the benchmark bills the same models at the same rates.
PRICES_DATE = dt.date(2026, 11, 1)


# -- the hand-vectorised NumPy model -----------------------------------------------------------------------
# Every hand model adds to the entries of scattered tasks with np.add.at (the positions are distinct, so it
# makes the same additions as ``x[idx] += v``): one pass through the index, about twice as fast on NumPy 2,
# and what the vectorised engine does too (sim/engine/updates.py), so neither side gains from the idiom.
def _tokens(x: np.ndarray) -> np.ndarray:
    """Token counts are integers, rounded half up (as costsim does); an array, unlike bench_engine's list."""
    return np.floor(x + 0.5).astype(np.int64)


def numpy_model(n: int, seed: int, nano: tuple[float, float], mini: tuple[float, float]) -> np.ndarray:
    """Cost per task (USD) of ``n`` support-agent tasks, every task at once with NumPy arrays.

    The same agent as ``bench_engine.hand_model`` (and workflows/support-agent.yaml): classify on the fast
    model with no history, plan, a loop of max(1, Poisson(1.8)) turns of a search tool (5% errors, 3
    attempts; a task whose search fails 3 times fails, billed for what it did) and a re-prompt with the whole
    conversation, then an answer whose outputs fail validation 10% of the time (3 attempts, each billed).
    ``nano``/``mini`` are USD per token (input, output).
    """
    rng = np.random.default_rng(seed)
    attempts = 3
    head = 1200 + _tokens(rng.lognormal(math.log(200), 0.5, n))
    nano_in, nano_out = nano
    mini_in, mini_out = mini
    out = _tokens(_normal_at_0(rng, 100, 20, n))
    usd = (head + 500) * nano_in + out * nano_out  # classify
    transcript = 500 + out
    out = _tokens(_normal_at_0(rng, 300, 80, n))
    usd += (head + 800 + transcript) * mini_in + out * mini_out  # plan
    transcript += 800 + out
    turns = np.maximum(rng.poisson(1.8, n), 1)
    alive = np.ones(n, dtype=bool)
    for turn in range(int(turns.max())):
        active = np.flatnonzero(alive & (turns > turn))
        m = len(active)
        searched = rng.geometric(0.95, m) <= attempts  # some attempt of the search succeeded
        alive[active[~searched]] = False
        ok = active[searched]
        np.add.at(transcript, ok, _tokens(rng.lognormal(math.log(1000), 0.6, len(ok))))
        out = _tokens(_normal_at_0(rng, 150, 50, len(ok)))
        np.add.at(usd, ok, (head[ok] + 100 + transcript[ok]) * mini_in + out * mini_out)  # re-prompt
        np.add.at(transcript, ok, 100 + out)
    ok = np.flatnonzero(alive)
    billed = np.minimum(rng.geometric(0.90, len(ok)), attempts)  # up to and including the first valid one
    out_sum, _ = _attempt_outputs(rng, billed, 500, 0.3)
    np.add.at(usd, ok, billed * (head[ok] + 150 + transcript[ok]) * mini_in + out_sum * mini_out)
    return usd


def _attempt_outputs(rng, billed: np.ndarray, median: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """One lognormal output per billed attempt, ``billed[i]`` (>= 1) of them for call i: (their sum per
    call, the last one's, which is the answer kept when the call succeeded)."""
    return _per_attempt(lambda size: _tokens(rng.lognormal(math.log(median), sigma, size)), billed)


def _per_attempt(draw, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``counts[i]`` (>= 1) values of ``draw(size)`` for call i: (their sum per call, the last one). One
    value for every call, then a loop over the further attempts of the few calls that retry: faster than
    laying out every attempt and summing with ``np.add.reduceat`` (29 against 37 to 42 ms for 850,000 calls
    of up to 10 attempts at 15% failure), as most calls take one attempt."""
    first = draw(len(counts))
    total, last = first.copy(), first
    more = np.flatnonzero(counts > 1)
    k = 2
    while more.size:
        value = draw(len(more))
        np.add.at(total, more, value)
        last[more] = value
        more = more[counts[more] > k]
        k += 1
    return total, last


def retry_loop_model(n: int, seed: int, main: tuple[float, float]) -> np.ndarray:
    """Cost per task (USD) of ``n`` tasks of benchmarks/retry-loop.yaml, every task at once with NumPy.

    max(1, Poisson(3)) turns; in each, an API call that errors 15% of the time (10 attempts: the number of
    attempts is geometric; a task whose 10 attempts all error fails) adds its result to the conversation,
    then a call with the whole conversation whose answers are unusable 15% of the time (10 attempts, each
    billed for the same input and its own output; the kept answer joins the conversation).
    """
    rng = np.random.default_rng(seed)
    attempts, p_ok = 10, 0.85
    main_in, main_out = main
    head = 1000 + _tokens(rng.lognormal(math.log(300), 0.5, n))
    usd = np.zeros(n)
    transcript = np.zeros(n, dtype=np.int64)
    turns = np.maximum(rng.poisson(3, n), 1)
    alive = np.ones(n, dtype=bool)
    for turn in range(int(turns.max())):
        active = np.flatnonzero(alive & (turns > turn))
        fetched = rng.geometric(p_ok, len(active)) <= attempts
        alive[active[~fetched]] = False
        ok = active[fetched]
        np.add.at(transcript, ok, _tokens(rng.lognormal(math.log(400), 0.5, len(ok))))
        tries = rng.geometric(p_ok, len(ok))
        billed = np.minimum(tries, attempts)
        out_sum, kept = _attempt_outputs(rng, billed, 120, 0.4)
        np.add.at(usd, ok, billed * (head[ok] + 80 + transcript[ok]) * main_in + out_sum * main_out)
        answered = tries <= attempts
        alive[ok[~answered]] = False
        np.add.at(transcript, ok[answered], 80 + kept[answered])
    return usd


def routed_model(n: int, seed: int, router: tuple[float, float], weak: tuple[float, float],
                 strong: tuple[float, float]) -> np.ndarray:
    """Cost per task (USD) of ``n`` tasks of benchmarks/routed-agent.yaml, every task at once with NumPy.

    A difficulty class (easy 70%, medium 20%, hard 10%); a router call (the head and a 150-token prompt in,
    2 tokens out) that sends a task to the strong model with P 2%, 25%, 85% by class; a draft on the chosen
    model, unusable with P = 1 - its quality at the class (3 attempts, each billed; a task whose 3 fail
    fails); then the reply, with the kept draft in its input.
    """
    rng = np.random.default_rng(seed)
    attempts = 3
    difficulty = rng.choice(3, n, p=[0.7, 0.2, 0.1])
    head = 800 + _tokens(rng.lognormal(math.log(150), 0.6, n))
    usd = (head + 150) * router[0] + 2 * router[1]
    to_strong = rng.random(n) < np.array([0.02, 0.25, 0.85])[difficulty]
    p_fail = np.where(to_strong, np.array([0.03, 0.08, 0.20])[difficulty], np.array([0.05, 0.22, 0.70])[difficulty])
    rate_in = np.where(to_strong, strong[0], weak[0])
    rate_out = np.where(to_strong, strong[1], weak[1])
    tries = rng.geometric(1 - p_fail)
    billed = np.minimum(tries, attempts)
    out_sum, kept = _attempt_outputs(rng, billed, 400, 0.5)
    usd += billed * (head + 100) * rate_in + out_sum * rate_out
    ok = np.flatnonzero(tries <= attempts)
    out = _tokens(_normal_at_0(rng, 200, 50, len(ok)))
    np.add.at(usd, ok, (head[ok] + 60 + 100 + kept[ok]) * rate_in[ok] + out * rate_out[ok])
    return usd


# -- the hand-vectorised NumPy models of the whole record ---------------------------------------------------
# The models above compute only each task's cost. costsim's engine also fills the rest of each task's
# record, and does work for it on every attempt: the latency (a tool's latency per attempt, a model's time
# to first token plus its output at its speed per attempt, the backoff before every retry), the calls, the
# tokens in and out, and whether the task succeeded. The models below compute that same record (the six
# fields of FULL_FIELDS), with the same distributions, as a good NumPy programmer would: geometric draws for
# the attempts, one lognormal per billed attempt, one uniform per retry's jitter. They are the like-for-like
# baseline for the vectorised engine; the cost-only ones above stay, as the floor.

#: The fields of a task's record that the full-record hand models compute, as costsim names them.
FULL_FIELDS = ("cost_usd", "latency_s", "calls", "input_tokens", "output_tokens", "success")


def _backoff_s(rng, retries: np.ndarray, backoff) -> np.ndarray:
    """Seconds each call waited before its ``retries[i]`` retries: retry k waits min(max_s, base_s *
    factor^(k - 1)), jittered as ``backoff.jitter`` says (``full``: a uniform share of it; ``equal``: half
    plus a uniform share of the other half; ``none``: all of it). A loop over k, on the few calls that retry."""
    waits = np.zeros(len(retries))
    retrying = np.flatnonzero(retries > 0)
    k = 1
    while retrying.size:
        wait = min(backoff.max_s, backoff.base_s * backoff.factor ** (k - 1))
        if backoff.jitter == "full":
            np.add.at(waits, retrying, wait * rng.random(len(retrying)))
        elif backoff.jitter == "equal":
            np.add.at(waits, retrying, wait / 2 + wait / 2 * rng.random(len(retrying)))
        else:
            np.add.at(waits, retrying, wait)
        k += 1
        retrying = retrying[retries[retrying] >= k]
    return waits


def _record(n: int) -> dict[str, np.ndarray]:
    return {"cost_usd": np.zeros(n), "latency_s": np.zeros(n), "calls": np.zeros(n, dtype=np.int64),
            "input_tokens": np.zeros(n, dtype=np.int64), "output_tokens": np.zeros(n, dtype=np.int64),
            "success": np.zeros(n, dtype=bool)}


def numpy_record(n: int, seed: int, nano, mini, nano_time, mini_time, backoff) -> dict[str, np.ndarray]:
    """The record (:data:`FULL_FIELDS`) of ``n`` support-agent tasks: :func:`numpy_model` plus latency,
    calls, tokens and success. ``*_time``: (time to first token in s, output tokens per s); ``backoff``: the
    workflow's retry backoff (a ``sim.spec.timing.Backoff``)."""
    rng = np.random.default_rng(seed)
    attempts = 3
    record = _record(n)
    usd, latency, calls = record["cost_usd"], record["latency_s"], record["calls"]
    tokens_in, tokens_out = record["input_tokens"], record["output_tokens"]
    head = 1200 + _tokens(rng.lognormal(math.log(200), 0.5, n))
    (nano_in, nano_out), (mini_in, mini_out) = nano, mini
    (nano_ttft, nano_speed), (mini_ttft, mini_speed) = nano_time, mini_time
    out = _tokens(_normal_at_0(rng, 100, 20, n))  # classify
    sent = head + 500
    usd += sent * nano_in + out * nano_out
    tokens_in += sent
    tokens_out += out
    latency += nano_ttft + out / nano_speed
    transcript = 500 + out
    out = _tokens(_normal_at_0(rng, 300, 80, n))  # plan
    sent = head + 800 + transcript
    usd += sent * mini_in + out * mini_out
    tokens_in += sent
    tokens_out += out
    latency += mini_ttft + out / mini_speed
    calls += 2
    transcript += 800 + out
    turns = np.maximum(rng.poisson(1.8, n), 1)
    alive = np.ones(n, dtype=bool)
    for turn in range(int(turns.max())):
        active = np.flatnonzero(alive & (turns > turn))
        tries = rng.geometric(0.95, len(active))  # the search: 5% errors, 3 attempts
        billed = np.minimum(tries, attempts)
        waited, _ = _per_attempt(lambda size: rng.lognormal(math.log(0.8), 0.7, size), billed)
        np.add.at(latency, active, waited + _backoff_s(rng, billed - 1, backoff))
        searched = tries <= attempts
        alive[active[~searched]] = False
        ok = active[searched]
        np.add.at(transcript, ok, _tokens(rng.lognormal(math.log(1000), 0.6, len(ok))))
        out = _tokens(_normal_at_0(rng, 150, 50, len(ok)))  # re-prompt
        sent = head[ok] + 100 + transcript[ok]
        np.add.at(usd, ok, sent * mini_in + out * mini_out)
        np.add.at(tokens_in, ok, sent)
        np.add.at(tokens_out, ok, out)
        np.add.at(latency, ok, mini_ttft + out / mini_speed)
        np.add.at(calls, ok, 1)
        np.add.at(transcript, ok, 100 + out)
    ok = np.flatnonzero(alive)  # the answer: 10% of answers fail validation, 3 attempts, each billed
    tries = rng.geometric(0.90, len(ok))
    billed = np.minimum(tries, attempts)
    out_sum, _ = _attempt_outputs(rng, billed, 500, 0.3)
    sent = head[ok] + 150 + transcript[ok]
    np.add.at(usd, ok, billed * sent * mini_in + out_sum * mini_out)
    np.add.at(tokens_in, ok, billed * sent)
    np.add.at(tokens_out, ok, out_sum)
    np.add.at(latency, ok, billed * mini_ttft + out_sum / mini_speed + _backoff_s(rng, billed - 1, backoff))
    np.add.at(calls, ok, 1)
    record["success"][ok[tries <= attempts]] = True
    return record


def retry_loop_record(n: int, seed: int, main, main_time, backoff) -> dict[str, np.ndarray]:
    """The record (:data:`FULL_FIELDS`) of ``n`` tasks of benchmarks/retry-loop.yaml: :func:`retry_loop_model`
    plus latency (the API's latency per attempt, the model's per attempt, the backoff before each retry),
    calls, tokens and success."""
    rng = np.random.default_rng(seed)
    attempts, p_ok = 10, 0.85
    (main_in, main_out), (ttft, speed) = main, main_time
    record = _record(n)
    usd, latency, calls = record["cost_usd"], record["latency_s"], record["calls"]
    tokens_in, tokens_out = record["input_tokens"], record["output_tokens"]
    head = 1000 + _tokens(rng.lognormal(math.log(300), 0.5, n))
    transcript = np.zeros(n, dtype=np.int64)
    turns = np.maximum(rng.poisson(3, n), 1)
    alive = np.ones(n, dtype=bool)
    for turn in range(int(turns.max())):
        active = np.flatnonzero(alive & (turns > turn))
        tries = rng.geometric(p_ok, len(active))  # the API call
        billed = np.minimum(tries, attempts)
        waited, _ = _per_attempt(lambda size: rng.lognormal(math.log(0.5), 0.5, size), billed)
        np.add.at(latency, active, waited + _backoff_s(rng, billed - 1, backoff))
        fetched = tries <= attempts
        alive[active[~fetched]] = False
        ok = active[fetched]
        np.add.at(transcript, ok, _tokens(rng.lognormal(math.log(400), 0.5, len(ok))))
        tries = rng.geometric(p_ok, len(ok))  # the model call
        billed = np.minimum(tries, attempts)
        out_sum, kept = _attempt_outputs(rng, billed, 120, 0.4)
        sent = billed * (head[ok] + 80 + transcript[ok])
        np.add.at(usd, ok, sent * main_in + out_sum * main_out)
        np.add.at(tokens_in, ok, sent)
        np.add.at(tokens_out, ok, out_sum)
        np.add.at(latency, ok, billed * ttft + out_sum / speed + _backoff_s(rng, billed - 1, backoff))
        np.add.at(calls, ok, 1)
        answered = tries <= attempts
        alive[ok[~answered]] = False
        np.add.at(transcript, ok[answered], 80 + kept[answered])
    record["success"][:] = alive
    return record


def routed_record(n: int, seed: int, router, weak, strong, router_time, weak_time, strong_time,
                  backoff) -> dict[str, np.ndarray]:
    """The record (:data:`FULL_FIELDS`) of ``n`` tasks of benchmarks/routed-agent.yaml: :func:`routed_model`
    plus latency (the router's call, the chosen model's attempts, the backoff before each retry), calls,
    tokens and success."""
    rng = np.random.default_rng(seed)
    attempts = 3
    record = _record(n)
    latency, calls = record["latency_s"], record["calls"]
    tokens_in, tokens_out = record["input_tokens"], record["output_tokens"]
    difficulty = rng.choice(3, n, p=[0.7, 0.2, 0.1])
    head = 800 + _tokens(rng.lognormal(math.log(150), 0.6, n))
    usd = (head + 150) * router[0] + 2 * router[1]  # the router's call
    tokens_in += head + 150
    tokens_out += 2
    latency += router_time[0] + 2 / router_time[1]
    to_strong = rng.random(n) < np.array([0.02, 0.25, 0.85])[difficulty]
    p_fail = np.where(to_strong, np.array([0.03, 0.08, 0.20])[difficulty], np.array([0.05, 0.22, 0.70])[difficulty])
    rate_in = np.where(to_strong, strong[0], weak[0])
    rate_out = np.where(to_strong, strong[1], weak[1])
    ttft = np.where(to_strong, strong_time[0], weak_time[0])
    speed = np.where(to_strong, strong_time[1], weak_time[1])
    tries = rng.geometric(1 - p_fail)  # the draft
    billed = np.minimum(tries, attempts)
    out_sum, kept = _attempt_outputs(rng, billed, 400, 0.5)
    usd += billed * (head + 100) * rate_in + out_sum * rate_out
    tokens_in += billed * (head + 100)
    tokens_out += out_sum
    latency += billed * ttft + out_sum / speed + _backoff_s(rng, billed - 1, backoff)
    calls += 2
    ok = np.flatnonzero(tries <= attempts)  # the reply
    out = _tokens(_normal_at_0(rng, 200, 50, len(ok)))
    sent = head[ok] + 60 + 100 + kept[ok]
    np.add.at(usd, ok, sent * rate_in[ok] + out * rate_out[ok])
    np.add.at(tokens_in, ok, sent)
    np.add.at(tokens_out, ok, out)
    np.add.at(latency, ok, ttft[ok] + out / speed[ok])
    np.add.at(calls, ok, 1)
    record["cost_usd"] = usd
    record["success"][ok] = True
    return record


# -- helpers -------------------------------------------------------------------------------------------------
def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(len(x)))


def _timed(run, n: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    costs = run(n)
    return n / (time.perf_counter() - start), costs


def _timed_cpu(run, n: int) -> tuple[float, float, np.ndarray]:
    """Tasks per second of wall time and of this process's CPU time (which other processes on a busy
    machine move less), and the costs."""
    start, start_cpu = time.perf_counter(), time.process_time()
    costs = run(n)
    return n / (time.perf_counter() - start), n / (time.process_time() - start_cpu), costs


def engines(args, workflow, nano, mini) -> None:
    baseline = workflow.model_copy(update={"alternatives": {}})
    runners = {"costsim des": lambda n: simulate(baseline, n, args.seed, engine="des",
                                                 prices_date=PRICES_DATE).baseline.tasks.cost_usd}
    sizes = {"costsim des": args.tasks, "hand simpy": args.tasks, "hand simpy/1000": args.tasks,
             "costsim fast": args.fast_tasks, "hand numpy": args.fast_tasks}
    if FastEngine is not None:
        runners["costsim fast"] = lambda n: simulate(
            baseline, n, args.seed, engine=FastEngine(), prices_date=PRICES_DATE).baseline.tasks.cost_usd
    runners["hand simpy"] = lambda n: hand_model(n, args.seed, nano, mini)
    runners["hand simpy/1000"] = lambda n: hand_model(n, args.seed, nano, mini, block=1000)
    runners["hand numpy"] = lambda n: numpy_model(n, args.seed, nano, mini)
    print(f"\n== engines: baseline models only, {args.repeats} repeats; {args.tasks:,} tasks for the SimPy models, "
          f"{args.fast_tasks:,} for the vectorised ones ==")
    if FastEngine is None:
        print("  costsim fast: not available (no sim.engine.fast.FastEngine)")
    for run in runners.values():
        run(1_000)  # warm-up: imports and first-use caches
    rates: dict[str, list[float]] = {name: [] for name in runners}
    costs: dict[str, np.ndarray] = {}
    for repeat in range(args.repeats):
        cells = []
        for name, run in runners.items():
            rate, costs[name] = _timed(run, sizes[name])
            rates[name].append(rate)
            cells.append(f"{name} {rate:,.0f}/s")
        print(f"  repeat {repeat + 1}: " + "; ".join(cells), flush=True)
    median = {name: statistics.median(values) for name, values in rates.items()}
    print("  median tasks/s:")
    for name in runners:
        print(f"    {name:<16} {median[name]:>12,.0f}")
    print("  ratios (targets: des >= 0.8 x hand simpy, fast >= 0.5 x hand numpy):")
    print(f"    costsim des / hand simpy       {median['costsim des'] / median['hand simpy']:.3f}")
    print(f"    costsim des / hand simpy/1000  {median['costsim des'] / median['hand simpy/1000']:.3f}")
    if FastEngine is not None:
        print(f"    costsim fast / hand numpy      {median['costsim fast'] / median['hand numpy']:.3f}")
    else:
        print("    costsim fast / hand numpy      not available")
    print(f"    hand numpy / hand simpy        {median['hand numpy'] / median['hand simpy']:.1f}")
    print("  mean cost per task (USD, ± standard error), against costsim des:")
    m_c, se_c = _mean_se(costs["costsim des"])
    for name in runners:
        mean, se = _mean_se(costs[name])
        line = f"    {name:<16} {mean:.7f} ± {se:.7f}"
        if name != "costsim des":
            z = (mean - m_c) / math.hypot(se, se_c)
            line += f"   {z:+.2f} SE" + ("   MISMATCH: more than 4 SE" if abs(z) > 4 else "   ok")
        print(line)


def _agents(workflow, per_token, timing, seed: int) -> dict:
    """The agents of part "agents": name -> (workflow with its baseline models only, cost-only hand NumPy
    model, full-record hand NumPy model)."""
    support = workflow.model_copy(update={"alternatives": {}, "provider_rules": False})
    nano, mini = (workflow.models["fast"], workflow.models["main"])
    retry = sim.load_workflow(AGENTS["retry-loop"]).model_copy(update={"alternatives": {}})
    routed = sim.load_workflow(AGENTS["routed-agent"]).model_copy(update={"alternatives": {}})
    router = routed.routing["router"].router
    main, weak, strong = retry.models["main"], router.routes["weak"], router.routes["strong"]
    return {
        "support": (support, lambda n: numpy_model(n, seed, per_token(support, nano), per_token(support, mini)),
                    lambda n: numpy_record(n, seed, per_token(support, nano), per_token(support, mini),
                                           timing(support, nano), timing(support, mini), support.retry.backoff)),
        "retry-loop": (retry, lambda n: retry_loop_model(n, seed, per_token(retry, main)),
                       lambda n: retry_loop_record(n, seed, per_token(retry, main), timing(retry, main),
                                                   retry.retry.backoff)),
        "routed-agent": (routed, lambda n: routed_model(n, seed, per_token(routed, router.llm),
                                                        per_token(routed, weak), per_token(routed, strong)),
                         lambda n: routed_record(n, seed, per_token(routed, router.llm), per_token(routed, weak),
                                                 per_token(routed, strong), timing(routed, router.llm),
                                                 timing(routed, weak), timing(routed, strong),
                                                 routed.retry.backoff)),
    }


def _z_line(label: str, costsim: np.ndarray, hand: np.ndarray, digits: int = 7) -> str:
    """The two means of one field with their standard errors, and how many standard errors apart."""
    (m_c, se_c), (m_h, se_h) = _mean_se(costsim), _mean_se(hand)
    z = (m_h - m_c) / math.hypot(se_c, se_h) if se_c or se_h else (0.0 if m_h == m_c else math.inf)
    return (f"{label:<14} costsim {m_c:.{digits}f} ± {se_c:.{digits}f}, hand {m_h:.{digits}f} ± {se_h:.{digits}f}: "
            f"{z:+.2f} SE" + ("   MISMATCH: more than 4 SE" if abs(z) > 4 else "   ok"))


def agents(args, workflow, per_token, timing) -> None:
    """The vectorised engine against two hand-written NumPy models on each agent: one that computes only
    each task's cost (the floor) and one that computes the record costsim reports (cost, latency, calls,
    tokens in and out, success: the like-for-like baseline). Tasks/s, ratios, mean checks."""
    print(f"\n== agents: costsim fast against hand numpy (cost only) and hand numpy (full record), baseline "
          f"models only, {args.fast_tasks:,} tasks, {args.repeats} repeats (target: fast >= 0.5 x hand numpy on "
          f"every agent) ==")
    if FastEngine is None:
        print("  costsim fast: not available (no sim.engine.fast.FastEngine)")
        return
    for name, (agent, hand, hand_record) in _agents(workflow, per_token, timing, args.seed).items():
        runners = {"costsim fast": lambda n, agent=agent: simulate(agent, n, args.seed, engine=FastEngine(),
                                                                 prices_date=PRICES_DATE).baseline.tasks.columns,
                   "hand cost": hand, "hand record": hand_record}
        for run in runners.values():
            run(10_000)  # warm-up
        rates: dict[str, list[float]] = {key: [] for key in runners}
        cpu_rates: dict[str, list[float]] = {key: [] for key in runners}
        out: dict[str, object] = {}
        for _ in range(args.repeats):
            for key, run in runners.items():
                rate, cpu_rate, out[key] = _timed_cpu(run, args.fast_tasks)
                rates[key].append(rate)
                cpu_rates[key].append(cpu_rate)
        wall = {key: statistics.median(values) for key, values in rates.items()}
        cpu = {key: statistics.median(values) for key, values in cpu_rates.items()}

        def flag(ratio: float) -> str:
            return "" if ratio >= 0.5 else "  (below 0.5)"

        print(f"  {name}: tasks/s (median of {args.repeats}), wall clock and per CPU second of this process:")
        for key in runners:
            print(f"    {key:<13} {wall[key]:>11,.0f}/s wall  {cpu[key]:>11,.0f}/s CPU   runs (wall): "
                  + ", ".join(f"{r:,.0f}" for r in rates[key]))
        for key, what in (("hand record", "full record, like for like"), ("hand cost", "cost only")):
            r_wall, r_cpu = wall["costsim fast"] / wall[key], cpu["costsim fast"] / cpu[key]
            print(f"    ratio fast / {key:<11} wall {r_wall:.3f}{flag(r_wall)}, CPU {r_cpu:.3f}{flag(r_cpu)}"
                  f"   ({what})")
        columns = out["costsim fast"]
        print("    mean per task, costsim against the hand models (they draw other numbers: agreement within a few "
              "standard errors shows they do the same work):")
        print("    " + _z_line("cost_usd (cost)", columns["cost_usd"], out["hand cost"]))
        for field in FULL_FIELDS:
            print("    " + _z_line(field, columns[field].astype(float), out["hand record"][field].astype(float),
                                   7 if field == "cost_usd" else 4))


def scaling(args, workflow) -> None:
    for engine in args.engines:
        _scaling(args, workflow, engine)


def _scaling(args, workflow, engine: str) -> None:
    print(f"\n== scaling: costsim {engine}, all {len(workflow.alternatives) + 1} alternatives, this process, "
          f"{args.repeats} repeats per size ==")
    result = None
    sizes = args.sizes if engine == "des" else [n * 10 for n in args.sizes]  # 10x the tasks: 20x the speed
    simulate(workflow, 2_000, args.seed, engine=engine)  # warm-up: imports and first-use caches, not timed
    # The sizes in turn, round after round (A B C A B C ...): a drift of the machine's speed between minutes
    # hits every size alike instead of passing for a rate that falls with size.
    rates: dict[int, list[float]] = {n: [] for n in sizes}
    cpu_rates: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(args.repeats):
        for n in sizes:
            start, start_cpu = time.perf_counter(), time.process_time()
            result = simulate(workflow, n, args.seed, engine=engine)
            rates[n].append(n / (time.perf_counter() - start))
            cpu_rates[n].append(n / (time.process_time() - start_cpu))
    previous = None
    for n in sizes:
        rate, cpu_rate = statistics.median(rates[n]), statistics.median(cpu_rates[n])
        flag = ""
        if previous is not None and cpu_rate < 0.8 * previous:
            flag = f"   SUPER-LINEAR: {cpu_rate / previous:.2f} x the rate per CPU second at the previous size"
        print(f"  {n:>10,} tasks: {rate:>9,.0f} tasks/s, {cpu_rate:>9,.0f} per CPU second (runs: "
              f"{', '.join(f'{r:,.0f}' for r in rates[n])}; per CPU second "
              f"{', '.join(f'{r:,.0f}' for r in cpu_rates[n])}){flag}", flush=True)
        previous = cpu_rate
    if result is not None and result.n_tasks >= 100_000 and result.baseline.tasks is not None:
        print(f"  quantile sketch against exact quantiles, on the {result.n_tasks:,}-task run's costs:")
        for alt in result.alternatives:
            sketch = LogHistogram.of(alt.tasks.cost_usd)
            cells = []
            for q in (0.95, 0.99):
                exact = float(np.quantile(alt.tasks.cost_usd, q))
                cells.append(f"p{round(q * 100)} {sketch.quantile(q):.6f} vs {exact:.6f} "
                             f"({(sketch.quantile(q) - exact) / exact:+.4%})")
            print(f"    {alt.name:<10} " + "; ".join(cells))


def jobs(args, workflow) -> None:
    for engine in args.engines:
        _jobs(args, workflow, engine)


def _jobs(args, workflow, engine: str) -> None:
    n = args.jobs_tasks
    print(f"\n== jobs: costsim {engine}, {n:,} tasks, all alternatives, {args.repeats} repeats ==")
    times = {1: [], 2: []}
    with ProcessExecutor(2) as pool:
        simulate(workflow, 200_000, args.seed, executor=pool, engine=engine)  # start the workers (not timed)
        for _ in range(args.repeats):
            for count, executor in ((1, None), (2, pool)):
                start = time.perf_counter()
                simulate(workflow, n, args.seed, executor=executor, engine=engine)
                times[count].append(time.perf_counter() - start)
            print(f"  1 job {times[1][-1]:.1f} s, 2 jobs {times[2][-1]:.1f} s", flush=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"  median: 1 job {n / one:,.0f} tasks/s, 2 jobs {n / two:,.0f} tasks/s; speed-up {one / two:.2f} "
          f"(target >= 1.7)")


def _tree_memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process and all its descendants, summed, from /proc (kB). RSS counts pages that
    forked workers share with the fork server once per process (an upper bound); PSS splits each shared
    page among the processes that share it, so its sum is the memory the run really holds."""
    rss = pss = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as handle:
                    stack.extend(int(child) for child in handle.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return rss, pss


def memory(args) -> None:
    for engine in args.engines:
        _memory(args, engine)


def _memory(args, engine: str) -> None:
    n = args.memory_tasks
    costsim = Path(sys.executable).parent / "costsim"
    print(f"\n== memory: costsim run --engine {engine}, {n:,} tasks, all alternatives, --jobs 2, in a child process ==")
    with tempfile.TemporaryDirectory() as out:
        # A small wrapper process runs costsim, so that its getrusage of children covers this run only (this
        # script's own children include the workers of the parts before).
        wrapper = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
                   "sys.stderr.write(f'\\nlargest_kb {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n'); "
                   "sys.exit(code)")
        command = [sys.executable, "-c", wrapper, str(costsim), "run", str(WORKFLOW), "--tasks", str(n), "--seed",
                   str(args.seed), "--jobs", "2", "--engine", engine, "--format", "json", "--out", out]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak_rss = peak_pss = 0
        while child.poll() is None:
            rss, pss = _tree_memory_kb(child.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.2)
        stdout, stderr = child.communicate()
        wall = time.perf_counter() - start
    if child.returncode != 0:
        print(f"  costsim run failed ({child.returncode}): {stderr.strip()[-500:]}")
        return
    largest_kb = int(stderr.rsplit("largest_kb ", 1)[1].split()[0])  # kB on Linux
    import json

    summary = json.loads(stdout)
    print(f"  {summary['tasks']:,} tasks in {wall:.0f} s ({summary['tasks'] / wall:,.0f} tasks/s); per-task records "
          f"kept: {'no (sketch)' if 'sketch' in summary['metadata'] else 'yes'}")
    print(f"  peak RSS of the largest process: {largest_kb / 1024:,.0f} MiB (getrusage of the children)")
    print(f"  peak summed over the run's processes (sampled from /proc every 0.2 s): PSS {peak_pss / 1024:,.0f} MiB, "
          f"RSS {peak_rss / 1024:,.0f} MiB (counts shared pages twice); target < 1 GB: "
          f"{'ok' if peak_rss * 1024 < 1e9 else 'OVER'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks per timed run of the SimPy models "
                                                                     "(default 100,000)")
    parser.add_argument("--fast-tasks", type=int, default=1_000_000, help="tasks per timed run of the vectorised "
                                                                          "models (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="scaling sizes (default 10^4,10^5,10^6)")
    parser.add_argument("--jobs-tasks", type=int, default=1_000_000, help="tasks for the jobs speed-up (default 10^6)")
    parser.add_argument("--memory-tasks", type=int, default=10_000_000, help="tasks for peak memory (default 10^7)")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: engines,agents,scaling,jobs,memory")
    parser.add_argument("--engines", default="des,fast", help="engines for scaling and jobs (default des,fast; "
                                                              "fast scales over 10x the sizes)")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.fast_tasks, args.sizes = 10_000, 100_000, "10000,100000"
        args.jobs_tasks, args.memory_tasks = 100_000, 1_000_001
    args.sizes = [int(size) for size in args.sizes.split(",")]
    args.engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}

    workflow = sim.load_workflow(WORKFLOW)

    def per_token(agent, ref: str) -> tuple[float, float]:
        """USD per token (input, output) of model ``ref`` at the benchmark's prices date."""
        rates = catalog_for(agent, PRICES_DATE).resolve(ref)
        return rates.input.base_usd_per_mtok / 1e6, rates.output.base_usd_per_mtok / 1e6

    def timing(agent, ref: str) -> tuple[float, float]:
        """Model ``ref``'s time to first token (s) and output speed (tokens/s): costsim's defaults table."""
        profile = default_profile(catalog_for(agent, PRICES_DATE).resolve(ref).ref)
        return profile.ttft_s, profile.tokens_per_s

    nano, mini = per_token(workflow, workflow.models["fast"]), per_token(workflow, workflow.models["main"])
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, {platform.system()} {platform.release()}; "
          f"python {platform.python_version()}, numpy {np.__version__}, costsim {sim.__version__}")
    print(f"workflow {WORKFLOW.name}, seed {args.seed}; {time.strftime('%Y-%m-%d %H:%M')}")
    if "engines" not in skip:
        engines(args, workflow.model_copy(update={"provider_rules": False}), nano, mini)
    if "agents" not in skip:
        agents(args, workflow, per_token, timing)
    if "scaling" not in skip:
        scaling(args, workflow)
    if "jobs" not in skip:
        jobs(args, workflow)
    if "memory" not in skip:
        memory(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
