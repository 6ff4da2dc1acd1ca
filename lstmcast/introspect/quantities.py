"""The named quantities a unit may track, one value per row of the series, each computed from that row and the rows
before it (the forecast error excepted: it is the error of the forecast made from that row's state)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

WINDOWS = (5, 21)  # realised volatility over a trading week and a trading month


def returns(price: np.ndarray) -> tuple[np.ndarray, str]:
    """Log returns where every price is positive (NaN at row 0), else differences; with the name used."""
    if (price > 0).all():
        return np.r_[np.nan, np.diff(np.log(price))], "log return"
    return np.r_[np.nan, np.diff(price)], "difference"


def named_quantities(price: np.ndarray, *, volume: Optional[np.ndarray] = None,
                     forecast_error: Optional[np.ndarray] = None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """{name: [M] values} and {name: how it is defined}, from the target in the user's units (and a volume column,
    and the one-step forecast error of each row's forecast, where known). NaN where a value is undefined."""
    step, kind = returns(price.astype(np.float64))
    values = {"return": step, "abs_return": np.abs(step)}
    about = {"return": f"the {kind} into the row", "abs_return": f"|{kind}|"}
    for days in WINDOWS:
        values[f"realised_vol_{days}"] = pd.Series(step).rolling(days, min_periods=days).std(ddof=1).to_numpy()
        about[f"realised_vol_{days}"] = f"sample standard deviation of the last {days} {kind}s"
    peak = np.maximum.accumulate(price)
    if (price > 0).all():
        values["drawdown"], about["drawdown"] = price / peak - 1, "price over its running maximum, minus 1"
    else:
        values["drawdown"], about["drawdown"] = price - peak, "price minus its running maximum"
    if volume is not None:
        values["volume"] = np.log1p(np.maximum(volume.astype(np.float64), 0))
        about["volume"] = "log(1 + volume)"
    if forecast_error is not None:
        values["forecast_error"] = forecast_error.astype(np.float64)
        about["forecast_error"] = "the one-step forecast made at the row minus the next actual value (user units)"
    return values, about
