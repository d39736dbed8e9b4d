"""How a calibration, its fit uncertainty and a backtest are shown: rich tables and one plot."""

from __future__ import annotations

from rich.table import Table

from sim.core.format import share, usd

_LABELS = {"mean": "mean", "p50": "p50", "p95": "p95", "cost_per_success": "$/success"}


def fit_uncertainty_table(uncertainty: dict) -> Table:
    """Per alternative: mean, p50, p95 and cost per success with intervals that include the fit's
    uncertainty, which part dominates, and how many more traced tasks would halve the interval."""
    table = Table(title=f"with the uncertainty of the fit ({uncertainty['traced_tasks']:,} traced tasks, "
                        f"{uncertainty['resamples']} resamples): 95% intervals")
    table.add_column("alternative")
    for label in _LABELS.values():
        table.add_column(label, justify="right")
    table.add_column("dominant (sd of mean)", justify="left")
    table.add_column("to halve it", justify="right")
    for name, stats in uncertainty["alternatives"].items():
        cells = [_interval(stats[key]) for key in _LABELS]
        mean = stats["mean"]
        more = mean["more_traced_tasks_to_halve"]
        advice = (f"+{more:,} traces" if more is not None else "more --tasks") \
            if mean["dominant"] == "fit" else "more --tasks"
        table.add_row(name, *cells, f"{mean['dominant']} ({_pct(mean['sd_fit'], mean['value'])} fit, "
                                    f"{_pct(mean['sd_simulation'], mean['value'])} sim)", advice)
    return table


def _interval(stat: dict) -> str:
    lo, hi = stat["ci95"]
    return f"{usd(stat['value'])} ± {usd((hi - lo) / 2)[1:]}"


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def backtest_table(report: dict) -> Table:
    """Forecast against actual, figure by figure, with the prediction interval for the actual's N tasks."""
    actual, forecast = report["actual"], report["forecast"]
    table = Table(title=f"backtest: forecast ({forecast['alternative']}, {forecast['tasks']:,} simulated tasks) "
                        f"against {actual['tasks']:,} traced tasks")
    for column, justify in (("figure", "left"), ("actual", "right"), ("forecast", "right"),
                            ("95% interval for the actual", "right"), ("error", "right"), ("inside", "center")):
        table.add_column(column, justify=justify)
    for key, error in report["errors"].items():
        show = usd if key.endswith("_usd") else share if key == "success_rate" else _count
        lo, hi = error["ci95"]
        relative = error["relative_error"]
        table.add_row(key, show(actual[key]), show(forecast[key]), f"[{show(lo)}, {show(hi)}]",
                      "n/a" if relative is None else f"{relative:+.1%}", "yes" if error["inside"] else "NO")
    return table


def _count(value: float) -> str:
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def backtest_figure(actual_costs_usd, forecast_costs_usd, title: str):
    """Histogram and empirical CDF of cost per task: the traced tasks against the forecast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    both = np.concatenate([actual_costs_usd, forecast_costs_usd])
    bins = np.linspace(0, float(np.quantile(both, 0.995)) or 1.0, 40)
    for costs, label, style in ((forecast_costs_usd, "forecast", "-"), (actual_costs_usd, "actual (traced)", "--")):
        left.hist(costs, bins=bins, density=True, histtype="step", linestyle=style, label=label)
        ordered = np.sort(costs)
        right.step(ordered, np.arange(1, len(ordered) + 1) / len(ordered), where="post", linestyle=style, label=label)
    left.set_xlabel("cost per task (USD)")
    left.set_ylabel("density")
    right.set_xlabel("cost per task (USD)")
    right.set_ylabel("share of tasks at or below")
    right.legend(loc="lower right")
    figure.suptitle(title)
    figure.tight_layout()
    return figure
