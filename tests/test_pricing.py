"""Tests of sim.core.pricing: float rates resolved once must reproduce genai_prices.calc_price exactly."""

from __future__ import annotations

import datetime as dt
import math
import pickle

import genai_prices
import numpy as np
import pytest
from genai_prices import Usage, calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.errors import CostsimError, UnknownModelError
from sim.core.pricing import Catalog, ModelRates, Rate

PRICES_DATE = dt.date(2026, 11, 1)
# Catalog resolves at noon UTC of prices_date; calc_price is asked about the same instant.
TIMESTAMP = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)

MODELS = [
    "openai:gpt-4.1",
    "openai:gpt-4.1-mini",
    "openai:gpt-4.1-nano",
    "anthropic:claude-sonnet-4",
    "anthropic:claude-opus-4-6",
    "google:gemini-2.5-pro",  # cliff tier at 200K input tokens
    "deepseek:deepseek-chat",  # time-of-day prices
    "azure:gpt-4.1",  # reached through azure's fallback to openai
    "google:claude-sonnet-4",  # Vertex's own entry: a 5-minute cache-write price but no 1-hour one
]


CATALOG = Catalog(prices_date=PRICES_DATE)  # for hypothesis, which cannot take function-scoped fixtures


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(prices_date=PRICES_DATE)


def catalog_usd(ref: str, n_in: int, n_out: int, n_read: int = 0, n_write: int = 0, n_write_1h: int = 0,
                batch: bool = False, when: dt.datetime = TIMESTAMP) -> float:
    """The catalog's own Decimal answer. Its cache_write_tokens count includes the 1-hour writes."""
    provider_id, _, model_ref = ref.partition(":")
    usage = Usage(input_tokens=n_in, output_tokens=n_out, cache_read_tokens=n_read,
                  cache_write_tokens=n_write + n_write_1h, cache_write_1h_tokens=n_write_1h)
    result = calc_price(usage, model_ref, provider_id=provider_id, genai_request_timestamp=when,
                        price_context={"processing": "batch"} if batch else None)
    return float(result.total_price)


def assert_close(ours: float, theirs: float) -> None:
    assert math.isclose(ours, theirs, rel_tol=1e-12, abs_tol=1e-18), (ours, theirs)


def test_gpt41_hand_arithmetic(catalog: Catalog) -> None:
    rates = catalog.resolve("openai:gpt-4.1")
    assert rates.ref == "openai:gpt-4.1"
    assert (rates.input.base_usd_per_mtok, rates.output.base_usd_per_mtok) == (2.0, 8.0)
    cost = rates.attempt_cost_usd(1_000, 500)
    assert abs(cost - 0.006) <= 1e-12  # 1,000 x $2/M + 500 x $8/M
    assert abs(cost - catalog_usd("openai:gpt-4.1", 1_000, 500)) <= 1e-12


USAGES = [  # (input, output, cache_read, cache_write, cache_write_1h)
    (1_000, 500, 0, 0, 0),
    (12_345, 678, 8_000, 0, 0),
    (50_000, 2_000, 10_000, 5_000, 0),
    (50_000, 2_000, 10_000, 5_000, 3_000),
    (200_000, 1_000, 100_000, 0, 0),  # at a tier start: base rate (a tier needs input > start)
    (200_001, 1_000, 100_000, 0, 0),  # just past it: tier rate for all tokens
    (350_000, 9_000, 50_000, 20_000, 10_000),
    (0, 0, 0, 0, 0),
]


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("usage", USAGES)
@pytest.mark.parametrize("ref", MODELS)
def test_matches_calc_price(catalog: Catalog, ref: str, usage: tuple[int, ...], batch: bool) -> None:
    n_in, n_out, n_read, n_write, n_write_1h = usage
    ours = catalog.resolve(ref).attempt_cost_usd(n_in, n_out, n_read, n_write, batch=batch,
                                                 cache_write_1h_tokens=n_write_1h)
    assert_close(ours, catalog_usd(ref, n_in, n_out, n_read, n_write, n_write_1h, batch=batch))


@st.composite
def usages(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    n_in = draw(st.integers(0, 1_000_000))
    n_read = draw(st.integers(0, n_in))
    n_write = draw(st.integers(0, n_in - n_read))
    n_write_1h = draw(st.integers(0, n_in - n_read - n_write))
    return n_in, draw(st.integers(0, 100_000)), n_read, n_write, n_write_1h


@settings(max_examples=300, deadline=None)
@given(ref=st.sampled_from(MODELS), usage=usages(), batch=st.booleans())
def test_matches_calc_price_random(ref: str, usage: tuple[int, ...], batch: bool) -> None:
    test_matches_calc_price(CATALOG, ref, usage, batch)


def test_gemini_cliff_tier_by_hand(catalog: Catalog) -> None:
    rates = catalog.resolve("google:gemini-2.5-pro")
    assert rates.has_tiers
    assert rates.input == Rate(1.25, ((200_000, 2.5),))
    assert rates.attempt_cost_usd(200_000, 0) == pytest.approx(200_000 * 1.25 / 1e6, rel=1e-15)
    assert rates.attempt_cost_usd(200_001, 0) == pytest.approx(200_001 * 2.5 / 1e6, rel=1e-15)
    # cached tokens count toward the tier: 150K uncached + 60K cached is past the 200K cliff
    assert rates.attempt_cost_usd(210_000, 0, cache_read_tokens=60_000) == pytest.approx(
        (150_000 * 2.5 + 60_000 * 0.25) / 1e6, rel=1e-15)


def test_batch_rates(catalog: Catalog) -> None:
    rates = catalog.resolve("openai:gpt-4.1")
    assert (rates.batch_input, rates.batch_output) == (Rate(1.0), Rate(4.0))
    assert rates.batch_cache_read is None  # the variant leaves it unset; the standard rate applies
    assert rates.attempt_cost_usd(1_000, 500, batch=True) == pytest.approx(0.003, rel=1e-15)
    assert rates.has_batch_prices
    assert not catalog.resolve("anthropic:claude-sonnet-4").has_batch_prices
    # the fallback model gets openai's prices but not openai's variants, exactly as calc_price does
    assert catalog.resolve("azure:gpt-4.1").batch_input is None


def test_prices_follow_prices_date() -> None:
    # the catalog starts gpt-4.1's batch variant on 2026-10-14
    assert Catalog(prices_date=dt.date(2026, 10, 1)).resolve("openai:gpt-4.1").batch_input is None
    # Opus 4.6 had a 200K cliff tier until 2026-03-13
    early = Catalog(prices_date=dt.date(2026, 1, 15)).resolve("anthropic:claude-opus-4-6")
    late = Catalog(prices_date=PRICES_DATE).resolve("anthropic:claude-opus-4-6")
    assert early.has_tiers and not late.has_tiers
    when = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)
    for usage in USAGES:
        assert_close(early.attempt_cost_usd(*usage[:4], cache_write_1h_tokens=usage[4]),
                     catalog_usd("anthropic:claude-opus-4-6", *usage, when=when))


@settings(max_examples=100, deadline=None)
@given(ref=st.sampled_from(MODELS), rows=st.lists(usages(), min_size=1, max_size=50), batch=st.booleans())
def test_array_is_bit_identical_to_scalar(ref: str, rows: list[tuple[int, ...]], batch: bool) -> None:
    rates = CATALOG.resolve(ref)
    n_in, n_out, n_read, n_write, n_write_1h = (np.array(col, dtype=np.int64) for col in zip(*rows))
    got = rates.attempt_cost_usd_array(n_in, n_out, n_read, n_write, batch=batch, cache_write_1h_tokens=n_write_1h)
    want = [rates.attempt_cost_usd(a, b, c, d, batch=batch, cache_write_1h_tokens=e) for a, b, c, d, e in rows]
    assert got.dtype == np.float64
    assert got.tolist() == want  # exact equality, element by element
    assert rates.input.usd_per_mtok_array(n_in).tolist() == [rates.input.usd_per_mtok(int(n)) for n in n_in]


def test_rates_pickle_for_worker_processes(catalog: Catalog) -> None:
    rates = catalog.resolve("google:gemini-2.5-pro")
    copy = pickle.loads(pickle.dumps(rates))
    assert copy == rates
    assert copy.attempt_cost_usd(300_000, 10, batch=True) == rates.attempt_cost_usd(300_000, 10, batch=True)


def test_array_defaults_broadcast(catalog: Catalog) -> None:
    rates = catalog.resolve("openai:gpt-4.1-mini")
    got = rates.attempt_cost_usd_array(np.array([1_000, 2_000]), np.array([10, 20]))
    assert got.tolist() == [rates.attempt_cost_usd(1_000, 10), rates.attempt_cost_usd(2_000, 20)]


def test_rejects_more_cache_than_input(catalog: Catalog) -> None:
    rates = catalog.resolve("openai:gpt-4.1")
    with pytest.raises(ValueError):
        rates.attempt_cost_usd(100, 10, cache_read_tokens=101)
    with pytest.raises(ValueError):
        rates.attempt_cost_usd_array(np.array([100]), np.array([10]), np.array([60]), np.array([50]))


def test_override_replaces_one_field() -> None:
    rates = Catalog({"openai:gpt-4.1": {"output": 9.0}}, PRICES_DATE).resolve("openai:gpt-4.1")
    assert rates.source == "catalog+override"
    assert (rates.input, rates.output, rates.cache_read) == (Rate(2.0), Rate(9.0), Rate(0.5))
    assert rates.attempt_cost_usd(1_000, 500) == pytest.approx((1_000 * 2 + 500 * 9) / 1e6, rel=1e-15)


def test_override_by_alias_applies_to_canonical_ref() -> None:
    catalog = Catalog({"anthropic:claude-sonnet-4": {"input": 1.0}}, PRICES_DATE)
    rates = catalog.resolve("anthropic:claude-sonnet-4-0")
    assert rates.input == Rate(1.0) and rates.output == Rate(15.0)


def test_override_flattens_a_tiered_rate() -> None:
    rates = Catalog({"google:gemini-2.5-pro": {"input": 1.0}}, PRICES_DATE).resolve("google:gemini-2.5-pro")
    assert rates.input == Rate(1.0) and rates.output.tiers == ((200_000, 15.0),)


def test_override_adds_a_model() -> None:
    catalog = Catalog({"acme:in-house": {"input": 1, "output": 2.0, "cache_read": 0.1}}, PRICES_DATE)
    rates = catalog.resolve("acme:in-house")
    assert rates.source == "override" and rates.ref == "acme:in-house"
    assert rates.context_window_tokens is None and rates.batch_input is None
    # 500 uncached x $1 + 500 cached x $0.10 + 100 out x $2, per million
    assert rates.attempt_cost_usd(1_000, 100, cache_read_tokens=500) == pytest.approx(750 / 1e6, rel=1e-15)
    assert [r.ref for r in catalog.search("in-house")] == ["acme:in-house"]


def test_override_new_model_missing_output() -> None:
    with pytest.raises(CostsimError, match=r"acme:in-house.*output"):
        Catalog({"acme:in-house": {"input": 1.0}}, PRICES_DATE)


@pytest.mark.parametrize("bad", [{"inptu": 1.0}, {"input": -1.0}, {"input": float("nan")}, {"input": "1"}])
def test_override_bad_fields(bad: dict) -> None:
    with pytest.raises(CostsimError, match="openai:gpt-4.1"):
        Catalog({"openai:gpt-4.1": bad}, PRICES_DATE)


def test_catalog_model_without_output_price(catalog: Catalog) -> None:
    with pytest.raises(CostsimError, match="output"):
        catalog.resolve("openai:text-embedding-3-small")
    fixed = Catalog({"openai:text-embedding-3-small": {"output": 0.0}}, PRICES_DATE)
    assert fixed.resolve("openai:text-embedding-3-small").input == Rate(0.02)


def test_unknown_model_suggests_close_match(catalog: Catalog) -> None:
    with pytest.raises(UnknownModelError) as info:
        catalog.resolve("openai:gpt-4.1-mni")
    assert info.value.suggestions[0] == "openai:gpt-4.1-mini"
    assert 1 <= len(info.value.suggestions) <= 3
    assert "openai:gpt-4.1-mini" in str(info.value)


def test_ref_without_provider_suggests_it(catalog: Catalog) -> None:
    with pytest.raises(UnknownModelError) as info:
        catalog.resolve("gpt-4.1")
    assert info.value.suggestions == ["openai:gpt-4.1"]


def test_unknown_provider(catalog: Catalog) -> None:
    with pytest.raises(UnknownModelError) as info:
        catalog.resolve("no-such-provider:gpt-4.1")
    assert isinstance(info.value, CostsimError)
    assert len(info.value.suggestions) <= 3


def test_resolve_is_cached(catalog: Catalog) -> None:
    first = catalog.resolve("anthropic:claude-sonnet-4")
    assert catalog.resolve("anthropic:claude-sonnet-4") is first
    assert catalog.resolve("anthropic:claude-sonnet-4-0") is first
    assert first.ref == "anthropic:claude-sonnet-4-0"
    assert next(r for r in catalog.search("claude-sonnet-4-0") if r.ref == first.ref) is first


def test_costs_never_touch_the_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    rates = Catalog(prices_date=PRICES_DATE).resolve("google:gemini-2.5-pro")

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the catalog was consulted per sample")

    monkeypatch.setattr(genai_prices.types.ModelInfo, "get_prices", forbidden)
    monkeypatch.setattr(genai_prices.types.ModelPrice, "calc_price", forbidden)
    assert rates.attempt_cost_usd(300_000, 100, 1_000) > 0
    assert rates.attempt_cost_usd_array(np.array([300_000]), np.array([100])).shape == (1,)


def test_search(catalog: Catalog) -> None:
    found = catalog.search("GPT-4.1")
    refs = [r.ref for r in found]
    assert refs == sorted(refs)
    assert {"openai:gpt-4.1", "openai:gpt-4.1-mini", "openai:gpt-4.1-nano"} <= set(refs)
    assert all("gpt-4.1" in ref.lower() for ref in refs)
    everything = catalog.search()
    assert len(everything) > 100 and all(isinstance(r, ModelRates) for r in everything)
    assert "openai:text-embedding-3-small" not in {r.ref for r in everything}  # no output price


def test_catalog_version(catalog: Catalog) -> None:
    assert catalog.catalog_version == f"genai-prices {genai_prices.__version__}"
    assert catalog.catalog_version.startswith("genai-prices 0.2.")
