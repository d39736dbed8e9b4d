"""Draws are a pure function of (seed, task, source, occurrence): uniform, independent, order-free."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from scipy import stats

from sim.core.randomness import BlockDraws, source_key, uniforms
from sim.engine.plan import Draw
from sim.spec.distributions import Lognormal

TASKS = np.arange(200_000)


def test_uniforms_are_in_the_open_unit_interval_and_uniform():
    u = uniforms(42, TASKS, source_key("steps.plan.output"), (0, 1))
    assert u.min() > 0 and u.max() < 1
    # Fixed seed, so this p-value is a fixed number: the test cannot flake.
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_streams_for_different_sources_occurrences_and_seeds_are_uncorrelated():
    base = uniforms(42, TASKS, source_key("steps.plan.output"), (0,))
    others = [
        uniforms(42, TASKS, source_key("steps.plan.fail"), (0,)),
        uniforms(42, TASKS, source_key("steps.plan.output"), (1,)),
        uniforms(43, TASKS, source_key("steps.plan.output"), (0,)),
        uniforms(42, TASKS + 1, source_key("steps.plan.output"), (0,)),
    ]
    for other in others:
        # The correlation of independent uniforms has standard error 1/sqrt(n).
        assert abs(np.corrcoef(base, other)[0, 1]) < 4 / np.sqrt(len(TASKS))


def test_occurrence_order_matters():
    a = uniforms(1, TASKS[:1000], source_key("s"), (0, 1))
    b = uniforms(1, TASKS[:1000], source_key("s"), (1, 0))
    assert not np.array_equal(a, b)


def test_source_keys_are_stable_across_processes():
    # BLAKE2b of the name, not Python's salted hash(): the same number on every run and machine.
    assert source_key("steps.tools.search.result") == source_key("steps.tools.search.result")
    assert source_key("a") != source_key("b")
    assert 0 <= source_key("x") < 2**64


def test_block_draws_do_not_depend_on_how_tasks_are_split_into_blocks():
    draw = Draw.of("steps.answer.output", Lognormal.model_validate({"lognormal": {"median": 500, "sigma": 0.5}}),
                   integer=True)
    whole = BlockDraws.for_range(9, 0, 1000)
    parts = [BlockDraws.for_range(9, 0, 333), BlockDraws.for_range(9, 333, 667)]
    for task in range(1000):
        part, offset = (parts[0], task) if task < 333 else (parts[1], task - 333)
        assert whole.value(task, draw, (0, 2)) == part.value(offset, draw, (0, 2))
        assert whole.uniform(task, draw.key, (3,)) == part.uniform(offset, draw.key, (3,))


def test_one_stream_through_two_distributions_gives_two_columns():
    # Two models' latencies for the same step share the uniforms but not the cached values.
    fast = Draw.of("steps.a.ttft", Lognormal.model_validate({"lognormal": {"median": 0.5, "sigma": 0.5}}), False)
    slow = Draw.of("steps.a.ttft", Lognormal.model_validate({"lognormal": {"median": 2.0, "sigma": 0.5}}), False)
    draws = BlockDraws.for_range(1, 0, 50)
    assert fast.key == slow.key and fast.value_key != slow.value_key
    for offset in range(50):
        assert draws.value(offset, slow, ()) == 4 * draws.value(offset, fast, ())


def test_no_global_random_state_in_the_library():
    pattern = re.compile(r"np\.random\.(seed|rand|randn|randint|random|normal|choice|uniform|default_rng)\b"
                         r"|^\s*import random\b|^\s*from random import", re.MULTILINE)
    package = Path(__file__).resolve().parents[1] / "sim"
    offenders = [path.name for path in package.glob("*.py") if pattern.search(path.read_text())]
    assert offenders == []
