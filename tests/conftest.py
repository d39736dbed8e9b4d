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


def assert_merged_summary_agrees(merged: dict, exact: dict, exact_keys: tuple[str, ...] = ()) -> None:
    """A summary from merged statistics has the kept columns' summary's shape and values: quantiles (of
    cost per task, their intervals, latency) within the sketch's relative error, every other float within
    1e-9 (exact sums against NumPy's float sums), everything else equal; a float under any of
    ``exact_keys`` must be the same float. ``metadata`` is left out (it says how each was made)."""
    from sim.stats.sketch import RELATIVE_ERROR

    quantile_keys = {"p50", "p90", "p95", "p99"}

    def compare(mine, theirs, path):
        if isinstance(theirs, dict):
            assert mine.keys() == theirs.keys(), path  # the same shape
            for key in theirs:
                compare(mine[key], theirs[key], path + (key,))
        elif isinstance(theirs, list):
            assert len(mine) == len(theirs), path
            for index, (m, t) in enumerate(zip(mine, theirs)):
                compare(m, t, path + (index,))
        elif isinstance(theirs, float):
            if any(key in path for key in exact_keys):
                assert mine == theirs, path
                return
            sketched = bool(quantile_keys & set(map(str, path))) and (
                "cost_per_task" in path or "quantile_ci95" in path or "latency_s" in path)
            tolerance = RELATIVE_ERROR if sketched else 1e-9
            assert mine == pytest.approx(theirs, rel=tolerance, abs=1e-15), path
        else:
            assert mine == theirs, path

    compare({k: v for k, v in merged.items() if k != "metadata"},
            {k: v for k, v in exact.items() if k != "metadata"}, ())


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


#: How far two machines' floats of the same computation may be apart (relative): NumPy's exp and log differ
#: in their last bits between CPUs (AVX-512 or not), and a clock of 4e5 s carries that into a latency's
#: eleventh digit. A real change moves a number much further, or an integer or a word.
MACHINE_FLOAT_TOLERANCE = 1e-9


def assert_same_but_float_bits(got: str, want: str, what: str) -> None:
    """``got`` is ``want`` (texts of the same numbers: a CSV, a JSON document) byte for byte, or else token
    for token with only floats apart, each within :data:`MACHINE_FLOAT_TOLERANCE` (relative): what the same
    code gives on another machine. Words, integers and line structure must be the same."""
    import math
    import re

    if got == want:
        return
    token = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|[^-\d]+|-")
    got_lines, want_lines = got.splitlines(), want.splitlines()
    assert len(got_lines) == len(want_lines), f"{what}: {len(got_lines)} lines, expected {len(want_lines)}"
    for number, (a, b) in enumerate(zip(got_lines, want_lines, strict=True), 1):
        if a == b:
            continue
        ta, tb = token.findall(a), token.findall(b)
        assert len(ta) == len(tb), f"{what}, line {number}: {a!r} against {b!r}"
        for x, y in zip(ta, tb, strict=True):
            if x == y:
                continue
            floats = all(any(c in t for c in ".eE") for t in (x, y))
            assert floats and math.isclose(float(x), float(y), rel_tol=MACHINE_FLOAT_TOLERANCE), (
                f"{what}, line {number}: {x} against {y} ({a!r} against {b!r})")
