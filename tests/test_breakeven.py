"""Self-hosting break-even (sim.analysis.breakeven and ``costsim breakeven``).

The seed (seed 000 of docs/sources.md, "GPT-4.1 vs Self-Hosted (Llama 4)") rents an H100 at
$1.99/h that processes ~300 tokens/s, and compares it with GPT-4.1 on 1M input + 100K output tokens; it
says the break-even is "around 300-500M tokens monthly". workflows/self-hosting.yaml models that, and the
break-even the simulator finds is checked against the same figure worked out by hand from the catalog.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.analysis.breakeven import _crossing, breakeven, parse_volumes
from sim.cli.program import error_message
from sim.core.errors import CostsimError
from sim.spec.catalog import catalog_for

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "workflows" / "self-hosting.yaml"
COSTSIM = Path(sys.executable).parent / "costsim"
PRICES_DATE = dt.date(2026, 11, 1)
MODEL = "self:llama-70b"


def costsim(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([str(COSTSIM), *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


def assert_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in proc.stderr


# -- the seed's claim, by hand and by simulation --------------------------------------------------------


def hand_breakeven() -> dict:
    """The break-even worked out by hand: GPU rent for a month over GPT-4.1's price per token."""
    gpu_month_usd = 1.99 * 24 * 30
    assert gpu_month_usd == pytest.approx(1432.80)
    catalog = catalog_for(sim.load_workflow(EXAMPLE), PRICES_DATE)
    gpt41 = catalog.resolve("openai:gpt-4.1")
    mini = catalog.resolve("openai:gpt-4.1-mini")
    assert (gpt41.input.base_usd_per_mtok, gpt41.output.base_usd_per_mtok) == (2.0, 8.0)
    assert (mini.input.base_usd_per_mtok, mini.output.base_usd_per_mtok) == (0.4, 1.6)
    # The seed's mix: 1M input + 100K output = $2 + $0.80 = $2.80 for 1.1M tokens.
    usd_per_mtok = (1.0 * 2.0 + 0.1 * 8.0) / 1.1
    mini_usd_per_mtok = (1.0 * 0.4 + 0.1 * 1.6) / 1.1
    tokens_per_task = 1000 + 100  # the example file's mean request
    capacity_tokens = 300 * 86400 * 30  # 300 tokens/s, busy all month
    return {
        "tokens_per_month": gpu_month_usd / usd_per_mtok * 1e6,  # 562.9M
        "tasks_per_day": gpu_month_usd / usd_per_mtok * 1e6 / tokens_per_task / 30,  # 17,057
        "mini_tokens_per_month": gpu_month_usd / mini_usd_per_mtok * 1e6,  # 2,814M
        "capacity_tokens_per_month": capacity_tokens,  # 777.6M
        "capacity_tasks_per_day": capacity_tokens / tokens_per_task / 30,  # 23,564
    }


@pytest.fixture(scope="module")
def report():
    # A grid around the break-even (the refinement adds points inside the crossing interval), quarter-day
    # horizons, two replications: a few seconds.
    return breakeven(sim.load_workflow(EXAMPLE), MODEL, volumes=[4000, 8000, 16000, 32000, 64000],
                     replications=2, days=0.25, seed=3, prices_date=PRICES_DATE)


def test_hand_arithmetic_is_what_the_example_file_says():
    hand = hand_breakeven()
    assert hand["tokens_per_month"] / 1e6 == pytest.approx(562.9, abs=0.05)
    assert hand["tasks_per_day"] == pytest.approx(17057, abs=1)
    assert hand["mini_tokens_per_month"] / 1e6 == pytest.approx(2814.4, abs=0.05)
    assert hand["capacity_tokens_per_month"] == 777_600_000
    # The break-even falls within one server's capacity: at 72% busy.
    assert hand["tokens_per_month"] / hand["capacity_tokens_per_month"] == pytest.approx(0.724, abs=0.001)


def test_breakeven_against_gpt41_agrees_with_the_hand_figure(report):
    hand = hand_breakeven()
    found = report["breakeven"]["baseline"]
    assert report["alternatives"]["baseline"]["models"] == {"main": "openai:gpt-4.1"}
    assert found["status"] == "crosses"
    assert found["within_capacity"] is True
    assert found["tokens_per_month"] == pytest.approx(hand["tokens_per_month"], rel=0.03)
    assert found["tasks_per_day"] == pytest.approx(hand["tasks_per_day"], rel=0.03)
    # ... which is above the seed's "300-500M tokens monthly" (see workflows/self-hosting.yaml for why).
    assert found["tokens_per_month"] > 500e6


def test_capacity_is_300_tokens_per_second(report):
    hand = hand_breakeven()
    capacity = report["capacity"]
    assert capacity["tokens_per_month"] == pytest.approx(hand["capacity_tokens_per_month"], rel=1e-9)
    assert capacity["tasks_per_day"] == pytest.approx(hand["capacity_tasks_per_day"], rel=0.02)
    # The p95 latency explodes past capacity: 32,000 tasks a day is over it, 16,000 is not.
    assert 16000 <= capacity["latency_ok_up_to_tasks_per_day"] < 32000
    utilisation = dict(zip(report["volumes"], report["alternatives"]["self-hosted"]["utilisation"]))
    assert utilisation[16000] == pytest.approx(16000 / hand["capacity_tasks_per_day"], rel=0.03)
    assert utilisation[32000] > 1


def test_the_gpu_bill_is_the_rent_below_capacity(report):
    self_hosted = report["alternatives"]["self-hosted"]
    assert report["gpu_usd_30d"] == pytest.approx(1432.80)
    for volume, bill in zip(report["volumes"], self_hosted["bill_usd_30d"]):
        if volume <= 16000:
            assert bill == pytest.approx(1432.80, rel=0.01)  # the last tasks may finish just after the day


def test_breakeven_is_null_when_self_hosting_is_never_cheaper(report):
    # mini costs $0.51 per million tokens at this mix; the GPU, even fully busy, $1.84.
    assert report["breakeven"]["gpt-4.1-mini"] == {"tasks_per_day": None, "tokens_per_month": None,
                                                   "status": "never_cheaper_on_grid", "within_capacity": None}


def test_report_shape(report):
    assert report["model"] == MODEL and report["roles"] == ["main"]
    assert list(report["alternatives"]) == ["self-hosted", "baseline", "gpt-4.1-mini"]  # no llama-70b twice
    n = len(report["volumes"])
    assert report["volumes"] == sorted(report["volumes"]) and n > 5  # the grid plus refinement points
    assert sum(report["grid"]) == 5
    for entry in report["alternatives"].values():
        for key in ("bill_usd_30d", "bill_usd_30d_ci95", "tokens_per_month", "latency_p95_s"):
            assert len(entry[key]) == n
    json.dumps(report, allow_nan=False)


# -- the interpolation on its own -------------------------------------------------------------------------


def test_an_executor_and_the_engine_choice_give_the_same_report():
    """A break-even runs tasks over a horizon (traffic), which only the SimPy engine runs: ``auto`` (the
    default) picks it, ``fast`` is refused; the replications run on workers with the same result."""
    def run(**options):
        return breakeven(sim.load_workflow(EXAMPLE), MODEL, volumes=[4000, 32000], replications=2, days=0.05,
                         seed=3, prices_date=PRICES_DATE, refine=1, **options)

    serial = run(engine="des")
    with sim.ProcessExecutor(2) as pool:
        parallel = run(executor=pool)
    assert serial["metadata"]["engine"] == parallel["metadata"]["engine"] == "des"
    assert serial == parallel
    with pytest.raises(CostsimError, match="traffic"):
        run(engine="fast")


def test_crossing_is_exact_for_a_flat_and_a_proportional_bill():
    volumes = [100.0, 1000.0, 10000.0]
    api = [v * 0.5 for v in volumes]  # $0.50 a task: crosses $1,000 at 2,000 tasks a day
    tokens = [v * 30 * 1100 for v in volumes]
    found = _crossing(volumes, [1000.0] * 3, api, tokens)
    assert found["status"] == "crosses"
    assert found["tasks_per_day"] == pytest.approx(2000)
    assert found["tokens_per_month"] == pytest.approx(2000 * 30 * 1100)
    assert _crossing(volumes, [1e6] * 3, api, tokens)["status"] == "never_cheaper_on_grid"
    assert _crossing(volumes, [1.0] * 3, api, tokens) == {"tasks_per_day": None, "tokens_per_month": None,
                                                          "status": "cheaper_on_whole_grid"}


def test_volumes_grid():
    default = parse_volumes(None)
    assert len(default) == 12 and default[0] == pytest.approx(100) and default[-1] == pytest.approx(100_000)
    assert parse_volumes("10:1000:3") == pytest.approx([10, 100, 1000])
    for bad in ("10:1000", "a:b:c", "0:100:3", "100:10:3", "10:100:1"):
        with pytest.raises(CostsimError, match="^volumes: ") as caught:
            parse_volumes(bad)
        assert error_message(caught.value).startswith("--volumes: ")


def test_unknown_role_is_refused():
    with pytest.raises(CostsimError, match="^roles: unknown role 'mian'") as caught:
        breakeven(sim.load_workflow(EXAMPLE), MODEL, volumes=[100, 200], roles=["mian"])
    assert error_message(caught.value).startswith("--roles: unknown role 'mian'")


# -- the command --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def json_command(tmp_path_factory):
    out = tmp_path_factory.mktemp("breakeven") / "run"
    proc = costsim("breakeven", EXAMPLE, "--model", MODEL, "--volumes", "300:3000:3", "--replications", "1",
                   "--days", "0.25", "--format", "json", "--out", out, "--prices-date", "2026-11-01")
    return proc, out


def test_json_on_stdout_only(json_command):
    proc, out = json_command
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # nothing else on stdout
    assert {"model", "volumes", "alternatives", "breakeven"} <= set(report)
    assert report["model"] == MODEL
    assert report["volumes"] == pytest.approx([300, 948.68, 3000], rel=1e-4)
    assert all(len(entry["bill_usd_30d"]) == 3 for entry in report["alternatives"].values())
    # 3,000 tasks a day is far below the break-even: never cheaper, against either API model.
    assert report["breakeven"]["baseline"]["tasks_per_day"] is None
    assert report["breakeven"]["gpt-4.1-mini"]["tokens_per_month"] is None
    assert "wrote" in proc.stderr
    assert json.loads((out / "breakeven.json").read_text())["breakeven"] == report["breakeven"]


def test_files_and_plot_exist(json_command):
    _, out = json_command
    names = sorted(path.name for path in out.iterdir())
    assert names == [".costsim-run", "breakeven.csv", "breakeven.json", "breakeven.png",
                     "breakeven.svg"]  # the marker, and no temporary files
    assert (out / "breakeven.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (out / "breakeven.svg").read_bytes()[:2000]
    rows = list(csv.DictReader(io.StringIO((out / "breakeven.csv").read_text())))
    assert len(rows) == 3 * 3 and {row["alternative"] for row in rows} == {"self-hosted", "baseline", "gpt-4.1-mini"}
    assert all(float(row["bill_usd_30d"]) > 0 for row in rows)


def test_the_vectorised_engine_is_refused_on_the_command_line():
    assert_error(costsim("breakeven", EXAMPLE, "--model", MODEL, "--engine", "fast", "--jobs", "1"),
                 "--engine fast", "traffic")


def test_model_that_is_not_self_hosted():
    assert_error(costsim("breakeven", EXAMPLE, "--model", "openai:gpt-4.1"),
                 "--model: 'openai:gpt-4.1' is not a self-hosted model", "self:llama-70b")
    assert_error(costsim("breakeven", EXAMPLE, "--model", "llama-70b"), "did you mean self:llama-70b?")


def test_unknown_self_hosted_model():
    assert_error(costsim("breakeven", EXAMPLE, "--model", "self:llama-7b"),
                 "--model: unknown self-hosted model 'self:llama-7b'; did you mean self:llama-70b?")


def test_workflow_without_traffic():
    assert_error(costsim("breakeven", ROOT / "workflows" / "saas-chatbot.yaml", "--model", "self:x"),
                 "breakeven needs a traffic: block")


def test_bad_volumes_on_the_command_line():
    assert_error(costsim("breakeven", EXAMPLE, "--model", MODEL, "--volumes", "1000:100"), "--volumes")


def test_seed_claim_in_numbers():
    """The verdict in plain numbers: at the seed's own 10:1 mix the break-even is 563M tokens a month,
    above its 300-500M; the range fits an output-heavier mix (between about 1:1 and 5:1)."""
    gpu_month_usd = 1432.80
    for in_share, out_share, low, high in ((1, 1, 280e6, 300e6), (3, 1, 400e6, 420e6), (5, 1, 470e6, 480e6)):
        usd_per_token = (in_share * 2.0 + out_share * 8.0) / (in_share + out_share) / 1e6
        assert low < gpu_month_usd / usd_per_token < high
    assert math.isclose(gpu_month_usd / ((2.0 * 10 + 8.0) / 11 / 1e6), 562.89e6, rel_tol=1e-4)
