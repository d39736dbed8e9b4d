"""The published JSON Schema is current and describes every key with its docstring."""

from __future__ import annotations

import json
from pathlib import Path

from sim.spec.workflow import Workflow

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "workflows" / "schema.json"


def test_published_schema_is_current():
    # Regenerate with: costsim schema > workflows/schema.json
    assert json.loads(SCHEMA_FILE.read_text()) == Workflow.model_json_schema()


def test_every_property_has_a_description():
    schema = Workflow.model_json_schema()
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
    settings = {key: SpecModel.model_config[key]
                for key in ("extra", "frozen", "use_attribute_docstrings", "validate_default")}
    assert settings == {"extra": "forbid", "frozen": True, "use_attribute_docstrings": True, "validate_default": True}
    assert [model.__name__ for model in models
            if {key: model.model_config.get(key) for key in settings} != settings] == []
