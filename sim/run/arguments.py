"""The public functions' arguments, checked at the door: a wrong type is a :class:`ParameterError` that
says what was expected, not a ``TypeError`` or ``AttributeError`` from deep inside a run.

A notebook user's first mistakes are of type, not of value: a workflow's path where the workflow is
expected (``simulate("workflows/support-agent.yaml")``), a date as text (``prices_date="2026-11-01"``),
a count as text or a float. :func:`simulate`, :func:`~sim.analysis.stress.stress`,
:func:`~sim.analysis.sensitivity.sensitivity` and :func:`~sim.analysis.breakeven.breakeven` call these
first. A date in ISO text is accepted (it can mean only one day); anything else is refused with the
parameter, the value and what to give instead.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np

from sim.core.errors import Parameter, ParameterError
from sim.spec.workflow import Workflow


def check_workflow(workflow, function: str) -> None:
    """Refuse anything but a :class:`Workflow`; a path (text or ``Path``) gets the call that loads it."""
    if isinstance(workflow, Workflow):
        return
    if isinstance(workflow, str | os.PathLike):
        raise ParameterError(Parameter("workflow", str(workflow) if isinstance(workflow, str) else workflow),
                             f": {function} takes a loaded workflow, not a path; load it first: "
                             f"{function}(load_workflow({str(workflow)!r}), ...)")
    raise ParameterError(Parameter("workflow"), f": {function} takes a Workflow (from load_workflow or "
                         f"parse_workflow), got {type(workflow).__name__}")


def prices_date_of(value) -> dt.date | None:
    """``prices_date`` as a date: a ``datetime.date`` (a ``datetime`` gives its UTC day as written), ISO
    text ``"YYYY-MM-DD"``, or None (today)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ParameterError(Parameter("prices_date", value), ": expected a date: datetime.date(2026, 11, 1) or "
                         "'2026-11-01'")


def check_count(name: str, value, least: int = 1, *, optional: bool = False) -> None:
    """A whole number of at least ``least`` (None allowed when ``optional``): tasks, replications."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ParameterError(Parameter(name, value), f": expected a whole number, {least} or more, got "
                             f"{type(value).__name__}")
    if value < least:
        raise ParameterError(Parameter(name, value), f": expected {least} or more")
