"""costsim runs from a source tree that was never installed (a checkout on PYTHONPATH, a vendored copy).

There is no package metadata then, so ``importlib.metadata.version("costsim")`` raises
``PackageNotFoundError``; :mod:`sim.core.version` falls back to ``0+unknown`` and a run records that.
The test copies ``sim/`` into an empty folder and runs a fresh interpreter in isolated mode without the
``site`` module (``-I -S``), so neither this checkout's editable install nor the venv's ``costsim``
metadata is visible; the venv's other packages (numpy, scipy, pydantic, ...) come from a folder of links
to every entry of its site-packages except costsim's own.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RUN = textwrap.dedent("""
    import datetime, json, sys
    sys.path[:0] = sys.argv[1:3]
    from importlib.metadata import PackageNotFoundError, version
    try:
        version("costsim")
        installed = True
    except PackageNotFoundError:
        installed = False
    import sim
    workflow = sim.parse_workflow("name: bare\\nmodels: {main: openai:gpt-4.1-mini}\\n"
                                  "steps: [{id: answer, llm: main, output: 100}]\\n")
    result = sim.simulate(workflow, 20, 3, prices_date=datetime.date(2026, 11, 1))
    print(json.dumps({"installed": installed, "sim": sim.__file__, "version": sim.__version__,
                      "metadata": result.metadata["costsim_version"], "tasks": result.n_tasks}))
""")


def _packages_without_costsim(folder: Path) -> Path:
    """A folder of links to every entry of the venv's site-packages but costsim's metadata and editable hooks."""
    folder.mkdir()
    for packages in map(Path, site.getsitepackages()):
        for entry in packages.iterdir():
            name = entry.name.lower()
            if "costsim" in name or name.endswith(".pth") or (folder / entry.name).exists():
                continue
            (folder / entry.name).symlink_to(entry)
    return folder


def test_a_never_installed_source_tree_runs_and_records_an_unknown_version(tmp_path):
    source = tmp_path / "checkout"
    shutil.copytree(ROOT / "sim", source / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    packages = _packages_without_costsim(tmp_path / "packages")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", RUN, str(source), str(packages)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["installed"] is False  # the metadata really is out of sight
    assert found["sim"] == str(source / "sim" / "__init__.py")  # the copy ran, not this checkout
    assert found["version"] == found["metadata"] == "0+unknown"
    assert found["tasks"] == 20
