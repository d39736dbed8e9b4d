"""costsim: simulate what an LLM agent will cost per task, as a distribution, for each model choice.

The library API::

    from sim import load_workflow, simulate, summarize
    workflow = load_workflow("workflows/support-agent.yaml")
    result = simulate(workflow, tasks=10_000, seed=42)
    summary = summarize(result)          # the JSON contract, as a dict
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("costsim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

from sim.loader import load_workflow, parse_workflow  # noqa: E402
from sim.montecarlo import SimulationResult, simulate  # noqa: E402
from sim.stats import summarize  # noqa: E402

__all__ = ["__version__", "load_workflow", "parse_workflow", "simulate", "summarize", "SimulationResult"]
