"""How costsim writes numbers for people: money, intervals, shares and durations, one way everywhere.

The terminal tables, the plots, the HTML report and every analysis's tables write a dollar amount
through :func:`usd` and a duration through :func:`seconds`, so the same number reads the same wherever
it appears: ``$0.0000123`` in a break-even table as in a run's summary, never ``$1.23e-05``. What differs
from one place to another (the word for a missing value, a sign on a difference) is an option of these
two functions, not another copy of them.
"""

from __future__ import annotations

import numpy as np


def usd(value: float | None, *, signed: bool = False, missing: str = "n/a", zero: str | None = None,
        digits: int = 3) -> str:
    """Dollars with three significant digits and no exponent: $0.0102, $0.000054, $12.3, $1,234.

    ``missing`` is written for ``None`` (a quantile of too few tasks: "too few"); ``signed`` writes a
    ``+`` before an amount that is not negative, as a difference reads (+$0.0021, +$0); ``zero``, when
    given, is written for exactly 0 instead of an amount (a sensitivity's "0": no effect at all).
    ``digits``: significant digits below $100 (an axis tick such as $1.125 needs more than three; trailing
    zeros are never written). From $100 up, whole dollars.
    """
    if value is None:
        return missing
    if value == 0 and zero is not None:
        return zero
    sign = "-" if value < 0 else "+" if signed else ""
    value = abs(value)
    if value == 0:
        return f"{sign}$0"
    if value >= 100:
        return f"{sign}${value:,.0f}"
    return f"{sign}${np.format_float_positional(value, precision=digits, unique=False, fractional=False, trim='-')}"


def plus_minus(mean: float, ci95: list[float] | None, signed: bool = False) -> str:
    """A mean and the half-width of its 95% interval: ``$0.0102 ± 0.0001`` (no ± for a constant)."""
    text = usd(mean, signed=signed)
    if ci95 is None:
        return text
    half_width = float(f"{(ci95[1] - ci95[0]) / 2:.2g}")
    if half_width <= 1e-9 * abs(mean):  # a constant (a GPU rented by the hour): no simulation noise
        return text
    return f"{text} ± {np.format_float_positional(half_width, trim='-')}"


def seconds(value: float | None, *, missing: str = "too few") -> str:
    """A duration in the unit that reads best: 0.42 s, 12.35 s under a minute, 4.5 min under an hour,
    2.1 h (1,234.5 h) beyond; ``missing`` for ``None`` (a quantile of too few tasks)."""
    if value is None:
        return missing
    if value < 60:
        return f"{value:.2f} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:,.1f} h"


def ratio(value: float, base: float) -> str:
    """``value / base`` as a percentage (``n/a`` when the base is 0)."""
    return f"{value / base:.1%}" if base else "n/a"


def share(value: float | None, *, decimals: int = 1) -> str:
    """A share (of tasks, of replications) as a percentage with ``decimals`` decimals, never rounded onto
    a bound it is not on: a share above 0 that would show as 0.0% shows as ``<0.1%``, a share below 1 that
    would show as 100.0% shows as ``>99.9%`` (so a success of 99.95% never reads "100.0%" beside a failure
    of 0.05%). ``n/a`` for ``None``. Every percentage costsim shows (tables, the HTML report, the analyses)
    goes through here; the CSV and JSON files hold the exact value.
    """
    if value is None:
        return "n/a"
    text = f"{value:.{decimals}%}"
    step = 10.0 ** -decimals
    if 0 < value and text == f"{0:.{decimals}%}":
        return f"<{step:.{decimals}f}%"
    if value < 1 and text == f"{1:.{decimals}%}":
        return f">{100 - step:.{decimals}f}%"
    return text


def share_interval(value: float, ci95: list[float] | None, *, decimals: int = 1) -> str:
    """A share and its 95% interval: ``20.0% (0.5–71.6%)``; the share alone when there is no interval."""
    text = share(value, decimals=decimals)
    if ci95 is None:
        return text
    low, high = (share(bound, decimals=decimals) for bound in ci95)
    return f"{text} ({low.rstrip('%')}–{high})"
