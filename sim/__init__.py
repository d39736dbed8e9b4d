"""costsim: simulate what an LLM agent will cost per task, as a distribution, for each model choice.

The library does what the command line does; a notebook needs only these names::

    from sim import load_workflow, sensitivity, simulate, write_run_folder
    workflow = load_workflow("workflows/support-agent.yaml")
    result = simulate(workflow, tasks=10_000, seed=42)      # engine="auto", as costsim run
    summary = result.summary()                               # the JSON contract, as a dict
    write_run_folder(result, "results/my-run", workflow_file="workflows/support-agent.yaml", report=True)
    drivers = sensitivity(workflow, tasks=2_000)             # what costsim sensitivity --format json prints

* a workflow: :func:`load_workflow` (a file), :func:`parse_workflow` (text);
* a run: :func:`simulate` returns a :class:`SimulationResult`; :func:`summarize` (or
  ``result.summary()``) gives its summary; :func:`write_run_folder` writes the folder ``costsim run --out``
  writes (summary.json, tasks.csv, the plots, workflow.yaml, report.html); :func:`write_report` writes the
  HTML report of a run folder;
* where and how long: ``executor=ProcessExecutor(4)`` or ``DaskExecutor("tcp://host:8786")`` (context
  managers), ``precision=PrecisionRule(0.01)`` instead of ``tasks``;
* the analyses, each returning the report its command prints as JSON: :func:`stress`,
  :func:`sensitivity`, :func:`breakeven`;
* every mistake in a workflow or an argument raises :class:`CostsimError`, with one clear line; a bad
  argument raises its subclass :class:`ParameterError`, which names the parameter.

Importing ``sim`` loads no plotting or terminal library (matplotlib, rich, typer): those load when a plot
is drawn or the command line runs. The package is in layers, each a sub-package that imports only the
layers below it (``docs/architecture.md`` has the map): ``core`` < ``spec`` < ``engine`` and ``stats`` <
``run`` < ``analysis`` < ``output`` < ``cli``.
"""

from sim.analysis.breakeven import breakeven
from sim.analysis.sensitivity import sensitivity
from sim.analysis.stress import stress
from sim.core.errors import CostsimError, ParameterError
from sim.core.version import __version__
from sim.output.report import write_report
from sim.output.rundir import write_run_folder
from sim.run.executor import DaskExecutor, ProcessExecutor
from sim.run.precision import PrecisionRule
from sim.run.simulation import SimulationResult, simulate
from sim.spec.loader import load_workflow, parse_workflow
from sim.stats.summary import summarize

__all__ = ["__version__", "CostsimError", "ParameterError", "load_workflow", "parse_workflow", "simulate", "summarize",
           "SimulationResult", "write_run_folder", "write_report", "stress", "sensitivity", "breakeven",
           "ProcessExecutor", "DaskExecutor", "PrecisionRule"]
