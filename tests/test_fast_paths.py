"""What keeps commands instant and workers worth their start, held without timing anything (speed itself is
measured in benchmarks/bench_startup.py):

* a command loads only what it runs: ``--help`` and ``validate`` load no NumPy, SciPy, matplotlib, SimPy or
  engine, and building the spec reads no source;
* what replaced SciPy at import gives SciPy's numbers to the bit (the constant tail quantile, the
  intervals' quantiles), and the bounds that spare SciPy in validation are bounds;
* the default executor starts no worker for small work, and the tasks file formatted by workers is the
  same text as the one formatted here;
* the plot drawn by the helper process is the same bytes as drawn here, and no helper outlives a command.
"""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import costsim_in_process
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from scipy import stats as sps

from sim.core.records import TASK_FIELDS, TaskColumns, zeros
from sim.output import plot_helper, taskfile
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


def modules_after(*args: str) -> set[str]:
    """Every module a ``costsim`` command has loaded when it ends (run in a fresh interpreter)."""
    code = ("import sys\nsys.argv = ['costsim', *sys.argv[1:]]\nfrom sim.cli import main\ntry:\n    main()\n"
            "except SystemExit:\n    pass\nimport json\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def loaded_by(*args: str) -> set[str]:
    """The heavy modules a ``costsim`` command has loaded when it ends."""
    return {m for m in modules_after(*args) if m.split(".")[0] in HEAVY or m in HEAVY}


def sim_modules_loaded_by(*args: str) -> set[str]:
    """The modules of ``sim`` a ``costsim`` command has loaded when it ends."""
    return {m for m in modules_after(*args) if m.split(".")[0] == "sim"}


def test_help_loads_nothing_heavy_not_even_numpy():
    assert loaded_by("--help") == set()


@pytest.mark.parametrize("command", ["run", "stress", "validate"])
def test_a_commands_help_loads_no_numpy(command):
    # typer loads pydantic (its own adapters) to show a command's options; nothing else heavy loads
    assert {name.split(".")[0] for name in loaded_by(command, "--help")} == {"pydantic"}


def test_validate_loads_only_what_validation_needs():
    # pydantic, the spec, the loader and the catalog: no NumPy (a distribution loads it when first sampled),
    # no engine (the catalog a workflow prices with lives in the spec, sim.spec.catalog)
    loaded = loaded_by("validate", str(SUPPORT))
    assert {name if name.startswith("sim.") else name.split(".")[0] for name in loaded} == {"pydantic"}
    ours = sim_modules_loaded_by("validate", str(SUPPORT))
    assert {name.split(".")[1] for name in ours if name.count(".")} == {"cli", "core", "spec", "run"}
    assert ours >= {"sim.spec.catalog", "sim.spec.checks"}
    assert {name for name in ours if name.startswith("sim.run.")} == {"sim.run.defaults"}  # the CLI's defaults
    # it prints one plain line (sim.cli.shared.print_line): no rich at all; an error still goes through rich
    assert not {m for m in modules_after("validate", str(SUPPORT)) if m.split(".")[0] == "rich"}


def test_validate_builds_the_spec_without_reading_its_source():
    # pydantic's use_attribute_docstrings would parse every spec class's source at import: the field
    # docstrings are read only when a JSON Schema is asked for (sim.spec.schema)
    code = ("import sys\nfrom sim.spec.workflow import Workflow\n"
            "print(Workflow.model_fields['name'].description, 'sim.spec.schema' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.stdout.split() == ["None", "False"], proc.stderr


def test_the_spec_is_built_on_first_use_and_once():
    # SpecModel's defer_build: importing the spec builds no model; validating a file builds the Workflow's
    # schema (every block inside it) and no block on its own but those a default makes (Fixed, Backoff,
    # TokenizerSetting: a few milliseconds); no builtin default factory (list, dict) sends pydantic's
    # signature reading through the tokenize module's pattern
    code = textwrap.dedent("""
        import sys, tokenize
        from pydantic import BaseModel
        import sim.spec.workflow, sim.spec.loader

        def built():
            todo, seen = [BaseModel], set()
            while todo:
                for sub in todo.pop().__subclasses__():
                    todo.append(sub)
                    if sub.__module__.startswith("sim.spec") and sub.__pydantic_complete__:
                        seen.add(sub.__name__)
            return sorted(seen)

        print(built())
        sim.spec.loader.load_workflow(sys.argv[1])
        print(built())
        print(tokenize._compile.cache_info().currsize)
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(SUPPORT)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    before, after, tokenize_patterns = proc.stdout.splitlines()
    assert before == "[]", proc.stderr
    assert after == "['Backoff', 'Fixed', 'TokenizerSetting', 'Workflow']"
    assert tokenize_patterns == "0"


@pytest.mark.parametrize("module", ["sim.cli.program", "sim.cli.runs", "sim.cli.analyses", "sim.cli.calibration"])
def test_the_commands_annotations_are_objects_not_strings(module):
    # typer evaluates a string annotation twice per command at every start: no __future__ annotations there
    import importlib
    import inspect

    loaded = importlib.import_module(module)
    commands = [value for value in vars(loaded).values()
                if inspect.isfunction(value) and value.__module__ == module and value.__annotations__]
    assert commands
    assert not [(command.__name__, name) for command in commands
                for name, annotation in command.__annotations__.items() if isinstance(annotation, str)]


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


_CDF_POINTS = np.concatenate([
    [-np.inf, -3.0, -0.5, -1e-300, 0.0, 0.5, 1.0, 1.5, 2.999999, 3.0, 1e6, np.inf, np.nan],
    np.nextafter(np.arange(-1, 60) + 0.5, -np.inf),  # where an integer mean's terms evaluate it
    np.random.default_rng(1).uniform(-5, 80, 500)])


@pytest.mark.parametrize("mean", [0.0, 1e-9, 0.3, 1.8, 7.0, 42.0, 999.5, 1e4, 3e5])
def test_the_poisson_cdf_is_scipy_stats(mean):
    mine = dists.Poisson(poisson={"mean": mean})._raw_cdf(_CDF_POINTS)
    assert np.array_equal(mine, sps.poisson.cdf(_CDF_POINTS, mean), equal_nan=True)


@pytest.mark.parametrize(("median", "sigma"), [(200, 0.5), (1, 2.0), (1e-3, 0.01), (5e3, 1.5)])
def test_the_lognormal_cdf_is_scipy_stats(median, sigma):
    x = np.concatenate([_CDF_POINTS, np.geomspace(1e-6, 1e8, 300)])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(np.maximum(x, 0.0)) - np.log(median)) / sigma
    mine = dists.Lognormal(lognormal={"median": median, "sigma": sigma})._raw_cdf(x)
    assert np.array_equal(mine, sps.norm.cdf(z), equal_nan=True)


def test_a_default_run_loads_no_scipy_stats(tmp_path):
    # its workload check sums a Poisson loop count's terms (the CDF above); the draws need scipy.special only
    loaded = modules_after("run", str(SUPPORT), "--tasks", "100", "--out", str(tmp_path / "run"))
    assert "scipy.special" in loaded and "scipy.stats" not in loaded
    # the vectorised engine runs it: SimPy and the SimPy engine load only when that engine runs
    assert not {name for name in loaded if name.split(".")[0] == "simpy"} and "sim.engine.des" not in loaded
    # nor the progress bar's columns: a run of this length (and any run with its output redirected) shows none
    assert "sim.cli.progress" in loaded and "rich.progress" not in loaded


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
    taskfile.write_tasks_csv(result, here.write)
    monkeypatch.setattr(taskfile, "CSV_PIECE_ROWS", 60)  # 13 pieces of the 750 rows
    monkeypatch.setattr(taskfile, "PARALLEL_MIN_WORK_S", 0.0)  # worth a pool however short
    pieces: list[str] = []
    with ProcessExecutor(2) as pool:
        taskfile.write_tasks_csv(result, pieces.append, executor=pool)
        assert pool._pool is not None  # the workers did format them
    assert len(pieces) == 1 + 3 * 5 and "".join(pieces) == here.getvalue() == taskfile.tasks_csv(result)


def _plain_csv_rows(name: str, tasks, first: int) -> str:
    """The rows as the csv module writes them, row by row (how the tasks file was first written)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for i in range(len(tasks)):
        writer.writerow([first + i, name, *(int(tasks.columns[f][i]) if f == "success" else tasks.columns[f][i].item()
                                           for f in TASK_FIELDS)])
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["baseline", "gpt-4.1", "a,b", 'say "hi"', "", " spaced ", "x\ny"])
def test_the_tasks_file_rows_are_the_csv_modules_text(name):
    # column by column (constant columns formatted once) gives the csv module's text, quoting, -0.0, nan,
    # huge and tiny floats, broadcast zero columns and constant non-zero columns included
    rng = np.random.default_rng(5)
    n = 257
    odd = np.array([-0.0, 0.0, np.nan, 1e16, 1e-5, 123456789.125, -1.5, 1e300, 5e-324])
    columns = {}
    for i, (field, dtype) in enumerate(TASK_FIELDS.items()):
        kind = i % 5
        if kind == 0:
            columns[field] = zeros(n, dtype)
        elif np.dtype(dtype).kind == "f":
            columns[field] = (rng.choice(odd, n) if kind == 1 else np.full(n, -0.0) if kind == 2
                              else np.full(n, 0.25) if kind == 3 else rng.lognormal(size=n))
        elif np.dtype(dtype).kind == "b":
            columns[field] = rng.random(n) < 0.5 if kind != 2 else np.zeros(n, dtype=bool)
        else:
            info = np.iinfo(dtype)
            columns[field] = (np.full(n, info.min, dtype=dtype) if kind == 2
                              else rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True))
    tasks = TaskColumns(columns)
    assert taskfile._csv_piece((name, tasks, 1000)) == _plain_csv_rows(name, tasks, 1000)
    empty = TaskColumns({field: column[:0] for field, column in columns.items()})
    assert taskfile._csv_piece((name, empty, 0)) == ""


#: Values a column of each kind may take: the odd floats of the test above, and integers at the ends of
#: their types and around zero.
_ODD_FLOATS = (-0.0, 0.0, math.nan, math.inf, 1e16, 1e-5, 0.1, 123456789.125, -1.5, 5e-324)


@st.composite
def _few_valued_columns(draw) -> TaskColumns:
    """Columns of a few distinct values each (so that each value's text is made once: the shortcut
    :func:`taskfile._column_texts` takes when at most half the values are distinct), or of one."""
    n = draw(st.integers(1, 40))
    columns = {}
    for field, dtype in TASK_FIELDS.items():
        kind = np.dtype(dtype)
        if kind.kind == "f":
            pool = st.sampled_from(_ODD_FLOATS)
        elif kind.kind == "b":
            pool = st.booleans()
        else:
            info = np.iinfo(kind)
            pool = st.sampled_from((int(info.min), -1, 0, 1, 7, int(info.max))).filter(
                lambda value, info=info: info.min <= value <= info.max)
        values = draw(st.lists(pool, min_size=1, max_size=3))
        picks = draw(st.lists(st.integers(0, len(values) - 1), min_size=n, max_size=n))
        columns[field] = np.array([values[pick] for pick in picks], dtype=kind)
    return TaskColumns(columns)


@settings(max_examples=150, deadline=None)
@given(tasks=_few_valued_columns(), first=st.integers(0, 10**9), name=st.sampled_from(["baseline", 'a,"b"']))
def test_the_tasks_file_rows_of_few_valued_columns_are_the_csv_modules_text(tasks, first, name):
    # each distinct value formatted once, runs of one-valued columns joined once: the same text, -0.0 next to
    # 0.0 and nan included
    assert taskfile._csv_piece((name, tasks, first)) == _plain_csv_rows(name, tasks, first)


def test_a_runs_tasks_file_is_the_csv_modules_text():
    result = simulate(load_workflow(SUPPORT), 300, 4)
    header = "task,alternative," + ",".join(TASK_FIELDS) + "\n"
    assert taskfile.tasks_csv(result) == header + "".join(_plain_csv_rows(run.name, run.tasks, 0)
                                                         for run in result.alternatives)


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


# A helper terminated while its child renders the SVG (a Ctrl-C during a large run's tasks file) kills the
# child and reaps it: no zombie. This process is made the subreaper of its orphans, so that a child the
# helper left unreaped would stay here as a zombie (init, which else adopts it, may reap it at once).
_HELPER_TERMINATED = """
import ctypes, os, signal, time
from sim.output import plot_helper, plots
assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
told, tell = os.pipe()
def slow(figure, fmt="png"):
    if fmt == "svg":
        os.write(tell, str(os.getpid()).encode())
        time.sleep(60)
    return b""
plots.figure_bytes, plots.run_cost_figure = slow, lambda costs, summary: None
helper = os.fork()
if helper == 0:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    fork = os.fork
    def fork_then_dawdle():  # the helper lingers after forking the SVG child: a SIGTERM comes meanwhile
        pid = fork()
        if pid:
            time.sleep(0.3)
        return pid
    os.fork = fork_then_dawdle
    plot_helper._draw(plots, {}, {})
    os._exit(0)
child = int(os.read(told, 32))  # the SVG child, rendering
os.kill(helper, signal.SIGTERM)
os.waitpid(helper, 0)
time.sleep(0.3)
try:
    state = open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0]
except FileNotFoundError:
    state = "gone"
assert state == "gone", f"the SVG child is left in state {state}"
"""


@pytest.mark.skipif((__import__("os").cpu_count() or 1) < 2, reason="the helper needs two cores")
@pytest.mark.parametrize("code", [_HELPER_SAME_BYTES, _HELPER_DIED, _HELPER_TERMINATED],
                         ids=["same-bytes", "helper-died", "helper-terminated"])
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
    # a helper started ahead of the arguments (start_ahead), which the run never takes: a usage error
    code, _, err = costsim_in_process(monkeypatch, capsys, "run", SUPPORT, "--no-such-option")
    assert code == 2 and "--no-such-option" in err
    assert multiprocessing.active_children() == [] and plot_helper._open == set() and plot_helper._ahead == []


_HELPER_AHEAD = """
import sys
from sim.output import plot_helper
plot_helper.start_ahead()
(ahead,) = plot_helper._ahead
assert plot_helper.PlotHelper.start() is ahead and plot_helper._ahead == []  # the run takes it
other = plot_helper.PlotHelper.start()
assert other is not None and other is not ahead  # then a helper of its own
for helper in (ahead, other):
    helper.close()
    assert not helper._process.is_alive()
plot_helper.start_ahead()
plot_helper.stop_all()  # a command that failed before its run took the helper
assert plot_helper._ahead == [] and plot_helper._open == set()
"""


@pytest.mark.skipif((__import__("os").cpu_count() or 1) < 2, reason="the helper needs two cores")
def test_a_plot_helper_started_ahead_is_taken_once_and_never_left():
    proc = subprocess.run([sys.executable, "-c", _HELPER_AHEAD], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr




@pytest.mark.skipif((__import__("os").cpu_count() or 1) < 2, reason="the helper needs two cores")
def test_the_executable_forks_the_plot_helper_before_loading_the_command_line(tmp_path):
    # `costsim run`: the executable's entry point (sim.cli.console) forks the helper before it imports the
    # command line; main's own start_ahead then finds it and forks no other; the run takes that one, and
    # it is closed at the end (or after a usage error). Printed at the process's last step: each
    # PlotHelper.start with whether the command line was loaded and the helper's pid, then what is left open.
    code = (
        "import json, os, sys\n"
        "from sim.output import plot_helper\n"
        "started = []\n"
        "real_start = plot_helper.PlotHelper.start.__func__\n"
        "def start(cls):\n"
        "    helper = real_start(cls)\n"
        "    started.append(['sim.cli.program' in sys.modules, helper._process.pid if helper else None])\n"
        "    return helper\n"
        "plot_helper.PlotHelper.start = classmethod(start)\n"
        "real_exit = os._exit\n"
        "def leave(code):\n"
        "    print(json.dumps([started, len(plot_helper._open), len(plot_helper._ahead), code]))\n"
        "    sys.stdout.flush()\n"
        "    real_exit(code)\n"
        "os._exit = leave\n"
        "sys.argv = ['costsim', *sys.argv[1:]]\n"
        "from sim.cli import console\n"
        "console()\n")

    def run(*argv: str) -> list:
        proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
        return json.loads(proc.stdout.splitlines()[-1])

    started, still_open, ahead, exit_code = run("run", str(SUPPORT), "-n", "50", "--out", str(tmp_path / "run"),
                                                "--format", "json")
    assert exit_code == 0 and (tmp_path / "run" / "cost-per-task.png").is_file()
    (first_loaded, first_pid), (taken_loaded, taken_pid) = started  # forked first; the run's start takes it
    assert not first_loaded and taken_loaded and first_pid == taken_pid
    assert still_open == ahead == 0
    started, still_open, ahead, exit_code = run("run", str(SUPPORT), "--no-such-option")
    assert exit_code == 2 and [loaded for loaded, _ in started] == [False] and still_open == ahead == 0
    for argv in (("validate", str(SUPPORT)), ("run", "--help")):  # no plot: no helper
        assert run(*argv) == [[], 0, 0, 0]


def test_a_short_tasks_file_starts_no_pool_even_when_one_was_asked_for():
    result = simulate(load_workflow(SUPPORT), 50_000, 12)  # 150,000 rows: about a second of formatting
    with ProcessExecutor(2) as pool:
        taskfile.write_tasks_csv(result, lambda text: None, executor=pool)
        assert not pool.started


@pytest.mark.parametrize("path", sorted((ROOT / "workflows").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_rough_workload_is_near_the_exact_one(path):
    # warm_for decides from it whether a run is long enough for a pool; check_workload refuses from the exact
    from sim.run.workload import estimate, rough_calls

    spec = load_workflow(path)
    exact, rough = estimate(spec, 10_000, 5).calls, rough_calls(spec, 10_000, 5)
    assert rough == pytest.approx(exact, rel=0.1)  # 0.95 at worst among the examples


def test_the_rough_workload_loads_no_scipy():
    # what lets the fork server's imports start before the exact check loads SciPy's CDFs
    code = ("import sys\nfrom sim.spec.loader import load_workflow\n"
            "from sim.run.workload import estimate, rough_calls\n"
            f"spec = load_workflow({str(SUPPORT)!r})\nrough = rough_calls(spec, 10**6, 5)\n"
            "print(rough, 'scipy' in sys.modules)\nprint(estimate(spec, 10**6, 5).calls, 'scipy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT).stdout
    (rough, before), (exact, after) = (line.split() for line in out.splitlines())
    assert (before, after) == ("False", "True")  # the exact mean of the Poisson loop count needs SciPy
    # the support agent's loop count is Poisson(1.8) clamped to at least 1: its rough mean is the unclamped
    # 1.8, its exact mean 1.8 + P(0) = 1.8 + exp(-1.8); the calls differ by that loop's inner calls
    assert float(rough) < float(exact)


def test_the_executable_ends_with_mains_code_and_its_output_complete(tmp_path):
    # console() skips the interpreter's teardown with os._exit: what main printed must be out by then,
    # and its exit code kept, on success, on bad input (2) and on a usage error
    costsim = Path(sys.executable).parent / "costsim"
    run = subprocess.run([str(costsim), "run", str(SUPPORT), "--tasks", "300", "--format", "json",
                          "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["tasks"] == 300  # the whole document: written and flushed
    broken = tmp_path / "broken.yaml"
    broken.write_text(SUPPORT.read_text().replace("steps:", "stepz:", 1))
    bad = subprocess.run([str(costsim), "validate", str(broken)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and len(bad.stderr.splitlines()) == 1
    usage = subprocess.run([str(costsim), "run", "--no-such-option"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "--no-such-option" in usage.stderr
