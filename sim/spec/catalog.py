"""The price catalog a workflow is priced with: genai-prices' catalog, the file's own ``prices:`` on top, and
its self-hosted models at $0 a token (they cost GPU hours, not tokens).

It lives in the spec layer, beside the file it reads, so that ``costsim validate`` resolves the file's models
without loading the engine that later compiles them.
"""

from __future__ import annotations

from sim.core.pricing import Catalog
from sim.spec.timing import self_hosted_ref
from sim.spec.workflow import Workflow


def catalog_for(workflow: Workflow, prices_date=None) -> Catalog:
    """The catalog with the workflow's own ``prices`` applied, and its self-hosted models at $0 a token."""
    overrides = {ref: price.model_dump(exclude_none=True) for ref, price in workflow.prices.items()}
    for name in workflow.self_hosted:
        overrides[self_hosted_ref(name)] = {"input": 0.0, "output": 0.0}
    return Catalog(overrides, prices_date=prices_date)
