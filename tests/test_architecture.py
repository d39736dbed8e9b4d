"""The house rules that keep each change in one room: layers, and no import cycles.

The layer contracts themselves live in ``pyproject.toml`` (``[tool.importlinter]``) and run in CI as
``lint-imports``; these tests hold what import-linter's contracts do not say, on the same import graph
(grimp's, which sees imports inside functions too).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("sim", exclude_type_checking_imports=True)


def test_no_import_cycles_not_even_inside_functions(graph):
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if graph.chain_exists(importer=imported, imported=module):
                chain = graph.find_shortest_chain(importer=imported, imported=module)
                cycles.append(" -> ".join([module, *chain]))
    assert cycles == []


def test_every_module_sits_in_a_layer(graph):
    layers = {"core", "spec", "engine", "stats", "run", "analysis", "calibration", "output", "cli"}
    loose = [m for m in graph.modules if m != "sim" and m.split(".")[1] not in layers]
    assert loose == []


def test_the_layer_contracts_hold_and_catch_a_violation(tmp_path):
    """lint-imports passes on the tree as it is, and fails when a lower layer imports a higher one."""
    lint = Path(sys.executable).with_name("lint-imports")
    kept = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    # The same contracts on a copy of the package in which the stats layer imports the output layer.
    copy = tmp_path / "tree"
    (copy / "sim").mkdir(parents=True)
    subprocess.run(["cp", "-r", str(ROOT / "sim"), str(copy)], check=True)
    subprocess.run(["cp", str(ROOT / "pyproject.toml"), str(copy)], check=True)
    target = copy / "sim" / "stats" / "intervals.py"
    target.write_text(target.read_text() + "\nfrom sim.output import tables  # a violation, on purpose\n")
    env = {"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"}
    broken = subprocess.run([str(lint), "--no-cache"], cwd=copy, capture_output=True, text=True, env=env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "sim.stats.intervals -> sim.output.tables" in broken.stdout
    assert "BROKEN" in broken.stdout
