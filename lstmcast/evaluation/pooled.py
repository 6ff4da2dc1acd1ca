"""Scores pooled over the series of a panel. Prices of different tickers cannot be summed, so the pooled figures are
scale-free: mean MASE and mean sMAPE/MAPE over series (as in M4), geometric means of the per-series MAE and RMSE
ratios to the random walk (Davydenko and Fildes 2013), and Diebold-Mariano on the cross-sectional mean of each
series' squared errors divided by its own in-sample random-walk variance (known before its first origin)."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import pandas as pd

from lstmcast.evaluation.significance import diebold_mariano

MEANS = ("mase", "mape", "smape", "directional_accuracy")
GEOMETRIC = ("rel_mae", "rel_rmse")


def pooled_metrics(per_series: dict[str, dict[str, dict[str, Optional[float]]]]) -> dict[str, dict[str, Any]]:
    """{forecaster: metrics} from {series: {forecaster: metrics}}; MAE and RMSE (in each series' own units) are not
    pooled, and `series` counts the series behind each figure."""
    names = list(next(iter(per_series.values())))
    pooled: dict[str, dict[str, Any]] = {}
    for name in names:
        rows = [table[name] for table in per_series.values() if name in table]
        row: dict[str, Any] = {"mae": None, "rmse": None, "series": len(rows)}
        for key in MEANS:
            values = [r[key] for r in rows if r.get(key) is not None and math.isfinite(r[key])]
            row[key] = float(np.mean(values)) if values else None
        for key in GEOMETRIC:
            values = [r[key] for r in rows if r.get(key) is not None and r[key] > 0 and math.isfinite(r[key])]
            row[key] = float(np.exp(np.mean(np.log(values)))) if values else None
        row["skill"] = None if row["rel_rmse"] is None else 1.0 - row["rel_rmse"]
        pooled[name] = row
    return pooled


def scaled_losses(forecasts: dict[str, np.ndarray], actual: np.ndarray, dates: pd.DatetimeIndex,
                  history: np.ndarray) -> pd.DataFrame:
    """One series' squared errors, mean over the horizon, divided by the mean squared one-step change of `history`
    (the rows before its first origin): a row per origin date, a column per forecaster."""
    steps = np.diff(np.asarray(history, dtype=np.float64))
    scale = float(np.mean(steps**2)) if len(steps) else math.nan
    if not scale > 0:
        scale = math.nan  # a flat history has no scale: this series drops out of the pooled test
    return pd.DataFrame({name: ((values - actual) ** 2).mean(axis=1) / scale for name, values in forecasts.items()},
                        index=pd.DatetimeIndex(dates))


def pooled_diebold_mariano(losses: dict[str, pd.DataFrame], a: str, b: str, *, lags: int) -> dict[str, Any]:
    """DM on the mean over series of the scaled losses at each origin date (cross-correlation between series is
    absorbed by averaging first); `series` and `dates` say what went in."""
    frames = [frame[[a, b]].dropna() for frame in losses.values() if {a, b} <= set(frame.columns)]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return {"statistic": None, "p_value": None, "n": 0, "note": "no series with finite scaled losses",
                "series": 0}
    stacked = pd.concat(frames)
    mean = stacked.groupby(level=0).mean().sort_index()
    test = diebold_mariano(mean[a].to_numpy(), mean[b].to_numpy(), lags=lags)
    return {**test, "series": len(frames)}
