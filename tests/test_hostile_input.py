"""Ordinary bad input gets one line and exit 2, never a traceback (issue 13, item 8); what the YAML reader
itself must refuse (tags, depth, aliases, control characters) has fixtures in ``tests/fixtures/broken``
(``yaml-*``, ``name-*``), checked by tests/test_loader.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import costsim_in_process as costsim
from conftest import run, workflow

from sim.core.errors import ParameterError, WorkflowError
from sim.spec.loader import MAX_WORKFLOW_BYTES, load_workflow, parse_workflow
from sim.stats.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "workflows" / "support-agent.yaml"
MONTH = ROOT / "workflows" / "support-agent-month.yaml"


def test_merge_keys_take_the_anchors_keys_and_the_local_ones_win():
    spec = parse_workflow("""
name: demo
models: {main: openai:gpt-4.1-mini}
steps:
  - &first {id: answer, llm: main, output: 300, prompt: 40}
  - <<: *first
    id: again
    output: 200
""")
    first, again = spec.steps
    assert (again.id, again.llm, again.prompt.fixed, again.output.fixed) == ("again", "main", 40, 200)
    assert first.output.fixed == 300


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(SUPPORT.read_text() + "#" * MAX_WORKFLOW_BYTES)
    with pytest.raises(WorkflowError, match=rf"big.yaml: {path.stat().st_size:,} bytes, more than a workflow may "
                                            rf"hold \({MAX_WORKFLOW_BYTES:,}\); give a long empirical list as a "
                                            "histogram"):
        load_workflow(path)


def test_a_name_with_a_control_character_is_refused_by_the_api_too():
    with pytest.raises(Exception, match=r"a control character in the name \('demo\\x1b\[31m'\)"):
        workflow([{"id": "a", "llm": "main", "output": 5}], name="demo\x1b[31m")


def test_an_infinite_budget_is_refused_before_simulating_and_by_summarize(monkeypatch, capsys, tmp_path):
    code, out, err = costsim(monkeypatch, capsys, "run", MONTH, "--budget", "inf", "--out", tmp_path / "r")
    assert code == 2 and out == "" and err == "error: --budget: expected a finite number of USD, got inf\n"
    assert not (tmp_path / "r").exists()
    result = run(workflow([{"id": "a", "llm": "main", "output": 5}]), 5)
    with pytest.raises(ParameterError, match=r"^budget_usd=inf: expected a finite number of USD, 0 or more$"):
        summarize(result, float("inf"))


@pytest.fixture(scope="module")
def a_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    from sim.output.rundir import write_run_folder

    write_run_folder(run(workflow([{"id": "a", "llm": "main", "output": 5}]), 20), out, plot=False)
    return out


@pytest.mark.parametrize(("content", "says"), [
    (lambda text: text.replace("\n1,baseline,", "\n1,baseline,abc", 1),
     r"tasks.csv:3: cost_usd: expected a finite number of USD, 0 or more, got '\S*abc\S*'; is the file a costsim"),
    (lambda text: "task,alternative,cost_usd\n0,baseline\n", r"tasks.csv:2: cost_usd: expected a finite number of USD, "
                                                            "0 or more, got None"),
    (lambda text: text.replace("\n1,baseline,", "\n1,baseline,-", 1), r"tasks.csv:3: cost_usd: expected a finite"),
    (b"\xff\xfe\x00", r"tasks.csv: not a costsim tasks file \('utf-8' codec can't decode byte 0xff"),
])
def test_report_of_a_malformed_tasks_file_is_one_line_exit_2(a_run, tmp_path, monkeypatch, capsys, content, says):
    folder = tmp_path / "run"
    shutil.copytree(a_run, folder)
    tasks = folder / "tasks.csv"
    if isinstance(content, bytes):
        tasks.write_bytes(content)
    else:
        tasks.write_text(content(tasks.read_text()))
    code, out, err = costsim(monkeypatch, capsys, "report", folder)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"error: {tasks}") and re.search(says, err), err


def test_report_of_a_tasks_file_that_is_not_gzip_is_one_line_exit_2(a_run, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "run"
    shutil.copytree(a_run, folder)
    (folder / "tasks.csv").rename(folder / "tasks.csv.gz")  # plain text under a .gz name
    marker = (folder / ".costsim-run").read_text().replace('"tasks.csv"', '"tasks.csv.gz"')
    (folder / ".costsim-run").write_text(marker)
    code, out, err = costsim(monkeypatch, capsys, "report", folder)
    assert code == 2 and err.startswith(f"error: {folder / 'tasks.csv.gz'}: not a costsim tasks file (")
    assert err.count("\n") == 1
