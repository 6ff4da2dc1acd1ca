"""Interval levels, checked once for the command line and the Python API alike."""

from __future__ import annotations

import math
from typing import Any

from lstmcast.errors import ConfigError


def checked_levels(levels: Any, *, what: str = "levels") -> list[float]:
    """Coverage levels in percent, sorted: numbers from 1 to 99.99 with at most two decimals, each once (so every
    level has its own column name, lower_80 or lower_97.5)."""
    if isinstance(levels, (str, bytes)) or not hasattr(levels, "__iter__"):
        raise ConfigError(f"{what}: give a list of coverage levels in percent, e.g. [80, 95]")
    try:
        values = [float(level) for level in levels]
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: give coverage levels in percent, e.g. 80,95") from None
    if any(not (math.isfinite(v) and 1 <= v < 100 and round(v, 2) == v) for v in values):
        raise ConfigError(f"{what}: each level is a percentage from 1 to 99.99 with at most two decimals (80, not "
                          "0.8)")
    if len(set(values)) != len(values):
        raise ConfigError(f"{what}: a level is given twice")
    return sorted(values)
