"""The interval scorecard of a backtest: every forecaster gets adaptive conformal (ACI) intervals built the same way
along the walk-forward origins, from the same prior (the random walk's k-step errors over the history before the
first origin), and is scored per horizon step on coverage, mean width and the Winkler score, in the data's units."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from lstmcast.evaluation.conformal import adaptive_conformal, residuals
from lstmcast.evaluation.probabilistic import coverage, winkler

PRIOR_ROWS = 60  # k-step random-walk errors before the first origin that seed every forecaster's scores


def aci_scorecard(forecasts: dict[str, np.ndarray], actual: np.ndarray, rows: np.ndarray, history: np.ndarray, *,
                  levels: list[float], gamma: float) -> dict[str, Any]:
    """{"scale", "gamma", "levels", "by_model": {name: {"80": {"coverage": [per step], "width", "winkler",
    "overall": {...}}}}}. Log ratios for a positive series (a price's errors scale with its level), else
    differences; intervals are symmetric on that scale."""
    horizon = actual.shape[1]
    scale = "log_ratio" if (history > 0).all() else "difference"
    on_scale = np.log if scale == "log_ratio" else (lambda values: np.asarray(values, dtype=np.float64))
    prior = _prior(history, int(rows[0]), horizon, scale)
    by_model: dict[str, Any] = {}
    for name, forecast in forecasts.items():
        if not np.isfinite(forecast).all() or (scale == "log_ratio" and (forecast <= 0).any()):
            continue  # a forecaster without a forecast everywhere (or a non-positive price) has no interval here
        by_model[name] = {}
        for level in levels:
            alpha = 1 - level / 100
            low, high = adaptive_conformal(on_scale(forecast), on_scale(actual), rows, alpha=alpha, gamma=gamma,
                                           calibration=prior)
            if scale == "log_ratio":
                low, high = np.exp(low), np.exp(high)
            by_model[name][f"{level:g}"] = interval_scores(low, high, actual, alpha)
    return {"method": "ACI", "scale": scale, "gamma": gamma, "levels": [f"{level:g}" for level in levels],
            "by_model": by_model}


def _prior(history: np.ndarray, first: int, horizon: int, scale: str) -> np.ndarray:
    """[M, H]: the random walk's k-step errors with targets at or before the first origin."""
    count = max(1, min(PRIOR_ROWS, first - horizon + 1))
    starts = np.arange(first - horizon - count + 1, first - horizon + 1)
    starts = starts[starts >= 0]
    if len(starts) == 0:
        return np.zeros((0, horizon))
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.stack([residuals(history[starts], history[starts + k], scale) for k in range(1, horizon + 1)], 1)
    return errors[np.isfinite(errors).all(axis=1)]


def interval_scores(low: np.ndarray, high: np.ndarray, actual: np.ndarray, alpha: float) -> dict[str, Any]:
    """Over the bounded intervals only: an unbounded one (too few realised errors for the level yet) covers
    trivially, and is counted apart instead of flattering the coverage."""
    width = high - low
    finite = np.isfinite(width)
    covered = np.where(finite, coverage(low, high, actual), np.nan)
    score = np.where(finite, winkler(low, high, actual, alpha), np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a step whose intervals are all unbounded has no mean
        per_step = {"coverage": np.nanmean(covered, axis=0),
                    "width": np.nanmean(np.where(finite, width, np.nan), axis=0),
                    "winkler": np.nanmean(score, axis=0)}
    result = {key: [_number(v) for v in values] for key, values in per_step.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result["overall"] = {key: _number(np.nanmean(values)) for key, values in per_step.items()}
    result["unbounded"] = int((~finite).sum())  # origins whose interval was still infinite (too few errors yet)
    return result


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
