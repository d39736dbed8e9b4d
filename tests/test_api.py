"""The Python API for notebooks: load a workflow, simulate, read the summary and the per-task samples."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim import CostsimError, load_workflow, simulate
from sim.core.records import TASK_FIELDS
from sim.stats.summary import summarize

EXAMPLE = Path(__file__).resolve().parents[1] / "workflows" / "support-agent.yaml"


@pytest.fixture(scope="module")
def result():
    return simulate(load_workflow(EXAMPLE), tasks=400, seed=3)


def test_summary_is_the_json_contract(result):
    assert result.summary() == summarize(result)
    assert [a["name"] for a in result.summary()["alternatives"]] == ["baseline", "gpt-4.1", "sonnet-4.6"]


def test_samples_are_numpy_arrays_per_field(result):
    samples = result.samples("gpt-4.1")
    assert set(samples) == set(TASK_FIELDS)
    assert isinstance(samples["cost_usd"], np.ndarray) and len(samples["cost_usd"]) == 400
    assert float(samples["cost_usd"].mean()) == result.summary()["alternatives"][1]["cost_per_task"]["mean"]


def test_unknown_alternative_names_the_known_ones(result):
    with pytest.raises(KeyError, match="baseline, gpt-4.1, sonnet-4.6"):
        result.samples("opus")


def test_dataframe_has_one_row_per_task_and_alternative(result):
    frame = result.to_pandas()
    assert len(frame) == 3 * 400
    means = frame.groupby("alternative", sort=False)["cost_usd"].mean()
    for entry in result.summary()["alternatives"]:
        assert means[entry["name"]] == pytest.approx(entry["cost_per_task"]["mean"], rel=1e-12)


# -- the library is as able as the command line ----------------------------------------------------------


def test_import_sim_loads_no_plotting_or_terminal_library():
    code = ("import json, sys; import sim; "
            "print(json.dumps(sorted(m for m in ('matplotlib', 'rich', 'typer') if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(proc.stdout) == []


def test_the_public_api():
    import sim

    assert set(sim.__all__) == {
        "__version__", "CostsimError", "ParameterError", "load_workflow", "parse_workflow", "simulate", "summarize",
        "SimulationResult", "write_run_folder", "write_report", "stress", "sensitivity", "breakeven",
        "ProcessExecutor", "DaskExecutor", "PrecisionRule", "read_traces", "calibrate", "calibrated_yaml",
        "fit_uncertainty", "backtest"}
    assert all(getattr(sim, name) is not None for name in sim.__all__)


def test_the_default_engine_is_the_command_lines(result):
    # auto: the vectorised engine for a workflow without traffic, with the SimPy engine's results
    assert result.metadata["engine"] == "fast"
    des = simulate(load_workflow(EXAMPLE), tasks=400, seed=3, engine="des")
    assert des.metadata["engine"] == "des"
    for summary in (fast := summarize(result), slow := summarize(des)):
        summary["metadata"].pop("engine")
    assert fast == slow
    # a horizon whose tasks share a cache and workers: the vectorised engine too
    month = load_workflow(EXAMPLE.parent / "support-agent-month.yaml")
    assert simulate(month, seed=1, replications=1).metadata["engine"] == "fast"
    # and the SimPy engine where the vectorised one cannot go: rate limits and outages over a horizon
    limits = load_workflow(EXAMPLE.parent / "rate-limits-outage.yaml")
    assert simulate(limits, seed=1, replications=1).metadata["engine"] == "des"
    # engine=None means the default too, never a different engine
    assert simulate(load_workflow(EXAMPLE), tasks=10, seed=3, engine=None).metadata["engine"] == "fast"


def _created_utc(path: Path) -> str:
    return json.loads((path / "summary.json").read_text())["metadata"]["created_utc"]


def test_a_run_folder_written_from_python_is_the_one_costsim_run_writes(tmp_path):
    """Same files, same bytes, but the time they were written (summary.json, and the report that shows it)."""
    from sim import write_run_folder

    cli_dir, lib_dir = tmp_path / "cli", tmp_path / "lib"
    proc = subprocess.run([str(Path(sys.executable).parent / "costsim"), "run", str(EXAMPLE), "-n", "1500",
                           "--seed", "5", "--prices-date", "2026-11-01", "--out", str(cli_dir), "--report",
                           "--tasks-file", "gz", "--format", "json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = simulate(load_workflow(EXAMPLE), tasks=1500, seed=5, prices_date=dt.date(2026, 11, 1))
    written = write_run_folder(result, lib_dir, workflow_file=EXAMPLE, tasks_file="gz", report=True)
    assert list(written) == ["summary", "tasks", "plot", "plot_svg", "workflow", "report"]
    assert all(path.parent == lib_dir and path.is_file() for path in written.values())

    names = sorted(path.name for path in cli_dir.iterdir())
    assert names == sorted(path.name for path in lib_dir.iterdir()) == sorted(
        ["summary.json", "tasks.csv.gz", "cost-per-task.png", "cost-per-task.svg", "workflow.yaml", "report.html",
         ".costsim-run"])
    cli_time, lib_time = _created_utc(cli_dir), _created_utc(lib_dir)
    assert json.loads(proc.stdout)["metadata"]["created_utc"] == cli_time  # what it printed is what it wrote
    for name in names:
        cli_bytes, lib_bytes = (cli_dir / name).read_bytes(), (lib_dir / name).read_bytes()
        if name in ("summary.json", "report.html", ".costsim-run"):
            assert cli_bytes.count(cli_time.encode()) == lib_bytes.count(lib_time.encode()) >= 1
            lib_bytes = lib_bytes.replace(lib_time.encode(), cli_time.encode())
        assert cli_bytes == lib_bytes, name


def test_a_run_folder_from_python_takes_a_summary_and_a_trace(tmp_path):
    from sim import write_run_folder

    result = simulate(load_workflow(EXAMPLE), tasks=50, seed=2, trace=True)
    summary = summarize(result, budget_usd=1.0)
    written = write_run_folder(result, tmp_path / "run", summary=summary, tasks_file="none", plot=False,
                               trace=tmp_path / "trace.jsonl")
    assert list(written) == ["summary", "trace"]
    on_disk = json.loads(written["summary"].read_text())
    assert on_disk == summary and "created_utc" in summary["metadata"]  # completed in place, as written
    assert "workflow_file" not in on_disk["metadata"]  # none given: none claimed
    rows = written["trace"].read_text().splitlines()
    assert len(rows) == len(result.trace) > 0
    with pytest.raises(CostsimError, match="trace=True"):
        write_run_folder(simulate(load_workflow(EXAMPLE), tasks=10, seed=2), tmp_path / "x", trace=tmp_path / "t.jsonl")
    with pytest.raises(CostsimError, match="tasks_file"):
        write_run_folder(result, tmp_path / "y", tasks_file="parquet")
