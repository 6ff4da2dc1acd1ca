"""Forecasts from a trained model in the user's units, the naive baselines, and the error metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from lstmcast.preprocess import Prepared, invert_target
from lstmcast.training import forward


@torch.no_grad()
def predict_scaled(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024) -> np.ndarray:
    """Scaled forecasts [W, H], batched, in eval mode (no dropout, no teacher forcing)."""
    model.eval()
    parts = [forward(model, x[start : start + batch_size]).float().cpu() for start in range(0, len(x), batch_size)]
    out = torch.cat(parts).numpy() if parts else np.zeros((0, 0), dtype=np.float32)
    return out.astype(np.float64)


def to_user_units(prepared: Prepared, scaled: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """Invert scaling and the target transform, anchored on the last observed value of each window."""
    return invert_target(
        scaled, prepared.raw[origins, 0], kind=prepared.transforms[0],
        center=float(prepared.scaler.center[0]), scale=float(prepared.scaler.scale[0]),
    )


def actuals(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """What followed each origin: values[t + 1 .. t + horizon] as [W, horizon], NaN past the end of the data."""
    padded = np.concatenate([values, np.full(horizon, np.nan, dtype=values.dtype)])
    return padded[origins[:, None] + np.arange(1, horizon + 1)[None, :]]


def random_walk(history: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Tomorrow equals today: the last observed value, repeated."""
    return np.repeat(history[origins][:, None], horizon, axis=1)


def drift(history: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The random walk plus the average change of all history up to the origin (Hyndman's drift method)."""
    slope = (history[origins] - history[0]) / np.maximum(origins, 1)
    return history[origins][:, None] + slope[:, None] * np.arange(1, horizon + 1)[None, :]


def seasonal_naive(history: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The value one season before each target: y[t + k - season * ceil(k / season)]."""
    steps = np.arange(1, horizon + 1)
    back = season * np.ceil(steps / season).astype(int)
    index = origins[:, None] + steps[None, :] - back[None, :]
    return np.where(index >= 0, history[np.clip(index, 0, None)], np.nan)


def historical_mean(history: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The mean of all history up to and including the origin."""
    means = np.cumsum(history)[origins] / (origins + 1)
    return np.repeat(means[:, None], horizon, axis=1)


def ets(history: np.ndarray, origins: np.ndarray, horizon: int, *, fit_until: int) -> np.ndarray | None:
    """ETS(A,Ad,N) from statsmodels (log scale for positive series), or None when statsmodels is not installed.

    Parameters are estimated on rows up to `fit_until` only; the states then come from statsmodels' filter over the
    series with those parameters fixed, which is causal (the state at t has seen rows up to t), and each origin's
    forecast is level + (phi + ... + phi^k) * trend from its own state."""
    try:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    except ImportError:
        return None
    positive = bool((history > 0).all())
    y = np.log(history) if positive else history.astype(np.float64)
    options = {"error": "add", "trend": "add", "damped_trend": True}
    params = ETSModel(y[: fit_until + 1], **options).fit(disp=False).params
    states = np.asarray(ETSModel(y[: origins[-1] + 1], **options).smooth(params).states)
    phi = float(params[2])
    damping = np.cumsum(phi ** np.arange(1, horizon + 1))
    level, trend = states[origins, 0], states[origins, 1]
    forecast = level[:, None] + damping[None, :] * trend[:, None]
    return np.exp(forecast) if positive else forecast


def naive_scale(train_values: np.ndarray) -> float:
    """Mean absolute one-step change over the training rows: the denominator of MASE."""
    changes = np.abs(np.diff(train_values))
    return float(changes.mean()) if len(changes) else float("nan")


def metrics(actual: np.ndarray, forecast: np.ndarray, anchor: np.ndarray, *, scale: float) -> dict[str, float | None]:
    """MAE, RMSE, MAPE (%), sMAPE (%), MASE and directional accuracy (%) over all windows and steps.

    NaN actuals (past the data) and NaN forecasts (a baseline without enough history) are left out."""
    mask = np.isfinite(actual) & np.isfinite(forecast)
    error = (forecast - actual)[mask]
    if error.size == 0:
        return {name: None for name in ("mae", "rmse", "mape", "smape", "mase", "directional_accuracy")}
    denominator = (np.abs(forecast) + np.abs(actual))[mask]
    smape = float(np.mean(np.divide(2 * np.abs(error), denominator, out=np.zeros_like(error),
                                    where=denominator > 0)) * 100)
    mae = float(np.abs(error).mean())
    nonzero = mask & (actual != 0)
    mape = float(np.abs((forecast - actual)[nonzero] / actual[nonzero]).mean() * 100) if nonzero.any() else None
    true_move = np.sign(actual - anchor[:, None])[mask]
    predicted_move = np.sign(forecast - anchor[:, None])[mask]
    scored = (true_move != 0) & (predicted_move != 0)
    direction = float((true_move[scored] == predicted_move[scored]).mean() * 100) if scored.any() else None
    return {
        "mae": mae,
        "rmse": float(np.sqrt((error**2).mean())),
        "mape": mape,
        "smape": smape,
        "mase": mae / scale if scale > 0 else None,
        "directional_accuracy": direction,
    }


def forecast_dates(dates: pd.DatetimeIndex, horizon: int, frequency: str | None = None) -> pd.DatetimeIndex:
    """The next `horizon` dates on the data's own calendar."""
    offset = to_offset(frequency or infer_frequency(dates))
    return pd.DatetimeIndex([dates[-1] + offset * k for k in range(1, horizon + 1)], name="date")


def infer_frequency(dates: pd.DatetimeIndex) -> str:
    """The data's calendar: business days for trading data (weekends never appear), month starts for FRED, ...

    Returns a pandas offset alias, or `months=N` for monthly data on a fixed day that is not a month's first or last.
    """
    if len(dates) < 3:
        return "D"
    recent = dates[-min(len(dates), 500):]
    step = float(np.median(np.diff(recent.values).astype("timedelta64[s]").astype(np.int64))) / 86_400
    if step <= 1.5:
        return "B" if (recent.day_of_week < 5).all() else "D"
    if step <= 8:
        return f"W-{recent[-1].day_name()[:3].upper()}"
    months = 1 if step <= 32 else 3 if step <= 95 else 12
    if recent.is_month_start.all():
        return {1: "MS", 3: "QS", 12: "YS"}[months] if months == 1 or _aligned(recent, months) else f"months={months}"
    if recent.is_month_end.all():
        return {1: "ME", 3: "QE", 12: "YE"}[months] if months == 1 or _aligned(recent, months) else f"months={months}"
    return f"months={months}"


def _aligned(dates: pd.DatetimeIndex, months: int) -> bool:
    """Quarterly/yearly aliases anchor on calendar quarters/years; other phases keep a plain month offset."""
    return bool(((dates.month - 1) % months == 0).all()) if months == 3 else bool((dates.month == 1).all())


def to_offset(frequency: str) -> pd.DateOffset:
    if frequency.startswith("months="):
        return pd.DateOffset(months=int(frequency.split("=", 1)[1]))
    return pd.tseries.frequencies.to_offset(frequency)
