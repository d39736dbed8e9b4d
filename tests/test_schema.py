"""The published JSON Schema is current and describes every key with its docstring."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sim.spec.schema import schema_text, workflow_schema
from sim.spec.workflow import Workflow

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "workflows" / "schema.json"


def test_published_schema_is_current():
    # Regenerate with: costsim schema > workflows/schema.json
    assert SCHEMA_FILE.read_text() == schema_text()


#: pydantic's own way to the docstrings: ``use_attribute_docstrings`` on the base before any block is built.
_PYDANTICS_SCHEMA = """
import json, sys
from sim.spec.base import SpecModel
SpecModel.model_config["use_attribute_docstrings"] = True  # the blocks below inherit it as they are built
from sim.spec.workflow import Workflow
assert Workflow.model_fields["name"].description
sys.stdout.write(json.dumps(Workflow.model_json_schema(), indent=2) + "\\n")
"""


def test_the_docstrings_read_for_the_schema_are_the_ones_pydantic_reads():
    proc = subprocess.run([sys.executable, "-c", _PYDANTICS_SCHEMA], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == schema_text()


def test_building_the_spec_reads_no_docstring():
    # what a command pays for at load time: the descriptions live in the schema only
    assert Workflow.model_fields["name"].description is None
    assert "use_attribute_docstrings" not in Workflow.model_config


def test_every_property_has_a_description():
    schema = workflow_schema()
    definitions = {"Workflow": schema, **schema["$defs"]}

    def described(body: dict) -> bool:  # a reference to a documented model counts as described
        ref = body.get("$ref", "").rsplit("/", 1)[-1]
        return "description" in body or "description" in definitions.get(ref, {})

    missing = [f"{name}.{prop}" for name, definition in definitions.items()
               for prop, body in definition.get("properties", {}).items() if not described(body)]
    assert missing == []


def test_every_block_of_the_format_shares_one_base_and_its_settings():
    """One set of rules for the whole file (sim.spec.base): unknown keys are errors, values are frozen,
    field docstrings describe the schema, and defaults are validated like written values."""
    from pydantic import BaseModel

    from sim.spec import distributions, quality, routing, timing, workflow
    from sim.spec.base import SpecModel

    models = [value for module in (workflow, routing, timing, quality, distributions)
              for value in vars(module).values()
              if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__]
    assert len(models) > 30
    assert [model.__name__ for model in models if not issubclass(model, SpecModel)] == []
    settings = {key: SpecModel.model_config[key] for key in ("extra", "frozen", "validate_default")}
    assert settings == {"extra": "forbid", "frozen": True, "validate_default": True}
    assert [model.__name__ for model in models
            if {key: model.model_config.get(key) for key in settings} != settings] == []
