"""Which engine runs a workflow: the SimPy engine, the vectorised engine, or the best that can.

* ``des``: :class:`sim.engine.des.DesEngine`, a discrete-event simulation; runs every workflow.
* ``fast``: :class:`sim.engine.fast.FastEngine`, a block of tasks at a time with NumPy; runs every
  workflow whose tasks share nothing (no ``traffic``) and gives the SimPy engine's per-task results. With
  ``traffic`` it is :class:`sim.engine.traffic_fast.TrafficEngine`, which also resolves a shared prompt
  cache and a concurrency limit over each replication (rate limits, outages, self-hosted servers and
  budgets stay with the SimPy engine).
* ``auto`` (the command line's default): ``fast`` when it can run the workflow, else ``des``.

Both engines give the same result for the same seed, so the choice changes only how long a run takes;
the summary's ``metadata.engine`` says which one ran.
"""

from __future__ import annotations

from sim.core.errors import Parameter, ParameterError
from sim.engine.fast import FastEngine
from sim.engine.traffic_fast import TrafficEngine, unsupported

ENGINE_NAMES = ("auto", "des", "fast")


def choose_engine(engine: str, workflow, trace: bool = False):
    """The engine called ``engine`` for ``workflow`` (``auto``: the vectorised one when it can run it)."""
    if engine not in ENGINE_NAMES:
        raise ParameterError(Parameter("engine"), f": expected one of {', '.join(ENGINE_NAMES)}, got {engine!r}")
    if engine == "des":
        return _des_engine()
    feature = unsupported(workflow, trace)
    if engine == "fast" and feature is not None:
        raise ParameterError(Parameter("engine", "fast"), f": the vectorised engine cannot run {workflow.name}: "
                             f"it uses {feature}, which needs the SimPy engine (", Parameter("engine", "des"),
                             ", or auto to choose)")
    if feature is not None:
        return _des_engine()
    return FastEngine() if workflow.traffic is None else TrafficEngine()


def _des_engine():
    """The SimPy engine, imported when it runs: a run on the vectorised engine loads neither SimPy nor
    the SimPy engine's modules (10 to 20 ms of every default ``costsim run``)."""
    from sim.engine.des import DesEngine

    return DesEngine()


def resolve(engine, workflow, trace: bool = False):
    """An engine object from what a caller passed: a name (None is ``auto``), or an engine object."""
    if engine is None or isinstance(engine, str):
        return choose_engine(engine or "auto", workflow, trace)
    return engine
