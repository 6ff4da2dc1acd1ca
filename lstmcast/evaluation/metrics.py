"""Point-forecast metrics in the user's units, and their comparison with the random walk.

Shapes: actual and forecast [W, H] (W origins, H horizon steps; NaN where unknown), anchor [W] the last observed
value at each origin. MASE has one definition everywhere: the mean over steps k of MAE_k / s_k, where s_k is the
in-sample k-step naive error, mean |y_t - y_{t-k}| over the history before the first origin."""

from __future__ import annotations

from typing import Optional

import numpy as np

REFERENCE = "random_walk"
POINT_METRICS = ("mae", "rmse", "mape", "smape", "mase", "directional_accuracy")


def actuals(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """What followed each origin: values[t + 1 .. t + horizon] as [W, horizon], NaN past the end of the data."""
    padded = np.concatenate([values, np.full(horizon, np.nan, dtype=values.dtype)])
    return padded[origins[:, None] + np.arange(1, horizon + 1)[None, :]]


def naive_scales(history: np.ndarray, horizon: int) -> np.ndarray:
    """MASE denominators [H]: mean |y_t - y_{t-k}| over `history`, for k = 1 .. H (NaN when too short)."""
    return np.array([np.abs(history[k:] - history[:-k]).mean() if len(history) > k else np.nan
                     for k in range(1, horizon + 1)])


def point_metrics(actual: np.ndarray, forecast: np.ndarray, anchor: np.ndarray,
                  *, scales: np.ndarray) -> dict[str, Optional[float]]:
    """MAE, RMSE, MAPE (%), sMAPE (%), MASE and directional accuracy (%) over all origins and steps.

    NaN actuals (past the data) and NaN forecasts (a baseline without enough history) are left out."""
    mask = np.isfinite(actual) & np.isfinite(forecast)
    if not mask.any():
        return dict.fromkeys(POINT_METRICS)
    error = np.where(mask, forecast - actual, 0.0)
    absolute = np.abs(error)[mask]
    denominator = (np.abs(forecast) + np.abs(actual))[mask]
    nonzero = mask & (actual != 0)
    return {
        "mae": float(absolute.mean()),
        "rmse": float(np.sqrt((absolute**2).mean())),
        "mape": float(np.abs(error[nonzero] / actual[nonzero]).mean() * 100) if nonzero.any() else None,
        "smape": float(np.mean(np.divide(2 * absolute, denominator, out=np.zeros_like(absolute),
                                         where=denominator > 0)) * 100),
        "mase": _mase(np.abs(error), mask, scales),
        "directional_accuracy": _direction(actual, forecast, anchor, mask),
    }


def _mase(absolute: np.ndarray, mask: np.ndarray, scales: np.ndarray) -> Optional[float]:
    counts = mask.sum(axis=0)
    steps = (counts > 0) & np.isfinite(scales) & (scales > 0)
    if not steps.any():
        return None
    per_step = absolute.sum(axis=0)[steps] / counts[steps] / scales[steps]
    return float(per_step.mean())


def _direction(actual: np.ndarray, forecast: np.ndarray, anchor: np.ndarray, mask: np.ndarray) -> Optional[float]:
    """Share of up/down moves from the origin called right; flat moves (actual or predicted) are left out."""
    true_move = np.sign(actual - anchor[:, None])[mask]
    predicted_move = np.sign(forecast - anchor[:, None])[mask]
    scored = (true_move != 0) & (predicted_move != 0)
    return float((true_move[scored] == predicted_move[scored]).mean() * 100) if scored.any() else None


def always_up(actual: np.ndarray, anchor: np.ndarray) -> Optional[float]:
    """Directional accuracy of always calling "up": the trivial baseline for the direction column."""
    moves = np.sign(actual - anchor[:, None])
    moves = moves[np.isfinite(moves) & (moves != 0)]
    return float((moves > 0).mean() * 100) if moves.size else None


def compare(forecasts: dict[str, np.ndarray], actual: np.ndarray, anchor: np.ndarray,
            *, scales: np.ndarray) -> dict[str, dict[str, Optional[float]]]:
    """point_metrics for every forecaster, plus MAE and RMSE relative to the random walk and the skill
    1 - RMSE / RMSE(random walk): what a user reads first."""
    table = {name: point_metrics(actual, values, anchor, scales=scales) for name, values in forecasts.items()}
    reference = table.get(REFERENCE, {})
    for row in table.values():
        row["rel_mae"] = _ratio(row["mae"], reference.get("mae"))
        row["rel_rmse"] = _ratio(row["rmse"], reference.get("rmse"))
        row["skill"] = None if row["rel_rmse"] is None else 1.0 - row["rel_rmse"]
    return table


def by_step(forecasts: dict[str, np.ndarray], actual: np.ndarray, anchor: np.ndarray,
            *, scales: np.ndarray) -> dict[str, list[dict[str, Optional[float]]]]:
    """`compare` at each horizon step k alone (column k of the [W, H] arrays, MASE against s_k)."""
    steps = [compare({name: values[:, [k]] for name, values in forecasts.items()}, actual[:, [k]], anchor,
                     scales=scales[[k]]) for k in range(actual.shape[1])]
    return {name: [step[name] for step in steps] for name in forecasts}


def _ratio(value: Optional[float], reference: Optional[float]) -> Optional[float]:
    if value is None or not reference:
        return None
    return value / reference
