"""Target and feature transforms, and their exact inversion back to the user's units."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmcast.config import DataConfig
from lstmcast.errors import DataError, quote

LAGGED = frozenset({"log_return", "pct_change", "diff"})  # transforms that consume the first row


def rows_consumed(data: DataConfig) -> int:
    """Rows a config's transforms consume at the start of a series (1 when any column takes a lagged difference)."""
    kinds = [data.transform] + ([data.feature_transform] if data.features else [])
    return 1 if any(kind in LAGGED for kind in kinds) else 0


def apply_transform(raw: np.ndarray, kind: str, *, column: str, dates: pd.DatetimeIndex) -> np.ndarray:
    """Transform one column; lagged transforms return NaN in row 0 (there is no previous value)."""
    if kind in {"log", "log_return"} and (raw <= 0).any():
        _refuse_nonpositive(raw <= 0, kind, column, dates)
    if kind == "pct_change" and (raw[:-1] == 0).any():
        _refuse_nonpositive(np.r_[raw[:-1] == 0, False], kind, column, dates)
    if kind == "none":
        return raw.copy()
    if kind == "log":
        return np.log(raw)
    out = np.full_like(raw, np.nan)
    if kind == "log_return":
        out[1:] = np.diff(np.log(raw))
    elif kind == "pct_change":
        out[1:] = raw[1:] / raw[:-1] - 1.0
    elif kind == "diff":
        out[1:] = np.diff(raw)
    else:
        raise ValueError(f"unknown transform {kind!r}")
    return out


def _refuse_nonpositive(mask: np.ndarray, kind: str, column: str, dates: pd.DatetimeIndex) -> None:
    where = dates[mask]
    shown = ", ".join(str(d.date()) for d in where[:5]) + (f" and {len(where) - 5} more" if len(where) > 5 else "")
    raise DataError(
        f"column {quote(column)}: transform {kind} needs positive values, found zero or negative on {shown}; "
        "use transform: diff or none for this column, or clean those rows"
    )


def invert_target(scaled: np.ndarray, anchor: np.ndarray, *, kind: str, center: float, scale: float) -> np.ndarray:
    """Scaled target predictions [W, H] plus the last observed value [W] -> values in the user's units [W, H]."""
    y = scaled * scale + center
    anchor = anchor[:, None]
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow becomes inf, which callers refuse by name
        if kind == "none":
            return y
        if kind == "log":
            return np.exp(y)
        if kind == "log_return":
            return anchor * np.exp(np.cumsum(y, axis=1))
        if kind == "pct_change":
            return anchor * np.cumprod(1.0 + y, axis=1)
        if kind == "diff":
            return anchor + np.cumsum(y, axis=1)
    raise ValueError(f"unknown transform {kind!r}")
