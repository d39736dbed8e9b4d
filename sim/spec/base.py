"""What every block of a workflow file has in common: the base model and the probability type.

Every key of the format is a field of a :class:`SpecModel` subclass, so one set of rules holds for the
whole file:

* ``extra="forbid"``: a key the block does not define is an error (and the loader suggests the key
  that was probably meant), never silently ignored;
* ``frozen=True``: a validated workflow is a value; the engines and analyses read it and never change
  it (a variant of a workflow is a new, validated copy);
* the docstring under each field is its description in the JSON Schema (``costsim schema``) that
  editors show while a file is written: :mod:`sim.spec.schema` reads the docstrings when a schema is
  asked for (pydantic's ``use_attribute_docstrings`` would read every class's source each time a
  command loads the spec, for a text only the schema shows);
* ``validate_default=True``: a default goes through the same validation as a value written in a file,
  so ``prompt: Distribution = 0`` holds ``Fixed(fixed=0)`` as if the file had said ``prompt: 0``, and a
  default written as a file would write it (``{lognormal: {...}}``) becomes a distribution;
* ``allow_inf_nan=False``: every number is finite (``.inf`` and ``.nan`` are refused where they are
  written): no count, duration or price can be infinite or undefined;
* ``defer_build=True``: a model's validator is built the first time it is used, not when its class is
  made. Validating a file builds :class:`~sim.spec.workflow.Workflow`'s, which holds every block inside
  it, once; built at import, each of the 58 classes would also build its own (and the classes that nest
  others again), 0.02 to 0.04 s of every command that loads the spec (issue 14).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
"""A probability or a share: a number from 0 to 1."""

#: The highest price a workflow may give, in USD (per million tokens, per tool call or check, per GPU
#: hour): a thousand times the dearest model's output price, so only a typo reaches it, and any bill
#: stays far inside floating point.
PRICE_CEILING = 10**6

Price = Annotated[float, Field(ge=0.0, le=PRICE_CEILING)]
"""A price in USD: finite, from 0 to :data:`PRICE_CEILING`."""


class SpecModel(BaseModel):
    """The base of every block of a workflow file (see the module's docstring for its settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True,
                              allow_inf_nan=False, defer_build=True)


def empty_list() -> list:
    """The default factory of a list key: ``Field(default_factory=empty_list)``, not ``list``. pydantic
    reads each factory's signature; the builtin ``list`` and ``dict`` have theirs only as text, which
    ``inspect`` parses with the tokenize module, whose pattern takes several milliseconds to compile:
    a cost every command that validates a file paid once (issue 14)."""
    return []


def empty_dict() -> dict:
    """The default factory of a mapping key (see :func:`empty_list`)."""
    return {}
