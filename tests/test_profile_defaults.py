"""Tests of sim.core.profiles: the default per-model latency figures and their sources."""

from __future__ import annotations

import dataclasses
import math

import pytest

from sim.core.pricing import Catalog
from sim.core.profiles import DEFAULTS, GENERIC, DefaultProfile, default_profile

REASONING_MODELS = {"openai:o3", "openai:o4-mini", "openai:gpt-5", "openai:gpt-5-mini", "openai:gpt-5-nano"}
NON_REASONING_PREFIXES = ("openai:gpt-4.1", "openai:gpt-4o")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog()


def test_table_is_not_empty():
    assert DEFAULTS


@pytest.mark.parametrize("ref", sorted(DEFAULTS))
def test_every_entry_has_positive_figures_and_a_source(ref):
    profile = DEFAULTS[ref]
    assert isinstance(profile, DefaultProfile)
    assert math.isfinite(profile.ttft_s) and profile.ttft_s > 0
    assert math.isfinite(profile.tokens_per_s) and profile.tokens_per_s > 0
    assert math.isfinite(profile.reasoning_tokens) and profile.reasoning_tokens >= 0
    assert isinstance(profile.source, str) and profile.source.strip()


@pytest.mark.parametrize("ref", sorted(REASONING_MODELS & DEFAULTS.keys()))
def test_reasoning_models_have_reasoning_tokens(ref):
    assert DEFAULTS[ref].reasoning_tokens > 0


@pytest.mark.parametrize("ref", sorted(r for r in DEFAULTS if r.startswith(NON_REASONING_PREFIXES)))
def test_non_reasoning_openai_models_have_none(ref):
    assert DEFAULTS[ref].reasoning_tokens == 0


@pytest.mark.parametrize("ref", sorted(r for r in DEFAULTS if r.startswith("anthropic:")))
def test_claude_without_extended_thinking_has_none(ref):
    assert DEFAULTS[ref].reasoning_tokens == 0


@pytest.mark.parametrize("ref", sorted(DEFAULTS))
def test_every_key_is_a_canonical_catalog_ref(catalog, ref):
    assert catalog.resolve(ref).ref == ref


@pytest.mark.parametrize("ref", sorted(DEFAULTS))
def test_known_ref_gives_its_entry(ref):
    assert default_profile(ref) is DEFAULTS[ref]


@pytest.mark.parametrize("ref", ["openai:no-such-model", "acme:gpt-4.1", "", "gpt-4.1"])
def test_unknown_ref_gives_generic(ref):
    assert default_profile(ref) is GENERIC


def test_generic_is_the_documented_assumption():
    assert GENERIC == DefaultProfile(ttft_s=0.8, tokens_per_s=60.0, reasoning_tokens=0.0,
                                     source="costsim's generic assumption for models not in the table")
    assert "GENERIC" not in DEFAULTS and GENERIC not in DEFAULTS.values()


def test_profiles_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        GENERIC.ttft_s = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("bad", [
    {"ttft_s": 0.0}, {"ttft_s": -1.0}, {"ttft_s": math.nan}, {"tokens_per_s": 0.0},
    {"tokens_per_s": math.inf}, {"reasoning_tokens": -1.0}, {"source": "  "},
])
def test_invalid_profiles_are_rejected(bad):
    fields = {"ttft_s": 0.5, "tokens_per_s": 50.0, "reasoning_tokens": 0.0, "source": "test", **bad}
    with pytest.raises(ValueError):
        DefaultProfile(**fields)
