"""A real Dask cluster on loopback (two worker processes, one thread each): the same results as a local
run, for costsim run and costsim stress, and clear errors when the cluster cannot be used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run

import sim
from sim.core.errors import CostsimError
from sim.output.rundir import summary_json
from sim.run.executor import DaskExecutor
from sim.stats.summary import summarize

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
SUPPORT_FILE = ROOT / "workflows" / "support-agent.yaml"
SUPPORT = sim.load_workflow(SUPPORT_FILE)
COSTSIM = str(Path(sys.executable).parent / "costsim")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, worker_dashboard_address=None) as local:
        yield local


def test_a_run_on_the_cluster_equals_a_local_run(cluster):
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        executor = DaskExecutor(client=client)
        assert executor.workers == 2
        remote = run(SUPPORT, 3000, chunk_tasks=700, executor=executor)
        merged = run(SUPPORT, 3000, chunk_tasks=700, executor=executor, exact_tasks_limit=1000)
    assert summary_json(summarize(remote)) == summary_json(summarize(run(SUPPORT, 3000)))
    assert summary_json(summarize(merged)) == summary_json(summarize(run(SUPPORT, 3000, exact_tasks_limit=1000)))


def _json(*args: str, cwd: Path) -> dict:
    proc = subprocess.run([COSTSIM, *args, "--format", "json"], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    out["metadata"].pop("created_utc", None)
    out["metadata"].pop("workflow_file", None)
    return out


def test_costsim_run_and_stress_with_scheduler_equal_local_runs(cluster, tmp_path):
    address = cluster.scheduler_address
    common = ["run", str(SUPPORT_FILE), "--tasks", "2000", "--seed", "5", "--prices-date", "2026-11-01",
              "--chunk-tasks", "500"]
    assert _json(*common, "--scheduler", address, "--out", "a", cwd=tmp_path) == \
        _json(*common, "--jobs", "1", "--out", "b", cwd=tmp_path)
    assert (tmp_path / "a" / "tasks.csv").read_bytes() == (tmp_path / "b" / "tasks.csv").read_bytes()
    stress = ["stress", str(SUPPORT_FILE), "--vary", "steps.search.fail=0,0.2", "--tasks", "400",
              "--prices-date", "2026-11-01"]
    assert _json(*stress, "--scheduler", address, "--out", "c", cwd=tmp_path) == \
        _json(*stress, "--jobs", "1", "--out", "d", cwd=tmp_path)


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path):
    proc = subprocess.run([COSTSIM, "run", str(SUPPORT_FILE), "--tasks", "100", "--scheduler", "tcp://127.0.0.1:1"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "COSTSIM_SCHEDULER_TIMEOUT_S": "2"})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --scheduler tcp://127.0.0.1:1: cannot reach a Dask "
                                                   "scheduler there"), proc.stderr


def test_a_scheduler_without_workers_is_a_clear_error():
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as empty:
        expected = "no worker joined the scheduler within 1 s; start one with: dask worker"
        with pytest.raises(CostsimError, match=expected):
            DaskExecutor(empty.scheduler_address, timeout_s=1)


def test_without_the_extra_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    with pytest.raises(CostsimError, match=r"pip install 'costsim\[distributed\]'"):
        DaskExecutor("tcp://127.0.0.1:8786")
