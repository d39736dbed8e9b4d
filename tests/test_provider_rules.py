"""Each provider's billing rules (sim/core/providers.py), one case each with fixed token counts whose cost
is worked out by hand from the provider's published rule, on both engines; and the switch that turns the
rules off, which must give yesterday's numbers to the bit.

The cases send the same head (system prompt, no user request, no step prompt) on two calls of one task
with ``history: none``, so the second call can read what the first one wrote. Prices per million tokens
are the catalog's (genai-prices 0.2.3, read at tests/conftest.py's PRICES_DATE); each test names them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import PRICES_DATE, costsim_in_process, pinned_to_catalog, run
from conftest import workflow as _workflow
from fixtures.record_legacy_results import digest  # the digests were recorded with it
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.core.errors import CostsimError
from sim.core.providers import rule_for
from sim.engine.fast import FastEngine
from sim.spec.loader import parse_workflow

M = 1e6
TWO_CALLS = [{"id": "first", "llm": "main", "prompt": 0, "output": 10, "history": "none"},
             {"id": "second", "llm": "main", "prompt": 0, "output": 10, "history": "none"}]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

pytestmark = pinned_to_catalog  # the hand-worked prices are the pinned catalog's


def workflow(steps, models=None, **extra):
    """conftest's workflow with sizes in each model's own tokenizer (``tokenizer: {reference: none}``): the
    cases count tokens as the provider bills them; tokenizer ratios are tested in test_provider_tokens.py."""
    return _workflow(steps, models, **{"tokenizer": {"reference": "none"}, **extra})


def both_engines(wf, tasks: int = 20):
    """The SimPy engine's result, after checking the vectorised engine gives the same tasks to the bit."""
    des = run(wf, tasks, seed=3)
    fast = run(wf, tasks, seed=3, engine=FastEngine(), block_tasks=7)
    for a, b in zip(des.alternatives, fast.alternatives):
        for name in ("cost_usd", "cache_read_tokens", "cache_write_tokens", "input_tokens"):
            assert (a.tasks.columns[name] == b.tasks.columns[name]).all(), (a.name, name)
    return des


def per_task(result, name: str = "cost_usd", alternative: int = 0) -> list:
    """The distinct values of a per-task column (one, for these fixed-size tasks)."""
    return sorted(set(result.alternatives[alternative].tasks.columns[name].tolist()))


def test_openai_caches_without_a_cache_block_in_128_token_steps_with_no_write_premium():
    # gpt-4.1: $2 input, $0.50 cached input, $8 output. OpenAI caches a 1,300-token prefix automatically;
    # a hit covers 1,024 + 2 x 128 = 1,280 tokens; the other 20 are input at $2 (writing costs nothing
    # extra, so the first call is plain input).
    wf = workflow(TWO_CALLS, context={"system": 1300})
    result = both_engines(wf)
    first = (1300 * 2 + 10 * 8) / M
    second = (20 * 2 + 1280 * 0.50 + 10 * 8) / M
    assert per_task(result) == [pytest.approx(first + second, rel=1e-12)]
    assert per_task(result, "cache_read_tokens") == [1280]
    rule = rule_for("openai:gpt-4.1")
    assert (rule.caching, rule.min_prefix_tokens, rule.increment_tokens) == ("automatic", 1024, 128)
    summary = result.summary()
    assert summary["alternatives"][0]["cache"]["cached_input_share"] == pytest.approx(1280 / 2600)


def test_without_provider_rules_the_same_file_caches_nothing():
    wf = workflow(TWO_CALLS, context={"system": 1300}, provider_rules=False)
    assert per_task(both_engines(wf)) == [pytest.approx(2 * (1300 * 2 + 10 * 8) / M, rel=1e-12)]


def test_an_anthropic_one_hour_write_costs_twice_the_input_price():
    # claude-sonnet-4-6: $3 input, 1-hour write $6 (2 x 3), read $0.30 (0.1 x 3), $15 output; minimum 1,024.
    wf = workflow(TWO_CALLS, models={"main": "anthropic:claude-sonnet-4-6"}, context={"system": 2000},
                  cache={"ttl_s": 3600})
    result = both_engines(wf)
    first = (2000 * 3 * 2 + 10 * 15) / M
    second = (2000 * 3 * 0.1 + 10 * 15) / M
    assert per_task(result) == [pytest.approx(first + second, rel=1e-12)]
    assert rule_for("anthropic:claude-sonnet-4-6").write_multiplier[3600.0] == 2.0


def test_anthropic_caches_only_where_the_file_sets_breakpoints():
    models = {"main": "anthropic:claude-sonnet-4-6", "other": "anthropic:claude-sonnet-4-6"}
    plain = (2000 * 3 + 10 * 15) / M
    none = workflow(TWO_CALLS, models=models, context={"system": 2000})  # no cache: block: opt-in is off
    assert per_task(both_engines(none)) == [pytest.approx(2 * plain, rel=1e-12)]
    other_role = workflow(TWO_CALLS, models=models, context={"system": 2000}, cache={"breakpoints": ["fast"]},
                          alternatives={"marked": {"main": "openai:gpt-4.1"}})
    with pytest.raises(CostsimError, match="'fast' is neither a role"):
        run(other_role, 5)
    by_role = workflow(TWO_CALLS, models=models, context={"system": 2000}, cache={"breakpoints": ["main"]})
    write_5m = 2000 * 3 * 1.25 / M
    assert per_task(both_engines(by_role)) == [pytest.approx(
        write_5m + 10 * 15 / M + (2000 * 0.3 + 10 * 15) / M, rel=1e-12)]


def test_a_haiku_4_5_prefix_under_its_4096_token_minimum_is_never_cached():
    # claude-haiku-4-5: $1 input, $5 output; Anthropic's minimum for it is 4,096 tokens.
    wf = workflow(TWO_CALLS, models={"main": "anthropic:claude-haiku-4-5"}, context={"system": 4000},
                  cache={"ttl_s": 300})
    result = both_engines(wf)
    assert per_task(result) == [pytest.approx(2 * (4000 * 1 + 10 * 5) / M, rel=1e-12)]
    assert per_task(result, "cache_read_tokens") == per_task(result, "cache_write_tokens") == [0]
    uniform = workflow(TWO_CALLS, models={"main": "anthropic:claude-haiku-4-5"}, context={"system": 4000},
                       cache={"ttl_s": 300}, provider_rules=False)  # the old single 1,024 minimum caches it
    assert per_task(both_engines(uniform), "cache_read_tokens") == [4000]


def test_batch_and_cache_read_discounts_multiply_on_claude():
    # claude-sonnet-4-6 batched: input 3 x 0.5, 5-minute write 3 x 0.5 x 1.25 = 1.875, read 3 x 0.5 x 0.1
    # = 0.15, output 15 x 0.5 = 7.5.
    wf = workflow(TWO_CALLS, models={"main": "anthropic:claude-sonnet-4-6"}, context={"system": 2000},
                  cache={"ttl_s": 300}, batch={"delay_s": 60})  # back within the 5-minute TTL
    expected = (2000 * 3 * 0.5 * 1.25 + 10 * 7.5) / M + (2000 * 3 * 0.5 * 0.1 + 10 * 7.5) / M
    assert per_task(both_engines(wf)) == [pytest.approx(expected, rel=1e-12)]


def test_a_batch_cache_rate_the_catalog_lacks_is_derived_where_the_discounts_stack():
    # claude-sonnet-4 has no batch prices in the catalog; the file gives input and output ones only.
    # Anthropic stacks the batch discount on cache reads: 0.30 x 0.5 = 0.15 a million.
    prices = {"anthropic:claude-sonnet-4": {"batch_input": 1.5, "batch_output": 7.5}}
    wf = workflow(TWO_CALLS, models={"main": "anthropic:claude-sonnet-4"}, context={"system": 2000},
                  cache={"ttl_s": 300}, batch={"delay_s": 60}, prices=prices)
    expected = (2000 * 3.75 * 0.5 + 10 * 7.5) / M + (2000 * 0.30 * 0.5 + 10 * 7.5) / M
    assert per_task(both_engines(wf)) == [pytest.approx(expected, rel=1e-12)]
    given = dict(prices["anthropic:claude-sonnet-4"], batch_cache_read=0.2, batch_cache_write=2.0)
    wf = workflow(TWO_CALLS, models={"main": "anthropic:claude-sonnet-4"}, context={"system": 2000},
                  cache={"ttl_s": 300}, batch={"delay_s": 60}, prices={"anthropic:claude-sonnet-4": given})
    expected = (2000 * 2.0 + 10 * 7.5) / M + (2000 * 0.2 + 10 * 7.5) / M  # the file's batch cache rates
    assert per_task(both_engines(wf)) == [pytest.approx(expected, rel=1e-12)]


def test_a_ttl_the_provider_does_not_offer_is_refused_naming_the_ones_it_does():
    wf = workflow(TWO_CALLS, models={"main": "anthropic:claude-sonnet-4-6"}, cache={"ttl_s": 600})
    with pytest.raises(CostsimError) as caught:
        run(wf, 5)
    assert str(caught.value) == ("cache.ttl_s: 600 s is not a cache lifetime anthropic offers for "
                                 "anthropic:claude-sonnet-4-6; it offers 300 s (5 min) or 3600 s (1 h) (to allow "
                                 "others, set ttls_s under providers: anthropic)")
    allowed = workflow(TWO_CALLS, models={"main": "anthropic:claude-sonnet-4-6"}, cache={"ttl_s": 600},
                       providers={"anthropic": {"ttls_s": [300, 600, 3600]}})
    assert run(allowed, 5).baseline.tasks is not None


def test_a_missing_batch_rate_is_refused_unless_the_file_chooses_a_fallback():
    # claude-sonnet-4: $3 / $15, no batch prices in the catalog.
    steps = [{"id": "only", "llm": "main", "prompt": 1000, "output": 100}]
    models = {"main": "anthropic:claude-sonnet-4"}
    with pytest.raises(CostsimError, match=r"^batch: anthropic:claude-sonnet-4-0 has no batch price in "
                                           r"genai-prices 0\.2\.3 .*missing_rate: full_price"):
        run(workflow(steps, models=models, batch=True), 5)
    full = run(workflow(steps, models=models, batch={"missing_rate": "full_price"}), 5)
    assert per_task(full) == [pytest.approx((1000 * 3 + 100 * 15) / M, rel=1e-12)]
    assert any("standard price (batch.missing_rate: full_price)" in w for w in full.summary()["warnings"])
    half = both_engines(workflow(steps, models=models, batch={"missing_rate": "provider_discount"}), 5)
    assert per_task(half) == [pytest.approx((1000 * 1.5 + 100 * 7.5) / M, rel=1e-12)]


def test_a_retired_model_is_named_with_its_date_and_successor(tmp_path, monkeypatch, capsys):
    wf = workflow([{"id": "only", "llm": "main", "prompt": 10, "output": 10}],
                  models={"main": "anthropic:claude-sonnet-4"})
    summary = run(wf, 5).summary()
    warning = ("anthropic:claude-sonnet-4-0 was retired on 2026-06-15 (requests to it fail); anthropic suggests "
               "anthropic:claude-sonnet-4-6")
    assert summary["warnings"] == [warning] and warning in summary["alternatives"][0]["notes"]
    path = tmp_path / "retired.yaml"
    path.write_text("name: retired\nmodels: {main: anthropic:claude-sonnet-4}\n"
                    "steps: [{id: only, llm: main, prompt: 10, output: 10}]\n")
    code, out, err = costsim_in_process(monkeypatch, capsys, "run", path, "-n", "10", "--out", tmp_path / "out",
                                        "--prices-date", "2026-11-01")
    assert code == 0 and f"warning: {warning}" in " ".join(err.split())


# -- the switch -------------------------------------------------------------------------------------------

LEGACY = json.loads((FIXTURES / "legacy_results.json").read_text())



def part_b_off(data: dict) -> dict:
    """Also turn off what part B of the issue added after these were recorded: tokenizer ratios, and the
    default reasoning tokens of models that had none in the latency table then."""
    import re

    from sim.core.pricing import Catalog
    from sim.core.profiles import default_profile, reasoning_default

    profiles = dict(data.get("profiles", {}))
    catalog = Catalog(prices_date=PRICES_DATE)  # the date the runs price at, not today's
    for ref in sorted(set(re.findall(r'"((?:openai|anthropic|google):[A-Za-z0-9.\-]+)"', json.dumps(data)))):
        canonical = catalog.resolve(ref).ref
        given = any((profiles.get(key) or {}).get("reasoning_tokens") is not None for key in (ref, "default"))
        row = reasoning_default(canonical)
        if not given and row is not None and row.tokens and not default_profile(canonical).reasoning_tokens:
            profiles[ref] = {**profiles.get(ref, {}), "reasoning_tokens": 0}
    return dict(data, tokenizer={"reference": "none"}, **({"profiles": profiles} if profiles else {}))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(LEGACY["cases"]))
def test_without_provider_rules_random_workflows_give_yesterdays_tasks_to_the_bit(case):
    """tests/fixtures/record_legacy_results.py recorded these 60 random workflows (OpenAI, Gemini and
    Claude models, caches, batch) on the code before the rules table; with ``provider_rules: false`` every
    per-task column of every alternative hashes the same."""
    data = part_b_off(dict(case["workflow"], provider_rules=False))
    result = run(parse_workflow(json.dumps(data)), LEGACY["tasks"], seed=case["seed"])
    # "also": the same old code's digests on another machine, where float columns differ in their last bits
    # (tests/fixtures/record_legacy_results.py)
    assert digest(result) in [case["digests"], *case.get("also", [])]
