"""Plots: each answers one question, in one style; the only module that imports matplotlib.

Every function takes plain data (names, numbers, NumPy arrays), so any producer can feed it: a run,
a sweep, a monthly forecast. Each returns a :class:`~matplotlib.figure.Figure`; :func:`write_figure`
saves it as PNG and SVG, :func:`figure_bytes` renders it in memory (for the HTML report).

| function | the question it answers |
| --- | --- |
| :func:`cost_distribution_figure` | how is the cost of one task spread, per alternative? (histogram + ECDF) |
| :func:`cost_success_figure` | which alternatives are worth it: cheaper *and* more successful? (Pareto front) |
| :func:`sweep_figure` | how do cost and success move as one parameter changes? |
| :func:`monthly_bill_figure` | how much could the monthly bill vary, per alternative? |
| :func:`tornado_figure` | which inputs drive the mean cost most? |
| :func:`breakeven_plot` | at what daily volume does a self-hosted model beat paying per token? |

One style throughout: the same colour for the same alternative in every figure (in the order given,
the baseline first), costs in USD on the x axis of distributions and the y axis of trends, quantiles
marked with the same shapes (circle p50, triangle p95, square p99). Every data series carries a
``gid`` (``"ecdf:baseline"``, ``"front"``, ...), which names it in SVG output and lets tests count them.

Same data, same bytes: PNG files carry no software tag, SVG files no date and a fixed id salt.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter, PercentFormatter  # noqa: E402

from sim.core.files import atomic_write  # noqa: E402
from sim.core.format import usd  # noqa: E402

#: Okabe & Ito's palette, readable with every common colour-vision deficiency; alternative i gets colour i.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
#: Quantile key -> (share of tasks at or below it, marker) as marked on cost distributions.
QUANTILE_MARKS = {"p50": (0.50, "o"), "p95": (0.95, "^"), "p99": (0.99, "s")}
FORMATS = ("png", "svg")
#: The most steps an empirical CDF is drawn with (:func:`ecdf_steps`). A figure's ECDF panel is about 330
#: pixels tall at ``savefig.dpi``, so a curve kept to within 1/20,000 of its height is off by at most 0.02
#: pixel; drawing every task of a run of a million tasks (three alternatives) took about two seconds of
#: CPU for nothing anyone can see.
ECDF_MOST_STEPS = 20_000

_STYLE = {
    "figure.figsize": (8, 4.8), "figure.dpi": 100, "savefig.dpi": 120, "font.size": 10,
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "axes.titlesize": 11, "axes.titleweight": "bold", "legend.frameon": False,
    "svg.hashsalt": "costsim", "svg.fonttype": "path",
    "figure.autolayout": False, "figure.constrained_layout.use": False,  # each figure lays itself out once
}
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}}


def _lay_out(fig: Figure) -> None:
    """Lay ``fig`` out once (``tight_layout``), then drop its layout engine.

    ``tight_layout`` leaves a placeholder engine on the figure, and matplotlib draws a figure that has any
    engine twice per save: once unseen, to lay it out again, then for real. The layout is done already, so
    without the engine each save draws once: the same bytes in about half the time (a run's plot is saved
    as PNG and SVG, and its drawing is what a short run waits for).
    """
    fig.tight_layout()
    fig.set_layout_engine(None)  # None, not "none" (the placeholder); _STYLE turns the rc's autolayout off


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(_STYLE):
        yield


def prepare() -> None:
    """Load now what matplotlib loads at a figure's first save (the PNG and SVG backends, Pillow's image
    plugins, the default font), and make the next :func:`cost_distribution_figure`'s blank figure ahead.

    :class:`~sim.output.plot_helper.PlotHelper` calls it while it waits for a run's costs, so that drawing
    them takes only the drawing. What is drawn does not change: the blank figure is the one
    :func:`cost_distribution_figure` would make, with its axes' tick objects made ahead too (making ticks is
    a third of building a run's figure: ``tight_layout`` measures every tick label); the figure takes
    the ticks it needs from them and never draws the others. A test holds the bytes to those drawn
    without it.
    """
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.backends.backend_svg  # noqa: F401
    from matplotlib import font_manager
    from PIL import Image

    Image.preinit()
    with _style():
        font_manager.get_font(font_manager.findfont(font_manager.FontProperties()))
        fig, hist_ax, ecdf_ax = _blank_distribution_figure()
        for ax in (hist_ax, ecdf_ax):
            for axis, (major, minor) in ((ax.xaxis, TICKS_AHEAD["x"]), (ax.yaxis, TICKS_AHEAD["y"])):
                axis.get_major_ticks(major)
                axis.get_minor_ticks(minor)
    _blanks_ahead[:] = [(fig, hist_ax, ecdf_ax)]


#: Tick objects :func:`prepare` makes ahead on each axis of a run's figure, (major, minor): as many as a log
#: cost axis over three decades shows (its minor ticks at 2 to 9 of each decade), and a share axis.
TICKS_AHEAD = {"x": (8, 30), "y": (11, 0)}
#: The blank figure made by :func:`prepare` for the next cost distribution (used once).
_blanks_ahead: list[tuple[Figure, Axes, Axes]] = []


def _blank_distribution_figure() -> tuple[Figure, Axes, Axes]:
    """The cost distribution's figure with its two axes, nothing drawn (call it inside :func:`_style`)."""
    fig = Figure(figsize=(11, 4.6))
    hist_ax, ecdf_ax = fig.subplots(1, 2, sharex=True)
    return fig, hist_ax, ecdf_ax


def colours(names: Sequence[str]) -> dict[str, str]:
    """The colour of each alternative: the same name at the same position gets the same colour everywhere."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _usd_axis(axis, log: bool) -> None:
    """Dollar tick labels, written as every other amount is (:func:`sim.core.format.usd`) with the digits a
    tick needs ($0.125, $0.00001, never $1e-05)."""
    axis.set_major_formatter(FuncFormatter(lambda value, _: usd(value, digits=6)))
    if log:
        axis.set_minor_formatter(NullFormatter())


def _wide(values: np.ndarray) -> bool:
    """True when positive values span more than a factor of 20: a log axis then shows them better."""
    positive = values[values > 0]
    return positive.size > 0 and positive.max() / positive.min() > 20


# -- how is the cost of a task spread? -----------------------------------------------------------------


def ecdf_steps(sorted_values: np.ndarray, most: int = ECDF_MOST_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """The steps of the empirical CDF of ``sorted_values`` (ascending) to draw ``where="post"``: ``(x, y)``
    with ``y[i]`` the share of values at or below ``x[i]``.

    Up to ``most`` values, every value is a step (``x`` is ``sorted_values``, ``y`` is ``1/n, 2/n, ...,
    1``). Above, the steps at ``most`` ranks spread evenly from the first to the last value are kept: the
    curve drawn from them is nowhere further than ``1/(most - 1)`` of the axis from the exact one, because
    between two kept ranks the exact curve rises by no more than their distance in ranks, ``n/(most - 1)``
    values at most, and both curves meet at every kept step."""
    n = sorted_values.size
    if n <= most:
        return sorted_values, np.arange(1, n + 1) / n
    ranks = np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))
    return sorted_values[ranks], (ranks + 1) / n


def cost_distribution_figure(
    costs_usd: Mapping[str, np.ndarray],
    marks_usd: Mapping[str, Mapping[str, float | None]] | None = None,
    title: str = "cost per task",
) -> Figure:
    """Histogram (left) and empirical CDF (right) of cost per task, one series per alternative.

    ``costs_usd`` maps alternative -> per-task costs; ``marks_usd`` maps alternative -> ``{"p50": ...,
    "p95": ..., "p99": ...}`` (a run's summary values, so the figure agrees with the table; a ``None``
    quantile is not marked). Without ``marks_usd`` the quantiles are computed from the costs.
    Series: ``hist:NAME`` and ``ecdf:NAME`` per alternative, ``mark:NAME:pXX`` per marked quantile.
    """
    names = list(costs_usd)
    colour = colours(names)
    every_cost = np.concatenate([np.asarray(c, dtype=float) for c in costs_usd.values()])
    log = _wide(every_cost)
    if log:
        positive = every_cost[every_cost > 0]
        bins = np.geomspace(positive.min(), positive.max(), 50)
    else:
        bins = np.linspace(every_cost.min(), every_cost.max() if every_cost.max() > every_cost.min()
                           else every_cost.min() + 1e-9, 50)
    with _style():
        fig, hist_ax, ecdf_ax = _blanks_ahead.pop() if _blanks_ahead else _blank_distribution_figure()
        for name in names:
            costs = np.sort(np.asarray(costs_usd[name], dtype=float))
            share = np.full(costs.size, 1.0 / costs.size)
            _, _, patches = hist_ax.hist(costs, bins=bins, weights=share, histtype="step", linewidth=1.5,
                                         color=colour[name], label=name)
            patches[0].set_gid(f"hist:{name}")
            ecdf_ax.step(*ecdf_steps(costs), where="post", linewidth=1.6,
                         color=colour[name], label=name, gid=f"ecdf:{name}")
            if marks_usd is None:
                marks = {key: float(np.quantile(costs, q)) for key, (q, _) in QUANTILE_MARKS.items()}
            else:
                marks = marks_usd.get(name, {})
            for key, (q, marker) in QUANTILE_MARKS.items():
                value = marks.get(key)
                if value is None:
                    continue
                ecdf_ax.plot([value], [q], marker=marker, color=colour[name], markersize=7, linestyle="none",
                             zorder=3, gid=f"mark:{name}:{key}")
                # the same mark along the histogram's top edge: where the quantile falls among the bars
                hist_ax.plot([value], [0.96], marker=marker, color=colour[name], markersize=6, linestyle="none",
                             transform=hist_ax.get_xaxis_transform(), clip_on=False, zorder=3)
        for q in (0.5, 0.95, 0.99):
            ecdf_ax.axhline(q, color="0.6", linewidth=0.7, linestyle=":")
        if log:
            hist_ax.set_xscale("log")
        for ax in (hist_ax, ecdf_ax):
            _usd_axis(ax.xaxis, log)
            ax.set_xlabel("cost per task (USD" + (", log scale)" if log else ")"))
        hist_ax.set_ylim(0, hist_ax.get_ylim()[1] * 1.12)  # headroom for the quantile marks
        hist_ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        hist_ax.set_ylabel("share of tasks per bin")
        hist_ax.set_title("how often each cost occurs")
        ecdf_ax.set_ylabel("share of tasks costing at most x")
        ecdf_ax.set_ylim(0, 1.02)
        ecdf_ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ecdf_ax.set_title("share of tasks at or below a cost")
        shapes = [Line2D([], [], color="0.3", marker=marker, linestyle="none", label=key)
                  for key, (_, marker) in QUANTILE_MARKS.items()]
        ecdf_ax.legend(handles=[*ecdf_ax.get_legend_handles_labels()[0], *shapes], loc="lower right")
        fig.suptitle(title, fontweight="bold")
        _lay_out(fig)
    return fig


# -- which alternatives are worth it? ------------------------------------------------------------------


def pareto_front(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """Names of the alternatives no other beats on both counts, cheapest first.

    ``points`` maps alternative -> ``(mean_cost_usd, success_rate)``. An alternative is dominated when
    another costs no more and succeeds no less often, and is strictly better on one of the two.
    """
    def dominated(name: str) -> bool:
        cost, success = points[name]
        return any(c <= cost and s >= success and (c < cost or s > success)
                   for other, (c, s) in points.items() if other != name)

    return sorted((name for name in points if not dominated(name)), key=lambda n: (points[n][0], -points[n][1]))


def cost_success_figure(points: Mapping[str, tuple[float, float]], title: str = "cost against success") -> Figure:
    """Mean cost per task (x) against success rate (y): the Pareto front joined, dominated points hollow.

    ``points`` maps alternative -> ``(mean_cost_usd, success_rate)``. Series: ``point:NAME`` per
    alternative and one ``front`` line through the non-dominated ones.
    """
    names = list(points)
    colour = colours(names)
    front = pareto_front(points)
    with _style():
        fig = Figure()
        ax = fig.subplots()
        costs = np.array([points[n][0] for n in names])
        log = _wide(costs)
        ax.plot([points[n][0] for n in front], [points[n][1] for n in front], color="0.5", linewidth=1.2,
                linestyle="--", zorder=1, gid="front", label="Pareto front")
        for name in names:
            cost, success = points[name]
            on_front = name in front
            ax.plot([cost], [success], marker="o", markersize=9, linestyle="none", color=colour[name],
                    markerfacecolor=colour[name] if on_front else "white", markeredgewidth=1.8, zorder=3,
                    gid=f"point:{name}", label=name if on_front else f"{name} (dominated)")
            ax.annotate(name, (cost, success), textcoords="offset points", xytext=(7, 5), fontsize=9)
        if log:
            ax.set_xscale("log")
        _usd_axis(ax.xaxis, log)
        ax.margins(x=0.15, y=0.2)
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, 0.0), min(high, 1.0 + (high - low) * 0.05))  # a share: never far past 100%
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))  # decimals as the range needs
        ax.set_xlabel("mean cost per task (USD)" + (", log scale" if log else ""))
        ax.set_ylabel("tasks that succeed")
        ax.set_title(title)
        ax.legend(loc="best", fontsize=9)
        _lay_out(fig)
    return fig


# -- how do cost and success move with a parameter? ----------------------------------------------------


def sweep_figure(
    parameter: str,
    x_values: Sequence[float],
    series: Mapping[str, Mapping[str, Sequence[float]]],
    title: str = "",
) -> Figure:
    """Cost (top: mean solid, p95 dashed) and success rate (bottom) against a swept parameter.

    ``series`` maps alternative -> ``{"mean_cost_usd": [...], "success_rate": [...]}`` and optionally
    ``"p95_cost_usd": [...]``, one value per x. Series: ``mean:NAME``, ``p95:NAME``, ``success:NAME``.
    """
    names = list(series)
    colour = colours(names)
    x = np.asarray(x_values, dtype=float)
    with _style():
        fig = Figure(figsize=(8, 6.4))
        cost_ax, success_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        for name in names:
            values = series[name]
            cost_ax.plot(x, values["mean_cost_usd"], marker="o", color=colour[name], linewidth=1.6,
                         label=f"{name} mean", gid=f"mean:{name}")
            if values.get("p95_cost_usd") is not None:
                cost_ax.plot(x, values["p95_cost_usd"], marker="^", color=colour[name], linewidth=1.2,
                             linestyle="--", label=f"{name} p95", gid=f"p95:{name}")
            success_ax.plot(x, values["success_rate"], marker="o", color=colour[name], linewidth=1.6,
                            label=name, gid=f"success:{name}")
        _usd_axis(cost_ax.yaxis, log=False)
        cost_ax.set_ylabel("cost per task (USD)")
        cost_ax.legend(loc="best", fontsize=9, ncols=2)
        success_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        success_ax.set_ylabel("tasks that succeed")
        success_ax.set_xlabel(parameter)
        cost_ax.set_title(title or f"cost and success as {parameter} changes")
        _lay_out(fig)
    return fig


# -- how much could the monthly bill vary? -------------------------------------------------------------


def monthly_bill_figure(
    bills_usd: Mapping[str, Mapping[str, float]], title: str = "monthly bill", period: str = "month"
) -> Figure:
    """One horizontal interval per alternative: p5 to p95 of the bill, the p50 marked.

    ``bills_usd`` maps alternative -> ``{"p5": ..., "p50": ..., "p95": ...}`` in USD per ``period``
    (a run's ``bill`` entries fit as they are).
    Series: ``interval:NAME`` and ``median:NAME`` per alternative (the first alternative on top).
    """
    names = list(bills_usd)
    colour = colours(names)
    with _style():
        fig = Figure(figsize=(8, 1.6 + 0.6 * len(names)))
        ax = fig.subplots()
        for row, name in enumerate(names):
            y = len(names) - 1 - row
            bill = bills_usd[name]
            ax.plot([bill["p5"], bill["p95"]], [y, y], color=colour[name], linewidth=6, alpha=0.45,
                    solid_capstyle="butt", gid=f"interval:{name}")
            ax.plot([bill["p50"]], [y], marker="o", color=colour[name], markersize=9, linestyle="none",
                    gid=f"median:{name}")
            ax.annotate(usd(bill["p50"]), (bill["p50"], y), textcoords="offset points", xytext=(0, 9),
                        ha="center", fontsize=9)
        ax.set_yticks(range(len(names)), list(reversed(names)))
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_xlim(left=0)  # a bill starts at nothing: bar lengths compare as amounts
        _usd_axis(ax.xaxis, log=False)
        ax.set_xlabel(f"USD per {period} (bar: 5th to 95th percentile, dot: median)")
        ax.set_title(title)
        _lay_out(fig)
    return fig


# -- what drives cost? ---------------------------------------------------------------------------------


def tornado_figure(
    effects_usd: Mapping[str, tuple[float, float]],
    base_mean_usd: float,
    title: str = "what drives the mean cost per task",
) -> Figure:
    """Per input, bars from the base mean cost to the mean cost at the input's low and high value.

    ``effects_usd`` maps an input's label (say ``"search.fail 0.02 / 0.20"``) -> ``(mean cost with the
    input low, mean cost with it high)``. The widest swing is drawn on top. Series: ``low:INPUT`` and
    ``high:INPUT`` bars per input.
    """
    order = sorted(effects_usd, key=lambda k: abs(effects_usd[k][1] - effects_usd[k][0]))  # widest last = top
    with _style():
        fig = Figure(figsize=(8, 1.4 + 0.55 * len(order)))
        ax = fig.subplots()
        for y, label in enumerate(order):
            low, high = effects_usd[label]
            for kind, value, colour in (("low", low, PALETTE[0]), ("high", high, PALETTE[5])):
                (bar,) = ax.barh([y], [value - base_mean_usd], left=base_mean_usd, height=0.6, color=colour,
                                 alpha=0.8, label=f"input {kind}" if y == 0 else None)
                bar.set_gid(f"{kind}:{label}")
        ax.axvline(base_mean_usd, color="0.2", linewidth=1)
        ax.set_yticks(range(len(order)), order)
        ax.grid(axis="y", visible=False)
        _usd_axis(ax.xaxis, log=False)
        ax.set_xlabel(f"mean cost per task (USD); base {usd(base_mean_usd)}")
        ax.set_title(title)
        ax.legend(loc="lower right", fontsize=9)
        _lay_out(fig)
    return fig


# -- files ---------------------------------------------------------------------------------------------


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """The figure rendered as PNG or SVG bytes: the same figure always gives the same bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format=fmt, metadata=_METADATA[fmt])
    return buffer.getvalue()


def write_figure(fig: Figure, stem: Path) -> dict[str, Path]:
    """Write ``stem.png`` and ``stem.svg``, each atomically; returns their paths by format."""
    written = {}
    for fmt in FORMATS:
        path = stem.with_name(f"{stem.name}.{fmt}")
        data = figure_bytes(fig, fmt)
        atomic_write(path, lambda tmp, data=data: tmp.write_bytes(data))
        written[fmt] = path
    return written


def summary_marks(summary: dict) -> dict[str, dict[str, float | None]]:
    """Each alternative's p50, p95 and p99 from a run's summary (``None`` where too few tasks)."""
    return {entry["name"]: {key: entry["cost_per_task"].get(key) for key in QUANTILE_MARKS}
            for entry in summary["alternatives"]}


def run_cost_figure(costs_usd: Mapping[str, np.ndarray], summary: dict) -> Figure:
    """The cost distribution of a run, titled and marked from its summary."""
    title = f"{summary['workflow']}: cost per task, {summary['tasks']:,} tasks, seed {summary['seed']}"
    sample = summary.get("metadata", {}).get("sketch", {}).get("plot_sample_tasks")
    if sample is not None:
        title += f" (plotted: the first {sample:,})"
    return cost_distribution_figure(costs_usd, summary_marks(summary), title)


def cost_distribution_plot(costs_usd: Mapping[str, np.ndarray], summary: dict, path: Path) -> None:
    """Write a run's cost distribution as PNG to ``path`` (what :func:`sim.output.rundir.write_run` calls with
    :func:`sim.output.rundir.run_costs`)."""
    path.write_bytes(figure_bytes(run_cost_figure(costs_usd, summary), "png"))


def breakeven_plot(report: dict, path: Path, fmt: str = "png") -> None:
    """Monthly bill against daily volume (log-log), one line per alternative, each break-even marked
    (X), the self-hosted server's capacity shaded, a second axis in tokens per month; written as ``fmt``
    to ``path``. ``report`` is :func:`sim.analysis.breakeven.breakeven`'s. Series: ``bill:NAME`` per alternative
    (the self-hosted one in black, the API ones in their usual colours), ``breakeven:NAME`` per crossing."""
    volumes = np.asarray(report["volumes"], dtype=float)
    self_name = report["self_hosted"]
    colour = {**colours([name for name in report["alternatives"] if name != self_name]), self_name: PALETTE[-1]}
    with _style():
        fig = Figure()
        ax = fig.subplots()
        for name, entry in report["alternatives"].items():
            bills = np.asarray(entry["bill_usd_30d"], dtype=float)
            keep = bills > 0
            models = ", ".join(sorted(set(entry["models"].values())))
            ax.plot(volumes[keep], bills[keep], marker=".", color=colour[name], label=f"{name} ({models})",
                    linewidth=2.4 if name == self_name else 1.6, gid=f"bill:{name}")
        self_bills = np.maximum(np.asarray(report["alternatives"][self_name]["bill_usd_30d"], dtype=float), 1e-12)
        for name, found in report["breakeven"].items():
            volume = found["tasks_per_day"]
            if volume is None:
                continue
            bill = float(np.exp(np.interp(np.log(volume), np.log(volumes), np.log(self_bills))))
            ax.plot([volume], [bill], marker="X", color=colour[name], markeredgecolor="black", markersize=11,
                    linestyle="none", zorder=4, gid=f"breakeven:{name}")
            ax.annotate(f"vs {name}: {volume:,.0f}/day\n{found['tokens_per_month'] / 1e6:,.0f}M tokens/month",
                        (volume, bill), xytext=(-12, 14), textcoords="offset points", ha="right", fontsize=8.5)
        capacity = report["capacity"]["tasks_per_day"]
        if capacity is not None and capacity < volumes[-1]:
            ax.axvspan(capacity, volumes[-1], color="0.85", alpha=0.5, zorder=0,
                       label=f"beyond one server's capacity ({capacity:,.0f}/day)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _usd_axis(ax.yaxis, log=True)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        ax.set_xlabel("tasks per day")
        ax.set_ylabel(f"bill per {report['month_days']:g}-day month (USD)")
        entry = report["alternatives"][self_name]
        tasks = sum(entry["tasks_per_month"])
        if tasks > 0:  # a second scale: the same volumes as tokens per month
            per_day = sum(entry["tokens_per_month"]) / tasks * report["month_days"] / 1e6
            top = ax.secondary_xaxis("top", functions=(lambda v: v * per_day, lambda m: m / per_day))
            top.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}M"))
            top.set_xlabel("tokens per month")
        ax.set_title(f"{report['workflow']}: {self_name} ({report['model']}) against paying per token")
        ax.legend(loc="upper left", fontsize=8.5)
        _lay_out(fig)
    path.write_bytes(figure_bytes(fig, fmt))
