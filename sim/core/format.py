"""How costsim writes numbers for people: money, intervals, shares and durations, one way everywhere.

The terminal tables, the plots, the HTML report and every analysis's tables write a dollar amount
through :func:`usd` and a duration through :func:`seconds`, so the same number reads the same wherever
it appears.
"""

from __future__ import annotations

import numpy as np


def usd(value: float | None) -> str:
    """Dollars with three significant digits and no exponent: $0.0102, $0.000054, $12.3, $1,234."""
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value == 0:
        return "$0"
    if value >= 100:
        return f"{sign}${value:,.0f}"
    return f"{sign}${np.format_float_positional(value, precision=3, unique=False, fractional=False, trim='-')}"


def plus_minus(mean: float, ci95: list[float] | None, signed: bool = False) -> str:
    text = usd(mean)
    if signed and mean >= 0:
        text = "+" + text
    if ci95 is None:
        return text
    half_width = float(f"{(ci95[1] - ci95[0]) / 2:.2g}")
    if half_width <= 1e-9 * abs(mean):  # a constant (a GPU rented by the hour): no simulation noise
        return text
    return f"{text} ± {np.format_float_positional(half_width, trim='-')}"


def seconds(value: float | None) -> str:
    if value is None:
        return "too few"
    return f"{value:.2f} s" if value < 60 else f"{value / 60:.1f} min" if value < 3600 else f"{value / 3600:.1f} h"


def ratio(value: float, base: float) -> str:
    """``value / base`` as a percentage (``n/a`` when the base is 0)."""
    return f"{value / base:.1%}" if base else "n/a"


def share(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "<0.1%" if 0 < value < 0.0005 else f"{value:.1%}"
