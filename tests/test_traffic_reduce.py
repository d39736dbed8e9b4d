"""Traffic runs too large to keep every task: each replication reduced where it ran.

Above ``exact_tasks_limit`` expected tasks (replications x tasks_per_day x days), a traffic run keeps no
per-task columns: each replication sends back mergeable statistics of its tasks, its bill per
alternative and, for the first replications, its tasks' costs for the plot. These tests hold that, on a
small horizon with a fixed seed, against the same run keeping every task:

* the bills are the same floats, so the bill's summary (mean, interval, quantiles, P(bill > budget)) is
  the same bytes;
* means are the exact sum of the tasks' values, correctly rounded (derived here with ``fractions``), and
  every other figure of the summary agrees with the kept columns' (to 1e-9, or the sketch's relative
  error for quantiles of tasks);
* the plot's sample is the first tasks in replication order;
* the result does not depend on workers, and no worker process outlives the command.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import PRICES_DATE, assert_merged_summary_agrees, assert_same_but_float_bits, pinned_to_catalog

import sim
import sim.run.simulation as simulation
from sim.core.errors import ParameterError
from sim.output.rundir import SUMMARY_FILE, TASKS_FILE, summary_json, write_run
from sim.run.executor import ProcessExecutor
from sim.stats.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
MONTH = sim.load_workflow(ROOT / "workflows" / "support-agent-month.yaml")
REPLICATIONS = 4
#: One day a replication: about 1,000 tasks, 4,000 an alternative over the run; a limit of 1,000 reduces it.
LIMIT = 1_000


def _day(workflow=MONTH):
    return workflow.model_copy(update={"traffic": workflow.traffic.model_copy(update={"days": 1})})


def _run(limit: int | None = simulation.EXACT_TASKS_LIMIT, **kwargs):
    return sim.simulate(_day(), seed=3, replications=REPLICATIONS, prices_date=PRICES_DATE, engine="fast",
                        exact_tasks_limit=limit, **kwargs)


@pytest.fixture(scope="module")
def kept():
    return _run()


@pytest.fixture(scope="module")
def reduced():
    return _run(LIMIT)


def test_a_traffic_run_above_the_limit_keeps_no_columns_and_says_so(kept, reduced):
    assert kept.kept_tasks and not reduced.kept_tasks
    assert reduced.n_tasks == kept.n_tasks > LIMIT
    assert reduced.replications == kept.replications == REPLICATIONS
    assert reduced.metadata["sketch"]["exact_tasks_limit"] == LIMIT
    assert "sketch" not in kept.metadata


def test_the_bills_are_the_same_floats(kept, reduced):
    for a, b in zip(kept.alternatives, reduced.alternatives):
        np.testing.assert_array_equal(a.bills_usd(REPLICATIONS), b.bills_usd(REPLICATIONS))
        # and each is the sum of its replication's tasks, one by one in task order (overhead: none here)
        for r in range(REPLICATIONS):
            costs = a.tasks.cost_usd[a.tasks.replication == r]
            total = 0.0
            for cost in costs.tolist():
                total += cost
            assert b.bills_usd(REPLICATIONS)[r] == total
    budget = float(np.median(kept.baseline.bills_usd(REPLICATIONS)))
    for a, b in zip(summarize(kept, budget)["alternatives"], summarize(reduced, budget)["alternatives"]):
        assert json.dumps(a["bill"]) == json.dumps(b["bill"])


def test_means_are_the_exact_sums_correctly_rounded(kept, reduced):
    summary = summarize(reduced)
    for entry, run in zip(summary["alternatives"], kept.alternatives):
        n = len(run.tasks)
        exact = float(sum(map(Fraction, run.tasks.cost_usd.tolist())) / n)  # Σ exactly, then one rounding
        assert entry["cost_per_task"]["mean"] == exact
        assert entry["input_tokens_per_task"] == float(Fraction(int(run.tasks.input_tokens.sum()), n))
        assert entry["success_rate"] == int(run.tasks.success.sum()) / n
        total = float(sum(map(Fraction, run.tasks.cost_usd.tolist())))
        assert entry["total_cost_usd"] == total


def test_the_summary_agrees_with_the_kept_columns(kept, reduced):
    # the bills themselves are the same floats
    assert_merged_summary_agrees(summarize(reduced), summarize(kept), exact_keys=("bill",))


@pytest.mark.parametrize("sample", [1_500, 2_500, 100_000])
def test_the_plot_sample_is_the_first_tasks_in_replication_order(kept, monkeypatch, sample):
    monkeypatch.setattr(simulation, "SAMPLE_TASKS", sample)
    result = _run(LIMIT)
    for run in kept.alternatives:
        expected = run.tasks.cost_usd[:sample]  # replication 0's tasks, then 1's, ...
        np.testing.assert_array_equal(result.sample_cost_usd[run.name], expected)
    assert result.metadata["sketch"]["plot_sample_tasks"] == min(sample, kept.n_tasks)


def test_no_tasks_file_above_the_limit(reduced, tmp_path):
    write_run(reduced, summarize(reduced), tmp_path, plot=False)
    assert (tmp_path / SUMMARY_FILE).exists() and not (tmp_path / TASKS_FILE).exists()


def test_a_trace_is_refused_above_the_limit():
    with pytest.raises(ParameterError, match="trace"):
        sim.simulate(_day(), seed=3, replications=REPLICATIONS, prices_date=PRICES_DATE, exact_tasks_limit=LIMIT,
                     trace=True)


def test_workers_give_the_same_bytes_and_none_outlives_its_pool(reduced):
    with ProcessExecutor(2) as pool:
        parallel = _run(LIMIT, executor=pool)
        workers = list(pool._pool._processes)  # the pool's worker pids (children of the fork server)
    assert len(workers) == 2
    assert summary_json(summarize(parallel)) == summary_json(summarize(reduced))
    for pid in workers:
        assert not _alive(pid), pid


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_the_command_leaves_no_process_alive(tmp_path):
    """``costsim run`` of a reduced traffic run on 2 workers, in its own process group: when it has
    exited, no process of that group (workers, the plot helper) is left."""
    workflow = tmp_path / "day.yaml"
    workflow.write_text((ROOT / "workflows" / "support-agent-month.yaml").read_text().replace(
        "  days: 7 ", "  days: 1 ", 1))
    costsim = Path(sys.executable).with_name("costsim")
    command = subprocess.Popen([str(costsim), "run", str(workflow), "--replications", str(REPLICATIONS),
                                "--seed", "3", "--prices-date", PRICES_DATE.isoformat(), "--jobs", "2",
                                "--exact-tasks-limit", str(LIMIT), "--format", "json", "--out",
                                str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    out, err = command.communicate(timeout=300)
    assert command.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["metadata"]["sketch"]["exact_tasks_limit"] == LIMIT
    assert not (tmp_path / "out" / TASKS_FILE).exists()
    left = [pid for pid in _group(command.pid) if _alive(pid)]
    assert not left, left


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                pass
    return pids


@pinned_to_catalog
def test_the_shipped_example_is_the_same_bytes(tmp_path):
    """Below the limit nothing changes: the reference run of the example (scripts/regenerate-results:
    seed 42, 5 replications of its week, the tasks file compressed) gives results/support-agent-month/'s
    summary (but the time it was written and the file's path) and tasks file, byte for byte on the
    machine that made them (elsewhere: conftest.assert_same_but_float_bits)."""
    reference = ROOT / "results" / "support-agent-month"
    out = tmp_path / "out"
    costsim = Path(sys.executable).with_name("costsim")
    done = subprocess.run([str(costsim), "run", str(ROOT / "workflows" / "support-agent-month.yaml"), "--seed", "42",
                           "--prices-date", "2026-11-01", "--replications", "5", "--tasks-file", "gz", "--format",
                           "json", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    def summary(folder: Path) -> list[str]:
        return [line for line in (folder / SUMMARY_FILE).read_text().splitlines()
                if '"created_utc"' not in line and '"workflow_file"' not in line]

    # byte for byte on the machine that made the reference; elsewhere floats may differ in their last bits
    assert_same_but_float_bits("\n".join(summary(out)), "\n".join(summary(reference)), SUMMARY_FILE)
    got, want = (out / (TASKS_FILE + ".gz")).read_bytes(), (reference / (TASKS_FILE + ".gz")).read_bytes()
    if gzip.decompress(got) == gzip.decompress(want):
        assert got == want  # the same text compresses to the same bytes
    assert_same_but_float_bits(gzip.decompress(got).decode(), gzip.decompress(want).decode(), TASKS_FILE)


def test_a_report_is_refused_before_simulating_a_traffic_run_above_the_limit(tmp_path):
    """--report reads tasks.csv, which a reduced run does not write: refused at once, in one line."""
    costsim = Path(sys.executable).with_name("costsim")
    done = subprocess.run([str(costsim), "run", str(ROOT / "workflows" / "support-agent-month.yaml"), "--report",
                           "--replications", "200", "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "--report needs the per-task file" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_replications_in_which_no_task_arrives_reduce_too():
    """About one task a horizon: many replications are empty; their bills are 0 either way."""
    quiet = MONTH.model_copy(update={"traffic": MONTH.traffic.model_copy(update={"days": 1, "tasks_per_day": 1})})
    runs = [sim.simulate(quiet, seed=5, replications=12, prices_date=PRICES_DATE, engine="fast",
                         exact_tasks_limit=limit) for limit in (None, 1)]
    assert runs[0].kept_tasks and not runs[1].kept_tasks
    assert runs[0].n_tasks == runs[1].n_tasks
    bills = runs[0].baseline.bills_usd(12)
    assert (bills == 0).any() and (bills > 0).any()
    for a, b in zip(runs[0].alternatives, runs[1].alternatives):
        np.testing.assert_array_equal(a.bills_usd(12), b.bills_usd(12))
    assert summary_json(summarize(runs[1]))  # a summary of a few tasks, no error
