"""All cores: the same bytes for any number of workers, any chunk size and any block size; statistics
merged from chunks (runs too large to keep per-task records) agree with the exact ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PRICES_DATE, assert_merged_summary_agrees, run

import sim
from sim.cli.program import error_message
from sim.core.errors import CostsimError
from sim.output.rundir import SUMMARY_FILE, TASKS_FILE, summary_json, write_run
from sim.run.executor import ProcessExecutor, SerialExecutor, make_executor
from sim.run.simulation import simulate_many
from sim.stats.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = sim.load_workflow(ROOT / "workflows" / "support-agent.yaml")
MONTH = sim.load_workflow(ROOT / "workflows" / "support-agent-month.yaml")


@pytest.fixture(scope="module")
def pool():
    with ProcessExecutor(2) as executor:
        yield executor


def _files(result, folder: Path) -> dict[str, bytes]:
    summary = summarize(result)
    write_run(result, summary, folder, plot=False)
    return {name: (folder / name).read_bytes() for name in (SUMMARY_FILE, TASKS_FILE) if (folder / name).exists()}


def test_two_workers_and_other_chunks_give_the_same_bytes(pool, tmp_path):
    serial = _files(run(SUPPORT, 3000, chunk_tasks=1000), tmp_path / "serial")
    parallel = _files(run(SUPPORT, 3000, chunk_tasks=1000, executor=pool), tmp_path / "parallel")
    odd = _files(run(SUPPORT, 3000, chunk_tasks=333, block_tasks=100, executor=pool), tmp_path / "odd")
    assert set(serial) == {SUMMARY_FILE, TASKS_FILE}
    assert serial == parallel == odd


def test_the_vectorised_engine_gives_the_same_bytes_with_two_workers_and_other_chunks(pool, tmp_path):
    # Its columns travel compactly (all-zero ones as their length): what arrives must be what left.
    serial = _files(run(SUPPORT, 30_000, engine="fast"), tmp_path / "serial")
    parallel = _files(run(SUPPORT, 30_000, engine="fast", chunk_tasks=7_000, executor=pool), tmp_path / "parallel")
    des = _files(run(SUPPORT, 30_000, chunk_tasks=10_000, executor=pool), tmp_path / "des")
    assert serial == parallel
    assert serial[TASKS_FILE] == des[TASKS_FILE]  # and the SimPy engine's tasks, byte for byte


def test_a_pool_gets_chunks_enough_to_share_out_and_the_same_bytes(pool, tmp_path):
    # The vectorised engine's own chunk is 100,000 tasks: 60,000 tasks would be one chunk, one worker busy.
    # Spread over 2 workers they are 8 chunks of 7,500 (4 a worker); on_block hears each, then the end.
    done: list[int] = []
    spread = run(SUPPORT, 60_000, engine="fast", executor=pool, on_block=done.append)
    assert done == [7_500 * k for k in range(1, 9)] + [60_000]
    assert _files(spread, tmp_path / "spread") == _files(run(SUPPORT, 60_000, engine="fast"), tmp_path / "here")


@pytest.mark.parametrize("tasks", [1, 4_999, 40_000, 123_457, 10**6, 10**7])
@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_chunks_spread_over_workers_are_the_engines_or_smaller_never_tiny(tasks, workers):
    from sim.run.simulation import CHUNKS_PER_WORKER, MIN_SPREAD_CHUNK_TASKS, spread_chunk_tasks

    # one worker: the engine's chunk; more: enough chunks for each to get CHUNKS_PER_WORKER (unless they would
    # be smaller than MIN_SPREAD_CHUNK_TASKS), and no more chunks than that or than the engine's size gives
    size = spread_chunk_tasks(100_000, tasks, workers)
    chunks = -(-tasks // size)
    assert MIN_SPREAD_CHUNK_TASKS <= size <= 100_000
    if workers == 1:
        assert size == 100_000
    else:
        assert chunks >= workers * CHUNKS_PER_WORKER or size == MIN_SPREAD_CHUNK_TASKS
        assert chunks <= max(workers * CHUNKS_PER_WORKER, -(-tasks // 100_000))


def test_replications_of_a_horizon_are_chunks_too(pool):
    one = run(MONTH, 0, replications=2)
    two = run(MONTH, 0, replications=2, executor=pool)
    assert summary_json(summarize(one)) == summary_json(summarize(two))


def test_merged_statistics_do_not_depend_on_workers_or_chunks(pool):
    """Above the exact-tasks limit each chunk is reduced where it ran; the merges are exact."""
    a = run(SUPPORT, 4000, chunk_tasks=1000, exact_tasks_limit=100)
    b = run(SUPPORT, 4000, chunk_tasks=333, exact_tasks_limit=100, executor=pool)
    assert a.baseline.tasks is None and a.metadata["sketch"]["exact_tasks_limit"] == 100
    assert summary_json(summarize(a)) == summary_json(summarize(b))


@pytest.mark.parametrize("name", ["support-agent", "router", "cascade", "fallback-validation"])
def test_merged_statistics_agree_with_the_exact_summary(name):
    # The routing examples add calls by model, route shares and the validators' errors to the summary.
    wf = sim.load_workflow(ROOT / "workflows" / f"{name}.yaml")
    exact = summarize(run(wf, 6000, chunk_tasks=1500))
    merged = summarize(run(wf, 6000, chunk_tasks=1500, exact_tasks_limit=1000))
    assert merged["tasks"] == exact["tasks"] == 6000
    assert "sketch" in merged["metadata"] and "sketch" not in exact["metadata"]
    assert_merged_summary_agrees(merged, exact)


def test_a_run_without_columns_says_so_when_asked_for_them(tmp_path):
    result = run(SUPPORT, 2000, chunk_tasks=1000, exact_tasks_limit=1000)
    with pytest.raises(CostsimError, match="kept no per-task results"):
        result.samples("baseline")
    assert len(result.sample_cost_usd["baseline"]) == 2000  # the plot's sample: the first tasks
    files = _files(result, tmp_path)
    assert set(files) == {SUMMARY_FILE}  # no tasks file without per-task records


def test_simulate_many_gives_each_run_its_own_result(pool):
    other = SUPPORT.model_copy(update={"alternatives": {}})
    together = simulate_many([SUPPORT, other], 1500, 7, prices_date=PRICES_DATE, executor=pool, chunk_tasks=500,
                             engine="des")  # the engine of run() below
    alone = [run(SUPPORT, 1500), run(other, 1500)]
    for a, b in zip(together, alone):
        assert summary_json(summarize(a)) == summary_json(summarize(b))


def test_results_come_back_in_item_order_not_completion_order(pool):
    # the first chunk is the largest, so it finishes last; its result still comes first
    sizes = [4000, 200, 200, 200]
    from sim.engine.compiler import compile_plan
    from sim.engine.des import DesEngine
    from sim.run.chunks import Chunk, RunSpec, pack, run_chunk
    from sim.spec.catalog import catalog_for

    plans = (compile_plan(SUPPORT, "baseline", SUPPORT.models, catalog_for(SUPPORT, PRICES_DATE)),)
    blob, key = pack(RunSpec(plans, DesEngine(), 7, 1000, None, False))
    firsts = np.cumsum([0, *sizes[:-1]])
    chunks = [Chunk(blob, key, int(first), size) for first, size in zip(firsts, sizes)]
    got = [(r.first, r.count) for r in pool.imap(run_chunk, chunks)]
    assert got == [(int(f), s) for f, s in zip(firsts, sizes)]
    serial = [r.columns[0].cost_usd for r in SerialExecutor().imap(run_chunk, chunks)]
    parallel = [r.columns[0].cost_usd for r in pool.imap(run_chunk, chunks)]
    assert all(np.array_equal(a, b) for a, b in zip(serial, parallel))


def test_make_executor_checks_jobs():
    assert isinstance(make_executor(1), SerialExecutor)
    with pytest.raises(CostsimError, match="^jobs: expected 1 or more") as caught:
        make_executor(0)
    assert error_message(caught.value).startswith("--jobs: expected 1 or more")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "costsim"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_cli_jobs_1_and_2_write_the_same_files(tmp_path):
    workflow = str(ROOT / "workflows" / "support-agent.yaml")
    common = [workflow, "--tasks", "2500", "--seed", "3", "--prices-date", "2026-11-01", "--format", "json"]
    one = _cli("run", *common, "--jobs", "1", "--out", "one", cwd=tmp_path)
    two = _cli("run", *common, "--jobs", "2", "--chunk-tasks", "700", "--out", "two", cwd=tmp_path)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    for summary in (a, b):
        summary["metadata"].pop("created_utc")
    assert a == b
    assert (tmp_path / "one" / TASKS_FILE).read_bytes() == (tmp_path / "two" / TASKS_FILE).read_bytes()


def test_cli_jobs_0_is_a_one_line_error(tmp_path):
    proc = _cli("run", str(ROOT / "workflows" / "support-agent.yaml"), "--jobs", "0", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --jobs: expected 1 or more worker processes, got 0"]


def test_a_run_long_enough_for_workers_starts_their_fork_server_before_its_imports():
    from sim.run.executor import CALLS_PER_S, PARALLEL_MIN_WORK_S, warm_for

    enough = PARALLEL_MIN_WORK_S * CALLS_PER_S
    assert not warm_for(enough - 1, 2)  # too short for a pool: nothing starts
    assert not warm_for(enough, 1)  # one job: no pool
    assert warm_for(enough, 2) == ("forkserver" in __import__("multiprocessing").get_all_start_methods())
