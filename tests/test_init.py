"""``costsim init``: every template validates and runs; files are never overwritten; a newcomer's first hour.

The newcomer test does what the README's tutorial tells a new user, in an empty folder and with nothing
else: ``costsim init``, ``costsim run`` (defaults: 10,000 tasks, a new folder under results/), then
``costsim report`` on the folder the run wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run

from sim import cli
from sim.core.errors import CostsimError
from sim.spec.loader import load_workflow, parse_workflow
from sim.spec.schema import workflow_schema
from sim.spec.templates import SCHEMA_FILE, SCHEMA_LINE, TEMPLATES, write_template
from sim.spec.workflow import BranchStep, Escalate, LlmStep, LoopStep, ToolStep, iter_steps
from sim.stats.summary import summarize

COSTSIM = Path(sys.executable).parent / "costsim"


def costsim(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([str(COSTSIM), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=180)


def test_the_four_templates():
    assert list(TEMPLATES) == ["support-agent", "rag-chatbot", "classifier", "batch-pipeline"]


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_template_validates_and_runs(name, tmp_path):
    workflow_path, schema_path = write_template(name, tmp_path / f"{name}.yaml")
    text = workflow_path.read_text()
    assert text.splitlines()[0] == SCHEMA_LINE == f"# yaml-language-server: $schema={SCHEMA_FILE}"
    assert schema_path == tmp_path / SCHEMA_FILE  # beside the workflow: the relative $schema finds it offline
    assert json.loads(schema_path.read_text()) == workflow_schema()
    assert sum(line.lstrip().startswith("#") or " # " in line for line in text.splitlines()) >= 15  # commented

    workflow = load_workflow(workflow_path)
    assert workflow.name == name and workflow.description and workflow.alternatives
    summary = summarize(run(workflow, 400))
    for entry in summary["alternatives"]:
        assert entry["cost_per_task"]["mean"] > 0, entry["name"]
        assert entry["success_rate"] > 0.5, entry["name"]


def test_the_templates_use_their_features():
    """Each template shows something the others do not (what `costsim init --list` promises)."""
    def steps(name):
        return [step for step, _, _ in iter_steps(parse_workflow(TEMPLATES[name].text).steps)]

    assert {BranchStep, LoopStep, ToolStep, LlmStep} <= {type(step) for step in steps("support-agent")}
    assert any(isinstance(step, ToolStep) and step.cost_usd > 0 for step in steps("rag-chatbot"))
    assert any(isinstance(step, LlmStep) and step.retry and isinstance(step.retry.on_exhausted, Escalate)
               for step in steps("classifier"))
    assert parse_workflow(TEMPLATES["batch-pipeline"].text).task_retry.max_attempts == 2


def test_a_folder_gets_the_template_named_file(tmp_path):
    written = write_template("classifier", tmp_path)
    assert written == [tmp_path / "classifier.yaml", tmp_path / SCHEMA_FILE]


def test_a_file_of_another_name_says_so_in_its_usage_comments(tmp_path):
    path, _ = write_template("classifier", tmp_path / "tickets.yml")
    text = path.read_text()
    assert "costsim run tickets.yml --report" in text and "classifier.yaml" not in text


def test_an_existing_file_is_never_overwritten(tmp_path):
    target = tmp_path / "mine.yaml"
    target.write_text("my own work\n")
    with pytest.raises(CostsimError, match="already exists"):
        write_template("support-agent", target)
    assert target.read_text() == "my own work\n"
    assert not (tmp_path / SCHEMA_FILE).exists()  # nothing written at all


@pytest.mark.parametrize("args, message", [
    (["init", "suport-agent"], "no template 'suport-agent'; did you mean 'support-agent'? the templates are "
                               "support-agent, rag-chatbot, classifier, batch-pipeline"),
    (["init", "support-agent", "taken.yaml"], "taken.yaml: already exists; give another PATH, or move the file "
                                              "away first"),
], ids=["unknown-template", "existing-file"])
def test_init_mistakes_are_clean_errors(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.yaml").write_text("x\n")
    monkeypatch.setattr(sys, "argv", ["costsim", *args])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    out, err = capsys.readouterr()
    assert caught.value.code == 2 and out == ""
    assert err == f"error: {message}\n"


def test_init_list_names_every_template(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["costsim", "init", "--list"])
    cli.main()
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines()] == list(TEMPLATES)


def test_a_newcomer_goes_from_nothing_to_a_report_in_three_commands(tmp_path):
    init = costsim("init", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [SCHEMA_FILE, "support-agent.yaml"]

    first_run = costsim("run", "support-agent.yaml", cwd=tmp_path)
    assert first_run.returncode == 0, first_run.stderr
    assert "cost per task" in first_run.stdout
    (run_dir,) = (tmp_path / "results").iterdir()

    report = costsim("report", run_dir, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    html = (run_dir / "report.html").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["tasks"] == 10_000 and "<h1>support-agent</h1>" in html
    assert (run_dir / "workflow.yaml").read_text() == (tmp_path / "support-agent.yaml").read_text()
    costs = np.array([e["cost_per_task"]["mean"] for e in summary["alternatives"]])
    assert np.all(costs > 0)


def test_a_path_written_as_a_folder_gets_the_template_inside_a_new_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["costsim", "init", "classifier", "sub/"])
    cli.main()
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["classifier.yaml", SCHEMA_FILE]
    assert (tmp_path / "sub").is_dir()  # not a file named "sub"
    assert "wrote sub/classifier.yaml, sub/costsim.schema.json" in capsys.readouterr().err


def test_a_file_in_a_folder_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(CostsimError, match=r"x.yaml: the folder .*nodir does not exist; create it first, or write "
                                           r"PATH as a folder"):
        write_template("classifier", tmp_path / "nodir" / "x.yaml")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_schema_is_never_overwritten(tmp_path, monkeypatch, capsys):
    (tmp_path / SCHEMA_FILE).write_text("{}\n")
    assert write_template("classifier", tmp_path) == [tmp_path / "classifier.yaml"]
    assert (tmp_path / SCHEMA_FILE).read_text() == "{}\n"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["costsim", "init", "rag-chatbot"])
    cli.main()
    err = capsys.readouterr().err
    assert "wrote rag-chatbot.yaml\n" in err
    assert f"kept {SCHEMA_FILE} as it was (it is not this costsim's schema; costsim schema > {SCHEMA_FILE} " \
           "replaces it)" in err
    assert (tmp_path / SCHEMA_FILE).read_text() == "{}\n"
