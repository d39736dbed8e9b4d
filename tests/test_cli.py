"""End-to-end tests of the ``costsim`` command, run as the installed script.

The contract: with ``--format json`` or ``csv`` stdout holds only that output (anything else goes to
stderr); a run writes summary.json, tasks.csv and cost-per-task.png into ``--out`` and leaves no temporary
files; mistakes give a message on stderr and exit code 2, never a traceback. Each slow command runs once
per module (a fixture) and several tests read its result.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim import cli
from sim.core.version import __version__
from sim.output import tables

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = "workflows/support-agent.yaml"
COSTSIM = Path(sys.executable).parent / "costsim"

ALTERNATIVES = ["baseline", "gpt-4.1", "sonnet-4.6"]
SUMMARY_KEYS = {"workflow", "seed", "tasks", "alternatives"}
ALTERNATIVE_KEYS = {"name", "models", "cost_per_task", "success_rate", "cost_per_success", "calls_per_task",
                    "attempts_per_task", "input_tokens_per_task", "output_tokens_per_task", "diff_vs_baseline"}
COST_KEYS = {"mean", "ci95", "p50", "p90", "p95", "p99", "max"}
RUN_FILES = {"summary.json", "tasks.csv", "cost-per-task.png"}


def costsim(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([str(COSTSIM), *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


def assert_clean_error(proc: subprocess.CompletedProcess, message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr == f"error: {message}\n"


def assert_no_temporary_files(folder: Path) -> None:
    leftovers = [p.name for p in folder.iterdir() if p.name != ".costsim-run"  # the run's marker
                 and (p.name.startswith(".") or p.name.endswith((".tmp", "~")))]
    assert leftovers == []


# -- costsim run --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("json") / "run"  # not there yet: the command makes it
    return costsim("run", SUPPORT, "-n", 300, "--format", "json", "--out", out), out


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("csv")
    return costsim("run", SUPPORT, "-n", 300, "--format", "csv", "--out", out), out


@pytest.fixture(scope="module")
def small_table_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("table")
    return costsim("run", SUPPORT, "-n", 50, "--out", out), out


def test_json_stdout_is_exactly_the_contract(json_run):
    proc, _ = json_run
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # the whole of stdout: nothing else may be printed there
    assert SUMMARY_KEYS <= summary.keys()
    assert (summary["workflow"], summary["seed"], summary["tasks"]) == ("support-agent", 0, 300)
    assert [entry["name"] for entry in summary["alternatives"]] == ALTERNATIVES
    for entry in summary["alternatives"]:
        assert ALTERNATIVE_KEYS <= entry.keys(), entry["name"]
        cost = entry["cost_per_task"]
        assert COST_KEYS <= cost.keys()
        low, high = cost["ci95"]
        assert 0 < low <= cost["mean"] <= high
        assert cost["p50"] <= cost["p90"] <= cost["p95"] <= cost["max"]
        assert 0 <= entry["success_rate"] <= 1
        assert set(entry["models"]) == {"fast", "main"}
        for key in ("calls_per_task", "attempts_per_task", "input_tokens_per_task", "output_tokens_per_task"):
            assert isinstance(entry[key], float | int) and entry[key] > 0, key
    baseline, *others = summary["alternatives"]
    assert baseline["diff_vs_baseline"] is None
    for entry in others:
        diff = entry["diff_vs_baseline"]
        assert diff["ci95"][0] <= diff["mean"] <= diff["ci95"][1]
        assert math.isclose(diff["mean"], entry["cost_per_task"]["mean"] - baseline["cost_per_task"]["mean"],
                            rel_tol=1e-9, abs_tol=1e-12)


def test_json_run_says_where_files_went_on_stderr(json_run):
    proc, out = json_run
    assert "wrote" in proc.stderr and "wrote" not in proc.stdout
    assert "Traceback" not in proc.stderr


def test_run_writes_its_files_and_no_temporary_ones(json_run):
    proc, out = json_run
    assert proc.returncode == 0, proc.stderr
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    assert_no_temporary_files(out)
    assert json.loads((out / "summary.json").read_text()) == json.loads(proc.stdout)
    assert (out / "cost-per-task.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with (out / "tasks.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 300 * len(ALTERNATIVES)
    assert {row["alternative"] for row in rows} == set(ALTERNATIVES)


def test_csv_stdout_is_only_csv(csv_run, json_run):
    proc, out = csv_run
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    header, *body = rows
    assert tuple(header) == tables.CSV_COLUMNS
    assert [row[0] for row in body] == ALTERNATIVES  # one row per alternative, nothing else
    assert all(len(row) == len(header) for row in body)
    # the same seed and task count as the JSON run: the same numbers
    json_summary = json.loads(json_run[0].stdout)
    means = {entry["name"]: entry["cost_per_task"]["mean"] for entry in json_summary["alternatives"]}
    assert {row[0]: float(row[header.index("mean_usd")]) for row in body} == means
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    assert_no_temporary_files(out)


def test_table_format_prints_tables_and_notes(small_table_run):
    proc, _ = small_table_run
    assert proc.returncode == 0, proc.stderr
    for text in ("cost per task", "alternative", "mean ± 95% CI", "p99", *ALTERNATIVES, "too few", "note"):
        assert text in proc.stdout, text
    assert "wrote" in proc.stderr


def test_too_few_tasks_give_a_null_p99_and_a_note(small_table_run):
    proc, out = small_table_run
    summary = json.loads((out / "summary.json").read_text())
    for entry in summary["alternatives"]:
        assert entry["cost_per_task"]["p99"] is None
        assert any("p99" in note for note in entry["notes"]), entry["notes"]
    assert_no_temporary_files(out)


def test_run_of_a_missing_file_is_a_clean_error():
    assert_clean_error(costsim("run", "does-not-exist.yaml"), "does-not-exist.yaml: no such file")


def test_validate_of_a_folder_is_a_clean_error():
    assert_clean_error(costsim("validate", "workflows"),
                       "workflows: is a folder; give the workflow file itself (YAML)")


# -- costsim schema, prices, --version ----------------------------------------------------------------


def test_schema_is_json_schema_of_workflow_files():
    proc = costsim("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"name", "models", "steps"} <= set(schema["properties"])
    assert {"name", "models", "steps"} <= set(schema["required"])


def test_prices_json_lists_gpt_4_1():
    proc = costsim("prices", "gpt-4.1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    rows = {row["model"]: row for row in listing["usd_per_million_tokens"]}
    assert rows["openai:gpt-4.1"]["input"] == 2
    assert rows["openai:gpt-4.1"]["output"] == 8
    assert all("gpt-4.1" in model for model in rows)
    assert listing["catalog"].startswith("genai-prices ")


def test_prices_table_lists_gpt_4_1():
    proc = costsim("prices", "gpt-4.1")
    assert proc.returncode == 0, proc.stderr
    rows = [[cell.strip() for cell in line.split("│")[1:-1]]
            for line in proc.stdout.splitlines() if "│" in line]
    assert ["openai:gpt-4.1", "2", "8"] in [row[:3] for row in rows]


def test_prices_without_a_match_is_a_clean_error():
    assert_clean_error(costsim("prices", "zzzz-nothing"),
                       "no model matches 'zzzz-nothing'; try a shorter query, e.g. a provider name")


def test_version():
    proc = costsim("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"costsim {__version__}"


# -- usage mistakes (in-process: no start-up cost) -----------------------------------------------------

# Usage errors (a bad option value, an unknown command, a missing argument) get typer's usual message.
@pytest.mark.parametrize("args", [
    ["run", SUPPORT, "-n", "abc"],
    ["run", SUPPORT, "--format", "xml"],
    ["frobnicate"],
    ["run"],
], ids=["bad-int", "bad-choice", "unknown-command", "missing-argument"])
def test_usage_mistakes_exit_2_without_a_traceback(args, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["costsim", *args])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err and out == ""
