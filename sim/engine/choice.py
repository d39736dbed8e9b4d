"""Which engine runs a workflow: the SimPy engine, the vectorised engine, or the best that can.

* ``des``: :class:`sim.engine.des.DesEngine`, a discrete-event simulation; runs every workflow.
* ``fast``: :class:`sim.engine.fast.FastEngine`, a block of tasks at a time with NumPy; runs every
  workflow whose tasks share nothing (no ``traffic``) and gives the SimPy engine's per-task results.
* ``auto`` (the command line's default): ``fast`` when it can run the workflow, else ``des``.

Both engines give the same result for the same seed, so the choice changes only how long a run takes;
the summary's ``metadata.engine`` says which one ran.
"""

from __future__ import annotations

from sim.core.errors import Parameter, ParameterError
from sim.engine.des import DesEngine
from sim.engine.fast import FastEngine, unsupported

ENGINE_NAMES = ("auto", "des", "fast")


def choose_engine(engine: str, workflow, trace: bool = False):
    """The engine called ``engine`` for ``workflow`` (``auto``: the vectorised one when it can run it)."""
    if engine not in ENGINE_NAMES:
        raise ParameterError(Parameter("engine"), f": expected one of {', '.join(ENGINE_NAMES)}, got {engine!r}")
    if engine == "des":
        return DesEngine()
    feature = unsupported(workflow, trace)
    if engine == "fast" and feature is not None:
        raise ParameterError(Parameter("engine", "fast"), f": the vectorised engine cannot run {workflow.name}: "
                             f"it uses {feature}, which needs the SimPy engine (", Parameter("engine", "des"),
                             ", or auto to choose)")
    return DesEngine() if feature is not None else FastEngine()


def resolve(engine, workflow, trace: bool = False):
    """An engine object from what a caller passed: None (the SimPy engine), a name, or an engine."""
    if engine is None:
        return DesEngine()
    if isinstance(engine, str):
        return choose_engine(engine, workflow, trace)
    return engine


def describe_choice(name: str, workflow, trace: bool = False) -> str:
    """One line for people: which engine ran, and why when ``auto`` could not take the vectorised one."""
    feature = unsupported(workflow, trace)
    if name == "des":
        return "engine: des (the SimPy engine" + (
            "; --engine fast is the vectorised one, with the same results)" if feature is None else ")")
    if feature is None:
        return "engine: fast (vectorised; --engine des gives the same results with the SimPy engine)"
    return f"engine: des (the SimPy engine: this workflow uses {feature})"
