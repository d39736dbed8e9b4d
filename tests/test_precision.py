"""Adaptive precision: the run stops at the first chunk boundary where the rule holds, computed here
again from the per-task costs it kept; the result is that of a fixed run of as many tasks."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run
from scipy import stats as sps

import sim
from sim.cli.program import error_message
from sim.core.errors import CostsimError
from sim.output.rundir import summary_json
from sim.run.executor import ProcessExecutor
from sim.run.precision import PrecisionRule
from sim.stats.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = sim.load_workflow(ROOT / "workflows" / "support-agent.yaml")
CHUNK = 500


def _relative_half_width(costs: np.ndarray) -> float:
    n = len(costs)
    return sps.t.ppf(0.975, n - 1) * np.std(costs, ddof=1) / math.sqrt(n) / abs(np.mean(costs))


@pytest.fixture(scope="module")
def stopped():
    rule = PrecisionRule(0.015, min_tasks=1000, max_tasks=50_000)
    return rule, run(SUPPORT, 0, precision=rule, chunk_tasks=CHUNK)


def test_it_stops_at_the_first_chunk_boundary_where_every_mean_is_precise(stopped):
    rule, result = stopped
    n = result.n_tasks
    meta = result.metadata["precision"]
    assert meta["tasks"] == n and meta["reached"] is True and n % CHUNK == 0 and n >= rule.min_tasks
    assert n < rule.max_tasks
    costs = {alt.name: alt.tasks.cost_usd for alt in result.alternatives}
    # at the stop: every alternative within the target (recomputed from the kept costs)
    widths = {name: _relative_half_width(c) for name, c in costs.items()}
    assert all(width <= rule.target for width in widths.values()), widths
    assert widths == pytest.approx(meta["relative_half_width"], rel=1e-9)
    # one chunk earlier (if the minimum allowed a check there) some alternative was not
    if n - CHUNK >= rule.min_tasks:
        assert max(_relative_half_width(c[: n - CHUNK]) for c in costs.values()) > rule.target


def test_the_result_is_that_of_a_fixed_run_of_as_many_tasks(stopped):
    _, result = stopped
    fixed = summarize(run(SUPPORT, result.n_tasks))
    adaptive = summarize(result)
    assert adaptive["metadata"].pop("precision")["tasks"] == fixed["tasks"]
    assert summary_json(adaptive) == summary_json(fixed)


def test_the_stop_does_not_depend_on_the_number_of_workers(stopped):
    rule, result = stopped
    with ProcessExecutor(2) as pool:
        parallel = run(SUPPORT, 0, precision=rule, chunk_tasks=CHUNK, executor=pool)
    assert summary_json(summarize(parallel)) == summary_json(summarize(result))


def test_the_cap_stops_a_run_that_cannot_reach_the_target():
    rule = PrecisionRule(0.0001, min_tasks=1000, max_tasks=2300)
    result = run(SUPPORT, 0, precision=rule, chunk_tasks=CHUNK)
    meta = result.metadata["precision"]
    assert result.n_tasks == 2300 and meta["tasks"] == 2300 and meta["reached"] is False
    assert all(width > 0.0001 for width in meta["relative_half_width"].values())


def test_precision_and_sketch_mode_together_stop_at_the_same_place(stopped):
    rule, result = stopped
    merged = run(SUPPORT, 0, precision=rule, chunk_tasks=CHUNK, exact_tasks_limit=1000)
    assert merged.baseline.tasks is None
    assert merged.metadata["precision"]["tasks"] == result.n_tasks


def test_bad_rules_and_traffic_are_clear_errors():
    with pytest.raises(CostsimError, match="^target: expected a share between 0 and 1") as caught:
        PrecisionRule(1.5)
    assert error_message(caught.value).startswith("--precision: expected a share between 0 and 1")
    with pytest.raises(CostsimError, match=r"^max_tasks \(1,000\) is below min_tasks \(5,000\)$") as caught:
        PrecisionRule(0.01, min_tasks=5000, max_tasks=1000)
    assert error_message(caught.value) == "--max-tasks (1,000) is below --min-tasks (5,000)"
    month = sim.load_workflow(ROOT / "workflows" / "support-agent-month.yaml")
    with pytest.raises(CostsimError, match="^precision needs a workflow without traffic") as caught:
        run(month, 0, precision=PrecisionRule(0.01))
    assert error_message(caught.value).startswith("--precision needs a workflow without traffic")
    assert error_message(caught.value).endswith("set how many with --replications")


def test_cli_reports_how_many_tasks_it_took(tmp_path):
    costsim = str(Path(sys.executable).parent / "costsim")
    proc = subprocess.run([costsim, "run", str(ROOT / "workflows" / "support-agent.yaml"), "--precision", "0.03",
                           "--min-tasks", "1000", "--chunk-tasks", "500", "--seed", "7", "--prices-date",
                           "2026-11-01", "--jobs", "1", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("precision:")]
    assert len(lines) == 1 and "every mean within ±3.00% (95% CI) after" in lines[0]
    tasks = int(lines[0].split(" after ")[1].split(" tasks")[0].replace(",", ""))
    assert f"{tasks:,} tasks, seed 7" in proc.stdout  # the table's title says the same count
    both = subprocess.run([costsim, "run", str(ROOT / "workflows" / "support-agent.yaml"), "--precision", "0.03",
                           "--tasks", "100"], capture_output=True, text=True, timeout=300)
    assert both.returncode == 2 and "--tasks and --precision exclude each other" in both.stderr
