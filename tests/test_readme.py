"""The README: four parts; every code block runs; every command and workflow key has a reference entry.

How the code blocks are tested:

* ``bash`` and ``python`` blocks run, in README order, in one sandbox folder that holds a copy of
  ``workflows/``, ``results/`` and ``scripts/`` and a ``.venv`` link to the environment running the
  tests, so ``.venv/bin/costsim`` means what it means to a reader. Later blocks may use earlier blocks'
  files, as a reader's would. The first two ``bash`` blocks are the set-up commands: they are not run
  here, by design: they create ``.venv`` and install the package, which is what CI itself does first
  (``.ci/run`` runs the second one verbatim, as a test below checks).
* ``console`` blocks show a command (``$ ...``) and what it prints: the command runs, and its stdout
  must be what the block shows, so the tutorial's numbers are the program's.
* ``yaml`` blocks validate: a whole workflow as it is, a fragment merged into the support-agent example.
* the ``json`` block of the output contract lists only keys a real summary has.
* ``text`` blocks are illustrations (an error message) and are not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pinned_to_catalog
from pydantic import BaseModel
from ruamel.yaml import YAML

from sim.cli.program import app
from sim.spec import distributions
from sim.spec import quality as spec_quality
from sim.spec import timing as spec_time
from sim.spec import workflow as spec
from sim.spec.loader import parse_workflow

pytestmark = pinned_to_catalog

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
REFERENCE = README.split("## Reference", 1)[1].split("## Background", 1)[0]
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, re.DOTALL | re.MULTILINE)
SETUP_BLOCKS = 2  # the first two bash blocks: the set-up commands, run by CI itself


def blocks(*languages: str) -> list[tuple[str, str]]:
    return [(language, body) for language, body in BLOCKS if language in languages]


# -- structure and reference ---------------------------------------------------------------------------


def test_readme_has_its_four_parts_in_order():
    parts = [line[3:] for line in README.splitlines() if line.startswith("## ")]
    assert [part.split(":")[0] for part in parts] == ["Tutorial", "How-to guides", "Reference", "Background"]


def test_every_code_block_is_of_a_known_kind():
    assert {language for language, _ in BLOCKS} <= {"bash", "python", "console", "yaml", "json", "text"}
    assert README.count("```") == 2 * len(BLOCKS)  # no block the pattern above missed


def _keys() -> set[str]:
    keys = set()
    for module in (spec, spec_time, spec_quality, distributions):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__:
                keys.update(value.model_fields)
    return keys - {"fixed"}  # a fixed value is written as a bare number


@pytest.mark.parametrize("key", sorted(_keys()))
def test_every_workflow_key_has_a_reference_entry(key):
    assert re.search(rf"`[^`]*\b{re.escape(key)}\b[^`]*`", REFERENCE), key


@pytest.mark.parametrize("command", sorted(c.name or c.callback.__name__ for c in app.registered_commands))
def test_every_command_has_a_reference_entry(command):
    assert f"`costsim {command}" in REFERENCE


def test_readme_opens_with_the_two_setup_commands():
    bash = [body for _, body in blocks("bash")]
    assert "pip install -q . && .venv/bin/costsim run workflows/" in bash[0]
    assert ".venv/bin/pytest" in bash[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert bash[1].strip() in ci  # CI runs the README's test command verbatim


def test_every_image_the_readme_shows_exists():
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert images, "the tutorial shows the reference plot"
    for image in images:
        assert (ROOT / image).is_file(), image


# -- the code blocks run -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    for name in ("workflows", "results", "scripts"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("*-[0-9]*-[0-9]*"))
    (folder / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return folder


def _env() -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    return env


def test_every_bash_and_python_block_runs(sandbox, tutorial_run):
    runnable = blocks("bash", "python")
    bash_seen = 0
    for language, body in runnable:
        if language == "bash":
            bash_seen += 1
            if bash_seen <= SETUP_BLOCKS:
                continue
            command = ["bash", "-euo", "pipefail", "-c", body]
        else:
            command = [sys.executable, "-c", body]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=sandbox, env=_env(), timeout=300)
        assert proc.returncode == 0, f"this {language} block failed:\n{body}\nstderr:\n{proc.stderr[-3000:]}"
    assert bash_seen > SETUP_BLOCKS
    # what the tutorial says the blocks leave behind
    assert (sandbox / "results" / "support-agent" / "report.html").is_file()
    assert (sandbox / "my-chatbot.yaml").is_file() and (sandbox / "costsim.schema.json").is_file()
    assert list((sandbox / "results").glob("rag-chatbot-*/report.html"))
    assert "bill" in json.loads((sandbox / "results" / "chatbot-month" / "summary.json").read_text())["alternatives"][0]


@pytest.fixture(scope="module")
def tutorial_run(sandbox):
    """The tutorial's console command, started at once so that it runs beside the other blocks."""
    (shown,) = [body for _, body in blocks("console") if body.startswith("$ ")]
    command, *lines = shown.splitlines()
    proc = subprocess.Popen(command[2:], shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=sandbox, env=_env())
    yield proc, lines
    proc.kill()
    proc.communicate()


def test_the_tutorial_output_is_what_costsim_prints(tutorial_run):
    proc, lines = tutorial_run
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    expected = [line.rstrip() for line in lines if not line.startswith("wrote ")]  # "wrote" goes to stderr
    printed = [line.rstrip() for line in stdout.splitlines()]
    assert printed == expected, (
        "the tutorial's output is not what costsim prints now; paste this into README.md:\n" + stdout)
    assert stderr.startswith("wrote results/support-agent-")


# -- yaml and json blocks ------------------------------------------------------------------------------


def _yaml(text: str):
    return YAML(typ="safe").load(text)


@pytest.mark.parametrize("body", [body for _, body in blocks("yaml")],
                         ids=[f"yaml-{i}" for i, _ in enumerate(blocks("yaml"))])
def test_every_yaml_block_is_valid(body):
    data = _yaml(body)
    if "name" not in data:  # a fragment: it must fit into a whole workflow
        base = _yaml((ROOT / "workflows" / "support-agent.yaml").read_text())
        data = {**base, **data}
    parse_workflow(json.dumps(data))  # JSON is YAML; raises a WorkflowError saying what is wrong


def test_the_output_example_lists_only_real_keys():
    (example,) = [json.loads(body) for _, body in blocks("json")]
    real = json.loads((ROOT / "results" / "support-agent" / "summary.json").read_text())

    def check(shown, actual, path="summary"):
        if isinstance(shown, dict):
            assert isinstance(actual, dict), path
            for key, value in shown.items():
                if key != "...":
                    assert key in actual, f"{path}.{key} is not in a real summary"
                    check(value, actual[key], f"{path}.{key}")
        elif isinstance(shown, list) and shown and isinstance(shown[0], dict):
            check(shown[0], actual[0], f"{path}[0]")

    check(example, real)
    for key in real["alternatives"][0]:  # and every key of a real summary is documented
        assert f'"{key}"' in REFERENCE, key
