"""The vectorised engine over traffic against the SimPy engine: the same tasks, to the bit.

With ``traffic`` the tasks of a replication share the system prompt's cache entry and, with
``concurrency``, the slots. :class:`~sim.engine.traffic_fast.TrafficEngine` resolves the first by
sorting calls' times and the second by a recursion over the sorted arrivals; each replication's
per-task record must be exactly what :class:`~sim.engine.des.DesEngine` plays out event by event: on
the shipped example, on random traffic workflows (the plain engine's random workflows of
tests/test_fast_engine.py, given traffic, a shared cache and a slot limit), and under loads that queue
most tasks. The pieces are checked on their own against hand-worked answers.
"""

from __future__ import annotations

import heapq
import json
from pathlib import Path

import numpy as np
from conftest import PRICES_DATE, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fast_engine import assert_same_tasks
from test_fast_engine import workflows as plain_workflows

from sim import load_workflow
from sim.core.errors import WorkflowError
from sim.core.randomness import BlockDraws
from sim.engine.choice import choose_engine
from sim.engine.compiler import compile_plan
from sim.engine.concurrency import WaitLog, fifo_starts
from sim.engine.des import DesEngine
from sim.engine.shared_cache import SharedSystemStore
from sim.engine.traffic import task_ids
from sim.engine.traffic_fast import TrafficEngine, run_horizon, unsupported
from sim.spec.catalog import catalog_for
from sim.spec.loader import parse_workflow

ROOT = Path(__file__).resolve().parent.parent
MONTH = ROOT / "workflows" / "support-agent-month.yaml"
TRAFFIC_EXAMPLES = sorted(p for p in (ROOT / "workflows").glob("*.yaml") if load_workflow(p).traffic is not None)


# -- the pieces -----------------------------------------------------------------------------------------


def test_a_shared_entry_is_warm_when_the_previous_call_on_the_model_is_within_the_ttl():
    clock = np.array([0.0, 100.0, 450.0, 1000.0, 1299.0])
    store = SharedSystemStore(clock, ttl_s=300.0)
    store[np.arange(5)] = clock + 300.0  # recording: every call refreshes the entry
    assert np.isnan(store[np.arange(5)]).all()  # and reads cold while recording
    assert store.freeze()
    # Each call sees the expiry its predecessor left: none, 300, 400, 750, 1300.
    np.testing.assert_array_equal(store[np.arange(5)], [np.nan, 300.0, 400.0, 750.0, 1300.0])
    warm = clock <= store[np.arange(5)]
    assert warm.tolist() == [False, True, False, False, True]


def test_two_refreshes_at_one_instant_are_reported():
    store = SharedSystemStore(np.zeros(2), 300.0)
    assert not store.freeze(np.array([5.0, 5.0]))


def _queue(arrivals_s, waits, slots):
    """The first-come-first-served queue played out plainly: each task takes the earliest free slot."""
    free = [0.0] * slots
    starts, ends = [], []
    for arrival_s, task_waits in zip(arrivals_s, waits):
        start_s = max(arrival_s, heapq.heappop(free))
        end_s = start_s
        for wait_s in task_waits:
            end_s += wait_s
        heapq.heappush(free, end_s)
        starts.append(start_s)
        ends.append(end_s)
    return starts, ends


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.lists(st.tuples(st.floats(0.01, 30.0), st.lists(st.floats(0.1, 40.0), min_size=1,
                                                                              max_size=4)), min_size=1, max_size=60))
def test_the_recursion_over_arrivals_is_the_queue_played_out(slots, tasks):
    arrivals_s = np.cumsum([gap for gap, _ in tasks])
    waits = [task_waits for _, task_waits in tasks]
    log = WaitLog()
    for task, task_waits in enumerate(waits):  # as an engine adds them: a wait of several tasks at a time
        for wait_s in task_waits:
            log.add(np.array([task]), wait_s)
    on_arrival = [log.end_s(task, arrival_s) for task, arrival_s in enumerate(arrivals_s)]
    solved = fifo_starts(arrivals_s, np.array(on_arrival), slots, log)
    starts, ends = _queue(arrivals_s.tolist(), waits, slots)
    if np.isin(ends, arrivals_s).any():
        assert solved is None
        return
    assert solved[0].tolist() == starts and solved[1].tolist() == ends  # to the bit


def test_a_slot_freed_as_a_task_arrives_is_left_to_the_simpy_engine():
    log = WaitLog()
    log.add(np.array([0, 1]), 5.0)
    assert fifo_starts(np.array([0.0, 5.0]), np.array([5.0, 10.0]), 1, log) is None


# -- the engine against the SimPy engine ----------------------------------------------------------------


def _both(wf, replications: int, seed: int):
    des = run(wf, 0, seed=seed, replications=replications, engine="des")
    fast = run(wf, 0, seed=seed, replications=replications, engine=TrafficEngine())
    return des, fast


def test_auto_picks_the_vectorised_engine_for_traffic_it_can_run_and_names_what_it_cannot():
    names = {p.stem: unsupported(load_workflow(p)) for p in TRAFFIC_EXAMPLES}
    assert names["support-agent-month"] is None
    assert "rate limits" in names["rate-limits-outage"] and "self-hosted" in names["self-hosting"]
    for path in TRAFFIC_EXAMPLES:
        engine = choose_engine("auto", load_workflow(path))
        assert type(engine) is (TrafficEngine if names[path.stem] is None else DesEngine)


def test_the_month_example_gives_the_simpy_engines_tasks():
    wf = load_workflow(MONTH)
    wf = wf.model_copy(update={"traffic": wf.traffic.model_copy(update={"days": 1.5})})
    des, fast = _both(wf, 2, seed=42)
    assert des.baseline.tasks.cache_read_tokens.sum() > 0
    assert_same_tasks(des, fast)


def test_a_busy_month_day_queues_tasks_and_still_gives_the_simpy_engines_tasks():
    """Ten times the traffic on 2 slots: most tasks wait for a slot, in bursts that last hours."""
    wf = load_workflow(MONTH)
    wf = wf.model_copy(update={"traffic": wf.traffic.model_copy(update={"days": 0.5, "tasks_per_day": 10_000,
                                                                        "concurrency": 2})})
    des, fast = _both(wf, 1, seed=3)
    latency = des.baseline.tasks.latency_s
    assert np.median(latency) > 600  # the queue, not the calls, makes the latency
    assert_same_tasks(des, fast)


def test_simultaneous_arrivals_are_run_by_the_simpy_engine():
    wf = load_workflow(MONTH)
    plan = compile_plan(wf, "baseline", wf.alternative_models()["baseline"], catalog_for(wf, PRICES_DATE))
    arrivals = [10.0, 10.0, 500.0]  # two tasks at one instant: their calls refresh the cache together
    draws = BlockDraws(1, task_ids(0, 3))
    assert run_horizon(plan, draws, np.array(arrivals), 0) is None
    fast = TrafficEngine().run_block(plan, BlockDraws(1, task_ids(0, 3)), arrivals, 0)
    des = DesEngine().run_block(plan, BlockDraws(1, task_ids(0, 3)), arrivals, 0)
    for name, column in des.columns.items():
        assert np.array_equal(column, fast.columns[name]), name


@st.composite
def traffic_workflows(draw):
    data = draw(plain_workflows())
    data.pop("budget", None)
    data["traffic"] = {"tasks_per_day": draw(st.sampled_from([500, 5_000, 40_000])),
                       "days": draw(st.sampled_from([0.004, 0.01])),
                       "concurrency": draw(st.sampled_from([None, 1, 2, 5]))}
    if draw(st.booleans()):
        data["traffic"]["profile"] = [1.0] * 12 + [3.0] * 12
    if data["traffic"]["concurrency"] is None:
        del data["traffic"]["concurrency"]
    if draw(st.booleans()):
        data["cache"] = {"ttl_s": draw(st.sampled_from([5, 60, 300])),
                         "min_prefix_tokens": draw(st.sampled_from([0, 500, 1024])),
                         "hit_probability": draw(st.sampled_from([1.0, 0.7]))}
        if data["cache"]["ttl_s"] != 300:  # a lifetime no provider offers: only under the uniform rules
            data["provider_rules"] = False
    return data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=traffic_workflows(), seed=st.integers(0, 2**32 - 1))
def test_random_traffic_workflows_give_the_same_tasks_on_both_engines(data, seed):
    try:
        wf = parse_workflow(json.dumps(data))
    except WorkflowError as exc:
        raise AssertionError(exc) from None
    assert unsupported(wf) is None
    des, fast = _both(wf, 2, seed)
    assert_same_tasks(des, fast)
    for a, b in zip(des.alternatives, fast.alternatives):
        assert a.bills_usd(2).tolist() == b.bills_usd(2).tolist()
