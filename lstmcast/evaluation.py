"""Forecast comparison statistics: per-step metrics, skill against the random walk, the Diebold-Mariano test."""

from __future__ import annotations

import math

import numpy as np

from lstmcast.forecast import metrics


def per_step(actual: np.ndarray, forecast: np.ndarray, anchor: np.ndarray, *, scale: float) -> list[dict]:
    """Metrics for each horizon step k (column k of [origins, horizon] arrays)."""
    return [metrics(actual[:, [k]], forecast[:, [k]], anchor, scale=scale) for k in range(actual.shape[1])]


def skill(rmse: float | None, rmse_naive: float | None) -> float | None:
    """1 - RMSE_model / RMSE_random_walk: positive when the model beats the random walk."""
    if rmse is None or not rmse_naive:
        return None
    return 1.0 - rmse / rmse_naive


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, *, lags: int) -> dict[str, float | None]:
    """Diebold-Mariano test of equal expected loss, with the Harvey-Leybourne-Newbold small-sample correction.

    loss_*: per-origin losses [n] (e.g. squared errors) at the same origins. `lags`: autocovariances kept in the
    long-run variance (h - 1 for h-step forecasts from consecutive origins). A negative statistic means `a` has the
    smaller loss. Returns the statistic and the two-sided p-value from Student's t with n - 1 degrees of freedom."""
    from scipy import stats

    keep = np.isfinite(loss_a) & np.isfinite(loss_b)
    d = loss_a[keep] - loss_b[keep]
    n = len(d)
    if n < 3:
        return {"statistic": None, "p_value": None, "n": n}
    centred = d - d.mean()
    gamma = [float(centred @ centred) / n] + [float(centred[j:] @ centred[:-j]) / n for j in range(1, lags + 1)]
    variance = gamma[0] + 2 * sum(gamma[1:])
    if variance <= 0:  # the truncated estimate can go negative; fall back to the plain variance
        variance = gamma[0]
    if variance <= 0:
        return {"statistic": None, "p_value": None, "n": n}
    horizon = lags + 1
    statistic = d.mean() / math.sqrt(variance / n)
    statistic *= math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    return {"statistic": float(statistic), "p_value": float(2 * stats.t.sf(abs(statistic), df=n - 1)), "n": n}
