"""Shared helpers: build workflows from plain dicts and run them with the catalog's date fixed."""

from __future__ import annotations

import datetime as dt
import sys

import pytest

from sim.run.simulation import simulate
from sim.spec.workflow import Workflow

PRICES_DATE = dt.date(2026, 11, 1)


def workflow(steps: list[dict], models: dict | None = None, **extra) -> Workflow:
    """A workflow with ``steps``; models default to one role ``main`` on openai:gpt-4.1."""
    return Workflow.model_validate({"name": "test", "models": models or {"main": "openai:gpt-4.1"},
                                    "steps": steps, **extra})


def run(wf: Workflow, tasks: int, seed: int = 7, **kwargs):
    """``simulate`` on the SimPy engine unless ``engine=`` says otherwise: the engine these tests were written
    against (the library's default is ``"auto"``; tests/test_fast_engine.py holds the vectorised engine to
    the SimPy engine's results)."""
    kwargs.setdefault("engine", "des")
    return simulate(wf, tasks, seed, prices_date=PRICES_DATE, **kwargs)


def within_sigmas(estimate: float, exact: float, standard_error: float, sigmas: float = 4.0) -> bool:
    return abs(estimate - exact) <= sigmas * standard_error


@pytest.fixture
def make_workflow():
    return workflow


def costsim_in_process(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run the command in this process (no start-up cost): (exit code, stdout, stderr)."""
    from sim import cli

    monkeypatch.setattr(sys, "argv", ["costsim", *map(str, args)])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
