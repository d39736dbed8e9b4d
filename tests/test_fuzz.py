"""Fuzz: broken and hostile mutations of the shipped example workflows (issue 13, "a fuzz suite").

Hypothesis takes an example of ``workflows/`` and breaks it: a key dropped, a list item or a line
duplicated, a value of another type, an extreme number (infinities, NaN, 1e308, 2^64, negatives), or a
YAML feature (an anchor and its alias, a merge key, a tag, nesting up to 200 deep). For every file so
made, ``costsim validate`` either refuses it, exit 2 with one message whose every line names
FILE:LINE:COL, or accepts it; an accepted file then runs (``costsim run --tasks 50``, or one replication
with traffic), and either is refused (exit 2, one ``error:`` line) or gives a run whose every cost, per
task and in the summary, is finite and not negative. Never a traceback, never another exit code.

Derandomized (the same examples on every run) and bounded (:data:`EXAMPLES` files a test); everything
runs in this process (``costsim_in_process``). A workflow with traffic runs only when its horizon holds
at most :data:`MOST_TASKS_RUN` tasks (a mutated ``tasks_per_day`` of a million is a legal, slow run, not
a bug); it is still validated.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import pytest
from conftest import costsim_in_process as costsim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "workflows").glob("*.yaml"))
#: Files each test makes.
FILES = 40
MOST_TASKS_RUN = 2_000
SETTINGS = settings(max_examples=FILES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

EXTREMES = [float("inf"), float("-inf"), float("nan"), 1e308, 1e19, 2**64, 2**63 - 1, -1, -1e-9, 0, 0.0, 1e-300,
            1e9, 1e6, 123456.789, True, None]
OTHER_TYPES = ["abc", "", "1e3x", [], [1, 2], {}, {"a": 1}, {"lognormal": {"median": "x"}}, True, None, 7, 0.5]
TAGS = ["!!python/object/apply:os.system", "!!python/name:os.system", "!custom", "!!binary", "!!set",
        "!!timestamp", "!!str", "!!int", "!!float", "!!omap"]
KEYS = ["output", "prompt", "fail", "llm", "id", "repeat", "mean", "median", "sigma", "max_attempts", "days",
        "tasks_per_day", "cost_usd", "steps", "models", "zzz"]
LINE = re.compile(r"^(?P<lead>\s*(?:- )?)(?P<key>[A-Za-z_][\w.:/-]*):[ \t]+(?P<value>[^\s#{\[&*!|>'\"][^#]*?)"
                  r"[ \t]*(?:#.*)?$")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.width = 4096
    return yaml


def _leaves(node, path=()):
    """Every (container, key) of the document, depth first."""
    if isinstance(node, dict):
        for key in list(node):
            yield node, key
            yield from _leaves(node[key], (*path, key))
    elif isinstance(node, list):
        for index in range(len(node)):
            yield node, index
            yield from _leaves(node[index], (*path, index))


def mutate_data(text: str, draw) -> str:
    """A change to the document's data: drop, duplicate, retype or set an extreme number."""
    yaml = _yaml()
    data = yaml.load(text)
    places = list(_leaves(data))
    for _ in range(draw(st.integers(1, 3), label="changes")):
        container, key = places[draw(st.integers(0, len(places) - 1), label="place")]
        if key not in (container if isinstance(container, dict) else range(len(container))):
            continue  # dropped by an earlier change
        how = draw(st.sampled_from(["drop", "duplicate", "retype", "extreme", "extreme"]), label="how")
        if how == "drop":
            del container[key]
        elif how == "duplicate" and isinstance(container, list):
            container.insert(key, json.loads(json.dumps(container[key], default=str)))
        elif how == "retype":
            container[key] = draw(st.sampled_from(OTHER_TYPES), label="value")
        else:
            container[key] = draw(st.sampled_from(EXTREMES), label="number")
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def mutate_text(text: str, draw) -> str:
    """A change to the file's YAML: a duplicated line, a tag, an anchor and alias, a merge key, deep nesting."""
    lines = text.split("\n")
    plain = [i for i, line in enumerate(lines) if LINE.match(line)]
    how = draw(st.sampled_from(["duplicate", "tag", "alias", "merge", "nest", "bomb"]), label="yaml")
    i = plain[draw(st.integers(0, len(plain) - 1), label="line")]
    match = LINE.match(lines[i])
    lead, key, value = match["lead"], match["key"], match["value"]
    indent = " " * len(lead)
    if how == "duplicate":
        lines.insert(i + 1, f"{indent}{key}: {value}")
    elif how == "tag":
        lines[i] = f"{lead}{key}: {draw(st.sampled_from(TAGS), label='tag')} {value}"
    elif how == "alias":
        j = plain[draw(st.integers(0, len(plain) - 1), label="other")]
        other = LINE.match(lines[j])
        lines[j] = f"{other['lead']}{other['key']}: &fuzz {other['value']}"
        if j != i:
            lines[i] = f"{lead}{key}: *fuzz"
    elif how == "merge":
        merged = draw(st.sampled_from(KEYS), label="merged key")
        number = draw(st.sampled_from(EXTREMES[:7] + [5, "x"]), label="merged value")
        lines.insert(i + 1, f"{indent}<<: {{{merged}: {json.dumps(number) if isinstance(number, str) else number}}}")
    elif how == "nest":
        depth = draw(st.integers(1, 200), label="depth")
        lines[i] = f"{lead}{key}: {'[' * depth}{value}{']' * depth}"
    else:
        width = draw(st.integers(2, 12), label="width")
        lines.insert(0, "x-bomb: &b0 [1, 2]")
        for level in range(1, draw(st.integers(2, 8), label="levels")):
            lines.insert(level, f"x-bomb{level}: &b{level} [{', '.join([f'*b{level - 1}'] * width)}]")
    return "\n".join(lines)


def located(err: str, name: str) -> bool:
    """One message, every line of it naming FILE:LINE:COL (after a 'FILE: N problems' header)."""
    if not err.startswith("error: ") or "Traceback" in err:
        return False
    lines = err[len("error: "):].rstrip("\n").split("\n")
    if len(lines) > 1:
        if not re.fullmatch(rf"{re.escape(name)}: \d+ problems", lines[0]):
            return False
        lines = lines[1:]
    return all(re.match(rf"{re.escape(name)}:\d+:\d+: \S", line) for line in lines)


def check(text: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    name = "fuzzed.yaml"
    (tmp_path / name).write_text(text, encoding="utf-8")
    code, out, err = costsim(monkeypatch, capsys, "validate", name)
    if code == 2:
        assert out == "" and located(err, name), f"{err}\n--- the file:\n{text}"
        return
    assert code == 0 and err == "" and ": ok: " in out, f"exit {code}\n{err}\n--- the file:\n{text}"
    data = _yaml().load(text)
    traffic = data.get("traffic")
    args = ["--tasks", "50"]
    if traffic is not None:
        if float(traffic.get("tasks_per_day", 0)) * float(traffic.get("days", 0)) > MOST_TASKS_RUN:
            return
        args = ["--replications", "1"]
    out_dir = tmp_path / "run"
    code, out, err = costsim(monkeypatch, capsys, "run", name, *args, "--format", "json", "--out", out_dir,
                             "--prices-date", "2026-11-01", "--jobs", "1")
    if code == 2:
        assert out == "" and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        return
    assert code == 0, f"exit {code}\n{err}\n--- the file:\n{text}"
    summary = json.loads(out)
    for entry in summary["alternatives"]:
        for value in (*entry["cost_per_task"].values(), entry["total_cost_usd"]):
            if isinstance(value, float | int):
                assert math.isfinite(value) and value >= 0, (entry["name"], value)
    with open(out_dir / "tasks.csv", newline="", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            for column, value in row.items():
                if column.endswith("_usd"):  # a cost; but a saving is a difference, negative where a cache write
                    # costs more than it saves (a write premium), or by a rounding error where it saves nothing
                    assert math.isfinite(float(value)) and (float(value) >= 0 or column == "cache_saving_usd"), (
                        column, value)


@pytest.fixture
def fresh(tmp_path_factory):
    return lambda: tmp_path_factory.mktemp("fuzz")


@SETTINGS
@given(example=st.sampled_from(EXAMPLES), data=st.data())
def test_a_mutated_example_is_refused_with_its_line_or_runs_with_sound_costs(example, data, fresh, monkeypatch,
                                                                             capsys):
    text = mutate_data(example.read_text(encoding="utf-8"), data.draw)
    check(text, fresh(), monkeypatch, capsys)


@SETTINGS
@given(example=st.sampled_from(EXAMPLES), data=st.data())
def test_hostile_yaml_is_refused_with_its_line_or_runs_with_sound_costs(example, data, fresh, monkeypatch, capsys):
    text = mutate_text(example.read_text(encoding="utf-8"), data.draw)
    check(text, fresh(), monkeypatch, capsys)
