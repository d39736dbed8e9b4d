"""The README documents every workflow key and every command, and opens with the two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from sim import distributions, spec, spec_time
from sim.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
REFERENCE = README.split("## Reference", 1)[1].split("## Background", 1)[0]


def _keys() -> set[str]:
    keys = set()
    for module in (spec, spec_time, distributions):
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
    blocks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    assert "pip install -q . && .venv/bin/costsim run workflows/" in blocks[0]
    assert ".venv/bin/pytest" in blocks[1]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci  # CI runs the README's test command verbatim
