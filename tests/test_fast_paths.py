"""What keeps commands instant and workers worth their start, held without timing anything (speed itself is
measured in benchmarks/bench_startup.py):

* a command loads only what it runs: ``--help`` and ``validate`` load no SciPy, matplotlib, SimPy or engine;
* what replaced SciPy at import gives SciPy's numbers to the bit (the constant tail quantile, the
  intervals' quantiles), and the bounds that spare SciPy in validation are bounds;
* the default executor starts no worker for small work, and the tasks file formatted by workers is the
  same text as the one formatted here;
* the plot drawn by the helper process is the same bytes as drawn here, and no helper outlives a command.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import costsim_in_process
from scipy import special
from scipy import stats as sps

from sim.output import plot_helper, rundir
from sim.run import executor as executors
from sim.run.executor import PARALLEL_MIN_WORK_S, ProcessExecutor, SerialExecutor, make_executor
from sim.run.simulation import simulate
from sim.spec import distributions as dists
from sim.spec.loader import load_workflow
from sim.stats import intervals

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "workflows" / "support-agent.yaml"
HEAVY = ("scipy", "matplotlib", "simpy", "jinja2", "pandas", "dask", "pyarrow", "sim.engine.fast", "sim.engine.des",
         "numpy", "pydantic")


def loaded_by(*args: str) -> set[str]:
    """The heavy modules a ``costsim`` command has loaded when it ends (run in a fresh interpreter)."""
    code = ("import sys\nsys.argv = ['costsim', *sys.argv[1:]]\nfrom sim.cli import main\ntry:\n    main()\n"
            "except SystemExit:\n    pass\nimport json\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r})),"
            " file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_help_loads_nothing_heavy_not_even_numpy():
    assert loaded_by("--help") == set()


@pytest.mark.parametrize("command", ["run", "stress", "validate"])
def test_a_commands_help_loads_no_numpy(command):
    # typer loads pydantic (its own adapters) to show a command's options; nothing else heavy loads
    assert {name.split(".")[0] for name in loaded_by(command, "--help")} == {"pydantic"}


def test_validate_loads_only_what_validation_needs():
    loaded = loaded_by("validate", str(SUPPORT))
    assert {name if name.startswith("sim.") else name.split(".")[0] for name in loaded} == {"numpy", "pydantic"}


def test_the_tail_quantile_constant_is_scipys():
    assert dists._Z_TAIL == float(special.ndtri(dists._TAIL))


@pytest.mark.parametrize("mean", [-1e6, -300.0, -5.0, -0.5, 0.0, 1e-9, 0.7, 3.0, 150.0, 1e5, 1e8])
@pytest.mark.parametrize("sd", [1e-3, 0.2, 1.0, 40.0, 1e4, 1e7])
def test_the_normal_bound_is_above_its_tail_quantile(mean, sd):
    normal = dists.Normal.model_construct(normal=dists.NormalParams(mean=mean, sd=sd))  # past the ceiling too
    assert normal.quantile_bound() >= normal.high_quantile()


@pytest.mark.parametrize("mean", [0.0, 1e-6, 0.3, 1.8, 7.0, 42.0, 999.5, 1e4, 3e5, 1e7, 1e9])
def test_the_poisson_bound_is_above_its_tail_quantile(mean):
    poisson = dists.Poisson.model_construct(poisson=dists.MeanParams(mean=mean))
    assert poisson.quantile_bound() >= poisson.high_quantile()


def test_a_distribution_past_the_ceiling_is_still_refused_with_its_quantile():
    with pytest.raises(ValueError, match=r"can draw 1\.\d+e\+09 \(its 1 - 1e-12 quantile\)"):
        dists.Normal(normal={"mean": 1e9, "sd": 1e6})


@pytest.mark.parametrize("df", [1, 2, 3, 9, 29, 99, 999, 9_999, 123_456.5, 1e7, math.inf, 0, -1, math.nan])
def test_t_quantile_is_scipy_stats(df):
    mine, theirs = intervals.t_quantile(df), float(sps.t.ppf(0.975, df))
    assert mine == theirs or (math.isnan(mine) and math.isnan(theirs))


@pytest.mark.parametrize("n", [1, 2, 10, 57, 1_000, 10_000, 123_457, 1_000_000])
@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99, 0.999])
def test_quantile_ranks_are_scipy_stats(n, q):
    lo, hi = intervals.quantile_ranks(n, q)
    assert lo == max(int(sps.binom.ppf(0.025, n, q)) - 1, 0)
    assert hi == min(int(sps.binom.ppf(0.975, n, q)), n - 1)


def test_the_intervals_match_scipy_stats():
    values = np.random.default_rng(3).lognormal(size=1_000)
    mean = float(np.mean(values))
    half = float(sps.t.ppf(0.975, 999) * np.std(values, ddof=1) / math.sqrt(1_000))
    assert intervals.mean_ci95(values) == (mean, [mean - half, mean + half])
    z = sps.norm.ppf(0.975)
    p, n = 0.3, 50
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert intervals.proportion_ci95(15, 50) == [max(0.0, centre - half), min(1.0, centre + half)]


def test_the_default_executor_starts_workers_only_for_long_work(monkeypatch):
    monkeypatch.setattr(executors, "default_jobs", lambda: 2)
    default = make_executor()
    assert isinstance(default, ProcessExecutor) and default.min_work_s == PARALLEL_MIN_WORK_S
    assert not default.worth(PARALLEL_MIN_WORK_S / 2) and default.worth(PARALLEL_MIN_WORK_S)
    assert make_executor(2).worth(0.0)  # asked for: always (a tasks file also needs PARALLEL_MIN_WORK_S)
    assert not SerialExecutor().worth(1e9)
    monkeypatch.setattr(executors, "default_jobs", lambda: 1)
    assert isinstance(make_executor(), SerialExecutor)


def test_a_small_run_never_starts_the_default_pool():
    workflow = load_workflow(SUPPORT)
    with ProcessExecutor(2, min_work_s=PARALLEL_MIN_WORK_S) as pool:
        result = simulate(workflow, 300, 5, executor=pool, chunk_tasks=100)  # three chunks, a few ms of work
        assert pool._pool is None
    assert result.summary() == simulate(workflow, 300, 5).summary()


def test_the_tasks_file_formatted_by_workers_is_the_same_text(monkeypatch):
    result = simulate(load_workflow(SUPPORT), 250, 11)
    here = io.StringIO()
    rundir.write_tasks_csv(result, here.write)
    monkeypatch.setattr(rundir, "CSV_PIECE_ROWS", 60)  # 13 pieces of the 750 rows
    monkeypatch.setattr(rundir, "PARALLEL_MIN_WORK_S", 0.0)  # worth a pool however short
    pieces: list[str] = []
    with ProcessExecutor(2) as pool:
        rundir.write_tasks_csv(result, pieces.append, executor=pool)
        assert pool._pool is not None  # the workers did format them
    assert len(pieces) == 1 + 3 * 5 and "".join(pieces) == here.getvalue() == rundir.tasks_csv(result)


#: The helper forks only from a process with one thread; earlier tests in this process may have left
#: threads (a Dask client's), so these two run in a fresh process of their own.
_HELPER_SAME_BYTES = """
import multiprocessing, sys
from pathlib import Path
from sim.output import rundir
from sim.output.plot_helper import PlotHelper
from sim.run.simulation import simulate
from sim.spec.loader import load_workflow
out = Path(sys.argv[1]); result = simulate(load_workflow(sys.argv[2]), 400, 8)
here = rundir.write_run_folder(result, out / "here")
with PlotHelper.start() as helper:
    assert helper is not None  # a fresh process forks safely: one thread, two cores or more
    helped = rundir.write_run_folder(result, out / "helped", plotter=helper)
    assert helper._submitted
for kind in ("plot", "plot_svg"):
    assert helped[kind].read_bytes() == here[kind].read_bytes(), kind
assert multiprocessing.active_children() == []
"""

_HELPER_DIED = """
import sys
from pathlib import Path
from sim.output import rundir
from sim.output.plot_helper import PlotHelper
from sim.run.simulation import simulate
from sim.spec.loader import load_workflow
out = Path(sys.argv[1]); result = simulate(load_workflow(sys.argv[2]), 200, 9)
helper = PlotHelper.start()
helper._process.kill()
helper._process.join()
written = rundir.write_run_folder(result, out / "run", plotter=helper)
helper.close()
assert written["plot"].read_bytes() == rundir.write_run_folder(result, out / "again")["plot"].read_bytes()
"""


@pytest.mark.skipif((__import__("os").cpu_count() or 1) < 2, reason="the helper needs two cores")
@pytest.mark.parametrize("code", [_HELPER_SAME_BYTES, _HELPER_DIED], ids=["same-bytes", "helper-died"])
def test_the_plot_helper_in_a_fresh_process(tmp_path, code):
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(SUPPORT)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_the_command_leaves_no_helper_behind(tmp_path, monkeypatch, capsys):
    code, _, err = costsim_in_process(monkeypatch, capsys, "run", SUPPORT, "-n", "50", "--out", tmp_path / "run")
    assert code == 0, err
    assert (tmp_path / "run" / "cost-per-task.svg").is_file()
    assert multiprocessing.active_children() == [] and plot_helper._open == set()
    code, _, err = costsim_in_process(monkeypatch, capsys, "run", tmp_path / "missing.yaml")
    assert code == 2 and multiprocessing.active_children() == [] and plot_helper._open == set()


def test_a_short_tasks_file_starts_no_pool_even_when_one_was_asked_for():
    result = simulate(load_workflow(SUPPORT), 50_000, 12)  # 150,000 rows: about a second of formatting
    with ProcessExecutor(2) as pool:
        rundir.write_tasks_csv(result, lambda text: None, executor=pool)
        assert not pool.started
