"""costsim: simulate what an LLM agent will cost per task, as a distribution, for each model choice.

The library API::

    from sim import load_workflow, simulate, summarize
    workflow = load_workflow("workflows/support-agent.yaml")
    result = simulate(workflow, tasks=10_000, seed=42)
    summary = summarize(result)          # the JSON contract, as a dict

The package is in layers, each a sub-package that imports only the layers below it (``docs/architecture.md``
has the map): ``core`` < ``spec`` < ``engine`` and ``stats`` < ``run`` < ``analysis`` < ``output`` < ``cli``.
"""

from sim.core.errors import CostsimError
from sim.core.version import __version__
from sim.run.simulation import SimulationResult, simulate
from sim.spec.loader import load_workflow, parse_workflow
from sim.stats.summary import summarize

__all__ = ["__version__", "CostsimError", "load_workflow", "parse_workflow", "simulate", "summarize",
           "SimulationResult"]
