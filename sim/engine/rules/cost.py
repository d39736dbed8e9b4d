"""What one attempt costs: its input and its output (hidden reasoning included) at the model's rates,
with the prompt cache's reads and writes at their own rates when the attempt used the cache.

A flat-priced model that is not batched carries its per-token rates (``input_usd_per_token``), the fast
path; any other model, or any attempt that read or wrote the cache, is priced by its
:class:`~sim.core.pricing.ModelRates` (tiers by total input, batch prices, cache prices). With a cache TTL
above five minutes the writes are billed at the 1-hour write price.
"""

from __future__ import annotations

import numpy as np


def attempt_cost_usd(model, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
                     cache_write_tokens: int = 0, cache_write_1h: bool = False) -> float:
    """USD for one attempt on ``model`` (a :class:`~sim.engine.plan.CallModel`)."""
    if model.input_usd_per_token is not None and not cache_read_tokens and not cache_write_tokens:
        return input_tokens * model.input_usd_per_token + output_tokens * model.output_usd_per_token
    batch = model.batch_delay is not None
    if cache_write_1h:
        return model.rates.attempt_cost_usd(input_tokens, output_tokens, cache_read_tokens, 0, batch,
                                            cache_write_tokens)
    return model.rates.attempt_cost_usd(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, batch)


def attempt_cost_usd_array(model, input_tokens, output_tokens, cache_read_tokens=None, cache_write_tokens=None,
                           cache_write_1h: bool = False, uncached_cost=None) -> np.ndarray:
    """:func:`attempt_cost_usd` for many attempts (arrays, or scalars that broadcast); without cache
    arrays, no attempt used the cache. ``uncached_cost``: what this function gives without the cache
    arrays, when the caller has it already."""
    batch = model.batch_delay is not None
    if uncached_cost is not None:
        cost = uncached_cost
    elif model.input_usd_per_token is not None:
        cost = input_tokens * model.input_usd_per_token + output_tokens * model.output_usd_per_token
    else:
        n = max(np.size(input_tokens), np.size(output_tokens))
        cost = model.rates.attempt_cost_usd_array(np.broadcast_to(input_tokens, (n,)),
                                                  np.broadcast_to(output_tokens, (n,)), 0, 0, batch)
    if cache_read_tokens is None:
        return cost
    used = (cache_read_tokens != 0) | (cache_write_tokens != 0)
    if not used.any():
        return cost
    shape = np.shape(used)
    cached = model.rates.attempt_cost_usd_array(
        input_tokens, np.broadcast_to(output_tokens, shape), cache_read_tokens,
        0 if cache_write_1h else cache_write_tokens, batch, cache_write_tokens if cache_write_1h else 0)
    return np.where(used, cached, np.broadcast_to(cost, shape))
