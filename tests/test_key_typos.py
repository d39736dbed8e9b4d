"""A misspelt key in any block of a workflow file is compared with that block's own keys.

:func:`sim.spec.keys.trace` tells the loader which model a pydantic error location points into. The
fixtures of ``tests/fixtures/broken`` pin a message for a few blocks; this file misspells, one at a time,
every key of every block of two workflows that between them use every block of the format, and checks
that the message suggests the key that was misspelt.
"""

from __future__ import annotations

import copy
import io

import pytest
from ruamel.yaml import YAML

from sim.core.errors import WorkflowError
from sim.spec import distributions, quality, routing, timing, workflow
from sim.spec.keys import trace
from sim.spec.loader import parse_workflow

EVERY_BLOCK = {
    "name": "demo",
    "description": "every block of the format",
    "models": {"main": "openai:gpt-4.1-mini", "small": "openai:gpt-4.1-nano", "big": "openai:gpt-4.1"},
    "alternatives": {"cascading": {"main": "route:c"}, "routed": {"main": "route:r"}, "shared": {"main": "route:s"},
                     "chain": {"main": "route:f"}, "patient": {"retry": "patient"}},
    "prices": {"acme:x": {"input": 1.0, "output": 2.0}},
    "context": {"system": 100, "user": {"normal": {"mean": 100, "sd": 10}, "min": 1}},
    "steps": [
        {"id": "a", "llm": "main", "output": 100, "fail": {"default": 0.1},
         "retry": {"max_attempts": 2, "backoff": {"base_s": 1}, "on_exhausted": {"escalate": "small"}},
         "batch": {"delay_s": 10}},
        {"id": "t", "tool": "search", "latency": {"lognormal": {"median": 1, "sigma": 0.5}}},
        {"id": "loop", "repeat": {"poisson": {"mean": 1}}, "steps": [{"id": "b", "llm": "main", "output": 10}]},
        {"id": "br", "branch": {"x": {"p": 0.5, "steps": [{"id": "c", "llm": "main", "output": 10}]},
                                "y": {"p": 0.5}}},
        {"id": "q", "llm": "main", "output": {"uniform": {"low": 1, "high": 2}}, "fail": "quality"},
        {"id": "e", "llm": "main", "output": {"empirical": {"values": [1, 2], "weights": [1, 1]}},
         "prompt": {"exponential": {"mean": 5}}},
    ],
    "retry": {"max_attempts": 2, "on_exhausted": {"escalate": ["small"]}, "backoff": {"base_s": 1},
              "error_feedback": 10, "fallback": "small"},
    "retry_policies": {"patient": {"max_attempts": 5}},
    "routing": {
        "c": {"cascade": ["small", "big"], "validator": {"llm": "small", "false_accept": 0.1}},
        "r": {"router": {"llm": "small", "routes": {"weak": "small", "strong": "big"},
                         "confusion": {"easy": {"weak": 0.9, "strong": 0.1}, "hard": {"weak": 0.1, "strong": 0.9}}}},
        "s": {"split": {"small": 0.5, "big": 0.5}},
        "f": {"fallback": ["small", "big"]},
    },
    "task_retry": {"max_attempts": 2},
    "budget": {"max_cost_usd": 1.0},
    "traffic": {"tasks_per_day": 100, "days": 1},
    "profiles": {"default": {"ttft_s": 0.5}},
    "cache": {"ttl_s": 300},
    "limits": {"openai:gpt-4.1-mini": {"rpm": 100}},
    "outages": [{"model": "openai:gpt-4.1-mini", "start_h": 1, "duration_min": 10}],
    "self_hosted": {"llama": {"gpu_hour_usd": 2, "prefill_tokens_per_s": 1000, "decode_tokens_per_s": 50}},
    "difficulty": {"classes": {"easy": 0.7, "hard": 0.3}},
    "quality": {"default": {"easy": 0.9, "hard": 0.5}},
}

# The same with a difficulty score (quality rows {skill, slope}), which a router cannot use.
SCORED = copy.deepcopy(EVERY_BLOCK)
SCORED["difficulty"] = {"score": {"uniform": {"low": 0, "high": 1}}}
SCORED["quality"] = {"default": {"skill": 0.5, "slope": 0.1}}
del SCORED["routing"]["r"], SCORED["alternatives"]["routed"]

#: Every key the format defines; the other keys of a file are names the user chose (roles, routes, models).
FORMAT_KEYS = {name for module in (workflow, routing, timing, quality, distributions)
               for value in vars(module).values() if isinstance(value, type) and hasattr(value, "model_fields")
               for name in value.model_fields} | {"default", "retry"}


def _yaml(data: dict) -> str:
    out = io.StringIO()
    YAML().dump(data, out)
    return out.getvalue()


def _blocks(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _blocks(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _blocks(value, (*path, index))


def _misspelt(key: str) -> str:
    return key[:-1] if len(key) > 3 else key + "x"


def _cases():
    for label, base in (("classes", EVERY_BLOCK), ("score", SCORED)):
        for path, block in _blocks(base):
            for key in block:
                if key in FORMAT_KEYS:
                    yield pytest.param(base, path, key, id=f"{label}:{'.'.join(map(str, (*path, key)))}")


def test_the_workflows_are_valid():
    parse_workflow(_yaml(EVERY_BLOCK), "every-block.yaml")
    parse_workflow(_yaml(SCORED), "scored.yaml")


@pytest.mark.parametrize(("base", "path", "key"), list(_cases()))
def test_a_misspelt_key_suggests_itself(base, path, key):
    data = copy.deepcopy(base)
    block = data
    for part in path:
        block = block[part]
    renamed = {(_misspelt(key) if name == key else name): value for name, value in block.items()}
    block.clear()
    block.update(renamed)
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(_yaml(data), "typo.yaml")
    assert f"did you mean {key!r}?" in caught.value.message


@pytest.mark.parametrize(("loc", "model"), [
    ((), "Workflow"),
    (("routing", "c", "route:cascade", "validator"), "Validator"),
    (("routing", "r", "route:router", "router"), "Router"),
    (("steps", 0, "step:repeat", "steps", 1, "step:tool"), "ToolStep"),
    (("steps", 0, "step:llm", "batch", "Batch"), "Batch"),
    (("steps", 0, "step:llm", "output", "dist:normal", "normal"), "NormalParams"),
    (("quality", "openai:gpt-4.1", "row:skill"), "SkillRow"),
    (("retry", "on_exhausted", "when:escalate"), "Escalate"),
])
def test_trace_finds_the_model_a_location_points_into(loc, model):
    assert [found.__name__ for found in trace(loc).models] == [model]


def test_trace_marks_tags_and_the_shape_of_plain_union_members():
    found = trace(("steps", 0, "step:llm", "batch", "bool"))
    assert found.tags == {2, 4}
    assert found.members == {4: "scalar"}
    assert trace(("steps", 0, "step:llm", "retry", "fallback", "list[str]")).members == {5: "list"}
