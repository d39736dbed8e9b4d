"""A library error names the Python parameter and its value; the command line shows the flag instead.

``ParameterError`` keeps each mention of a parameter as a ``Parameter`` among its message's parts, so
``message`` reads as Python (``engine='fast'``) and :func:`sim.cli.program.error_message` as the command line
(``--engine fast``), from the same error. The command's own tests (test_cli, test_fast_engine, test_dask,
test_breakeven, ...) check the flag wording end to end.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
from conftest import workflow

from sim.cli.program import FLAG_OF_PARAMETER, error_message
from sim.core.errors import CostsimError, Parameter, ParameterError
from sim.engine.choice import choose_engine
from sim.run.executor import make_executor
from sim.run.precision import PrecisionRule

SIM = Path(__file__).resolve().parent.parent / "sim"


def test_a_mention_reads_as_python_or_as_a_flag():
    error = ParameterError(Parameter("jobs"), ": expected 1 or more, got 0; or use ", Parameter("scheduler", "tcp://h:1"))
    assert error.message == "jobs: expected 1 or more, got 0; or use scheduler='tcp://h:1'"
    assert error.with_flags({"jobs": "--jobs", "scheduler": "--scheduler"}.get) == (
        "--jobs: expected 1 or more, got 0; or use --scheduler tcp://h:1")
    assert error.with_flags({}.get) == error.message  # a parameter without a flag keeps its Python name
    assert error.parameter == "jobs" and isinstance(error, CostsimError)


def test_an_error_needs_a_parameter_and_survives_a_trip_to_another_process():
    with pytest.raises(TypeError):
        ParameterError("no parameter named")
    error = ParameterError(Parameter("engine", "fast"), ": no")
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.message, again.parameter, again.parts) == (ParameterError, error.message, "engine",
                                                                          error.parts)


def test_the_engine_error_names_the_parameter_in_the_library_and_the_flag_on_the_command_line():
    # rate limits per minute couple tasks in a way only the SimPy engine simulates
    traffic = workflow([{"id": "a", "llm": "main", "output": 10}], traffic={"tasks_per_day": 100, "days": 1},
                       limits={"openai:gpt-4.1-mini": {"rpm": 10}})
    with pytest.raises(ParameterError) as caught:
        choose_engine("fast", traffic)
    assert caught.value.parameter == "engine"
    assert caught.value.message.startswith("engine='fast': the vectorised engine cannot run test: it uses ")
    assert caught.value.message.endswith("which needs the SimPy engine (engine='des', or auto to choose)")
    assert error_message(caught.value).startswith("--engine fast: the vectorised engine cannot run test: ")
    assert error_message(caught.value).endswith("which needs the SimPy engine (--engine des, or auto to choose)")
    with pytest.raises(ParameterError, match=r"^engine: expected one of auto, des, fast, got 'quick'$") as caught:
        choose_engine("quick", traffic)
    assert error_message(caught.value) == "--engine: expected one of auto, des, fast, got 'quick'"


@pytest.mark.parametrize(("call", "parameter", "flag"), [
    (lambda: make_executor(0), "jobs", "--jobs"),
    (lambda: PrecisionRule(0.01, min_tasks=1), "min_tasks", "--min-tasks"),
    (lambda: PrecisionRule(2.0), "target", "--precision"),
])
def test_the_parameter_is_carried_and_shown_as_its_flag(call, parameter, flag):
    with pytest.raises(ParameterError) as caught:
        call()
    assert caught.value.parameter == parameter
    assert caught.value.message.startswith(f"{parameter}: ")
    assert error_message(caught.value).startswith(f"{flag}: ")


def test_other_errors_are_shown_as_they_are():
    assert error_message(CostsimError("--tasks and --precision exclude each other")) == (
        "--tasks and --precision exclude each other")


def test_every_parameter_the_library_names_has_its_flag():
    named = {name for path in SIM.rglob("*.py") for name in re.findall(r'Parameter\("(\w+)"', path.read_text())}
    assert named >= {"engine", "jobs", "scheduler", "vary", "model", "trace"}
    assert sorted(named - set(FLAG_OF_PARAMETER)) == []


# -- seeds (issue 13: a seed >= 2^64 silently repeated a smaller one's numbers, and -1 was 2^64 - 1) -------------

@pytest.mark.parametrize("seed", [-1, 2**64, 2**64 + 7, 10**30, 1.5, True, "7"])
def test_simulate_refuses_a_seed_outside_0_to_2_to_the_64(seed):
    from sim.run.simulation import simulate

    wf = workflow([{"id": "a", "llm": "main", "output": 10}])
    with pytest.raises(ParameterError) as caught:
        simulate(wf, 5, seed, prices_date=__import__("datetime").date(2026, 11, 1))
    assert caught.value.parameter == "seed"
    assert caught.value.message.startswith(f"seed={seed!r} is not a seed: a seed is a whole number from 0 to 2**64 - 1")
    assert error_message(caught.value).startswith(f"--seed {seed} is not a seed: ")


def test_the_largest_seed_is_its_own_and_not_seed_0s():
    from conftest import run

    wf = workflow([{"id": "a", "llm": "main", "output": {"poisson": {"mean": 300}}}])
    largest, zero = run(wf, 50, seed=2**64 - 1), run(wf, 50, seed=0)
    assert largest.seed == 2**64 - 1
    assert largest.baseline.tasks.output_tokens.tolist() != zero.baseline.tasks.output_tokens.tolist()


@pytest.mark.parametrize("seed", ["-1", str(2**64)])
def test_the_command_line_refuses_a_seed_outside_0_to_2_to_the_64(seed, monkeypatch, capsys, tmp_path):
    import sys

    from sim import cli

    path = Path(__file__).resolve().parent.parent / "workflows" / "support-agent.yaml"
    for command in (["run", str(path), "--tasks", "10", "--format", "json", "--out", str(tmp_path / "run")],
                    ["sensitivity", str(path), "--tasks", "10"]):
        monkeypatch.setattr(sys, "argv", ["costsim", *command, "--seed", seed])
        with pytest.raises(SystemExit) as exited:
            cli.main()
        out, err = capsys.readouterr()
        err = " ".join(re.sub("[│╭╮╰╯─]", " ", err).split())  # the words, without the box and its wrapping
        assert exited.value.code == 2, err
        bound = "greater than or equal to 0" if seed == "-1" else "less than or equal to 18446744073709551615"
        assert f"Invalid value for '--seed' / '-s': Input should be {bound}" in err and not out
