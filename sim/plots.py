"""Plots of a run; the only module that imports matplotlib (with the file-only Agg backend).

Each plot answers one question. :func:`cost_distribution_plot`: "how is the cost of a task spread, for
each alternative?" as empirical CDFs on one chart, with each alternative's p50 and p95 marked, so the
typical task and the expensive tail can both be read off.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sim.montecarlo import SimulationResult  # noqa: E402

_STYLE = {"figure.figsize": (8, 4.8), "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
          "axes.spines.right": False, "font.size": 10}


def cost_distribution_plot(result: SimulationResult, summary: dict, path: Path) -> None:
    """ECDF of cost per task, one line per alternative, p50 (circle) and p95 (triangle) marked."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots()
        positive = np.concatenate([run.tasks.cost_usd[run.tasks.cost_usd > 0] for run in result.alternatives])
        use_log = positive.size > 0 and positive.max() / max(positive.min(), 1e-12) > 20
        for run, entry in zip(result.alternatives, summary["alternatives"]):
            costs = np.sort(run.tasks.cost_usd)
            share = np.arange(1, costs.size + 1) / costs.size
            (line,) = ax.step(costs, share, where="post", label=run.name, linewidth=1.6)
            for key, q, marker in (("p50", 0.50, "o"), ("p95", 0.95, "^")):
                value = entry["cost_per_task"].get(key)
                if value is not None:
                    ax.plot([value], [q], marker=marker, color=line.get_color(), markersize=7, zorder=3)
        ax.axhline(0.5, color="0.6", linewidth=0.8, linestyle=":")
        ax.axhline(0.95, color="0.6", linewidth=0.8, linestyle=":")
        if use_log:
            ax.set_xscale("log")
        ax.set_xlabel("cost per task (USD)" + (", log scale" if use_log else ""))
        ax.set_ylabel("share of tasks costing at most x")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{result.workflow.name}: cost per task, {result.n_tasks:,} tasks (o p50, ^ p95)")
        ax.legend(loc="lower right", frameon=False)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=120, metadata={"Software": None})
        plt.close(fig)
