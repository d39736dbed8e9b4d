"""Broken workflow files get one clear message and exit code 2, never a traceback.

Each ``tests/fixtures/broken/NAME.yaml`` holds one kind of mistake; ``NAME.expected`` holds the exact
message ``costsim validate NAME.yaml`` must print after ``error: `` (run from that folder, so the file is
named relatively and the messages are stable). To add a case, add both files; to change a message,
change its ``.expected`` file in the same commit and read it as the user who wrote the broken file would.

Most cases call :func:`sim.cli.main` in-process (the real entry point: message formatting and exit code
included, without a second of interpreter start-up per file); a few run the installed ``costsim`` script.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sim import cli
from sim.core.errors import WorkflowError
from sim.spec.loader import load_workflow

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "fixtures" / "broken"
WORKFLOWS = sorted((ROOT / "workflows").glob("*.yaml"))
COSTSIM = Path(sys.executable).parent / "costsim"

CASES = sorted(path.stem for path in BROKEN.glob("*.yaml"))

def normalise(text: str) -> str:
    """Drop colour codes (if FORCE_COLOR is set) and the catalog's patch version from a message."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return re.sub(r"genai-prices [0-9][0-9A-Za-z.+-]*", "genai-prices VERSION", text)


def expected(name: str) -> str:
    return (BROKEN / f"{name}.expected").read_text(encoding="utf-8")


def run_main(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Run the ``costsim`` entry point in-process; return (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["costsim", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def costsim(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    environment.pop("FORCE_COLOR", None)
    return subprocess.run([str(COSTSIM), *args], capture_output=True, text=True, cwd=cwd, env=environment,
                          timeout=120)


def test_every_fixture_has_its_message_and_every_message_its_fixture():
    messages = sorted(path.stem for path in BROKEN.glob("*.expected"))
    assert messages == CASES
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", CASES)
def test_message_names_file_line_and_column(name):
    """Every line of every message starts FILE:LINE:COLUMN (a header 'FILE: N problems' aside)."""
    lines = expected(name).rstrip("\n").split("\n")
    if len(lines) > 1:
        assert lines[0] == f"{name}.yaml: {len(lines) - 1} problems"
        lines = lines[1:]
    for line in lines:
        assert re.match(rf"{re.escape(name)}\.yaml:\d+:\d+: \S", line), line


@pytest.mark.parametrize("name", CASES)
def test_validate_prints_the_expected_message(name, monkeypatch, capsys):
    monkeypatch.chdir(BROKEN)
    code, out, err = run_main(["validate", f"{name}.yaml"], monkeypatch, capsys)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert normalise(err) == normalise("error: " + expected(name))


@pytest.mark.parametrize("name", CASES)
def test_library_raises_the_same_message(name, monkeypatch):
    monkeypatch.chdir(BROKEN)
    with pytest.raises(WorkflowError) as caught:
        load_workflow(Path(f"{name}.yaml"))
    assert normalise(caught.value.message + "\n") == normalise(expected(name))


@pytest.mark.parametrize("name", ["unknown-model", "missing-required-keys", "yaml-tab"])
def test_installed_script_exits_2_without_a_traceback(name):
    """The console script end to end; a 40-column terminal must not wrap the message (soft_wrap)."""
    proc = costsim("validate", f"{name}.yaml", cwd=BROKEN, COLUMNS="40")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert normalise(proc.stderr) == normalise("error: " + expected(name))


def test_a_long_message_is_not_wrapped():
    """The soft-wrap check above only means something if some message is longer than 40 columns."""
    assert len(expected("unknown-model").split("\n")[0]) > 80


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_example_workflows_validate(path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code, out, err = run_main(["validate", str(path.relative_to(ROOT))], monkeypatch, capsys)
    assert (code, err) == (0, "")
    assert ": ok: " in out


def test_example_workflows_exist():
    assert WORKFLOWS, "workflows/*.yaml: no example workflows found"
