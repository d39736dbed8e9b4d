"""Calibration from traces: the conversation step, what calibrate infers, the round trip, the realistic
agent in sample, the bootstrap's intervals, backtest, and the commands' messages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import costsim_in_process
from otel_traces import LLM_BASE_S, LLM_TOKENS_PER_S, agent_conversations, write_otlp

from sim import load_workflow, simulate
from sim.calibration.backtest import backtest
from sim.calibration.document import calibrated_yaml
from sim.calibration.fit import calibrate, failure_counts, latency_profile
from sim.calibration.traces import read_traces
from sim.calibration.uncertainty import fit_uncertainty, resample_workflows
from sim.core.pricing import Catalog
from sim.spec.conversation import format_shape, parse_shape_full
from sim.spec.loader import parse_workflow

CONVERSATION = """\
name: conv
models: {main: openai:gpt-4.1-mini, fast: openai:gpt-4.1-nano}
alternatives: {big: {main: openai:gpt-4.1}}
context: {system: 1000}
steps:
  - id: talk
    conversation:
      - "llm:fast:20:300:none llm:main:120:900 tool:search:1500:0.8 user:40 llm:main:300"
      - "llm:main:200:500 tool:search:800:1.2 tool:lookup:300:0.3 llm:main:100 user:60 llm:main:50 llm:main:400"
      - "llm:main:90:400"
    weights: [1, 2, 1]
"""

# Hand arithmetic, costsim's accounting: a full-history call sends system + everything so far + its own
# prompt; each call adds its prompt and output, each tool its result, each user turn its tokens.
#   shape 0: 1000+300 = 1300 (none); 1000+320+900 = 2220; +1020+1500+40 -> 1000+2880 = 3880: 7,400 in, 440 out
#   shape 1: 1000+500 = 1500; 1000+700+800+300 = 2800; +100+60 -> 2960; +50 -> 3010: 10,270 in, 750 out
#   shape 2: 1000+400 = 1400: 1,400 in, 90 out
EXACT = {440: 7400, 750: 10270, 90: 1400}


def test_a_conversation_step_sends_exactly_the_recorded_inputs_on_both_engines():
    workflow = parse_workflow(CONVERSATION)
    runs = [simulate(workflow, 4000, seed=3, engine=engine) for engine in ("des", "fast")]
    for name in ("cost_usd", "input_tokens", "output_tokens", "calls", "tool_calls", "user_turns"):
        for a, b in zip(runs[0].alternatives, runs[1].alternatives):
            assert np.array_equal(getattr(a.tasks, name), getattr(b.tasks, name)), name
    tasks = runs[1].alternatives[0].tasks
    assert {int(out): EXACT[int(out)] for out in np.unique(tasks.output_tokens)} == EXACT
    assert all(EXACT[int(o)] == int(i) for o, i in zip(tasks.output_tokens, tasks.input_tokens))
    # the shapes are drawn by their weights: 1/4, 1/2, 1/4 (binomial, within 4 standard errors)
    for out, share in ((440, 0.25), (750, 0.5), (90, 0.25)):
        seen = float(np.mean(tasks.output_tokens == out))
        assert abs(seen - share) < 4 * math.sqrt(share * (1 - share) / 4000)
    # calls: 3, 4 and 1 model calls; user turns 1, 1, 0; tool calls 1, 2, 0
    by_shape = {440: (3, 1, 1), 750: (4, 1, 2), 90: (1, 0, 0)}
    for out, (calls, users, tools) in by_shape.items():
        mask = tasks.output_tokens == out
        assert set(tasks.calls[mask]) == {calls}
        assert set(tasks.user_turns[mask]) == {users}
        assert set(tasks.tool_calls[mask]) == {tools}


def test_failures_in_a_conversation_are_retried_and_bill_like_an_llm_step():
    workflow = parse_workflow(CONVERSATION.replace("    weights: [1, 2, 1]\n",
                                                   "    fail: 0.2\n    tool_fail: 0.1\n")
                              + "retry: {max_attempts: 3}\n")
    des, fast = (simulate(workflow, 3000, seed=5, engine=engine) for engine in ("des", "fast"))
    assert np.array_equal(des.alternatives[0].tasks.cost_usd, fast.alternatives[0].tasks.cost_usd)
    tasks = fast.alternatives[0].tasks
    llm_retries = tasks.attempts - tasks.calls
    assert llm_retries.sum() > 0 and not tasks.success.all()
    # P(a call fails all 3 attempts) = 0.2^3: the share of calls that end a task
    ended = np.sum(tasks.failure == 1)  # invalid_output
    assert within(ended / tasks.calls.sum(), 0.008, math.sqrt(0.008 / tasks.calls.sum()))


def within(estimate, exact, standard_error, sigmas=4.0):
    return abs(estimate - exact) <= sigmas * standard_error


@pytest.mark.parametrize("change, message", [
    ('"llm:main:90:400"', "steps[0].conversation: shape 2: event 1 'llm:main:x'"),
    ('"llm:main:90:400"', "a shape's model call names unknown role 'boss'"),
    ('"llm:main:90:400"', "a shape needs at least one model call"),
])
def test_bad_shapes_are_refused_with_file_line_and_event(tmp_path, monkeypatch, capsys, change, message):
    replacement = {"event 1": '"llm:main:x"', "boss": '"llm:boss:90"', "at least one": '"user:30"'}
    key = next(k for k in replacement if k in message)
    path = tmp_path / "w.yaml"
    path.write_text(CONVERSATION.replace(change, replacement[key]))
    code, out, err = costsim_in_process(monkeypatch, capsys, "validate", path)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{path}:" in err and (message.split(": ", 1)[-1] if key != "event 1" else "event 1 'llm:main:x'") in err


def test_a_conversation_step_is_top_level_only(tmp_path, monkeypatch, capsys):
    path = tmp_path / "w.yaml"
    path.write_text("""\
name: nested
models: {main: openai:gpt-4.1-mini}
steps:
  - id: loop
    repeat: 2
    steps:
      - {id: talk, conversation: ["llm:main:10"]}
""")
    code, _, err = costsim_in_process(monkeypatch, capsys, "validate", path)
    assert code == 2 and "only one, at the top level" in err and f"{path}:" in err


def test_shapes_round_trip_through_text():
    text = "llm:main:120:900 tool:search:1500:0.8!2 user:40 llm:main:300:25:none!1 failed"
    shape = parse_shape_full(text)
    assert format_shape(shape) == text
    assert shape.failed and shape.events[1].failed_attempts == 2 and shape.events[3].history == "none"
    counts = failure_counts([shape])
    # llm: the first call worked at once; the last failed once and never worked (!1, then "failed"):
    # 1 failed of 2 attempts; tool: 2 failed before the one that worked, 2 of 3
    assert (counts.llm_failed, counts.llm_attempts, counts.tool_failed, counts.tool_attempts) == (1, 2, 2, 3)


# -- what calibrate infers from real spans -------------------------------------------------------------------

def test_growth_becomes_tool_results_user_turns_and_retries(tmp_path):
    model = "openai:gpt-4.1-mini"
    conversation = [
        ("llm", model, 1300, 100, False),      # system 900 (the least input of any call) + 400 of its own
        ("tool", "search", 0.5, False),
        ("llm", model, 1900, 60, False),       # grew by 1300+100 -> 1400 + 500: the search's result
        ("llm", model, 2000, 70, True),        # grew by 40 beyond 1960: a user turn; this attempt fails ...
        ("llm", model, 2000, 80, False),       # ... and is retried with the same input
        ("tool", "lookup", 0.2, False),
        ("tool", "lookup", 0.3, False),
        ("llm", model, 2480, 10, False),       # grew by 400: the two lookups' results, 200 each
        ("llm", model, 900, 5, False),         # smaller than the conversation: its own context (history none)
                                               # (and the least input: the system prompt)
    ]
    smaller = [("llm", model, 1000, 40, False)]
    path = write_otlp(tmp_path / "t.jsonl", [conversation, smaller])
    calibration = calibrate(read_traces([path]))
    shapes = calibration.workflow["steps"][0]["conversation"]
    assert shapes[0] == ("llm:main:100:400 tool:search:500:0.5 llm:main:60 user:40 llm:main:80!1 "
                         "tool:lookup:200:0.2 tool:lookup:200:0.3 llm:main:10 llm:main:5:0:none")
    assert shapes[1] == "llm:main:40:100"
    assert calibration.workflow["context"] == {"system": 900}
    assert calibration.workflow["steps"][0]["fail"] == round(1 / 7, 6)  # 1 failed of 7 model-call attempts
    # the fitted workflow sends exactly the traced inputs again: its cost is the traces' cost when no
    # attempt fails (fail set to 0)
    workflow = parse_workflow(calibrated_yaml(calibration).replace(f"fail: {round(1 / 7, 6)}", "fail: 0.0"))
    rates = Catalog().resolve(model)
    traced_inputs_outputs = [(1300, 100), (1900, 60), (2000, 80), (2480, 10), (900, 5)]
    expected = sum(rates.attempt_cost_usd(i, o) for i, o in traced_inputs_outputs)
    tasks = simulate(workflow, 200, seed=1).alternatives[0].tasks
    first = tasks.calls == 5
    assert np.allclose(tasks.cost_usd[first], expected, rtol=1e-12)
    assert set(tasks.input_tokens[first]) == {sum(i for i, _ in traced_inputs_outputs)}


# -- the round trip: a known workflow, traced, calibrated ----------------------------------------------------

@pytest.fixture(scope="module")
def support_agent_trace(tmp_path_factory):
    """2,000 tasks of the shipped support agent, traced as ``costsim run --trace`` writes them."""
    from sim.output.rundir import write_trace

    path = tmp_path_factory.mktemp("support") / "trace.jsonl"
    # without provider rules: no automatic cache, so the round trip below compares like with like
    # (calibrating OpenAI's automatic cache from traces is not covered yet)
    support_agent = load_workflow("workflows/support-agent.yaml").model_copy(update={"provider_rules": False})
    result = simulate(support_agent, 2000, seed=21, trace=True)
    write_trace(result, path)
    return path


def test_the_round_trip_gives_back_the_parameters(support_agent_trace):
    calibration = calibrate(read_traces([support_agent_trace]))
    fits = calibration.fits

    def normal(key):
        params = fits[key].spec["normal"]
        return params["mean"], params["sd"], fits[key].n

    def lognormal(key):
        params = fits[key].spec["lognormal"]
        return params["median"], params["sigma"], fits[key].n

    # support-agent.yaml: classify normal(100, 20); plan normal(300, 80); reprompt normal(150, 50)
    for key, (mean, sd) in {"classify": (100, 20), "plan": (300, 80), "reprompt": (150, 50)}.items():
        fitted_mean, fitted_sd, n = normal(f"output tokens ({key})")
        assert within(fitted_mean, mean, sd / math.sqrt(n), 3), key
        assert within(fitted_sd, sd, sd / math.sqrt(2 * n), 3), key
    # search result lognormal(1000, 0.6), latency lognormal(0.8, 0.7); answer lognormal(500, 0.3)
    for key, (median, sigma) in {"result tokens (search)": (1000, 0.6), "latency_s (search)": (0.8, 0.7),
                                 "output tokens (answer)": (500, 0.3)}.items():
        fitted_median, fitted_sigma, n = lognormal(key)
        assert within(math.log(fitted_median), math.log(median), sigma / math.sqrt(n), 3), key
        assert within(fitted_sigma, sigma, sigma / math.sqrt(2 * n), 3), key
    # the loop: poisson(1.8) with min 1 -> E[max(K, 1)] = 1.8 + e^-1.8 search calls a task
    per_task = fits["tool calls per task"]
    counts = [sum(1 for e in item.shape.events if e.kind == "tool") for item in calibration.evidence]
    mean_loop = 1.8 + math.exp(-1.8)
    assert within(np.mean(counts), mean_loop, math.sqrt(1.8) / math.sqrt(len(counts)), 3)
    assert per_task.n == len(counts)
    # failure rates: the answer's 10% (gpt-4.1-mini), the search's 5%
    from sim.calibration.fit import attempts_by_name

    attempts = attempts_by_name(calibration.evidence)
    for name, p in (("answer", 0.10), ("search", 0.05)):
        failed, total = attempts[name]
        assert within(failed / total, p, math.sqrt(p * (1 - p) / total), 3), name


def test_the_round_trip_forecast_covers_the_original(support_agent_trace):
    calibration = calibrate(read_traces([support_agent_trace]), resamples=100)
    fitted = parse_workflow(calibrated_yaml(calibration))
    main = simulate(fitted, 10_000, seed=2)
    uncertainty = fit_uncertainty(fitted, main, seed=2).alternatives["baseline"]
    original = simulate(load_workflow("workflows/support-agent.yaml").model_copy(update={"provider_rules": False}),
                        200_000, seed=9)
    truth = original.alternatives[0].tasks.cost_usd
    for key, value in (("mean", float(np.mean(truth))), ("p95", float(np.quantile(truth, 0.95)))):
        low, high = uncertainty[key].ci95
        assert low <= value <= high, (key, value, low, high)


# -- in sample, on a realistic multi-turn agent --------------------------------------------------------------

def test_a_realistic_agent_is_reproduced_in_sample(tmp_path):
    conversations, truth = agent_conversations(400, seed=4)
    lengths = [row["model_calls"] for row in truth["per_conversation"]]
    assert min(lengths) <= 3 and max(lengths) >= 25  # conversations of very different lengths
    path = write_otlp(tmp_path / "agent.jsonl", conversations)
    traces = read_traces([path])
    calibration = calibrate(traces)
    workflow = parse_workflow(calibrated_yaml(calibration))
    assert workflow.cache is not None and 0.3 < workflow.cache.hit_probability < 0.7
    report = backtest(workflow, traces, tasks=20_000, seed=1, resamples=0).as_dict()
    errors = {key: abs(error["relative_error"]) for key, error in report["errors"].items()}
    assert errors["mean_usd"] < 0.03 and errors["calls_per_task"] < 0.03
    assert errors["p50_usd"] < 0.10 and errors["p95_usd"] < 0.10
    assert report["actual"]["tasks"] == 400



def test_the_bootstrap_redraws_the_cache_hit_share_from_its_traced_calls(tmp_path):
    # The hit share is a binomial proportion of the traced calls that could read the cache: across
    # resamples its mean is the fitted share and its sd sqrt(p(1-p)/calls), within standard errors.
    conversations, _ = agent_conversations(80, seed=8)
    workflow = parse_workflow(calibrated_yaml(calibrate(read_traces([write_otlp(tmp_path / "a.jsonl",
                                                                                 conversations)]))))
    calls, p = workflow.calibration.cache_calls, workflow.cache.hit_probability
    assert calls > 50 and 0.2 < p < 0.8
    shares = np.array([w.cache.hit_probability for w in resample_workflows(workflow, seed=3, resamples=400)])
    sd = math.sqrt(p * (1 - p) / calls)
    assert abs(shares.mean() - p) < 4 * sd / math.sqrt(len(shares))
    # the sample sd of 400 draws has a relative standard error of about 1/sqrt(2 * 399) = 3.5%
    assert abs(shares.std(ddof=1) / sd - 1) < 4 / math.sqrt(2 * 399)



def test_model_latency_is_fitted_from_the_spans(tmp_path):
    # The fixtures time a call as LLM_BASE_S + output / LLM_TOKENS_PER_S: the fit gives both back.
    conversations, _ = agent_conversations(80, seed=8)
    workflow = parse_workflow(calibrated_yaml(calibrate(read_traces([write_otlp(tmp_path / "a.jsonl",
                                                                                 conversations)]))))
    profile = workflow.profiles["openai:gpt-4.1-mini"]
    assert profile.ttft_s.fixed == LLM_BASE_S and profile.tokens_per_s.fixed == LLM_TOKENS_PER_S


def test_latency_with_a_spread_is_fitted_within_standard_errors():
    # ttft lognormal(median 0.4 s, sigma 0.3), 120 tokens/s: the slope's standard error is
    # sd(ttft) / (sd(tokens) sqrt(n)); the tokens/s estimate is within 4 of them (delta method).
    rng = np.random.default_rng(5)
    n, median_s, sigma, tokens_per_s = 2_000, 0.4, 0.3, 120.0
    tokens = rng.integers(20, 800, size=n)
    seconds = median_s * np.exp(sigma * rng.standard_normal(n)) + tokens / tokens_per_s
    ttft, fitted_tokens_per_s = latency_profile(list(seconds), list(tokens))
    ttft_sd = median_s * math.sqrt((math.exp(sigma**2) - 1) * math.exp(sigma**2))
    slope_se = ttft_sd / (tokens.std() * math.sqrt(n))
    assert abs(1 / fitted_tokens_per_s - 1 / tokens_per_s) < 4 * slope_se + 1e-4 / tokens_per_s
    assert ttft.family == "lognormal"
    assert abs(math.log(ttft.spec["lognormal"]["median"] / median_s)) < 4 * sigma / math.sqrt(n) + 0.01
    assert latency_profile([1.0] * 5, [10] * 5) is None  # too few calls: the built-in row stays


# -- commands ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def agent_trace(tmp_path_factory):
    conversations, _ = agent_conversations(80, seed=8)
    return write_otlp(tmp_path_factory.mktemp("agent") / "agent.jsonl", conversations)


def test_calibrate_writes_a_workflow_that_runs_with_fit_intervals(tmp_path, agent_trace, monkeypatch, capsys):
    fitted = tmp_path / "fitted.yaml"
    code, out, err = costsim_in_process(monkeypatch, capsys, "calibrate", agent_trace, "--out", fitted,
                                        "--resamples", "30")
    assert code == 0, err
    assert "in sample" in out and f"wrote {fitted}" in err
    text = fitted.read_text()
    assert text.startswith("# Calibrated by costsim") and "80 tasks" in text
    # the user adds an alternative and forecasts; both alternatives get intervals with the fit's part
    fitted.write_text(text.replace("models: {main: openai:gpt-4.1-mini}",
                                   "models: {main: openai:gpt-4.1-mini}\nalternatives: {nano: {main: "
                                   "openai:gpt-4.1-nano}}"))
    code, out, err = costsim_in_process(monkeypatch, capsys, "run", fitted, "--tasks", "2000", "--format", "json",
                                        "--out", tmp_path / "run")
    assert code == 0, err
    summary = json.loads(out)
    combined = summary["calibration"]["alternatives"]
    assert set(combined) == {"baseline", "nano"}
    for stats in combined.values():
        mean = stats["mean"]
        low, high = mean["ci95"]
        assert low < mean["value"] < high
        assert mean["sd_fit"] > mean["sd_simulation"]  # 80 traced tasks: the fit dominates
        assert mean["dominant"] == "fit" and mean["more_traced_tasks_to_halve"] > 80
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["calibration"] == summary["calibration"]


def test_calibrate_replaces_only_its_own_file(tmp_path, agent_trace, monkeypatch, capsys):
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: my own workflow\n")
    code, _, err = costsim_in_process(monkeypatch, capsys, "calibrate", agent_trace, "--out", mine)
    assert code == 2 and "not written by costsim calibrate" in err
    assert mine.read_text() == "name: my own workflow\n"
    fitted = tmp_path / "fitted.yaml"
    for _ in range(2):  # the second run replaces the first's file
        code, _, err = costsim_in_process(monkeypatch, capsys, "calibrate", agent_trace, "--out", fitted)
        assert code == 0, err


def test_backtest_json_holds_actual_and_forecast(tmp_path, agent_trace, monkeypatch, capsys):
    fitted = tmp_path / "fitted.yaml"
    assert costsim_in_process(monkeypatch, capsys, "calibrate", agent_trace, "--out", fitted)[0] == 0
    conversations, _ = agent_conversations(60, seed=99)  # tasks the fit never saw
    held_out = write_otlp(tmp_path / "held-out.jsonl", conversations)
    code, out, err = costsim_in_process(monkeypatch, capsys, "backtest", fitted, held_out, "--format", "json",
                                        "--resamples", "30", "--tasks", "2000", "--plot", tmp_path / "b.png")
    assert code == 0, err
    report = json.loads(out)
    for side in ("actual", "forecast"):
        for key in ("mean_usd", "p50_usd", "p95_usd", "calls_per_task", "tasks"):
            assert key in report[side], (side, key)
    assert report["actual"]["tasks"] == 60
    low, high = report["forecast"]["mean_ci95"]
    assert low < report["forecast"]["mean_usd"] < high
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("case", ["empty", "unknown model", "no model call"])
def test_bad_traces_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, case):
    path = tmp_path / "t.jsonl"
    if case == "empty":
        path.write_text("")
    elif case == "unknown model":
        write_otlp(path, [[("llm", "openai:gpt-nonexistent-9", 100, 10, False)]])
    else:
        write_otlp(path, [[("tool", "search", 0.5, False)]])
    code, out, err = costsim_in_process(monkeypatch, capsys, "calibrate", path, "--out", tmp_path / "f.yaml")
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and str(path) in err and "Traceback" not in err
    assert not (tmp_path / "f.yaml").exists()


def test_claude_traces_are_converted_to_the_reference_tokenizer(tmp_path):
    """A workflow counts tokens in o200k; Claude's tokenizer makes 1.16 of its tokens per o200k token of
    prose (sim/core/tokenizers.py). Traced Claude counts are divided by it, and the fitted workflow, which
    scales them back for its Claude model, bills exactly the traced tokens."""
    model = "anthropic:claude-sonnet-4-5"
    conversation = [("llm", model, 2320, 232, False), ("tool", "search", 0.5, False), ("llm", model, 3712, 116, False)]
    path = write_otlp(tmp_path / "claude.jsonl", [conversation] * 20)
    traces = read_traces([path])
    calibration = calibrate(traces)
    # 2,320 / 1.16 = 2,000 (the system prompt: the least input); 232 / 1.16 = 200; growth 3,712 - 2,552 =
    # 1,160 Claude tokens of the search's result = 1,000 o200k tokens; 116 / 1.16 = 100
    assert calibration.workflow["steps"][0]["conversation"][0] == "llm:main:200 tool:search:1000:0.5 llm:main:100"
    assert calibration.workflow["context"] == {"system": 2000}
    report = backtest(parse_workflow(calibrated_yaml(calibration)), traces, tasks=500, seed=1, resamples=0).as_dict()
    for key in ("mean_usd", "input_tokens_per_task", "output_tokens_per_task"):
        assert report["forecast"][key] == pytest.approx(report["actual"][key], rel=1e-12), key
