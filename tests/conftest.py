"""Shared helpers: build workflows from plain dicts and run them with the catalog's date fixed."""

from __future__ import annotations

import datetime as dt
import sys

import pytest

from sim.run.simulation import simulate
from sim.spec.workflow import Workflow

PRICES_DATE = dt.date(2026, 11, 1)

#: The catalog the pinned numbers (the README's tutorial output, the reference results, hand-worked
#: prices) were computed with. A newer genai-prices may change any price: the tests that pin numbers
#: are skipped then, with this reason, instead of failing as if costsim were wrong. To move the pin:
#: install the new release, run scripts/regenerate-results, update the README's tables and this string.
PINNED_CATALOG = "genai-prices 0.2.3"


def _installed_catalog() -> str:
    from sim.core.pricing import Catalog

    return Catalog().catalog_version


pinned_to_catalog = pytest.mark.skipif(
    _installed_catalog() != PINNED_CATALOG,
    reason=f"numbers pinned to {PINNED_CATALOG}, installed {_installed_catalog()}: regenerate the reference "
           "results (scripts/regenerate-results), update the README's tables, then PINNED_CATALOG in tests/conftest.py")


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
