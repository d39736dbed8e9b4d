"""Prices: ``provider:model`` references resolved once into plain float rates.

The price catalog is pydantic's genai-prices: Decimal prices, date-conditional prices, cliff tiers and
request-context variants (batch, priority, ...). Asking it for a price costs microseconds of matching and
Decimal arithmetic. The engine prices millions of simulated attempts, so :class:`Catalog` asks the catalog
**once per model**, for one date, and freezes the answer into a :class:`ModelRates` of floats. The
simulation never touches the catalog again; its cost formula is a handful of float multiplications.

Two conventions from the catalog are kept exactly, so that a simulated cost equals what
``genai_prices.calc_price`` says for the same usage:

* **Input includes cache.** ``input_tokens`` is the call's *total* input; cache reads and writes are
  parts of it, priced at their own rates, and only the rest (``uncached``) pays the input rate.
* **Cliff tiers.** Some models (Gemini 2.5 Pro, long-context Claude) charge more above a threshold of
  total input tokens. Crossing it re-prices *all* tokens of that kind, not just those above it:
  199,999 input tokens pay the base rate throughout, 200,001 pay the tier rate throughout.

A missing cache rate falls back the way the catalog bills: cache reads and writes at the input rate,
1-hour writes at the 5-minute write rate; in batch mode each batch rate falls back to its standard rate.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import genai_prices
from genai_prices import types as gp
from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

from sim.core.errors import CostsimError, UnknownModelError
from sim.core.suggest import close_matches

if TYPE_CHECKING:  # NumPy loads with the first array of costs: validating a file needs none of it
    import numpy as np

__all__ = ["RATE_FIELDS", "Catalog", "ModelRates", "Rate"]

#: Rate fields of :class:`ModelRates`, and the keys a workflow file's ``prices`` entry may give.
RATE_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h",
               "batch_input", "batch_output", "batch_cache_read", "batch_cache_write", "batch_cache_write_1h")
_CATALOG_KEYS = {"input": "input_mtok", "output": "output_mtok", "cache_read": "cache_read_mtok",
                 "cache_write": "cache_write_mtok", "cache_write_1h": "cache_write_1h_mtok"}
_BATCH_CONTEXT = {"processing": "batch"}
_TOKENS_PER_MTOK = 1e6


@dataclass(frozen=True, slots=True)
class Rate:
    """USD per million tokens for one kind of token, with the catalog's cliff tiers.

    ``tiers`` holds ``(start_input_tokens, usd_per_mtok)`` pairs, ascending. When a call's total input
    tokens exceed a tier's start, that tier's price applies to ALL its tokens of this kind.
    """

    base_usd_per_mtok: float
    tiers: tuple[tuple[int, float], ...] = ()

    def __post_init__(self) -> None:
        prices = [self.base_usd_per_mtok, *(price for _, price in self.tiers)]
        if list(self.tiers) != sorted(self.tiers) or not all(math.isfinite(p) and p >= 0 for p in prices):
            raise ValueError(f"invalid rate {self!r}: prices must be finite and >= 0, tiers ascending")

    @classmethod
    def from_catalog(cls, price: Decimal | gp.TieredPrices | None) -> Rate | None:
        """Convert a catalog price (Decimal, or TieredPrices) to floats, once; None stays None."""
        if isinstance(price, gp.TieredPrices):
            return cls(float(price.base), tuple((tier.start, float(tier.price)) for tier in price.tiers))
        return None if price is None else cls(float(price))

    def usd_per_mtok(self, input_tokens: int) -> float:
        """The price that applies when the call's total input is ``input_tokens``."""
        for start, price in reversed(self.tiers):
            if input_tokens > start:
                return price
        return self.base_usd_per_mtok

    def usd_per_mtok_array(self, input_tokens: np.ndarray) -> np.ndarray:
        """:meth:`usd_per_mtok` for an array of input totals (later, higher tiers overwrite earlier)."""
        import numpy as np
        totals = np.asarray(input_tokens)
        out = np.full(totals.shape, self.base_usd_per_mtok, dtype=np.float64)
        for start, price in self.tiers:
            out[totals > start] = price
        return out


@dataclass(frozen=True, slots=True)
class ModelRates:
    """Every rate of one model, as floats; built by :class:`Catalog`, immutable, cheap to call.

    A ``None`` rate means the catalog (and the file) give none; see the module docstring for fallbacks.
    """

    ref: str
    input: Rate
    output: Rate
    cache_read: Rate | None
    cache_write: Rate | None
    cache_write_1h: Rate | None
    batch_input: Rate | None
    batch_output: Rate | None
    batch_cache_read: Rate | None
    context_window_tokens: int | None
    source: str
    batch_cache_write: Rate | None = None
    batch_cache_write_1h: Rate | None = None
    # effective (input, cache_read, cache_write, cache_write_1h, output) rates, fallbacks applied once
    _standard: tuple[Rate, ...] = field(init=False, repr=False, compare=False)
    _batch: tuple[Rate, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cache_write = self.cache_write or self.input
        object.__setattr__(self, "_standard", (self.input, self.cache_read or self.input, cache_write,
                                               self.cache_write_1h or cache_write, self.output))
        b_input = self.batch_input or self.input
        b_write = self.batch_cache_write or self.cache_write or b_input
        object.__setattr__(self, "_batch", (b_input, self.batch_cache_read or self.cache_read or b_input, b_write,
                                            self.batch_cache_write_1h or self.cache_write_1h or b_write,
                                            self.batch_output or self.output))

    @property
    def has_tiers(self) -> bool:
        """True if any rate changes with the call's total input tokens."""
        return any(rate.tiers for rate in (*self._standard, *self._batch))

    @property
    def has_batch_prices(self) -> bool:
        """True if the catalog or the file gives a batch price; otherwise ``batch=True`` costs the same."""
        return any(getattr(self, name) is not None for name in RATE_FIELDS if name.startswith("batch_"))

    def attempt_cost_usd(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
                         cache_write_tokens: int = 0, batch: bool = False, cache_write_1h_tokens: int = 0) -> float:
        """USD for one attempt. ``input_tokens`` is the TOTAL input, cached tokens included.

        uncached = input - cache_read - cache_write - cache_write_1h; every rate's tier is chosen by the
        total input. Cost = (uncached*input + cache_read*cache_read_rate + cache_write*cache_write_rate
        + cache_write_1h*cache_write_1h_rate + output*output_rate) / 1e6.
        """
        uncached_tokens = input_tokens - cache_read_tokens - cache_write_tokens - cache_write_1h_tokens
        if min(uncached_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens) < 0:
            raise ValueError(f"{self.ref}: negative token count, or more cached tokens than {input_tokens=}")
        r_in, r_read, r_write, r_write_1h, r_out = self._batch if batch else self._standard
        return (uncached_tokens * r_in.usd_per_mtok(input_tokens)
                + cache_read_tokens * r_read.usd_per_mtok(input_tokens)
                + cache_write_tokens * r_write.usd_per_mtok(input_tokens)
                + cache_write_1h_tokens * r_write_1h.usd_per_mtok(input_tokens)
                + output_tokens * r_out.usd_per_mtok(input_tokens)) / _TOKENS_PER_MTOK

    def attempt_cost_usd_array(self, input_tokens: np.ndarray, output_tokens: np.ndarray,
                               cache_read_tokens: np.ndarray | int = 0, cache_write_tokens: np.ndarray | int = 0,
                               batch: bool = False, cache_write_1h_tokens: np.ndarray | int = 0,
                               ) -> np.ndarray:
        """:meth:`attempt_cost_usd` elementwise over integer arrays (broadcast), bit-identical to it:
        the same float operations in the same order."""
        import numpy as np
        n_in, n_out, n_read, n_write, n_write_1h = (np.asarray(a, dtype=np.int64) for a in (
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens))
        uncached_tokens = n_in - n_read - n_write - n_write_1h
        if min(a.min(initial=0) for a in (uncached_tokens, n_out, n_read, n_write, n_write_1h)) < 0:
            raise ValueError(f"{self.ref}: negative token count, or more cached tokens than input tokens")
        r_in, r_read, r_write, r_write_1h, r_out = self._batch if batch else self._standard
        return (uncached_tokens * r_in.usd_per_mtok_array(n_in)
                + n_read * r_read.usd_per_mtok_array(n_in)
                + n_write * r_write.usd_per_mtok_array(n_in)
                + n_write_1h * r_write_1h.usd_per_mtok_array(n_in)
                + n_out * r_out.usd_per_mtok_array(n_in)) / _TOKENS_PER_MTOK


class Catalog:
    """Resolves refs once and caches them.

    ``overrides`` (a workflow file's ``prices``) maps ref -> {field: usd_per_mtok}, fields from
    :data:`RATE_FIELDS`. For a catalog model an override replaces only the given fields (a tiered rate
    becomes flat); a ref the catalog lacks is added and must give at least input and output.
    ``prices_date`` picks the date whose prices apply (default: today, UTC); time-of-day prices (DeepSeek's
    peak/off-peak) are read at ``prices_time_utc`` on that date.
    """

    def __init__(self, overrides: Mapping[str, Mapping[str, float]] | None = None,
                 prices_date: dt.date | None = None, *, prices_time_utc: dt.time = dt.time(12, 0)) -> None:
        self._snapshot = get_snapshot()
        day = prices_date or dt.datetime.now(dt.UTC).date()
        self.prices_timestamp = dt.datetime.combine(day, prices_time_utc.replace(tzinfo=dt.UTC))
        self._cache: dict[str, ModelRates] = {}          # ref as asked, and canonical ref -> rates
        self._overrides: dict[str, dict[str, float]] = {}  # canonical catalog ref -> fields to replace
        self._added: dict[str, ModelRates] = {}          # lower-cased ref -> rates of a model the file adds
        for ref, given in (overrides or {}).items():
            values = _check_override(ref, given)
            try:
                provider, model = self._find(ref)
            except LookupError:  # a model the catalog lacks: the file must price it in full
                rates = {name: Rate(value) for name, value in values.items()}
                self._added[ref.strip().lower()] = _make(ref.strip(), rates, None, "override", self.catalog_version)
            else:  # aliases of one model merge into its canonical ref
                self._overrides.setdefault(_canonical(provider, model), {}).update(values)

    @functools.cached_property
    def _all_refs(self) -> list[str]:
        """Every ref the catalog and the file know, for suggestions (built only when one is needed)."""
        return sorted({_canonical(p, m) for p in self._snapshot.providers for m in p.models}
                      | {rates.ref for rates in self._added.values()})

    @property
    def catalog_version(self) -> str:
        return f"genai-prices {genai_prices.__version__}"

    def resolve(self, ref: str) -> ModelRates:
        """The rates of ``ref`` ("provider:model", any alias the catalog matches), built on first use."""
        key = ref.strip()
        if (hit := self._cache.get(key)) is not None:
            return hit
        if (rates := self._added.get(key.lower())) is None:
            try:
                provider, model = self._find(key)
            except LookupError:
                raise UnknownModelError(ref, self._suggest(key)) from None
            rates = self._cache.get(_canonical(provider, model)) or self._build(provider, model)
        self._cache[key] = self._cache[rates.ref] = rates
        return rates

    def unit_price(self, ref: str, price_key: str) -> float | None:
        """The catalog's price of one non-token unit of ``ref`` at the prices' date (``web_searches_kcount``:
        USD per 1,000 web searches, ...), or None where the catalog has none (or ``ref`` is not in it)."""
        try:
            _, model = self._find(ref.strip())
        except LookupError:
            return None
        if not model.prices:
            return None
        price = getattr(model.get_prices(self.prices_timestamp), price_key, None)
        return None if price is None or isinstance(price, gp.TieredPrices) else float(price)

    def is_deprecated(self, ref: str) -> bool:
        """Whether the catalog marks ``ref`` deprecated (still priced, no longer recommended)."""
        try:
            _, model = self._find(ref)
        except LookupError:
            return False
        return bool(model.deprecated)

    def search(self, query: str | None = None) -> list[ModelRates]:
        """Every model with input and output token prices whose ref contains ``query``, sorted by ref."""
        needle = (query or "").lower()
        found: dict[str, ModelRates] = {}
        for provider in self._snapshot.providers:
            for model in provider.models:
                ref = _canonical(provider, model)
                if needle in ref.lower() and ref not in found:
                    try:
                        found[ref] = self._cache.get(ref) or self._cache.setdefault(ref, self._build(provider, model))
                    except CostsimError:  # audio, image and embedding models: no input+output token prices
                        pass
        found.update({rates.ref: rates for rates in self._added.values() if needle in rates.ref.lower()})
        return sorted(found.values(), key=lambda rates: rates.ref)

    def _find(self, ref: str) -> tuple[gp.Provider, gp.ModelInfo]:
        provider_id, sep, model_ref = ref.strip().partition(":")
        if not sep or not provider_id or not model_ref:
            raise LookupError(f"{ref!r} is not 'provider:model'")
        return self._snapshot.find_provider_model(model_ref, None, provider_id, None)

    def _build(self, provider: gp.Provider, model: gp.ModelInfo) -> ModelRates:
        """Read one model's prices at ``prices_timestamp`` and convert them to floats: the only catalog work."""
        ref, when = _canonical(provider, model), self.prices_timestamp
        standard = model.get_prices(when) if model.prices else gp.ModelPrice()
        rates = {name: Rate.from_catalog(getattr(standard, key, None)) for name, key in _CATALOG_KEYS.items()}
        # Batch prices are the variants whose `when` the context {'processing': 'batch'} satisfies, first
        # one wins per key, as ModelInfo.get_prices does. Like calc_price, a model reached through another
        # provider's fallback (e.g. Claude on google) does not get that provider's variants.
        if any(model is own for own in provider.models):
            batch: dict[str, Decimal | gp.TieredPrices] = {}
            for variant in model.price_variants or ():
                if variant.when.items() <= _BATCH_CONTEXT.items() and (
                        variant.constraint is None or variant.constraint.active(when)):
                    for key, price in variant.prices.__dict__.items():
                        if price is not None:
                            batch.setdefault(key, price)
            rates |= {f"batch_{name}": Rate.from_catalog(batch.get(key)) for name, key in _CATALOG_KEYS.items()}
        extra = self._overrides.get(ref, {})
        rates |= {name: Rate(value) for name, value in extra.items()}
        source = "catalog+override" if extra else "catalog"
        return _make(ref, rates, model.context_window, source, self.catalog_version)

    def _suggest(self, ref: str) -> list[str]:
        """Up to 3 refs close to an unknown one: the catalog's own guess of a missing provider, else
        the close matches (within the named provider if it exists), else refs containing the model."""
        provider_id, sep, model_ref = ref.partition(":")
        if not sep:
            try:
                return [_canonical(*self._snapshot.find_provider_model(ref, None, None, None))]
            except LookupError:
                provider_id, model_ref = "", ref
        provider = find_provider_by_id(self._snapshot.providers, provider_id) if provider_id else None
        pool = [r for r in self._all_refs if provider and r.startswith(f"{provider.id}:")] or self._all_refs
        target = f"{provider.id}:{model_ref}" if provider else ref
        close = close_matches(target.lower(), pool, n=3)
        close += [r for r in pool if model_ref.lower() in r.lower() and r not in close]
        return close[:3]


def _canonical(provider: gp.Provider, model: gp.ModelInfo) -> str:
    return f"{provider.id}:{model.id}"


def _make(ref: str, rates: Mapping[str, Rate | None], context_window: int | None, source: str,
          version: str) -> ModelRates:
    """Build a ModelRates, or say which of the two prices every simulated call needs is missing."""
    for required in ("input", "output"):
        if rates.get(required) is None:
            if source == "override":
                raise CostsimError(f"prices: {ref!r} is not in the catalog ({version}), so it must give "
                                   f"{required!r} (USD per million tokens)")
            raise CostsimError(f"{ref!r} has no {required} token price in {version}; give one under `prices:`")
    return ModelRates(ref=ref, **{name: rates.get(name) for name in RATE_FIELDS},
                      context_window_tokens=context_window, source=source)


def _check_override(ref: object, given: object) -> dict[str, float]:
    """Validate one entry of a workflow file's ``prices``; return its fields as floats."""
    if not isinstance(ref, str) or ":" not in ref.strip(":"):
        raise CostsimError(f"prices: {ref!r} must be a 'provider:model' reference, e.g. 'acme:in-house'")
    if not isinstance(given, Mapping):
        raise CostsimError(f"prices: {ref!r} must map fields to USD per million tokens, got {given!r}")
    values: dict[str, float] = {}
    for name, value in given.items():
        if name not in RATE_FIELDS:
            raise CostsimError(f"prices: {ref!r} has unknown field {name!r}; known: {', '.join(RATE_FIELDS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise CostsimError(f"prices: {ref!r}.{name} must be a number >= 0 (USD per million tokens), "
                               f"got {value!r}")
        values[name] = float(value)
    return values
