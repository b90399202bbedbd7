"""Numbers as a planner reads them: durations in s/min/h/days, money, energy, percentages; NaN as n/a."""

from __future__ import annotations

import math
from typing import Any


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "n/a"
    a = abs(seconds)
    if a < 120:
        return f"{seconds:.3g} s" if a < 10 else f"{seconds:.0f} s"
    if a < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if a < 3 * 86400:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 86400:.2f} days"


def number(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    a = abs(value)
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 1:
        return f"{value:.3g}" if a < 10 else f"{value:.1f}"
    return f"{value:.3g}"


def metric(name: str, value: Any) -> str:
    """A value formatted by what its metric name says it is (`_s` seconds, `_usd`, `_kwh`, utilisation...)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return "n/a"
    if name.endswith("_s"):
        return duration(v)
    if name.endswith("_usd"):
        return f"${v:,.2f}"
    if name.endswith("_kwh"):
        return f"{v:,.1f} kWh"
    if "utilisation" in name or name.endswith("_frac"):
        return f"{100 * v:.1f} %"
    return number(v)


def cell(value: Any) -> str:
    """A raw table cell: numbers via `number`, missing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return number(float(value))
    return str(value)


__all__ = ["cell", "duration", "metric", "number"]
