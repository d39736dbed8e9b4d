"""The example workflows: every file loads and runs, and the seed's worked examples come out exactly.

The seed is seed 000 of docs/sources.md (a GPT-4.1 pricing guide, March 2026). Its scenarios
are rebuilt here with FIXED token counts, run through the simulator, and compared with costs worked out
by hand from the catalog's rates (or by ``genai_prices.calc_price`` itself), never with numbers taken
from a simulator run. Where the seed's arithmetic is wrong (docs/sources.md), the test asserts
what the catalog gives and says so.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import pinned_to_catalog
from genai_prices import Usage, calc_price
from scipy.stats import norm

import sim

pytestmark = pinned_to_catalog

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / "workflows").glob("*.yaml"))
SEED_EXAMPLES = ("review-classification", "product-descriptions", "saas-chatbot", "long-document")

PRICES_DATE = dt.date(2026, 11, 1)
# sim.core.pricing reads the catalog at noon UTC of prices_date; calc_price is asked about the same instant.
PRICES_AT = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
M = 1e6  # tokens per million: rates are USD per million tokens


def catalog_usd(ref: str, input_tokens: int, output_tokens: int) -> float:
    """The catalog's own price of one call (Decimal arithmetic inside genai-prices)."""
    provider_id, _, model = ref.partition(":")
    price = calc_price(Usage(input_tokens=input_tokens, output_tokens=output_tokens), model,
                       provider_id=provider_id, genai_request_timestamp=PRICES_AT)
    return float(price.total_price)


def run(workflow, tasks: int, seed: int = 1):
    return sim.simulate(workflow, tasks=tasks, seed=seed, prices_date=PRICES_DATE)


def quick(workflow):
    """A short run of an example: 200 tasks, or with traffic one replication of about 200 arrivals."""
    if workflow.traffic is None:
        return run(workflow, tasks=200)
    traffic = workflow.traffic.model_copy(update={"days": min(workflow.traffic.days,
                                                              200 / workflow.traffic.tasks_per_day)})
    short = workflow.model_copy(update={"traffic": traffic})
    return sim.simulate(short, seed=1, replications=1, prices_date=PRICES_DATE)


def fixed_workflow(name: str, models: dict[str, str], input_tokens: int, output_tokens: int) -> str:
    """One llm call per task with fixed token counts and no failures, as workflow YAML text.

    ``models`` maps alternative name -> model; the first entry is the baseline.
    """
    (_, baseline), *others = models.items()
    alternatives = "".join(f"  {alt}: {{main: {ref}}}\n" for alt, ref in others) or "  {}\n"
    return (
        f"name: {name}\n"
        f"models: {{main: {baseline}}}\n"
        f"alternatives:\n{alternatives}"
        f"context: {{system: 0, user: 0}}\n"
        f"steps:\n"
        f"  - id: call\n"
        f"    llm: main\n"
        f"    prompt: {input_tokens}\n"
        f"    output: {output_tokens}\n"
        f"    history: none\n"
        f"    fail: 0\n"
        # The seed's arithmetic counts every model's tokens alike and without hidden reasoning.
        f"tokenizer: {{reference: none}}\n"
        f"profiles: {{{', '.join(f'{ref}: {{reasoning_tokens: 0}}' for ref in models.values())}}}\n"
    )


def costs_by_alternative(result) -> dict[str, np.ndarray]:
    return {run.name: run.tasks.cost_usd for run in result.alternatives}


def example_models(stem: str) -> dict[str, str]:
    """The example file's alternatives as name -> its one role's model (baseline first)."""
    workflow = sim.load_workflow(ROOT / "workflows" / f"{stem}.yaml")
    return {name: models["main"] for name, models in workflow.alternative_models().items()}


# -- every example file -------------------------------------------------------------------------------


def test_the_seed_examples_are_there():
    stems = {path.stem for path in WORKFLOWS}
    assert set(SEED_EXAMPLES) <= stems


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.stem for path in WORKFLOWS])
def test_every_example_validates_runs_and_summarizes_sanely(path):
    workflow = sim.load_workflow(path)
    result = quick(workflow)
    summary = sim.summarize(result)
    json.dumps(summary, allow_nan=False)  # the JSON contract: no NaN or infinity anywhere

    assert summary["workflow"] == workflow.name
    assert summary["tasks"] == result.n_tasks > 0
    names = [entry["name"] for entry in summary["alternatives"]]
    assert names == ["baseline", *workflow.alternatives]
    for entry, alternative in zip(summary["alternatives"], result.alternatives):
        costs = alternative.tasks.cost_usd
        assert len(costs) == result.n_tasks
        # every task is billed something, unless a provider error or a rate limit stopped its first call
        unbilled = alternative.tasks.billed_attempts == 0
        assert np.all(np.isfinite(costs)) and np.all(costs[~unbilled] > 0) and np.all(costs >= 0)
        cost = entry["cost_per_task"]
        assert cost["mean"] > 0
        assert cost["ci95"][0] <= cost["mean"] <= cost["ci95"][1]
        shown = [cost[q] for q in ("p50", "p90", "p95", "p99") if cost[q] is not None]
        assert shown == sorted(shown) and all(costs.min() <= q <= cost["max"] for q in shown)
        assert 0.0 <= entry["success_rate"] <= 1.0
        if entry["cost_per_success"] is not None:
            assert entry["cost_per_success"] >= cost["mean"] * (1 - 1e-12)
        assert entry["attempts_per_task"] >= entry["calls_per_task"] >= 1
        assert entry["input_tokens_per_task"] > 0 and entry["output_tokens_per_task"] > 0
        if entry["name"] == "baseline":
            assert entry["diff_vs_baseline"] is None
        else:
            diff = entry["diff_vs_baseline"]
            assert diff["ci95"][0] <= diff["mean"] <= diff["ci95"][1]


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.stem for path in WORKFLOWS])
def test_every_example_has_reference_results(path):
    """results/<stem>/ comes from scripts/regenerate-results: seed 42, 10,000 tasks (or, with traffic, 5
    replications of the horizon), prices of 2026-11-01, the per-task file gzip-compressed."""
    folder = ROOT / "results" / path.stem
    missing = [name for name in ("summary.json", "tasks.csv.gz", "cost-per-task.png") if not (folder / name).is_file()]
    assert not missing, f"{folder} lacks {missing}: run scripts/regenerate-results"
    summary = json.loads((folder / "summary.json").read_text())
    workflow = sim.load_workflow(path)
    assert (summary["workflow"], summary["seed"]) == (workflow.name, 42)
    if workflow.traffic is None:
        assert summary["tasks"] == 10_000
    else:
        assert summary["replications"] == 5  # scripts/regenerate-results: TRAFFIC_REPLICATIONS
    assert summary["metadata"]["prices_date"] == "2026-11-01"
    assert [entry["name"] for entry in summary["alternatives"]] == ["baseline", *workflow.alternatives]
    from sim.output.report import read_run

    assert read_run(folder).summary == summary  # one complete run: its marker lists its files (costsim report works)


# -- Scenario A: classify 100K customer reviews, 500 tokens in, 10 out ---------------------------------

SCENARIO_A = {
    "baseline": "openai:gpt-4.1",
    "gpt-4.1-mini": "openai:gpt-4.1-mini",
    "gpt-4.1-nano": "openai:gpt-4.1-nano",
    "claude-opus-4.6": "anthropic:claude-opus-4-6",
}


def test_scenario_a_models_are_those_of_the_example_file():
    assert example_models("review-classification") == SCENARIO_A


def test_scenario_a_per_review_and_100k_totals_are_exact():
    opus = catalog_usd("anthropic:claude-opus-4-6", 500, 10)
    per_review = {
        "baseline": 500 * 2.00 / M + 10 * 8.00 / M,  # $0.001 + $0.00008
        "gpt-4.1-mini": 500 * 0.40 / M + 10 * 1.60 / M,  # $0.0002 + $0.000016
        "gpt-4.1-nano": 500 * 0.10 / M + 10 * 0.40 / M,  # $0.00005 + $0.000004
        "claude-opus-4.6": opus,
    }
    # The seed's per-review column, which the hand arithmetic reproduces ...
    assert per_review["baseline"] == pytest.approx(0.00108, rel=1e-12)
    assert per_review["gpt-4.1-mini"] == pytest.approx(0.000216, rel=1e-12)
    assert per_review["gpt-4.1-nano"] == pytest.approx(0.000054, rel=1e-12)
    # ... and the catalog's Opus 4.6 rates are the $5/$25 the seed's pricing matrix gives it.
    assert opus == pytest.approx(500 * 5.00 / M + 10 * 25.00 / M, rel=1e-12)
    assert opus == pytest.approx(0.00275, rel=1e-12)
    for alt in ("baseline", "gpt-4.1-mini", "gpt-4.1-nano"):
        assert catalog_usd(SCENARIO_A[alt], 500, 10) == pytest.approx(per_review[alt], rel=1e-12)

    workflow = sim.parse_workflow(fixed_workflow("scenario-a", SCENARIO_A, 500, 10))
    result = run(workflow, tasks=100_000)  # the seed's 100K reviews
    seed_totals = {"baseline": 108.00, "gpt-4.1-mini": 21.60, "gpt-4.1-nano": 5.40, "claude-opus-4.6": 275.00}
    for name, costs in costs_by_alternative(result).items():
        np.testing.assert_allclose(costs, per_review[name], rtol=1e-12, atol=0)
        assert float(costs.sum()) == pytest.approx(seed_totals[name], rel=1e-9)
        assert round(float(costs.sum()), 2) == seed_totals[name]
    for alternative in result.alternatives:
        t = alternative.tasks
        assert t.success.all() and (t.attempts == 1).all()
        assert (t.input_tokens == 500).all() and (t.output_tokens == 10).all()
    # The seed says "Nano is 20x cheaper than Opus"; the catalog's rates make it 51x.
    assert per_review["claude-opus-4.6"] / per_review["gpt-4.1-nano"] == pytest.approx(50.93, rel=1e-3)


# -- Scenario B: product descriptions for 10K products, 300 in, 200 out --------------------------------

SCENARIO_B = {
    "baseline": "openai:gpt-4.1",
    "gpt-4.1-mini": "openai:gpt-4.1-mini",
    "gpt-5-mini": "openai:gpt-5-mini",
}


def test_scenario_b_models_are_those_of_the_example_file():
    assert example_models("product-descriptions") == SCENARIO_B


def test_scenario_b_per_product_and_10k_totals_are_exact():
    per_product = {
        "baseline": 300 * 2.00 / M + 200 * 8.00 / M,  # $0.0006 + $0.0016 = $0.0022
        "gpt-4.1-mini": 300 * 0.40 / M + 200 * 1.60 / M,  # $0.00012 + $0.00032 = $0.00044
        # The seed writes "$0.50 + $2 = $2.50" and $0.00025 per product for GPT-5 Mini; at the catalog's
        # $0.25/$2.00 it is 3M x $0.25/M + 2M x $2/M = $0.75 + $4.00 = $4.75, i.e. $0.000475 a product.
        "gpt-5-mini": 300 * 0.25 / M + 200 * 2.00 / M,  # $0.000075 + $0.0004 = $0.000475
    }
    for alt, ref in SCENARIO_B.items():
        assert catalog_usd(ref, 300, 200) == pytest.approx(per_product[alt], rel=1e-12)
    assert per_product["baseline"] == pytest.approx(0.0022, rel=1e-12)
    assert per_product["gpt-4.1-mini"] == pytest.approx(0.00044, rel=1e-12)
    assert per_product["gpt-5-mini"] == pytest.approx(0.000475, rel=1e-12)

    workflow = sim.parse_workflow(fixed_workflow("scenario-b", SCENARIO_B, 300, 200))
    result = run(workflow, tasks=10_000)  # the seed's 10K products
    totals = {"baseline": 22.00, "gpt-4.1-mini": 4.40, "gpt-5-mini": 4.75}
    for name, costs in costs_by_alternative(result).items():
        np.testing.assert_allclose(costs, per_product[name], rtol=1e-12, atol=0)
        assert round(float(costs.sum()), 2) == totals[name]
    # So GPT-5 mini costs MORE than GPT-4.1 mini on this output-heavy task, not "40%" less.
    assert totals["gpt-5-mini"] > totals["gpt-4.1-mini"]


# -- Monthly projections, Scenario 1: SaaS chatbot, 10,000 requests a day, 800 in, 300 out --------------

CHATBOT = {
    "baseline": "openai:gpt-4.1-mini",
    "gpt-4.1-nano": "openai:gpt-4.1-nano",
    "gpt-4.1": "openai:gpt-4.1",
}


def test_chatbot_models_are_those_of_the_example_file():
    assert example_models("saas-chatbot") == CHATBOT


def test_chatbot_costs_8_dollars_a_day_and_240_a_month_on_gpt_4_1_mini():
    per_request = {
        "baseline": 800 * 0.40 / M + 300 * 1.60 / M,  # $0.00032 + $0.00048 = $0.0008
        "gpt-4.1-nano": 800 * 0.10 / M + 300 * 0.40 / M,  # $0.0002
        "gpt-4.1": 800 * 2.00 / M + 300 * 8.00 / M,  # $0.004
    }
    for alt, ref in CHATBOT.items():
        assert catalog_usd(ref, 800, 300) == pytest.approx(per_request[alt], rel=1e-12)

    workflow = sim.parse_workflow(fixed_workflow("scenario-1", CHATBOT, 800, 300))
    result = run(workflow, tasks=10_000)  # one day
    costs = costs_by_alternative(result)
    for name, day in costs.items():
        np.testing.assert_allclose(day, per_request[name], rtol=1e-12, atol=0)
    daily = float(costs["baseline"].sum())
    assert round(daily, 2) == 8.00  # the seed's "$3.20 + $4.80 = $8.00"
    assert round(daily * 30, 2) == 240.00  # the seed's "Monthly: $8.00 x 30 = $240"
    assert round(float(costs["gpt-4.1-nano"].sum()) * 30, 2) == 60.00
    assert round(float(costs["gpt-4.1"].sum()) * 30, 2) == 1200.00


# -- Monthly projections, Scenario 2: 5,000 long documents a day, 50,000 in, 2,000 out ----------------


def test_long_document_costs_580_a_day_and_17400_a_month_on_gpt_4_1():
    per_document = 50_000 * 2.00 / M + 2_000 * 8.00 / M  # $0.10 + $0.016
    assert catalog_usd("openai:gpt-4.1", 50_000, 2_000) == pytest.approx(per_document, rel=1e-12)
    workflow = sim.parse_workflow(fixed_workflow("scenario-2", {"baseline": "openai:gpt-4.1"}, 50_000, 2_000))
    costs = run(workflow, tasks=5_000).baseline.tasks.cost_usd  # one day
    np.testing.assert_allclose(costs, 0.116, rtol=1e-12, atol=0)
    assert round(float(costs.sum()), 2) == 580.00
    assert round(float(costs.sum()) * 30, 2) == 17_400.00


@pytest.mark.parametrize("input_tokens, expected", [
    (150_000, 150_000 * 1.25 / M + 2_000 * 10.00 / M),  # under the tier: $1.25 / $10
    (200_000, 200_000 * 1.25 / M + 2_000 * 10.00 / M),  # the threshold itself is still the base rate
    (200_001, 200_001 * 2.50 / M + 2_000 * 15.00 / M),  # over it: every token at $2.50 / $15
    (250_000, 250_000 * 2.50 / M + 2_000 * 15.00 / M),
])
def test_gemini_2_5_pro_long_context_tier(input_tokens, expected):
    assert catalog_usd("google:gemini-2.5-pro", input_tokens, 2_000) == pytest.approx(expected, rel=1e-12)
    workflow = sim.parse_workflow(fixed_workflow("tier", {"baseline": "google:gemini-2.5-pro"},
                                                 input_tokens, 2_000))
    np.testing.assert_allclose(run(workflow, tasks=3).baseline.tasks.cost_usd, expected, rtol=1e-12, atol=0)


def test_long_document_models_and_its_tail_past_200k():
    assert example_models("long-document") == {
        "baseline": "openai:gpt-4.1",
        "gpt-4.1-mini": "openai:gpt-4.1-mini",
        "gemini-2.5-pro": "google:gemini-2.5-pro",
        "claude-sonnet-4.6": "anthropic:claude-sonnet-4-6",
    }
    workflow = sim.load_workflow(ROOT / "workflows" / "long-document.yaml")
    t = run(workflow, tasks=10_000, seed=5).baseline.tasks
    single = t.input_tokens[t.attempts == 1]  # one call's input (a retry re-sends the same input)
    share = float(np.mean(single > 200_000))
    assert 0.010 < share < 0.025  # the file says ~1.6%: enough documents for the tier to matter


# -- the example files' means, against the expectation worked out from their own parameters ----------
#
# Every example but support-agent is one llm call per task, so by Wald's identity
#   E[cost] = E[attempts] x (E[input] x input rate + E[output] x output rate)
# where E[attempts] = 1 + p + ... + p^(k-1) for failure probability p and k attempts, and a lognormal
# with median m and sigma s has mean m exp(s^2 / 2). Rates are the catalog's, typed by hand. Claude reads
# and writes 1.16 tokens per o200k token of prose (sim/core/tokenizers.py): a fixed 2,000-token answer is
# 2,320, a normal one of mean 10 about 11.6 (rounded per draw: its mean is worked out below).


def attempts(p: float, k: int) -> float:
    return (1 - p**k) / (1 - p)


def lognormal_mean(median: float, sigma: float) -> float:
    return median * math.exp(sigma**2 / 2)


REVIEW_IN = 300 + lognormal_mean(167, 0.6)
PRODUCT_IN = 150 + lognormal_mean(138, 0.4)
CHAT_IN, CHAT_OUT = 500 + lognormal_mean(265, 0.5), lognormal_mean(265, 0.5)
DOC_IN = 500 + lognormal_mean(36_000, 0.8)


def gemini_document_cost() -> float:
    """E[one call] on Gemini 2.5 Pro: input above 200K re-prices the whole call at $2.50 / $15.

    Gemini's tokenizer makes 1.075 tokens of each o200k token the file counts (sim/core/tokenizers.py), so
    the tier starts at 200,000 / 1.075 o200k tokens, and the 2,000-token answer is 2,150; it thinks by
    default, 2,900 reasoning tokens a call billed as output (sim/core/profiles.py)."""
    median, sigma, head, ratio, reasoning = 36_000, 0.8, 500, 1.075, 2_900
    z = math.log((200_000 / ratio - head) / median) / sigma  # the document length where the tier starts
    p_tier = norm.sf(z)
    tokens_in_tier = lognormal_mean(median, sigma) * norm.cdf(sigma - z) + head * p_tier  # E[in; in > 200K]
    input_usd = ratio * (1.25 * DOC_IN + (2.50 - 1.25) * tokens_in_tier)
    output_usd = (2_000 * ratio + reasoning) * (10.00 + (15.00 - 10.00) * p_tier)
    return (input_usd + output_usd) / M


def rounded_scaled_mean(mean: float, sd: float, ratio: float) -> float:
    """E[round_half_up(ratio x round_half_up(X))] for X ~ normal(mean, sd) truncated at 0, summed exactly."""
    from scipy.stats import truncnorm
    law = truncnorm(-mean / sd, np.inf, loc=mean, scale=sd)
    n = np.arange(0, int(mean + 12 * sd) + 1)
    p = law.cdf(n + 0.5) - law.cdf(np.maximum(n - 0.5, 0))
    return float(np.sum(p * np.floor(n * ratio + 0.5)))


CLAUDE_LABEL = rounded_scaled_mean(10, 2, 1.16)  # Claude's tokens of the label: about 11.6

EXPECTED_MEAN = {  # (file, alternative) -> E[cost per task], USD
    ("review-classification", "baseline"): attempts(0.01, 3) * (REVIEW_IN * 2.00 + 10 * 8.00) / M,
    ("review-classification", "gpt-4.1-mini"): attempts(0.015, 3) * (REVIEW_IN * 0.40 + 10 * 1.60) / M,
    ("review-classification", "gpt-4.1-nano"): attempts(0.03, 3) * (REVIEW_IN * 0.10 + 10 * 0.40) / M,
    ("review-classification", "claude-opus-4.6"): attempts(0.01, 3) * (1.16 * REVIEW_IN * 5.00
                                                                         + CLAUDE_LABEL * 25.00) / M,
    ("product-descriptions", "baseline"): attempts(0.03, 3) * (PRODUCT_IN * 2.00 + 200 * 8.00) / M,
    ("product-descriptions", "gpt-4.1-mini"): attempts(0.05, 3) * (PRODUCT_IN * 0.40 + 200 * 1.60) / M,
    ("product-descriptions", "gpt-5-mini"): attempts(0.05, 3) * (PRODUCT_IN * 0.25 + 200 * 2.00) / M,
    ("saas-chatbot", "baseline"): attempts(0.02, 2) * (CHAT_IN * 0.40 + CHAT_OUT * 1.60) / M,
    ("saas-chatbot", "gpt-4.1-nano"): attempts(0.02, 2) * (CHAT_IN * 0.10 + CHAT_OUT * 0.40) / M,
    ("saas-chatbot", "gpt-4.1"): attempts(0.02, 2) * (CHAT_IN * 2.00 + CHAT_OUT * 8.00) / M,
    ("long-document", "baseline"): attempts(0.03, 2) * (DOC_IN * 2.00 + 2_000 * 8.00) / M,
    ("long-document", "gpt-4.1-mini"): attempts(0.03, 2) * (DOC_IN * 0.40 + 2_000 * 1.60) / M,
    ("long-document", "gemini-2.5-pro"): attempts(0.03, 2) * gemini_document_cost(),
    ("long-document", "claude-sonnet-4.6"): attempts(0.03, 2) * (1.16 * DOC_IN * 3.00 + 2_320 * 15.00) / M,
}


@pytest.mark.parametrize("stem", SEED_EXAMPLES)
def test_example_means_match_their_parameters(stem):
    # The closed forms bill every input token at the input price: no prompt cache, so the provider rules
    # (OpenAI's automatic cache reads a retry's re-sent input) are off here; tests/test_provider_rules.py
    # checks them by hand.
    workflow = sim.load_workflow(ROOT / "workflows" / f"{stem}.yaml").model_copy(update={"provider_rules": False})
    result = run(workflow, tasks=10_000, seed=3)
    for alternative in result.alternatives:
        costs = alternative.tasks.cost_usd
        standard_error = float(np.std(costs, ddof=1) / math.sqrt(len(costs)))
        expected = EXPECTED_MEAN[(stem, alternative.name)]
        assert abs(float(costs.mean()) - expected) <= 4 * standard_error, (alternative.name, costs.mean(), expected)


def test_the_gemini_tier_raises_its_mean_cost_noticeably():
    # as if there were no tier (Gemini's tokens: 1.075 per o200k token, 2,900 reasoning tokens a call)
    flat = attempts(0.03, 2) * (1.075 * DOC_IN * 1.25 + (2_150 + 2_900) * 10.00) / M
    assert EXPECTED_MEAN[("long-document", "gemini-2.5-pro")] / flat == pytest.approx(1.064, abs=0.005)
