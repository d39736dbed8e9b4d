"""The JSON Schema of workflow files (``costsim schema``), every key described by the docstring under its field.

The docstrings are read here, when a schema is asked for, and not when the spec's classes are built: pydantic's
``use_attribute_docstrings`` reads each class's source as the class is created (finding the frame, tokenising
the block, parsing it: about 0.05 s for the fifty models of the format), which every command that loads a
workflow would pay for a text only the schema shows. This module reads each spec module's source once, takes
the same docstrings pydantic would (a string statement right after an annotated field in the class body, cleaned
with :func:`inspect.cleandoc`) and puts each where pydantic would put it: as the ``description`` of the field's
property, beside whatever the field's type gave. The published ``workflows/schema.json`` is the same text either
way (``tests/test_schema.py`` holds it).
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import sys
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonRef, JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["field_docstrings", "schema_text", "workflow_schema"]


@functools.cache
def _module_docstrings(module_name: str) -> dict[str, dict[str, str]]:
    """Class qualname -> field -> docstring, for every class of a module (its source parsed once)."""
    source = inspect.getsource(sys.modules[module_name])
    found: dict[str, dict[str, str]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                qualname = f"{prefix}{node.name}"
                found[qualname] = {
                    statement.target.id: inspect.cleandoc(following.value.value)
                    for statement, following in zip(node.body, node.body[1:])
                    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                    and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)}
                visit(node.body, f"{qualname}.")

    visit(ast.parse(source).body, "")
    return found


def field_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the docstring under it, for every field of ``model`` that has one: a field's docstring
    is the one in the nearest class (along the method resolution order) that annotates it, as pydantic
    inherits a field's description from the class that declares it."""
    docstrings: dict[str, str] = {}
    for name in model.model_fields:
        for klass in model.__mro__:
            if name in klass.__dict__.get("__annotations__", {}):
                text = _module_docstrings(klass.__module__).get(klass.__qualname__, {}).get(name)
                if text is not None:
                    docstrings[name] = text
                break
    return docstrings


class _DocstringSchema(GenerateJsonSchema):
    """pydantic's generator, with each model's field docstrings added to its properties."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        model = schema["cls"]
        properties = json_schema.get("properties", {})
        for name, text in field_docstrings(model).items():
            field = model.model_fields[name]
            key = field.alias or name  # the spec gives no aliases; pydantic keys a property by its alias
            if field.description is None and key in properties:  # an explicit description comes first
                prop = properties[key]
                if "$ref" in prop:  # pydantic drops a sibling key the referenced definition already says
                    referenced = self.get_schema_from_definitions(JsonRef(prop["$ref"]))
                    if referenced is not None and referenced.get("description") == text:
                        continue
                prop["description"] = text
        return json_schema


def workflow_schema() -> dict[str, Any]:
    """The workflow files' JSON Schema, as a dict (keys sorted as pydantic sorts them)."""
    from sim.spec.workflow import Workflow

    return Workflow.model_json_schema(schema_generator=_DocstringSchema)


def schema_text() -> str:
    """The workflow files' JSON Schema, as ``costsim schema`` prints it and ``workflows/schema.json`` holds it."""
    return json.dumps(workflow_schema(), indent=2) + "\n"
