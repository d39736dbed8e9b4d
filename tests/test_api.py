"""The Python API for notebooks: load a workflow, simulate, read the summary and the per-task samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim import load_workflow, simulate
from sim.core.records import TASK_FIELDS
from sim.stats.summary import summarize

EXAMPLE = Path(__file__).resolve().parents[1] / "workflows" / "support-agent.yaml"


@pytest.fixture(scope="module")
def result():
    return simulate(load_workflow(EXAMPLE), tasks=400, seed=3)


def test_summary_is_the_json_contract(result):
    assert result.summary() == summarize(result)
    assert [a["name"] for a in result.summary()["alternatives"]] == ["baseline", "gpt-4.1", "sonnet-4"]


def test_samples_are_numpy_arrays_per_field(result):
    samples = result.samples("gpt-4.1")
    assert set(samples) == set(TASK_FIELDS)
    assert isinstance(samples["cost_usd"], np.ndarray) and len(samples["cost_usd"]) == 400
    assert float(samples["cost_usd"].mean()) == result.summary()["alternatives"][1]["cost_per_task"]["mean"]


def test_unknown_alternative_names_the_known_ones(result):
    with pytest.raises(KeyError, match="baseline, gpt-4.1, sonnet-4"):
        result.samples("opus")


def test_dataframe_has_one_row_per_task_and_alternative(result):
    frame = result.to_pandas()
    assert len(frame) == 3 * 400
    means = frame.groupby("alternative", sort=False)["cost_usd"].mean()
    for entry in result.summary()["alternatives"]:
        assert means[entry["name"]] == pytest.approx(entry["cost_per_task"]["mean"], rel=1e-12)
