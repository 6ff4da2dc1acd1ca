"""Naive and statistical baselines on the same origins as the models, from history up to each origin only.

Shapes: history [M] in the user's units; origins [W] row indices; forecasts [W, horizon]."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np


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
    back = season * np.ceil(steps / season).astype(np.int64)
    index = origins[:, None] + steps[None, :] - back[None, :]
    return np.where(index >= 0, history[np.clip(index, 0, None)], np.nan)


def historical_mean(history: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The mean of all history up to and including the origin."""
    means = np.cumsum(history)[origins] / (origins + 1)
    return np.repeat(means[:, None], horizon, axis=1)


def installed(package: str) -> bool:
    """Whether an optional package can be imported (without importing it: start-up stays light)."""
    return importlib.util.find_spec(package) is not None


def ets_available() -> bool:
    return installed("statsmodels")


def ets(history: np.ndarray, origins: np.ndarray, horizon: int, *, fit_until: int) -> np.ndarray:
    """ETS(A,Ad,N) from statsmodels (log scale for positive series); needs the `stats` extra (ets_available()).

    Parameters are estimated on rows up to `fit_until` only; the states then come from statsmodels' filter over the
    series with those parameters fixed, which is causal (the state at t has seen rows up to t), and each origin's
    forecast is level + (phi + ... + phi^k) * trend from its own state."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel  # optional: the `stats` extra

    used = history[: max(fit_until, int(origins[-1])) + 1]  # rows after the last origin play no part, not even here
    positive = bool((used > 0).all())  # log scale only when every value it must take is positive
    y = np.log(used) if positive else used.astype(np.float64)
    options = {"error": "add", "trend": "add", "damped_trend": True}
    with warnings.catch_warnings():  # statsmodels warns about convergence on short histories; the fit stands
        warnings.simplefilter("ignore")
        params = ETSModel(y[: fit_until + 1], **options).fit(disp=False).params
        states = np.asarray(ETSModel(y[: int(origins[-1]) + 1], **options).smooth(params).states)
    phi = float(params[2])
    damping = np.cumsum(phi ** np.arange(1, horizon + 1))
    level, trend = states[origins, 0], states[origins, 1]
    forecast = level[:, None] + damping[None, :] * trend[:, None]
    return np.exp(forecast) if positive else forecast
