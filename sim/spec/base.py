"""What every block of a workflow file has in common: the base model and the probability type.

Every key of the format is a field of a :class:`SpecModel` subclass, so one set of rules holds for the
whole file:

* ``extra="forbid"``: a key the block does not define is an error (and the loader suggests the key
  that was probably meant), never silently ignored;
* ``frozen=True``: a validated workflow is a value; the engines and analyses read it and never change
  it (a variant of a workflow is a new, validated copy);
* ``use_attribute_docstrings=True``: the docstring under each field is its description in the JSON
  Schema (``costsim schema``) that editors show while a file is written;
* ``validate_default=True``: a default goes through the same validation as a value written in a file,
  so ``prompt: Distribution = 0`` holds ``Fixed(fixed=0)`` as if the file had said ``prompt: 0``, and a
  default written as a file would write it (``{lognormal: {...}}``) becomes a distribution.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
"""A probability or a share: a number from 0 to 1."""


class SpecModel(BaseModel):
    """The base of every block of a workflow file (see the module's docstring for its settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, validate_default=True)
