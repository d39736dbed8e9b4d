"""The registry of kinds: each step kind and routing strategy is declared once in the spec (its pydantic
model) and once in the engine (sim/engine/kinds/), the two halves paired by key; the unions, their
messages and the engines' dispatch come from the registries, and a kind with only one half fails loudly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PRICES_DATE, run, workflow
from pydantic import BaseModel, ValidationError

from sim.core.records import TASK_FIELDS
from sim.engine import kinds
from sim.engine.compiler import compile_plan
from sim.engine.fast import FastEngine
from sim.engine.kinds.base import KindError, registry
from sim.engine.kinds.routes import KINDS as ROUTE_HALVES
from sim.spec.catalog import catalog_for
from sim.spec.kinds import Kinds
from sim.spec.routing import ROUTE_KINDS, ROUTES, Route
from sim.spec.workflow import STEP_KINDS, STEPS, LlmStep, ToolStep, Workflow

ROOT = Path(__file__).resolve().parents[1]


def test_every_spec_kind_has_its_engine_half_and_no_more():
    assert tuple(kinds.STEPS) == STEPS.keys == STEP_KINDS
    assert tuple(ROUTE_HALVES) == ROUTES.keys == ROUTE_KINDS == ("split", "cascade", "router", "fallback")
    assert STEP_KINDS[:4] == ("llm", "tool", "repeat", "branch")


def test_the_unions_and_their_messages_come_from_the_registries():
    assert STEPS.message == "a step needs exactly one of the keys " + ", ".join(STEP_KINDS[:-1]) + \
        f" or {STEP_KINDS[-1]}"
    assert ROUTES.message == "a route needs exactly one of the keys split, cascade, router or fallback"
    with pytest.raises(ValidationError, match="a route needs exactly one of the keys split, cascade, router or "):
        Workflow.model_validate({"name": "x", "models": {"main": "openai:gpt-4.1"},
                                 "steps": [{"id": "a", "llm": "main", "output": 1}],
                                 "routing": {"r": {"split": {"openai:gpt-4.1": 1.0}, "fallback": ["a", "b"]}}})
    for key, model in STEPS:
        assert STEPS.key_of(model) == key
    step = LlmStep(id="a", llm="main", output=1)
    assert STEPS.key_of(step) == "llm"
    assert type(Workflow.model_validate({"name": "x", "models": {"main": "openai:gpt-4.1"}, "steps": [step]})
                .steps[0]) is LlmStep  # a model instance is told apart too
    assert Route is not None


def test_a_kind_is_told_apart_by_a_field_it_has():
    class Sleep(BaseModel):
        id: str

    with pytest.raises(TypeError, match="'sleep': Sleep has no field 'sleep'"):
        Kinds("step", {"sleep": Sleep})


class Sleep(BaseModel):
    """A step kind the spec could register and the engine does not know."""

    id: str
    sleep: float


def test_a_spec_kind_without_an_engine_half_is_refused_by_the_registry():
    spec = Kinds("step", {**STEPS.members, "sleep": Sleep})
    with pytest.raises(KindError, match="step kind 'sleep' is registered in the spec but has no engine half"):
        registry(spec, tuple(kinds.STEPS.values()))
    with pytest.raises(KindError, match="step kind 'llm' has two engine halves"):
        registry(STEPS, (*kinds.STEPS.values(), kinds.STEPS["llm"]))
    with pytest.raises(KindError, match="step kind 'sleep' has an engine half but the spec does not register it"):
        registry(STEPS, (*kinds.STEPS.values(), kinds.StepKind("sleep", None, None, None)))


def test_a_spec_kind_without_an_engine_half_stops_the_engines_import():
    # ``import sim`` already imports the engine, so the registry module is imported again (reloaded)
    # after the spec's registry gained a kind.
    code = ("import importlib\n"
            "from pydantic import BaseModel\n"
            "import sim.engine.kinds\n"
            "from sim.spec import workflow\n"
            "from sim.spec.kinds import Kinds\n"
            "class Sleep(BaseModel):\n"
            "    id: str\n"
            "    sleep: float\n"
            "workflow.STEPS = Kinds('step', {**workflow.STEPS.members, 'sleep': Sleep})\n"
            "importlib.reload(sim.engine.kinds)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert "KindError: step kind 'sleep' is registered in the spec but has no engine half" in proc.stderr


def test_compiling_a_step_without_an_engine_half_names_its_kind(monkeypatch):
    wf = workflow([{"id": "search", "tool": "web", "result": 10}])
    catalog = catalog_for(wf, PRICES_DATE)
    monkeypatch.delitem(kinds.STEPS, "tool")
    with pytest.raises(KindError, match="step kind 'tool' has no engine half"):
        compile_plan(wf, "baseline", dict(wf.models), catalog)
    stranger = wf.model_copy(update={"steps": [Sleep(id="nap", sleep=1.0)]})
    with pytest.raises(KindError, match="Sleep is not a registered step kind"):
        compile_plan(stranger, "baseline", dict(wf.models), catalog)


def test_plan_nodes_carry_their_kind_and_the_walk_reaches_nested_ones():
    wf = workflow([{"id": "a", "llm": "main", "output": 1},
                   {"id": "loop", "repeat": 2, "steps": [
                       {"id": "t", "tool": "web"},
                       {"id": "b", "branch": {"x": {"p": 0.5, "steps": [{"id": "c", "llm": "main", "output": 1}]},
                                              "y": {"p": 0.5}}}]}])
    plan = compile_plan(wf, "baseline", dict(wf.models), catalog_for(wf, PRICES_DATE))
    assert [(node.kind, node.id) for node in kinds.walk(plan.steps)] == [
        ("llm", "a"), ("repeat", "loop"), ("tool", "t"), ("branch", "b"), ("llm", "c")]


def test_the_record_fields_each_kind_fills_are_its_own():
    owned = [name for kind in kinds.STEPS.values() for name in kind.columns]
    assert len(owned) == len(set(owned)) and set(owned) <= set(TASK_FIELDS)
    assert kinds.STEPS["tool"].columns == ("tool_calls",)
    assert "calls" in kinds.STEPS["llm"].columns


@pytest.mark.parametrize("engine", [None, FastEngine()], ids=["des", "fast"])
def test_a_kind_absent_from_the_plan_leaves_its_fields_at_zero(engine):
    wf = workflow([{"id": "a", "llm": "main", "output": 5, "fail": 0.3}], retry={"max_attempts": 2})
    tasks = run(wf, 300, **({} if engine is None else {"engine": engine})).baseline.tasks
    assert not tasks.tool_calls.any()
    assert tasks.attempts.sum() > tasks.calls.sum() > 0
    assert ToolStep.model_fields["tool"].is_required()
