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
* traces of a real agent: :func:`read_traces` reads them, :func:`calibrate` fits a workflow
  (:func:`calibrated_yaml` is its file), :func:`fit_uncertainty` adds the fit's uncertainty to a run of
  it, :func:`backtest` compares a forecast with traced tasks;
* every mistake in a workflow or an argument raises :class:`CostsimError`, with one clear line; a bad
  argument raises its subclass :class:`ParameterError`, which names the parameter.

Importing ``sim`` loads no plotting or terminal library (matplotlib, rich, typer): those load when a plot
is drawn or the command line runs. The package is in layers, each a sub-package that imports only the
layers below it (``docs/architecture.md`` has the map): ``core`` < ``spec`` < ``engine`` and ``stats`` <
``run`` < ``analysis`` < ``output`` < ``cli``.
"""

import importlib

#: Each public name and the module that holds it. A name's module is imported the first time the name is
#: used (PEP 562), so ``import sim`` costs only what a caller touches: a script that simulates never
#: loads the analyses, the report's templates or the executors.
_HOMES = {
    "__version__": "sim.core.version",  # read from the package's metadata: importlib.metadata takes 20 ms
    "CostsimError": "sim.core.errors",
    "ParameterError": "sim.core.errors",
    "load_workflow": "sim.spec.loader",
    "parse_workflow": "sim.spec.loader",
    "simulate": "sim.run.simulation",
    "SimulationResult": "sim.run.simulation",
    "summarize": "sim.stats.summary",
    "write_run_folder": "sim.output.rundir",
    "write_report": "sim.output.report",
    "stress": "sim.analysis.stress",
    "sensitivity": "sim.analysis.sensitivity",
    "breakeven": "sim.analysis.breakeven",
    "ProcessExecutor": "sim.run.executor",
    "DaskExecutor": "sim.run.executor",
    "PrecisionRule": "sim.run.precision",
    "read_traces": "sim.calibration.traces",
    "calibrate": "sim.calibration.fit",
    "calibrated_yaml": "sim.calibration.document",
    "fit_uncertainty": "sim.calibration.uncertainty",
    "backtest": "sim.calibration.backtest",
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later uses skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = ["__version__", "CostsimError", "ParameterError", "load_workflow", "parse_workflow", "simulate", "summarize",
           "SimulationResult", "write_run_folder", "write_report", "stress", "sensitivity", "breakeven",
           "ProcessExecutor", "DaskExecutor", "PrecisionRule", "read_traces", "calibrate", "calibrated_yaml",
           "fit_uncertainty", "backtest"]
