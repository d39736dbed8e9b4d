"""The vectorised engine against the SimPy engine: the same per-task results from the same workflow file.

For every example it supports and for random workflows that use every key it supports (loops,
branches, user turns, retries with backoff and error feedback, escalation ladders, fallbacks, routes,
validators, budgets, difficulty, reasoning tokens, context windows, batch, task re-runs), each task's
token counts, attempts, calls and outcome must be identical and its cost equal to 1e-9 relative (in
practice the two agree to the bit, which is asserted too: the sums are made in the same order).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run, within_sigmas, workflow
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import load_workflow
from sim.cli.program import error_message
from sim.core.errors import ParameterError, WorkflowError
from sim.core.records import FAILURE_CODE, TASK_FIELDS
from sim.engine.fast import FastEngine, unsupported
from sim.spec.loader import parse_workflow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "workflows").glob("*.yaml"))
SUPPORTED = [p for p in EXAMPLES if unsupported(load_workflow(p)) is None]


def assert_same_tasks(des, fast) -> None:
    assert [a.name for a in des.alternatives] == [a.name for a in fast.alternatives]
    for a, b in zip(des.alternatives, fast.alternatives):
        for name in TASK_FIELDS:
            x, y = a.tasks.columns[name], b.tasks.columns[name]
            assert x.dtype == y.dtype, name
            if x.dtype.kind == "f":
                np.testing.assert_allclose(y, x, rtol=1e-9, atol=0, err_msg=f"{a.name}.{name}")
            assert np.array_equal(x, y), f"{a.name}.{name}"
        assert a.tasks.model_calls == b.tasks.model_calls, a.name


def test_the_supported_examples_are_most_of_them():
    assert len(SUPPORTED) >= 10
    assert {p.stem for p in EXAMPLES} - {p.stem for p in SUPPORTED} == {
        "rate-limits-outage", "self-hosting", "support-agent-month"}


@pytest.mark.parametrize("path", SUPPORTED, ids=[p.stem for p in SUPPORTED])
def test_every_supported_example_gives_the_simpy_engines_tasks(path):
    wf = load_workflow(path)
    des = run(wf, 3000, seed=11)
    fast = run(wf, 3000, seed=11, engine=FastEngine(), block_tasks=1024)
    assert_same_tasks(des, fast)


@pytest.mark.parametrize("user", ["{lognormal: {median: 150, sigma: 0.6}}",
                                  "{lognormal: {median: 150000, sigma: 1.0}}"], ids=["fits", "overflows"])
def test_a_routes_options_run_as_one_call_give_the_simpy_engines_tasks(tmp_path, monkeypatch, user):
    """benchmarks/routed-agent.yaml: a router (baseline) and a split (``coin``) whose options are plain legs,
    which the vectorised engine runs as one call (``llm_fast.together``), failure chance by difficulty class;
    with requests of ~150,000 tokens some inputs overflow a model's context window."""
    import sim.engine.kinds.llm_fast as llm_fast

    text = (ROOT / "benchmarks" / "routed-agent.yaml").read_text()
    path = tmp_path / "routed.yaml"
    path.write_text(text.replace("user: {lognormal: {median: 150, sigma: 0.6}}", f"user: {user}"))
    together, calls = llm_fast.together, []
    monkeypatch.setattr(llm_fast, "together", lambda *args: calls.append(1) or together(*args))
    wf = load_workflow(path)
    des = run(wf, 3000, seed=5)
    fast = run(wf, 3000, seed=5, engine=FastEngine(), block_tasks=1024)
    assert calls  # the options did run as one call
    assert_same_tasks(des, fast)
    if "150000" in user:
        assert (fast.baseline.tasks.failure == FAILURE_CODE["context_exceeded"]).any()


def test_each_tasks_own_prompt_cache_reads_writes_and_saves_the_same():
    wf = workflow(
        [{"id": "classify", "llm": "fast", "prompt": 500, "output": 100, "history": "none"},
         {"id": "tools", "repeat": {"poisson": {"mean": 2}}, "steps": [
             {"id": "search", "tool": "s", "result": {"lognormal": {"median": 1000, "sigma": 0.6}}, "latency": 1,
              "fail": 0.1},
             {"id": "re", "llm": "main", "prompt": 100, "output": 150, "fail": 0.1}]},
         {"id": "answer", "llm": "main", "output": 400, "fail": 0.1}],
        models={"fast": "openai:gpt-4.1-nano", "main": "anthropic:claude-sonnet-4-6"},
        alternatives={"gpt": {"main": "openai:gpt-4.1"}, "hour": {"main": "anthropic:claude-opus-4-1"}},
        cache={"ttl_s": 300, "min_prefix_tokens": 1024}, context={"system": 1500, "user": 200},
        retry={"max_attempts": 3}, task_retry={"max_attempts": 2})
    des, fast = run(wf, 2000, seed=4), run(wf, 2000, seed=4, engine=FastEngine(), block_tasks=500)
    assert des.baseline.tasks.cache_read_tokens.sum() > 0 and des.baseline.tasks.cache_saving_usd.sum() > 0
    assert_same_tasks(des, fast)


def test_results_do_not_depend_on_the_block_size():
    wf = load_workflow(ROOT / "workflows" / "cascade.yaml")
    one = run(wf, 2000, seed=2, engine=FastEngine(), block_tasks=2000)
    many = run(wf, 2000, seed=2, engine=FastEngine(), block_tasks=137)
    assert_same_tasks(one, many)


@pytest.mark.parametrize("engine", ["fast", "des"])
def test_a_run_in_chunks_keeps_the_columns_of_a_run_in_one(engine):
    """Chunks of a run of known length go into the run's columns in place (the vectorised engine writes
    them there; the SimPy engine's are copied): the same tasks as one chunk, and the engine's own arrays."""
    wf = load_workflow(ROOT / "workflows" / "router.yaml")
    one = run(wf, 2000, seed=3, engine=engine, chunk_tasks=2000)
    chunked = run(wf, 2000, seed=3, engine=engine, chunk_tasks=700, block_tasks=350)
    assert_same_tasks(one, chunked)
    for alternative in chunked.alternatives:
        for name, column in alternative.tasks.columns.items():
            assert column.shape == (2000,) and column.dtype == TASK_FIELDS[name], name
        assert sum(alternative.tasks.overhead_usd) == sum(one.alternative(alternative.name).tasks.overhead_usd)


def test_what_needs_the_simpy_engine_is_named_and_refused():
    wf = workflow([{"id": "a", "llm": "main", "output": 10}], traffic={"tasks_per_day": 100, "days": 1})
    assert unsupported(wf).startswith("traffic")
    with pytest.raises(ParameterError, match="cannot run traffic; use engine='des'") as caught:
        run(wf, 10, engine=FastEngine(), replications=1)
    assert error_message(caught.value) == "--engine fast: the vectorised engine cannot run traffic; use --engine des"


def test_traces_need_the_simpy_engine():
    wf = workflow([{"id": "a", "llm": "main", "output": 10}])
    assert unsupported(wf, trace=True) == "per-attempt trace rows"
    with pytest.raises(ParameterError, match="writes no traces; use engine='des' with trace") as caught:
        run(wf, 10, engine=FastEngine(), trace=True)
    assert error_message(caught.value) == ("--engine fast: the vectorised engine writes no traces; use --engine des "
                                           "with --trace")


def test_mixtures_give_the_same_tasks_on_both_engines_and_their_exact_mean():
    # Two populations of answers, zero-inflated tool loops, tool latencies with a 10% timeout at 30 s.
    answer = {"mixture": [{"weight": 0.7, "lognormal": {"median": 200, "sigma": 0.3}},
                          {"weight": 0.3, "normal": {"mean": 900, "sd": 100}}]}
    searches = {"mixture": [{"weight": 0.4, "fixed": 0}, {"weight": 0.6, "poisson": {"mean": 2}}]}
    latency = {"mixture": [{"weight": 0.9, "exponential": {"mean": 0.5}}, {"weight": 0.1, "fixed": 30}]}
    wf = workflow([{"id": "tools", "repeat": searches, "steps": [{"id": "search", "tool": "s", "result": 50,
                                                                    "latency": latency}]},
                   {"id": "answer", "llm": "main", "output": answer}])
    des, fast = run(wf, 4000, seed=5), run(wf, 4000, seed=5, engine=FastEngine(), block_tasks=1000)
    assert_same_tasks(des, fast)
    t = fast.baseline.tasks
    spec = wf.steps[1].output
    exact = spec.expected_value(integer=True)
    assert within_sigmas(t.output_tokens.mean(), exact, t.output_tokens.std(ddof=1) / np.sqrt(len(t.output_tokens)))
    assert within_sigmas(t.tool_calls.mean(), 0.6 * 2, t.tool_calls.std(ddof=1) / np.sqrt(len(t.tool_calls)))


# -- random workflows -------------------------------------------------------------------------------------

MODELS = ["openai:gpt-4.1", "openai:gpt-4.1-mini", "openai:gpt-4.1-nano", "openai:o3-mini",
          "google:gemini-2.5-pro", "anthropic:claude-sonnet-4-5", "openai:o3"]
# o3-mini reasons by default; gemini-2.5-pro has a long-context tier and thinks; Claude's tokenizer ratios
# differ by content type; o3 reasons and carries its reasoning through tool loops
CLASSES = ["easy", "hard"]

tokens = st.one_of(st.integers(0, 3000), st.builds(lambda m, s: {"lognormal": {"median": m, "sigma": s}},
                                                   st.integers(10, 2000), st.sampled_from([0.2, 0.8])),
                   st.builds(lambda m: {"poisson": {"mean": m}}, st.integers(1, 400)),
                   st.builds(lambda w, m, s: {"mixture": [
                       {"weight": w, "lognormal": {"median": m, "sigma": s}},
                       {"weight": round(1 - w, 2), "normal": {"mean": 4 * m, "sd": m}}]},
                             st.sampled_from([0.1, 0.5, 0.93]), st.integers(10, 500), st.sampled_from([0.2, 0.8])))
probability = st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0])
backoff = st.fixed_dictionaries({"base_s": st.sampled_from([0, 1, 5]),
                                 "jitter": st.sampled_from(["full", "equal", "none"])})
retry_override = st.fixed_dictionaries({}, optional={
    "max_attempts": st.integers(1, 3), "backoff": backoff,
    "error_feedback": st.one_of(st.integers(0, 200), st.just({"poisson": {"mean": 50}})),
    "on_exhausted": st.one_of(st.just("fail_task"), st.builds(lambda m: {"escalate": m}, st.sampled_from(MODELS)))})


@st.composite
def step_lists(draw, depth: int, ids: list[int]):
    def new_id(prefix: str) -> str:
        ids.append(len(ids))
        return f"{prefix}{len(ids)}"

    steps = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["llm", "llm", "tool", "user", "loop", "branch"] if depth < 2
                                    else ["llm", "tool", "user"]))
        if kind == "llm":
            output = draw(tokens)
            if draw(st.integers(0, 3)) == 0:  # a size by model
                output = {"default": output, MODELS[5]: draw(tokens), MODELS[6]: draw(tokens)}
            step = {"id": new_id("l"), "llm": draw(st.sampled_from(["main", "big", "routed", MODELS[2]])),
                    "prompt": draw(tokens), "output": output,
                    "history": draw(st.sampled_from(["full", "none", "window"])),
                    "fail": draw(st.one_of(probability, st.just("quality"),
                                           st.builds(lambda p: {"default": p, MODELS[0]: 0.01}, probability)))}
            if draw(st.booleans()):
                step["retry"] = draw(retry_override)
            if draw(st.integers(0, 5)) == 0:
                step["batch"] = True
            if draw(st.integers(0, 3)) == 0:
                step["content"] = draw(st.sampled_from(["prose", "code", "math"]))
        elif kind == "tool":
            step = {"id": new_id("t"), "tool": "search", "result": draw(tokens),
                    "latency": draw(st.sampled_from([0, 0.5, {"exponential": {"mean": 2}},
                                                     {"mixture": [{"weight": 0.9, "exponential": {"mean": 0.5}},
                                                                  {"weight": 0.1, "fixed": 30}]}])),
                    "fail": draw(probability),
                    "cost_usd": draw(st.sampled_from([0.0, 0.01, {"default": 0.01, MODELS[5]: 0.02}]))}
            if draw(st.integers(0, 3)) == 0:
                step["provider_tool"] = draw(st.sampled_from(["web_search", "file_search", "code_execution"]))
            if draw(st.integers(0, 3)) == 0:
                step["bill_failed"] = draw(st.booleans())
            if draw(st.booleans()):
                step["retry"] = {"max_attempts": draw(st.integers(1, 3)), "backoff": draw(backoff)}
        elif kind == "user":
            step = {"id": new_id("u"), "user": draw(tokens)}
        elif kind == "loop":
            step = {"id": new_id("r"), "repeat": draw(st.sampled_from([0, 2, {"poisson": {"mean": 1.5}},
                                                                       {"poisson": {"mean": 1}, "min": 1},
                                                                       {"mixture": [
                                                                           {"weight": 0.3, "fixed": 0},
                                                                           {"weight": 0.7, "poisson": {"mean": 2}}]},
                                                                       {"default": 1, MODELS[5]: 3, MODELS[6]: 2}])),
                    "steps": draw(step_lists(depth + 1, ids))}
        else:
            p = draw(st.sampled_from([0.0, 0.3, 1.0]))
            step = {"id": new_id("b"), "branch": {"x": {"p": p, "steps": draw(step_lists(depth + 1, ids))},
                                                  "y": {"p": 1 - p, "steps": []}}}
        steps.append(step)
    return steps


ROUTES = {
    "split": {"split": {MODELS[1]: 0.6, MODELS[0]: 0.4}},
    "cascade": {"cascade": [MODELS[2], MODELS[1], MODELS[0]],
                "validator": {"llm": MODELS[2], "prompt": 50, "output": {"poisson": {"mean": 4}}, "cost_usd": 0.0001,
                              "false_accept": 0.2, "false_reject": 0.1}},
    "router": {"router": {"llm": MODELS[2], "prompt": 30, "output": 1,
                          "routes": {"weak": MODELS[2], "strong": MODELS[0]},
                          "confusion": {"easy": {"weak": 0.9, "strong": 0.1}, "hard": {"weak": 0.2, "strong": 0.8}}}},
    "fallback": {"fallback": [MODELS[3], MODELS[1]]},
}


@st.composite
def workflows(draw):
    ids: list[int] = []
    data = {
        "name": "random",
        "models": {"main": draw(st.sampled_from([*MODELS, "anthropic:claude-haiku-4-5"])), "big": MODELS[0],
                   "routed": "route:cascade"},
        "content": draw(st.sampled_from(["prose", "code", "math"])),
        "carry_reasoning": draw(st.booleans()),
        "alternatives": {name: {"routed": f"route:{name}"} for name in ("split", "router", "fallback")},
        "routing": copy.deepcopy(ROUTES),
        "context": {"system": draw(tokens), "user": draw(tokens)},
        "steps": draw(step_lists(0, ids)),
        "retry": {"max_attempts": draw(st.integers(1, 3)), "backoff": draw(backoff),
                  **draw(st.fixed_dictionaries({}, optional={
                      "error_feedback": st.integers(1, 100),
                      "on_exhausted": st.builds(lambda m: {"escalate": m}, st.lists(st.sampled_from(MODELS), min_size=1,
                                                                                    max_size=2))}))},
        "retry_policies": {"patient": {"max_attempts": 4, "error_feedback": 20}},
        "task_retry": {"max_attempts": draw(st.integers(1, 2))},
        "difficulty": {"classes": {"easy": 0.7, "hard": 0.3}},
        "quality": {MODELS[0]: {"easy": 0.95, "hard": 0.8}, "default": {"easy": 0.85, "hard": 0.4}},
        "profiles": {MODELS[2]: {"context_window_tokens": draw(st.sampled_from([2000, 8000, 1_000_000]))},
                     "default": {"ttft_s": draw(st.sampled_from([0.5, {"lognormal": {"median": 0.5, "sigma": 0.5}}]))}},
    }
    data["alternatives"]["patient"] = {"retry": "patient"}
    data["alternatives"]["claude"] = {"main": MODELS[5]}
    if draw(st.booleans()):
        data["tokenizer"] = {"ratios": {MODELS[5]: {"code": draw(st.sampled_from([0.9, 1.3, 1.77]))}}}
    data["provider_rules"] = rules = draw(st.booleans())  # on: OpenAI and Gemini cache without a cache: block
    if draw(st.booleans()):  # each task's own prompt cache (no traffic: nothing shared)
        data["cache"] = {"ttl_s": draw(st.sampled_from([5, 300, 3600])) if not rules else 300,
                         **draw(st.fixed_dictionaries({}, optional={  # with rules: the table's minimum if absent
                             "min_prefix_tokens": st.sampled_from([0, 500, 1024])}))}
    if draw(st.booleans()):
        data["budget"] = draw(st.fixed_dictionaries({}, optional={
            "max_cost_usd": st.sampled_from([0.002, 0.02]), "max_calls": st.integers(1, 6),
            "max_wall_s": st.sampled_from([5.0, 60.0])}))
    if draw(st.booleans()):  # a score instead of classes: the router needs classes, so drop it
        data["difficulty"] = {"score": {"uniform": {"low": 0, "high": 1}}}
        data["quality"] = {MODELS[0]: {"skill": 0.8, "slope": 0.1}, "default": {"skill": 0.4, "slope": 0.2}}
        del data["routing"]["router"], data["alternatives"]["router"]
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=workflows(), seed=st.integers(0, 2**32 - 1))
def test_random_workflows_give_the_same_tasks_on_both_engines(data, seed):
    try:
        wf = parse_workflow(json.dumps(data))
    except WorkflowError as exc:  # the generator wrote something the format rejects: say what
        raise AssertionError(exc) from None
    des = run(wf, 200, seed=seed)
    fast = run(wf, 200, seed=seed, engine=FastEngine(), block_tasks=64)
    assert_same_tasks(des, fast)


# -- choosing the engine ----------------------------------------------------------------------------------


def costsim(*args: str, cwd: Path):
    import subprocess
    import sys

    return subprocess.run([str(Path(sys.executable).parent / "costsim"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_auto_picks_the_vectorised_engine_says_so_and_gives_the_simpy_engines_numbers(tmp_path):
    example = str(ROOT / "workflows" / "router.yaml")
    fast = costsim("run", example, "--tasks", "3000", "--out", "fast", "--format", "table", cwd=tmp_path)
    des = costsim("run", example, "--tasks", "3000", "--out", "des", "--engine", "des", cwd=tmp_path)
    assert fast.returncode == des.returncode == 0, fast.stderr + des.stderr
    assert "engine: fast (vectorised" in fast.stdout and "engine: des (the SimPy engine" in des.stdout
    summaries = [json.loads((tmp_path / name / "summary.json").read_text()) for name in ("fast", "des")]
    assert [s["metadata"]["engine"] for s in summaries] == ["fast", "des"]
    for summary in summaries:
        for key in ("metadata",):
            summary.pop(key)
    assert summaries[0] == summaries[1]
    assert (tmp_path / "fast" / "tasks.csv").read_bytes() == (tmp_path / "des" / "tasks.csv").read_bytes()


def test_engine_fast_on_a_workflow_that_needs_simpy_names_the_feature(tmp_path):
    example = str(ROOT / "workflows" / "rate-limits-outage.yaml")
    refused = costsim("run", example, "--engine", "fast", "--replications", "1", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: --engine fast: the vectorised engine cannot run rate-limits-outage: "
                                     "it uses traffic")
    chosen = costsim("run", example, "--replications", "1", "--out", "auto", cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert "engine: des (the SimPy engine: this workflow uses traffic" in chosen.stdout
