"""Properties that hold for every workflow, checked on random workflows with hypothesis."""

from __future__ import annotations

import numpy as np
from conftest import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.spec.workflow import Workflow

tokens = st.one_of(
    st.integers(0, 3000),
    st.builds(lambda m, s: {"lognormal": {"median": m, "sigma": s}}, st.integers(1, 3000), st.floats(0, 1.5)),
    st.builds(lambda m, s: {"normal": {"mean": m, "sd": s}}, st.integers(-100, 2000), st.floats(1, 500)),
)
probability = st.floats(0, 0.9)


@st.composite
def workflows(draw, price_factor: float = 1.0):
    llm = lambda i: {"id": f"call{i}", "llm": draw(st.sampled_from(["a", "b"])), "prompt": draw(tokens),  # noqa: E731
                     "output": draw(tokens), "fail": draw(probability),
                     "history": draw(st.sampled_from(["none", "full"]))}
    inner = [llm(i) for i in range(draw(st.integers(1, 3)))]
    steps = [llm(10), {"id": "loop", "repeat": {"poisson": {"mean": draw(st.floats(0, 3))}}, "steps": [
        {"id": "tool", "tool": "t", "result": draw(tokens), "fail": draw(probability)}, *inner]}]
    return {
        "name": "property", "models": {"a": "acme:a", "b": "acme:b"},
        "prices": {"acme:a": {"input": 0.5, "output": 2.0}, "acme:b": {"input": 3.0, "output": 15.0}},
        "context": {"system": draw(tokens), "user": draw(tokens)}, "steps": steps,
        "retry": {"max_attempts": draw(st.integers(1, 4))},
        "task_retry": {"max_attempts": draw(st.integers(1, 3))},
    }


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(workflows(), st.integers(0, 2**32))
def test_cost_is_never_negative(raw, seed):
    t = run(Workflow.model_validate(raw), 200, seed=seed).baseline.tasks
    assert np.all(t.cost_usd >= 0)
    assert np.all(t.input_tokens >= 0) and np.all(t.output_tokens >= 0)


@SETTINGS
@given(workflows(), st.floats(0.01, 100), st.integers(0, 2**32))
def test_multiplying_every_price_by_k_multiplies_every_cost_by_k(raw, k, seed):
    scaled = {**raw, "prices": {ref: {name: rate * k for name, rate in fields.items()}
                                for ref, fields in raw["prices"].items()}}
    base = run(Workflow.model_validate(raw), 200, seed=seed).baseline.tasks.cost_usd
    dear = run(Workflow.model_validate(scaled), 200, seed=seed).baseline.tasks.cost_usd
    assert np.allclose(dear, k * base, rtol=1e-9, atol=0)


@SETTINGS
@given(workflows(), st.integers(0, 2**32))
def test_allowing_more_attempts_never_lowers_the_success_rate(raw, seed):
    # Stronger than the rate: with common random numbers, a task that succeeds with k attempts uses the
    # same draws for its first k attempts with k + 1, so it succeeds again. Success is monotone per task.
    more = {**raw, "retry": {"max_attempts": raw["retry"]["max_attempts"] + 1}}
    fewer_ok = run(Workflow.model_validate(raw), 300, seed=seed).baseline.tasks.success
    more_ok = run(Workflow.model_validate(more), 300, seed=seed).baseline.tasks.success
    assert np.all(more_ok >= fewer_ok)
    assert more_ok.mean() >= fewer_ok.mean()
