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
